#!/usr/bin/env bash
# bench/quic.sh — VX6 over QUIC against VX6 over TCP (Noise) and `ssh -L`
# (aes128-gcm), on loopback, in one run: every ratio is taken within the same
# run. Prints one table with the QUIC/TCP and QUIC/ssh ratios and writes
# build/bench/quic-results.txt and quic-results.md. A benchmark, not a test:
# it never fails on a slow number, only when something does not work.
#
# Paths measured (each carries a bulk source and an echo service):
#   direct    load tool -> server                                     (baseline)
#   vx6-quic  load tool -> node b (forward) == QUIC session ==> node a -> server
#   vx6-tcp   load tool -> node b (forward) == TCP/Noise session ==> node a -> server
#   ssh       load tool -> ssh -L == SSH aes128-gcm ==> sshd -> server
# Node a (the owner) runs with `--transport auto` (TCP and QUIC on one port);
# node b runs with `--transport auto` too and each forward forces its
# transport with `quic://` or `tcp://` in --addr. Each forward has its own
# session, so the QUIC and the TCP forwards share nothing but the two nodes.
#
# Metrics (metrics 1-3 in BENCH_REPEAT passes, every path in turn; medians):
#   1. bulk throughput: `vx6bench sink` reads BENCH_QUIC_BYTES to EOF, MiB/s;
#      with forwarder CPU s/GiB, the busiest forwarder process in % of one
#      core, and the whole machine's busy CPU in % of all cores
#   2. 1-byte ping-pong latency p50/p99 (µs), one connection, BENCH_PINGS
#   3. new connections (streams / channels) per second through the
#      established session: BENCH_CONNS x (connect, 1-byte round trip, close),
#      BENCH_PAR in parallel
#   4. cold first connection (ms, median of BENCH_COLD_RUNS): vx6 = `vx6
#      connect --detach` for a fresh forward (new session: QUIC + TLS 1.3 or
#      TCP + Noise IK) up to the first round trip; ssh = ssh start, key
#      exchange, auth, -L listener, first round trip
#
# Environment (defaults in brackets):
#   VX6_BIN            the vx6 binary [build/vx6] (BENCH_VX6 is accepted too)
#   VX6BENCH_BIN       the load tool [build/bench/vx6bench, compiled from
#                      bench/vx6bench.c with cc when missing or older]
#   BENCH_OUT          where the result files go [build/bench]
#   BENCH_QUIC_BYTES   bytes per bulk transfer, K/M/G suffixes [1G]
#   BENCH_PINGS        1-byte round trips per latency run [10000]
#   BENCH_CONNS        connections per connection-rate run [1000]
#   BENCH_PAR          connections in parallel for the rate run [4]
#   BENCH_COLD_RUNS    cold first-connection runs per path (median) [10]
#   BENCH_REPEAT       passes over metrics 1-3; the median is reported [3]
#   BENCH_KEEP=1       keep the temp dir (logs, configs) for debugging
#
# With the defaults it takes about 1-2 minutes on a 2-core machine.
# Requires: vx6 built with QUIC, cc (unless VX6BENCH_BIN is given), sshd,
# ssh, ssh-keygen, jq, ps (procps).
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
ME=bench-quic

cd "$(dirname "$0")/.."
ROOT=$PWD
V=${VX6_BIN:-${BENCH_VX6:-$ROOT/build/vx6}}
OUT=${BENCH_OUT:-$ROOT/build/bench}
B=${VX6BENCH_BIN:-$ROOT/build/bench/vx6bench}

QBYTES=${BENCH_QUIC_BYTES:-1G}
PINGS=${BENCH_PINGS:-10000}
CONNS=${BENCH_CONNS:-1000}
PAR=${BENCH_PAR:-4}
COLD_RUNS=${BENCH_COLD_RUNS:-10}
REPEAT=${BENCH_REPEAT:-3}

parse_bytes BENCH_QUIC_BYTES "$QBYTES"
need_positive PINGS CONNS PAR COLD_RUNS REPEAT

# ------------------------------------------------------------ prerequisites
find_sshd
missing=()
[ -x "$V" ] || missing+=("$V (build it: make build, or set VX6_BIN)")
[ -n "${VX6BENCH_BIN:-}" ] || command -v cc >/dev/null || missing+=("cc (gcc), or set VX6BENCH_BIN")
[ -n "$SSHD" ] && [ -x "$SSHD" ] || missing+=("sshd (Debian package openssh-server)")
for b in ssh ssh-keygen; do command -v $b >/dev/null || missing+=("$b (openssh-client)"); done
command -v jq >/dev/null || missing+=("jq (Debian package jq)")
command -v ps >/dev/null || missing+=("ps (Debian package procps)")
exit_if_missing "most of them"

mkdir -p "$OUT"
if [ -n "${VX6BENCH_BIN:-}" ]; then
	[ -x "$B" ] || die "VX6BENCH_BIN=$B is not executable"
else
	build_vx6bench   # the same load tool as bench/run.sh and bench/relay.sh
fi

TCK=$(getconf CLK_TCK)
T=$(mktemp -d /tmp/vx6-bench-quic.XXXXXX)
PIDS=()        # long-lived processes started here (roots of process trees)
GROUPS_=()     # process groups of cold-start commands

cleanup() {
	local rc=$? g
	trap - EXIT INT TERM
	for g in "${GROUPS_[@]}"; do kill -TERM -- "-$g" 2>/dev/null || true; done
	if [ ${#PIDS[@]} -gt 0 ]; then
		kill_trees   # leaves first (the ssh client ends its sshd session), then the rest
		wait 2>/dev/null || true
	fi
	for g in "${GROUPS_[@]}"; do kill -KILL -- "-$g" 2>/dev/null || true; done
	if [ "$rc" != 0 ]; then
		rm -rf "$OUT/quic-logs"; mkdir -p "$OUT/quic-logs"
		cp "$T"/*.log "$T"/*.out "$T"/*.json "$OUT/quic-logs/" 2>/dev/null || true
		echo "bench-quic: logs copied to $OUT/quic-logs/" >&2
	fi
	drop_tmp
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ticks_each ROOT...: "pid ticks" for every process of the trees.
ticks_each() {
	local p s f
	for p in $(descendants "$@"); do
		s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		s=${s##*) }
		read -r -a f <<<"$s"
		echo "$p $(( f[11] + f[12] + f[13] + f[14] ))"
	done
}

now_ns() { date +%s%N; }

# sessions_of NODE TRANSPORT: the node's sessions over that transport.
sessions_of() {
	vx6 "$1" status --json 2>/dev/null | jq --arg t "$2" '[.sessions[] | select(.transport == $t)] | length'
}

wait_sessions() {   # wait_sessions NODE TRANSPORT N
	local n=""
	for _ in $(seq 400); do
		n=$(sessions_of "$1" "$2") || n=""
		[ "$n" = "$3" ] && return 0
		sleep 0.025
	done
	die "node $1 still has ${n:-?} $2 sessions (expected $3)"
}

START_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
T_START=$(now_ns)
log "temp dir $T; load average $START_LOAD; $REPEAT passes of $((BYTES / 1048576)) MiB bulk, $PINGS pings, $CONNS connections per path; $COLD_RUNS cold runs"

# ------------------------------------------------------------------ servers
start_servers

# --------------------------------------------------------------- vx6 nodes
P_A=$(port); P_B=$(port)
vx6 a init --name a --listen "[::1]:$P_A" --transport auto --no-probe >/dev/null
vx6 b init --name b --listen "[::1]:$P_B" --transport auto --no-probe >/dev/null
"$V" --home "$T/a" node 2>"$T/a.log" &   # not via vx6(): $! must be the node itself
PID_A=$!; PIDS+=("$PID_A")
"$V" --home "$T/b" node 2>"$T/b.log" &
PID_B=$!; PIDS+=("$PID_B")
wait_node a; wait_node b

vx6 a service add --name bench --target "127.0.0.1:$P_SRC" >/dev/null
vx6 a service add --name echo --target "127.0.0.1:$P_ECHO" >/dev/null
KEY_A=$(vx6 a identity --json | jq -r .public_key)
[ -n "$KEY_A" ] && [ "$KEY_A" != null ] || die "cannot read node a's public key"

declare -A PORT_BULK PORT_ECHO SCHEME=([vx6-quic]=quic [vx6-tcp]=tcp)
for p in vx6-quic vx6-tcp; do
	for svc in bench echo; do
		vx6 b connect --service $svc --addr "${SCHEME[$p]}://[::1]:$P_A" --listen 127.0.0.1:0 \
			--peer-key "$KEY_A" --detach --json >"$T/connect-$p-$svc.json" 2>>"$T/connect.out" ||
			die "vx6 connect ($p, $svc) failed: $(tail -n 3 "$T/connect.out")"
		lp=$(jq -r .listen "$T/connect-$p-$svc.json")
		lp=${lp##*:}
		[[ $lp =~ ^[0-9]+$ ]] || die "vx6 connect ($p, $svc): no listen port in $(cat "$T/connect-$p-$svc.json")"
		if [ $svc = bench ]; then PORT_BULK[$p]=$lp; else PORT_ECHO[$p]=$lp; fi
	done
	"$B" wait "${PORT_ECHO[$p]}" 10000 || die "no round trip through $p; see $OUT/quic-logs/"
done
# Each forward has its own session: b must now have 2 QUIC and 2 TCP sessions
# (named mode may add DHT sessions, hence at least).
NQ=$(sessions_of b quic); NT=$(sessions_of b tcp)
[ "$NQ" -ge 2 ] && [ "$NT" -ge 2 ] || die "node b has $NQ QUIC and $NT TCP sessions, expected 2 and 2: $(vx6 b status 2>&1)"
TCP_AEAD=$(vx6 b status --json | jq -r '[.sessions[] | select(.transport == "tcp") | "Noise \(.pattern), \(.aead)"] | unique | join("; ")')
QUIC_HS=$(grep -o 'established: QUIC.*' "$T/b.log" | head -n1 | sed 's/established: //')
THREADS_A=$(ls /proc/$PID_A/task | wc -l); THREADS_B=$(ls /proc/$PID_B/task | wc -l)

# ---------------------------------------------------------------------- ssh
start_sshd aes128-gcm@openssh.com
SSH_OPTS+=(-c aes128-gcm@openssh.com)
PORT_BULK[ssh]=$(port); PORT_ECHO[ssh]=$(port)
ssh "${SSH_OPTS[@]}" -L "127.0.0.1:${PORT_BULK[ssh]}:127.0.0.1:$P_SRC" \
	-L "127.0.0.1:${PORT_ECHO[ssh]}:127.0.0.1:$P_ECHO" "$SSH_DEST" 2>"$T/ssh.log" &
PID_SSH=$!; PIDS+=("$PID_SSH")
"$B" wait "${PORT_ECHO[ssh]}" 15000 || die "no round trip through ssh -L: $(cat "$T/ssh.log" "$T/sshd.log")"
wait_listening "${PORT_BULK[ssh]}" "ssh bulk forward"

PORT_BULK[direct]=$P_SRC; PORT_ECHO[direct]=$P_ECHO
PATHS=(vx6-quic vx6-tcp ssh direct)
declare -A LABEL=([direct]="direct (no proxy)" [vx6-quic]="vx6 QUIC" [vx6-tcp]="vx6 TCP" [ssh]="ssh -L")
# The forwarders: both vx6 nodes (the QUIC and TCP forwards share them, but
# run one at a time); the ssh client plus sshd and all its children.
declare -A CPU_ROOTS=([vx6-quic]="$PID_A $PID_B" [vx6-tcp]="$PID_A $PID_B" [ssh]="$PID_SSH $PID_SSHD")

# ---------------------------------------------- 1-3: measured in passes
declare -A R_MIBS R_CPU R_TOP R_MACH R_P50 R_P99 R_CPS R_QT

bulk_once() {   # bulk_once PATH
	local p=$1 roots out t0 t1 m0 m1 mibs secs e0 e1 top
	roots=${CPU_ROOTS[$p]:-}
	[ -n "$roots" ] && { t0=$(ticks $roots); e0=$(ticks_each $roots); }
	m0=$(machine_busy)
	out=$("$B" sink "${PORT_BULK[$p]}" "$BYTES") || die "bulk transfer through $p failed ($out)"
	m1=$(machine_busy)
	[ -n "$roots" ] && { t1=$(ticks $roots); e1=$(ticks_each $roots); }
	read -r _ secs mibs _ <<<"$out"
	R_MIBS[$p]+=" $mibs"
	R_MACH[$p]+=" $(awk -v d=$((m1 - m0)) -v hz="$TCK" -v s="$secs" -v n="$(nproc)" 'BEGIN { printf "%.0f", d / hz / s / n * 100 }')"
	if [ -n "$roots" ]; then
		R_CPU[$p]+=" $(awk -v d=$((t1 - t0)) -v hz="$TCK" -v b="$BYTES" 'BEGIN { printf "%.3f", d / hz / (b / 1073741824) }')"
		# The busiest single forwarder process, in % of one core.
		top=$(awk -v hz="$TCK" -v s="$secs" 'NR == FNR { a[$1] = $2; next } ($1 in a) { d = $2 - a[$1]; if (d > m) m = d } END { printf "%.0f", m / hz / s * 100 }' \
			<(echo "$e0") <(echo "$e1"))
		R_TOP[$p]+=" $top"
	fi
	return 0
}

latency_once() {   # latency_once PATH
	local p=$1 out p50 p99
	out=$("$B" pingpong "${PORT_ECHO[$p]}" "$PINGS") || die "ping-pong through $p failed"
	read -r p50 p99 _ <<<"$out"
	R_P50[$p]+=" $p50"; R_P99[$p]+=" $p99"
}

connrate_once() {   # connrate_once PATH
	local p=$1 out nok nfail cps
	out=$("$B" connrate "${PORT_ECHO[$p]}" "$CONNS" "$PAR") || die "connection-rate run through $p failed ($out)"
	read -r nok nfail _ cps _ <<<"$out"
	[ "$nfail" = 0 ] || die "connection-rate run through $p: $nfail of $CONNS connections failed"
	R_CPS[$p]+=" $cps"
}

for r in $(seq "$REPEAT"); do
	log "pass $r/$REPEAT: bulk ($((BYTES / 1048576)) MiB per path)"
	for p in "${PATHS[@]}"; do bulk_once "$p"; done
	# The QUIC/TCP bulk ratio of this pass alone (the two ran back to back).
	R_QT[bulk]+=" $(ratio "$(awk '{ print $NF }' <<<"${R_MIBS[vx6-quic]}")" "$(awk '{ print $NF }' <<<"${R_MIBS[vx6-tcp]}")")"
	log "pass $r/$REPEAT: latency ($PINGS round trips per path)"
	for p in "${PATHS[@]}"; do latency_once "$p"; done
	log "pass $r/$REPEAT: new connections ($CONNS per path, $PAR in parallel)"
	for p in "${PATHS[@]}"; do connrate_once "$p"; done
done

declare -A MIBS CPU TOP MACH P50 P99 CPS
for p in "${PATHS[@]}"; do
	MIBS[$p]=$(median <<<"${R_MIBS[$p]}")
	MACH[$p]=$(median <<<"${R_MACH[$p]}" | awk '{ printf "%.0f", $1 }')
	CPU[$p]=$([ -n "${R_CPU[$p]:-}" ] && median <<<"${R_CPU[$p]}" | awk '{ printf "%.2f", $1 }' || echo -)
	TOP[$p]=$([ -n "${R_TOP[$p]:-}" ] && median <<<"${R_TOP[$p]}" | awk '{ printf "%.0f", $1 }' || echo -)
	P50[$p]=$(median <<<"${R_P50[$p]}")
	P99[$p]=$(median <<<"${R_P99[$p]}")
	CPS[$p]=$(median <<<"${R_CPS[$p]}")
done

# ------------------------------------------------- 4: cold first connection
declare -A COLD COLD_FAILS
# cold_vx6 PATH: a fresh forward over that transport, i.e. a new session
# (each forward opens its own), timed up to the first round trip through it.
cold_vx6() {
	local p=$1 t=${SCHEME[$1]} vals="" out us st n=0 fails=0 cport base_b base_a
	base_b=$(sessions_of b "$t"); base_a=$(sessions_of a "$t")
	while [ $n -lt "$COLD_RUNS" ]; do
		cport=$(port)
		if ! out=$("$B" coldwait "$cport" 20000 "$V" --home "$T/b" connect --service echo \
			--addr "$t://[::1]:$P_A" --listen "127.0.0.1:$cport" --peer-key "$KEY_A" --detach 2>>"$T/cold-$p.log"); then
			fails=$((fails + 1))
			log "cold start through $p: attempt failed ($fails), see $T/cold-$p.log"
			[ $fails -le 3 ] || die "cold start through $p keeps failing: $(tail -n 5 "$T/cold-$p.log")"
			vx6 b connect close "127.0.0.1:$cport" >/dev/null 2>&1 || true
			sleep 1
			continue
		fi
		read -r us _ st <<<"$out"
		[ "$st" = 0 ] || die "cold start through $p: vx6 connect exited $st"
		vx6 b connect close "127.0.0.1:$cport" >/dev/null
		wait_sessions b "$t" "$base_b"; wait_sessions a "$t" "$base_a"
		vals+=" $us"
		n=$((n + 1))
	done
	COLD_FAILS[$p]=$fails
	COLD[$p]=$(median <<<"$vals" | awk '{ printf "%.2f", $1 / 1000 }')
}
cold_ssh() {
	local vals="" out us pid n=0 fails=0 cport
	while [ $n -lt "$COLD_RUNS" ]; do
		cport=$(port)
		if ! out=$("$B" cold "$cport" 20000 ssh "${SSH_OPTS[@]}" -L "127.0.0.1:$cport:127.0.0.1:$P_ECHO" \
			"$SSH_DEST" 2>>"$T/cold-ssh.log"); then
			fails=$((fails + 1))
			log "cold start through ssh: attempt failed ($fails), see $T/cold-ssh.log"
			[ $fails -le 3 ] || die "cold start through ssh keeps failing: $(tail -n 5 "$T/cold-ssh.log")"
			sleep 1
			continue
		fi
		read -r us pid _ <<<"$out"
		GROUPS_+=("$pid")
		kill -TERM -- "-$pid" 2>/dev/null || true
		for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.01; done
		vals+=" $us"
		n=$((n + 1))
	done
	COLD_FAILS[ssh]=$fails
	COLD[ssh]=$(median <<<"$vals" | awk '{ printf "%.2f", $1 / 1000 }')
}
for p in vx6-quic vx6-tcp; do
	log "cold first connection: $p ($COLD_RUNS runs)"
	cold_vx6 "$p"
done
log "cold first connection: ssh ($COLD_RUNS runs)"
cold_ssh
COLD[direct]=-

END_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(( ($(now_ns) - T_START) / 1000000000 ))

# ------------------------------------------------------------------ report
describe_run
SSH_VERSION=$(ssh -V 2>&1 | cut -d, -f1)
[ "$V" = "$ROOT/build/vx6" ] || COMMIT="$COMMIT (source tree; binary $V)"
NGTCP2_VERSION=$(pkg-config --modversion libngtcp2 2>/dev/null || echo '?')
GNUTLS_VERSION=$(pkg-config --modversion gnutls 2>/dev/null || echo '?')

# One table: metric rows, path columns, then QUIC/TCP and QUIC/ssh (medians).
# For latency and cold start lower is better, so a ratio < 1 favours QUIC there.
ADD=()
for p in "${PATHS[@]}"; do ADD+=("$(awk -v a="${P50[$p]}" -v b="${P50[direct]}" 'BEGIN { printf "%.1f", a - b }')"); done
declare -A ADD50=([vx6-quic]=${ADD[0]} [vx6-tcp]=${ADD[1]} [ssh]=${ADD[2]} [direct]=${ADD[3]})
metric_row() {   # metric_row LABEL DECIMALS ARRAY-NAME
	local -n m=$3
	echo "$1|$(fmt "${m[vx6-quic]}" "$2")|$(fmt "${m[vx6-tcp]}" "$2")|$(fmt "${m[ssh]}" "$2")|$(fmt "${m[direct]}" "$2")|$(ratio "${m[vx6-quic]}" "${m[vx6-tcp]}")|$(ratio "${m[vx6-quic]}" "${m[ssh]}")"
}
HEAD="metric|vx6 QUIC|vx6 TCP|ssh -L|direct|QUIC/TCP|QUIC/ssh"
rows() {
	metric_row "bulk MiB/s (higher is better)" 1 MIBS
	metric_row "ping-pong p50 us (lower is better)" 1 P50
	metric_row "ping-pong p99 us (lower is better)" 1 P99
	metric_row "added p50 us, vs direct (lower is better)" 1 ADD50
	metric_row "new connections/s (higher is better)" 0 CPS
	metric_row "cold first connection ms (lower is better)" 2 COLD
	metric_row "bulk: forwarders CPU s/GiB" 2 CPU
	metric_row "bulk: busiest forwarder process, % of a core" 0 TOP
	metric_row "bulk: whole machine busy, % of all cores" 0 MACH
}
SPREAD_HEAD="path|bulk MiB/s|p50 us|p99 us|conns/s"
spread_vals() { echo "${LABEL[$1]}|$(spread 1 <<<"${R_MIBS[$1]}")|$(spread 1 <<<"${R_P50[$1]}")|$(spread 1 <<<"${R_P99[$1]}")|$(spread 0 <<<"${R_CPS[$1]}")"; }

R_QT_BULK=$(ratio "${MIBS[vx6-quic]}" "${MIBS[vx6-tcp]}")
QT_SPREAD=$(spread 2 <<<"${R_QT[bulk]}")
VERDICT=$(awk -v r="$R_QT_BULK" 'BEGIN { print (r >= 0.7) ? "MET" : "NOT MET" }')
TARGET="QUIC bulk >= 0.7x vx6 over TCP on clean loopback|${R_QT_BULK}x (per pass: ${QT_SPREAD})|$VERDICT"

{
	echo "VX6 over QUIC vs VX6 over TCP vs ssh -L (loopback, one run; ratios from the same run)"
	echo "date      $(date -u '+%Y-%m-%d %H:%M:%S UTC'); ${ELAPSED} s"
	echo "machine   $CPU_MODEL, $(nproc) cores, Linux $(uname -r)"
	echo "load      at start $START_LOAD, at end $END_LOAD (1/5/15 min)"
	echo "vx6       $VX6_VERSION, commit $COMMIT; TCP session: ${TCP_AEAD:-?}; QUIC session: ${QUIC_HS:-?}; node threads: a $THREADS_A, b $THREADS_B"
	echo "libs      ngtcp2 $NGTCP2_VERSION, GnuTLS $GNUTLS_VERSION (pkg-config)"
	echo "ssh       $SSH_VERSION, aes128-gcm@openssh.com"
	echo "sizes     per path and pass: bulk $((BYTES / 1048576)) MiB, $PINGS ping-pongs, $CONNS connections x $PAR parallel; medians of $REPEAT passes; cold: median of $COLD_RUNS"
	echo
	{ echo "$HEAD"; rows; } | table
	echo
	echo "spread over the $REPEAT passes (min-max; the table above shows medians)"
	{ echo "$SPREAD_HEAD"; for p in "${PATHS[@]}"; do spread_vals "$p"; done; } | table
	echo
	echo "cold: vx6 = vx6 connect --detach for a fresh forward (its own new session) + first round trip; ssh = ssh start, key exchange, auth, -L, first round trip; retried attempts: quic ${COLD_FAILS[vx6-quic]}, tcp ${COLD_FAILS[vx6-tcp]}, ssh ${COLD_FAILS[ssh]}"
	echo
	{ echo "target|measured|result"; echo "$TARGET"; } | table
} | tee "$OUT/quic-results.txt"

{
	echo "| | |"
	echo "|---|---|"
	echo "| date | $(date -u '+%Y-%m-%d %H:%M:%S UTC') (run took ${ELAPSED} s) |"
	echo "| machine | $CPU_MODEL, $(nproc) cores, Linux $(uname -r) |"
	echo "| load average | at start $START_LOAD, at end $END_LOAD (1/5/15 min) |"
	echo "| vx6 | $VX6_VERSION, commit $COMMIT; TCP session: ${TCP_AEAD:-?}; QUIC session: ${QUIC_HS:-?}; node threads: a $THREADS_A, b $THREADS_B |"
	echo "| libraries | ngtcp2 $NGTCP2_VERSION, GnuTLS $GNUTLS_VERSION (pkg-config) |"
	echo "| ssh | $SSH_VERSION, aes128-gcm@openssh.com |"
	echo "| sizes | per path and pass: bulk $((BYTES / 1048576)) MiB, $PINGS ping-pongs, $CONNS connections ($PAR in parallel); medians of $REPEAT passes; cold: median of $COLD_RUNS runs |"
	echo
	echo "| ${HEAD//|/ | } |"
	echo "|---|--:|--:|--:|--:|--:|--:|"
	rows | while IFS= read -r v; do echo "| ${v//|/ | } |"; done
	echo
	echo "Spread over the $REPEAT passes (min-max):"
	echo
	echo "| ${SPREAD_HEAD//|/ | } |"
	echo "|---|--:|--:|--:|--:|"
	for p in "${PATHS[@]}"; do v=$(spread_vals "$p"); echo "| ${v//|/ | } |"; done
	echo
	echo "Retried cold-start attempts: QUIC ${COLD_FAILS[vx6-quic]}, TCP ${COLD_FAILS[vx6-tcp]}, ssh ${COLD_FAILS[ssh]}."
	echo
	echo "| target | measured | result |"
	echo "|---|---|---|"
	echo "| ${TARGET//|/ | } |"
} >"$OUT/quic-results.md"
log "wrote $OUT/quic-results.txt and $OUT/quic-results.md"
