#!/usr/bin/env bash
# t_direct_http — a real HTTP server reached through direct mode.
#
#   curl ──► 127.0.0.1:LPORT ──► [client node] ══ Noise session over TCP ══►
#            (forward)                              [::1]:OPORT [owner node] ──► 127.0.0.1:HTTP
#                                                                     (service "web", python http.server)
#
# 1. The owner publishes "web" (a python http.server on loopback serving a
#    100 MiB and a 1 MiB random file); the client connects by address.
# 2. One 100 MiB download arrives byte for byte (sha256).
# 3. 50 concurrent downloads of the 1 MiB file all arrive byte for byte.
# 4. Both nodes show exactly one session between them, and return to
#    0 streams / 0 app connections once the clients are done; the forward
#    counted 51 connections and has none active.
# 5. The other direction, with half-close: a 64 MiB upload to a "sink"
#    service (a TCP server that hashes what it receives and answers with the
#    count and sha256 only after the client's EOF arrives).
. "$(dirname "$0")/lib.sh"
need curl jq ss "$PY"

mkdir -p "$T/www" "$T/got"
make_random "$T/www/big" 100
make_random "$T/www/small" 1
http_server "$T/www"

start_node owner
start_node client
vx owner service add --name web --target "127.0.0.1:$HTTP_PORT" >/dev/null ||
	fail "service add web failed"
LPORT=$(connect_detached client owner web)
say "forward 127.0.0.1:$LPORT -> owner web (http on $HTTP_PORT)"

say "100 MiB download"
fetch "$LPORT" big "$T/got/big" --max-time "$(scaled 120)" || fail "100 MiB download failed (curl rc=$?)"
same_sha "$T/www/big" "$T/got/big" "100 MiB download"

say "50 concurrent 1 MiB downloads"
pids=()
for i in $(seq 1 50); do
	fetch "$LPORT" small "$T/got/small.$i" --max-time "$(scaled 120)" 2>"$T/got/small.$i.err" &
	pids+=($!)
done
bad=0
for i in "${!pids[@]}"; do
	wait "${pids[$i]}" || { bad=$((bad + 1)); echo "curl #$((i + 1)): $(cat "$T/got/small.$((i + 1)).err")" >&2; }
done
[ "$bad" -eq 0 ] || fail "$bad of 50 concurrent downloads failed"
want=$(sha "$T/www/small")
for i in $(seq 1 50); do
	[ "$(sha "$T/got/small.$i")" = "$want" ] || fail "concurrent download #$i: sha256 differs ($(file_size "$T/got/small.$i") bytes)"
done

say "sessions and teardown"
[ "$(sj client '.sessions | length')" = 1 ] || fail "client has $(sj client '.sessions | length') sessions, want 1"
[ "$(sj owner '.sessions | length')" = 1 ] || fail "owner has $(sj owner '.sessions | length') sessions, want 1"
[ "$(sj client '.sessions[0].state')" = established ] || fail "client session is not established"
[ "$(sj client '.sessions[0].peer_node_id')" = "$(node_id owner)" ] || fail "client session's peer is not the owner"
# The session runs over the nodes' transport, and status says why.
[ "$(sj client '.sessions[0].transport')" = "$VX6_TEST_TRANSPORT" ] ||
	fail "client session runs over $(sj client '.sessions[0].transport'), want $VX6_TEST_TRANSPORT"
[ "$(sj client '.sessions[0].transport_why')" = "transport = $VX6_TEST_TRANSPORT" ] ||
	fail "client session's transport_why is '$(sj client '.sessions[0].transport_why')'"
[ "$(sj owner '.sessions[0].transport_why')" = "the peer dialed over $(tr a-z A-Z <<<"$VX6_TEST_TRANSPORT")" ] ||
	fail "owner session's transport_why is '$(sj owner '.sessions[0].transport_why')'"
wait_quiet 30 client owner
[ "$(sj client '.forwards[0].connections_active')" = 0 ] || fail "forward still has active connections"
[ "$(sj client '.forwards[0].connections_total')" = 51 ] ||
	fail "forward counted $(sj client '.forwards[0].connections_total') connections, want 51"
[ "$(counter owner streams_total)" = 51 ] || fail "owner counted $(counter owner streams_total) streams, want 51"
[ "$(counter owner streams_refused)" = 0 ] || fail "owner refused streams"

say "64 MiB upload with half-close"
SINK_PORT=$(free_port)
bg "$PY" -c '
import hashlib, socket, sys, threading
def serve(c):
    h, n = hashlib.sha256(), 0
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        h.update(b)
        n += len(b)
    c.sendall(("%d %s\n" % (n, h.hexdigest())).encode())
    c.close()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
' "$SINK_PORT"
wait_port "$SINK_PORT"
vx owner service add --name sink --target "127.0.0.1:$SINK_PORT" >/dev/null || fail "service add sink failed"
LSINK=$(connect_detached client owner sink)
make_random "$T/up" 64
answer=$(timeout "$(scaled 120)" "$PY" - "$LSINK" "$T/up" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
with open(sys.argv[2], "rb") as f:
    while True:
        b = f.read(1 << 16)
        if not b:
            break
        s.sendall(b)
s.shutdown(socket.SHUT_WR)
r = b""
while True:
    b = s.recv(200)
    if not b:
        break
    r += b
print(r.decode().strip())
EOF
) || fail "the upload client failed or hung (rc=$?)"
[ "$answer" = "$((64 * 1024 * 1024)) $(sha "$T/up")" ] ||
	fail "the sink got '$answer', want '$((64 * 1024 * 1024)) $(sha "$T/up")'"
wait_quiet 30 client owner
pass
