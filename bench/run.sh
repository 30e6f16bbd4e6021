#!/usr/bin/env bash
# h2gate benchmarks: one command, one Markdown table. Not part of the test suite.
#
#   bash bench/run.sh              # full run: ROUNDS=3, DURATION=10 s, 10,000 connections for memory
#   QUICK=1 bash bench/run.sh      # harness check: 1 round, 2 s runs, 2,000 connections
#
# The server runs on core SERVER_CPU, the load generator on LOAD_CPU. Each comparison is
# interleaved (h2gate, baseline, h2gate, baseline, ...) for ROUNDS rounds; the table gives the
# median and min–max of each figure. See bench/README.md for what each row measures.
#
#   TESTS=bare bash bench/run.sh       # row 14: h2gate vs a bare gRPC server (bench/bare), Echo,
#                                      # Health and churn, with context switches and wake-ups
#   TESTS=callgrind bash bench/run.sh  # row 15: instructions per call and per connection, h2gate
#                                      # vs bare, under callgrind (bench/lib/callgrind.sh)
set -euo pipefail

(($# == 0)) || {
  echo "usage: [QUICK=1] [ROUNDS=3] [DURATION=10] ... bash bench/run.sh (settings are environment variables; see bench/README.md)" >&2
  exit 2
}
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=lib/common.sh
source "$BENCH_DIR/lib/common.sh"

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
  : "${ROUNDS:=1}" "${DURATION:=2}" "${MEM_CONNS:=2000}"
fi
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}            # seconds per measured run
MEM_CONNS=${MEM_CONNS:-10000}       # connections held for the memory figures
CHURN_RATE=${CHURN_RATE:-1000}      # new connections per second offered in the churn test
TLS_CHURN_RATE=${TLS_CHURN_RATE:-300}  # the same over TLS (TESTS=tls): a handshake costs more
LAT_RPS=${LAT_RPS:-2000}            # request rate of the latency test
LAT_CLIENTS=${LAT_CLIENTS:-8}       # connections of the latency test (rate split among them)
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
TESTS=${TESTS:-echo health churn http1 latency memory transcode guard kept h2json bare}
BUILD=${BUILD:-1}                   # 0: use H2GATE_BIN (and BARE_BIN) as they are
BUILD_DIR=${BUILD_DIR:-$REPO/build-bench}
H2GATE_BIN=${H2GATE_BIN:-$BUILD_DIR/server/h2gate}
BARE_BIN=${BARE_BIN:-$BUILD_DIR/bench/bare/h2gate_bare}  # the baseline of TESTS=bare and callgrind
CG_CALLS=${CG_CALLS:-2000 8000}     # TESTS=callgrind: calls of the short and the long run
CG_CHURN=${CG_CHURN:-200 1000}      # TESTS=callgrind: connections of the two churn runs
CG_CHURN_RATE=${CG_CHURN_RATE:-50}  # TESTS=callgrind: connections per second in those

# Echo and Health load shape.
UNARY_CLIENTS=16
UNARY_STREAMS=8
# The scheme of the gRPC loads, and h2load's ALPN options for it; the TLS rows set them locally.
SCHEME=http
H2LOAD_ALPN=()

STAMP=$(date +%Y-%m-%d-%H%M%S)
OUT_DIR=$BENCH_DIR/out
RUN_DIR=$OUT_DIR/run-$STAMP
RESULTS_MD=$OUT_DIR/results-$STAMP.md
mkdir -p "$RUN_DIR"
: >"$RUN_DIR/results.tsv"

trap cleanup EXIT
trap 'die "interrupted"' INT TERM

# ------------------------------------------------------------------------------------------
# Checks and set-up.

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS=$ROUNDS: want a positive integer"
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "DURATION=$DURATION: want whole seconds >= 1"
((CHURN_RATE >= 10 && CHURN_RATE % 10 == 0)) || die "CHURN_RATE=$CHURN_RATE: want a multiple of 10"
((TLS_CHURN_RATE >= 10 && TLS_CHURN_RATE % 10 == 0)) ||
  die "TLS_CHURN_RATE=$TLS_CHURN_RATE: want a multiple of 10"
((LAT_RPS % LAT_CLIENTS == 0)) || die "LAT_RPS=$LAT_RPS must divide by LAT_CLIENTS=$LAT_CLIENTS"
(($(nproc) >= 2)) || die "needs 2 cores (server on one, load generator on the other); nproc=$(nproc)"
taskset -c "$SERVER_CPU" true 2>/dev/null || die "SERVER_CPU=$SERVER_CPU is not a usable core"
taskset -c "$LOAD_CPU" true 2>/dev/null || die "LOAD_CPU=$LOAD_CPU is not a usable core"

ensure_tools

# The bare gRPC server (bench/bare) is the baseline of these; built with h2gate below.
NEED_BARE=0
if [[ " $TESTS " == *" bare "* || " $TESTS " == *" callgrind "* ]]; then NEED_BARE=1; fi
if [[ " $TESTS " == *" callgrind "* ]]; then
  if ! command -v valgrind >/dev/null || ! command -v callgrind_annotate >/dev/null; then
    die "TESTS=callgrind needs valgrind (apt-get install valgrind)"
  fi
fi
# Context switches and wake-ups (TESTS=bare) come from perf's software events where it can count
# them (perf_event_paranoid, a VM's kernel); without perf the rows say so and are left out.
PERF_OK=0
if [[ " $TESTS " == *" bare "* ]] && command -v perf >/dev/null &&
  perf stat -e context-switches,sched:sched_wakeup true >/dev/null 2>&1; then
  PERF_OK=1
fi

# Memory test: each process (server, client) holds MEM_CONNS sockets; raise the soft fd limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FD_LIMIT=$(ulimit -n)
if [[ " $TESTS " == *" memory "* ]] && ((MEM_CONNS + 256 > FD_LIMIT)); then
  die "MEM_CONNS=$MEM_CONNS needs more file descriptors than 'ulimit -n' allows ($FD_LIMIT); lower MEM_CONNS or raise the hard limit"
fi

if [[ $BUILD == 1 ]]; then
  log "building h2gate (Release) in $BUILD_DIR"
  {
    [[ -f $BUILD_DIR/CMakeCache.txt ]] ||
      cmake -S "$REPO" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DH2GATE_BUILD_TESTS=OFF
    timeout 3600 cmake --build "$BUILD_DIR" -j2 --target h2gate
    if ((NEED_BARE)); then timeout 1800 cmake --build "$BUILD_DIR" -j2 --target h2gate_bare; fi
  } >"$RUN_DIR/build.log" 2>&1 || die "build failed; see $RUN_DIR/build.log: $(tail -5 "$RUN_DIR/build.log")"
fi
[[ -x $H2GATE_BIN ]] || die "no h2gate binary at $H2GATE_BIN (build it, or set H2GATE_BIN)"
((NEED_BARE == 0)) || [[ -x $BARE_BIN ]] ||
  die "no h2gate_bare at $BARE_BIN (cmake --build DIR --target h2gate_bare, or set BARE_BIN)"

read -r echo_resp_bytes health_resp_bytes < <(bt bodies --dir "$RUN_DIR")
[[ -n $health_resp_bytes ]] || die "cannot write the request bodies in $RUN_DIR"
ECHO_REQ=$RUN_DIR/echo_req.bin
HEALTH_REQ=$RUN_DIR/health_req.bin
ECHO_PATH=/echo.v1.Echo/Echo
HEALTH_PATH=/grpc.health.v1.Health/Check

LOAD0=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$LOAD0" 'BEGIN { exit !(l > 0.5) }'; then
  log "WARNING: load average is $LOAD0: the machine is not quiet; figures will be noisy"
fi

# Timeout for one load-generator run: the run itself, plus start-up and drain.
RUN_TIMEOUT=$((DURATION * 3 + 30))
# load CMD...: runs CMD on the load core, bounded; in the background so a signal stops it at once.
load() {
  local pid rc=0
  timeout -k 5 "$RUN_TIMEOUT" taskset -c "$LOAD_CPU" "$@" &
  pid=$!
  PIDS+=("$pid")
  wait "$pid" || rc=$?
  forget_pid "$pid"
  return "$rc"
}

H2LOAD_GRPC=(-t 1 -H 'content-type: application/grpc' -H 'te: trailers' -N 10s)

# Scheduler counts of the measured server over one load run, when SCHED_COUNT=1 (row 14): perf's
# context-switches and sched:sched_wakeup counted on its threads (-p: the wake-ups its threads
# raise, of each other and of the client), and the voluntary and involuntary context switches
# /proc/PID/task/*/status counts (voluntary: a thread blocked and had to be woken again; threads
# that exit during the run are not in the difference). sched_start before the load, sched_stop
# after it, sched_record with the number of calls or connections.
SCHED_COUNT=0
proc_ctxt() {
  cat /proc/"$1"/task/*/status 2>/dev/null |
    awk '/^voluntary_ctxt_switches/ { v += $2 } /^nonvoluntary_ctxt_switches/ { n += $2 } END { print v + 0, n + 0 }'
}
sched_start() {
  ((SCHED_COUNT)) || return 0
  SCHED_PERF_OUT=$RUN_DIR/sched-$$.perf
  rm -f "$SCHED_PERF_OUT"
  SCHED_PERF_PID=
  if ((PERF_OK)); then
    timeout -k 5 "$RUN_TIMEOUT" taskset -c "$LOAD_CPU" perf stat -x, -o "$SCHED_PERF_OUT" \
      -e context-switches,sched:sched_wakeup -p "$H2_PID" >/dev/null 2>&1 &
    SCHED_PERF_PID=$!
    PIDS+=("$SCHED_PERF_PID")
    sleep 0.3  # attached to every thread before the load starts
  fi
  read -r SCHED_V0 SCHED_N0 < <(proc_ctxt "$H2_PID")
}
sched_stop() {
  ((SCHED_COUNT)) || return 0
  read -r SCHED_V1 SCHED_N1 < <(proc_ctxt "$H2_PID")
  if [[ -n $SCHED_PERF_PID ]]; then
    kill -INT "$SCHED_PERF_PID" 2>/dev/null || true
    wait "$SCHED_PERF_PID" 2>/dev/null || true
    forget_pid "$SCHED_PERF_PID"
  fi
}
sched_record() {
  ((SCHED_COUNT)) || return 0
  local key=$1 side=$2 round=$3 n=$4 cs wake
  record "$key.vcs" "$side" "$round" "$(awk -v d=$((SCHED_V1 - SCHED_V0)) -v n="$n" 'BEGIN { printf "%.4f", d / n }')"
  record "$key.nvcs" "$side" "$round" "$(awk -v d=$((SCHED_N1 - SCHED_N0)) -v n="$n" 'BEGIN { printf "%.4f", d / n }')"
  [[ -n $SCHED_PERF_PID ]] || return 0
  cs=$(awk -F, '$3 == "context-switches" { print $1 }' "$SCHED_PERF_OUT")
  wake=$(awk -F, '$3 == "sched:sched_wakeup" { print $1 }' "$SCHED_PERF_OUT")
  [[ $cs =~ ^[0-9]+$ && $wake =~ ^[0-9]+$ ]] ||
    die "$key/$side: perf stat counted nothing ($SCHED_PERF_OUT: $(tr '\n' ' ' <"$SCHED_PERF_OUT"))"
  record "$key.cs" "$side" "$round" "$(awk -v d="$cs" -v n="$n" 'BEGIN { printf "%.4f", d / n }')"
  record "$key.wake" "$side" "$round" "$(awk -v d="$wake" -v n="$n" 'BEGIN { printf "%.4f", d / n }')"
  log "$key $side round $round: per call/connection: $(awk -v d="$cs" -v n="$n" 'BEGIN { printf "%.3f", d / n }') context switches, $(awk -v d="$wake" -v n="$n" 'BEGIN { printf "%.3f", d / n }') wake-ups (perf); $(awk -v d=$((SCHED_V1 - SCHED_V0)) -v n="$n" 'BEGIN { printf "%.3f", d / n }') voluntary switches (/proc)"
}

# ------------------------------------------------------------------------------------------
# 1, 2. Unary calls over persistent connections: front port vs direct port of the same process.

# unary_run KEY PATH REQ RESP_BYTES SIDE PORT ROUND (ROUND 0: warm-up, not recorded)
unary_run() {
  local key=$1 path=$2 req=$3 resp_bytes=$4 side=$5 port=$6 round=$7
  local out=$RUN_DIR/$key-$side-r$round.h2load t0 t1 ok0 ok1 bad0 bad1 parsed
  local svc=${path#/}
  local m=(grpc_server_handled_total "grpc_service=${svc%/*}" "grpc_method=${path##*/}")
  # SERVER_METRICS=0: the server has no /metrics (the bare server): h2load's own checks only.
  ok0=0 bad0=0 ok1=0 bad1=0
  if [[ ${SERVER_METRICS:-1} == 1 ]]; then
    ok0=$(bt metric --port "$H2_PORT" "${m[@]}" grpc_code=OK)
    bad0=$(bt metric --port "$H2_PORT" --exclude grpc_code=OK "${m[@]}")
  fi
  t0=$(cpu_ticks "$H2_PID")
  sched_start
  load h2load "${H2LOAD_GRPC[@]}" "${H2LOAD_ALPN[@]}" -c "$UNARY_CLIENTS" -m "$UNARY_STREAMS" \
    -D "$DURATION" -d "$req" "$SCHEME://127.0.0.1:$port$path" >"$out" 2>&1 ||
    die "h2load failed ($key, $side); see $out"
  t1=$(cpu_ticks "$H2_PID")
  sched_stop
  if [[ ${SERVER_METRICS:-1} == 1 ]]; then
    ok1=$(bt metric --port "$H2_PORT" "${m[@]}" grpc_code=OK)
    bad1=$(bt metric --port "$H2_PORT" --exclude grpc_code=OK "${m[@]}")
  fi
  parsed=$(bt h2load --what "$key/$side" --file "$out" --expect-bytes "$resp_bytes" \
    --inflight $((UNARY_CLIENTS * UNARY_STREAMS))) || die "$key/$side: invalid run (see above)"
  local elapsed rps succeeded
  eval "$parsed"
  # h2load resets the calls still in flight when a timed run ends; the server may finish those
  # with a non-OK code. Any more than that window is a real failure.
  ((bad1 - bad0 <= UNARY_CLIENTS * UNARY_STREAMS)) ||
    die "$key/$side: the server finished $((bad1 - bad0)) calls with a non-OK code"
  [[ ${SERVER_METRICS:-1} == 0 ]] || ((ok1 - ok0 >= succeeded)) ||
    die "$key/$side: h2load counts $succeeded successes, the server only $((ok1 - ok0)) OK"
  ((round == 0)) && return 0
  local cpu
  cpu=$(cpu_us_per $((t1 - t0)) "$succeeded")
  record "$key.rps" "$side" "$round" "$rps"
  record "$key.cpu_us" "$side" "$round" "$cpu"
  sched_record "$key" "$side" "$round" "$succeeded"
  log "$key $side round $round: $rps req/s, $cpu µs CPU/request ($succeeded calls; server core $(busy_pct $((t1 - t0)) "$elapsed") busy)"
}

unary_compare() {
  local key=$1 path=$2 req=$3 resp_bytes=$4 r
  log "== $key: $path, $UNARY_CLIENTS connections x $UNARY_STREAMS streams, ${DURATION}s runs"
  local saved=$DURATION
  DURATION=1
  unary_run "$key" "$path" "$req" "$resp_bytes" a "$H2_PORT" 0
  unary_run "$key" "$path" "$req" "$resp_bytes" b "$H2_DIRECT" 0
  DURATION=$saved
  for r in $(seq "$ROUNDS"); do
    unary_run "$key" "$path" "$req" "$resp_bytes" a "$H2_PORT" "$r"
    unary_run "$key" "$path" "$req" "$resp_bytes" b "$H2_DIRECT" "$r"
  done
}

# ------------------------------------------------------------------------------------------
# 3. Connection churn: h2load -c N -n N makes every client (= connection) do one call; -r opens
# CHURN_RATE/10 connections every 100 ms.

# CHURN_KEY names the figures (default churn); CHURN_HANDOFFS=0 skips the hand-off count, for a
# caller that proves the connections' path with other counters (the TLS rows).
churn_run() {
  local side=$1 port=$2 round=$3 n=$4 key=${CHURN_KEY:-churn}
  local out=$RUN_DIR/$key-$side-r$round.h2load t0 t1 h0=0 h1=0 parsed elapsed rps succeeded
  [[ ${SERVER_METRICS:-1} == 0 ]] || h0=$(bt metric --port "$H2_PORT" h2gate_grpc_handoffs_total)
  t0=$(cpu_ticks "$H2_PID")
  sched_start
  load h2load "${H2LOAD_GRPC[@]}" "${H2LOAD_ALPN[@]}" -r $((CHURN_RATE / 10)) --rate-period=100ms \
    -c "$n" -n "$n" -m 1 -d "$ECHO_REQ" "$SCHEME://127.0.0.1:$port$ECHO_PATH" >"$out" 2>&1 ||
    die "h2load failed ($key, $side); see $out"
  t1=$(cpu_ticks "$H2_PID")
  sched_stop
  [[ ${SERVER_METRICS:-1} == 0 ]] || h1=$(bt metric --port "$H2_PORT" h2gate_grpc_handoffs_total)
  parsed=$(bt h2load --what "$key/$side" --file "$out" --expect-bytes "$echo_resp_bytes" \
    --expect-requests "$n") || die "$key/$side: invalid run (see above)"
  eval "$parsed"
  # The front port counts hand-offs: proof that every call had its own connection. (The metric
  # scrapes themselves are HTTP/1.1 and not counted there.)
  if [[ ${CHURN_HANDOFFS:-1} == 1 && ${SERVER_METRICS:-1} == 1 ]] &&
    [[ $side == a || -n ${CHURN_KEY:-} ]] && ((h1 - h0 != n)); then
    die "$key/$side: $n calls but $((h1 - h0)) connections handed to gRPC; h2load reused connections"
  fi
  ((round == 0)) && return 0
  local cpu cps
  cpu=$(cpu_us_per $((t1 - t0)) "$n")
  cps=$(awk -v n="$n" -v e="$elapsed" 'BEGIN { printf "%.1f", n / e }')
  record "$key.cpu_us" "$side" "$round" "$cpu"
  record "$key.cps" "$side" "$round" "$cps"
  sched_record "$key" "$side" "$round" "$n"
  log "$key $side round $round: $n connections in ${elapsed}s ($cps/s), $cpu µs CPU/connection (server core $(busy_pct $((t1 - t0)) "$elapsed") busy)"
}

churn_compare() {
  local n=$((CHURN_RATE * DURATION)) r
  log "== churn: $n connections at $CHURN_RATE/s, one Echo call each"
  churn_run a "$H2_PORT" 0 $((CHURN_RATE / 10))
  churn_run b "$H2_DIRECT" 0 $((CHURN_RATE / 10))
  for r in $(seq "$ROUNDS"); do
    churn_run a "$H2_PORT" "$r" "$n"
    churn_run b "$H2_DIRECT" "$r" "$n"
  done
}

# ------------------------------------------------------------------------------------------
# 4. HTTP/1.1 426 with keep-alive: h2gate's front port vs nginx returning the same answer.

# start_nginx NAME BODY_FILE [nginx-conf OPTIONS...]: nginx answering POST $ECHO_PATH with a 426
# carrying BODY_FILE's bytes, on the server core. Sets NGX_PID, NGX_PORT.
start_nginx() {
  local prefix=$RUN_DIR/$1 body=$2
  shift 2
  mkdir -p "$prefix/tmp"
  NGX_PORT=$(bt free-ports 1)
  bt nginx-conf --prefix "$prefix" --port "$NGX_PORT" --path "$ECHO_PATH" --body "$body" "$@" \
    >"$prefix/nginx.conf" || die "cannot write $prefix/nginx.conf"
  taskset -c "$SERVER_CPU" nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/error.log" \
    >"$prefix/stdout.log" 2>&1 &
  NGX_PID=$!
  PIDS+=("$NGX_PID")
  wait_for 10 nginx tcp_open "$NGX_PORT" ||
    die "nginx not listening on $NGX_PORT; see $prefix/error.log: $(tail -3 "$prefix/error.log" 2>/dev/null)"
  log "nginx: pid $NGX_PID (one process, master_process off), 127.0.0.1:$NGX_PORT"
}

# fetch_426 PORT NAME [SCHEME]: one keep-alive-style POST; saves headers and body, checks the
# status. SCHEME https: without ALPN, as wrk connects (the certificate is not verified); curl's
# log (verbose over TLS: the version and cipher) goes to 426-NAME.curl.
fetch_426() {
  local tls=()
  if [[ ${3:-http} == https ]]; then tls=(--insecure --no-alpn -v); fi
  curl -sS --max-time 5 --http1.1 "${tls[@]}" -X POST -H 'Content-Type: application/json' \
    -d '{"message":"hi"}' -D "$RUN_DIR/426-$2.hdr" -o "$RUN_DIR/426-$2.body" \
    "${3:-http}://127.0.0.1:$1$ECHO_PATH" 2>"$RUN_DIR/426-$2.curl" ||
    die "426 preflight on $2 failed: $(grep -v '^[*<>{}]' "$RUN_DIR/426-$2.curl" | tail -2)"
  head -1 "$RUN_DIR/426-$2.hdr" | grep -q '^HTTP/1.1 426' ||
    die "$2 did not answer 426: $(head -1 "$RUN_DIR/426-$2.hdr")"
}

# http1_run SIDE PORT PID ROUND DURATION; HTTP1_KEY names the figures (default http1), SCHEME
# https runs wrk over TLS (the TLS rows).
http1_run() {
  local side=$1 port=$2 pid=$3 round=$4 dur=$5 key=${HTTP1_KEY:-http1}
  local out=$RUN_DIR/$key-$side-r$round.wrk t0 t1 a0 a1 g0 g1 parsed rps responses
  local tls_m=(h2gate_tls_connections_total route=gateway)
  if [[ $side == a ]]; then
    if [[ $SCHEME == https ]]; then g0=$(bt metric --port "$H2_PORT" "${tls_m[@]}"); fi
    a0=$(bt metric --port "$H2_PORT" h2gate_connections_accepted_total)
  fi
  t0=$(cpu_ticks "$pid")
  load wrk -t 1 -c 32 -d "${dur}s" --timeout 5s -s "$BENCH_DIR/lib/post.lua" \
    "$SCHEME://127.0.0.1:$port$ECHO_PATH" >"$out" 2>&1 || die "wrk failed ($key, $side); see $out"
  t1=$(cpu_ticks "$pid")
  parsed=$(bt wrk --what "$key/$side" --file "$out") || die "$key/$side: invalid run (see above)"
  eval "$parsed"
  if [[ $side == a ]]; then
    # 32 connections, +1 for the scrape: more means the 426 did not keep the connection alive.
    a1=$(bt metric --port "$H2_PORT" h2gate_connections_accepted_total)
    ((a1 - a0 <= 34)) || die "$key/a: $((a1 - a0)) connections accepted for 32 keep-alive clients"
    if [[ $SCHEME == https ]]; then
      # Over TLS each of wrk's 32 connections is one h2gate terminated and served itself.
      g1=$(bt metric --port "$H2_PORT" "${tls_m[@]}")
      ((g1 - g0 == 32)) ||
        die "$key/a: $((g1 - g0)) TLS connections terminated and served by h2gate (route=\"gateway\"), expected wrk's 32"
    fi
  fi
  ((round == 0)) && return 0
  local cpu
  cpu=$(cpu_us_per $((t1 - t0)) "$responses")
  record "$key.rps" "$side" "$round" "$rps"
  record "$key.cpu_us" "$side" "$round" "$cpu"
  log "$key $side round $round: $rps responses/s, $cpu µs CPU/response ($responses; server core $(busy_pct $((t1 - t0)) "$dur") busy)"
}

http1_compare() {
  local r
  log "== http1: POST $ECHO_PATH -> 426, wrk -t1 -c32, h2gate vs nginx"
  fetch_426 "$H2_PORT" h2gate
  start_nginx nginx "$RUN_DIR/426-h2gate.body"
  fetch_426 "$NGX_PORT" nginx
  cmp -s "$RUN_DIR/426-h2gate.body" "$RUN_DIR/426-nginx.body" ||
    die "nginx's 426 body differs from h2gate's ($RUN_DIR/426-*.body)"
  log "426 headers, h2gate: $(tr -d '\r' <"$RUN_DIR/426-h2gate.hdr" | tail -n +2 | paste -sd'|')"
  log "426 headers, nginx:  $(tr -d '\r' <"$RUN_DIR/426-nginx.hdr" | tail -n +2 | paste -sd'|')"
  http1_run a "$H2_PORT" "$H2_PID" 0 1
  http1_run b "$NGX_PORT" "$NGX_PID" 0 1
  for r in $(seq "$ROUNDS"); do
    http1_run a "$H2_PORT" "$H2_PID" "$r" "$DURATION"
    http1_run b "$NGX_PORT" "$NGX_PID" "$r" "$DURATION"
  done
  stop_pid "$NGX_PID"
  forget_pid "$NGX_PID"
}

# ------------------------------------------------------------------------------------------
# 6. Latency at a fixed rate: h2load --rps per connection, per-request times from --log-file.

latency_run() {
  local side=$1 port=$2 round=$3 dur=$4
  local out=$RUN_DIR/lat-$side-r$round.h2load reqlog=$RUN_DIR/lat-$side-r$round.tsv parsed
  rm -f "$reqlog"  # h2load appends to an existing log file
  load h2load "${H2LOAD_GRPC[@]}" -c "$LAT_CLIENTS" -m 1 --rps $((LAT_RPS / LAT_CLIENTS)) \
    -D "$dur" --log-file="$reqlog" -d "$ECHO_REQ" "http://127.0.0.1:$port$ECHO_PATH" \
    >"$out" 2>&1 || die "h2load failed (latency, $side); see $out"
  bt h2load --what "latency/$side" --file "$out" --expect-bytes "$echo_resp_bytes" \
    --inflight "$LAT_CLIENTS" >/dev/null || die "latency/$side: invalid run (see above)"
  parsed=$(bt latency --what "latency/$side" --file "$reqlog" \
    --min-samples $((LAT_RPS * dur * 9 / 10))) || die "latency/$side: invalid run (see above)"
  local p50_us p99_us samples
  eval "$parsed"
  ((round == 0)) && return 0
  record lat.p50 "$side" "$round" "$p50_us"
  record lat.p99 "$side" "$round" "$p99_us"
  log "latency $side round $round: p50 $p50_us µs, p99 $p99_us µs ($samples calls)"
}

latency_compare() {
  local r
  log "== latency: $LAT_RPS calls/s over $LAT_CLIENTS connections"
  latency_run a "$H2_PORT" 0 1
  latency_run b "$H2_DIRECT" 0 1
  for r in $(seq "$ROUNDS"); do
    latency_run a "$H2_PORT" "$r" "$DURATION"
    latency_run b "$H2_DIRECT" "$r" "$DURATION"
  done
}

# ------------------------------------------------------------------------------------------
# 5. Memory: RSS of a fresh h2gate before and while MEM_CONNS connections are held open.

memory_run() {
  local mode=$1 round=$2 n=$MEM_CONNS
  local client_out=$RUN_DIR/mem-$mode-r$round.client base rss open per client_pid
  start_h2gate "mem-$mode-r$round" --sniff-timeout=10m --idle-timeout=10m \
    --max-connections=$((n + 64))
  fetch_426 "$H2_PORT" "mem-warmup"      # touch the HTTP/1.1 path once before the baseline
  bt metric --port "$H2_PORT" h2gate_connections_open >/dev/null
  sleep 0.5
  base=$(rss_bytes "$H2_PID")
  timeout -k 5 600 taskset -c "$LOAD_CPU" /usr/bin/python3 "$BENCH_DIR/lib/holdconns.py" \
    --port "$H2_PORT" --count "$n" --mode "$mode" --timeout 120 --hold 300 \
    >"$client_out" 2>&1 &
  client_pid=$!
  PIDS+=("$client_pid")
  wait_for 130 "client" grep -q '^READY' "$client_out" ||
    die "memory/$mode: client did not get $n connections ready: $(tail -2 "$client_out")"
  # connect() returns once the kernel has the connection; wait until h2gate has accepted them all.
  conns_open_at_least() { (($(bt metric --port "$H2_PORT" h2gate_connections_open) >= n)); }
  wait_for 60 "accept" conns_open_at_least ||
    die "memory/$mode: h2gate holds $(bt metric --port "$H2_PORT" h2gate_connections_open) of $n connections"
  sleep 1
  rss=$(rss_bytes "$H2_PID")
  open=$(bt metric --port "$H2_PORT" h2gate_connections_open)
  stop_pid "$client_pid"
  forget_pid "$client_pid"
  grep -q "^HELD $n CLOSED 0$" "$client_out" ||
    die "memory/$mode: the server closed connections during the measurement: $(tail -1 "$client_out")"
  stop_h2gate
  per=$(((rss - base) / n))
  record "mem.$mode" a "$round" "$per"
  log "memory $mode round $round: RSS $base -> $rss bytes with $open connections open: $per B/connection"
}

memory_compare() {
  local r
  log "== memory: $MEM_CONNS connections, keep-alive idle vs silent (sniff phase)"
  for r in $(seq "$ROUNDS"); do
    memory_run keepalive "$r"
    memory_run silent "$r"
  done
}

# ------------------------------------------------------------------------------------------
# 7. JSON transcoding: the same Echo call, 1 KiB payload, 16 connections with one call in flight
# each: HTTP/1.1 JSON under --http1-policy=allow (served through the in-process channel) vs
# native gRPC, on one h2gate started for this comparison.

transcode_run() {
  local side=$1 round=$2 dur=$3 out t0 t1 o0 o1 parsed n
  local rps responses elapsed succeeded
  local m=(h2gate_http1_transcoded_total grpc_service=echo.v1.Echo grpc_method=Echo policy=allow
    grpc_code=OK)
  o0=$(bt metric --port "$H2_PORT" "${m[@]}")
  t0=$(cpu_ticks "$H2_PID")
  if [[ $side == a ]]; then
    out=$RUN_DIR/transcode-a-r$round.wrk
    load wrk -t 1 -c 16 -d "${dur}s" --timeout 5s -s "$RUN_DIR/json.lua" \
      "http://127.0.0.1:$H2_PORT$ECHO_PATH" >"$out" 2>&1 || die "wrk failed (transcode); see $out"
    t1=$(cpu_ticks "$H2_PID")
    parsed=$(bt wrk --what transcode/a --file "$out" --expect 2xx) ||
      die "transcode/a: invalid run (see above)"
    eval "$parsed"
    n=$responses
    o1=$(bt metric --port "$H2_PORT" "${m[@]}")
    ((o1 - o0 >= n)) || die "transcode/a: wrk saw $n answers, the server transcoded $((o1 - o0)) OK"
  else
    out=$RUN_DIR/transcode-b-r$round.h2load
    load h2load "${H2LOAD_GRPC[@]}" -c 16 -m 1 -D "$dur" -d "$ECHO_REQ" \
      "http://127.0.0.1:$H2_PORT$ECHO_PATH" >"$out" 2>&1 || die "h2load failed (transcode); see $out"
    t1=$(cpu_ticks "$H2_PID")
    parsed=$(bt h2load --what transcode/b --file "$out" --expect-bytes "$echo_resp_bytes" \
      --inflight 16) || die "transcode/b: invalid run (see above)"
    eval "$parsed"
    n=$succeeded
  fi
  ((round == 0)) && return 0
  local cpu
  cpu=$(cpu_us_per $((t1 - t0)) "$n")
  record transcode.rps "$side" "$round" "$rps"
  record transcode.cpu_us "$side" "$round" "$cpu"
  log "transcode $side round $round: $rps calls/s, $cpu µs CPU/call ($n calls)"
}

transcode_compare() {
  local r payload
  log "== transcode: Echo with 1 KiB as HTTP/1.1 JSON (policy allow) vs gRPC, 16 connections"
  start_h2gate transcode --http1-policy=allow
  payload=$(/usr/bin/python3 -c 'import base64; print(base64.b64encode(bytes(range(256)) * 4).decode())')
  cat >"$RUN_DIR/json.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"message":"bench","payload":"$payload"}'
wrk.headers["Content-Type"] = "application/json"
LUA
  curl -sS --max-time 5 -X POST -H 'Content-Type: application/json' \
    -d "{\"message\":\"bench\",\"payload\":\"$payload\"}" -o "$RUN_DIR/transcode.json" \
    -w '%{http_code}' "http://127.0.0.1:$H2_PORT$ECHO_PATH" >"$RUN_DIR/transcode.code" ||
    die "transcode preflight failed"
  [[ $(cat "$RUN_DIR/transcode.code") == 200 ]] && grep -q "\"payload\":\"$payload\"" "$RUN_DIR/transcode.json" ||
    die "transcode preflight: not the echoed payload ($RUN_DIR/transcode.json)"
  transcode_run a 0 1
  transcode_run b 0 1
  for r in $(seq "$ROUNDS"); do
    transcode_run a "$r" "$DURATION"
    transcode_run b "$r" "$DURATION"
  done
  stop_h2gate
}

# ------------------------------------------------------------------------------------------
# 8. The HTTP/2 guard: the front port of an h2gate that guards every connection (the default)
# vs one that hands them all to gRPC untouched (--http2-guard-exempt=all). Two processes on the
# server core, one measured at a time; each side's figures are its own process's.

guard_compare() {
  local r g_pid g_port g_direct u_pid u_port u_direct
  start_h2gate guarded
  g_pid=$H2_PID g_port=$H2_PORT g_direct=$H2_DIRECT
  start_h2gate unguarded --http2-guard-exempt=all
  u_pid=$H2_PID u_port=$H2_PORT u_direct=$H2_DIRECT
  # side a: guarded, side b: unguarded; unary_run and churn_run read H2_PID and H2_PORT.
  guard_side() {
    if [[ $1 == a ]]; then H2_PID=$g_pid H2_PORT=$g_port H2_DIRECT=$g_direct; else
      H2_PID=$u_pid H2_PORT=$u_port H2_DIRECT=$u_direct; fi
  }
  log "== guard: Echo, Health and churn through the guard vs handed over untouched"
  local saved=$DURATION side
  DURATION=1
  for side in a b; do
    guard_side $side
    unary_run guard_echo "$ECHO_PATH" "$ECHO_REQ" "$echo_resp_bytes" $side "$H2_PORT" 0
    unary_run guard_health "$HEALTH_PATH" "$HEALTH_REQ" "$health_resp_bytes" $side "$H2_PORT" 0
  done
  DURATION=$saved
  for r in $(seq "$ROUNDS"); do
    for side in a b; do
      guard_side $side
      unary_run guard_echo "$ECHO_PATH" "$ECHO_REQ" "$echo_resp_bytes" $side "$H2_PORT" "$r"
    done
    for side in a b; do
      guard_side $side
      unary_run guard_health "$HEALTH_PATH" "$HEALTH_REQ" "$health_resp_bytes" $side "$H2_PORT" "$r"
    done
    for side in a b; do
      guard_side $side
      CHURN_KEY=guard_churn churn_run $side "$H2_PORT" "$r" $((CHURN_RATE * DURATION))
    done
  done
  guard_side a
  stop_h2gate
  guard_side b
  stop_h2gate
}

# ------------------------------------------------------------------------------------------
# 9. gRPC over kept HTTP/2 connections: the gateway serves the connection itself on libnghttp2
# and relays each call to the embedded server in process (--http2-route-per-request=all), vs the
# hand-off (the defaults: guarded, then gRPC's) vs the direct port. Two processes on the server
# core: side a is the kept process's front port, b the default process's front port, c that
# process's direct port; each side's CPU is its own process's.

kept_compare() {
  local r key k_pid k_port k_direct d_pid d_port d_direct
  start_h2gate kept --http2-route-per-request=all
  k_pid=$H2_PID k_port=$H2_PORT k_direct=$H2_DIRECT
  start_h2gate handoff
  d_pid=$H2_PID d_port=$H2_PORT d_direct=$H2_DIRECT
  grpc_call "$k_port" "$ECHO_PATH" "$ECHO_REQ" "$RUN_DIR/echo_resp.bin" echo-kept
  grpc_call "$k_port" "$HEALTH_PATH" "$HEALTH_REQ" "$RUN_DIR/health_resp.bin" health-kept
  # kept_side SIDE: sets H2_PID and H2_PORT (read by unary_run: CPU and metrics) and TARGET.
  local TARGET
  kept_side() {
    case $1 in
      a) H2_PID=$k_pid H2_PORT=$k_port H2_DIRECT=$k_direct TARGET=$k_port ;;
      b) H2_PID=$d_pid H2_PORT=$d_port H2_DIRECT=$d_direct TARGET=$d_port ;;
      c) H2_PID=$d_pid H2_PORT=$d_port H2_DIRECT=$d_direct TARGET=$d_direct ;;
    esac
  }
  # kept_run KEY SIDE ROUND: one unary_run, plus proof of the path each connection took: on the
  # kept side every connection was kept and none handed off, on the hand-off side the reverse,
  # and the direct port touches neither counter.
  kept_run() {
    local key=$1 side=$2 round=$3 path req resp h0 h1 k0 k1 want_h want_k
    case $key in
      echo) path=$ECHO_PATH req=$ECHO_REQ resp=$echo_resp_bytes ;;
      health) path=$HEALTH_PATH req=$HEALTH_REQ resp=$health_resp_bytes ;;
    esac
    kept_side "$side"
    h0=$(bt metric --port "$H2_PORT" h2gate_grpc_handoffs_total)
    k0=$(bt metric --port "$H2_PORT" h2gate_http2_kept_connections_total)
    unary_run "kept_$key" "$path" "$req" "$resp" "$side" "$TARGET" "$round"
    h1=$(bt metric --port "$H2_PORT" h2gate_grpc_handoffs_total)
    k1=$(bt metric --port "$H2_PORT" h2gate_http2_kept_connections_total)
    case $side in
      a) want_h=0 want_k=$UNARY_CLIENTS ;;
      b) want_h=$UNARY_CLIENTS want_k=0 ;;
      c) want_h=0 want_k=0 ;;
    esac
    ((h1 - h0 == want_h && k1 - k0 == want_k)) ||
      die "kept_$key/$side: $((h1 - h0)) connections handed off and $((k1 - k0)) kept; expected $want_h and $want_k"
  }
  log "== kept: Echo and Health over kept HTTP/2 connections vs hand-off vs direct"
  local saved=$DURATION side
  DURATION=1
  for key in echo health; do
    for side in a b c; do kept_run "$key" "$side" 0; done
  done
  DURATION=$saved
  for r in $(seq "$ROUNDS"); do
    for key in echo health; do
      for side in a b c; do kept_run "$key" "$side" "$r"; done
    done
  done
  kept_side a
  stop_h2gate
  kept_side b
  stop_h2gate
}

# ------------------------------------------------------------------------------------------
# 10. JSON over HTTP/2: the legacy call of rows 4 and 7 ({"message":"hi"} POSTed as
# application/json to a gRPC path) from h2load over HTTP/2 (side a: the connection is kept, its
# first request not being gRPC) vs from wrk over HTTP/1.1 (side b), JSON_CLIENTS keep-alive
# connections with one request in flight each, on the same process. One h2gate with the default
# policy (reject: a 415 over HTTP/2, the 426 over HTTP/1.1) and one with --http1-policy=warn
# (both transcoded to the gRPC call, 200 JSON), on the server core; measured one at a time.

JSON_CLIENTS=32

# h2json_fetch PORT POLICY PROTO: one call; saves the body (and curl's headers), checks the
# status. Over HTTP/2 the call is nghttp's, not curl's: curl 7.88 writes its first HEADERS apart
# from the preface, and when the sniffer sees the preface alone it hands the connection to gRPC
# (which answers a JSON call with grpc-status 2), where the first request should have kept it.
# nghttp, like h2load, sends preface and request in one write.
h2json_fetch() {
  local port=$1 policy=$2 proto=$3 tag=$RUN_DIR/h2json-$2-$3 want code
  local url=http://127.0.0.1:$port$ECHO_PATH
  case $policy/$proto in
    reject/h2) want=415 ;; reject/h1) want=426 ;; warn/*) want=200 ;;
  esac
  if [[ $proto == h2 ]]; then
    timeout 10 nghttp -v -H 'content-type: application/json' -d "$RUN_DIR/hi.json" "$url" \
      >"$tag.log" 2>&1 || die "h2json preflight ($policy, $proto) failed; see $tag.log"
    code=$(sed -n 's/.*recv (stream_id=[0-9]*) :status: \([0-9]*\).*/\1/p' "$tag.log" | head -1)
    timeout 10 nghttp -H 'content-type: application/json' -d "$RUN_DIR/hi.json" "$url" \
      >"$tag.body" 2>"$tag.err" || die "h2json preflight ($policy, $proto) failed: $(head -3 "$tag.err")"
  else
    code=$(curl -sS --max-time 5 --http1.1 -X POST -H 'Content-Type: application/json' \
      --data-binary "@$RUN_DIR/hi.json" -D "$tag.hdr" -o "$tag.body" -w '%{http_code}' "$url") ||
      die "h2json preflight ($policy, $proto) failed"
  fi
  [[ $code == "$want" ]] || die "h2json preflight ($policy, $proto): status $code, expected $want"
}

# h2json_run POLICY SIDE ROUND DURATION (ROUND 0: warm-up, not recorded)
h2json_run() {
  local policy=$1 side=$2 round=$3 dur=$4 pid port out t0 t1 m0 m1 c0 c1 parsed n
  local rps responses elapsed succeeded version cpu
  if [[ $policy == reject ]]; then pid=$r_pid port=$r_port; else pid=$w_pid port=$w_port; fi
  version=$([[ $side == a ]] && echo 2 || echo 1.x)
  local m=(h2gate_http1_rejections_total grpc_service=echo.v1.Echo grpc_method=Echo
    "http_version=$version")
  [[ $policy == warn ]] && m=(h2gate_http1_transcoded_total grpc_service=echo.v1.Echo
    grpc_method=Echo policy=warn grpc_code=OK "http_version=$version")
  m0=$(bt metric --port "$port" "${m[@]}")
  if [[ $side == a ]]; then
    c0=$(bt metric --port "$port" h2gate_http2_kept_connections_total reason=first_request)
  else
    c0=$(bt metric --port "$port" h2gate_connections_accepted_total)
  fi
  t0=$(cpu_ticks "$pid")
  if [[ $side == a ]]; then
    out=$RUN_DIR/h2json-$policy-a-r$round.h2load
    load h2load -t 1 -N 10s -H 'content-type: application/json' -c "$JSON_CLIENTS" -m 1 \
      -D "$dur" -d "$RUN_DIR/hi.json" "http://127.0.0.1:$port$ECHO_PATH" >"$out" 2>&1 ||
      die "h2load failed (h2json $policy); see $out"
    t1=$(cpu_ticks "$pid")
    parsed=$(bt h2load --what "h2json_$policy/a" --file "$out" --inflight "$JSON_CLIENTS" \
      --expect-bytes "$(stat -c %s "$RUN_DIR/h2json-$policy-h2.body")" \
      --expect-status "$([[ $policy == reject ]] && echo 4xx || echo 2xx)") ||
      die "h2json_$policy/a: invalid run (see above)"
    eval "$parsed"
    n=$succeeded
    c1=$(bt metric --port "$port" h2gate_http2_kept_connections_total reason=first_request)
    ((c1 - c0 == JSON_CLIENTS)) ||
      die "h2json_$policy/a: $((c1 - c0)) connections kept for $JSON_CLIENTS h2load clients"
  else
    out=$RUN_DIR/h2json-$policy-b-r$round.wrk
    load wrk -t 1 -c "$JSON_CLIENTS" -d "${dur}s" --timeout 5s -s "$BENCH_DIR/lib/post.lua" \
      "http://127.0.0.1:$port$ECHO_PATH" >"$out" 2>&1 || die "wrk failed (h2json $policy); see $out"
    t1=$(cpu_ticks "$pid")
    parsed=$(bt wrk --what "h2json_$policy/b" --file "$out" \
      --expect "$([[ $policy == reject ]] && echo non2xx || echo 2xx)") ||
      die "h2json_$policy/b: invalid run (see above)"
    eval "$parsed"
    n=$responses
    # JSON_CLIENTS connections, +1 for the scrape: more means an answer closed its connection.
    c1=$(bt metric --port "$port" h2gate_connections_accepted_total)
    ((c1 - c0 <= JSON_CLIENTS + 2)) ||
      die "h2json_$policy/b: $((c1 - c0)) connections accepted for $JSON_CLIENTS keep-alive clients"
  fi
  m1=$(bt metric --port "$port" "${m[@]}")
  ((m1 - m0 >= n)) || die "h2json_$policy/$side: the client saw $n answers, the server counted $((m1 - m0)) (${m[0]})"
  ((round == 0)) && return 0
  cpu=$(cpu_us_per $((t1 - t0)) "$n")
  record "h2json_$policy.rps" "$side" "$round" "$rps"
  record "h2json_$policy.cpu_us" "$side" "$round" "$cpu"
  log "h2json $policy $side round $round: $rps responses/s, $cpu µs CPU/response ($n; server core $(busy_pct $((t1 - t0)) "$dur") busy)"
}

h2json_compare() {
  local r policy side r_pid r_port w_pid w_port
  log "== h2json: POST JSON to $ECHO_PATH over HTTP/2 (h2load) vs HTTP/1.1 (wrk), $JSON_CLIENTS conns; reject and warn"
  printf '%s' '{"message":"hi"}' >"$RUN_DIR/hi.json"
  start_h2gate h2json-reject
  r_pid=$H2_PID r_port=$H2_PORT
  start_h2gate h2json-warn --http1-policy=warn
  w_pid=$H2_PID w_port=$H2_PORT
  h2json_fetch "$r_port" reject h2
  h2json_fetch "$r_port" reject h1
  h2json_fetch "$w_port" warn h2
  h2json_fetch "$w_port" warn h1
  cmp -s "$RUN_DIR/h2json-warn-h2.body" "$RUN_DIR/h2json-warn-h1.body" ||
    die "h2json: the transcoded answers over HTTP/2 and HTTP/1.1 differ ($RUN_DIR/h2json-warn-*.body)"
  grep -qx '{"message":"hi"}' "$RUN_DIR/h2json-warn-h2.body" ||
    die "h2json: the transcoded answer is not the echo: $(head -c 200 "$RUN_DIR/h2json-warn-h2.body")"
  for policy in reject warn; do
    for side in a b; do h2json_run "$policy" "$side" 0 1; done
  done
  for r in $(seq "$ROUNDS"); do
    for policy in reject warn; do
      for side in a b; do h2json_run "$policy" "$side" "$r" "$DURATION"; done
    done
  done
  H2_PID=$r_pid
  stop_h2gate
  H2_PID=$w_pid
  stop_h2gate
}

# ------------------------------------------------------------------------------------------
# 14. h2gate vs a bare gRPC server (bench/bare/bare_server.cc: the same Echo on the callback API,
# gRPC's default health service, h2gate's channel arguments, nothing else): Echo, Health and
# churn, side a h2gate's front port (the defaults: guarded hand-off, metrics on), side b the bare
# server's port. Two processes on the server core, one measured at a time; each side's CPU and
# scheduler counts are its own process's.

# start_bare NAME: h2gate_bare on the server core. Sets BARE_PID, BARE_PORT.
start_bare() {
  local log=$RUN_DIR/$1.log
  BARE_PORT=$(bt free-ports 1)
  taskset -c "$SERVER_CPU" "$BARE_BIN" "127.0.0.1:$BARE_PORT" >"$log" 2>&1 &
  BARE_PID=$!
  PIDS+=("$BARE_PID")
  wait_for 15 "h2gate_bare" grep -q '^h2gate_bare listening on ' "$log" ||
    die "h2gate_bare ($1) not listening within 15 s; log: $log: $(tail -3 "$log")"
  log "h2gate_bare $1: pid $BARE_PID, 127.0.0.1:$BARE_PORT"
}

bare_compare() {
  local r h_pid h_port h_direct saved=$DURATION side
  start_h2gate bare-h2gate
  h_pid=$H2_PID h_port=$H2_PORT h_direct=$H2_DIRECT
  start_bare bare
  grpc_call "$BARE_PORT" "$ECHO_PATH" "$ECHO_REQ" "$RUN_DIR/echo_resp.bin" echo-bare
  grpc_call "$BARE_PORT" "$HEALTH_PATH" "$HEALTH_REQ" "$RUN_DIR/health_resp.bin" health-bare
  # bare_side SIDE: sets what unary_run and churn_run read: H2_PID (CPU, scheduler counts),
  # H2_PORT (metrics, and here the port loaded), SERVER_METRICS.
  bare_side() {
    if [[ $1 == a ]]; then H2_PID=$h_pid H2_PORT=$h_port H2_DIRECT=$h_direct SERVER_METRICS=1; else
      H2_PID=$BARE_PID H2_PORT=$BARE_PORT SERVER_METRICS=0; fi
  }
  log "== bare: Echo, Health and churn, h2gate's front port vs the bare gRPC server; scheduler counts by $( ((PERF_OK)) && echo "perf stat and /proc" || echo "/proc only (perf cannot count here)")"
  DURATION=1
  for side in a b; do
    bare_side $side
    unary_run bare_echo "$ECHO_PATH" "$ECHO_REQ" "$echo_resp_bytes" $side "$H2_PORT" 0
    unary_run bare_health "$HEALTH_PATH" "$HEALTH_REQ" "$health_resp_bytes" $side "$H2_PORT" 0
    CHURN_KEY=bare_churn churn_run $side "$H2_PORT" 0 $((CHURN_RATE / 10))
  done
  DURATION=$saved
  SCHED_COUNT=1
  for r in $(seq "$ROUNDS"); do
    for side in a b; do
      bare_side $side
      unary_run bare_echo "$ECHO_PATH" "$ECHO_REQ" "$echo_resp_bytes" $side "$H2_PORT" "$r"
    done
    for side in a b; do
      bare_side $side
      unary_run bare_health "$HEALTH_PATH" "$HEALTH_REQ" "$health_resp_bytes" $side "$H2_PORT" "$r"
    done
    for side in a b; do
      bare_side $side
      CHURN_KEY=bare_churn churn_run $side "$H2_PORT" "$r" $((CHURN_RATE * DURATION))
    done
  done
  SCHED_COUNT=0
  SERVER_METRICS=1
  stop_pid "$BARE_PID"
  forget_pid "$BARE_PID"
  H2_PID=$h_pid
  stop_h2gate
}

# ------------------------------------------------------------------------------------------
# 15. Instructions per call and per connection under callgrind, h2gate's front port vs the bare
# server (bench/lib/callgrind.sh, sides handoff and bare, methods echo, health and churn): Echo
# and Health with h2load -c 4 -m 8 over the two run lengths of CG_CALLS, churn over the two
# connection counts of CG_CHURN at CG_CHURN_RATE/s, one Health call each. Repeatable where the
# wall-clock rows are not: recorded as round 1 of their own rows.

callgrind_compare() {
  local dir=$RUN_DIR/callgrind method side key
  log "== callgrind: h2gate (front port, defaults) vs bare; Echo and Health $CG_CALLS calls, churn $CG_CHURN connections"
  CG_RUN_DIR=$dir CG_SIDES="handoff bare" CG_METHODS="echo health churn" CG_CALLS=$CG_CALLS \
    CG_CONNS=4 CG_STREAMS=8 CG_CHURN=$CG_CHURN CG_CHURN_RATE=$CG_CHURN_RATE \
    H2GATE_BIN=$H2GATE_BIN BARE_BIN=$BARE_BIN SERVER_CPU=$SERVER_CPU LOAD_CPU=$LOAD_CPU \
    timeout -k 10 3600 bash "$BENCH_DIR/lib/callgrind.sh" >"$RUN_DIR/callgrind.log" 2>&1 ||
    die "callgrind.sh failed; see $RUN_DIR/callgrind.log: $(tail -3 "$RUN_DIR/callgrind.log")"
  local per
  for method in echo health churn; do
    for side in handoff bare; do
      # (I(long) - I(short)) / (n(long) - n(short)), from the two runs' totals.
      per=$(awk -v m="$method" -v s="$side" '
        $1 == m && $2 == s { n[++k] = $3; ir[k] = $4 }
        END { if (k != 2) exit 1; if (n[1] > n[2]) { t = n[1]; n[1] = n[2]; n[2] = t; t = ir[1]; ir[1] = ir[2]; ir[2] = t }
              printf "%.0f", (ir[2] - ir[1]) / (n[2] - n[1]) }' "$dir/totals.tsv") ||
        die "callgrind: no two runs of $method/$side in $dir/totals.tsv"
      record "cg_$method.ir" "$([[ $side == bare ]] && echo b || echo a)" 1 "$per"
    done
  done
  log "callgrind: summary in ${dir#"$REPO"/}/summary.md"
}

# ------------------------------------------------------------------------------------------
# 11-13. TLS on the one port (TESTS=tls). Two h2gate processes on the server core, both with the
# same test certificate: one with --http2-guard-exempt=127.0.0.1/32, so a gRPC client's TLS from
# loopback (ALPN h2 alone) is handed to gRPC's TLS acceptor, which runs the handshake itself (zero
# copy); one with the defaults, so h2gate terminates the TLS and relays the plaintext frames
# through the HTTP/2 guard to gRPC's plaintext acceptor. Sides: a, the exempt process's front
# port; b, the guarded process's front port; c, the exempt process's direct port (--direct-listen
# with --tls-cert: gRPC's own TLS, no front listener), the baseline. Each side's CPU is its own
# process's. Row 13: HTTP/1.1 over TLS (no ALPN, as wrk connects) to the guarded process, the
# 426, against nginx listening with TLS on the same certificate.

# tls_make_cert DIR: a self-signed EC P-256 certificate for 127.0.0.1 and localhost, cert.pem and
# key.pem (none of h2load, wrk and curl --insecure verifies it).
tls_make_cert() {
  mkdir -p "$1"
  timeout 30 openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
    -subj /CN=localhost -addext 'subjectAltName=IP:127.0.0.1,DNS:localhost' \
    -keyout "$1/key.pem" -out "$1/cert.pem" >"$1/openssl.log" 2>&1 ||
    die "cannot make the test certificate: $(tail -2 "$1/openssl.log")"
}

# tls_routes PORT: "grpc guarded gateway", h2gate_tls_connections_total by route.
tls_routes() {
  local r v=()
  for r in grpc guarded gateway; do
    v+=("$(bt metric --port "$1" h2gate_tls_connections_total "route=$r")") || return 1
  done
  echo "${v[*]}"
}

tls_compare() {
  local r kind side e_pid e_port e_direct g_pid g_port g_direct TARGET upgrade
  # Read by unary_run, churn_run and http1_run. h2load offers h2,h2-16,h2-14,http/1.1 by default,
  # which h2gate would keep as a browser's; a gRPC client offers h2 alone. And it offers X25519
  # first, which h2gate's handshake takes, where gRPC's agrees on P-256: P-256 on every side, so
  # that a new connection's key exchange is the same everywhere (tls_run checks it).
  local SCHEME=https H2LOAD_ALPN=(--npn-list=h2 --groups=P-256)
  local -A TLS_PARAMS=()
  local cert=$RUN_DIR/tls/cert.pem key=$RUN_DIR/tls/key.pem
  log "== tls: Echo and churn over TLS through the front port (exempt: gRPC's handshake; guarded: h2gate's) vs the direct port's TLS; the HTTPS 426 vs nginx"
  tls_make_cert "$RUN_DIR/tls"
  start_h2gate tls-exempt "--tls-cert=$cert" "--tls-key=$key" --http2-guard-exempt=127.0.0.1/32
  e_pid=$H2_PID e_port=$H2_PORT e_direct=$H2_DIRECT
  start_h2gate tls-guarded "--tls-cert=$cert" "--tls-key=$key"
  g_pid=$H2_PID g_port=$H2_PORT g_direct=$H2_DIRECT
  # The answer's bytes over each port (curl offers h2 and http/1.1, so on the front ports its
  # call is h2gate's own TLS session, relayed in process; the loads below take the paths checked
  # by tls_run).
  grpc_call "$e_direct" "$ECHO_PATH" "$ECHO_REQ" "$RUN_DIR/echo_resp.bin" echo-tls-direct https
  grpc_call "$e_port" "$ECHO_PATH" "$ECHO_REQ" "$RUN_DIR/echo_resp.bin" echo-tls-exempt https
  grpc_call "$g_port" "$ECHO_PATH" "$ECHO_REQ" "$RUN_DIR/echo_resp.bin" echo-tls-guarded https
  # tls_side SIDE: sets H2_PID and H2_PORT (read by unary_run and churn_run: CPU and metrics) and
  # TARGET, the port loaded.
  tls_side() {
    case $1 in
      a) H2_PID=$e_pid H2_PORT=$e_port H2_DIRECT=$e_direct TARGET=$e_port ;;
      b) H2_PID=$g_pid H2_PORT=$g_port H2_DIRECT=$g_direct TARGET=$g_port ;;
      c) H2_PID=$e_pid H2_PORT=$e_port H2_DIRECT=$e_direct TARGET=$e_direct ;;
    esac
  }
  # tls_run KIND SIDE ROUND: KIND echo (row 1's load) or churn (row 3's, at TLS_CHURN_RATE), plus
  # proof of the path every connection of the load took, from the loaded process's counters: on
  # side a each was handed to gRPC's TLS (route="grpc"), on side b terminated by h2gate and
  # guarded (route="guarded"), on side c (the direct port) none reached the front port; on no
  # side did h2gate serve one itself (route="gateway": ALPN h2 was not offered alone).
  tls_run() {
    local kind=$1 side=$2 round=$3 n r0 r1 out g0 u0 w0 g1 u1 w1 want_g=0 want_u=0
    tls_side "$side"
    r0=$(tls_routes "$H2_PORT") || die "tls_$kind/$side: cannot read h2gate_tls_connections_total"
    if [[ $kind == echo ]]; then
      n=$UNARY_CLIENTS
      unary_run tls_echo "$ECHO_PATH" "$ECHO_REQ" "$echo_resp_bytes" "$side" "$TARGET" "$round"
    else
      n=$((round == 0 ? TLS_CHURN_RATE / 10 : TLS_CHURN_RATE * DURATION))
      CHURN_RATE=$TLS_CHURN_RATE CHURN_KEY=tls_churn CHURN_HANDOFFS=0 \
        churn_run "$side" "$TARGET" "$round" "$n"
    fi
    r1=$(tls_routes "$H2_PORT") || die "tls_$kind/$side: cannot read h2gate_tls_connections_total"
    read -r g0 u0 w0 <<<"$r0"
    read -r g1 u1 w1 <<<"$r1"
    case $side in a) want_g=$n ;; b) want_u=$n ;; esac
    ((g1 - g0 == want_g && u1 - u0 == want_u && w1 - w0 == 0)) ||
      die "tls_$kind/$side: of $n h2load connections, $((g1 - g0)) handed to gRPC's TLS (route=grpc), $((u1 - u0)) guarded, $((w1 - w0)) served by h2gate; expected $want_g, $want_u and 0"
    out=$RUN_DIR/tls_$kind-$side-r$round.h2load
    grep -qx 'Application protocol: h2' "$out" || die "tls_$kind/$side: h2load did not negotiate ALPN h2 ($out)"
    TLS_PARAMS[$side]=$(sed -n 's/^TLS Protocol: //p; s/^Cipher: //p; s/^Server Temp Key: //p' "$out" | paste -sd' ')
  }
  local saved=$DURATION
  DURATION=1
  for kind in echo churn; do
    for side in a b c; do tls_run "$kind" "$side" 0; done
  done
  DURATION=$saved
  log "TLS negotiated by h2load: exempt front ${TLS_PARAMS[a]}; guarded front ${TLS_PARAMS[b]}; direct ${TLS_PARAMS[c]}"
  [[ ${TLS_PARAMS[a]} == "${TLS_PARAMS[c]}" && ${TLS_PARAMS[b]} == "${TLS_PARAMS[c]}" ]] ||
    die "tls: the sides negotiated different TLS versions, ciphers or groups (above): the comparison would measure that difference"
  for r in $(seq "$ROUNDS"); do
    for kind in echo churn; do
      for side in a b c; do tls_run "$kind" "$side" "$r"; done
    done
  done

  log "== tls426: POST $ECHO_PATH over TLS -> 426, wrk -t1 -c32, h2gate (guarded process) vs nginx, same certificate"
  tls_side b
  fetch_426 "$g_port" h2gate-tls https
  upgrade=$(tr -d '\r' <"$RUN_DIR/426-h2gate-tls.hdr" | sed -n 's/^[Uu]pgrade: *//p' | head -1)
  [[ -n $upgrade ]] || die "h2gate's 426 over TLS has no Upgrade header ($RUN_DIR/426-h2gate-tls.hdr)"
  start_nginx nginx-tls "$RUN_DIR/426-h2gate-tls.body" --upgrade "$upgrade" --tls-cert "$cert" \
    --tls-key "$key"
  fetch_426 "$NGX_PORT" nginx-tls https
  cmp -s "$RUN_DIR/426-h2gate-tls.body" "$RUN_DIR/426-nginx-tls.body" ||
    die "nginx's 426 body over TLS differs from h2gate's ($RUN_DIR/426-*-tls.body)"
  local h_tls n_tls
  h_tls=$(sed -n 's/^\* SSL connection using //p' "$RUN_DIR/426-h2gate-tls.curl")
  n_tls=$(sed -n 's/^\* SSL connection using //p' "$RUN_DIR/426-nginx-tls.curl")
  log "426 over TLS, h2gate: $h_tls; $(tr -d '\r' <"$RUN_DIR/426-h2gate-tls.hdr" | tail -n +2 | paste -sd'|')"
  log "426 over TLS, nginx:  $n_tls; $(tr -d '\r' <"$RUN_DIR/426-nginx-tls.hdr" | tail -n +2 | paste -sd'|')"
  [[ -n $h_tls && $h_tls == "$n_tls" ]] ||
    die "tls426: h2gate and nginx negotiated different TLS versions or ciphers (above)"
  HTTP1_KEY=tls426 http1_run a "$g_port" "$g_pid" 0 1
  HTTP1_KEY=tls426 http1_run b "$NGX_PORT" "$NGX_PID" 0 1
  for r in $(seq "$ROUNDS"); do
    HTTP1_KEY=tls426 http1_run a "$g_port" "$g_pid" "$r" "$DURATION"
    HTTP1_KEY=tls426 http1_run b "$NGX_PORT" "$NGX_PID" "$r" "$DURATION"
  done
  stop_pid "$NGX_PID"
  forget_pid "$NGX_PID"
  H2_PID=$e_pid
  stop_h2gate
  H2_PID=$g_pid
  stop_h2gate
}

# ------------------------------------------------------------------------------------------
# Run.

log "results in $RUN_DIR; rounds $ROUNDS, ${DURATION}s runs, server on core $SERVER_CPU, load on core $LOAD_CPU"

start_h2gate main
grpc_call "$H2_PORT" "$ECHO_PATH" "$ECHO_REQ" "$RUN_DIR/echo_resp.bin" echo-front
grpc_call "$H2_DIRECT" "$ECHO_PATH" "$ECHO_REQ" "$RUN_DIR/echo_resp.bin" echo-direct
grpc_call "$H2_PORT" "$HEALTH_PATH" "$HEALTH_REQ" "$RUN_DIR/health_resp.bin" health-front
grpc_call "$H2_DIRECT" "$HEALTH_PATH" "$HEALTH_REQ" "$RUN_DIR/health_resp.bin" health-direct

for t in $TESTS; do
  case $t in
    echo) unary_compare echo "$ECHO_PATH" "$ECHO_REQ" "$echo_resp_bytes" ;;
    health) unary_compare health "$HEALTH_PATH" "$HEALTH_REQ" "$health_resp_bytes" ;;
    churn) churn_compare ;;
    http1) http1_compare ;;
    latency) latency_compare ;;
    memory | transcode | guard | kept | h2json | tls | bare | callgrind) ;;  # their own servers: below
    *) die "unknown test '$t' in TESTS (echo health churn http1 latency memory transcode guard kept h2json tls bare callgrind)" ;;
  esac
done
stop_h2gate
if [[ " $TESTS " == *" memory "* ]]; then memory_compare; fi
if [[ " $TESTS " == *" transcode "* ]]; then transcode_compare; fi
if [[ " $TESTS " == *" guard "* ]]; then guard_compare; fi
if [[ " $TESTS " == *" kept "* ]]; then kept_compare; fi
if [[ " $TESTS " == *" h2json "* ]]; then h2json_compare; fi
if [[ " $TESTS " == *" tls "* ]]; then tls_compare; fi
if [[ " $TESTS " == *" bare "* ]]; then bare_compare; fi
if [[ " $TESTS " == *" callgrind "* ]]; then callgrind_compare; fi

LOAD1=$(cut -d' ' -f1 /proc/loadavg)
GIT_REV=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
GIT_DIRTY=$(git -C "$REPO" status --porcelain -- gateway server proto CMakeLists.txt 2>/dev/null | wc -l)
{
  echo "# h2gate benchmark, $(date '+%Y-%m-%d %H:%M %Z')"
  echo
  [[ $QUICK == 1 ]] && echo "**QUICK mode: harness check only; these figures are not results.**" && echo
  echo "- h2gate $GIT_REV$( ((GIT_DIRTY > 0)) && echo " + $GIT_DIRTY uncommitted source files"), $H2GATE_BIN"
  echo "- $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), Linux $(uname -r)"
  echo "- server pinned to core $SERVER_CPU, load generator to core $LOAD_CPU; load average $LOAD0 at start, $LOAD1 at end"
  echo "- $ROUNDS round(s), interleaved h2gate/baseline, ${DURATION}s per run; median (min–max)"
  if ((NEED_BARE)); then echo "- bare gRPC server (rows 14, 15): $BARE_BIN"; fi
  if [[ " $TESTS " == *" bare "* ]]; then
    echo "- row 14's scheduler counts: $( ((PERF_OK)) && echo "perf stat (context-switches, sched:sched_wakeup) and /proc/PID/task/*/status" || echo "/proc/PID/task/*/status only: perf cannot count here")"
  fi
  if [[ " $TESTS " == *" callgrind "* ]]; then
    echo "- row 15: callgrind, Echo and Health over $CG_CALLS calls (h2load -c 4 -m 8), churn over $CG_CHURN connections at $CG_CHURN_RATE/s; raw: bench/out/run-$STAMP/callgrind/"
  fi
  echo "- $(h2load --version 2>&1 | head -1), wrk $(wrk -v 2>&1 | head -1 | awk '{ print $2 }'), $(nginx -v 2>&1 | sed 's/.*: //')"
  echo "- raw output: bench/out/run-$STAMP/"
} >"$RUN_DIR/header.md"
bt table --results "$RUN_DIR/results.tsv" --header "$RUN_DIR/header.md" --out "$RESULTS_MD" \
  "echo_shape=$UNARY_CLIENTS conns × $UNARY_STREAMS streams" "churn_rate=$CHURN_RATE" \
  "mem_conns=$MEM_CONNS" "lat_rps=$LAT_RPS" "json_clients=$JSON_CLIENTS" \
  "tls_churn_rate=$TLS_CHURN_RATE" "cg_calls=$CG_CALLS" "cg_churn=$CG_CHURN"
log "table written to ${RESULTS_MD#"$REPO"/}"
