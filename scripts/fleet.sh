#!/usr/bin/env bash
# The full fleet test: three and more real h2gate processes behind a real haproxy, with the
# manifests' drain timing (deploy/k8s/base/h2gate.env), two rolling updates in each haproxy mode,
# scale-out under roundrobin and leastconn, PROXY protocol v1/v2 (tests/fleet/fleet.py).
# Bounded: a few minutes, at most 25. Loopback only.
#   bash scripts/fleet.sh [PATH/TO/h2gate]     (default: build/server/h2gate)
# Needs haproxy, protoc and Debian's python3-grpcio (apt-get install haproxy protobuf-compiler
# python3-grpcio python3-protobuf); it builds nothing: build h2gate first (scripts/test.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-${BUILD_DIR:-build}/server/h2gate}
if [[ ! -x "$binary" ]]; then
  echo "no h2gate binary at $binary: build it first (cmake --build build --target h2gate)" >&2
  exit 1
fi
ulimit -n "$(ulimit -Hn)"
exec bash tests/fleet/run.sh "$binary" --full "${@:2}"
