#!/usr/bin/env bash
# t_slow_reader — a slow or stalled reader does not stall a fast one on the
# same forward (per-stream flow control, no head-of-line blocking).
#
#   stalled client (reads nothing) ─┐
#   slow reader (200 KiB/s) ────────┼─► 127.0.0.1:LPORT [client] ══ one session ══► [owner] ──► http.server
#   fast curl (50 MiB) ─────────────┘
#
# 1. A client that sends a request for a 32 MiB file and then never reads
#    (tiny receive buffer) fills its stream's window; we wait until the
#    client node's byte count for the forward stops growing.
# 2. A python client reading 16 KiB every 80 ms (~200 KiB/s, steadily:
#    curl --limit-rate bursts first and then pauses) downloads the same file.
# 3. While both are still running, a fast 50 MiB download through the same
#    forward must complete, byte for byte. The assertion is on order: the
#    fast one finished while the slow and the stalled ones had not.
# 4. The slow download keeps progressing afterwards.
# 5. Many stalled readers: 12 clients that never read (fewer than
#    session_window / stream_window = 16 MiB / 1 MiB, so together they can
#    hold at most 12 MiB of the session's credit) must still leave room for a
#    new fast download on the same forward to complete, byte for byte.
#    (Regression: mux returned session credit only after half a session
#    window had been consumed, which never happens once stalled streams hold
#    more than half of it; the fast download then got 0 bytes.)
# 6. After the slow ones are killed, both nodes return to 0 streams.
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
# wait_stalled: waits until the forward's byte count stops growing (every
# open stream is stalled: its window is full); sets STALLED_BYTES.
wait_stalled() {
	local prev=-1 cur deadline
	deadline=$(deadline_after "$(scaled 30)")
	while :; do
		cur=$(sj client '.forwards[0].bytes_down')
		[ "$cur" = "$prev" ] && [ "$cur" -gt 0 ] && break
		past "$deadline" && fail "stalled streams never stopped receiving (bytes_down=$cur): no flow control?"
		prev=$cur
		sleep 0.5
	done
	STALLED_BYTES=$cur
}
wait_stalled
cur=$STALLED_BYTES
say "stalled stream holds $cur bytes"
[ "$cur" -lt $((32 * 1024 * 1024)) ] || fail "the stalled stream received the whole file: it was never stalled"

cat >"$T/slow.py" <<'EOF'
# Downloads /slow at ~200 KiB/s; writes the byte count so far to a file.
import os, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /slow HTTP/1.0\r\nHost: x\r\n\r\n")
n = 0
while True:
    b = s.recv(16384)
    if not b:
        break
    n += len(b)
    with open(sys.argv[2] + ".tmp", "w") as f:
        f.write(str(n))
    os.replace(sys.argv[2] + ".tmp", sys.argv[2])
    time.sleep(0.08)
print("done", n, flush=True)
EOF
slow_bytes() { cat "$T/slow.count" 2>/dev/null || echo 0; }
slow_at_least() { [ "$(slow_bytes)" -ge "$1" ]; }

say "slow reader"
bg "$PY" "$T/slow.py" "$LPORT" "$T/slow.count" >"$T/slow.out" 2>&1
SLOW_PID=$BG_PID
wait_until 20 "the slow download started" slow_at_least 100000

say "fast 50 MiB download while both run"
fetch "$LPORT" fast "$T/got/fast" --max-time "$(scaled 120)" ||
	fail "the fast download failed or hung behind the slow readers (curl rc=$?)"
kill -0 "$SLOW_PID" 2>/dev/null || fail "the slow download ended before the fast one: order not shown (or it failed)"
kill -0 "$STALL_PID" 2>/dev/null || fail "the stalled client ended before the fast download"
slow_got=$(slow_bytes)
say "fast done; slow at $slow_got bytes, still running"
[ "$slow_got" -lt $((32 * 1024 * 1024)) ] || fail "slow download already complete"
same_sha "$T/www/fast" "$T/got/fast" "fast download"

# The slow one is still making progress (not starved by the fast one).
wait_until 20 "the slow download progressing after the fast one" slow_at_least $((slow_got + 100000))

kill -TERM "$SLOW_PID" 2>/dev/null
wait "$SLOW_PID" 2>/dev/null

say "11 more stalled readers (12 in all)"
before=$(sj client '.forwards[0].bytes_down')
STALL_PIDS=("$STALL_PID")
for i in $(seq 2 12); do
	bg "$PY" "$T/stall.py" "$LPORT" >"$T/stall.$i.out" 2>&1
	STALL_PIDS+=("$BG_PID")
done
for i in $(seq 2 12); do
	wait_until 20 "stalled client #$i got its first bytes" grep -q stalling "$T/stall.$i.out"
done
wait_stalled
say "11 new stalled streams took $((STALLED_BYTES - before)) bytes; fast download"
rm -f "$T/got/fast"
fetch "$LPORT" fast "$T/got/fast" --max-time "$(scaled 30)" ||
	fail "with 12 stalled readers on the forward, a new 50 MiB download failed or hung (curl rc=$?, got $(file_size "$T/got/fast") bytes; client session: $(sj client '.sessions[0] | {streams, bytes_in}' | tr -d '\n '))"
same_sha "$T/www/fast" "$T/got/fast" "fast download beside 12 stalled readers"
for p in "${STALL_PIDS[@]}"; do
	kill -0 "$p" 2>/dev/null || fail "a stalled client ended before the fast download"
done

kill -TERM "${STALL_PIDS[@]}" 2>/dev/null
wait "${STALL_PIDS[@]}" 2>/dev/null
wait_quiet 30 client owner
[ "$(sj client '.sessions | length')" = 1 ] || fail "client has $(sj client '.sessions | length') sessions, want 1"
pass
