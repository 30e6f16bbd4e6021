#!/usr/bin/env bash
# Soaks the real binary under mixed load (gRPC unary and streaming, 426s with keep-alive,
# connection churn, silent and half-closed connections, a rapid-reset burst a second) for SECONDS (default 120), then checks
# for leaks and counter consistency. Bounded: SECONDS plus about 30 s.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-120}
bash scripts/install-deps.sh test
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target h2gate soak
ulimit -n "$(ulimit -Hn)"
timeout $((seconds + 120)) "$build/tests/soak" "$build/server/h2gate" "$seconds"
