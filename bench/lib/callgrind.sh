#!/usr/bin/env bash
# Instructions per gRPC call, and per new connection, counted by callgrind: a kept HTTP/2
# connection (--http2-route-per-request=all) vs the hand-off (the defaults) vs the direct port,
# and against a bare gRPC server (bench/bare/bare_server.cc: the same Echo, the default health
# service, nothing else).
#
#   bash bench/lib/callgrind.sh
#   CG_CALLS="1000 5000" CG_METHODS="echo health" CG_SIDES="kept handoff direct" bash bench/lib/callgrind.sh
#   CG_SIDES="handoff bare" CG_METHODS="echo health churn" CG_CALLS="2000 8000" CG_CONNS=4 \
#     BARE_BIN=build-bare/bench/bare/h2gate_bare bash bench/lib/callgrind.sh   # run.sh's TESTS=callgrind
#
# For each side and method, the server runs twice under `valgrind --tool=callgrind
# --dump-instr=no`, once per number of calls in CG_CALLS; h2load makes exactly that many calls
# (-n, CG_CONNS connections x CG_STREAMS streams: 16 x 8 as rows 1, 2 and 9 unless set) and the
# server is stopped with SIGTERM so callgrind writes its counts. Start-up, the preflight call, the
# metric scrapes and shutdown are the same in both runs, so (I(long) - I(short)) /
# (calls(long) - calls(short)) is what one call costs, all threads together. The same difference
# per function (inclusive, from callgrind_annotate) says where.
#
# Method churn: CG_CHURN connections (two counts, short then long), each with one Health/Check
# call, opened at CG_CHURN_RATE per second (h2load -c N -n N -r); the difference per connection is
# what a new connection with its one call costs. The offered rate is the same in both runs, so
# the long run also lasts longer: what a server does per second while idle (timers) is counted
# into the per-connection figure, at most (idle instructions per second) / CG_CHURN_RATE.
#
# Instruction counts do not depend on the machine's speed or on other tenants, unlike the CPU
# time of run.sh; they do not count the kernel (system calls are one instruction each here).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=common.sh
source "$BENCH_DIR/lib/common.sh"

H2GATE_BIN=${H2GATE_BIN:-$REPO/build/server/h2gate}
CG_CALLS=${CG_CALLS:-1000 5000}
CG_METHODS=${CG_METHODS:-echo health}
CG_SIDES=${CG_SIDES:-kept handoff direct}   # and exempt (--http2-guard-exempt=all), bare (BARE_BIN)
CG_CONNS=${CG_CONNS:-16}             # h2load -c of the echo and health runs
CG_STREAMS=${CG_STREAMS:-8}          # h2load -m of the echo and health runs
CG_CHURN=${CG_CHURN:-200 1000}       # connections of the two churn runs (one Health call each)
CG_CHURN_RATE=${CG_CHURN_RATE:-50}   # new connections per second in the churn runs (multiple of 10)
BARE_BIN=${BARE_BIN:-$REPO/build-bare/bench/bare/h2gate_bare}
CG_TOP=${CG_TOP:-40}                 # functions listed per side in the per-call profile
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}

read -r CALLS_SHORT CALLS_LONG <<<"$CG_CALLS"
((CALLS_LONG > CALLS_SHORT && CALLS_SHORT > 0)) || die "CG_CALLS='$CG_CALLS': want two counts, short then long"
command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null ||
  die "needs valgrind (apt-get install valgrind)"
[[ -x $H2GATE_BIN ]] || die "no h2gate binary at $H2GATE_BIN (set H2GATE_BIN)"
read -r CONNS_SHORT CONNS_LONG <<<"$CG_CHURN"
((CONNS_LONG > CONNS_SHORT && CONNS_SHORT > 0)) || die "CG_CHURN='$CG_CHURN': want two counts, short then long"
((CG_CHURN_RATE >= 10 && CG_CHURN_RATE % 10 == 0)) || die "CG_CHURN_RATE=$CG_CHURN_RATE: want a multiple of 10"
if [[ " $CG_SIDES " == *" bare "* ]]; then
  [[ -x $BARE_BIN ]] || die "no h2gate_bare at $BARE_BIN (cmake --build BUILD_DIR --target h2gate_bare, or set BARE_BIN)"
fi

STAMP=$(date +%Y-%m-%d-%H%M%S)
RUN_DIR=${CG_RUN_DIR:-$BENCH_DIR/out/callgrind-$STAMP}   # run.sh (TESTS=callgrind) sets its own
mkdir -p "$RUN_DIR"
trap cleanup EXIT
trap 'die "interrupted"' INT TERM

read -r echo_resp_bytes health_resp_bytes < <(bt bodies --dir "$RUN_DIR")

# cg_run SIDE METHOD CALLS: one server under callgrind; sets CG_IR to its instruction count.
# CALLS is connections for METHOD churn. (Not run in a $(...) subshell: the PIDs it starts must be
# the script's, for cleanup.)
cg_run() {
  local side=$1 method=$2 calls=$3 tag flags=() path req resp_bytes port h0 h1 k0 k1 load_opts
  tag=$RUN_DIR/$side-$method-$calls
  case $method in
    echo) path=/echo.v1.Echo/Echo req=$RUN_DIR/echo_req.bin resp_bytes=$echo_resp_bytes ;;
    health | churn) path=/grpc.health.v1.Health/Check req=$RUN_DIR/health_req.bin resp_bytes=$health_resp_bytes ;;
    *) die "CG_METHODS: unknown method '$method' (echo, health, churn)" ;;
  esac
  if [[ $method == churn ]]; then
    load_opts=(-c "$calls" -n "$calls" -m 1 -r $((CG_CHURN_RATE / 10)) --rate-period=100ms)
  else
    load_opts=(-c "$CG_CONNS" -m "$CG_STREAMS" -n "$calls")
  fi
  [[ $side == kept ]] && flags=(--http2-route-per-request=all)
  [[ $side == exempt ]] && flags=(--http2-guard-exempt=all)  # handed to gRPC untouched (row 8's b)
  if [[ $side == bare ]]; then
    read -r H2_PORT < <(bt free-ports 1)
    taskset -c "$SERVER_CPU" timeout -k 10 1200 valgrind --tool=callgrind --dump-instr=no \
      --callgrind-out-file="$tag.callgrind" --log-file="$tag.valgrind.log" \
      "$BARE_BIN" "127.0.0.1:$H2_PORT" >"$tag.log" 2>&1 &
    H2_PID=$!
    PIDS+=("$H2_PID")
    wait_for 300 "h2gate_bare" bare_ready_or_dead "$tag.log" ||
      die "h2gate_bare under callgrind not ready in 300 s ($tag.log)"
    kill -0 "$H2_PID" 2>/dev/null || die "h2gate_bare under callgrind exited at start: $(tail -3 "$tag.valgrind.log")"
    port=$H2_PORT
  else
    read -r H2_PORT H2_DIRECT < <(bt free-ports 2)
    taskset -c "$SERVER_CPU" timeout -k 10 1200 valgrind --tool=callgrind --dump-instr=no \
      --callgrind-out-file="$tag.callgrind" --log-file="$tag.valgrind.log" \
      "$H2GATE_BIN" --listen="127.0.0.1:$H2_PORT" --direct-listen="127.0.0.1:$H2_DIRECT" \
      --log-level=warn "${flags[@]}" >"$tag.log" 2>&1 &
    H2_PID=$!
    PIDS+=("$H2_PID")
    wait_for 300 "h2gate" h2gate_ready_or_dead || die "h2gate under callgrind not ready in 300 s ($tag.log)"
    kill -0 "$H2_PID" 2>/dev/null || die "h2gate under callgrind exited at start: $(tail -3 "$tag.valgrind.log")"
    wait_for 60 "direct port" tcp_open "$H2_DIRECT" || die "direct port not listening ($tag.log)"
    port=$H2_PORT
    [[ $side == direct ]] && port=$H2_DIRECT
  fi
  grpc_call "$port" "$path" "$req" "$RUN_DIR/$( [[ $method == echo ]] && echo echo || echo health)_resp.bin" \
    "$side-$method" >/dev/null 2>&1
  if [[ $side != bare ]]; then
    h0=$(bt metric --port "$H2_PORT" h2gate_grpc_handoffs_total)
    k0=$(bt metric --port "$H2_PORT" h2gate_http2_kept_connections_total)
  fi
  timeout -k 5 1200 taskset -c "$LOAD_CPU" h2load -t 1 -H 'content-type: application/grpc' \
    -H 'te: trailers' "${load_opts[@]}" -d "$req" "http://127.0.0.1:$port$path" \
    >"$tag.h2load" 2>&1 || die "h2load failed; see $tag.h2load"
  bt h2load --what "$side/$method/$calls" --file "$tag.h2load" --expect-bytes "$resp_bytes" \
    --expect-requests "$calls" >/dev/null || die "$side/$method/$calls: invalid run (see above)"
  if [[ $side != bare ]]; then
    # Proof of the path: every connection of the load was handed off, kept, or neither.
    local conns=$CG_CONNS
    [[ $method == churn ]] && conns=$calls
    h1=$(bt metric --port "$H2_PORT" h2gate_grpc_handoffs_total)
    k1=$(bt metric --port "$H2_PORT" h2gate_http2_kept_connections_total)
    case $side in
      kept) ((h1 == h0 && k1 - k0 == conns)) ;;
      handoff | exempt) ((h1 - h0 == conns && k1 == k0)) ;;
      direct) ((h1 == h0 && k1 == k0)) ;;
    esac || die "$side/$method: $((h1 - h0)) connections handed off, $((k1 - k0)) kept"
  fi
  # SIGTERM, then wait for the drain and callgrind's dump (slow under valgrind): no SIGKILL here,
  # a killed run writes no counts.
  kill -TERM "$H2_PID"
  wait_for 300 "exit" bash -c "! kill -0 $H2_PID" || die "server under callgrind did not exit in 300 s"
  wait "$H2_PID" 2>/dev/null || true
  forget_pid "$H2_PID"
  callgrind_annotate --inclusive=yes --threshold=100 --show-percs=no --auto=no \
    "$tag.callgrind" >"$tag.incl" 2>/dev/null || die "callgrind_annotate failed on $tag.callgrind"
  callgrind_annotate --threshold=100 --show-percs=no --auto=no \
    "$tag.callgrind" >"$tag.self" 2>/dev/null || die "callgrind_annotate failed on $tag.callgrind"
  CG_IR=$(awk '/^summary:/ { print $2 }' "$tag.callgrind")
  [[ -n $CG_IR ]] || die "no summary line in $tag.callgrind"
}

# True once h2gate_bare has printed its listening line (file $1), or once it has exited.
bare_ready_or_dead() {
  kill -0 "$H2_PID" 2>/dev/null || return 0
  grep -q '^h2gate_bare listening on ' "$1"
}

log "callgrind: $H2GATE_BIN$([[ " $CG_SIDES " == *" bare "* ]] && echo " and $BARE_BIN"); sides $CG_SIDES; methods $CG_METHODS; $CALLS_SHORT and $CALLS_LONG calls ($CG_CONNS conns x $CG_STREAMS streams); churn $CONNS_SHORT and $CONNS_LONG connections at $CG_CHURN_RATE/s; out $RUN_DIR"
: >"$RUN_DIR/totals.tsv"
for method in $CG_METHODS; do
  for side in $CG_SIDES; do
    counts=("$CALLS_SHORT" "$CALLS_LONG")
    [[ $method == churn ]] && counts=("$CONNS_SHORT" "$CONNS_LONG")
    for calls in "${counts[@]}"; do
      cg_run "$side" "$method" "$calls"
      printf '%s\t%s\t%s\t%s\n' "$method" "$side" "$calls" "$CG_IR" >>"$RUN_DIR/totals.tsv"
      log "$method $side: $calls $([[ $method == churn ]] && echo connections || echo calls), $CG_IR instructions in all"
    done
  done
done
bt callgrind-table --dir "$RUN_DIR" --totals "$RUN_DIR/totals.tsv" --top "$CG_TOP" \
  --out "$RUN_DIR/summary.md"
log "summary written to ${RUN_DIR#"$REPO"/}/summary.md"
