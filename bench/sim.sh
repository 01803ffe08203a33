#!/usr/bin/env bash
# bench/sim.sh — DHT lookups on the simulated network (tests/sim/sim_dht.c:
# the real DHT core, thousands of nodes in one process, virtual time, one
# seed): lookup success rate, hops and messages per lookup, with and without
# churn, at 10,000 nodes and (for the growth of hops with N) at 1,000.
# Prints a text table and writes build/bench/sim-results.md (and .txt).
# See docs/BENCHMARKS.md, section "Named mode".
#
# Each run is one `sim_dht --nodes N --churn F --lookups L --seed S`: N nodes
# join (20 ms apart, each through a random live node), 100 of them publish a
# signed service record, a fraction F of the nodes dies and as many new ones
# join, the network runs 12 virtual minutes (past a republish interval), then
# L lookups from random live nodes for random published names.
#
# Environment (defaults in brackets):
#   BENCH_SIM_NODES    the large network [10000]
#   BENCH_SIM_SMALL    the small network, for hops vs N; 0 skips it [1000]
#   BENCH_SIM_CHURNS   churn fractions, each run at both sizes [0 0.2]
#   BENCH_SIM_LOOKUPS  lookups per run [1000, sim_dht's default]
#   BENCH_SIM_SEED     the seed of every run (same seed: same network) [1]
#   BENCH_SIM          the simulator [build/tests/sim_dht]; built with
#                      `cmake --build build --target sim_dht` when missing
#   BENCH_OUT          where the results go [build/bench]
#   BENCH_SIM_COMMIT   the commit to print for it, when it was not built from
#                      this checkout [the checkout's HEAD]
#
# Runs one simulation at a time, so wall time means something on a shared
# machine. Not a test: a success rate under sim_dht's 99% is reported (MISS),
# not fatal; the script fails only when a simulation does not finish.
set -euo pipefail
ME=bench-sim
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"   # log, die, table

cd "$(dirname "$0")/.."
ROOT=$PWD
SIM=${BENCH_SIM:-$ROOT/build/tests/sim_dht}
OUT=${BENCH_OUT:-$ROOT/build/bench}

BIG=${BENCH_SIM_NODES:-10000}
SMALL=${BENCH_SIM_SMALL:-1000}
CHURNS=${BENCH_SIM_CHURNS:-0 0.2}
LOOKUPS=${BENCH_SIM_LOOKUPS:-1000}
SEED=${BENCH_SIM_SEED:-1}

for v in BIG LOOKUPS SEED; do
	[[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || die "${v}=${!v}: must be a positive number"
done
[[ $SMALL =~ ^[0-9]+$ ]] || die "BENCH_SIM_SMALL=$SMALL: must be a number (0 skips)"
for c in $CHURNS; do
	[[ $c =~ ^(0|0?\.[0-9]+)$ ]] || die "BENCH_SIM_CHURNS: '$c' is not a fraction in [0, 1)"
done

if [ ! -x "$SIM" ]; then
	[ -z "${BENCH_SIM:-}" ] || die "BENCH_SIM=$SIM is not an executable"
	[ -f "$ROOT/build/CMakeCache.txt" ] || die "$SIM is missing and build/ is not configured (run make build)"
	log "building sim_dht"
	cmake --build "$ROOT/build" --target sim_dht -j"$(nproc)" >/dev/null || die "cannot build sim_dht"
	[ -x "$SIM" ] || die "built sim_dht, but $SIM does not exist"
fi
mkdir -p "$OUT"
T=$(mktemp -d /tmp/vx6-bench-sim.XXXXXX)
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT TERM

GNU_TIME=""
/usr/bin/time -f %M true >/dev/null 2>&1 && GNU_TIME=/usr/bin/time

START_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
SIZES=$BIG
[ "$SMALL" -gt 0 ] && SIZES="$SMALL $BIG"
log "load average $START_LOAD; sizes $SIZES, churn $CHURNS, $LOOKUPS lookups, seed $SEED"

ROWS=()
declare -A MEAN SUCC
for n in $SIZES; do
	for c in $CHURNS; do
		id="$n-$c"
		load1=$(cut -d' ' -f1 /proc/loadavg)
		log "sim_dht --nodes $n --churn $c --lookups $LOOKUPS --seed $SEED (load $load1)"
		t0=$(date +%s%N)
		st=0
		if [ -n "$GNU_TIME" ]; then
			"$GNU_TIME" -o "$T/$id.time" -f '%U %S %M' "$SIM" --nodes "$n" --churn "$c" \
				--lookups "$LOOKUPS" --seed "$SEED" >"$T/$id.out" 2>"$T/$id.err" || st=$?
		else
			"$SIM" --nodes "$n" --churn "$c" --lookups "$LOOKUPS" --seed "$SEED" \
				>"$T/$id.out" 2>"$T/$id.err" || st=$?
			echo "- - -" >"$T/$id.time"
		fi
		wall=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
		line=$(grep -m1 '^nodes=' "$T/$id.out" || true)
		# sim_dht exits 1 when fewer than 99% of lookups succeed; without its
		# result line the simulation itself failed.
		[ -n "$line" ] || die "sim_dht --nodes $n --churn $c did not finish (exit $st): $(tail -n 3 "$T/$id.err" "$T/$id.out")"
		[ "$st" = 0 ] || [ "$st" = 1 ] || die "sim_dht --nodes $n --churn $c exited $st: $(tail -n 3 "$T/$id.err")"
		cat "$T/$id.out" >&2
		kv() { sed -n "s#.*[ ]$1=\([^ ]*\).*#\1#p" <<<" $line"; }
		stores=$(kv stores); lk=$(kv lookups); found=$(kv found); succ=$(kv success); succ=${succ%\%}
		mean=$(sed -n 's/.*hops mean=\([^ ]*\).*/\1/p' <<<"$line"); p95=$(kv p95)
		mpl=$(kv msgs/lookup); bg=$(kv all-msgs/node/s); events=$(kv events); cpu=$(kv cpu); cpu=${cpu%s}
		cache=$(sed -n 's/.*cache: \([0-9]*\) hits, \([0-9]*\) misses.*/\1 \2/p' "$T/$id.out")
		read -r hits misses <<<"${cache:-- -}"
		read -r ut stt rss <<<"$(cat "$T/$id.time")"
		rss_mib=$(awk -v k="$rss" 'BEGIN { if (k == "-") print "-"; else printf "%.0f", k / 1024 }')
		verdict=$(awk -v s="$succ" 'BEGIN { print (s >= 99) ? "ok" : "MISS" }')
		MEAN[$id]=$mean; SUCC[$id]=$succ
		ROWS+=("$n|$(awk -v c="$c" 'BEGIN { printf "%.0f%%", c * 100 }')|$found/$lk|$succ% ($verdict)|$mean|$p95|$mpl|$bg|$stores|$events|$cpu|$wall|$ut|$stt|$rss_mib|$load1")
	done
done
END_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)

GROWTH=()
if [ "$SMALL" -gt 0 ]; then
	for c in $CHURNS; do
		a=${MEAN[$SMALL-$c]}; b=${MEAN[$BIG-$c]}
		GROWTH+=("churn $(awk -v c="$c" 'BEGIN { printf "%.0f%%", c * 100 }'): mean hops $a at $SMALL nodes, $b at $BIG nodes: x$(awk -v a="$a" -v b="$b" 'BEGIN { if (a + 0 == 0) print "-"; else printf "%.2f", b / a }') ($(awk -v a="$a" -v b="$b" 'BEGIN { printf "%+.2f", b - a }')); log2 N grows x$(awk -v s="$SMALL" -v l="$BIG" 'BEGIN { printf "%.2f", log(l) / log(s) }'), N x$(awk -v s="$SMALL" -v l="$BIG" 'BEGIN { printf "%.0f", l / s }')")
	done
fi

CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- src tests/sim 2>/dev/null || COMMIT="$COMMIT (src/ or tests/sim modified)"
COMMIT=${BENCH_SIM_COMMIT:-$COMMIT}
HEAD="nodes|churn|found/lookups|success|hops mean|hops p95|msgs/lookup|all msgs/node/s|stores ok|events|sim cpu s|wall s|user s|sys s|max RSS MiB|load at start"

{
	echo "VX6 DHT simulation (tests/sim/sim_dht, one process, virtual time)"
	echo "date      $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "machine   $CPU_MODEL, $(nproc) cores, Linux $(uname -r)"
	echo "load      at start $START_LOAD, at end $END_LOAD (1/5/15 min)"
	echo "sim       $SIM, commit $COMMIT; seed $SEED, $LOOKUPS lookups per run, 100 publishers"
	echo
	{ echo "$HEAD"; printf '%s\n' "${ROWS[@]}"; } | table
	echo
	for g in "${GROWTH[@]}"; do echo "growth    $g"; done
} | tee "$OUT/sim-results.txt"

{
	echo "| | |"
	echo "|---|---|"
	echo "| date | $(date -u '+%Y-%m-%d %H:%M:%S UTC') |"
	echo "| machine | $CPU_MODEL, $(nproc) cores, Linux $(uname -r) |"
	echo "| load average | at start $START_LOAD, at end $END_LOAD (1/5/15 min) |"
	echo "| simulator | \`tests/sim/sim_dht\`, commit $COMMIT; seed $SEED, $LOOKUPS lookups per run, 100 publishers |"
	echo
	echo "| ${HEAD//|/ | } |"
	echo "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
	for r in "${ROWS[@]}"; do echo "| ${r//|/ | } |"; done
	echo
	for g in "${GROWTH[@]}"; do echo "* Growth, $g."; done
} >"$OUT/sim-results.md"
log "wrote $OUT/sim-results.md"
