#!/usr/bin/env bash
# t_named_join — bootstrap: retrying a peer that is down, joining once it is
# up, joining after `peer add`, and direct mode without any network.
#
#   1. b ──--peer──► a (down)      b: bootstrap "joining … (attempt N, next in S s)"
#                                  / "… unreachable …; retrying", joined false
#      a starts                    b joins within its backoff; a is joined too
#                                  ("it connected to us"); each knows the other
#   2. s (no peers)                s: "standalone", joined false
#      vx6 peer add --addr a       s joins at once (reload), peer list shows a
#   3. l ──--peer──► [::1]:DEAD    l does not join and keeps retrying; it
#      cl ══ direct ══► l          still serves its service by address (and
#      l  ══ direct ══► cl         uses one), data intact both ways
. "$(dirname "$0")/lib.sh"
need curl jq ss "$PY" sha256sum

mkdir -p "$T/www" "$T/got"
make_random "$T/www/file" 4
http_server "$T/www"

say "1. b bootstraps through a, which is down"
init_named a
init_named b a
run_node b
boot_retrying() {
	local s
	s=$(nj b .bootstrap) || return 1
	[ "$(nj b .joined)" = false ] || return 1
	[[ $s == *"attempt "[3-9]* || $s == *"attempt "[1-9][0-9]* ]] || return 1
	[[ $s == *"next in "* ]]
}
wait_until 30 "b's bootstrap status showing at least 3 attempts with a backoff" boot_retrying
say "b: $(nj b .bootstrap)"
node_joined b && fail "b claims to have joined while its only peer is down"
# TCP: the kernel refuses each dial at once, and the log says so. QUIC gets
# no answer at all (UDP): its dials are still waiting for the handshake
# timeout here, so only the retry status above shows them.
if [ "$VX6_TEST_TRANSPORT" = tcp ]; then
	grep -q "session to \[::1\]:${NODE_PORT[a]} ended: connection lost during the handshake (connection refused)" "${NODE_LOG[b]}" ||
		fail "b's log does not show the refused dials to a"
fi
t0=$(now_ms)
run_node a
wait_joined b 70
say "b joined $(( ($(now_ms) - t0) / 1000 ))s after a started: $(nj b .bootstrap)"
[[ $(nj b .bootstrap) == *"joined via "*"[::1]:${NODE_PORT[a]}"* ]] || fail "b's bootstrap status names another peer: $(nj b .bootstrap)"
wait_joined a 10
[[ $(nj a .bootstrap) == *"it connected to us"* ]] || fail "a's bootstrap status does not say b connected to it: $(nj a .bootstrap)"
wait_until 10 "b's record in a's registry" output_is 2 nj a .registry.nodes
wait_until 10 "a's record in b's registry" output_is 2 nj b .registry.nodes
[ "$(nj a .dht.contacts)" -ge 1 ] || fail "a has no DHT contact after b joined"
[ "$(nj b .dht.contacts)" -ge 1 ] || fail "b has no DHT contact after joining"

say "2. a standalone node joins after peer add"
init_named s
run_node s
[[ $(nj s .bootstrap) == standalone* ]] || fail "a node without peers says '$(nj s .bootstrap)', want standalone…"
[ "$(nj s .joined)" = false ] || fail "a node without peers says it joined"
vx s peer add --addr "[::1]:${NODE_PORT[a]}" >"$T/s.peer.out" 2>>"$T/s.cli.err" || fail "peer add on s failed"
[ "$(vx s peer list --json | jq -r '.[0]')" = "[::1]:${NODE_PORT[a]}" ] || fail "peer list on s: $(vx s peer list --json | jq -c .)"
wait_joined s 30
say "s: $(nj s .bootstrap)"
wait_until 20 "s learning b through a (peer exchange or DHT)" output_is 3 nj s .registry.nodes

say "3. l's only peer is unreachable; direct mode still works"
DEAD=$(free_port)
init_named l "[::1]:$DEAD"
run_node l
l_retrying() {
	[ "$(nj l .joined)" = false ] && [[ $(nj l .bootstrap) == *"attempt "[2-9]* ]]
}
wait_until 30 "l retrying its unreachable peer (attempt 2 or later)" l_retrying
say "l: $(nj l .bootstrap)"
init_named cl
run_node cl
vx l service add --name web --target "127.0.0.1:$HTTP_PORT" >/dev/null || fail "service add on l failed"
vx cl service add --name web --target "127.0.0.1:$HTTP_PORT" >/dev/null || fail "service add on cl failed"
LP=$(connect_detached cl l web)
fetch "$LP" file "$T/got/to-l" --max-time "$(scaled 60)" || fail "direct fetch from l failed (curl rc=$?)"
same_sha "$T/www/file" "$T/got/to-l" "direct download from l"
LQ=$(connect_detached l cl web)
fetch "$LQ" file "$T/got/from-l" --max-time "$(scaled 60)" || fail "direct fetch by l failed (curl rc=$?)"
same_sha "$T/www/file" "$T/got/from-l" "direct download by l"
# (Any authenticated neighbour makes a node joined (PROTOCOL.md §13): after
# these direct sessions l and cl form a two-node network of their own.)
say "l after the direct sessions: $(nj l .bootstrap)"
wait_quiet 20 l cl
pass
