#!/usr/bin/env bash
# The operator kit in deploy/monitoring against promtool and a real Prometheus scraping a real
# h2gate.
#   tests/monitoring/run.sh PATH/TO/h2gate
# 1. promtool check rules and promtool test rules (rules_test.yaml) on the PrometheusRule's
#    `spec`; then each mutant of the rules (rules.py) must fail those tests.
# 2. h2gate on 127.0.0.1:0 with TLS (a 10-day certificate), a policy file (warn with a sunset in
#    2099; Health/Check's sunset in 2020) and a memory limit; Debian's prometheus scraping it
#    every second with the rules loaded; two rounds of traffic.py (grpcio, curl HTTP/1.1 and h2c).
# 3. check_live.py: every dashboard query returns data and every panel a value that is not zero;
#    every rule evaluates with health "ok"; the after-sunset and TLS expiry alerts are raised,
#    no other.
# Exits 0 only if all of that holds; 77 (skipped under ctest) without promtool, prometheus,
# python3-yaml or Python grpcio.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kit=$(cd "$here/../../deploy/monitoring" && pwd)
proto=$(cd "$here/../../proto" && pwd)

h2gate=${1:-${H2GATE:-}}
if [[ -z "$h2gate" ]]; then
  echo "usage: $0 PATH/TO/h2gate" >&2
  exit 2
fi

# ctest reports exit 77 as skipped.
for tool in promtool prometheus; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: $tool is needed (apt-get install prometheus)"
    exit 77
  fi
done
if ! /usr/bin/python3 -c 'import yaml, grpc, google.protobuf' 2>/dev/null; then
  echo "SKIP: /usr/bin/python3 with yaml and grpcio is needed (apt-get install python3-yaml python3-grpcio python3-protobuf)"
  exit 77
fi
for tool in curl openssl protoc timeout; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed" >&2; exit 1; }
done
promtool --version 2>&1 | sed -n 1p
prometheus --version 2>&1 | sed -n 1p

work=$(mktemp -d /tmp/h2gate-monitoring.XXXXXX)
pids=()
status=1
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [[ $status -ne 0 ]]; then
    for log in "$work"/*.log; do
      [[ -f "$log" ]] || continue
      echo "---- $(basename "$log") (last 30 lines)"
      tail -n 30 "$log"
    done
  fi
  rm -rf "$work"
}
trap 'cleanup' EXIT
trap 'exit 1' INT TERM

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
py() { timeout 120 /usr/bin/python3 "$@"; }

# --- 1. The rules, offline.
py "$here/rules.py" extract "$kit/prometheusrule.yaml" "$work/h2gate.rules.yml"
cp "$here/rules_test.yaml" "$work/"
promtool check rules "$work/h2gate.rules.yml" || fail "promtool check rules"
timeout 120 promtool test rules "$work/rules_test.yaml" || fail "promtool test rules"
# Each mutant must be valid rules (exit 2 if not) that fail the tests (exit 1). They run in
# parallel: each promtool run replays a day of one-minute samples.
mkdir "$work/mutants"
mutants=$(py "$here/rules.py" mutants "$kit/prometheusrule.yaml" "$work/mutants") ||
  fail "rules.py mutants: $mutants"
declare -A mutant_pid
for m in $mutants; do
  dir=$work/mutants/$m
  cp "$here/rules_test.yaml" "$dir/"
  (
    promtool check rules "$dir/h2gate.rules.yml" >"$dir/out" 2>&1 || exit 2
    timeout 120 promtool test rules "$dir/rules_test.yaml" >>"$dir/out" 2>&1 || exit 1
  ) &
  mutant_pid[$m]=$!
  pids+=("$!")
done
for m in $mutants; do
  rc=0
  wait "${mutant_pid[$m]}" || rc=$?
  [[ $rc -ne 2 ]] || fail "mutant $m is not valid rules: $(cat "$work/mutants/$m/out")"
  [[ $rc -ne 0 ]] || fail "mutant $m of the rules passes rules_test.yaml: the tests miss it"
done
echo "rules: promtool check and test pass; all $(wc -w <<<"$mutants") mutants fail the tests"

# --- 2. A real h2gate and a real Prometheus.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 10 \
  -subj /CN=localhost -keyout "$work/key.pem" -out "$work/cert.pem" 2>"$work/openssl.log" ||
  fail "openssl: $(cat "$work/openssl.log")"
cat >"$work/policy.conf" <<'EOF'
*                             warn  sunset=2099-01-01T00:00:00Z
/grpc.health.v1.Health/Check  warn  sunset=2020-01-01T00:00:00Z
EOF
mkdir "$work/stubs"
protoc --proto_path="$proto" --python_out="$work/stubs" "$proto/echo/v1/echo.proto"

log=$work/h2gate.log
"$h2gate" --listen=127.0.0.1:0 --drain-timeout=2s --http1-policy-file="$work/policy.conf" \
  --tls-cert="$work/cert.pem" --tls-key="$work/key.pem" --memory-limit=1Gi >"$log" 2>&1 &
h2gate_pid=$!
pids+=("$h2gate_pid")
port=
for _ in $(seq 100); do
  port=$(grep -aom1 'listening on 127\.0\.0\.1:[0-9]*' "$log" | sed 's/.*://' || true)
  [[ -n "$port" ]] && break
  kill -0 "$h2gate_pid" 2>/dev/null || fail "h2gate exited at start"
  sleep 0.1
done
[[ -n "$port" ]] || fail "h2gate did not print its port within 10 s"
echo "h2gate on 127.0.0.1:$port"
metrics=$(curl -sS --max-time 5 "http://127.0.0.1:$port/metrics") || fail "GET /metrics"
grep -q '^h2gate_http1_policy_sunset_timestamp_seconds{' <<<"$metrics" ||
  fail "h2gate's /metrics has no h2gate_http1_policy_sunset_timestamp_seconds series (the binary predates it?)"

# The labels a ServiceMonitor target carries in Kubernetes, so the rules' templates and the
# dashboard's namespace variable see what they would there.
cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: ['$work/h2gate.rules.yml']
scrape_configs:
  - job_name: h2gate
    static_configs:
      - targets: ['127.0.0.1:$port']
        labels: {namespace: h2gate-test, pod: h2gate-test-0}
EOF
free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
plog=$work/prometheus.log
for attempt in 1 2 3; do  # the free port may be taken between asking and binding
  prom_port=$(free_port)
  prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
    --web.listen-address="127.0.0.1:$prom_port" >"$plog" 2>&1 &
  prom_pid=$!
  pids+=("$prom_pid")
  for _ in $(seq 600); do  # 60 s
    grep -q 'Server is ready to receive web requests' "$plog" && break
    kill -0 "$prom_pid" 2>/dev/null || break
    sleep 0.1
  done
  grep -q 'Server is ready to receive web requests' "$plog" && break
  kill -TERM "$prom_pid" 2>/dev/null || true
  wait "$prom_pid" 2>/dev/null || true
  [[ $attempt -lt 3 ]] || fail "prometheus did not start"
done
prom=http://127.0.0.1:$prom_port
echo "prometheus on $prom"

# query_value PROMQL: the first sample's value, or nothing.
query_value() {
  curl -sS --max-time 5 -G "$prom/api/v1/query" --data-urlencode "query=$1" |
    /usr/bin/python3 -c 'import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")'
}
# wait_for PROMQL VALUE: until the query returns VALUE, 30 s at most.
wait_for() {
  local _ got=
  for _ in $(seq 60); do
    got=$(query_value "$1" || true)
    [[ "$got" == "$2" ]] && return 0
    sleep 0.5
  done
  fail "Prometheus: $1 is '$got' after 30 s, want $2"
}

# A scrape before any traffic, so every counter's rise shows in rate(); then two rounds, a scrape
# apart, so the series that appear with the first call (transcoded, gRPC errors) rise too.
wait_for 'up{job="h2gate"}' 1
py "$here/traffic.py" "$work/stubs" "127.0.0.1:$port" >"$work/traffic.log" 2>&1 ||
  fail "traffic, round 1: $(tail -n 5 "$work/traffic.log")"
wait_for 'sum(h2gate_http1_transcoded_total{job="h2gate"})' 5
py "$here/traffic.py" "$work/stubs" "127.0.0.1:$port" >>"$work/traffic.log" 2>&1 ||
  fail "traffic, round 2: $(tail -n 5 "$work/traffic.log")"
wait_for 'sum(h2gate_http1_transcoded_total{job="h2gate"})' 10
wait_for 'sum(h2gate_sniff_failures_total{job="h2gate"})' 2

# --- 3. The dashboard's queries and the rules, live.
py "$here/check_live.py" "$kit/grafana-dashboard.json" "$work/h2gate.rules.yml" "$prom" \
  H2gateLegacyCallsAfterSunset,H2gateTLSCertificateExpiringSoon || fail "check_live.py"

kill -TERM "$h2gate_pid"
rc=0
wait "$h2gate_pid" || rc=$?
[[ $rc -eq 0 ]] || fail "h2gate exited with $rc after SIGTERM"
status=0
echo "PASS: monitoring kit"
