#!/usr/bin/env bash
# System calls, wake-ups and context switches per gRPC call, counted with `perf stat` (software
# events and tracepoints: they work where a VM has no hardware counters): a kept HTTP/2 connection
# (--http2-route-per-request=all) vs the hand-off (the defaults) vs the direct port.
#
#   bash bench/lib/syscalls.sh
#   SC_CALLS=50000 SC_METHODS="echo health" SC_SIDES="kept handoff direct" bash bench/lib/syscalls.sh
#
# h2gate runs on SERVER_CPU and h2load on LOAD_CPU, as in run.sh; `perf stat -p` counts h2gate's
# threads for exactly SC_CALLS calls (h2load -n, 16 connections x 8 streams), one h2gate per
# side, started fresh. The counts depend on timing (how many calls a read or a wake-up batches),
# so compare sides measured together on a quiet machine.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=common.sh
source "$BENCH_DIR/lib/common.sh"

H2GATE_BIN=${H2GATE_BIN:-$REPO/build/server/h2gate}
SC_CALLS=${SC_CALLS:-50000}
SC_METHODS=${SC_METHODS:-echo health}
SC_SIDES=${SC_SIDES:-kept handoff direct}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
EVENTS=(context-switches sched:sched_wakeup 'syscalls:sys_enter_*')

command -v perf >/dev/null || die "needs perf (apt-get install linux-perf)"
perf stat -e sched:sched_wakeup true >/dev/null 2>&1 || die "perf cannot count tracepoints here"
[[ -x $H2GATE_BIN ]] || die "no h2gate binary at $H2GATE_BIN (set H2GATE_BIN)"

STAMP=$(date +%Y-%m-%d-%H%M%S)
RUN_DIR=$BENCH_DIR/out/syscalls-$STAMP
mkdir -p "$RUN_DIR"
trap cleanup EXIT
trap 'die "interrupted"' INT TERM
read -r echo_resp_bytes health_resp_bytes < <(bt bodies --dir "$RUN_DIR")

# sc_run SIDE METHOD: one fresh h2gate, perf stat around one h2load run of SC_CALLS calls.
sc_run() {
  local side=$1 method=$2 tag=$RUN_DIR/$1-$2 flags=() path req resp_bytes port
  case $method in
    echo) path=/echo.v1.Echo/Echo req=$RUN_DIR/echo_req.bin resp_bytes=$echo_resp_bytes ;;
    health) path=/grpc.health.v1.Health/Check req=$RUN_DIR/health_req.bin resp_bytes=$health_resp_bytes ;;
    *) die "SC_METHODS: unknown method '$method' (echo, health)" ;;
  esac
  [[ $side == kept ]] && flags=(--http2-route-per-request=all)
  start_h2gate "$side-$method" "${flags[@]}"
  port=$H2_PORT
  [[ $side == direct ]] && port=$H2_DIRECT
  grpc_call "$port" "$path" "$req" "$RUN_DIR/${method}_resp.bin" "$side-$method" >/dev/null 2>&1
  # A short unrecorded warm-up, as run.sh's round 0.
  timeout -k 5 60 taskset -c "$LOAD_CPU" h2load -t 1 -H 'content-type: application/grpc' \
    -H 'te: trailers' -c 16 -m 8 -n 2000 -d "$req" "http://127.0.0.1:$port$path" >/dev/null 2>&1 ||
    die "warm-up h2load failed ($side, $method)"
  # With -p and a command, perf counts the process while the command runs, and starts the
  # command only once its counters are in place.
  timeout -k 5 300 perf stat -x, -o "$tag.perf" -e "$(IFS=,; echo "${EVENTS[*]}")" -p "$H2_PID" -- \
    taskset -c "$LOAD_CPU" h2load -t 1 -H 'content-type: application/grpc' -H 'te: trailers' \
    -c 16 -m 8 -n "$SC_CALLS" -d "$req" "http://127.0.0.1:$port$path" >"$tag.h2load" 2>&1 ||
    die "perf stat or h2load failed; see $tag.h2load, $tag.perf"
  bt h2load --what "$side/$method" --file "$tag.h2load" --expect-bytes "$resp_bytes" \
    --expect-requests "$SC_CALLS" >/dev/null || die "$side/$method: invalid run (see above)"
  stop_h2gate
}

log "syscalls: $H2GATE_BIN; sides $SC_SIDES; methods $SC_METHODS; $SC_CALLS calls each; out $RUN_DIR"
for method in $SC_METHODS; do
  for side in $SC_SIDES; do sc_run "$side" "$method"; done
done
# One table per method: events per call, the ones any side makes at least 0.05 of per call.
/usr/bin/python3 - "$RUN_DIR" "$SC_CALLS" "$SC_METHODS" "$SC_SIDES" <<'PY' | tee "$RUN_DIR/summary.md"
import sys
run_dir, calls, methods, sides = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4].split()
for method in methods:
    counts = {}
    for side in sides:
        for line in open(f"{run_dir}/{side}-{method}.perf"):
            f = line.strip().split(",")
            if len(f) < 3 or not f[0].replace(".", "").isdigit():
                continue
            name = f[2].replace("syscalls:sys_enter_", "")
            counts.setdefault(name, {})[side] = float(f[0]) / calls
    keep = [n for n, v in counts.items() if max(v.values()) >= 0.05]
    print(f"### {method}: per call ({calls:,} calls, 16 connections x 8 streams)\n")
    print("| event | " + " | ".join(sides) + " |")
    print("| --- |" + " --- |" * len(sides))
    for n in sorted(keep, key=lambda n: -max(counts[n].values())):
        print(f"| {n} | " + " | ".join(f"{counts[n].get(s, 0):.2f}" for s in sides) + " |")
    total = {s: sum(counts[n].get(s, 0) for n in counts if n not in
                    ("context-switches", "sched:sched_wakeup")) for s in sides}
    print("| all system calls | " + " | ".join(f"{total[s]:.2f}" for s in sides) + " |\n")
PY
