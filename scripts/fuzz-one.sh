#!/usr/bin/env bash
# Runs one libFuzzer target: first over every seed in tests/fuzz/seeds/<name>/
# (regression), then fuzzing for FUZZ_SECONDS (default 10) from a fresh copy of
# the seeds in a temporary directory.
#
#   scripts/fuzz-one.sh build-fuzz/tests/fuzz/fuzz_frame [libFuzzer args...]
#
# Exits with libFuzzer's status: non-zero on a crash, leak, timeout, OOM or
# sanitizer report. The temporary directory (corpus, log, crash files) is
# kept and printed when the run fails, removed when it passes; set
# FUZZ_KEEP=1 to keep it anyway. FUZZ_MAX_LEN overrides the per-target -max_len.
set -uo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 TARGET_BINARY [libFuzzer args...]" >&2
  exit 2
fi
bin=$1
shift
name=$(basename "$bin")
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seeds=$root/tests/fuzz/seeds/$name
secs=${FUZZ_SECONDS:-10}

if [ ! -x "$bin" ]; then
  echo "fuzz-one: $bin is not an executable (build with: make fuzz-build)" >&2
  exit 2
fi

# Inputs longer than any valid message plus room to mutate.
case $name in
  fuzz_addr) maxlen=128 ;;
  fuzz_keyfile) maxlen=1024 ;;
  fuzz_handshake) maxlen=640 ;;       # 3 control bytes + a 512-byte message + slack
  fuzz_frame) maxlen=4096 ;;
  fuzz_record) maxlen=4096 ;;        # records are at most 1024 bytes; sync carries several
  fuzz_dht) maxlen=4096 ;;           # a sequence of short messages and clock steps
  fuzz_pins) maxlen=4096 ;;
  fuzz_ctl) maxlen=8192 ;;
  fuzz_config) maxlen=8192 ;;
  fuzz_session) maxlen=16384 ;;       # operation sequences; large frames are synthesized
  fuzz_circuit) maxlen=8192 ;;
  fuzz_quic) maxlen=6144 ;;          # several datagrams of up to 1452 bytes, or an operation sequence
  *) maxlen=4096 ;;
esac
maxlen=${FUZZ_MAX_LEN:-$maxlen}

work=$(mktemp -d "${TMPDIR:-/tmp}/vx6-$name.XXXXXX")
mkdir -p "$work/corpus" "$work/artifacts"
log=$work/fuzz.log

# Leaks count as failures; UB stops the run (the library objects are built
# with recoverable UBSan). The caller's options come last and win.
export ASAN_OPTIONS="detect_leaks=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"

common=(-rss_limit_mb=2048 -timeout=10 "-artifact_prefix=$work/artifacts/")

fail() {
  local status=$1 what=$2
  echo "fuzz-one: $name FAILED ($what, exit status $status)"
  tail -n 80 "$log"
  echo "fuzz-one: log, corpus and crash files kept in $work"
  ls -l "$work/artifacts" 2>/dev/null | sed 's/^/  /'
  echo "fuzz-one: reproduce with: $bin <crash file>"
  exit "$status"
}

# 1. Regression: every seed once (reproducers of past bugs live here too).
shopt -s nullglob
seedfiles=("$seeds"/*)
shopt -u nullglob
if [ ${#seedfiles[@]} -gt 0 ]; then
  echo "fuzz-one: $name: ${#seedfiles[@]} seeds from ${seeds#"$root"/}"
  "$bin" "${common[@]}" "$@" "${seedfiles[@]}" >"$log" 2>&1
  status=$?
  if [ $status -ne 0 ]; then
    failing=$(grep -E '^Running: ' "$log" | tail -n 1 | sed 's/^Running: //')
    fail $status "seed ${failing#"$root"/} fails"
  fi
  cp "${seedfiles[@]}" "$work/corpus/"
else
  echo "fuzz-one: $name: no seeds in ${seeds#"$root"/}, starting from an empty corpus"
fi

# 2. Fuzzing.
echo "fuzz-one: $name: fuzzing for ${secs}s (-max_len=$maxlen)"
"$bin" "${common[@]}" -max_total_time="$secs" -max_len="$maxlen" -print_final_stats=1 "$@" \
  "$work/corpus" >>"$log" 2>&1
status=$?
[ $status -eq 0 ] || fail $status "fuzzing found a failure"

summary=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -n 1)
execs=$(grep -E '^stat::average_exec_per_sec' "$log" | awk '{print $2}')
echo "fuzz-one: $name passed: ${summary:-no progress line} (exec/s ${execs:-?})"
if [ "${FUZZ_KEEP:-0}" = 1 ]; then
  echo "fuzz-one: kept $work"
else
  rm -rf "$work"
fi
exit 0
