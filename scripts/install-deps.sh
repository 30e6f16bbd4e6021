#!/usr/bin/env bash
# Installs the Debian 12 packages h2gate needs. Usage: install-deps.sh build|test
#   build: compiler, CMake and the libraries the gateway links
#   test:  build, plus the real clients and tools the test suite drives
set -euo pipefail

what=${1:-build}
build_pkgs=(
  build-essential cmake pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libboost1.81-dev libspdlog-dev libfmt-dev libnghttp2-dev libssl-dev
)
test_pkgs=(
  libgtest-dev libgmock-dev nghttp2-client
  curl openssl python3 python3-grpcio python3-protobuf python3-yaml prometheus haproxy
)
case "$what" in
  build) pkgs=("${build_pkgs[@]}") ;;
  test) pkgs=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
  *) echo "usage: $0 build|test" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
  sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}"
