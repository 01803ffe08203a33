#!/usr/bin/env bash
# bench/named.sh — named mode on loopback: resolve latency (registry hit vs a
# DHT lookup) and time to first byte of an HTTP response through a named
# forward, a direct-mode forward and plain TCP, warm and cold, on a network of
# 20 vx6 nodes on [::1]. One run; every ratio is taken within it. Prints a
# text table and writes build/bench/named-results.md (and .txt). It builds
# its timing client (bench/namedbench.c -> build/bench/namedbench) with cc
# and needs only build/vx6. See docs/BENCHMARKS.md, section "Named mode".
#
# Network: node 0 is the owner "alice"; node i (1..N-1) is "nI" and joins
# through one earlier node chosen at random (a random tree, fixed by
# BENCH_NAMED_SEED). The client is the node deepest in that tree. alice
# publishes `web`, a tiny HTTP/1.0 responder on 127.0.0.1 (or python3's
# http.server with BENCH_NAMED_HTTPD=python).
#
# Measured from the client, every phase in interleaved rounds (one sample of
# each variant per round, so other load hits all variants alike):
#   resolve  over the control socket (no process start): ping (the socket
#            round trip), resolve alice.web (registry hit), resolve --fresh
#            (DHT: service record, then the owner's node record);
#            and as CLI processes: `vx6 connect list` (process start-up +
#            one trivial request), `vx6 resolve alice.web`, `... --fresh`.
#   ttfb     a new TCP connection, GET /, first byte of the response:
#            plain TCP to the server; a named forward (alice.web) and a
#            direct-mode forward (--addr --peer-key) that are already up
#            (each connection is a new stream in a running session).
#   cold     a fresh forward, then the first byte: connect.open over the
#            control socket, or the `vx6 connect ... --detach --json`
#            command; the time runs from the request (or the command's
#            start) through resolution (named: registry), TCP connect and
#            Noise IK handshake to the first byte of the response. The
#            forward is closed after each sample and the script waits until
#            its session is gone on both nodes.
#
# Environment (defaults in brackets):
#   BENCH_NAMED_NODES      nodes in the network [20]
#   BENCH_NAMED_REPS       rounds of the resolve and warm ttfb phases [200]
#   BENCH_NAMED_COLD_RUNS  rounds of the cold phase [BENCH_NAMED_REPS]
#   BENCH_NAMED_SEED       shapes the join tree [1]
#   BENCH_NAMED_HTTPD      c (built-in responder) | python (python3 -m http.server) [c]
#   BENCH_NAMED_TRANSPORT  `vx6 init --transport` of every node: tcp | quic | auto [tcp]
#   BENCH_OUT              where results and the helper binaries go [build/bench]
#   BENCH_KEEP=1           keep the temp dir (logs, homes)
#   BENCH_VX6              the vx6 binary [build/vx6]
#   BENCH_VX6_COMMIT       the commit to print for it, when it was not built
#                          from this checkout [the checkout's HEAD]
#
# Requires: build/vx6, cc, jq, ps (procps); python3 for BENCH_NAMED_HTTPD=python.
# Not a test: it never fails on a slow number, only when something does not
# work (a node does not join, a name does not resolve, a fetch fails).
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
ME=bench-named

cd "$(dirname "$0")/.."
ROOT=$PWD
V=${BENCH_VX6:-$ROOT/build/vx6}
OUT=${BENCH_OUT:-$ROOT/build/bench}
B=$OUT/vx6bench
NB=$OUT/namedbench

NODES=${BENCH_NAMED_NODES:-20}
REPS=${BENCH_NAMED_REPS:-200}
COLD_RUNS=${BENCH_NAMED_COLD_RUNS:-$REPS}
SEED=${BENCH_NAMED_SEED:-1}
HTTPD=${BENCH_NAMED_HTTPD:-c}
TRANSPORT=${BENCH_NAMED_TRANSPORT:-tcp}
BODY=100            # bytes of the HTTP response body (built-in responder)
WARMUP=10           # unrecorded rounds before each phase
CTL_PAUSE_US=5000   # between control-socket rounds: keeps DHT RPCs per peer
                    # session under the 200/s admission rate (PROTOCOL.md 12.3)

declare -A NPID=()   # vx6 node -> pid

for v in NODES REPS COLD_RUNS SEED; do
	[[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || die "$v=${!v}: must be a positive number"
done
[ "$NODES" -ge 2 ] || die "BENCH_NAMED_NODES must be at least 2"
case $HTTPD in c|python) ;; *) die "BENCH_NAMED_HTTPD=$HTTPD: use c or python" ;; esac

# ------------------------------------------------------------ prerequisites
missing=()
[ -x "$V" ] || missing+=("$V (build it: make build)")
command -v cc >/dev/null || missing+=("cc (gcc)")
command -v jq >/dev/null || missing+=("jq (Debian package jq)")
command -v ps >/dev/null || missing+=("ps (Debian package procps)")
[ "$HTTPD" = c ] || command -v python3 >/dev/null || missing+=("python3")
exit_if_missing them

mkdir -p "$OUT"
build_vx6bench
# The timing client (bench/namedbench.c), rebuilt when it or benchnet.h changed.
if [ ! -x "$NB" ] || [ bench/namedbench.c -nt "$NB" ] || [ bench/benchnet.h -nt "$NB" ]; then
	cc -O2 -g -Wall -Wextra -pthread -o "$NB" bench/namedbench.c || die "cannot compile bench/namedbench.c"
fi

TCK=$(getconf CLK_TCK)
T=$(mktemp -d /tmp/vx6-bench-named.XXXXXX)
PIDS=()

cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	for (( i = ${#PIDS[@]} - 1; i >= 0; i-- )); do kill -TERM "${PIDS[$i]}" 2>/dev/null || true; done
	for _ in $(seq 100); do
		alive=0
		for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.05
	done
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	reap_nodes
	wait 2>/dev/null || true
	if [ -n "$CRASHED" ]; then
		echo "bench-named: WARNING: vx6 node(s) did not stop cleanly:$CRASHED; logs in $OUT/named-logs/" >&2
	fi
	if [ -n "$CRASHED" ] || [ "$rc" != 0 ]; then
		rm -rf "$OUT/named-logs"; mkdir -p "$OUT/named-logs"
		cp "$T"/*.log "$T"/*.err "$T"/*.txt "$OUT/named-logs/" 2>/dev/null || true
		[ "$rc" != 0 ] && echo "bench-named: logs copied to $OUT/named-logs/" >&2
	else
		rm -rf "$OUT/named-logs"
	fi
	drop_tmp
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_joined() {
	for _ in $(seq 600); do [ "$(sj "$1" .named.joined)" = true ] && return 0; sleep 0.05; done
	die "vx6 node $1 did not join within 30 s: $(sj "$1" .named.bootstrap)"
}

# node_ticks: utime+stime of every vx6 node of this run.
node_ticks() {
	local n t=0 s f
	for n in "${!NPID[@]}"; do
		s=$(cat "/proc/${NPID[$n]}/stat" 2>/dev/null) || continue
		s=${s##*) }
		read -r -a f <<<"$s"
		t=$(( t + f[11] + f[12] ))
	done
	echo "$t"
}
declare -A PH_LOAD PH_MCORES PH_NCORES PH_SECS
phase_begin() { PH_LOAD[$1]=$(cut -d' ' -f1 /proc/loadavg); _m0=$(machine_busy); _n0=$(node_ticks); _t0=$(date +%s%N); }
phase_end() {
	local m1 n1 t1
	m1=$(machine_busy); n1=$(node_ticks); t1=$(date +%s%N)
	PH_SECS[$1]=$(awk -v a="$_t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
	PH_MCORES[$1]=$(awk -v d=$((m1 - _m0)) -v hz="$TCK" -v s="${PH_SECS[$1]}" 'BEGIN { printf "%.2f", d / hz / s }')
	PH_NCORES[$1]=$(awk -v d=$((n1 - _n0)) -v hz="$TCK" -v s="${PH_SECS[$1]}" 'BEGIN { printf "%.2f", d / hz / s }')
}

# stats FILE INDEX COLUMN: "p50 p90 p99 mean n" of COLUMN over the lines
# whose first field is INDEX (nearest-rank percentiles).
stats() {
	awk -v i="$2" -v c="$3" '$1 == i && $c != "-" { print $c }' "$1" | sort -g |
		awk '{ v[NR] = $1; s += $1 }
		function q(p,  k) { k = int(p * NR + 0.999999); if (k < 1) k = 1; if (k > NR) k = NR; return v[k] }
		END { if (NR == 0) print "- - - - 0"; else printf "%.3f %.3f %.3f %.3f %d\n", q(0.5), q(0.9), q(0.99), s / NR, NR }'
}
minus() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%.1f", a - b }'; }

START_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
log "temp dir $T; load average $START_LOAD; $NODES nodes, $REPS rounds, $COLD_RUNS cold rounds"

# ------------------------------------------------------------------ server
P_HTTP=$(port)
if [ "$HTTPD" = c ]; then
	"$NB" httpd "$P_HTTP" "$BODY" 2>"$T/httpd.log" &
else
	mkdir -p "$T/www"; head -c "$BODY" /dev/zero | tr '\0' x >"$T/www/index.html"
	python3 -m http.server --bind 127.0.0.1 --directory "$T/www" "$P_HTTP" >"$T/httpd.log" 2>&1 &
fi
PIDS+=($!)
for _ in $(seq 200); do "$NB" ttfb 1 "$P_HTTP" >/dev/null 2>&1 && break; sleep 0.025; done
"$NB" ttfb 1 "$P_HTTP" >/dev/null || die "the HTTP server on 127.0.0.1:$P_HTTP does not answer"

# ---------------------------------------------------------------- network
# Node 0 is alice; node i joins through PARENT[i], one earlier node chosen
# at random (bash's RANDOM, seeded: the same tree on every run).
RANDOM=$SEED
declare -a NAME PORT PARENT DEPTH
NAME[0]=alice; PORT[0]=$(port); PARENT[0]=-; DEPTH[0]=0
for (( i = 1; i < NODES; i++ )); do
	NAME[$i]=$(printf 'n%02d' "$i"); PORT[$i]=$(port)
	PARENT[$i]=$(( RANDOM % i )); DEPTH[$i]=$(( DEPTH[PARENT[i]] + 1 ))
done
CLIENT_I=1
for (( i = 1; i < NODES; i++ )); do [ "${DEPTH[$i]}" -ge "${DEPTH[$CLIENT_I]}" ] && CLIENT_I=$i; done
C=${NAME[$CLIENT_I]}
TREE_PATH=$C; j=$CLIENT_I
while [ "$j" != 0 ]; do j=${PARENT[$j]}; TREE_PATH="$TREE_PATH > ${NAME[$j]}"; done

t_start=$(date +%s%N)
for (( i = 0; i < NODES; i++ )); do
	n=${NAME[$i]}
	args=(--name "$n" --listen "[::1]:${PORT[$i]}" --transport "$TRANSPORT" --no-probe)
	[ "$i" = 0 ] || args+=(--peer "[::1]:${PORT[${PARENT[$i]}]}")
	vx6 "$n" init "${args[@]}" >"$T/$n.init.out" 2>&1 || die "vx6 init of $n failed: $(cat "$T/$n.init.out")"
	"$V" --home "$T/$n" node 2>"$T/$n.log" &   # not via vx6(): $! must be the node itself
	NPID[$n]=$!; PIDS+=($!)
	wait_node "$n"
	[ "$i" = 0 ] || wait_joined "$n"
done
JOIN_MS=$(( ($(date +%s%N) - t_start) / 1000000 ))
log "$NODES nodes up and joined in $JOIN_MS ms; client $C (depth ${DEPTH[$CLIENT_I]}: $TREE_PATH)"

vx6 alice service add --name web --target "127.0.0.1:$P_HTTP" >/dev/null
KEY_A=$(vx6 alice identity --json | jq -r .public_key)
KEY_C=$(vx6 "$C" identity --json | jq -r .public_key)
SOCK=$T/$C/control.sock
# alice's store of the new record is done when she has no lookup in flight.
for _ in $(seq 400); do [ "$(sj alice .named.dht.lookups_active)" = 0 ] && break; sleep 0.025; done
sleep 0.5

# The client's first resolution of alice.web: its registry has no service
# record yet, so this is a DHT lookup that may also have to open sessions.
sess_to() { sj "$1" "[.sessions[] | select(.peer_key == \"$2\" and .state == \"established\")] | length"; }
SESS_C0=$(sj "$C" '.sessions | length')
FIRST=""; FIRST_TRIES=0
for _ in $(seq 40); do
	FIRST_TRIES=$((FIRST_TRIES + 1))
	FIRST=$("$NB" ctl "$SOCK" 1 $'resolve\t{"name":"alice.web"}\t"source":"dht"' 2>>"$T/first.err") && break
	FIRST=""; sleep 0.5
done
[ -n "$FIRST" ] || die "$C cannot resolve alice.web: $(tail -n 2 "$T/first.err")"
SESS_C1=$(sj "$C" '.sessions | length')
read -r _ FIRST_US FIRST_EL FIRST_HOPS FIRST_HOLDERS <<<"$FIRST"
CONTACTS_C=$(sj "$C" .named.dht.contacts)
log "first resolve of alice.web on $C: $(fmt "$FIRST_US") us (attempt $FIRST_TRIES, $FIRST_HOPS hop(s), $FIRST_HOLDERS holders; sessions $SESS_C0 -> $SESS_C1)"

# ---------------------------------------------------------------- resolve
# Over the control socket (index 0 ping, 1 registry, 2 DHT), then as CLI
# processes (0 `vx6 connect list`, 1 resolve, 2 resolve --fresh).
CTL_SPECS=($'ping\t{}\t' $'resolve\t{"name":"alice.web"}\t"source":"registry"'
	$'resolve\t{"name":"alice.web","fresh":true}\t"source":"dht"')
VT=$'\t'
CLI_SPECS=("${VT}$V${VT}--home${VT}$T/$C${VT}connect${VT}list${VT}--json"
	"\"source\": \"registry\"${VT}$V${VT}--home${VT}$T/$C${VT}resolve${VT}alice.web${VT}--json"
	"\"source\": \"dht\"${VT}$V${VT}--home${VT}$T/$C${VT}resolve${VT}alice.web${VT}--fresh${VT}--json")
export NAMEDBENCH_PAUSE_US=$CTL_PAUSE_US
log "resolve: $REPS rounds over the control socket, then $REPS as CLI processes"
"$NB" ctl "$SOCK" "$WARMUP" "${CTL_SPECS[@]}" >/dev/null 2>>"$T/resolve.err" || die "resolve warm-up failed: $(tail -n 2 "$T/resolve.err")"
SESS_R0=$(sj "$C" '.sessions | length')
phase_begin resolve
"$NB" ctl "$SOCK" "$REPS" "${CTL_SPECS[@]}" >"$T/resolve-ctl.txt" 2>>"$T/resolve.err" ||
	die "resolve over the control socket failed: $(tail -n 2 "$T/resolve.err")"
"$NB" cli "$REPS" "${CLI_SPECS[@]}" >"$T/resolve-cli.txt" 2>>"$T/resolve.err" ||
	die "resolve through the CLI failed: $(tail -n 2 "$T/resolve.err")"
phase_end resolve
SESS_R1=$(sj "$C" '.sessions | length')
THROTTLED=0; TIMEOUTS_C=$(sj "$C" .named.dht.rpc_timeouts)
for (( i = 0; i < NODES; i++ )); do THROTTLED=$(( THROTTLED + $(sj "${NAME[$i]}" .named.rpc_throttled) )); done

# ------------------------------------------------------------- warm ttfb
log "ttfb: $REPS rounds of plain TCP, named forward, direct forward"
vx6 "$C" connect --service alice.web --listen 127.0.0.1:0 --detach --json >"$T/fwd-named.json" 2>>"$T/connect.err" ||
	die "vx6 connect --service alice.web failed: $(tail -n 3 "$T/connect.err")"
vx6 "$C" connect --service web --addr "[::1]:${PORT[0]}" --peer-key "$KEY_A" --listen 127.0.0.1:0 --detach --json \
	>"$T/fwd-direct.json" 2>>"$T/connect.err" || die "vx6 connect --addr failed: $(tail -n 3 "$T/connect.err")"
P_NAMED=$(jq -r .listen "$T/fwd-named.json" | sed 's/.*://')
P_DIRECT=$(jq -r .listen "$T/fwd-direct.json" | sed 's/.*://')
MODES=$(sj "$C" '[.forwards[] | .mode + ":" + .state] | join(" ")')
"$NB" ttfb "$WARMUP" "$P_HTTP" "$P_NAMED" "$P_DIRECT" >/dev/null 2>>"$T/ttfb.err" || die "ttfb warm-up failed: $(tail -n 2 "$T/ttfb.err")"
phase_begin ttfb
"$NB" ttfb "$REPS" "$P_HTTP" "$P_NAMED" "$P_DIRECT" >"$T/ttfb.txt" 2>>"$T/ttfb.err" || die "ttfb failed: $(tail -n 2 "$T/ttfb.err")"
phase_end ttfb
FWD_CONNS=$(sj "$C" '[.forwards[] | .connections_total] | join(" ")')

# ------------------------------------------------------------- cold ttfb
# Index 0 named over the socket, 1 direct over the socket, 2 named CLI, 3
# direct CLI. After each sample the forward is closed (by namedbench) and
# the script waits until the client and alice have no more sessions to each
# other than before.
BASE_C=$(sess_to "$C" "$KEY_A"); BASE_A=$(sess_to alice "$KEY_C")
COLD_ARGS=('{"service":"alice.web","listen":"127.0.0.1:0","detach":true}'
	"{\"service\":\"web\",\"addr\":\"[::1]:${PORT[0]}\",\"peer_key\":\"$KEY_A\",\"listen\":\"127.0.0.1:0\",\"detach\":true}")
COLD_LABEL=("named, control socket" "direct, control socket" "named, CLI" "direct, CLI")
declare -A COLD_FAILS=([0]=0 [1]=0 [2]=0 [3]=0)
NEWSESS_MAX=0
settle() {
	local c a
	for _ in $(seq 400); do
		c=$(sess_to "$C" "$KEY_A"); a=$(sess_to alice "$KEY_C")
		[ "$c" -le "$BASE_C" ] && [ "$a" -le "$BASE_A" ] && return 0
		sleep 0.01
	done
	die "sessions between $C and alice did not close after a cold sample ($c and $a, expected $BASE_C and $BASE_A)"
}
cold_one() {   # cold_one INDEX
	local k=$1 out
	case $k in
	0|1) out=$("$NB" cold "$SOCK" ctl "${COLD_ARGS[$k]}" 2>>"$T/cold.err") || out="" ;;
	2) out=$("$NB" cold "$SOCK" cli "$V" --home "$T/$C" connect --service alice.web --listen 127.0.0.1:0 \
		--detach --json 2>>"$T/cold.err") || out="" ;;
	3) out=$("$NB" cold "$SOCK" cli "$V" --home "$T/$C" connect --service web --addr "[::1]:${PORT[0]}" \
		--peer-key "$KEY_A" --listen 127.0.0.1:0 --detach --json 2>>"$T/cold.err") || out="" ;;
	esac
	if [ -z "$out" ]; then
		COLD_FAILS[$k]=$(( COLD_FAILS[$k] + 1 ))
		log "cold ${COLD_LABEL[$k]}: attempt failed (${COLD_FAILS[$k]}): $(tail -n 1 "$T/cold.err")"
		[ "${COLD_FAILS[$k]}" -le 3 ] || die "cold ${COLD_LABEL[$k]} keeps failing: $(tail -n 3 "$T/cold.err")"
		settle
		return 1
	fi
	echo "$k $out" >>"$T/cold.txt"
	settle
}
log "cold: $COLD_RUNS rounds of 4 fresh forwards (named/direct, control socket/CLI)"
for _ in $(seq 2); do for k in 0 1 2 3; do cold_one $k || true; done; done   # warm-up
: >"$T/cold.txt"
phase_begin cold
for _ in $(seq "$COLD_RUNS"); do
	for k in 0 1 2 3; do until cold_one $k; do :; done; done
done
phase_end cold

END_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------ report
describe_run
COMMIT=${BENCH_VX6_COMMIT:-$COMMIT}
AEAD=$(sj "$C" '[.sessions[] | select(.state == "established") | .aead] | unique | join(",")')
SERVER_DESC="built-in HTTP/1.0 responder (namedbench httpd), ${BODY}-byte body"
[ "$HTTPD" = python ] && SERVER_DESC="python3 -m http.server ($(python3 -V 2>&1)), ${BODY}-byte index.html"

# resolve rows: LABEL|p50|p90|p99|mean|minus baseline p50|x registry p50|node ms p50
read -r Q0 _ _ _ _ <<<"$(stats "$T/resolve-ctl.txt" 0 2)"
read -r Q1 _ _ _ _ <<<"$(stats "$T/resolve-ctl.txt" 1 2)"
read -r C0 _ _ _ _ <<<"$(stats "$T/resolve-cli.txt" 0 2)"
read -r C1 _ _ _ _ <<<"$(stats "$T/resolve-cli.txt" 1 2)"
res_row() {   # res_row LABEL FILE INDEX BASE_P50 REG_P50 [NODE_MS]
	local p50 p90 p99 mean n el="-" hops="-" hold="-"
	read -r p50 p90 p99 mean n <<<"$(stats "$2" "$3" 2)"
	if [ "$2" = "$T/resolve-ctl.txt" ] && [ "$3" != 0 ]; then
		el=$(stats "$2" "$3" 3 | awk '{ printf "%.3f", $1 }')
	fi
	if [ "$2" = "$T/resolve-ctl.txt" ] && [ "$3" = 2 ]; then   # a registry hit has no hops
		hops=$(stats "$2" "$3" 4 | awk '{ print $1 + 0 }')
		hold=$(stats "$2" "$3" 5 | awk '{ print $1 + 0 }')
	fi
	echo "$1|$(fmt "$p50")|$(fmt "$p90")|$(fmt "$p99")|$(fmt "$mean")|$( [ "$3" = 0 ] && echo - || minus "$p50" "$4")|$( [ "$3" = 0 ] && echo - || ratio "$p50" "$5")|$( [ "$3" = 0 ] && echo - || ratio "$(minus "$p50" "$4")" "$(minus "$5" "$4")")|$el|$hops|$hold"
}
RES_HEAD="resolve alice.web|p50 us|p90 us|p99 us|mean us|p50 - baseline|p50 x registry|(p50 - baseline) x registry|node elapsed_ms p50|hops p50|holders p50"
RES_ROWS=(
	"$(res_row "socket: ping (baseline)" "$T/resolve-ctl.txt" 0 "$Q0" "$Q1")"
	"$(res_row "socket: registry hit" "$T/resolve-ctl.txt" 1 "$Q0" "$Q1")"
	"$(res_row "socket: DHT (--fresh)" "$T/resolve-ctl.txt" 2 "$Q0" "$Q1")"
	"$(res_row "CLI: vx6 connect list (baseline)" "$T/resolve-cli.txt" 0 "$C0" "$C1")"
	"$(res_row "CLI: vx6 resolve (registry hit)" "$T/resolve-cli.txt" 1 "$C0" "$C1")"
	"$(res_row "CLI: vx6 resolve --fresh (DHT)" "$T/resolve-cli.txt" 2 "$C0" "$C1")"
)

# ttfb rows
read -r T0 _ _ _ _ <<<"$(stats "$T/ttfb.txt" 0 2)"
read -r TD _ _ _ _ <<<"$(stats "$T/ttfb.txt" 2 2)"
read -r KD _ _ _ _ <<<"$(stats "$T/cold.txt" 1 3)"
read -r KDC _ _ _ _ <<<"$(stats "$T/cold.txt" 3 3)"
ttfb_row() {   # ttfb_row LABEL FILE INDEX COL DIRECT_P50 [READY_COL]
	local p50 p90 p99 mean n ready="-"
	read -r p50 p90 p99 mean n <<<"$(stats "$2" "$3" "$4")"
	[ -n "${6:-}" ] && ready=$(stats "$2" "$3" "$6" | awk '{ printf "%.1f", $1 }')
	echo "$1|$(fmt "$p50")|$(fmt "$p90")|$(fmt "$p99")|$(fmt "$mean")|$ready|$(minus "$p50" "$T0")|$(ratio "$p50" "$T0")|$(ratio "$p50" "$5")|$n"
}
TTFB_HEAD="first byte of GET /|p50 us|p90 us|p99 us|mean us|forward ready p50 us|added p50 vs TCP|p50 x TCP|p50 x direct|samples"
TTFB_ROWS=(
	"$(ttfb_row "plain TCP to the server" "$T/ttfb.txt" 0 2 "$TD")"
	"$(ttfb_row "warm: named forward (alice.web)" "$T/ttfb.txt" 1 2 "$TD")"
	"$(ttfb_row "warm: direct forward (--addr)" "$T/ttfb.txt" 2 2 "$TD")"
	"$(ttfb_row "cold: named, control socket" "$T/cold.txt" 0 3 "$KD" 2)"
	"$(ttfb_row "cold: direct, control socket" "$T/cold.txt" 1 3 "$KD" 2)"
	"$(ttfb_row "cold: named, CLI" "$T/cold.txt" 2 3 "$KDC" 2)"
	"$(ttfb_row "cold: direct, CLI" "$T/cold.txt" 3 3 "$KDC" 2)"
)

PHASES="resolve ${PH_SECS[resolve]} s (load ${PH_LOAD[resolve]}, machine ${PH_MCORES[resolve]} cores busy, vx6 nodes ${PH_NCORES[resolve]}); ttfb ${PH_SECS[ttfb]} s (load ${PH_LOAD[ttfb]}, machine ${PH_MCORES[ttfb]}, nodes ${PH_NCORES[ttfb]}); cold ${PH_SECS[cold]} s (load ${PH_LOAD[cold]}, machine ${PH_MCORES[cold]}, nodes ${PH_NCORES[cold]})"
NETWORK="$NODES nodes on [::1], joined in $JOIN_MS ms (seed $SEED); client $C at depth ${DEPTH[$CLIENT_I]} of the join tree ($TREE_PATH); client DHT contacts: $CONTACTS_C"
FIRST_LINE="first resolve of alice.web on $C (empty registry, DHT): $(fmt "$FIRST_US") us over the socket, node elapsed $(fmt "$FIRST_EL" 3) ms, $FIRST_HOPS hop(s), $FIRST_HOLDERS holders, attempt $FIRST_TRIES; client sessions $SESS_C0 before, $SESS_C1 after"
NOTES="client sessions before/after the resolve phase: $SESS_R0/$SESS_R1; DHT RPCs throttled (all nodes): $THROTTLED; client RPC timeouts: $TIMEOUTS_C; forwards: $MODES; warm connections per forward: $FWD_CONNS; cold retries: ${COLD_FAILS[0]}/${COLD_FAILS[1]}/${COLD_FAILS[2]}/${COLD_FAILS[3]}"

{
	echo "VX6 named-mode benchmark (loopback, one run; ratios from the same run)"
	echo "date      $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "machine   $CPU_MODEL, $(nproc) cores, Linux $(uname -r)"
	echo "load      at start $START_LOAD, at end $END_LOAD (1/5/15 min)"
	echo "phases    $PHASES"
	echo "vx6       $VX6_VERSION, commit $COMMIT, $V; sessions: $AEAD"
	echo "network   $NETWORK"
	echo "transport $TRANSPORT (vx6 init --transport $TRANSPORT on every node)"
	echo "server    $SERVER_DESC"
	echo "sizes     resolve and warm ttfb: $REPS rounds; cold: $COLD_RUNS rounds; $WARMUP warm-up rounds each"
	echo
	{ echo "$RES_HEAD"; printf '%s\n' "${RES_ROWS[@]}"; } | table
	echo
	echo "$FIRST_LINE"
	echo
	{ echo "$TTFB_HEAD"; printf '%s\n' "${TTFB_ROWS[@]}"; } | table
	echo
	echo "notes     $NOTES"
} | tee "$OUT/named-results.txt"

{
	echo "| | |"
	echo "|---|---|"
	echo "| date | $(date -u '+%Y-%m-%d %H:%M:%S UTC') |"
	echo "| machine | $CPU_MODEL, $(nproc) cores, Linux $(uname -r) |"
	echo "| load average | at start $START_LOAD, at end $END_LOAD (1/5/15 min) |"
	echo "| phases | $PHASES |"
	echo "| vx6 | $VX6_VERSION, commit $COMMIT; sessions: $AEAD |"
	echo "| network | $NETWORK |"
	echo "| transport | $TRANSPORT (\`vx6 init --transport $TRANSPORT\` on every node) |"
	echo "| server | $SERVER_DESC |"
	echo "| sizes | resolve and warm ttfb: $REPS rounds; cold: $COLD_RUNS rounds; $WARMUP warm-up rounds each |"
	echo
	echo "| ${RES_HEAD//|/ | } |"
	echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
	for r in "${RES_ROWS[@]}"; do echo "| ${r//|/ | } |"; done
	echo
	echo "${FIRST_LINE^}."
	echo
	echo "| ${TTFB_HEAD//|/ | } |"
	echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
	for r in "${TTFB_ROWS[@]}"; do echo "| ${r//|/ | } |"; done
	echo
	echo "Notes: $NOTES."
} >"$OUT/named-results.md"
log "wrote $OUT/named-results.md"
exit 0

