#!/usr/bin/env bash
# bench/relay.sh — relay circuits: named forwards through 1, 2 and 3 relays
# (`vx6 connect --relay N`) against vx6 direct mode and a plaintext 3-hop
# socat chain, on loopback, in one run (every ratio is taken within the same
# run). Prints a text table and writes build/bench/relay-results.md (and
# relay-results.txt). Standalone: it builds the load tool itself and needs
# only build/vx6. See docs/BENCHMARKS.md, section "Relays".
#
# Nodes (one home each in a temp dir, all on [::1]):
#   a        the owner: publishes bench (bulk source) and echo; not a relay
#   r1 r2 r3 relays (init --relay), joined through a
#   c        the client, joined through a
# Every relay and the client get `allow_loopback = yes` and
# `same_prefix_paths = yes` under [relay] (single-host test knobs).
#
# Paths measured (each carries the bulk source and the echo server):
#   tcp      load tool -> server                                       (baseline)
#   vx6      load tool -> c ══ session ══> a -> server   (connect --addr, direct)
#   r1       load tool -> c ══> relay ══> a -> server    (connect --relay 1, named)
#   r2       ... 2 relays                                (connect --relay 2)
#   r3       ... 3 relays                                (connect --relay 3)
#   socat3   load tool -> socat -> socat -> socat -> server (plaintext chain)
#
# Environment (defaults in brackets):
#   BENCH_RELAY_BYTES      bytes per bulk transfer, K/M/G suffixes [1G]
#   BENCH_RELAY_PINGS      1-byte round trips per latency run [BENCH_PINGS or 10000]
#   BENCH_RELAY_REPEAT     passes over bulk and latency (medians) [BENCH_REPEAT or 3]
#   BENCH_RELAY_COLD_RUNS  setup-time runs per path (median) [BENCH_COLD_RUNS or 10]
#   BENCH_RELAY_TRANSPORT  node-to-node transport of every node: tcp, quic, auto [tcp]
#   BENCH_KEEP=1           keep the temp dir (logs, configs) for debugging
#   BENCH_RELAY_NODE_ARGS  extra arguments for every `vx6 node`, e.g. "--log-level debug"
#   BENCH_VX6              the vx6 binary [build/vx6]
#
# Requires: build/vx6, cc, socat, jq, ps (procps). Not a test: it never fails
# on a slow number, only when something does not work.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
ME=bench-relay

cd "$(dirname "$0")/.."
ROOT=$PWD
V=${BENCH_VX6:-$ROOT/build/vx6}
OUT=$ROOT/build/bench
B=$OUT/vx6bench

RELAY_BYTES=${BENCH_RELAY_BYTES:-1G}
PINGS=${BENCH_RELAY_PINGS:-${BENCH_PINGS:-10000}}
REPEAT=${BENCH_RELAY_REPEAT:-${BENCH_REPEAT:-3}}
COLD_RUNS=${BENCH_RELAY_COLD_RUNS:-${BENCH_COLD_RUNS:-10}}

declare -A NPID=()   # vx6 node -> pid

parse_bytes BENCH_RELAY_BYTES "$RELAY_BYTES"
need_positive PINGS REPEAT COLD_RUNS

# ------------------------------------------------------------ prerequisites
missing=()
[ -x "$V" ] || missing+=("$V (build it: make build)")
command -v cc >/dev/null || missing+=("cc (gcc)")
command -v socat >/dev/null || missing+=("socat (Debian package socat)")
command -v jq >/dev/null || missing+=("jq (Debian package jq)")
command -v ps >/dev/null || missing+=("ps (Debian package procps)")
exit_if_missing them

mkdir -p "$OUT"
build_vx6bench   # the same load tool as bench/run.sh

TCK=$(getconf CLK_TCK)
T=$(mktemp -d /tmp/vx6-bench-relay.XXXXXX)
PIDS=()        # long-lived processes started here (roots of process trees)
GROUPS_=()     # process groups of setup-time commands
LOGS_HINT=$OUT/relay-logs/

cleanup() {
	local rc=$? g
	trap - EXIT INT TERM
	for g in "${GROUPS_[@]}"; do kill -TERM -- "-$g" 2>/dev/null || true; done
	CRASHED=""
	if [ ${#PIDS[@]} -gt 0 ]; then
		# Descendants (socat's forked children) get one SIGTERM; vx6 nodes close
		# their sessions and circuits first: up to 5 s.
		kill_trees
		reap_nodes   # a vx6 node must exit 0 on SIGTERM; anything else is reported
		wait 2>/dev/null || true
	fi
	for g in "${GROUPS_[@]}"; do kill -KILL -- "-$g" 2>/dev/null || true; done
	if [ -n "$CRASHED" ]; then
		echo "bench-relay: WARNING: vx6 node(s) did not stop cleanly:$CRASHED; logs in $OUT/relay-logs/" >&2
		echo "bench-relay: (status 139 = SIGSEGV; see \"Relays\" in docs/BENCHMARKS.md for the known relay use-after-free)" >&2
	fi
	if [ -n "$CRASHED" ] || [ "$rc" != 0 ]; then
		rm -rf "$OUT/relay-logs"; mkdir -p "$OUT/relay-logs"
		cp "$T"/*.log "$T"/*.out "$T"/*.json "$OUT/relay-logs/" 2>/dev/null || true
		[ "$rc" != 0 ] && echo "bench-relay: logs copied to $OUT/relay-logs/" >&2
	else
		rm -rf "$OUT/relay-logs"   # from an earlier run
	fi
	drop_tmp
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ticks_us ROOT...: "user system" ticks (with reaped children's) summed over
# the process trees.
ticks_us() {
	local u=0 s=0 p st f
	for p in $(descendants "$@"); do
		st=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		st=${st##*) }
		read -r -a f <<<"$st"
		u=$(( u + f[11] + f[13] )); s=$(( s + f[12] + f[14] ))
	done
	echo "$u $s"
}


START_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
log "temp dir $T; load average $START_LOAD; $REPEAT passes of $((BYTES / 1048576)) MiB bulk and $PINGS pings per path; $COLD_RUNS setup runs"

# ------------------------------------------------------------------ servers
start_servers

# --------------------------------------------------------------- vx6 nodes
# set_relay HOME KEY VALUE: KEY = VALUE in the [relay] section of config.ini.
set_relay() {
	local cfg=$T/$1/config.ini
	grep -qx '\[relay\]' "$cfg" || die "$cfg has no [relay] section"
	sed -i -E "/^\[relay\]/,/^\[/ { /^#? *$2 *=/d }" "$cfg"
	sed -i "/^\[relay\]\$/a $2 = $3" "$cfg"
	sed -n '/^\[relay\]/,/^\[/p' "$cfg" | grep -qx "$2 = $3" || die "cannot set $2 = $3 in [relay] of $cfg"
}

NODES=(a r1 r2 r3 c)
RELAYS=(r1 r2 r3)
declare -A NPORT
NPORT[a]=$(port)
# Node-to-node transport of every node (BENCH_RELAY_TRANSPORT: tcp, quic
# or auto; the recorded results are tcp).
RT=${BENCH_RELAY_TRANSPORT:-tcp}
vx6 a init --name a --listen "[::1]:${NPORT[a]}" --transport "$RT" --no-probe >/dev/null
for n in r1 r2 r3 c; do
	NPORT[$n]=$(port)
	extra=(); [ "$n" = c ] || extra=(--relay)
	vx6 "$n" init --name "$n" --listen "[::1]:${NPORT[$n]}" --peer "[::1]:${NPORT[a]}" \
		--transport "$RT" --no-probe "${extra[@]}" >/dev/null
	set_relay "$n" allow_loopback yes
	set_relay "$n" same_prefix_paths yes
done
for n in "${NODES[@]}"; do
	"$V" --home "$T/$n" node ${BENCH_RELAY_NODE_ARGS:-} 2>"$T/$n.log" &   # not via vx6(): $! must be the node itself
	NPID[$n]=$!; PIDS+=($!)
	wait_node "$n"
done

vx6 a service add --name bench --target "127.0.0.1:$P_SRC" >/dev/null
vx6 a service add --name echo --target "127.0.0.1:$P_ECHO" >/dev/null
KEY_A=$(vx6 a identity --json | jq -r .public_key)
[ -n "$KEY_A" ] && [ "$KEY_A" != null ] || die "cannot read node a's public key"

# The client must know the relays' node records (they carry the relay flag)
# before it can choose a path; service records it resolves on demand (once
# here, so that every measured setup finds them in its registry).
knows_all() {
	local have
	have=$(vx6 c list --json 2>/dev/null | jq -r '.nodes[].name') || return 1
	for x in a r1 r2 r3; do grep -qx "$x" <<<"$have" || return 1; done
}
t0=$(date +%s%N)
for _ in $(seq 600); do knows_all && break; sleep 0.1; done
knows_all || die "node c does not know a, r1, r2 and r3 after 60 s: $(vx6 c list 2>&1 | head -20)"
JOIN_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
for svc in a.bench a.echo; do
	for _ in $(seq 60); do vx6 c resolve "$svc" >/dev/null 2>>"$T/resolve.err" && break; sleep 0.5; done
	vx6 c resolve "$svc" >/dev/null 2>>"$T/resolve.err" || die "node c cannot resolve $svc: $(tail -n 3 "$T/resolve.err")"
done
log "c knows the owner and the 3 relays ($JOIN_MS ms after the last node started); a.bench and a.echo resolve"

# ------------------------------------------------------------------ forwards
declare -A PORT_BULK PORT_ECHO PATH_OF
PORT_BULK[tcp]=$P_SRC; PORT_ECHO[tcp]=$P_ECHO

PORT_BULK[vx6]=$(port); PORT_ECHO[vx6]=$(port)
for svc in bench echo; do
	[ $svc = bench ] && lp=${PORT_BULK[vx6]} || lp=${PORT_ECHO[vx6]}
	vx6 c connect --service $svc --addr "[::1]:${NPORT[a]}" --listen "127.0.0.1:$lp" \
		--peer-key "$KEY_A" --detach >>"$T/connect.out" 2>&1 || die "vx6 connect (direct) failed: $(tail -n 3 "$T/connect.out")"
done
"$B" wait "${PORT_ECHO[vx6]}" 10000 || die "no round trip through vx6 direct mode; logs in $OUT/relay-logs/"

# circuit_path: the client's newest circuit as "c > r2 > r1 > a".
circuit_path() { sj c '"c > " + ([.circuits[0].hops[].name] | map(if . == "owner" then "a" else . end) | join(" > "))'; }

for k in 1 2 3; do
	p=r$k
	PORT_BULK[$p]=$(port); PORT_ECHO[$p]=$(port)
	for svc in bench echo; do
		[ $svc = bench ] && lp=${PORT_BULK[$p]} || lp=${PORT_ECHO[$p]}
		vx6 c connect --service a.$svc --listen "127.0.0.1:$lp" --relay $k --detach --json \
			>"$T/connect-$p-$svc.json" 2>>"$T/connect.out" ||
			die "vx6 connect --service a.$svc --relay $k failed: $(tail -n 3 "$T/connect.out")"
		hops=$(jq -r .circuit_hops "$T/connect-$p-$svc.json")
		[ "$hops" = $((k + 1)) ] || die "connect --relay $k: circuit_hops $hops, want $((k + 1))"
		PATH_OF[$p-$svc]=$(circuit_path)
	done
	"$B" wait "${PORT_ECHO[$p]}" 10000 || die "no round trip through the $k-relay circuit; logs in $OUT/relay-logs/"
done
AEAD=$(sj c '[.sessions[] | select(.state == "established") | .aead] | unique | join(",")')

# ---------------------------------------------------------- socat 3-hop chain
# client -> S1 -> S2 -> S3 -> server, -b 131072, TCP_NODELAY on every socket.
socat_hop() {   # socat_hop LISTEN_PORT TARGET_PORT LOGNAME
	socat -b 131072 "TCP-LISTEN:$1,bind=127.0.0.1,fork,reuseaddr,nodelay" "TCP:127.0.0.1:$2,nodelay" 2>>"$T/$3.log" &
	PIDS+=($!)
	SOCAT_PIDS+=" $!"
}
SOCAT_BULK_PIDS=""
for svc in bulk echo; do
	SOCAT_PIDS=""
	[ $svc = bulk ] && target=$P_SRC || target=$P_ECHO
	p3=$(port); socat_hop "$p3" "$target" socat-$svc
	p2=$(port); socat_hop "$p2" "$p3" socat-$svc
	p1=$(port); socat_hop "$p1" "$p2" socat-$svc
	for pp in $p3 $p2 $p1; do wait_listening "$pp" "socat $svc hop"; done
	if [ $svc = bulk ]; then PORT_BULK[socat3]=$p1; SOCAT_BULK_PIDS=$SOCAT_PIDS
	else PORT_ECHO[socat3]=$p1; fi
done
"$B" wait "${PORT_ECHO[socat3]}" 5000 || die "no round trip through the socat chain"

PATHS=(tcp vx6 r1 r2 r3 socat3)
declare -A LABEL=([tcp]="direct TCP (no proxy)" [vx6]="vx6 direct mode" [r1]="vx6 --relay 1"
	[r2]="vx6 --relay 2" [r3]="vx6 --relay 3" [socat3]="socat 3-hop chain")
declare -A NHOPS=([tcp]=0 [vx6]=0 [r1]=1 [r2]=2 [r3]=3 [socat3]=3)

# ------------------------------------------------ bulk and latency, in passes
# Each pass measures every path in turn; the tables show medians over passes.
# CPU is read from /proc/PID/stat of every vx6 node (all five, whether on the
# path or idle), of the socat chain's trees, of the source server, and the
# sink reports its own; the whole machine's busy time from /proc/stat.
declare -A R_MIBS R_FWD R_FWDU R_FWDS R_OWN R_CLI R_REL R_END R_CORES R_MCORES R_P50 R_P99

vx_ticks() {   # "u s" per node, in NODES order
	local n
	for n in "${NODES[@]}"; do ticks_us "${NPID[$n]}"; done | tr '\n' ' '
}

bulk_once() {   # bulk_once PATH
	local p=$1 v0 v1 f0 f1 s0 s1 m0 m1 out secs mibs sinkcpu
	local -a a b
	v0=$(vx_ticks); f0=$(ticks_us $SOCAT_BULK_PIDS); s0=$(ticks_us "$PID_SRC"); m0=$(machine_busy)
	out=$("$B" sink "${PORT_BULK[$p]}" "$BYTES") || die "bulk transfer through $p failed ($out); logs in $OUT/relay-logs/"
	m1=$(machine_busy)
	sleep 0.05   # let socat reap its forked child (its CPU moves to cutime)
	v1=$(vx_ticks); f1=$(ticks_us $SOCAT_BULK_PIDS); s1=$(ticks_us "$PID_SRC")
	read -r _ secs mibs sinkcpu <<<"$out"
	read -r -a a <<<"$v0"; read -r -a b <<<"$v1"
	local -A du ds
	local i=0 n
	for n in "${NODES[@]}"; do
		du[$n]=$(( b[2 * i] - a[2 * i] )); ds[$n]=$(( b[2 * i + 1] - a[2 * i + 1] )); i=$((i + 1))
	done
	local fu=0 fs=0 rel=0
	if [ "$p" = socat3 ]; then
		read -r -a a <<<"$f0"; read -r -a b <<<"$f1"
		fu=$(( b[0] - a[0] )); fs=$(( b[1] - a[1] ))
	elif [ "$p" != tcp ]; then
		for n in "${NODES[@]}"; do fu=$((fu + du[$n])); fs=$((fs + ds[$n])); done
		for n in "${RELAYS[@]}"; do rel=$((rel + du[$n] + ds[$n])); done
	fi
	read -r -a a <<<"$s0"; read -r -a b <<<"$s1"
	local src=$(( b[0] + b[1] - a[0] - a[1] ))
	local g hz=$TCK
	g=$(awk -v b="$BYTES" 'BEGIN { printf "%.6f", b / 1073741824 }')
	R_MIBS[$p]+=" $mibs"
	R_END[$p]+=" $(awk -v d=$src -v c="$sinkcpu" -v hz=$hz -v g=$g 'BEGIN { printf "%.3f", (d / hz + c) / g }')"
	R_CORES[$p]+=" $(awk -v f=$((fu + fs + src)) -v c="$sinkcpu" -v hz=$hz -v t="$secs" 'BEGIN { printf "%.2f", (f / hz + c) / t }')"
	R_MCORES[$p]+=" $(awk -v d=$((m1 - m0)) -v hz=$hz -v t="$secs" 'BEGIN { printf "%.2f", d / hz / t }')"
	if [ "$p" != tcp ]; then
		R_FWD[$p]+=" $(awk -v d=$((fu + fs)) -v hz=$hz -v g=$g 'BEGIN { printf "%.3f", d / hz / g }')"
		R_FWDU[$p]+=" $(awk -v d=$fu -v hz=$hz -v g=$g 'BEGIN { printf "%.3f", d / hz / g }')"
		R_FWDS[$p]+=" $(awk -v d=$fs -v hz=$hz -v g=$g 'BEGIN { printf "%.3f", d / hz / g }')"
	fi
	if [ "$p" != tcp ] && [ "$p" != socat3 ]; then
		R_OWN[$p]+=" $(awk -v d=$((du[a] + ds[a])) -v hz=$hz -v g=$g 'BEGIN { printf "%.3f", d / hz / g }')"
		R_CLI[$p]+=" $(awk -v d=$((du[c] + ds[c])) -v hz=$hz -v g=$g 'BEGIN { printf "%.3f", d / hz / g }')"
		[ "${NHOPS[$p]}" -gt 0 ] &&
			R_REL[$p]+=" $(awk -v d=$rel -v k="${NHOPS[$p]}" -v hz=$hz -v g=$g 'BEGIN { printf "%.3f", d / hz / g / k }')"
	fi
	return 0
}

latency_once() {   # latency_once PATH
	local p=$1 out p50 p99
	out=$("$B" pingpong "${PORT_ECHO[$p]}" "$PINGS") || die "ping-pong through $p failed; logs in $OUT/relay-logs/"
	read -r p50 p99 _ <<<"$out"
	R_P50[$p]+=" $p50"; R_P99[$p]+=" $p99"
}

LOADS=()
for r in $(seq "$REPEAT"); do
	LOADS+=("$(cut -d' ' -f1 /proc/loadavg)")
	log "pass $r/$REPEAT: bulk ($((BYTES / 1048576)) MiB per path; load $(cut -d' ' -f1-3 /proc/loadavg))"
	for p in "${PATHS[@]}"; do bulk_once "$p"; done
	log "pass $r/$REPEAT: latency ($PINGS round trips per path)"
	for p in "${PATHS[@]}"; do latency_once "$p"; done
done
declare -A HWM
for n in "${NODES[@]}"; do HWM[$n]=$(hwm_kib "${NPID[$n]}"); done

med() { median <<<"${1:-}" | awk -v d="${2:-2}" '{ if ($1 == "-") print "-"; else printf "%.*f", d, $1 }'; }
declare -A MIBS FWD FWDU FWDS OWN CLI REL END CORES MCORES P50 P99
for p in "${PATHS[@]}"; do
	MIBS[$p]=$(med "${R_MIBS[$p]}" 1); END[$p]=$(med "${R_END[$p]}")
	CORES[$p]=$(med "${R_CORES[$p]}"); MCORES[$p]=$(med "${R_MCORES[$p]}")
	FWD[$p]=$(med "${R_FWD[$p]:-}"); FWDU[$p]=$(med "${R_FWDU[$p]:-}"); FWDS[$p]=$(med "${R_FWDS[$p]:-}")
	OWN[$p]=$(med "${R_OWN[$p]:-}"); CLI[$p]=$(med "${R_CLI[$p]:-}"); REL[$p]=$(med "${R_REL[$p]:-}")
	P50[$p]=$(med "${R_P50[$p]}" 1); P99[$p]=$(med "${R_P99[$p]}" 1)
done

# ------------------------------------------------------- circuit setup time
# From starting the command to the first successful 1-byte round trip
# through the new port (vx6bench coldwait/cold). Relays: `vx6 connect
# --service a.echo --relay N --detach` (resolution from c's registry, path
# choice, telescoping build, BEGIN, the first stream). vx6 direct mode:
# `vx6 connect --addr --peer-key --detach` (a fresh session: TCP connect,
# Noise IK, the first stream; closed after each run, and the script waits
# until c and a are back to their session counts). socat: starting the three
# processes. The relay setup forwards stay open until the end (see below).
declare -A R_SETUP R_BUILD SETUP_FAILS NEWSESS
total_sessions() { local n t=0; for n in "${NODES[@]}"; do t=$((t + $(sj "$n" '.sessions | length'))); done; echo $t; }
wait_state() {   # wait_state WHAT EXPECTED CMD...: polls CMD's output
	local what=$1 want=$2 got=""
	shift 2
	for _ in $(seq 400); do got=$("$@") && [ "$got" = "$want" ] && return 0; sleep 0.025; done
	die "$what: $got, expected $want"
}

setup_runs() {   # setup_runs PATH
	local p=$1 n=0 fails=0 out us st cp_ s0 s1 base_sc base_sa pg
	SETUP_FAILS[$p]=0; NEWSESS[$p]=0
	base_sc=$(sj c '.sessions | length'); base_sa=$(sj a '.sessions | length')
	while [ $n -lt "$COLD_RUNS" ]; do
		cp_=$(port)
		s0=$(total_sessions)
		case $p in
		r[123])
			out=$("$B" coldwait "$cp_" 20000 "$V" --home "$T/c" connect --service a.echo \
				--listen "127.0.0.1:$cp_" --relay "${p#r}" --detach 2>>"$T/setup-$p.log") || out=""
			;;
		vx6)
			out=$("$B" coldwait "$cp_" 20000 "$V" --home "$T/c" connect --service echo \
				--addr "[::1]:${NPORT[a]}" --listen "127.0.0.1:$cp_" --peer-key "$KEY_A" --detach \
				2>>"$T/setup-$p.log") || out=""
			;;
		socat3)
			# One process group (vx6bench cold puts the command in its own);
			# the pgid file lets a timed-out attempt be cleaned up too.
			local q3 q2
			q3=$(port); q2=$(port)
			out=$("$B" cold "$cp_" 20000 sh -c "echo \$\$ >'$T/socat-cold.pgid'
				socat -b 131072 TCP-LISTEN:$q3,bind=127.0.0.1,fork,reuseaddr,nodelay TCP:127.0.0.1:$P_ECHO,nodelay &
				socat -b 131072 TCP-LISTEN:$q2,bind=127.0.0.1,fork,reuseaddr,nodelay TCP:127.0.0.1:$q3,nodelay &
				exec socat -b 131072 TCP-LISTEN:$cp_,bind=127.0.0.1,fork,reuseaddr,nodelay TCP:127.0.0.1:$q2,nodelay" \
				2>>"$T/setup-$p.log") || out=""
			pg=$(cat "$T/socat-cold.pgid" 2>/dev/null || true)
			rm -f "$T/socat-cold.pgid"
			if [ -n "$pg" ]; then
				GROUPS_+=("$pg")
				kill -TERM -- "-$pg" 2>/dev/null || true
				# (zombies do not count: the group's leader is reparented to init)
				for _ in $(seq 200); do ps -e -o pgid=,stat= | awk -v g="$pg" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }' || break; sleep 0.01; done
			fi
			;;
		esac
		if [ -z "$out" ]; then
			# A timed-out attempt is retried (the machine may be busy); a path
			# that keeps failing is a real failure.
			fails=$((fails + 1)); SETUP_FAILS[$p]=$fails
			log "setup through $p: attempt failed ($fails), see $T/setup-$p.log"
			[ $fails -le 3 ] || die "setup through $p keeps failing: $(tail -n 5 "$T/setup-$p.log")"
		else
			read -r us _ st <<<"$out"
			[ "$p" = socat3 ] || [ "$st" = 0 ] || die "setup through $p: vx6 connect exited $st"
			R_SETUP[$p]+=" $us"
			n=$((n + 1))
		fi
		case $p in
		r[123])
			s1=$(total_sessions)
			NEWSESS[$p]=$(( NEWSESS[$p] + s1 - s0 ))
			[ -n "$out" ] && R_BUILD[$p]+=" $(sj c '.circuits[0].build_ms')"
			# The forward and its circuit stay open until the end: closing a
			# circuit leaves a freed hop in the relays' session tables (see
			# "Relays" in docs/BENCHMARKS.md), and the next end of such a
			# session crashes the node. A timed-out attempt is closed.
			[ -n "$out" ] || vx6 c connect close "127.0.0.1:$cp_" >/dev/null 2>&1 || true
			;;
		vx6)
			s1=$(total_sessions)
			NEWSESS[$p]=$(( NEWSESS[$p] + s1 - s0 ))
			vx6 c connect close "127.0.0.1:$cp_" >/dev/null 2>&1 || true
			wait_state "sessions of c after closing a setup forward" "$base_sc" sj c '.sessions | length'
			wait_state "sessions of a after closing a setup forward" "$base_sa" sj a '.sessions | length'
			;;
		esac
	done
}
declare -A SETUP BUILD
for p in vx6 r1 r2 r3 socat3; do
	log "setup time: $p ($COLD_RUNS runs)"
	setup_runs "$p"
	SETUP[$p]=$(median <<<"${R_SETUP[$p]}" | awk '{ printf "%.2f", $1 / 1000 }')
	BUILD[$p]=$([ -n "${R_BUILD[$p]:-}" ] && med "${R_BUILD[$p]}" || echo -)
done
SETUP[tcp]=-; BUILD[tcp]=-

END_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------ report
describe_run
SOCAT_VERSION=$(socat -V 2>/dev/null | awk '/socat version/ { print $3; exit }')

verdict() { awk -v a="$1" -v b="$2" 'BEGIN { print (a >= b) ? "PASS" : "MISS" }'; }
short_by() {   # short_by MEASURED TARGET_VALUE: "needs +X % (to N MiB/s)" or "-"
	awk -v m="$1" -v t="$2" 'BEGIN { if (m >= t) print "-"; else printf "needs +%.0f %% (to %.0f MiB/s)", (t / m - 1) * 100, t }'
}
R3_VX=$(ratio "${MIBS[r3]}" "${MIBS[vx6]}")
R3_SO=$(ratio "${MIBS[r3]}" "${MIBS[socat3]}")
T_VX=$(awk -v x="${MIBS[vx6]}" 'BEGIN { printf "%.1f", 0.5 * x }')
TARGETS=(
	"3-hop bulk >= 0.5x vx6 direct mode|${R3_VX}x (${MIBS[r3]} vs ${MIBS[vx6]} MiB/s)|$(verdict "$R3_VX" 0.5)|$(short_by "${MIBS[r3]}" "$T_VX")"
	"3-hop bulk >= 1x socat 3-hop chain|${R3_SO}x (${MIBS[r3]} vs ${MIBS[socat3]} MiB/s)|$(verdict "$R3_SO" 1)|$(short_by "${MIBS[r3]}" "${MIBS[socat3]}")"
)

row_vals() {
	local p=$1
	echo "${LABEL[$p]}|${NHOPS[$p]}|$(fmt "${MIBS[$p]}")|$(ratio "${MIBS[$p]}" "${MIBS[vx6]}")|$(ratio "${MIBS[$p]}" "${MIBS[socat3]}")|$(fmt "${P50[$p]}")|$(fmt "${P99[$p]}")|$(awk -v a="${P50[$p]}" -v b="${P50[tcp]}" 'BEGIN { printf "%+.1f", a - b }')|$(ratio "${P50[$p]}" "${P50[vx6]}")|${SETUP[$p]}"
}
HEAD="path|relays|bulk MiB/s|x vx6 direct|x socat chain|p50 us|p99 us|added p50 us|p50 x vx6 direct|setup ms"
cpu_vals() {
	local p=$1
	echo "${LABEL[$p]}|${FWD[$p]}|${FWDU[$p]}|${FWDS[$p]}|${OWN[$p]}|${REL[$p]}|${CLI[$p]}|${END[$p]}|${CORES[$p]}|${MCORES[$p]}"
}
CPU_HEAD="path|forwarders s/GiB|user|system|owner a|per relay|client c|endpoints s/GiB|cores busy (ours)|cores busy (machine)"
spread_vals() {
	local p=$1
	echo "${LABEL[$p]}|$(spread 1 <<<"${R_MIBS[$p]}")|$(spread 1 <<<"${R_P50[$p]}")|$(spread 1 <<<"${R_P99[$p]}")|$(spread 2 <<<"${R_FWD[$p]:-}")|$(spread 2 <<<"${R_MCORES[$p]}")|$([ -n "${R_SETUP[$p]:-}" ] && spread 0 <<<"${R_SETUP[$p]}" | awk -F- '{ printf "%.2f-%.2f", $1 / 1000, $2 / 1000 }' || echo -)"
}
SPREAD_HEAD="path|bulk MiB/s|p50 us|p99 us|forwarders s/GiB|cores busy (machine)|setup ms"
PATH_LINES=(
	"--relay 1: bulk ${PATH_OF[r1-bench]}; echo ${PATH_OF[r1-echo]}"
	"--relay 2: bulk ${PATH_OF[r2-bench]}; echo ${PATH_OF[r2-echo]}"
	"--relay 3: bulk ${PATH_OF[r3-bench]}; echo ${PATH_OF[r3-echo]}"
)
# Sessions are counted at both of their ends: halve.
nsess() { awk -v s="${NEWSESS[$1]}" -v n="$COLD_RUNS" 'BEGIN { printf "%.1f", s / 2 / n }'; }
SETUP_NOTE="new sessions per setup run: vx6 direct $(nsess vx6), --relay 1/2/3 $(nsess r1)/$(nsess r2)/$(nsess r3) (0 = every hop used a session that was already up); circuit build alone (status build_ms, median): 1 relay ${BUILD[r1]} ms, 2 relays ${BUILD[r2]} ms, 3 relays ${BUILD[r3]} ms; retried attempts: vx6 ${SETUP_FAILS[vx6]}, relays ${SETUP_FAILS[r1]}/${SETUP_FAILS[r2]}/${SETUP_FAILS[r3]}, socat ${SETUP_FAILS[socat3]}"
HWM_LINE="VmHWM after the run (KiB): a ${HWM[a]}, r1 ${HWM[r1]}, r2 ${HWM[r2]}, r3 ${HWM[r3]}, c ${HWM[c]}"

{
	echo "VX6 relay benchmark (loopback, one run; ratios from the same run)"
	echo "date      $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "machine   $CPU_MODEL, $(nproc) cores, Linux $(uname -r)"
	echo "load      at start $START_LOAD, at end $END_LOAD (1/5/15 min); 1-min load at each pass: ${LOADS[*]}"
	echo "vx6       $VX6_VERSION, commit $COMMIT; sessions: $AEAD; cells: ChaCha20 layers + BLAKE2b MAC"
	echo "others    socat $SOCAT_VERSION"
	echo "sizes     per path and pass: bulk $((BYTES / 1048576)) MiB, $PINGS ping-pongs; medians of $REPEAT passes; setup: median of $COLD_RUNS runs"
	echo
	{ echo "$HEAD"; for p in "${PATHS[@]}"; do row_vals "$p"; done; } | table
	echo
	echo "CPU per GiB during bulk (forwarders = all five vx6 nodes, or the three socat processes; per relay = relay nodes / relays on the path)"
	{ echo "$CPU_HEAD"; for p in "${PATHS[@]}"; do cpu_vals "$p"; done; } | table
	echo
	echo "spread over the $REPEAT passes (min-max; the tables above show medians)"
	{ echo "$SPREAD_HEAD"; for p in "${PATHS[@]}"; do spread_vals "$p"; done; } | table
	echo
	printf 'circuits  %s\n' "${PATH_LINES[@]}"
	echo "setup     $SETUP_NOTE"
	echo "memory    $HWM_LINE"
	echo
	{ echo "target|measured|result|short by"; for t in "${TARGETS[@]}"; do echo "$t"; done; } | table
} | tee "$OUT/relay-results.txt"

{
	echo "| | |"
	echo "|---|---|"
	echo "| date | $(date -u '+%Y-%m-%d %H:%M:%S UTC') |"
	echo "| machine | $CPU_MODEL, $(nproc) cores, Linux $(uname -r) |"
	echo "| load average | at start $START_LOAD, at end $END_LOAD (1/5/15 min); 1-min load at the start of each pass: ${LOADS[*]} |"
	echo "| vx6 | $VX6_VERSION, commit $COMMIT; sessions: $AEAD |"
	echo "| others | socat $SOCAT_VERSION |"
	echo "| sizes | per path and pass: bulk $((BYTES / 1048576)) MiB, $PINGS ping-pongs; medians of $REPEAT passes; setup: median of $COLD_RUNS runs |"
	echo
	echo "| ${HEAD//|/ | } |"
	echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
	for p in "${PATHS[@]}"; do v=$(row_vals "$p"); echo "| ${v//|/ | } |"; done
	echo
	echo "| ${CPU_HEAD//|/ | } |"
	echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
	for p in "${PATHS[@]}"; do v=$(cpu_vals "$p"); echo "| ${v//|/ | } |"; done
	echo
	echo "Spread over the $REPEAT passes (min-max; the tables above show medians):"
	echo
	echo "| ${SPREAD_HEAD//|/ | } |"
	echo "|---|--:|--:|--:|--:|--:|--:|"
	for p in "${PATHS[@]}"; do v=$(spread_vals "$p"); echo "| ${v//|/ | } |"; done
	echo
	echo "Circuits measured:"
	echo
	printf -- '* %s\n' "${PATH_LINES[@]}"
	echo
	echo "Setup: $SETUP_NOTE."
	echo
	echo "$HWM_LINE."
	echo
	echo "| target | measured | result | short by |"
	echo "|---|---|---|---|"
	for t in "${TARGETS[@]}"; do echo "| ${t//|/ | } |"; done
} >"$OUT/relay-results.md"
log "wrote $OUT/relay-results.md"
