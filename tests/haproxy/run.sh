#!/usr/bin/env bash
# h2gate behind a real haproxy (Debian's 2.6) as an ingress: callers speak HTTP/1.1 or h2c to
# haproxy, haproxy multiplexes them all over a few pooled h2 connections to h2gate.
#   tests/haproxy/run.sh PATH/TO/h2gate PYTHON_STUBS_DIR   (the dir holding echo/v1/echo_pb2.py)
# 0. probe: a fake h2 backend records whether haproxy's first flight on a new backend connection
#    carries its first HEADERS (printed, not asserted).
# 1. warn and 2. reject: h2gate --http2-route-per-request=127.0.0.1/32; through haproxy at once,
#    grpcio (unary Echo, ServerStream) and curl HTTP/1.1 JSON and /healthz callers. Every answer
#    must be h2gate's, haproxy's server UP after h2 health checks of /healthz, and h2gate's
#    counters exact (ingress_client.py says which).
# 3. control: the same with --http2-route-per-request=none. haproxy's upstream connections go to
#    the embedded gRPC server, and at least one JSON caller must get an answer that is not h2gate's.
# Exits 0 only if all of that holds; 77 (skipped under ctest) without haproxy or Python grpcio.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

h2gate=${1:-${H2GATE:-}}
stubs=${2:-}
if [[ -z "$h2gate" || -z "$stubs" ]]; then
  echo "usage: $0 PATH/TO/h2gate PYTHON_STUBS_DIR" >&2
  exit 2
fi
if [[ ! -x "$h2gate" ]]; then
  echo "FAIL: $h2gate is not an executable" >&2
  exit 1
fi
if [[ ! -f "$stubs/echo/v1/echo_pb2.py" ]]; then
  echo "FAIL: no $stubs/echo/v1/echo_pb2.py (build the h2gate_python_stubs target)" >&2
  exit 1
fi

# ctest reports exit 77 as skipped.
haproxy=$(command -v haproxy || true)
[[ -z "$haproxy" && -x /usr/sbin/haproxy ]] && haproxy=/usr/sbin/haproxy
if [[ -z "$haproxy" ]]; then
  echo "SKIP: haproxy is needed for the ingress test (apt-get install haproxy)"
  exit 77
fi
if ! /usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null; then
  echo "SKIP: /usr/bin/python3 with grpcio is needed (apt-get install python3-grpcio python3-protobuf)"
  exit 77
fi
for tool in curl timeout; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed" >&2; exit 1; }
done
haproxy_version=$("$haproxy" -v | sed -n '1s/^HAProxy version \([^ ]*\).*/\1/p')
echo "haproxy $haproxy_version"

# A short directory: haproxy's stats socket path must fit in sun_path (108 bytes).
work=$(mktemp -d /tmp/h2gate-haproxy.XXXXXX)
pids=()
status=1
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [[ $status -ne 0 ]]; then
    for log in "$work"/*.log; do
      [[ -f "$log" ]] || continue
      echo "---- $(basename "$log") (last 40 lines)"
      tail -n 40 "$log"
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

free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

forget_pid() {
  local keep=() p
  for p in "${pids[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  pids=("${keep[@]}")
}

# start_h2gate NAME FLAG...: sets h2gate_pid and h2gate_port.
start_h2gate() {
  local name=$1
  shift
  local log=$work/h2gate-$name.log
  "$h2gate" --listen=127.0.0.1:0 --metrics=true --drain-timeout=2s "$@" >"$log" 2>&1 &
  h2gate_pid=$!
  pids+=("$h2gate_pid")
  h2gate_port=
  for _ in $(seq 100); do
    h2gate_port=$(grep -aom1 'listening on 127\.0\.0\.1:[0-9]*' "$log" | sed 's/.*://' || true)
    [[ -n "$h2gate_port" ]] && break
    kill -0 "$h2gate_pid" 2>/dev/null || fail "h2gate ($name) exited at start: $(cat "$log")"
    sleep 0.1
  done
  [[ -n "$h2gate_port" ]] || fail "h2gate ($name) did not print its port within 10 s"
  echo "h2gate ($name) on 127.0.0.1:$h2gate_port: $*"
}

# stop_h2gate NAME: SIGTERM, and it must drain and exit 0 (a sanitizer report would not).
stop_h2gate() {
  local rc=0
  kill -TERM "$h2gate_pid"
  wait "$h2gate_pid" || rc=$?
  forget_pid "$h2gate_pid"
  [[ $rc -eq 0 ]] || fail "h2gate ($1) exited with $rc after SIGTERM"
}

# start_haproxy NAME BACKEND_PORT NBTHREAD CHECK: CHECK is h2 or h1 (the health check's protocol)
# or none. Sets haproxy_pid, haproxy_port and haproxy_stats.
start_haproxy() {
  local name=$1 backend=$2 nbthread=$3 check=$4
  local cfg=$work/haproxy-$name.cfg log=$work/haproxy-$name.log
  haproxy_stats=$work/$name.sock
  local check_line="" _
  if [[ $check != none ]]; then
    check_line=" check check-proto $check inter 1s rise 1 fall 2"
  fi
  for _ in 1 2 3; do  # the free port may be taken between asking and binding
    haproxy_port=$(free_port)
    cat >"$cfg" <<EOF
global
  nbthread $nbthread
  stats socket $haproxy_stats mode 600 level admin
  log stderr format short local0 info

defaults
  mode http
  log global
  option httplog
  timeout connect 2s
  timeout client 20s
  timeout server 20s
  timeout http-request 10s
  timeout http-keep-alive 5s
  timeout queue 5s
  timeout check 2s
  timeout client-fin 1s
  timeout server-fin 1s

frontend ingress
  # HTTP mode: HTTP/1.1 callers and h2c callers with prior knowledge on the same port.
  bind 127.0.0.1:$haproxy_port
  default_backend be

backend be
  # Every caller's requests share the pooled h2 connections to h2gate.
  http-reuse always
  option httpchk
  # The Host header is needed: without it haproxy sends the h2 check with neither :authority nor
  # host, and h2gate's kept HTTP/2 session (libnghttp2's default checks) resets the stream with
  # PROTOCOL_ERROR, so the server is marked DOWN ("Socket error").
  http-check send meth GET uri /healthz hdr host h2gate.ingress.test
  http-check expect string alive
  server g 127.0.0.1:$backend proto h2$check_line
EOF
    "$haproxy" -c -q -f "$cfg" >"$log" 2>&1 || fail "haproxy rejects its config: $(cat "$log")"
    "$haproxy" -db -f "$cfg" >>"$log" 2>&1 &
    haproxy_pid=$!
    pids+=("$haproxy_pid")
    for _ in $(seq 50); do
      [[ -S $haproxy_stats ]] && break
      kill -0 "$haproxy_pid" 2>/dev/null || break
      sleep 0.1
    done
    if [[ -S $haproxy_stats ]] && kill -0 "$haproxy_pid" 2>/dev/null; then
      echo "haproxy ($name) on 127.0.0.1:$haproxy_port -> h2 127.0.0.1:$backend," \
        "nbthread $nbthread, health check: $check"
      return 0
    fi
    wait "$haproxy_pid" 2>/dev/null || true
    forget_pid "$haproxy_pid"
    rm -f "$haproxy_stats"
    grep -q 'cannot bind' "$log" || fail "haproxy ($name) did not start: $(cat "$log")"
  done
  fail "haproxy ($name) could not bind a free port in 3 attempts"
}

stop_haproxy() {
  kill -TERM "$haproxy_pid" 2>/dev/null || true
  wait "$haproxy_pid" 2>/dev/null || true
  forget_pid "$haproxy_pid"
  rm -f "$haproxy_stats"
}

client() {
  timeout 120 /usr/bin/python3 "$here/ingress_client.py" "$@"
}

figures=$work/figures.txt
: >"$figures"

# run_phase MODE NBTHREAD: h2gate and haproxy are up; callers, checks, figures.
run_phase() {
  local out=$work/phase-$1.out rc=0
  client phase --mode "$1" --stubs "$stubs" --haproxy "$haproxy_port" --h2gate "$h2gate_port" \
    --stats "$haproxy_stats" --nbthread "$2" >"$out" 2>&1 || rc=$?
  cat "$out"
  grep '^figures' "$out" >>"$figures" || true
  [[ $rc -eq 0 ]] || fail "phase $1 (see above)"
}

# ---- 0. probe: does haproxy send its first HEADERS before the server's SETTINGS?
probe_port_file=$work/probe.port
probe_result=$work/probe.json
timeout 30 /usr/bin/python3 "$here/ingress_client.py" probe-first-flight "$probe_port_file" \
  "$probe_result" >"$work/probe.log" 2>&1 &
probe_pid=$!
pids+=("$probe_pid")
for _ in $(seq 50); do [[ -f $probe_port_file ]] && break; sleep 0.1; done
[[ -f $probe_port_file ]] || fail "the first-flight probe did not start: $(cat "$work/probe.log")"
start_haproxy probe "$(cat "$probe_port_file")" 1 none
curl -sS -o /dev/null --max-time 5 "http://127.0.0.1:$haproxy_port/healthz" || true
wait "$probe_pid" || fail "the first-flight probe failed: $(cat "$work/probe.log")"
forget_pid "$probe_pid"
stop_haproxy
echo "probe: haproxy's frames on a new h2 backend connection: $(cat "$probe_result")"
echo "probe: $(cat "$probe_result")" >>"$figures"

# ---- 1. warn, 2. reject: the ingress set-up
nbthread=2
for policy in warn reject; do
  echo "==== $policy: --http2-route-per-request=127.0.0.1/32 --http1-policy=$policy"
  start_h2gate "$policy" --http2-route-per-request=127.0.0.1/32 --http1-policy="$policy" \
    --http1-deprecated=2025-01-01T00:00:00Z
  start_haproxy "$policy" "$h2gate_port" "$nbthread" h2
  client wait-up "$haproxy_stats" 15 || fail "haproxy never saw h2gate healthy ($policy)"
  run_phase "$policy" "$nbthread"
  stop_haproxy
  stop_h2gate "$policy"
done

# ---- 3. the control: haproxy's upstream connections not kept
# One haproxy thread: one pooled upstream connection, which the warm-up's gRPC calls open. The
# health check goes over HTTP/1.1: over h2 it would reach the embedded gRPC server too (haproxy
# waits for the server's SETTINGS before its first HEADERS, see the probe), fail, and mark the
# server DOWN, so every caller would get haproxy's 503 instead of what this control shows.
echo "==== control: --http2-route-per-request=none --http1-policy=warn"
start_h2gate control --http2-route-per-request=none --http1-policy=warn \
  --http1-deprecated=2025-01-01T00:00:00Z
start_haproxy control "$h2gate_port" 1 h1
client wait-up "$haproxy_stats" 15 || fail "haproxy never saw h2gate healthy (control)"
run_phase control 1
stop_haproxy
stop_h2gate control

echo "==== figures"
cat "$figures"
status=0
echo "PASS: h2gate behind haproxy $haproxy_version"
