#!/usr/bin/env bash
# Regression (fixed): a hop stream reset by a neighbour stayed in that link's
#   hop map, so relay_link_over read the freed hop when the session ended
#   (heap-use-after-free under ASan, SIGSEGV on SIGTERM otherwise) — step 7.
# t_relay_paths — named forwards through circuits of 1, 2 and 3 relays carry
# a 32 MiB file intact, every path is well formed, and the owner sees the
# circuit arrive from the last relay, never from the client.
#
#   join tree (each node's only --peer is the node it points to):
#
#        alice ◄── r1 ◄── r2 ◄── r4           relays: r1..r5 ([relay] enabled)
#          ▲               ▲                  plain:  alice (owner), p, c
#          │               └── r5
#          └── p ◄── r3 ◄── c
#
#   curl ─► c 127.0.0.1:L1 ══ relay ══════════════════► alice ─► HTTP 32 MiB
#   curl ─► c 127.0.0.1:L2 ══ relay ══ relay ═════════► alice    (alice.web)
#   curl ─► c 127.0.0.1:L3 ══ relay ══ relay ══ relay ═► alice
#
# 1. 8 nodes join; c's registry learns the records of all 5 relays.
# 2. alice publishes web (a python http.server); c opens three named
#    forwards, `--relay 1`, `--relay 2`, `--relay 3` (one circuit each).
# 3. 32 MiB through each forward, sha256 checked.
# 4. Every circuit in c's status: ends at alice ("owner", alice's address),
#    no node twice, neither c nor alice among its relays, only relay-enabled
#    nodes as relays, relay counts exactly {1, 2, 3}; each relay's
#    relay.relaying equals the number of c's circuits it is in (so p and
#    alice relay nothing).
# 5. The owner's view, during a rate-limited download through the 3-relay
#    forward: alice has exits for c's 3 circuits and one app connection; the
#    circuit's hop stream is on alice's session with the LAST relay of the
#    path, and no session of alice with c's key has ever carried a stream
#    (streams_total 0); the 4 MiB left alice on her sessions with the last
#    relay, not on any session with c: the data never went to the client
#    directly.
# 6. c closes its forwards: every node ends with no stream, no app
#    connection, nothing relayed and no exit.
# 7. The owner, the relays and c stop cleanly (SIGTERM, exit 0, and under
#    ASan no report) after having carried circuits that were closed.
. "$(dirname "$0")/relay_lib.sh"
need curl jq ss "$PY" sha256sum cmp

RELAY_NODES=(r1 r2 r3 r4 r5)
mkdir -p "$T/www" "$T/got"
make_random "$T/www/big" 32
make_random "$T/www/slow" 4
http_server "$T/www"

# ---- 1. the network
start_relayed alice no
start_relayed r1 yes alice
start_relayed r2 yes r1
start_relayed p no alice
start_relayed r3 yes p
start_relayed r4 yes r2
start_relayed r5 yes r2
start_relayed c no r3
wait_until 60 "c's registry knowing alice and all 5 relays" knows_nodes c alice "${RELAY_NODES[@]}"
say "8 nodes joined; c knows: $(vx c list --json | jq -r '[.nodes[].name] | join(" ")')"

# ---- 2. publish, three forwards through 1, 2 and 3 relays
vx alice service add --name web --target "127.0.0.1:$HTTP_PORT" >/dev/null || fail "service add web failed"
wait_until 60 "alice.web resolving on c" resolves c alice.web
KC=$(node_key c)
declare -A PORT_OF=()
for k in 1 2 3; do
	PORT_OF[$k]=$(connect_relay c alice.web "$k")
	say "forward --relay $k listens on 127.0.0.1:${PORT_OF[$k]}"
done
[ "$(sj c '.circuits | length')" = 3 ] || fail "c has $(sj c '.circuits | length') circuits after 3 relay forwards, want 3"

# ---- 3. 32 MiB through each
for k in 1 2 3; do
	t0=$(now_ms)
	fetch_ok "${PORT_OF[$k]}" big "$T/got/big$k" "$T/www/big" "32 MiB through --relay $k"
	say "32 MiB through $k relay(s) intact in $(( $(now_ms) - t0 )) ms"
done

# ---- 4. the paths
check_circuits c alice "1 2 3"
for r in "${RELAY_NODES[@]}" p alice c; do
	a=$(addr_of "$r")
	want=$(sj c "[.circuits[] | select(.hops[:-1] | any(.addr == \"$a\"))] | length")
	got=$(sj "$r" .relay.relaying)
	[ "$got" = "$want" ] || fail "$r relays $got circuit(s), but it is a relay in $want of c's circuits"
done
for k in 1 2 3; do
	down=$(sj c "[.circuits[] | select((.hops | length) == $((k + 1)))][0].bytes_down")
	[ "$down" -ge $((32 * 1024 * 1024)) ] || fail "the $k-relay circuit carried $down bytes down, want >= 32 MiB"
done

# ---- 5. the owner's view
C3=$(sj c '[.circuits[] | select((.hops | length) == 4)][0] | tojson')
LAST=$(name_at "$(jq -r '.hops[-2].addr' <<<"$C3")")
KLAST=$(node_key "$LAST")
say "the 3-relay path is $(path_of "$C3"); its last relay is $LAST"
[ "$(sj alice .relay.exits)" -ge 3 ] || fail "alice has $(sj alice .relay.exits) circuit exits, want >= 3 (one per forward of c)"
wait_no_apps 30 alice
# bytes alice sent on her sessions with a key (summed over sessions)
sent_to() { sj alice "[.sessions[] | select(.peer_key == \"$1\") | .bytes_out] | add // 0"; }
last0=$(sent_to "$KLAST") c0=$(sent_to "$KC")
slow_fetch "${PORT_OF[3]}" slow "$T/got/slow" $((1024 * 1024)) --max-time "$(scaled 120)" &
CURL_PID=$!
BG_PIDS+=("$CURL_PID")
wait_until 20 "a slow download through the 3-relay forward reaching alice" output_is 1 sj alice .app_connections
OWNER=$(vx alice status --json)
jq -e '.streams >= 1' <<<"$OWNER" >/dev/null || fail "alice has no open stream while serving the slow download"
hop=$(jq -r --arg k "$KLAST" '[.sessions[] | select(.peer_key == $k) | .streams] | add // 0' <<<"$OWNER")
[ "$hop" -ge 1 ] || fail "alice's sessions with the last relay $LAST carry $hop streams, want >= 1 (the circuit's hop stream): $(jq -c '[.sessions[] | {peer_key, streams, streams_total}]' <<<"$OWNER")"
direct=$(jq -r --arg k "$KC" '[.sessions[] | select(.peer_key == $k) | .streams_total] | add // 0' <<<"$OWNER")
[ "$direct" = 0 ] || fail "alice has sessions with c's key that carried $direct streams: data must come through the circuit only"
say "alice during the slow download: $(jq -c '{app_connections, streams, relay: .relay.exits}' <<<"$OWNER"); hop stream on the session with $LAST; sessions with c: $(jq -r --arg k "$KC" '[.sessions[] | select(.peer_key == $k)] | length' <<<"$OWNER") (0 streams ever)"
wait "$CURL_PID"
rc=$?
[ "$rc" = 0 ] || fail "the slow download through --relay 3 failed (curl rc=$rc)"
same_sha "$T/www/slow" "$T/got/slow" "4 MiB rate-limited through --relay 3"
last1=$(sent_to "$KLAST") c1=$(sent_to "$KC")
say "alice sent $((last1 - last0)) bytes to $LAST and $((c1 - c0)) bytes to c during the 4 MiB download"
[ $((last1 - last0)) -ge $((4 * 1024 * 1024)) ] ||
	fail "alice sent only $((last1 - last0)) bytes to the last relay $LAST during a 4 MiB download through it"
[ $((c1 - c0)) -lt $((256 * 1024)) ] ||
	fail "alice sent $((c1 - c0)) bytes straight to c during the 4 MiB download through relays"
direct=$(sj alice "[.sessions[] | select(.peer_key == \"$KC\") | .streams_total] | add // 0")
[ "$direct" = 0 ] || fail "after the downloads alice's sessions with c's key carried $direct streams, want 0"
grep -q "refused a circuit stream" "$T/alice.log" && fail "alice refused a circuit stream (see its log)"

# ---- 6. closing the forwards tears the circuits down everywhere
close_forwards c
say "forwards closed: no circuit, hop stream or app connection left on any node"

# ---- 7. every node that carried a circuit stops cleanly
for n in alice "${RELAY_NODES[@]}" c; do
	stop_node "$n"
	[ "${NODE_RC[$n]}" = 0 ] ||
		fail "node $n exited with ${NODE_RC[$n]} on SIGTERM after c's circuits were closed (expected 0; see its log)"
done
pass
