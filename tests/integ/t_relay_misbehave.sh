#!/usr/bin/env bash
# Regression (fixed): (a) a teardown reason from a neighbour ("client side
#   closed: ... failed authentication") was counted as this node's own
#   detection; now only the node that opens a bad cell counts and warns —
#   step 6; (b) the hop-map use-after-free of t_relay_paths.sh — step 7.
# t_relay_misbehave — a relay that tampers with, replays or drops cells is
# caught: the download through it never yields wrong bytes, the circuit is
# closed, and the end that saw the bad cell counts and logs it.
#
#   one small network per mode (three in all, side by side, never joined):
#
#     alice_MODE ◄── m_MODE ◄── c_MODE      m_MODE: build/vx6-misbehave with
#                                           [relay] test_misbehave = MODE,
#                                           the only relay c_MODE knows
#
#   curl ─► c ══ circuit ══ m (corrupts | repeats | drops every 10th cell it
#                              forwards, both directions) ══► alice ─► HTTP
#
# For each MODE in tamper, replay, drop:
# 1. c opens a named forward alice.web with `--relay 1`; its circuit is
#    "m owner".
# 2. curl fetches 3 MiB: either curl fails (error or short file) and the
#    bytes it wrote are a correct prefix of the file, or the whole file is
#    intact (sha256). Never wrong bytes.
# 3. The circuit is torn down: c has no circuit left, m relays nothing,
#    alice has no exit.
# 4. Detection: circuit_tampered grew on alice or c (summed) and one of
#    their logs has a "failed authentication" warning. For drop a torn-down
#    circuit (3.) is accepted instead, and what was seen is reported.
#    Accounting: one bad circuit is one detection, counted once, at the end
#    that opened the bad cell (its log says "circuit ... closed: a cell failed
#    authentication"); the other end only sees the teardown and must not
#    count tampering.
# 5. A second curl through the same forward (a new circuit through m)
#    again never returns wrong bytes.
# 6. After the three modes: the accounting of step 4 held in each.
# 7. The owners and clients stop cleanly (SIGTERM, exit 0, no ASan report).
. "$(dirname "$0")/relay_lib.sh"
need curl jq ss "$PY" sha256sum cmp
[ -x "$VX6_MISBEHAVE_BIN" ] || fail "VX6_MISBEHAVE_BIN=$VX6_MISBEHAVE_BIN is not an executable (build target vx6-misbehave)"

mkdir -p "$T/www" "$T/got"
make_random "$T/www/f" 3
http_server "$T/www"

# auth_lines NAME: how many "failed authentication" lines NAME's log has.
auth_lines() { grep -c 'failed authentication' "${NODE_LOG[$1]}" 2>/dev/null || true; }
tampered() { counter "$1" circuit_tampered; }
# detections NAME: log lines where NAME itself found a bad cell (the
# circuit's own "a cell failed authentication", not a neighbour's teardown
# reason passed along as "... side closed: ...").
detections() { grep 'failed authentication' "${NODE_LOG[$1]}" 2>/dev/null | grep -vc 'side closed' || true; }
ACCOUNTING=()

# verdict FILE: curl's output is the whole file or a correct prefix of it.
# Prints "intact", "short N" or "WRONG N".
verdict() {
	local f=$1 n
	n=$(file_size "$f")
	if [ "$n" = "$(file_size "$T/www/f")" ] && [ "$(sha "$f")" = "$(sha "$T/www/f")" ]; then
		echo intact
	elif is_prefix "$f" "$T/www/f"; then
		echo "short $n"
	else
		echo "WRONG $n"
	fi
}

# fetch_checked PORT OUT WHAT: one curl; fails the test on wrong bytes or on
# a "success" that is not the whole file. Sets CURL_RC and VERDICT.
fetch_checked() {
	local port=$1 dst=$2 what=$3
	rm -f "$dst"
	fetch "$port" f "$dst" --max-time "$(scaled 60)" 2>"$dst.err"
	CURL_RC=$?
	VERDICT=$(verdict "$dst")
	case $VERDICT in
	WRONG*) fail "$what: curl (rc=$CURL_RC) wrote bytes that differ from the file: $VERDICT" ;;
	short*) [ "$CURL_RC" != 0 ] || fail "$what: curl reported success with a short file ($VERDICT)" ;;
	esac
	say "$what: curl rc=$CURL_RC, $VERDICT $(tr -d '\n' <"$dst.err" | head -c 120)"
}

circuit_gone() {
	output_is 0 sj "$C" '.circuits | length' && relay_idle "$M" && output_is 0 sj "$A" .relay.exits
}

for MODE in tamper replay drop; do
	A=alice_$MODE M=m_$MODE C=c_$MODE
	NODE_LABEL[$A]=alice NODE_LABEL[$M]=m NODE_LABEL[$C]=c
	RELAY_NODES=("$M")
	say "---- mode $MODE"
	start_relayed "$A" no
	init_relayed "$M" yes "$A"
	set_relay "$M" test_misbehave "$MODE"
	run_misbehave "$M"
	wait_joined "$M"
	start_relayed "$C" no "$M"
	wait_until 60 "$C's registry knowing alice and m" knows_nodes "$C" alice m
	vx "$A" service add --name web --target "127.0.0.1:$HTTP_PORT" >/dev/null || fail "service add web on $A failed"
	wait_until 60 "alice.web resolving on $C" resolves "$C" alice.web

	# 1. the forward, through m
	L=$(connect_relay "$C" alice.web 1)
	check_circuits "$C" "$A" 1
	t0=$(( $(tampered "$A") + $(tampered "$C") ))
	a0=$(( $(auth_lines "$A") + $(auth_lines "$C") ))
	d0=$(( $(detections "$A") + $(detections "$C") ))

	# 2. the download never returns wrong bytes
	fetch_checked "$L" "$T/got/$MODE.1" "$MODE: 3 MiB through m"

	# 3. the circuit is torn down
	wait_until 20 "$MODE: the circuit through m torn down (c: no circuit, m: relays nothing, alice: no exit)" circuit_gone
	[ "$VERDICT" != intact ] || say "$MODE: WARNING: the file arrived intact although m misbehaved"

	# 4. detection: the end that opened the bad cell says so
	t1=$(( $(tampered "$A") + $(tampered "$C") ))
	a1=$(( $(auth_lines "$A") + $(auth_lines "$C") ))
	d1=$(( $(detections "$A") + $(detections "$C") ))
	say "$MODE: circuit_tampered alice $(tampered "$A"), c $(tampered "$C"), m $(tampered "$M"); \"failed authentication\" lines: alice $(auth_lines "$A"), c $(auth_lines "$C"); own detections: alice $(detections "$A"), c $(detections "$C")"
	grep -h 'failed authentication' "${NODE_LOG[$A]}" "${NODE_LOG[$C]}" | sed 's/^/    /' >&2
	if [ "$MODE" != drop ] || [ "$t1" -gt "$t0" ]; then
		[ "$t1" -gt "$t0" ] || fail "$MODE: circuit_tampered did not grow on alice or c ($t0 -> $t1)"
		[ "$a1" -gt "$a0" ] || fail "$MODE: no \"failed authentication\" warning in alice's or c's log"
		[ "$d1" -gt "$d0" ] || fail "$MODE: neither alice nor c logged that it found a bad cell itself"
	else
		say "$MODE: not counted as tampering; the circuit was torn down (accepted for drop)"
	fi
	# One bad circuit, one detection: the first bad cell closes the circuit,
	# so the ends count it once, at the end that opened that cell. The other
	# end only saw the circuit torn down.
	if [ $((t1 - t0)) != $((d1 - d0)) ]; then
		ACCOUNTING+=("$MODE: circuit_tampered grew by $((t1 - t0)) on alice+c for $((d1 - d0)) cell(s) that failed authentication there (alice $(tampered "$A"), c $(tampered "$C"))")
	fi

	# 5. the next connection: again never wrong bytes
	fetch_checked "$L" "$T/got/$MODE.2" "$MODE: a second 3 MiB through the same forward"
	wait_until 20 "$MODE: the second circuit through m torn down" circuit_gone
	vx "$C" connect close "127.0.0.1:$L" >/dev/null || fail "connect close on $C failed"
done

# 6. accounting (checked after all three modes so each mode is exercised)
if [ "${#ACCOUNTING[@]}" -gt 0 ]; then
	printf '    %s\n' "${ACCOUNTING[@]}" >&2
	fail "circuit_tampered counts a teardown as tampering at the end that did not see a bad cell: ${ACCOUNTING[0]}"
fi

# 7. the honest owners and clients stop cleanly after their circuits were torn down
for MODE in tamper replay drop; do
	for n in "alice_$MODE" "c_$MODE"; do
		stop_node "$n"
		[ "${NODE_RC[$n]}" = 0 ] ||
			fail "node $n exited with ${NODE_RC[$n]} on SIGTERM after its circuits were torn down (expected 0; see its log)"
	done
done
pass
