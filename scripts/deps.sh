#!/usr/bin/env bash
# Installs the Debian packages VX6 needs to build, test, demo and benchmark.
# Idempotent: installs only what is missing. Usage: scripts/deps.sh [build|test|bench|all]
set -euo pipefail
what=${1:-all}

build_pkgs="cmake make pkg-config gcc clang libsodium-dev libuv1-dev libsqlite3-dev
  libjansson-dev libinih-dev libngtcp2-dev libngtcp2-crypto-gnutls-dev libgnutls28-dev"
test_pkgs="libcmocka-dev libclang-rt-14-dev curl python3 openssh-server openssh-client
  redis-server redis-tools postgresql postgresql-client nginx-light socat iproute2 nftables
  procps psmisc jq iputils-ping iptables libnetfilter-queue-dev"
bench_pkgs="openssh-server openssh-client socat procps time"

case "$what" in
  build) pkgs="$build_pkgs" ;;
  test)  pkgs="$build_pkgs $test_pkgs" ;;
  bench) pkgs="$build_pkgs $test_pkgs $bench_pkgs" ;;
  all)   pkgs="$build_pkgs $test_pkgs $bench_pkgs" ;;
  *) echo "usage: $0 [build|test|bench|all]" >&2; exit 2 ;;
esac

missing=()
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Servers used by tests are started privately by the tests; keep the packages'
# own service units from starting at install time where policy-rc.d is honoured.
if [ ! -e /usr/sbin/policy-rc.d ] && [ -z "$sudo" ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
