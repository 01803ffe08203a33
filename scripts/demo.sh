#!/usr/bin/env bash
# The README's main command (`make demo`): builds VX6, starts a small network
# of three nodes on loopback (::1), publishes a real HTTP server that listens
# only on 127.0.0.1, and reaches it from the other nodes through direct mode.
# Prints each step and what happened; cleans everything up at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
make --no-print-directory build >/dev/null
V=$PWD/build/vx6

work=$(mktemp -d /tmp/vx6-demo.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0)); print(s.getsockname()[1])'; }
wait_status() {
	for _ in $(seq 100); do "$V" --home "$1" status >/dev/null 2>&1 && return 0; sleep 0.05; done
	echo "node $1 did not start:"; cat "$1.log"; exit 1
}

step "1. Three nodes on loopback, each with its own home and Ed25519 identity"
for n in alice bob carol; do
	port=$(free_port)
	"$V" --home "$work/$n" init --name "$n" --listen "[::1]:$port" | sed 's/^/   /'
	"$V" --home "$work/$n" node 2>"$work/$n.log" &
	pids+=($!)
	eval "${n}_port=$port"
done
for n in alice bob carol; do wait_status "$work/$n"; done

step "2. alice runs a web server on 127.0.0.1 only (not reachable from the network)"
mkdir -p "$work/www"
echo "<h1>hello from alice's laptop</h1>" > "$work/www/index.html"
head -c $((32 * 1024 * 1024)) /dev/urandom > "$work/www/data.bin"
web_port=$(free_port)
(cd "$work/www" && exec python3 -m http.server "$web_port" --bind 127.0.0.1 >/dev/null 2>&1) &
pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$web_port/" && break; sleep 0.05; done
echo "   http://127.0.0.1:$web_port/ is up"

step "3. alice publishes it as service 'web' (the app stays on localhost)"
"$V" --home "$work/alice" service add --name web --target "127.0.0.1:$web_port" | sed 's/^/   /'

step "4. bob opens a local port that forwards to alice's 'web', addressing alice by IPv6"
bob_local=$(free_port)
"$V" --home "$work/bob" connect --service web --addr "[::1]:$alice_port" \
	--listen "127.0.0.1:$bob_local" --detach | sed 's/^/   /'

step "5. bob fetches through the encrypted session"
echo -n "   page: "; curl -s "http://127.0.0.1:$bob_local/index.html"
start=$(date +%s.%N)
got=$(curl -s "http://127.0.0.1:$bob_local/data.bin" | sha256sum | cut -d' ' -f1)
end=$(date +%s.%N)
want=$(sha256sum "$work/www/data.bin" | cut -d' ' -f1)
printf "   32 MiB file: sha256 %s (%s), %s s\n" "${got:0:16}…" \
	"$([ "$got" = "$want" ] && echo "matches the original" || echo "MISMATCH")" \
	"$(awk -v a="$start" -v b="$end" "BEGIN{printf \"%.2f\", b-a}")"
[ "$got" = "$want" ]

step "6. carol pins alice's key explicitly; a wrong key would be refused"
alice_key=$("$V" --home "$work/alice" identity --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["public_key"])')
carol_key=$("$V" --home "$work/carol" identity --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["public_key"])')
carol_local=$(free_port)
"$V" --home "$work/carol" connect --service web --addr "[::1]:$alice_port" \
	--listen "127.0.0.1:$carol_local" --peer-key "$alice_key" --detach | sed 's/^/   /'
echo -n "   carol fetches: "; curl -s "http://127.0.0.1:$carol_local/index.html"
echo "   now with the wrong key (carol's own):"
set +e
"$V" --home "$work/carol" connect --service web --addr "[::1]:$alice_port" \
	--listen 127.0.0.1:0 --peer-key "$carol_key" --detach 2>&1 | sed 's/^/   /'
echo "   -> exit code ${PIPESTATUS[0]} (4 = refused by the peer)"
set -e

step "7. Only what alice published is reachable: asking for 'ssh' is refused"
bad_local=$(free_port)
"$V" --home "$work/bob" connect --service ssh --addr "[::1]:$alice_port" \
	--listen "127.0.0.1:$bad_local" --detach >/dev/null
curl -s -m 3 "http://127.0.0.1:$bad_local/" >/dev/null 2>&1 && echo "   UNEXPECTED: reachable" || echo "   connection reset, as expected"
grep -m1 "refused stream" "$work/alice.log" | sed 's/^/   alice log: /'

step "8. Status on bob"
"$V" --home "$work/bob" status | sed 's/^/   /'

step "Done: stopping the nodes"
