#!/usr/bin/env bash
# Regression (fixed): (a) a circuit that ended from the owner's side (or
#   because its next hop died) never gave its budget slot back, so after
#   alice restarted r refused every circuit — step 5; (b) the hop-map
#   use-after-free of t_relay_paths.sh — step 7.
# t_relay_budget — a relay keeps to its circuit budget (max_circuits) without
# hurting the circuits it already carries, and a node with relaying disabled
# is never chosen as a relay.
#
#   alice ◄── n ◄── c          n: [relay] enabled = no
#     ▲
#     └────── r                r: [relay] enabled = yes, max_circuits = 3
#                                 (joins after step 1)
#
#   curl ─► c :L1 ══ r ══► alice ─► HTTP      (forward 1)
#   curl ─► c :L2 ══ r ══► alice               (forward 2)
#   curl ─► c :L3 ══ r ══► alice               (forward 3)
#           c :L4 ══ r ✗  "budget exhausted"   (forward 4: refused)
#
# 1. Only alice, n and c: `connect --relay 1` on c fails with "not enough
#    relays" (n relays nothing: its record has no relay flag), n's relay
#    status says enabled false, and n refused nothing (it was never asked).
# 2. r joins; c opens three `--relay 1` forwards, each with its own circuit
#    "r owner"; r relays 3 circuits.
# 3. A 4th forward fails with a clear error naming the budget, and does not
#    fall back to n; r's relay.refused grew; r still relays 3 circuits.
# 4. The three existing forwards each still carry 8 MiB intact (at once).
# 5. alice restarts (SIGTERM, same home): the three circuits end at the
#    owner's side (r relays nothing); once alice is back, each forward
#    rebuilds its circuit through r on its next connection and carries 8 MiB
#    intact: circuits that ended give their budget back, r refuses nothing.
# 6. Closing forward 1 frees a slot: a new `--relay 1` forward works and
#    carries 8 MiB intact; r relays 3 circuits again.
# 7. All forwards closed: every node quiet; alice, r, n and c stop cleanly.
. "$(dirname "$0")/relay_lib.sh"
need curl jq ss "$PY" sha256sum

mkdir -p "$T/www" "$T/got"
make_random "$T/www/f" 8
http_server "$T/www"

# ---- 1. no relay-capable node: "not enough relays"
start_relayed alice no
start_relayed n no alice
start_relayed c no n
vx alice service add --name web --target "127.0.0.1:$HTTP_PORT" >/dev/null || fail "service add web failed"
wait_until 60 "c's registry knowing alice and n" knows_nodes c alice n
wait_until 60 "alice.web resolving on c" resolves c alice.web
[ "$(sj n .relay.enabled)" = false ] || fail "n's status says relay.enabled $(sj n .relay.enabled), want false"
connect_relay_try c alice.web 1 "$T/none.json"
rc=$?
[ "$rc" != 0 ] || fail "connect --relay 1 with only a non-relay node known succeeded: $(cat "$T/none.json")"
grep -q "not enough relays" "$T/none.json.err" ||
	fail "connect --relay 1 with only a non-relay node known: rc=$rc, want \"not enough relays\", got: $(cat "$T/none.json.err")"
say "only n (relaying disabled) known: connect exits $rc: $(head -c 200 "$T/none.json.err")"
[ "$(sj c '.forwards | length')" = 0 ] || fail "the failed connect left a forward on c: $(sj c '.forwards')"
[ "$(sj n '"\(.relay.relaying) \(.relay.refused)"')" = "0 0" ] || fail "n was asked to relay: $(sj n .relay)"

# ---- 2. r joins; three forwards through it
init_relayed r yes alice
set_relay r max_circuits 3
run_node r
wait_joined r
wait_until 60 "c's registry knowing r" knows_nodes c r
[ "$(sj r .relay.max_circuits)" = 3 ] || fail "r's relay.max_circuits is $(sj r .relay.max_circuits), want 3"
RELAY_NODES=(r)
declare -a L=()
for i in 1 2 3; do
	L[i]=$(connect_relay c alice.web 1)
done
check_circuits c alice "1 1 1"
[ "$(sj r .relay.relaying)" = 3 ] || fail "r relays $(sj r .relay.relaying) circuits, want 3"
refused0=$(sj r .relay.refused)

# ---- 3. the 4th is refused, clearly, and not sent through n
t0=$(now_ms)
connect_relay_try c alice.web 1 "$T/fourth.json"
rc=$?
[ "$rc" != 0 ] || fail "a 4th circuit through r (max_circuits = 3) was built: $(cat "$T/fourth.json")"
say "4th forward: connect exits $rc after $(( $(now_ms) - t0 )) ms: $(head -c 300 "$T/fourth.json.err")"
grep -qi "budget" "$T/fourth.json.err" ||
	fail "the 4th connect's error does not say the relay's circuit budget is exhausted: $(cat "$T/fourth.json.err")"
[ "$(sj r .relay.refused)" -gt "$refused0" ] || fail "r's relay.refused did not grow ($refused0 -> $(sj r .relay.refused))"
[ "$(sj r .relay.relaying)" = 3 ] || fail "after the refusal r relays $(sj r .relay.relaying) circuits, want 3"
[ "$(sj n '"\(.relay.relaying) \(.relay.refused)"')" = "0 0" ] || fail "n (relaying disabled) was asked to relay: $(sj n .relay)"
[ "$(sj c '.forwards | length')" = 3 ] || fail "c has $(sj c '.forwards | length') forwards after the refused one, want 3"
check_circuits c alice "1 1 1"
say "r: $(sj r '.relay | tojson')"

# ---- 4. the existing circuits still work, all three at once
pids=()
for i in 1 2 3; do
	fetch "${L[$i]}" f "$T/got/f$i" --max-time "$(scaled 120)" &
	pids+=($!)
done
for i in 1 2 3; do
	wait "${pids[$((i - 1))]}" || fail "8 MiB through existing forward $i failed after the refusal (curl rc=$?)"
	same_sha "$T/www/f" "$T/got/f$i" "8 MiB through existing forward $i"
done
say "the three existing forwards each carried 8 MiB intact"

# ---- 5. circuits that end at the owner's side give their slots back
say "restarting alice (SIGTERM, same home): the three circuits end at their owner's side"
stop_node alice
[ "${NODE_RC[alice]}" = 0 ] || fail "alice exited with ${NODE_RC[alice]} on SIGTERM while carrying circuits"
wait_until 20 "r relaying nothing once alice is gone" output_is 0 sj r .relay.relaying
wait_until 20 "c's circuits closed once alice is gone" output_is 0 sj c '.circuits | length'
run_node alice
wait_until 60 "alice.web resolving on c again" resolves c alice.web --fresh
refused1=$(sj r .relay.refused)
for i in 1 2 3; do
	fetch "${L[i]}" f "$T/got/r$i" --max-time "$(scaled 120)" 2>"$T/got/r$i.err"
	rc=$?
	[ "$rc" = 0 ] || fail "after alice's restart, forward $i could not rebuild its circuit through r (curl rc=$rc; c: $(vx c connect list --json | jq -c ".[] | select(.listen == \"127.0.0.1:${L[i]}\") | .last_error"); r: $(sj r '.relay | tojson'))"
	same_sha "$T/www/f" "$T/got/r$i" "8 MiB through forward $i after alice's restart"
done
[ "$(sj r .relay.refused)" = "$refused1" ] || fail "r refused circuits after alice's restart although it relayed none: $(sj r '.relay | tojson')"
check_circuits c alice "1 1 1"
say "after alice's restart the three forwards rebuilt their circuits through r"

# ---- 6. closing one frees a slot
vx c connect close "127.0.0.1:${L[1]}" >/dev/null || fail "connect close on c failed"
wait_until 20 "r relaying 2 circuits after forward 1 closed" output_is 2 sj r .relay.relaying
L[4]=$(connect_relay c alice.web 1)
fetch_ok "${L[4]}" f "$T/got/f4" "$T/www/f" "8 MiB through a new forward after one was closed"
[ "$(sj r .relay.relaying)" = 3 ] || fail "r relays $(sj r .relay.relaying) circuits, want 3"
check_circuits c alice "1 1 1"

# ---- 7. quiet, clean stops
close_forwards c
for n in alice r n c; do
	stop_node "$n"
	[ "${NODE_RC[$n]}" = 0 ] ||
		fail "node $n exited with ${NODE_RC[$n]} on SIGTERM after carrying circuits (expected 0; see its log)"
done
pass
