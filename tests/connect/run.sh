#!/usr/bin/env bash
# End-to-end test of h2gate with real Connect-ES clients (npm: @connectrpc/connect-node).
#   tests/connect/run.sh PATH/TO/h2gate
# 1. npm ci (pinned @connectrpc/connect, @connectrpc/connect-node, @bufbuild/protobuf)
# 2. connect_test.mjs: protoc makes a FileDescriptorSet of proto/echo/v1/echo.proto, the clients are
#    built from it (no codegen), and h2gate --http1-policy=allow on 127.0.0.1 must serve Connect
#    JSON over HTTP/1.1 and answer Connect binary and gRPC-Web with 415, counted in /metrics.
# Exits 0 only if all of that holds; 77 (skipped under ctest) without node, npm or protoc.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

h2gate=${1:-${H2GATE:-}}
if [[ -z "$h2gate" ]]; then
  echo "usage: $0 PATH/TO/h2gate" >&2
  exit 2
fi
h2gate=$(cd "$(dirname "$h2gate")" && pwd)/$(basename "$h2gate")
if [[ ! -x "$h2gate" ]]; then
  echo "FAIL: $h2gate is not an executable" >&2
  exit 1
fi
cd "$here"

# ctest reports exit 77 as skipped.
for tool in node npm protoc; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: $tool is needed for the Connect-ES client test (apt-get install nodejs npm protobuf-compiler)"
    exit 77
  fi
done

if ! timeout 300 npm ci --no-audit --no-fund --prefer-offline --loglevel=error >npm-ci.log 2>&1; then
  cat npm-ci.log >&2
  echo "FAIL: npm ci in tests/connect (see above)" >&2
  exit 1
fi
rm -f npm-ci.log

exec timeout 120 node connect_test.mjs "$h2gate"
