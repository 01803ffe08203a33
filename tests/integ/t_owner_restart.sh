#!/usr/bin/env bash
# t_owner_restart — the owner dies mid-transfer (SIGKILL) and comes back with
# the same home; the client's existing forward recovers by itself.
#
#   curl ──► 127.0.0.1:LPORT [client] ══ session ══► [owner] ──► http.server
#                                                  ✗ kill -9
#   curl ──► 127.0.0.1:LPORT [client] ══ new session ══► [owner, same home] ──► http.server
#
# 1. A rate-limited 64 MiB download is running when the owner is SIGKILLed:
#    curl must fail promptly (the stream is reset when the session is lost),
#    not hang until its --max-time.
# 2. The client notices: its session to the owner goes away and the forward
#    is "down"; the forward itself stays (same listen port, same counters).
# 3. The owner restarts from the same home: `vx6 identity --json` shows the
#    same node_id; a new connection through the same forward (not re-created)
#    downloads the whole file byte for byte, and the client's status shows a
#    re-established session to the owner's node id.
. "$(dirname "$0")/lib.sh"
need curl jq ss "$PY"

mkdir -p "$T/www" "$T/got"
make_random "$T/www/big" 64
http_server "$T/www"
start_node owner
start_node client
vx owner service add --name web --target "127.0.0.1:$HTTP_PORT" >/dev/null || fail "service add failed"
ID_BEFORE=$(node_id owner)
LPORT=$(connect_detached client owner web)
[ "$(sj client '.forwards | length')" = 1 ] || fail "want exactly one forward"

say "download running, then kill -9 the owner"
bg curl -s --noproxy '*' --limit-rate 8M --max-time "$(scaled 120)" -o "$T/got/cut" "http://127.0.0.1:$LPORT/big"
CURL_PID=$BG_PID
wait_until 20 "the download started" size_at_least "$T/got/cut" $((2 * 1024 * 1024))
t0=$(now_ms)
kill9_node owner
wait_pid_exit "$CURL_PID" "$(scaled 15)" ||
	fail "curl still runs 15 s after the owner was killed: the client did not reset the stream (hang)"
dt=$(( $(now_ms) - t0 ))
rc=$WAIT_RC
say "curl ended with rc=$rc ${dt} ms after the kill, with $(file_size "$T/got/cut") bytes"
[ "$rc" -ne 0 ] || fail "curl exited 0 although the owner died mid-file"
[ "$rc" -ne 28 ] || fail "curl hit its --max-time: the stream was not reset when the session was lost"
[ "$(file_size "$T/got/cut")" -lt $((64 * 1024 * 1024)) ] || fail "the download completed although the owner died"

say "client notices the lost session"
owner_sessions() { sj client "[.sessions[] | select(.peer_node_id == \"$ID_BEFORE\")] | length"; }
wait_until 20 "the client's session to the dead owner going away" output_is 0 owner_sessions
wait_until 20 "the forward going down" output_is down sj client '.forwards[0].state'
wait_quiet 20 client
[ "$(sj client '.forwards | length')" = 1 ] || fail "the forward disappeared with the owner"
[ "$(sj client '.forwards[0].listen')" = "127.0.0.1:$LPORT" ] || fail "the forward's listen address changed"
[ "$(sj client '.forwards[0].connections_total')" = 1 ] || fail "the forward's counters were reset"

say "owner restarts from the same home"
run_node owner
ID_AFTER=$(node_id owner)
[ "$ID_AFTER" = "$ID_BEFORE" ] || fail "the owner's node_id changed across the restart: $ID_BEFORE -> $ID_AFTER"
[ "$(sj owner '.services[0].name')" = web ] || fail "the restarted owner does not publish 'web'"

fetch "$LPORT" big "$T/got/big" --max-time "$(scaled 120)" || fail "download through the same forward after the restart failed (curl rc=$?)"
same_sha "$T/www/big" "$T/got/big" "download after the owner restart"
[ "$(sj client '.forwards | length')" = 1 ] || fail "the forward was duplicated"
[ "$(sj client '.forwards[0].connections_total')" = 2 ] ||
	fail "the forward counts $(sj client '.forwards[0].connections_total') connections, want 2 (was it re-created?)"
[ "$(sj client '.forwards[0].state')" = up ] || fail "the forward is not up after the restart"
st=$(sj client "[.sessions[] | select(.peer_node_id == \"$ID_BEFORE\" and .direction == \"out\")][0].state")
[ "$st" = established ] || fail "the client shows no re-established session to the owner (state: $st)"
wait_quiet 20 client owner
pass
