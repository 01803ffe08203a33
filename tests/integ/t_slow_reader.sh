#!/usr/bin/env bash
# t_slow_reader — a slow or stalled reader does not stall a fast one on the
# same forward (per-stream flow control, no head-of-line blocking).
#
#   stalled client (reads nothing) ─┐
#   slow curl (--limit-rate 200k) ──┼─► 127.0.0.1:LPORT [client] ══ one session ══► [owner] ──► http.server
#   fast curl (50 MiB) ─────────────┘
#
# 1. A client that sends a request for a 32 MiB file and then never reads
#    (tiny receive buffer) fills its stream's window; we wait until the
#    client node's byte count for the forward stops growing.
# 2. A curl limited to 200 KiB/s downloads the same 32 MiB file.
# 3. While both are still running, a fast 50 MiB download through the same
#    forward must complete, byte for byte. The assertion is on order: the
#    fast one finished while the slow and the stalled ones had not.
# 4. After the slow ones are killed, both nodes return to 0 streams.
. "$(dirname "$0")/lib.sh"
need curl jq ss "$PY"

mkdir -p "$T/www" "$T/got"
make_random "$T/www/slow" 32
make_random "$T/www/fast" 50
http_server "$T/www"

start_node owner
start_node client
vx owner service add --name web --target "127.0.0.1:$HTTP_PORT" >/dev/null || fail "service add failed"
LPORT=$(connect_detached client owner web)

cat >"$T/stall.py" <<'EOF'
# Sends one HTTP request, reads the first bytes, then never reads again.
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /slow HTTP/1.0\r\nHost: x\r\n\r\n")
first = s.recv(100)
print("got %d bytes, now stalling" % len(first), flush=True)
time.sleep(600)
EOF

say "stalled reader"
bg "$PY" "$T/stall.py" "$LPORT" >"$T/stall.out" 2>&1
STALL_PID=$BG_PID
wait_until 20 "the stalled client got its first bytes" grep -q stalling "$T/stall.out"
# Wait until the stalled stream's window is full: the forward's byte count
# (all from this one stream) stops growing.
prev=-1
deadline=$(deadline_after "$(scaled 30)")
while :; do
	cur=$(sj client '.forwards[0].bytes_down')
	[ "$cur" = "$prev" ] && [ "$cur" -gt 0 ] && break
	past "$deadline" && fail "the stalled stream never stopped receiving (bytes_down=$cur): no flow control?"
	prev=$cur
	sleep 0.5
done
say "stalled stream holds $cur bytes"
[ "$cur" -lt $((32 * 1024 * 1024)) ] || fail "the stalled stream received the whole file: it was never stalled"

say "slow reader"
bg curl -sS --noproxy '*' --limit-rate 200k -o "$T/got/slow" "http://127.0.0.1:$LPORT/slow"
SLOW_PID=$BG_PID
wait_until 20 "the slow download started" size_at_least "$T/got/slow" 100000

say "fast 50 MiB download while both run"
fetch "$LPORT" fast "$T/got/fast" --max-time "$(scaled 120)" ||
	fail "the fast download failed or hung behind the slow readers (curl rc=$?)"
kill -0 "$SLOW_PID" 2>/dev/null || fail "the slow download ended before the fast one: order not shown (or it failed)"
kill -0 "$STALL_PID" 2>/dev/null || fail "the stalled client ended before the fast download"
slow_got=$(file_size "$T/got/slow")
say "fast done; slow at $slow_got bytes, still running"
[ "$slow_got" -lt $((32 * 1024 * 1024)) ] || fail "slow download already complete"
same_sha "$T/www/fast" "$T/got/fast" "fast download"

# The slow one is still making progress (not starved by the fast one).
wait_until 20 "the slow download progressing after the fast one" size_at_least "$T/got/slow" $((slow_got + 100000))

kill -TERM "$SLOW_PID" "$STALL_PID" 2>/dev/null
wait "$SLOW_PID" "$STALL_PID" 2>/dev/null
wait_quiet 30 client owner
[ "$(sj client '.sessions | length')" = 1 ] || fail "client has $(sj client '.sessions | length') sessions, want 1"
pass
