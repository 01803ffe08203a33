#!/usr/bin/env bash
#
# t_relay_netns — relay circuits across hosts (network namespaces): relays
# on real, non-loopback addresses, each host in its own /48, WITHOUT the
# loopback test knobs (no allow_loopback, no same_prefix_paths). Needs root;
# prints "SKIPPED: ..." otherwise.
#
#          namespace vx6ns-<PID>-br: bridge br0
#   ┌───────┬───────┬───────┬───────┬───────┬───────┬───────┬───────┐   veth ports
# ┌─┴───┐ ┌─┴──┐  ┌─┴──┐  ┌─┴──┐  ┌─┴──┐  ┌─┴──┐  ┌─┴──┐  ┌─┴──┐
# │alice│ │ r1 │  │ r2 │  │ r3 │  │ r4 │  │ r5 │  │ r6 │  │ c  │    vx6ns-<PID>-NAME
# └─────┘ └────┘  └────┘  └────┘  └────┘  └────┘  └────┘  └────┘    eth0 (nodad), lo up
#  alice fd42:1::1       r3 fd44:1:0:1::1      r6 fd47:1::1        fd00::/8 on-link
#  r1    fd43:1::1       r4 fd44:1:0:2::1      c  fd46:1::1        (no router)
#  r2    fd45:1::1       r5 fd44:2::1
#
#   /48s: one per host, except r3 and r4 (two /64s of fd44:1:0::/48); r5 is
#   in fd44:2:0::/48 (same /32 as r3/r4, another /48). Relays ([relay]
#   enabled = yes, nothing else): r1..r6; plain: alice (owner), c (client).
#   No allow_loopback, no same_prefix_paths anywhere.
#   bootstrap peers: r1 → alice, r2 → r1, r3 → alice, r4 → r2, r5 → r3,
#   r6 → r5, c → r4; every node on [::]:4242; keepalive 1 s, idle timeout 4 s
#   alice: web = python http.server on 127.0.0.1:8080 inside alice
#   c: connect --service alice.web --relay N --listen 127.0.0.1:0 (inside c)
#
#   curl ─► c ══ relay ══ relay ══ relay ══► alice ─► 127.0.0.1:8080
#                         ╳ ip link set eth0 down (in that relay's namespace)
#
# 1. `--relay 1`, `--relay 2`, `--relay 3` forwards on c each fetch 16 MiB
#    intact (sha256). Each circuit: exactly N relays, no node twice, never c
#    or alice as a relay, no two relays in one /48 (nor in alice's), ends at
#    alice. Alice's view: 3 circuit exits; her 3 streams (the hop streams)
#    are on sessions from the last relays' addresses, with their keys; the
#    16 MiB left her on her session(s) with that forward's last relay, and
#    her sessions with c's address or key never carried a stream (< 256 KiB
#    sent to c: DHT only).
# 2. The /48 rule: 3 `--relay 5` circuits are each exactly {r1, r2, r5, r6}
#    plus ONE of r3/r4 (5 relays from 5 /48s: never r3 with r4, while r5 —
#    same /32 — is fine next to them); 3 more `--relay 3` circuits never
#    hold both; `--relay 6` is refused ("not enough relays": 6 relays, 5 /48s).
# 3. A relay host's link goes down (`ip link set eth0 down` in its
#    namespace) during a 16 MiB download read at 2 MiB/s through the
#    --relay 3 forward: round 1 the middle relay, round 2 the first relay of
#    the circuit rebuilt in round 1. Each time the download fails (curl
#    error, a correct prefix, not the whole file) within the idle timeout +
#    3 s, and the next fetch through the SAME forward succeeds (4 MiB,
#    sha256) within 5 s of that failure, over a new well-formed 3-relay
#    circuit of live relays only (neither relay cut so far).
# 4. c closes its forwards: every node — the cut relays included, whose
#    sessions ended on their own — relays nothing and has no exit, stream
#    or app connection left; every node stops cleanly (SIGTERM, exit 0, no
#    sanitizer report).
# (A relay refusing to extend to loopback or to itself is covered on
# loopback by tests/integ; not repeated here.)
. "$(dirname "$0")/lib.sh"
need curl jq timeout sha256sum cmp "$PY"

HOSTS=(alice r1 r2 r3 r4 r5 r6 c)
RELAYS=(r1 r2 r3 r4 r5 r6)
declare -A IP=(
	[alice]=fd42:1::1 [r1]=fd43:1::1 [r2]=fd45:1::1 [r3]=fd44:1:0:1::1
	[r4]=fd44:1:0:2::1 [r5]=fd44:2::1 [r6]=fd47:1::1 [c]=fd46:1::1
)
declare -A PEER=([r1]=alice [r2]=r1 [r3]=alice [r4]=r2 [r5]=r3 [r6]=r5 [c]=r4)
HTTP=8080
MIB=$((1024 * 1024))
KEEPALIVE_MS=1000
IDLE_MS=4000
FAILOVER_S=$(scaled 5)

# P48[host]: the host's /48, computed (not typed) so the topology is checked.
declare -A P48=() HOST_AT=() KEY=()
for h in "${HOSTS[@]}"; do
	P48[$h]=$("$PY" -c 'import ipaddress, sys; print(ipaddress.ip_network(sys.argv[1] + "/48", strict=False))' "${IP[$h]}")
	HOST_AT["[${IP[$h]}]:$NS_PORT"]=$h
done
[ "${P48[r3]}" = "${P48[r4]}" ] || fail "topology: r3 and r4 must share a /48 (${P48[r3]} vs ${P48[r4]})"
for h in "${HOSTS[@]}"; do
	for g in "${HOSTS[@]}"; do
		[ "$h" \< "$g" ] || continue
		case "$h$g" in r3r4) continue ;; esac
		[ "${P48[$h]}" != "${P48[$g]}" ] || fail "topology: $h and $g share ${P48[$h]}"
	done
done

ns_limits() {
	set_limit "$1" keepalive_ms "$KEEPALIVE_MS"
	set_limit "$1" idle_timeout_ms "$IDLE_MS"
	set_limit "$1" handshake_timeout_ms 3000
}

say "namespaces $NS_PREFIX-{br,${HOSTS[*]}}"
ns_bridge
for h in "${HOSTS[@]}"; do
	ns_host "$h" "${IP[$h]}/64"
	ns_onlink "$h" fd00::/8
done

# ---- the network
for h in "${HOSTS[@]}"; do
	if [ -n "${PEER[$h]:-}" ]; then
		ns_init_node "$h" "[${IP[${PEER[$h]}]}]:$NS_PORT"
	else
		ns_init_node "$h"
	fi
	ns_limits "$h"
	case " ${RELAYS[*]} " in *" $h "*) ns_set_relay "$h" enabled yes ;; *) ns_set_relay "$h" enabled no ;; esac
	grep -qE '^(allow_loopback|same_prefix_paths) *= *yes' "$T/$h/config.ini" &&
		fail "$h's config.ini has a loopback test knob set: $(grep -E 'allow_loopback|same_prefix_paths' "$T/$h/config.ini")"
	KEY[$h]=$(node_key "$h")
done
for h in "${HOSTS[@]}"; do ns_run_node "$h"; done
for h in "${HOSTS[@]}"; do [ -n "${PEER[$h]:-}" ] && wait_joined "$h" 30; done
wait_joined alice 10
c_knows() {
	local have n
	have=$(vx c list --json 2>>"$T/c.cli.err" | jq -r '.nodes[].name') || return 1
	for n in alice "${RELAYS[@]}"; do grep -qx "$n" <<<"$have" || return 1; done
}
wait_until 60 "c's registry knowing alice and the ${#RELAYS[@]} relays" c_knows
for r in "${RELAYS[@]}"; do
	[ "$(sj "$r" .relay.allow_loopback)" = false ] || fail "$r has allow_loopback on"
done
say "${#HOSTS[@]} nodes joined; c knows $(vx c list --json | jq -r '[.nodes[].name] | join(" ")')"

mkdir -p "$T/www" "$T/got"
make_random "$T/www/big" 16
make_random "$T/www/small" 4
ns_http_server alice "$T/www" "$HTTP"
vx alice service add --name web --target "127.0.0.1:$HTTP" >/dev/null || fail "service add web on alice failed"
wait_until 30 "c resolving alice.web" resolves c alice.web

# ---- helpers

# connect_relay_try N OUT: `connect --relay N --detach --json` on c (stdout
# to OUT, stderr to OUT.err); returns connect's exit code.
connect_relay_try() {
	local k=$1 of=$2 rc
	timeout "$(scaled 60)" "$VX6_BIN" --home "$T/c" connect --service alice.web \
		--listen 127.0.0.1:0 --relay "$k" --detach --json >"$of" 2>"$of.err"
	rc=$?
	cat "$of.err" >>"$T/c.cli.err"
	return "$rc"
}
# connect_relay N: a --relay N forward on c; prints its local port.
connect_relay() {
	local k=$1 of=$T/.connect.$RANDOM
	connect_relay_try "$k" "$of" ||
		fail "connect --service alice.web --relay $k on c failed (rc=$?): $(head -c 400 "$of.err")"
	[ "$(jq -r .circuit_hops "$of")" = $((k + 1)) ] ||
		fail "connect --relay $k on c: circuit_hops $(jq -r .circuit_hops "$of"), want $((k + 1))"
	jq -r .listen "$of" | sed 's/.*://'
}
host_at() { echo "${HOST_AT[$1]:-?$1}"; }
# relays_of CIRCUIT_JSON: the relay hosts of a circuit, in path order.
relays_of() {
	local a out=()
	for a in $(jq -r '.hops[:-1][].addr' <<<"$1"); do out+=("$(host_at "$a")"); done
	echo "${out[*]}"
}
# newest_circuit: c's youngest circuit (the one the last connect built).
newest_circuit() { sj c '.circuits | min_by(.age_s) | tojson'; }
# circuit_of N: c's only circuit of N relays (one forward per N).
circuit_of() { sj c "[.circuits[] | select((.hops | length) == $(($1 + 1)))] | if length == 1 then .[0] | tojson else error(\"\\(length) circuits\") end"; }

# check_circuit CIRCUIT_JSON N LIVE_RELAYS: ready, N relays then alice
# ("owner", alice's address); no host twice; relays only among LIVE_RELAYS
# (so never c or alice); no two relays in one /48, none in alice's /48.
check_circuit() {
	local line=$1 k=$2 live=" $3 " h seen=" " p48s=" ${P48[alice]} " last
	[ "$(jq -r .state <<<"$line")" = ready ] || fail "c has a circuit that is not ready: $line"
	[ "$(jq -r '.hops | length' <<<"$line")" = $((k + 1)) ] ||
		fail "a --relay $k circuit of c has $(($(jq -r '.hops | length' <<<"$line") - 1)) relays: $line"
	last=$(jq -r '.hops[-1] | "\(.name) \(.addr)"' <<<"$line")
	[ "$last" = "owner [${IP[alice]}]:$NS_PORT" ] ||
		fail "a circuit of c does not end at alice ([${IP[alice]}]:$NS_PORT): last hop '$last' in $line"
	for h in $(relays_of "$line"); do
		[ "$h" != c ] || fail "a circuit of c uses c itself as a relay: $line"
		[ "$h" != alice ] || fail "a circuit of c uses the owner alice as a relay: $line"
		case "$live" in *" $h "*) ;; *) fail "a circuit of c uses '$h', not a live relay-enabled node ($3): $line" ;; esac
		case "$seen" in *" $h "*) fail "a circuit of c has $h twice: $line" ;; esac
		case "$p48s" in *" ${P48[$h]} "*)
			fail "a circuit of c has $h in ${P48[$h]}, a /48 already in the path or alice's (path $(relays_of "$line")): $line" ;;
		esac
		seen+="$h "
		p48s+="${P48[$h]} "
	done
}
# alice's sessions, one compact line each: {ip, key, streams, total, out}
alice_sessions() {
	sj alice '.sessions[] | {ip: (.remote | capture("^(?:[a-z]+://)?\\[(?<ip>[0-9a-f:.]+)\\]").ip), key: .peer_key, streams, total: .streams_total, out: .bytes_out} | tojson'
}
# sent_to HOST: bytes alice sent on her sessions with HOST (its address AND key).
sent_to() {
	sj alice "[.sessions[] | select((.remote | sub(\"^[a-z]+://\"; \"\") | startswith(\"[${IP[$1]}]:\")) and .peer_key == \"${KEY[$1]}\") | .bytes_out] | add // 0"
}
# from_c: streams ever carried by alice's sessions with c's address or key.
from_c() {
	sj alice "[.sessions[] | select((.remote | sub(\"^[a-z]+://\"; \"\") | startswith(\"[${IP[c]}]:\")) or .peer_key == \"${KEY[c]}\") | .streams_total] | add // 0"
}

# ---- 1. --relay 1, 2, 3: 16 MiB each, well-formed paths, alice's view
declare -A PORT_OF=() LAST_OF=()
for k in 1 2 3; do
	PORT_OF[$k]=$(connect_relay "$k")
	C=$(circuit_of "$k") || fail "c does not have exactly one circuit of $k relay(s): $(sj c '[.circuits[] | .hops | length]' | jq -c .)"
	check_circuit "$C" "$k" "${RELAYS[*]}"
	LAST_OF[$k]=$(relays_of "$C" | awk '{ print $NF }')
	l0=$(sent_to "${LAST_OF[$k]}") c0=$(sj alice "[.sessions[] | select(.remote | sub(\"^[a-z]+://\"; \"\") | startswith(\"[${IP[c]}]:\")) | .bytes_out] | add // 0")
	t0=$(now_ms)
	ns_fetch c "${PORT_OF[$k]}" big "$T/got/big$k" --max-time "$(scaled 60)" ||
		fail "16 MiB through --relay $k: curl failed (rc=$?, $(file_size "$T/got/big$k") bytes)"
	ms=$(( $(now_ms) - t0 ))
	same_sha "$T/www/big" "$T/got/big$k" "16 MiB through --relay $k ($(relays_of "$C"))"
	l1=$(sent_to "${LAST_OF[$k]}") c1=$(sj alice "[.sessions[] | select(.remote | sub(\"^[a-z]+://\"; \"\") | startswith(\"[${IP[c]}]:\")) | .bytes_out] | add // 0")
	[ $((l1 - l0)) -ge $((16 * MIB)) ] ||
		fail "alice sent only $((l1 - l0)) bytes to ${LAST_OF[$k]} (${IP[${LAST_OF[$k]}]}), the last relay of the --relay $k circuit, during a 16 MiB download through it"
	[ $((c1 - c0)) -lt $((256 * 1024)) ] ||
		fail "alice sent $((c1 - c0)) bytes to c's address during a 16 MiB download through relays"
	say "--relay $k: c → $(relays_of "$C") → alice; 16 MiB intact in $ms ms; alice sent $(((l1 - l0) / 1024)) KiB to ${LAST_OF[$k]}, $(((c1 - c0) / 1024)) KiB to c"
done
[ "$(sj c '.circuits | length')" = 3 ] || fail "c has $(sj c '.circuits | length') circuits for its 3 forwards"
wait_until 10 "alice with no application connection" output_is 0 sj alice .app_connections
[ "$(sj alice .relay.exits)" = 3 ] || fail "alice has $(sj alice .relay.exits) circuit exits, want 3 (c's 3 circuits)"
# Every stream alice holds now is a circuit's hop stream, each on a session
# from the last relay of its circuit (address and key).
for k in 1 2 3; do
	l=${LAST_OF[$k]}
	want=0
	for j in 1 2 3; do [ "${LAST_OF[$j]}" = "$l" ] && want=$((want + 1)); done
	got=$(sj alice "[.sessions[] | select((.remote | sub(\"^[a-z]+://\"; \"\") | startswith(\"[${IP[$l]}]:\")) and .peer_key == \"${KEY[$l]}\") | .streams] | add // 0")
	[ "$got" = "$want" ] || fail "alice's sessions from $l (${IP[$l]}) carry $got stream(s), want $want (hop streams of c's circuits ending at $l): $(alice_sessions | jq -sc .)"
done
[ "$(sj alice .streams)" = 3 ] || fail "alice has $(sj alice .streams) streams, want 3 (one hop stream per circuit): $(alice_sessions | jq -sc .)"
[ "$(from_c)" = 0 ] || fail "alice's sessions with c's address or key carried $(from_c) stream(s): $(alice_sessions | jq -sc .)"
grep -q "refused a circuit stream" "${NODE_LOG[alice]}" && fail "alice refused a circuit stream (see her log)"
say "alice: 3 exits; her 3 streams are on sessions from $(printf '%s\n' "${LAST_OF[@]}" | sort -u | xargs) (last relays); 0 streams ever from c ($(alice_sessions | jq -r 'select(.ip == "'"${IP[c]}"'") | "session"' | wc -l) session(s) with c, DHT only)"

# ---- 2. the /48 rule without same_prefix_paths
EXTRA=()
for k in 5 5 5 3 3 3; do
	p=$(connect_relay "$k")
	EXTRA+=("$p")
	C=$(newest_circuit)
	check_circuit "$C" "$k" "${RELAYS[*]}"
	path=$(relays_of "$C")
	if [ "$k" = 5 ]; then
		set_=$(tr ' ' '\n' <<<"$path" | sort | xargs)
		case "$set_" in "r1 r2 r3 r5 r6" | "r1 r2 r4 r5 r6") ;; *)
			fail "a --relay 5 circuit is $path, want r1, r2, r5, r6 and one of r3/r4 (one relay per /48)" ;;
		esac
	fi
	say "--relay $k: c → $path → alice"
done
connect_relay_try 6 "$T/r6.json" && fail "--relay 6 succeeded with 6 relays in only 5 /48s: $(cat "$T/r6.json")"
grep -q "not enough relays" "$T/r6.json.err" || fail "--relay 6 failed without saying 'not enough relays': $(head -c 300 "$T/r6.json.err")"
say "--relay 6 refused: $(head -c 200 "$T/r6.json.err")"
for p in "${EXTRA[@]}"; do
	vx c connect close "127.0.0.1:$p" >/dev/null 2>>"$T/c.cli.err" || fail "connect close 127.0.0.1:$p on c failed"
done
wait_until 20 "c back to its 3 circuits" output_is 3 sj c '.circuits | length'

# ---- 3. a relay host's link goes down during a download, twice
# Round 1 cuts the middle relay of the --relay 3 circuit (c hears of it only
# through the relay before it), round 2 the first relay of the circuit
# rebuilt in round 1 (c's own session to it falls silent). Either way c
# puts the cut relay on its avoid list.
L=${PORT_OF[3]}
DEAD=()
LIVE=("${RELAYS[@]}")
is_prefix() { local n; n=$(file_size "$1"); [ "$n" -le "$(file_size "$2")" ] && { [ "$n" = 0 ] || cmp -s -n "$n" "$1" "$2"; }; }
avoids() { vx c connect list --json | jq -e --arg id "$1" --arg l "127.0.0.1:$L" '.[] | select(.listen == $l) | .avoiding | index($id) != null' >/dev/null; }
fwd_view() { vx c connect list --json | jq -c ".[] | select(.listen == \"127.0.0.1:$L\") | {state, last_error, avoiding: (.avoiding | length)}"; }
for round in 1 2; do
	C0=$(circuit_of 3) || fail "round $round: c has no single --relay 3 circuit: $(sj c '[.circuits[] | .hops | length]' | jq -c .)"
	pos=$((round == 1 ? 2 : 1))   # which relay of the path: the middle one, then the first one
	M=$(relays_of "$C0" | awk -v i="$pos" '{ print $i }')
	say "round $round: the --relay 3 circuit is $(relays_of "$C0"); cutting $M's link (relay $pos of 3) during a download"
	rm -f "$T/got/cut$round"
	# curl inside c, its output read at 2 MiB/s (a throttle, not a wait) so
	# the cut lands in the middle of the download
	(nsx c curl -sS --fail --noproxy '*' --max-time "$(scaled 60)" "http://127.0.0.1:$L/big" 2>"$T/curl-cut$round.err" |
		"$PY" "$VX6_TESTS_DIR/helpers/rate_write.py" "$T/got/cut$round" $((2 * MIB)); exit "${PIPESTATUS[0]}") &
	CURL_PID=$!
	BG_PIDS+=("$CURL_PID")
	wait_until 30 "2 MiB of the rate-limited download through $(relays_of "$C0")" size_at_least "$T/got/cut$round" $((2 * MIB))
	M_ID=$(vx "$M" identity --json | jq -r .node_id)
	ns_link "$M" down
	CUT_MS=$(now_ms)
	DEAD+=("$M")
	LIVE=()
	for r in "${RELAYS[@]}"; do case " ${DEAD[*]} " in *" $r "*) ;; *) LIVE+=("$r") ;; esac; done
	# M's neighbours hear nothing more: their sessions to M end by idle
	# timeout (IDLE_MS), the circuit is torn down and curl must fail.
	# Bound: the idle timeout plus 3 s.
	deadline=$(( CUT_MS + IDLE_MS + $(scaled 3) * 1000 ))
	while kill -0 "$CURL_PID" 2>/dev/null && ! past "$deadline"; do sleep 0.05; done
	kill -0 "$CURL_PID" 2>/dev/null &&
		fail "round $round: the download through $(relays_of "$C0") still runs $(( $(now_ms) - CUT_MS )) ms after $M's link went down ($(file_size "$T/got/cut$round") bytes so far; idle timeout $IDLE_MS ms); forward: $(fwd_view)"
	wait "$CURL_PID"
	rc=$?
	FAIL_MS=$(now_ms)
	got=$(file_size "$T/got/cut$round")
	[ "$rc" != 0 ] || fail "round $round: the download succeeded ($got bytes) although $M's link went down in the middle of it"
	[ "$got" -lt $((16 * MIB)) ] || fail "round $round: the download got all 16 MiB although the circuit broke"
	is_prefix "$T/got/cut$round" "$T/www/big" || fail "round $round: the $got bytes received before the failure are not a prefix of the file"
	say "round $round: curl failed $((FAIL_MS - CUT_MS)) ms after the cut (rc=$rc, $((got / 1024)) KiB, a correct prefix): $(tr -d '\n' <"$T/curl-cut$round.err")"
	# c blames M: the relay before it reported it (round 1, TRUNCATED), or
	# c's own session to it broke (round 2, M was the first relay).
	wait_until 5 "round $round: c's forward avoiding $M" avoids "$M_ID"

	# The next connection through the same forward: a new circuit without M.
	ns_fetch c "$L" small "$T/got/again$round" --max-time "$FAILOVER_S"
	rc=$?
	took=$(( $(now_ms) - FAIL_MS ))
	[ "$rc" = 0 ] || fail "round $round: the first fetch through the same forward after the failure failed (rc=$rc, $(file_size "$T/got/again$round") bytes, ${took} ms; dead: ${DEAD[*]}); forward: $(fwd_view); c's circuits: $(sj c '[.circuits[] | {state, hops: [.hops[].addr], age_s}]' | jq -c .)"
	same_sha "$T/www/small" "$T/got/again$round" "round $round: 4 MiB through the same forward after $M went down"
	[ "$took" -le $((FAILOVER_S * 1000)) ] || fail "round $round: 4 MiB intact only ${took} ms after the broken download ended, want <= ${FAILOVER_S} s"
	C1=$(circuit_of 3) || fail "round $round: c has no single --relay 3 circuit after the failover"
	check_circuit "$C1" 3 "${LIVE[*]}"   # only live relays: not M, not an earlier dead one
	say "round $round: 4 MiB intact through the same forward $took ms after the failure ($(( $(now_ms) - CUT_MS )) ms after the cut), over $(relays_of "$C1"); forward $(fwd_view)"
done
[ "$(from_c)" = 0 ] || fail "alice's sessions with c's address or key carried $(from_c) stream(s) by the end: $(alice_sessions | jq -sc .)"

# ---- 4. closing tears the circuits down on every live node; clean stops
for k in 1 2 3; do
	vx c connect close "127.0.0.1:${PORT_OF[$k]}" >/dev/null 2>>"$T/c.cli.err" || fail "connect close of the --relay $k forward failed"
done
wait_until 20 "c's circuits closed" output_is 0 sj c '.circuits | length'
for n in alice "${LIVE[@]}"; do
	wait_until 20 "$n relaying nothing and no exit after c closed its forwards" output_is "0 0" sj "$n" '"\(.relay.relaying) \(.relay.exits)"'
done
# The cut relays (still running, alone on their side of a dead link) must
# have dropped their hops too when their sessions ended.
for n in "${DEAD[@]}"; do
	wait_until 20 "$n (link down) relaying nothing" output_is "0 0" sj "$n" '"\(.relay.relaying) \(.relay.exits)"'
done
wait_quiet 20 "${HOSTS[@]}"
say "forwards closed: no circuit, hop, stream or app connection left on any node (cut relays ${DEAD[*]} included)"
for n in "${HOSTS[@]}"; do
	stop_node "$n"
	[ "${NODE_RC[$n]}" = 0 ] || fail "node $n exited with ${NODE_RC[$n]} on SIGTERM (expected 0; see its log)"
done
pass
