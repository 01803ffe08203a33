#!/usr/bin/env bash
# The README's test command (`make test`): installs what is missing, builds the
# release, ASan+UBSan and libFuzzer trees, then runs
#   1. unit tests on the release build,
#   2. everything on the ASan+UBSan build: unit, integration (real vx6
#      processes on loopback), network-namespace tests (root only; they skip
#      loudly otherwise) and short fuzz runs of every libFuzzer target.
# The last CTest summary covers step 2. FUZZ_SECONDS (default 10) per target.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc 2>/dev/null || echo 2)
export FUZZ_SECONDS=${FUZZ_SECONDS:-10}

scripts/deps.sh test

echo "== build: release (build/)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS"

echo "== build: libFuzzer targets (build-fuzz/, clang)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DVX6_FUZZ=ON >/dev/null
cmake --build build-fuzz -j"$JOBS"

echo "== build: ASan+UBSan (build-asan/)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DVX6_SANITIZE=ON \
  -DVX6_FUZZ_DIR="$PWD/build-fuzz" >/dev/null
cmake --build build-asan -j"$JOBS"

echo "== unit tests, release build"
(cd build && ctest --output-on-failure -L unit -j"$JOBS")

echo "== all tests, ASan+UBSan build (unit, integ, netns, fuzz)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd build-asan
# Unit tests run in parallel; integration, netns and fuzz tests are RUN_SERIAL.
ctest --output-on-failure -j"$JOBS"
