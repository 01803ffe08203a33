# VX6 top-level targets. Each installs missing Debian packages first.
#   make          build (build/)
#   make test     unit + integration tests, release and ASan/UBSan builds, short fuzz runs
#   make demo     a local demo network on loopback
#   make bench    benchmarks (prints ratio tables)
#   make fuzz     libFuzzer targets (build-fuzz/), FUZZ_SECONDS each
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 20

.PHONY: all build asan test unit demo bench bench-sim fuzz fuzz-build deps clean check-layers

all: build

deps:
	@scripts/deps.sh build

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build -j$(JOBS)

asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DVX6_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j$(JOBS)

test:
	@scripts/run-tests.sh

unit: build
	@cd build && ctest --output-on-failure -L unit

demo:
	@scripts/demo.sh

bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory build
	@bench/run.sh
	@bench/relay.sh
	@bench/quic.sh
	@bench/named.sh

# The 10,000-node DHT simulation (about 20 minutes on 2 cores).
bench-sim: build
	@bench/sim.sh

fuzz-build:
	@scripts/deps.sh test
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DVX6_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j$(JOBS)

fuzz: fuzz-build
	@scripts/fuzz.sh $(FUZZ_SECONDS)

check-layers:
	@scripts/check-layers.sh

clean:
	rm -rf build build-asan build-fuzz
