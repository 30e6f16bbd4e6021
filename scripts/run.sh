#!/usr/bin/env bash
# Builds h2gate (Release) and runs it with the demo echo.v1.Echo service on 0.0.0.0:8080.
# Extra arguments go to h2gate, e.g. scripts/run.sh --listen=127.0.0.1:9000
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh build
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DH2GATE_BUILD_TESTS=OFF >/dev/null
cmake --build build-release -j"$(nproc)" --target h2gate
exec build-release/server/h2gate "$@"
