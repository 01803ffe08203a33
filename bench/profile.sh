#!/usr/bin/env bash
# bench/profile.sh — where a vx6 node spends its instructions while
# forwarding. Starts the owner (a) and the client (b) node, each under
# `valgrind --tool=callgrind`, pulls PROFILE_BYTES through a forward (and,
# with PROFILE_CONNS > 0, opens that many short connections through a second
# forward), stops the nodes, and prints the top functions by inclusive and
# by self instruction count (Ir) for each node.
#
#   PROFILE_BYTES  bulk bytes, K/M/G suffixes [256M]
#   PROFILE_CONNS  short connections (connect, 1-byte round trip, close) [0]
#   PROFILE_PINGS  1-byte round trips on one connection through the echo forward [0]
#   PROFILE_TOOL   callgrind (default); strace (syscall counts per node with
#                  `strace -c`); none (plain run: user/system CPU split only)
#   PROFILE_TRANSPORT  tcp, quic or auto between the nodes [tcp, as bench/run.sh]
#   PROFILE_VX6    the vx6 binary [build/vx6]; build it RelWithDebInfo for file:line
#   PROFILE_OUT    where the callgrind files and reports go [build/bench/profile]
#   PROFILE_NODE_ENV  extra environment for the two nodes only, e.g.
#                  "GLIBC_TUNABLES=glibc.malloc.trim_threshold=67108864"
#   PROFILE_AEAD_SHIM=1  run both nodes with bench/aead_shim.c preloaded (an
#                  experiment: AES-256-GCM from GnuTLS instead of libsodium)
#
# Not part of `make bench` (callgrind runs the nodes ~50x slower); its
# findings are recorded in docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
V=${PROFILE_VX6:-$ROOT/build/vx6}
B=$ROOT/build/bench/vx6bench
OUT=${PROFILE_OUT:-$ROOT/build/bench/profile}
TOOL=${PROFILE_TOOL:-callgrind}
CONNS=${PROFILE_CONNS:-0}
TRANSPORT=${PROFILE_TRANSPORT:-tcp}
PINGS=${PROFILE_PINGS:-0}
PROFILE_BYTES=${PROFILE_BYTES:-256M}
case $PROFILE_BYTES in
*[Gg]) BYTES=$(( ${PROFILE_BYTES%?} * 1073741824 )) ;;
*[Mm]) BYTES=$(( ${PROFILE_BYTES%?} * 1048576 )) ;;
*[Kk]) BYTES=$(( ${PROFILE_BYTES%?} * 1024 )) ;;
*) BYTES=$PROFILE_BYTES ;;
esac

die() { echo "profile: $*" >&2; exit 1; }
[ -x "$V" ] || die "build/vx6 is missing (make build)"
case $TOOL in
callgrind) command -v valgrind >/dev/null || die "valgrind is missing (apt-get install valgrind)" ;;
strace) command -v strace >/dev/null || die "strace is missing (apt-get install strace)" ;;
none) ;;
*) die "PROFILE_TOOL=$TOOL: use callgrind, strace or none" ;;
esac
mkdir -p "$OUT" "$ROOT/build/bench"
cc -O2 -g -Wall -Wextra -pthread -o "$B" bench/vx6bench.c
if [ "${PROFILE_AEAD_SHIM:-0}" = 1 ]; then
	cc -O2 -Wall -Wextra -shared -fPIC -o "$ROOT/build/bench/aead_shim.so" bench/aead_shim.c -lgnutls ||
		die "cannot build bench/aead_shim.c (needs libgnutls28-dev)"
	PROFILE_NODE_ENV="${PROFILE_NODE_ENV:-} LD_PRELOAD=$ROOT/build/bench/aead_shim.so"
fi

T=$(mktemp -d /tmp/vx6-profile.XXXXXX)
PIDS=()
cleanup() {
	local rc=$? p i
	trap - EXIT INT TERM
	for (( i = ${#PIDS[@]} - 1; i >= 0; i-- )); do kill -TERM "${PIDS[$i]}" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$T"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

run_node() {   # run_node NAME: starts the node, under callgrind unless TOOL=none
	local -a pre=(env ${PROFILE_NODE_ENV:-})
	case $TOOL in
	callgrind)
		"${pre[@]}" valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.$1.out" \
			"$V" --home "$T/$1" node 2>"$T/$1.log" & ;;
	strace)
		"${pre[@]}" strace -c -o "$OUT/strace.$1.txt" "$V" --home "$T/$1" node 2>"$T/$1.log" & ;;
	*)
		"${pre[@]}" "$V" --home "$T/$1" node 2>"$T/$1.log" & ;;
	esac
	local pid=$! child
	PIDS+=($pid)
	for _ in $(seq 600); do "$V" --home "$T/$1" status >/dev/null 2>&1 && break; sleep 0.05; done
	"$V" --home "$T/$1" status >/dev/null 2>&1 || die "node $1 did not start: $(tail -n 20 "$T/$1.log")"
	if [ "$TOOL" = strace ]; then
		# strace detaches on SIGTERM: the node itself must get the signal.
		child=$(ps -o pid= --ppid "$pid" | tr -d ' ')
		[ -n "$child" ] || die "cannot find node $1 under strace"
		PIDS+=($child)
		pid=$child
	fi
	eval "PID_$1=$pid"
}

P_SRC=$("$B" freeport); P_ECHO=$("$B" freeport); P_A=$("$B" freeport); P_B=$("$B" freeport)
"$B" source "$P_SRC" "$BYTES" >/dev/null 2>&1 &
PIDS+=($!)
"$B" echo "$P_ECHO" >/dev/null 2>&1 &
PIDS+=($!)
"$V" --home "$T/a" init --name a --listen "[::1]:$P_A" --transport "$TRANSPORT" >/dev/null
"$V" --home "$T/b" init --name b --listen "[::1]:$P_B" --transport "$TRANSPORT" >/dev/null
run_node a
run_node b
"$V" --home "$T/a" service add --name bench --target "127.0.0.1:$P_SRC" >/dev/null
"$V" --home "$T/a" service add --name echo --target "127.0.0.1:$P_ECHO" >/dev/null
KEY_A=$("$V" --home "$T/a" identity --json | sed -n 's/.*"public_key": *"\([^"]*\)".*/\1/p')
L_BULK=$("$B" freeport); L_ECHO=$("$B" freeport)
"$V" --home "$T/b" connect --service bench --addr "[::1]:$P_A" --listen "127.0.0.1:$L_BULK" \
	--peer-key "$KEY_A" --detach >/dev/null
"$V" --home "$T/b" connect --service echo --addr "[::1]:$P_A" --listen "127.0.0.1:$L_ECHO" \
	--peer-key "$KEY_A" --detach >/dev/null
"$B" wait "$L_ECHO" 30000 || die "no round trip through the forward"
echo "node a (owner) pid $PID_a, node b (client) pid $PID_b" >&2
[ -n "${PROFILE_PAUSE:-}" ] && { echo "profile: paused; press enter" >&2; read -r _; }
# cpu PID: "utime stime minflt" (clock ticks, ticks, minor page faults).
cpu() {
	local s f
	s=$(cat "/proc/$1/stat")
	s=${s##*) }
	read -r -a f <<<"$s"
	echo "${f[11]} ${f[12]} ${f[7]}"
}
if [ "$BYTES" -gt 0 ]; then
	read -r ua0 ka0 fa0 <<<"$(cpu "$PID_a")"; read -r ub0 kb0 fb0 <<<"$(cpu "$PID_b")"
	echo "bulk: $("$B" sink "$L_BULK" "$BYTES")  (bytes seconds MiB/s)" >&2
	read -r ua1 ka1 fa1 <<<"$(cpu "$PID_a")"; read -r ub1 kb1 fb1 <<<"$(cpu "$PID_b")"
	hz=$(getconf CLK_TCK)
	awk -v ua=$((ua1 - ua0)) -v ka=$((ka1 - ka0)) -v ub=$((ub1 - ub0)) -v kb=$((kb1 - kb0)) \
	    -v hz="$hz" -v g="$(awk -v b="$BYTES" 'BEGIN { print b / 1073741824 }')" 'BEGIN {
		printf "CPU s/GiB during the bulk transfer: node a user %.2f sys %.2f, node b user %.2f sys %.2f\n",
		    ua / hz / g, ka / hz / g, ub / hz / g, kb / hz / g }' >&2
	echo "minor page faults per MiB moved: node a $(( (fa1 - fa0) * 1048576 / BYTES )), node b $(( (fb1 - fb0) * 1048576 / BYTES ))" >&2
fi
if [ "$PINGS" -gt 0 ]; then
	echo "ping-pong: $("$B" pingpong "$L_ECHO" "$PINGS")  (p50 p99 mean min max, us)" >&2
fi
if [ "$CONNS" -gt 0 ]; then
	read -r ua0 ka0 fa0 <<<"$(cpu "$PID_a")"; read -r ub0 kb0 fb0 <<<"$(cpu "$PID_b")"
	echo "connections: $("$B" connrate "$L_ECHO" "$CONNS" 4)  (ok failed seconds conns/s cpu)" >&2
	read -r ua1 ka1 fa1 <<<"$(cpu "$PID_a")"; read -r ub1 kb1 fb1 <<<"$(cpu "$PID_b")"
	awk -v ua=$((ua1 - ua0)) -v ka=$((ka1 - ka0)) -v ub=$((ub1 - ub0)) -v kb=$((kb1 - kb0)) \
	    -v hz="$(getconf CLK_TCK)" -v n="$CONNS" 'BEGIN {
		printf "CPU us/connection: node a user %.0f sys %.0f, node b user %.0f sys %.0f\n",
		    ua / hz / n * 1e6, ka / hz / n * 1e6, ub / hz / n * 1e6, kb / hz / n * 1e6 }' >&2
fi
"$V" --home "$T/b" status >&2 || true

# Stop the nodes so callgrind writes its files.
kill -TERM "$PID_b" "$PID_a"
for p in "$PID_b" "$PID_a"; do
	for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
done
if [ "$TOOL" = strace ]; then
	for n in a b; do echo "===== node $n: strace -c ====="; head -n 25 "$OUT/strace.$n.txt"; done
fi
if [ "$TOOL" = callgrind ]; then
	for n in a b; do
		f=$OUT/callgrind.$n.out
		[ -s "$f" ] || die "no callgrind output for node $n"
		callgrind_annotate --inclusive=yes "$f" >"$OUT/inclusive.$n.txt" 2>/dev/null || true
		callgrind_annotate "$f" >"$OUT/self.$n.txt" 2>/dev/null || true
		echo "===== node $n ($([ $n = a ] && echo owner: target side, encrypts the bulk data || echo client: forward side, decrypts the bulk data)) ====="
		echo "--- inclusive Ir ---"; sed -n '1,45p' "$OUT/inclusive.$n.txt"
		echo "--- self Ir ---"; sed -n '1,45p' "$OUT/self.$n.txt"
	done
fi
