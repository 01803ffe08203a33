#!/usr/bin/env bash
# Runs every built libFuzzer target for SECONDS each (default: FUZZ_SECONDS or
# 10), one after the other, through scripts/fuzz-one.sh. Used by `make fuzz`.
#
#   scripts/fuzz.sh [SECONDS]
#
# Targets are taken from $FUZZ_BUILD_DIR/tests/fuzz (default build-fuzz/).
# Exits non-zero when any target fails; each failure's files are kept in the
# temporary directory fuzz-one.sh prints.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
secs=${1:-${FUZZ_SECONDS:-10}}
builddir=${FUZZ_BUILD_DIR:-$root/build-fuzz}

case $secs in
  ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

targets=()
for t in "$builddir"/tests/fuzz/fuzz_*; do
  [ -f "$t" ] && [ -x "$t" ] && targets+=("$t")
done
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no targets in $builddir/tests/fuzz (build them with: make fuzz-build)" >&2
  exit 2
fi

failed=()
for t in "${targets[@]}"; do
  echo "== $(basename "$t") (${secs}s)"
  if ! FUZZ_SECONDS=$secs bash "$root/scripts/fuzz-one.sh" "$t"; then
    failed+=("$(basename "$t")")
  fi
done

echo "== fuzz: ${#targets[@]} targets, ${#failed[@]} failed${failed:+: ${failed[*]}}"
[ ${#failed[@]} -eq 0 ]
