#!/usr/bin/env bash
# Regression (fixed): the survivors of a broken circuit read a freed hop when
#   their session ended (relay_stream_reset left the hop in the link's hop
#   map) — the last step.
# t_relay_failover — the middle relay of a 3-relay circuit is SIGKILLed in
# the middle of a download: that download fails at once (never a full or a
# wrong file), and the next connection through the same forward works over a
# new circuit that avoids the dead relay (the relay before it reports the
# loss in a TRUNCATED cell, and the forward puts the dead one on its avoid
# list). Twice.
#
#   join tree:   alice ◄── r1 ◄── r2 ◄── r3        relays: r1..r5
#                  ▲        ▲                      plain: alice (owner), c
#                  │        └── r4 ◄── c
#                  └── r5
#
#   curl ─► c ══ A ══ M ══ B ══► alice ─► HTTP (32 MiB, rate-limited read)
#                     ╳ SIGKILL
#   curl ─► c ══ A'══ M'══ B'══► alice        (new circuit, M not in it)
#
# Round 1 and round 2 (in round 2 the middle relay of the new circuit dies):
# 1. A download of 32 MiB at 4 MiB/s through c's `--relay 3` forward runs
#    until at least 2 MiB arrived; M = the circuit's middle relay.
# 2. kill -9 M: curl ends with an error within FAILOVER_S (5 s), with fewer
#    than 32 MiB, and the bytes it got are a correct prefix of the file.
# 3. A new curl through the same forward fetches 4 MiB intact, finished
#    within FAILOVER_S of the kill; c's circuit is then a new one: 3 relays,
#    no node twice, ends at alice, M not in it (no dead relay in it).
# Finally 32 MiB through the rebuilt circuit (sha256); c closes the forward,
# every node ends quiet, and alice, the surviving relays and c stop cleanly
# (SIGTERM, exit 0, no ASan report).
. "$(dirname "$0")/relay_lib.sh"
need curl jq ss "$PY" sha256sum cmp

FAILOVER_S=$(scaled "${FAILOVER_S:-5}")
RELAY_NODES=(r1 r2 r3 r4 r5)
mkdir -p "$T/www" "$T/got"
make_random "$T/www/big" 32
make_random "$T/www/small" 4
http_server "$T/www"

start_relayed alice no
start_relayed r1 yes alice
start_relayed r2 yes r1
start_relayed r3 yes r2
start_relayed r4 yes r1
start_relayed r5 yes alice
start_relayed c no r4
wait_until 60 "c's registry knowing alice and all 5 relays" knows_nodes c alice "${RELAY_NODES[@]}"
vx alice service add --name web --target "127.0.0.1:$HTTP_PORT" >/dev/null || fail "service add web failed"
wait_until 60 "alice.web resolving on c" resolves c alice.web
L=$(connect_relay c alice.web 3)
check_circuits c alice 3
fetch_ok "$L" small "$T/got/warm" "$T/www/small" "4 MiB through the first circuit"

DEAD=()
for round in 1 2; do
	C0=$(sj c '.circuits[0] | tojson')
	M=$(name_at "$(jq -r '.hops[1].addr' <<<"$C0")")
	say "round $round: circuit $(path_of "$C0"); the middle relay is $M"
	rm -f "$T/got/cut$round"
	slow_fetch "$L" big "$T/got/cut$round" $((4 * 1024 * 1024)) --max-time "$(scaled 120)" 2>"$T/curl$round.err" &
	CURL_PID=$!
	BG_PIDS+=("$CURL_PID")
	wait_until 30 "2 MiB of the rate-limited download (round $round)" size_at_least "$T/got/cut$round" $((2 * 1024 * 1024))
	M_ID=$(node_id "$M")
	kill9_node "$M"
	KILL_MS=$(now_ms)
	DEAD+=("$M")
	# The download must end by itself, promptly.
	deadline=$(( KILL_MS + FAILOVER_S * 1000 ))
	while kill -0 "$CURL_PID" 2>/dev/null && ! past "$deadline"; do sleep 0.05; done
	if kill -0 "$CURL_PID" 2>/dev/null; then
		fail "round $round: the download through the circuit was still running ${FAILOVER_S}s after $M was killed ($(file_size "$T/got/cut$round") bytes so far)"
	fi
	wait "$CURL_PID"
	rc=$?
	ended_ms=$(( $(now_ms) - KILL_MS ))
	got=$(file_size "$T/got/cut$round")
	[ "$rc" != 0 ] || fail "round $round: curl succeeded after the middle relay died ($got bytes), want an error"
	[ "$got" -lt $((32 * 1024 * 1024)) ] || fail "round $round: curl got the full file although the circuit broke"
	is_prefix "$T/got/cut$round" "$T/www/big" || fail "round $round: the $got bytes received before the failure are not a prefix of the file"
	say "round $round: curl failed ${ended_ms} ms after the kill (rc=$rc, $got correct bytes): $(tr -d '\n' <"$T/curl$round.err")"
	# The relay before M reported (TRUNCATED, under its layer) that its next
	# hop went away: the forward avoids M from now on.
	wait_until 5 "round $round: c's forward avoiding $M" output_is true \
		bash -c "\"\$0\" --home \"\$1\" connect list --json | jq -e --arg id \"\$2\" '.[0].avoiding | index(\$id) != null'" \
		"$VX6_BIN" "$T/c" "$M_ID"

	# The next connection builds a new circuit without the dead relay.
	fetch "$L" small "$T/got/again$round" --max-time "$FAILOVER_S"
	rc=$?
	took=$(( $(now_ms) - KILL_MS ))
	[ "$rc" = 0 ] || fail "round $round: the first curl after the kill failed (rc=$rc, $(file_size "$T/got/again$round") bytes); forward: $(vx c connect list --json | jq -c '.[0] | {state, last_error}')"
	same_sha "$T/www/small" "$T/got/again$round" "round $round: 4 MiB after the kill"
	[ "$took" -le $((FAILOVER_S * 1000)) ] || fail "round $round: 4 MiB intact only ${took} ms after the kill, want <= ${FAILOVER_S}s"
	C1=$(sj c '.circuits[0] | tojson')
	say "round $round: 4 MiB intact ${took} ms after the kill, over $(path_of "$C1")"
	[ "$(jq -r .age_s <<<"$C1" | cut -d. -f1)" -le $(( took / 1000 + 1 )) ] || fail "round $round: c's circuit is older than the kill: $C1"
	RELAY_NODES=()
	for r in r1 r2 r3 r4 r5; do
		case " ${DEAD[*]} " in *" $r "*) ;; *) RELAY_NODES+=("$r") ;; esac
	done
	check_circuits c alice 3   # only live relays (RELAY_NODES) may be in it
done

fetch_ok "$L" big "$T/got/big" "$T/www/big" "32 MiB through the rebuilt circuit"
say "32 MiB intact through $(path_of "$(sj c '.circuits[0] | tojson')")"

# Every survivor that carried one of the broken circuits stops cleanly.
close_forwards c
for n in alice "${RELAY_NODES[@]}" c; do
	stop_node "$n"
	[ "${NODE_RC[$n]}" = 0 ] ||
		fail "node $n exited with ${NODE_RC[$n]} on SIGTERM after carrying broken circuits (expected 0; see its log)"
done
pass
