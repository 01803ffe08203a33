# shellcheck shell=bash
# tests/integ/lib.sh — shared helpers for the loopback integration tests.
#
# Source it first thing in a t_*.sh script:
#
#     . "$(dirname "$0")/lib.sh"
#
# It creates one temp dir ($T) for everything the test makes, installs an
# EXIT trap that stops every process the test started (nodes with SIGTERM and
# a wait, so LeakSanitizer runs; helpers with SIGTERM then SIGKILL), scans
# every node log for sanitizer reports, and prints the node logs when the test
# failed. Readiness is always polled (wait_until), never slept for.
#
# Environment:
#   VX6_BIN        the vx6 binary under test (default: <repo>/build/vx6)
#   VX6_TESTS_DIR  the tests/ directory (default: derived from this file)
#   VX6_KEEP=1     keep $T after the test (for debugging)
#   VX6_TIMEOUT_SCALE  multiply every timeout (default 1; timeouts already
#                  allow for an ASan+UBSan build being ~3x slower)
#
# Conventions: helpers never exit on their own except fail/need; a failed
# assertion calls `fail "one-line reason"`, which prints
#   FAIL t_name: reason
# dumps the relevant logs and exits 1.

set -u -o pipefail

TEST_NAME=$(basename "${0%.sh}")
VX6_TESTS_DIR=${VX6_TESTS_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
VX6_BIN=${VX6_BIN:-$VX6_TESTS_DIR/../build/vx6}
VX6_TIMEOUT_SCALE=${VX6_TIMEOUT_SCALE:-1}
PY=${PYTHON:-python3}
# VX6_TEST_TRANSPORT=tcp|quic|auto: the transport policy of every node the
# test creates (`init --transport`); CTest runs each test under tcp and quic.
VX6_TEST_TRANSPORT=${VX6_TEST_TRANSPORT:-tcp}
case $VX6_TEST_TRANSPORT in
tcp | quic | auto) ;;
*) echo "FAIL $TEST_NAME: VX6_TEST_TRANSPORT must be tcp, quic or auto" >&2; exit 1 ;;
esac
TRANSPORT_ARGS=(--transport "$VX6_TEST_TRANSPORT")
INTEG_DIR=$VX6_TESTS_DIR/integ
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

T=$(mktemp -d "${TMPDIR:-/tmp}/vx6-$TEST_NAME.XXXXXX") || { echo "FAIL $TEST_NAME: mktemp" >&2; exit 1; }
T_START_MS=$(date +%s%3N)

declare -A NODE_PID=() NODE_PORT=() NODE_LOG=() NODE_RC=()
NODE_NAMES=()          # every node ever started, in order
BG_PIDS=()             # helper processes (servers, clients) to kill at exit
CLEANUP_CMDS=()        # extra shell commands run at exit (e.g. pg_ctl stop)
EXTRA_LOGS=()          # logs of helper servers to print on failure
FAILED=0

if [ ! -x "$VX6_BIN" ]; then
	echo "FAIL $TEST_NAME: VX6_BIN=$VX6_BIN is not an executable (build it first)" >&2
	exit 1
fi
VX6_BIN=$(cd "$(dirname "$VX6_BIN")" && pwd)/$(basename "$VX6_BIN")

# ---------------------------------------------------------------- reporting

now_ms() { date +%s%3N; }

# elapsed: seconds since the test started, one decimal.
elapsed() {
	local ms=$(( $(now_ms) - T_START_MS ))
	printf '%d.%d' $((ms / 1000)) $(((ms % 1000) / 100))
}

say() { printf '[%s %6ss] %s\n' "$TEST_NAME" "$(elapsed)" "$*" >&2; }

# dump_logs: the tail of every node log and helper log, for a failure report.
dump_logs() {
	local n f
	for n in "${NODE_NAMES[@]}"; do
		f=${NODE_LOG[$n]}
		[ -f "$f" ] || continue
		echo "----- node $n log ($f), last 60 lines -----" >&2
		tail -n 60 "$f" >&2
	done
	for f in "${EXTRA_LOGS[@]}"; do
		[ -f "$f" ] || continue
		echo "----- $f, last 30 lines -----" >&2
		tail -n 30 "$f" >&2
	done
}

# fail REASON: one-line verdict, logs, exit 1 (the EXIT trap cleans up).
# Called in a subshell (e.g. PORT=$(free_port)), it also stops the main
# script: the subshell has no EXIT trap and its exit alone would be missed.
fail() {
	FAILED=1
	echo "FAIL $TEST_NAME: $*" >&2
	dump_logs
	if [ "$BASHPID" != "$$" ]; then
		: >"$T/.failed"
		kill -TERM "$$"
	fi
	exit 1
}

_on_signal() {
	if [ -e "$T/.failed" ]; then
		FAILED=1   # a subshell failed and already said why
		exit 1
	fi
	fail "interrupted by a signal"
}

# need CMD...: every tool must be installed (scripts/deps.sh test); a missing
# one fails the test, it does not skip it.
need() {
	local c
	for c in "$@"; do
		if [[ $c == /* ]]; then
			[ -x "$c" ] || fail "required binary $c is missing (run scripts/deps.sh test)"
		else
			command -v "$c" >/dev/null 2>&1 || fail "required tool '$c' is missing (run scripts/deps.sh test)"
		fi
	done
}

# pass: stops everything (nodes with SIGTERM, checking their exit codes and
# logs for sanitizer reports), then prints PASS and exits 0.
pass() {
	_stop_all || fail "teardown found problems (see above)"
	printf 'PASS %s (%ss)\n' "$TEST_NAME" "$(elapsed)"
	exit 0
}

# ---------------------------------------------------------------- teardown

# sanitizer_check LOG: non-zero (and a message) if LOG holds a sanitizer report.
sanitizer_check() {
	local log=$1
	[ -f "$log" ] || return 0
	if grep -qE 'ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer|LeakSanitizer|WARNING: AddressSanitizer' "$log"; then
		echo "FAIL $TEST_NAME: sanitizer report in $log:" >&2
		grep -nE -A40 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$log" | head -n 80 >&2
		return 1
	fi
	return 0
}

# wait_pid_exit PID TIMEOUT_S: waits for a child to exit; sets WAIT_RC.
# Returns 1 on timeout (the process still runs).
wait_pid_exit() {
	local pid=$1 t=$2 deadline
	deadline=$(deadline_after "$t")
	while kill -0 "$pid" 2>/dev/null; do
		# A zombie child still answers kill -0: reap it via `wait`.
		if [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = "Z" ]; then
			break
		fi
		past "$deadline" && return 1
		sleep 0.05
	done
	wait "$pid" 2>/dev/null
	WAIT_RC=$?
	return 0
}

# _stop_all: stops every node still running (SIGTERM, wait: LeakSanitizer
# runs at exit) and every helper process, then scans all node logs and CLI
# stderr files for sanitizer reports. Returns 1 if anything was wrong.
# Idempotent: a stopped node's pid is forgotten.
_stop_all() {
	local n pid c bad=0
	[ "${_STOPPED_ALL:-0}" = 1 ] && return 0
	_STOPPED_ALL=1
	for c in "${CLEANUP_CMDS[@]}"; do
		(eval "$c") >/dev/null 2>&1
	done
	CLEANUP_CMDS=()
	for pid in "${BG_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for n in "${NODE_NAMES[@]}"; do
		pid=${NODE_PID[$n]:-}
		[ -n "$pid" ] || continue
		NODE_PID[$n]=
		kill -0 "$pid" 2>/dev/null || continue
		kill -TERM "$pid" 2>/dev/null
		if ! wait_pid_exit "$pid" "$(scaled 20)"; then
			echo "FAIL $TEST_NAME: node $n (pid $pid) did not stop within 20 s of SIGTERM" >&2
			kill -KILL "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
			bad=1
		elif [ "$WAIT_RC" -ne 0 ]; then
			echo "FAIL $TEST_NAME: node $n exited with $WAIT_RC on SIGTERM (expected 0)" >&2
			bad=1
		fi
	done
	for pid in "${BG_PIDS[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then
			wait_pid_exit "$pid" 3 || { kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
		else
			wait "$pid" 2>/dev/null
		fi
	done
	BG_PIDS=()
	for n in "${NODE_NAMES[@]}"; do
		sanitizer_check "${NODE_LOG[$n]}" || bad=1
	done
	for c in "$T"/*.cli.err; do
		[ -f "$c" ] && { sanitizer_check "$c" || bad=1; }
	done
	return "$bad"
}

_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	if ! _stop_all; then
		[ "$FAILED" -eq 0 ] && dump_logs
		rc=1
	fi
	if [ "${VX6_KEEP:-0}" = 1 ]; then
		echo "($TEST_NAME: kept $T)" >&2
	else
		rm -rf "$T"
	fi
	exit "$rc"
}
trap _cleanup EXIT
trap _on_signal INT TERM

# ---------------------------------------------------------------- time

# scaled SECONDS: a timeout (whole seconds) times VX6_TIMEOUT_SCALE (an integer).
scaled() { echo $(( $1 * VX6_TIMEOUT_SCALE )); }

# deadline_after SECONDS: a deadline in epoch milliseconds.
deadline_after() { echo $(( $(now_ms) + $1 * 1000 )); }

# past DEADLINE_MS: true once the clock is past DEADLINE_MS.
past() { [ "$(now_ms)" -gt "$1" ]; }

# wait_until TIMEOUT_S DESCRIPTION CMD...: polls CMD (quietly) until it
# succeeds; fails the test with DESCRIPTION on timeout.
wait_until() {
	local t=$1 what=$2 deadline delay=0.02
	shift 2
	deadline=$(deadline_after "$(scaled "$t")")
	until "$@" >/dev/null 2>&1; do
		past "$deadline" && fail "timed out after ${t}s waiting for: $what"
		sleep "$delay"
		case $delay in 0.02) delay=0.05 ;; 0.05) delay=0.1 ;; *) delay=0.2 ;; esac
	done
}

# output_is VALUE CMD...: CMD's stdout is exactly VALUE (for wait_until:
# `wait_until 10 "x up" output_is up sj a .state` re-runs sj at every poll,
# where `test "$(sj a .state)" = up` would be evaluated only once).
output_is() {
	local want=$1
	shift
	[ "$("$@" 2>/dev/null)" = "$want" ]
}

# ---------------------------------------------------------------- ports

# port_in_use PORT: anything listening on PORT (any address, TCP or UDP)?
port_in_use() {
	[ -n "$(ss -Htuln "sport = :$1" 2>/dev/null)" ]
}

# free_port: prints a TCP port that is free on 127.0.0.1 and [::1], chosen
# from a per-script range (20000-31999, below the ephemeral ports), never
# handed out twice in one script (even to a port not bound yet). Usually
# called as PORT=$(free_port): the ports handed out are kept in a file,
# since a variable set in that subshell would be lost.
free_port() {
	local base p i
	base=$(( ($(printf '%s' "$TEST_NAME" | cksum | cut -d' ' -f1) % 40) * 250 + ($$ % 50) * 2 ))
	for ((i = 0; i < 2000; i++)); do
		p=$(( 20000 + (base + i * 7) % 12000 ))
		grep -qx "$p" "$T/.ports" 2>/dev/null && continue
		port_in_use "$p" && continue
		if "$PY" - "$p" <<'EOF' 2>/dev/null
import socket, sys
p = int(sys.argv[1])
for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):   # nodes may listen on both
        s = socket.socket(fam, kind)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, p))
        s.close()
EOF
		then
			echo "$p" >>"$T/.ports"
			echo "$p"
			return 0
		fi
	done
	fail "no free port found"
}

# port_accepts PORT [HOST]: a TCP connect to HOST:PORT succeeds.
port_accepts() {
	local host=${2:-127.0.0.1}
	(exec 3<>"/dev/tcp/$host/$1") 2>/dev/null
}

wait_port() { wait_until "${2:-20}" "port $1 accepting" port_accepts "$1"; }

# ---------------------------------------------------------------- processes

# bg CMD...: runs CMD in the background, registered for cleanup; sets BG_PID.
bg() {
	"$@" &
	BG_PID=$!
	BG_PIDS+=("$BG_PID")
}

# ---------------------------------------------------------------- nodes

# vx NAME ARGS...: the vx6 CLI on node NAME's home.
vx() {
	local n=$1
	shift
	"$VX6_BIN" --home "$T/$n" "$@"
}

# init_node NAME [PORT]: creates home $T/NAME listening on [::1]:PORT (a free
# port when omitted); sets NODE_PORT[NAME].
init_node() {
	local n=$1 port=${2:-}
	[ -n "$port" ] || port=$(free_port)
	NODE_PORT[$n]=$port
	NODE_LOG[$n]=$T/$n.log
	vx "$n" init --name "$n" --listen "[::1]:$port" "${TRANSPORT_ARGS[@]}" >"$T/$n.init.out" 2>&1 ||
		{ cat "$T/$n.init.out" >&2; fail "vx6 init of node $n failed"; }
}

# run_node NAME: starts `vx6 node` for an existing home (log appended to
# $T/NAME.log) and waits until `vx6 status` answers.
run_node() {
	local n=$1
	case " ${NODE_NAMES[*]} " in *" $n "*) ;; *) NODE_NAMES+=("$n") ;; esac
	NODE_LOG[$n]=$T/$n.log
	echo "=== $(date +%T.%N) vx6 node start" >>"${NODE_LOG[$n]}"
	"$VX6_BIN" --home "$T/$n" node --log-level "${VX6_LOG_LEVEL:-info}" 2>>"${NODE_LOG[$n]}" </dev/null &
	NODE_PID[$n]=$!
	wait_status "$n"
}

# start_node NAME: init_node + run_node.
start_node() {
	init_node "$1"
	run_node "$1"
}

node_status_ok() { vx "$1" status >/dev/null 2>&1; }

# wait_status NAME [TIMEOUT]: waits until `vx6 status` exits 0 (and the node
# process is still alive).
wait_status() {
	local n=$1 t=${2:-20} deadline
	deadline=$(deadline_after "$(scaled "$t")")
	until node_status_ok "$n"; do
		if ! kill -0 "${NODE_PID[$n]}" 2>/dev/null; then
			wait "${NODE_PID[$n]}" 2>/dev/null
			fail "node $n exited (rc=$?) before answering status"
		fi
		past "$deadline" && fail "node $n did not answer status within ${t}s"
		sleep 0.05
	done
}

# stop_node NAME [SIGNAL]: SIGTERM (default) and wait; NODE_RC[NAME] gets the
# exit code. Fails the test if the node does not stop within 20 s.
stop_node() {
	local n=$1 sig=${2:-TERM} pid=${NODE_PID[$1]:-}
	[ -n "$pid" ] || return 0
	kill "-$sig" "$pid" 2>/dev/null
	if ! wait_pid_exit "$pid" "$(scaled 20)"; then
		fail "node $n did not stop within 20 s of SIG$sig"
	fi
	NODE_RC[$n]=$WAIT_RC
	NODE_PID[$n]=
	sanitizer_check "${NODE_LOG[$n]}" || fail "node $n: sanitizer report (see above)"
	return 0
}

# kill9_node NAME: SIGKILL, reaped; no exit-code or leak check.
kill9_node() {
	local n=$1 pid=${NODE_PID[$1]}
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	NODE_PID[$n]=
}

node_alive() { [ -n "${NODE_PID[$1]:-}" ] && kill -0 "${NODE_PID[$1]}" 2>/dev/null; }

node_key() { vx "$1" identity --json | jq -r .public_key; }
node_id() { vx "$1" identity --json | jq -r .node_id; }

# sj NAME JQ_FILTER: a value from `vx6 status --json`.
sj() {
	local out
	out=$(vx "$1" status --json 2>>"$T/$1.cli.err") || return 1
	jq -r "$2" <<<"$out"
}

# counter NAME COUNTER: one of status.counters.
counter() { sj "$1" ".counters.$2"; }

# node_quiet NAME: no open streams and no application connections.
node_quiet() {
	local out
	out=$(vx "$1" status --json 2>/dev/null) || return 1
	[ "$(jq -r '"\(.streams) \(.app_connections)"' <<<"$out")" = "0 0" ]
}

# wait_quiet TIMEOUT NAME...: every node reaches 0 streams / 0 app connections.
wait_quiet() {
	local t=$1 n
	shift
	for n in "$@"; do
		if ! wait_until_quiet_one "$t" "$n"; then
			fail "node $n still has streams/app connections after ${t}s: $(vx "$n" status --json | jq -c '{streams,app_connections,forwards:[.forwards[]|{listen,connections_active}]}')"
		fi
	done
}

wait_until_quiet_one() {
	local t=$1 n=$2 deadline
	deadline=$(deadline_after "$(scaled "$t")")
	until node_quiet "$n"; do
		past "$deadline" && return 1
		sleep 0.1
	done
}

# connect_detached CLIENT OWNER SERVICE [EXTRA ARGS...]: opens a detached
# forward from CLIENT to SERVICE on OWNER; prints the local port.
connect_detached() {
	local c=$1 o=$2 svc=$3 out
	shift 3
	out=$(vx "$c" connect --service "$svc" --addr "[::1]:${NODE_PORT[$o]}" \
		--listen 127.0.0.1:0 --detach --json "$@" 2>"$T/connect.err") ||
		{ cat "$T/connect.err" >&2; fail "vx6 connect $c -> $o/$svc failed"; }
	jq -r .listen <<<"$out" | sed 's/.*://'
}

# ---------------------------------------------------------------- data

# make_random FILE MIB: FILE with MIB MiB of random bytes.
make_random() {
	head -c "$(( $2 * 1024 * 1024 ))" /dev/urandom >"$1" || fail "cannot write $1"
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# same_sha A B WHAT: fails unless files A and B have the same SHA-256.
same_sha() {
	local a b
	a=$(sha "$1") b=$(sha "$2")
	[ "$a" = "$b" ] || fail "$3: sha256 differs ($(stat -c %s "$2") of $(stat -c %s "$1") bytes; want $a got $b)"
}

# http_server DIR: serves DIR on 127.0.0.1:<free port>; sets HTTP_PORT and
# HTTP_PID, registers it for cleanup. Python's threading http.server, with a
# listen backlog of 256 (`python3 -m http.server` uses 5, and concurrent
# clients then wait a 1 s SYN retransmit).
http_server() {
	local dir=$1
	HTTP_PORT=$(free_port)
	"$PY" -c '
import functools, http.server, sys
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
Server(("127.0.0.1", int(sys.argv[2])), handler).serve_forever()
' "$dir" "$HTTP_PORT" >"$T/http-$HTTP_PORT.log" 2>&1 &
	HTTP_PID=$!
	BG_PIDS+=("$HTTP_PID")
	EXTRA_LOGS+=("$T/http-$HTTP_PORT.log")
	wait_port "$HTTP_PORT"
}

# fetch PORT PATH OUT [CURL ARGS...]: curl http://127.0.0.1:PORT/PATH to OUT.
fetch() {
	local port=$1 path=$2 out=$3
	shift 3
	curl -sS --fail --noproxy '*' -o "$out" "$@" "http://127.0.0.1:$port/$path"
}

# file_size FILE (0 when missing)
file_size() { stat -c %s "$1" 2>/dev/null || echo 0; }

# size_at_least FILE BYTES
size_at_least() { [ "$(file_size "$1")" -ge "$2" ]; }

# tcp_probe PORT [TIMEOUT_S]: connects to 127.0.0.1:PORT, sends an HTTP GET,
# reads until the end and prints how the connection ended:
#   "reset N"   the peer reset it (RST) after N bytes
#   "eof N"     the peer closed it in order after N bytes
#   "timeout N" nothing ended it within TIMEOUT_S (default 10, scaled)
#   "refused"   nothing listens on PORT
tcp_probe() {
	"$PY" - "$1" "$(scaled "${2:-10}")" <<'PYEOF'
import socket, sys
port, timeout = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(timeout)
n = 0
try:
    s.connect(("127.0.0.1", port))
except ConnectionRefusedError:
    print("refused"); sys.exit(0)
except ConnectionResetError:
    # A non-blocking connect that completed and was reset at once.
    print("reset 0"); sys.exit(0)
try:
    s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
    while True:
        b = s.recv(65536)
        if not b:
            print("eof %d" % n); break
        n += len(b)
except ConnectionResetError:
    print("reset %d" % n)
except BrokenPipeError:
    print("reset %d" % n)
except socket.timeout:
    print("timeout %d" % n)
PYEOF
}

# ---------------------------------------------------------------- named mode
#
# Helpers for the named-mode tests (t_named_*.sh): nodes that join a network
# through bootstrap peers on [::1], short republish/replication intervals so
# re-replication happens within seconds, resolution and DHT diagnosis.

# set_limit NAME KEY VALUE: sets `KEY = VALUE` in the [limits] section of
# NAME's config.ini (replacing the commented default, or appending it).
# Takes effect at the node's next start (or `vx6 reload`).
set_limit() {
	local n=$1 k=$2 v=$3 f=$T/$1/config.ini
	[ -f "$f" ] || fail "set_limit: $f does not exist"
	if grep -qE "^#? *$k *=" "$f"; then
		sed -i -E "s|^#? *$k *=.*|$k = $v|" "$f"
	else
		printf '%s = %s\n' "$k" "$v" >>"$f"
	fi
	grep -qx "$k = $v" "$f" || fail "set_limit: could not set $k = $v in $f"
}

# NAMED_REPUBLISH_S, NAMED_REPLICATE_S, NAMED_LIFETIME_S: the timing knobs
# init_named writes (short, so republish and re-replication take seconds).
NAMED_REPUBLISH_S=${NAMED_REPUBLISH_S:-3}
NAMED_REPLICATE_S=${NAMED_REPLICATE_S:-3}
NAMED_LIFETIME_S=${NAMED_LIFETIME_S:-60}

# NODE_LABEL[HOME]=NAME gives a node a `--name` other than its home's name
# (two nodes both called "alice": homes alice and impostor).
declare -A NODE_LABEL=()

# init_named NAME [PEER...]: creates home $T/NAME listening on [::1]:<free
# port> (sets NODE_PORT/NODE_LOG like init_node) with one `--peer` per PEER,
# which is either the name of a node of this test (its [::1] address) or a
# literal address ('[::1]:P'). No name-clash probe unless NAMED_PROBE=1 (the
# probe's output is in $T/NAME.init.out and .init.cli.err). Writes the short
# named-mode timing knobs.
init_named() {
	local n=$1 port p
	local -a args=()
	shift
	[ "${NAMED_PROBE:-0}" = 1 ] || args+=(--no-probe)
	port=$(free_port)
	for p in "$@"; do
		if [[ $p == \[* ]]; then
			args+=(--peer "$p")
		else
			[ -n "${NODE_PORT[$p]:-}" ] || fail "init_named $n: unknown peer node $p"
			args+=(--peer "[::1]:${NODE_PORT[$p]}")
		fi
	done
	NODE_PORT[$n]=$port
	NODE_LOG[$n]=$T/$n.log
	vx "$n" init --name "${NODE_LABEL[$n]:-$n}" --listen "[::1]:$port" "${TRANSPORT_ARGS[@]}" "${args[@]}" \
		>"$T/$n.init.out" 2>"$T/$n.init.cli.err" ||
		{ cat "$T/$n.init.out" "$T/$n.init.cli.err" >&2; fail "vx6 init of node $n failed"; }
	set_limit "$n" republish_s "$NAMED_REPUBLISH_S"
	set_limit "$n" replicate_s "$NAMED_REPLICATE_S"
	set_limit "$n" record_lifetime_s "$NAMED_LIFETIME_S"
}

# start_named NAME [PEER...]: init_named + run_node; with peers, also waits
# until the node has joined.
start_named() {
	init_named "$@"
	run_node "$1"
	[ $# -gt 1 ] && wait_joined "$1"
	return 0
}

# nj NAME FILTER: a value of the "named" object of `vx6 status --json`
# (nj alice .dht.rpcs_out).
nj() { sj "$1" ".named$2"; }

node_joined() { [ "$(nj "$1" .joined)" = true ]; }

# wait_joined NAME [TIMEOUT_S]: waits until status says named.joined.
wait_joined() {
	local n=$1 t=${2:-30} deadline
	deadline=$(deadline_after "$(scaled "$t")")
	until node_joined "$n"; do
		past "$deadline" && fail "node $n did not join within ${t}s (bootstrap: $(nj "$n" .bootstrap 2>/dev/null))"
		sleep 0.1
	done
}

# resolve_to NAME NODE.SERVICE OUT [ARGS...]: `vx6 resolve --json` on node
# NAME; stdout to OUT, stderr to OUT.err (also appended to NAME's CLI error
# log, scanned for sanitizer reports). Returns resolve's exit code.
resolve_to() {
	local n=$1 name=$2 out=$3 rc
	shift 3
	timeout "$(scaled 60)" "$VX6_BIN" --home "$T/$n" resolve "$name" --json "$@" >"$out" 2>"$out.err"
	rc=$?
	cat "$out.err" >>"$T/$n.cli.err"
	return "$rc"
}

# resolves NAME NODE.SERVICE [ARGS...]: true when the name resolves on NAME
# (for wait_until).
resolves() {
	local n=$1 name=$2
	shift 2
	resolve_to "$n" "$name" "$T/.resolves.out" "$@"
}

# connect_named CLIENT NODE.SERVICE [ARGS...]: a detached named-mode forward
# on CLIENT; prints its local port. Fails the test if connect fails.
connect_named() {
	local c=$1 name=$2 out
	shift 2
	out=$(timeout "$(scaled 60)" "$VX6_BIN" --home "$T/$c" connect --service "$name" \
		--listen 127.0.0.1:0 --detach --json "$@" 2>"$T/connect.err") ||
		{ cat "$T/connect.err" >&2; fail "vx6 connect --service $name on $c failed: $(head -c 300 "$T/connect.err")"; }
	cat "$T/connect.err" >>"$T/$c.cli.err"
	jq -r .listen <<<"$out" | sed 's/.*://'
}

# dht_holds NAME NODE.SERVICE: true if NAME's DHT store holds a record of
# NODE.SERVICE. dht_values prints how many (one per signer).
dht_holds() { [ "$(vx "$1" dht holds "$2" 2>>"$T/$1.cli.err" | jq -r .holds)" = true ]; }
dht_values() { vx "$1" dht holds "$2" 2>>"$T/$1.cli.err" | jq -r .values; }

# holders NODE.SERVICE NAME...: prints the NAMEs (running nodes only) whose
# DHT store holds NODE.SERVICE, one line.
holders() {
	local name=$1 n out=()
	shift
	for n in "$@"; do
		node_alive "$n" && dht_holds "$n" "$name" && out+=("$n")
	done
	echo "${out[*]}"
}
