#!/usr/bin/env bash
# bench/run.sh — `make bench`: VX6 direct mode against `ssh -L` (two ciphers)
# and a plain socat relay, on loopback, in one run (every ratio is taken
# within the same run). Prints a text table and writes build/bench/results.md.
# See docs/BENCHMARKS.md for what each number means.
#
# Paths measured (each carries a bulk source and an echo service):
#   direct   load tool -> server                                  (baseline)
#   vx6      load tool -> node b (forward) == session ==> node a -> server
#   ssh-aes  load tool -> ssh -L == SSH aes128-gcm ==> sshd -> server
#   ssh-cc   load tool -> ssh -L == SSH chacha20-poly1305 ==> sshd -> server
#   socat    load tool -> socat (fork, -b 131072) -> server
#   vx6-cc   as vx6, from a third node c configured with aead = chacha20-poly1305
#            (extra row: same crypto library as vx6, other cipher; no targets)
#
# Environment (defaults in brackets):
#   BENCH_BYTES      bytes per bulk transfer, K/M/G suffixes [2G]
#   BENCH_PINGS      1-byte round trips per latency run [20000]
#   BENCH_CONNS      connections per connection-rate run [2000]
#   BENCH_PAR        connections in parallel for the rate run [4]
#   BENCH_COLD_RUNS  cold first-connection runs per path (median) [10]
#   BENCH_REPEAT     passes over metrics 1-3 and 5; the median is reported [3]
#   BENCH_KEEP=1     keep the temp dir (logs, configs) for debugging
#   BENCH_VX6        the vx6 binary [build/vx6]
#
# Requires: build/vx6 (the Makefile builds it), cc, sshd, ssh, ssh-keygen,
# socat, ps (procps). Not a test: it never fails on a slow number, only when
# something does not work.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
ME=bench

cd "$(dirname "$0")/.."
ROOT=$PWD
V=${BENCH_VX6:-$ROOT/build/vx6}
OUT=$ROOT/build/bench
B=$OUT/vx6bench

BENCH_BYTES=${BENCH_BYTES:-2G}
PINGS=${BENCH_PINGS:-20000}
CONNS=${BENCH_CONNS:-2000}
PAR=${BENCH_PAR:-4}
COLD_RUNS=${BENCH_COLD_RUNS:-10}
REPEAT=${BENCH_REPEAT:-3}

parse_bytes BENCH_BYTES "$BENCH_BYTES"

# ------------------------------------------------------------ prerequisites
find_sshd
missing=()
[ -x "$V" ] || missing+=("$V (build it: make build)")
command -v cc >/dev/null || missing+=("cc (gcc)")
[ -n "$SSHD" ] && [ -x "$SSHD" ] || missing+=("sshd (Debian package openssh-server)")
for b in ssh ssh-keygen; do command -v $b >/dev/null || missing+=("$b (openssh-client)"); done
command -v socat >/dev/null || missing+=("socat (Debian package socat)")
command -v ps >/dev/null || missing+=("ps (Debian package procps)")
exit_if_missing them

mkdir -p "$OUT"
build_vx6bench

TCK=$(getconf CLK_TCK)
T=$(mktemp -d /tmp/vx6-bench.XXXXXX)
PIDS=()        # long-lived processes started here (roots of process trees)
GROUPS_=()     # process groups of cold-start commands
LOGS_HINT=$T

cleanup() {
	local rc=$? g
	trap - EXIT INT TERM
	for g in "${GROUPS_[@]}"; do kill -TERM -- "-$g" 2>/dev/null || true; done
	if [ ${#PIDS[@]} -gt 0 ]; then
		kill_trees   # leaves first (ssh clients end their sshd sessions), then the rest
		wait 2>/dev/null || true
	fi
	drop_tmp
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

sessions_of() { vx6 "$1" status 2>/dev/null | awk '/^sessions/ { print $2 }'; }

wait_sessions() {   # wait_sessions NODE N
	for _ in $(seq 400); do [ "$(sessions_of "$1")" = "$2" ] && return 0; sleep 0.025; done
	die "node $1 still has $(sessions_of "$1") sessions (expected $2)"
}

START_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
log "temp dir $T; $REPEAT passes of $((BYTES / 1048576)) MiB bulk, $PINGS pings, $CONNS connections; $COLD_RUNS cold runs"

# ------------------------------------------------------------------ servers
start_servers

# ---------------------------------------------------------------------- vx6
P_A=$(port); P_B=$(port)
vx6 a init --name a --listen "[::1]:$P_A" --transport tcp >/dev/null
vx6 b init --name b --listen "[::1]:$P_B" --transport tcp >/dev/null
"$V" --home "$T/a" node 2>"$T/a.log" &   # not via vx6(): $! must be the node itself
PID_A=$!; PIDS+=($PID_A)
"$V" --home "$T/b" node 2>"$T/b.log" &
PID_B=$!; PIDS+=($PID_B)
wait_node a; wait_node b
sleep 0.5
RSS_A0=$(rss_kib $PID_A); RSS_B0=$(rss_kib $PID_B)

vx6 a service add --name bench --target "127.0.0.1:$P_SRC" >/dev/null
vx6 a service add --name echo --target "127.0.0.1:$P_ECHO" >/dev/null
KEY_A=$(vx6 a identity --json | sed -n 's/.*"public_key": *"\([^"]*\)".*/\1/p')
[ -n "$KEY_A" ] || die "cannot read node a's public key"
VX_BULK=$(port); VX_ECHO=$(port); VX_COLD=$(port)
vx6 b connect --service bench --addr "[::1]:$P_A" --listen "127.0.0.1:$VX_BULK" \
	--peer-key "$KEY_A" --detach >"$T/connect-bulk.out" || die "vx6 connect failed: $(cat "$T/connect-bulk.out")"
wait_sessions a 1
sleep 0.5
RSS_A1=$(rss_kib $PID_A); RSS_B1=$(rss_kib $PID_B)
vx6 b connect --service echo --addr "[::1]:$P_A" --listen "127.0.0.1:$VX_ECHO" \
	--peer-key "$KEY_A" --detach >"$T/connect-echo.out" || die "vx6 connect failed: $(cat "$T/connect-echo.out")"
"$B" wait "$VX_ECHO" 10000 || die "no round trip through vx6; logs in $T"
VX_AEAD=$(grep -o 'established: Noise [A-Z]*, [a-z0-9-]*' "$T/b.log" | head -n1 | sed 's/established: //')

# Node c: the same forwards as b, but it offers only ChaCha20-Poly1305.
P_C=$(port)
vx6 c init --name c --listen "[::1]:$P_C" --transport tcp >/dev/null
sed -i 's/^aead = .*/aead = chacha20-poly1305/' "$T/c/config.ini"
grep -q '^aead = chacha20-poly1305' "$T/c/config.ini" || die "cannot set aead in node c's config.ini"
"$V" --home "$T/c" node 2>"$T/c.log" &
PID_C=$!; PIDS+=($PID_C)
wait_node c
CC_BULK=$(port); CC_ECHO=$(port)
vx6 c connect --service bench --addr "[::1]:$P_A" --listen "127.0.0.1:$CC_BULK" \
	--peer-key "$KEY_A" --detach >"$T/connect-cc.out" || die "vx6 connect failed: $(cat "$T/connect-cc.out")"
vx6 c connect --service echo --addr "[::1]:$P_A" --listen "127.0.0.1:$CC_ECHO" \
	--peer-key "$KEY_A" --detach >>"$T/connect-cc.out" || die "vx6 connect failed: $(cat "$T/connect-cc.out")"
"$B" wait "$CC_ECHO" 10000 || die "no round trip through vx6 node c; logs in $T"
CC_AEAD=$(grep -o 'established: Noise [A-Z]*, [a-z0-9-]*' "$T/c.log" | head -n1 | sed 's/established: //')

# ---------------------------------------------------------------------- ssh
start_sshd aes128-gcm@openssh.com,chacha20-poly1305@openssh.com
declare -A SSH_CIPHER=([ssh-aes]=aes128-gcm@openssh.com [ssh-cc]=chacha20-poly1305@openssh.com)
declare -A PORT_BULK PORT_ECHO PID_OF
for p in ssh-aes ssh-cc; do
	PORT_BULK[$p]=$(port); PORT_ECHO[$p]=$(port)
	ssh "${SSH_OPTS[@]}" -c "${SSH_CIPHER[$p]}" \
		-L "127.0.0.1:${PORT_BULK[$p]}:127.0.0.1:$P_SRC" \
		-L "127.0.0.1:${PORT_ECHO[$p]}:127.0.0.1:$P_ECHO" "$SSH_DEST" 2>"$T/$p.log" &
	PID_OF[$p]=$!; PIDS+=($!)
done
for p in ssh-aes ssh-cc; do
	"$B" wait "${PORT_ECHO[$p]}" 15000 || die "no round trip through $p: $(cat "$T/$p.log" "$T/sshd.log")"
	wait_listening "${PORT_BULK[$p]}" "$p bulk forward"
done

# -------------------------------------------------------------------- socat
PORT_BULK[socat]=$(port); PORT_ECHO[socat]=$(port)
socat -b 131072 "TCP-LISTEN:${PORT_BULK[socat]},bind=127.0.0.1,fork,reuseaddr,nodelay" \
	"TCP:127.0.0.1:$P_SRC,nodelay" 2>"$T/socat-bulk.log" &
PID_OF[socat]=$!; PIDS+=($!)
socat -b 131072 "TCP-LISTEN:${PORT_ECHO[socat]},bind=127.0.0.1,fork,reuseaddr,nodelay" \
	"TCP:127.0.0.1:$P_ECHO,nodelay" 2>"$T/socat-echo.log" &
PID_SOCAT_ECHO=$!; PIDS+=($!)
wait_listening "${PORT_BULK[socat]}" "socat bulk relay"
"$B" wait "${PORT_ECHO[socat]}" 5000 || die "no round trip through socat"

PORT_BULK[direct]=$P_SRC; PORT_ECHO[direct]=$P_ECHO
PORT_BULK[vx6]=$VX_BULK; PORT_ECHO[vx6]=$VX_ECHO
PORT_BULK[vx6-cc]=$CC_BULK; PORT_ECHO[vx6-cc]=$CC_ECHO
PATHS=(direct vx6 ssh-aes ssh-cc socat vx6-cc)
declare -A LABEL=([direct]="direct (no proxy)" [vx6]="vx6 direct mode" [ssh-aes]="ssh -L aes128-gcm"
	[ssh-cc]="ssh -L chacha20-poly1305" [socat]="socat -b 131072" [vx6-cc]="vx6, chacha20-poly1305")
declare -A CPU_ROOTS=([vx6]="$PID_A $PID_B" [vx6-cc]="$PID_A $PID_C" [ssh-aes]="${PID_OF[ssh-aes]} $PID_SSHD"
	[ssh-cc]="${PID_OF[ssh-cc]} $PID_SSHD" [socat]="${PID_OF[socat]}")
RSS_SSH=$(rss_kib "${PID_OF[ssh-aes]}"); RSS_SOCAT=$(rss_kib "${PID_OF[socat]}")

# -------------------------------------------- 1, 2, 3, 5: measured in passes
# Each pass measures every path once, in turn, for each metric; the table
# shows the median over the passes (other load on the machine then hits all
# paths alike) and the spread is printed with it.
#
# CPU: the forwarding processes' trees (CPU_ROOTS) and, apart, the endpoints
# (source or echo server + the load tool), counted around each measurement.
declare -A R_MIBS R_CPU R_ECPU R_P50 R_P99 R_CPS R_CCPU R_ECCPU
CPU_ROOTS_BULK_SOCAT=${PID_OF[socat]}

bulk_once() {   # bulk_once PATH
	local p=$1 roots out t0 t1 s0 s1 mibs sinkcpu
	roots=${CPU_ROOTS[$p]:-}
	[ "$p" = socat ] && roots=$CPU_ROOTS_BULK_SOCAT
	[ -n "$roots" ] && t0=$(ticks $roots)
	s0=$(ticks "$PID_SRC")
	out=$("$B" sink "${PORT_BULK[$p]}" "$BYTES") || die "bulk transfer through $p failed ($out); logs in $T"
	s1=$(ticks "$PID_SRC")
	[ -n "$roots" ] && t1=$(ticks $roots)
	read -r _ _ mibs sinkcpu <<<"$out"
	R_MIBS[$p]+=" $mibs"
	R_ECPU[$p]+=" $(awk -v d=$((s1 - s0)) -v c="$sinkcpu" -v hz="$TCK" -v b="$BYTES" 'BEGIN { printf "%.3f", (d / hz + c) / (b / 1073741824) }')"
	[ -n "$roots" ] && R_CPU[$p]+=" $(awk -v d=$((t1 - t0)) -v hz="$TCK" -v b="$BYTES" 'BEGIN { printf "%.3f", d / hz / (b / 1073741824) }')"
	return 0
}

latency_once() {   # latency_once PATH
	local p=$1 out p50 p99
	out=$("$B" pingpong "${PORT_ECHO[$p]}" "$PINGS") || die "ping-pong through $p failed; logs in $T"
	read -r p50 p99 _ <<<"$out"
	R_P50[$p]+=" $p50"; R_P99[$p]+=" $p99"
}

connrate_once() {   # connrate_once PATH
	local p=$1 roots out t0 t1 e0 e1 nok cps clcpu
	roots=${CPU_ROOTS[$p]:-}
	[ "$p" = socat ] && roots=$PID_SOCAT_ECHO
	[ -n "$roots" ] && t0=$(ticks $roots)
	e0=$(ticks "$PID_ECHOSRV")
	out=$("$B" connrate "${PORT_ECHO[$p]}" "$CONNS" "$PAR") || die "connection-rate run through $p failed ($out); logs in $T"
	e1=$(ticks "$PID_ECHOSRV")
	[ -n "$roots" ] && t1=$(ticks $roots)
	read -r nok _ _ cps clcpu <<<"$out"
	R_CPS[$p]+=" $cps"
	R_ECCPU[$p]+=" $(awk -v d=$((e1 - e0)) -v c="$clcpu" -v hz="$TCK" -v n="$nok" 'BEGIN { printf "%.1f", (d / hz + c) / n * 1e6 }')"
	[ -n "$roots" ] && R_CCPU[$p]+=" $(awk -v d=$((t1 - t0)) -v hz="$TCK" -v n="$nok" 'BEGIN { printf "%.1f", d / hz / n * 1e6 }')"
	return 0
}

HWM_A=0; HWM_B=0
for r in $(seq "$REPEAT"); do
	log "pass $r/$REPEAT: bulk ($((BYTES / 1048576)) MiB per path)"
	for p in "${PATHS[@]}"; do bulk_once "$p"; done
	if [ "$r" = 1 ]; then HWM_A=$(hwm_kib $PID_A); HWM_B=$(hwm_kib $PID_B); fi
	log "pass $r/$REPEAT: latency ($PINGS round trips per path)"
	for p in "${PATHS[@]}"; do latency_once "$p"; done
	log "pass $r/$REPEAT: connection rate ($CONNS connections per path)"
	for p in "${PATHS[@]}"; do connrate_once "$p"; done
done

declare -A MIBS CPU ECPU P50 P99 CPS CCPU ECCPU
for p in "${PATHS[@]}"; do
	MIBS[$p]=$(median <<<"${R_MIBS[$p]}")
	ECPU[$p]=$(median <<<"${R_ECPU[$p]}" | awk '{ printf "%.2f", $1 }')
	CPU[$p]=$([ -n "${R_CPU[$p]:-}" ] && median <<<"${R_CPU[$p]}" | awk '{ printf "%.2f", $1 }' || echo -)
	P50[$p]=$(median <<<"${R_P50[$p]}")
	P99[$p]=$(median <<<"${R_P99[$p]}")
	CPS[$p]=$(median <<<"${R_CPS[$p]}")
	ECCPU[$p]=$(median <<<"${R_ECCPU[$p]}" | awk '{ printf "%.0f", $1 }')
	CCPU[$p]=$([ -n "${R_CCPU[$p]:-}" ] && median <<<"${R_CCPU[$p]}" | awk '{ printf "%.0f", $1 }' || echo -)
done

# ------------------------------------------------------ 4: cold first connection
declare -A COLD
cold_runs() {   # cold_runs PATH PORT cold|coldwait CMD...: median ms over COLD_RUNS runs
	local p=$1 cport=$2 mode=$3 vals="" out us pid st n=0 fails=0
	shift 3
	while [ $n -lt "$COLD_RUNS" ]; do
		if ! out=$("$B" "$mode" "$cport" 20000 "$@" 2>>"$T/cold-$p.log"); then
			# A timed-out attempt is retried (the machine may be busy); a path
			# that keeps failing is a real failure.
			fails=$((fails + 1))
			log "cold start through $p: attempt failed ($fails), see $T/cold-$p.log"
			[ $fails -le 3 ] || die "cold start through $p keeps failing: $(tail -n 5 "$T/cold-$p.log")"
			[ "$p" = vx6 ] && { vx6 b connect close "127.0.0.1:$cport" >/dev/null 2>&1 || true; }
			sleep 1
			continue
		fi
		read -r us pid st <<<"$out"
		[ "$mode" = coldwait ] && [ "$st" != 0 ] && die "cold start through $p: command exited $st"
		if [ "$mode" = cold ]; then
			GROUPS_+=("$pid")
			kill -TERM -- "-$pid" 2>/dev/null || true
			for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.01; done
		fi
		if [ "$p" = vx6 ]; then
			vx6 b connect close "127.0.0.1:$cport" >/dev/null
			wait_sessions b "$VX_SESSIONS"; wait_sessions a "$VX_SESSIONS_A"
		fi
		vals+=" $us"
		n=$((n + 1))
	done
	COLD_FAILS[$p]=$fails
	COLD[$p]=$(median <<<"$vals" | awk '{ printf "%.2f", $1 / 1000 }')
}
declare -A COLD_FAILS
VX_SESSIONS=$(sessions_of b); VX_SESSIONS_A=$(sessions_of a)
log "cold first connection: vx6"
cold_runs vx6 "$VX_COLD" coldwait "$V" --home "$T/b" connect --service echo --addr "[::1]:$P_A" \
	--listen "127.0.0.1:$VX_COLD" --peer-key "$KEY_A" --detach
for p in ssh-aes ssh-cc; do
	log "cold first connection: $p"
	cp_=$(port)
	cold_runs "$p" "$cp_" cold ssh "${SSH_OPTS[@]}" -c "${SSH_CIPHER[$p]}" \
		-L "127.0.0.1:$cp_:127.0.0.1:$P_ECHO" "$SSH_DEST"
done
log "cold first connection: socat"
cp_=$(port)
cold_runs socat "$cp_" cold socat -b 131072 "TCP-LISTEN:$cp_,bind=127.0.0.1,fork,reuseaddr,nodelay" \
	"TCP:127.0.0.1:$P_ECHO,nodelay"
COLD[direct]=-; COLD[vx6-cc]=-

END_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------ report
describe_run
SSH_VERSION=$(ssh -V 2>&1 | cut -d, -f1)
SOCAT_VERSION=$(socat -V 2>/dev/null | awk '/socat version/ { print $3; exit }')

# Targets (docs/BENCHMARKS.md): bulk >= 1.5x ssh-aes and >= 0.8x socat; added
# latency no worse than ssh -L (aes128-gcm); new streams/s >= 2x ssh -L; idle RSS <= 8 MiB.
verdict() { awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN { ok = (op == ">=") ? (a >= b) : (a <= b); print ok ? "PASS" : "MISS" }'; }
ADD_VX=$(awk -v a="${P50[vx6]}" -v b="${P50[direct]}" 'BEGIN { printf "%.1f", a - b }')
ADD_SSH=$(awk -v a="${P50[ssh-aes]}" -v b="${P50[direct]}" 'BEGIN { printf "%.1f", a - b }')
ADD99_VX=$(awk -v a="${P99[vx6]}" -v b="${P99[direct]}" 'BEGIN { printf "%.1f", a - b }')
ADD99_SSH=$(awk -v a="${P99[ssh-aes]}" -v b="${P99[direct]}" 'BEGIN { printf "%.1f", a - b }')
R_BULK_SSH=$(ratio "${MIBS[vx6]}" "${MIBS[ssh-aes]}")
R_BULK_SOCAT=$(ratio "${MIBS[vx6]}" "${MIBS[socat]}")
R_CPS=$(ratio "${CPS[vx6]}" "${CPS[ssh-aes]}")
RSS_MAX=$(( RSS_A1 > RSS_B1 ? RSS_A1 : RSS_B1 )); RSS_MAX=$(( RSS_MAX > RSS_A0 ? RSS_MAX : RSS_A0 ))
TARGETS=(
	"bulk >= 1.5x ssh -L aes128-gcm|${R_BULK_SSH}x|$(verdict "$R_BULK_SSH" '>=' 1.5)"
	"bulk >= 0.8x socat|${R_BULK_SOCAT}x|$(verdict "$R_BULK_SOCAT" '>=' 0.8)"
	"added p50 latency <= ssh -L aes128-gcm|${ADD_VX} us vs ${ADD_SSH} us|$(verdict "$ADD_VX" '<=' "$ADD_SSH")"
	"(info) added p99 latency vs ssh -L aes128-gcm|${ADD99_VX} us vs ${ADD99_SSH} us|$(awk -v a="$ADD99_VX" -v b="$ADD99_SSH" 'BEGIN { print (a <= b) ? "lower" : "higher" }')"
	"new streams/s >= 2x ssh -L aes128-gcm|${R_CPS}x|$(verdict "$R_CPS" '>=' 2)"
	"idle node RSS <= 8 MiB (8192 KiB)|${RSS_MAX} KiB (worst node)|$(verdict "$RSS_MAX" '<=' 8192)"
)

row_vals() {   # row_vals PATH: the table cells, '|'-separated
	local p=$1
	echo "${LABEL[$p]}|$(fmt "${MIBS[$p]}")|$(ratio "${MIBS[$p]}" "${MIBS[ssh-aes]}")|$(ratio "${MIBS[$p]}" "${MIBS[socat]}")|$(fmt "${P50[$p]}")|$(fmt "${P99[$p]}")|$(awk -v a="${P50[$p]}" -v b="${P50[direct]}" 'BEGIN { printf "%+.1f", a - b }')|$(fmt "${CPS[$p]}" 0)|$(ratio "${CPS[$p]}" "${CPS[ssh-aes]}")|${COLD[$p]}"
}
HEAD="path|bulk MiB/s|x ssh-aes|x socat|p50 us|p99 us|added p50 us|conns/s|x ssh-aes|cold ms"
cpu_vals() { echo "${LABEL[$1]}|${CPU[$1]}|${ECPU[$1]}|${CCPU[$1]}|${ECCPU[$1]}"; }
spread_vals() { echo "${LABEL[$1]}|$(spread 1 <<<"${R_MIBS[$1]}")|$(spread 1 <<<"${R_P50[$1]}")|$(spread 1 <<<"${R_P99[$1]}")|$(spread 0 <<<"${R_CPS[$1]}")|$(spread 2 <<<"${R_CPU[$1]:-}")"; }
SPREAD_HEAD="path|bulk MiB/s|p50 us|p99 us|conns/s|forwarders CPU s/GiB"
CPU_HEAD="path|forwarders CPU s/GiB|endpoints CPU s/GiB|forwarders CPU us/conn|endpoints CPU us/conn"

{
	echo "VX6 benchmarks (loopback, one run; ratios from the same run)"
	echo "date      $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "machine   $CPU_MODEL, $(nproc) cores, Linux $(uname -r)"
	echo "load      at start $START_LOAD, at end $END_LOAD (1/5/15 min)"
	echo "vx6       $VX6_VERSION, commit $COMMIT; session: ${VX_AEAD:-?} (node c: ${CC_AEAD:-?})"
	echo "others    $SSH_VERSION; socat $SOCAT_VERSION"
	echo "sizes     per path and pass: bulk $((BYTES / 1048576)) MiB, $PINGS ping-pongs, $CONNS connections x $PAR parallel; medians of $REPEAT passes; cold: median of $COLD_RUNS"
	echo
	{
		echo "$HEAD"
		for p in "${PATHS[@]}"; do row_vals "$p"; done
	} | table
	echo
	echo "CPU (utime+stime from /proc; forwarders = the relay processes only, endpoints = load tool + server)"
	{
		echo "$CPU_HEAD"
		for p in "${PATHS[@]}"; do cpu_vals "$p"; done
	} | table
	echo
	echo "spread over the $REPEAT passes (min-max; the tables above show medians)"
	{
		echo "$SPREAD_HEAD"
		for p in "${PATHS[@]}"; do spread_vals "$p"; done
	} | table
	echo
	echo "cold: vx6 = vx6 connect --detach (IK handshake) + first stream; ssh = ssh start, key exchange, auth, -L; socat = process start; retried attempts: vx6 ${COLD_FAILS[vx6]}, ssh-aes ${COLD_FAILS[ssh-aes]}, ssh-cc ${COLD_FAILS[ssh-cc]}, socat ${COLD_FAILS[socat]}"
	echo "idle RSS (KiB)  vx6 node a: $RSS_A0 no session, $RSS_A1 one idle session; node b: $RSS_B0, $RSS_B1"
	echo "                after the bulk run (VmHWM): a $HWM_A, b $HWM_B; for scale: idle ssh client $RSS_SSH, idle socat $RSS_SOCAT"
	echo
	{
		echo "target|measured|result"
		for t in "${TARGETS[@]}"; do echo "$t"; done
	} | table
} | tee "$OUT/results.txt"

{
	echo "## Results"
	echo
	echo "| | |"
	echo "|---|---|"
	echo "| date | $(date -u '+%Y-%m-%d %H:%M:%S UTC') |"
	echo "| machine | $CPU_MODEL, $(nproc) cores, Linux $(uname -r) |"
	echo "| load average | at start $START_LOAD, at end $END_LOAD (1/5/15 min) |"
	echo "| vx6 | $VX6_VERSION, commit $COMMIT; session: ${VX_AEAD:-?} (node c: ${CC_AEAD:-?}) |"
	echo "| others | $SSH_VERSION; socat $SOCAT_VERSION |"
	echo "| sizes | per path and pass: bulk $((BYTES / 1048576)) MiB, $PINGS ping-pongs, $CONNS connections ($PAR in parallel); medians of $REPEAT passes; cold: median of $COLD_RUNS runs |"
	echo
	echo "| ${HEAD//|/ | } |"
	echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
	for p in "${PATHS[@]}"; do v=$(row_vals "$p"); echo "| ${v//|/ | } |"; done
	echo
	echo "| ${CPU_HEAD//|/ | } |"
	echo "|---|--:|--:|--:|--:|"
	for p in "${PATHS[@]}"; do v=$(cpu_vals "$p"); echo "| ${v//|/ | } |"; done
	echo
	echo "Spread over the $REPEAT passes (min-max; the tables above show medians):"
	echo
	echo "| ${SPREAD_HEAD//|/ | } |"
	echo "|---|--:|--:|--:|--:|--:|"
	for p in "${PATHS[@]}"; do v=$(spread_vals "$p"); echo "| ${v//|/ | } |"; done
	echo
	echo "Cold start: vx6 = \`vx6 connect --detach\` (Noise IK handshake) + the first stream; ssh = process start, key exchange, authentication, -L listener; socat = process start. Retried (timed-out) attempts: vx6 ${COLD_FAILS[vx6]}, ssh-aes ${COLD_FAILS[ssh-aes]}, ssh-cc ${COLD_FAILS[ssh-cc]}, socat ${COLD_FAILS[socat]}."
	echo
	echo "Idle RSS of a vx6 node (KiB): node a $RSS_A0 with no session, $RSS_A1 with one idle session;"
	echo "node b $RSS_B0 / $RSS_B1. Peak (VmHWM) after the bulk transfers: a $HWM_A, b $HWM_B."
	echo "For scale: an idle \`ssh -N -L\` client $RSS_SSH KiB, an idle socat listener $RSS_SOCAT KiB."
	echo
	echo "| target | measured | result |"
	echo "|---|---|---|"
	for t in "${TARGETS[@]}"; do echo "| ${t//|/ | } |"; done
} >"$OUT/results.md"
log "wrote $OUT/results.md"
