#!/usr/bin/env bash
# t_pinned_key — the client refuses an owner whose key is not the one it
# expects (explicit --peer-key, or pinned on first use), and then sends it
# no application bytes.
#
#   [client] ──connect --peer-key K_third──► [owner K1]      → exit 4, names K1 and K_third
#   [client] ──connect (TOFU)──────────────► [owner K1]      → pins K1 in known_peers
#            owner re-initialised with --force: same port, new key K2
#   [client] ──connect (no key)────────────► [owner K2]      → exit 4, KEY MISMATCH, names K1 and K2
#   app ──► pinned forward (K1) ───────────► [owner K2]      → connection fails; target sees 0 bytes
#   [client] ──connect --peer-key K2───────► [owner K2]      → works (the documented way out)
#
# The owner's "web" target is a TCP server that records every byte it
# receives, so "the owner never receives application bytes" is checked at the
# target as well as in the owner's counters (streams_total stays 0).
. "$(dirname "$0")/lib.sh"
need jq ss "$PY"

# A TCP target that answers "hello\n", appends what it receives to a file,
# and closes once it has a whole HTTP request header.
REC_PORT=$(free_port)
bg "$PY" -c '
import socket, sys, threading
out = sys.argv[2]
def serve(c):
    with c:
        try:
            c.sendall(b"hello\n")
            seen = b""
            while b"\r\n\r\n" not in seen:
                b = c.recv(65536)
                if not b:
                    break
                seen += b
                with open(out, "ab") as f:
                    f.write(b)
        except OSError:
            pass
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
' "$REC_PORT" "$T/received" 2>"$T/rec.log"
EXTRA_LOGS+=("$T/rec.log")
wait_port "$REC_PORT"
: >"$T/received"

start_node owner
start_node client
init_node third
vx owner service add --name web --target "127.0.0.1:$REC_PORT" >/dev/null || fail "service add failed"
K1=$(node_key owner)
K3=$(node_key third)
OADDR="[::1]:${NODE_PORT[owner]}"

say "explicit --peer-key of another node"
for mode in --detach ""; do
	# shellcheck disable=SC2086
	timeout "$(scaled 30)" "$VX6_BIN" --home "$T/client" connect --service web --addr "$OADDR" \
		--listen 127.0.0.1:0 --peer-key "$K3" $mode >"$T/c.out" 2>"$T/c.err"
	rc=$?
	[ "$rc" = 4 ] || fail "connect ${mode:-(foreground)} --peer-key <third's key> exited $rc, want 4: $(cat "$T/c.err")"
	grep -q "KEY MISMATCH" "$T/c.err" || fail "the error does not say KEY MISMATCH: $(cat "$T/c.err")"
	grep -q -- "$K1" "$T/c.err" || fail "the error does not name the key the owner presents ($K1)"
	grep -q -- "$K3" "$T/c.err" || fail "the error does not name the expected key ($K3)"
done
[ "$(sj client '.forwards | length')" = 0 ] || fail "a refused connect left a forward behind"
[ ! -s "$T/client/known_peers" ] || fail "a refused connect pinned a key: $(cat "$T/client/known_peers")"
[ "$(counter owner streams_total)" = 0 ] || fail "the owner opened a stream for a client that expected another key"

say "trust on first use"
LPIN=$(connect_detached client owner web)
grep -qF "[::1]:${NODE_PORT[owner]} $K1" "$T/client/known_peers" ||
	fail "known_peers does not pin $K1 for $OADDR: $(cat "$T/client/known_peers")"
r=$(tcp_probe "$LPIN" 5)
[ "$r" = "eof 6" ] || fail "the pinned forward did not reach the target before the key change: '$r'"
wait_until 10 "the target receiving the probe's request" grep -q "GET / HTTP" "$T/received"
wait_quiet 20 client owner

say "owner re-initialised with a new key on the same port"
stop_node owner
vx owner init --name owner --listen "$OADDR" --force >/dev/null 2>&1 || fail "init --force failed"
K2=$(node_key owner)
[ "$K2" != "$K1" ] || fail "init --force kept the old key"
run_node owner
: >"$T/received"

timeout "$(scaled 30)" "$VX6_BIN" --home "$T/client" connect --service web --addr "$OADDR" \
	--listen 127.0.0.1:0 --detach >"$T/c.out" 2>"$T/c.err"
rc=$?
[ "$rc" = 4 ] || fail "connect to the re-keyed owner without --peer-key exited $rc, want 4: $(cat "$T/c.err")"
grep -q "KEY MISMATCH" "$T/c.err" || fail "the error does not say KEY MISMATCH: $(cat "$T/c.err")"
grep -q -- "$K1" "$T/c.err" || fail "the error does not name the pinned key ($K1)"
grep -q -- "$K2" "$T/c.err" || fail "the error does not name the key the owner now presents ($K2)"
grep -qF "$OADDR $K1" "$T/client/known_peers" || fail "the pin for $OADDR was changed or lost"
grep -q -- "$K2" "$T/client/known_peers" && fail "the new key was pinned silently"

say "the pinned forward's new connections"
for i in 1 2 3; do
	r=$(tcp_probe "$LPIN" 10)
	case $r in
	"reset 0" | "eof 0") ;;
	*) fail "connection #$i through the pinned forward to a re-keyed owner ended with '$r', want reset/eof with 0 bytes" ;;
	esac
done
last=$(sj client "[.forwards[] | select(.listen == \"127.0.0.1:$LPIN\")][0].last_error")
[[ $last == *"KEY MISMATCH"* ]] || fail "the pinned forward's last_error is not a key mismatch: $last"
[ "$(counter client key_mismatches)" -ge 1 ] || fail "the client counted no key mismatch"
[ "$(counter owner streams_total)" = 0 ] || fail "the re-keyed owner opened $(counter owner streams_total) stream(s) for the old pin"
[ ! -s "$T/received" ] || fail "the owner's target received $(file_size "$T/received") application bytes through a mismatched session"
node_alive owner || fail "the owner died"

say "explicit --peer-key of the new key works"
out=$(vx client connect --service web --addr "$OADDR" --listen 127.0.0.1:0 --peer-key "$K2" --detach --json) ||
	fail "connect --peer-key <new key> failed"
LNEW=$(jq -r .listen <<<"$out" | sed 's/.*://')
r=$(tcp_probe "$LNEW" 5)
[ "$r" = "eof 6" ] || fail "the forward with the new explicit key did not reach the target: '$r'"
wait_quiet 20 client owner
pass
