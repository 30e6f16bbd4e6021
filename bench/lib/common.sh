# shellcheck shell=bash
# Helpers for bench/run.sh (sourced). Processes started here are tracked by PID and stopped by
# cleanup(); nothing is ever killed by name.

CLK_TCK=$(getconf CLK_TCK)
PIDS=()

# The script's own stderr, kept aside: a trap may run while a tool's output is redirected to a file.
exec {LOG_FD}>&2
log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&"$LOG_FD"; }
die() {
  printf '[bench] FAILED: %s\n' "$*" >&"$LOG_FD"
  exit 1
}

bt() { /usr/bin/python3 "$BENCH_DIR/lib/benchtool.py" "$@"; }

# Installs what is missing (Debian packages), or says which package to install.
ensure_tools() {
  local -A pkg_of=([h2load]=nghttp2-client [nghttp]=nghttp2-client [wrk]=wrk [nginx]=nginx-light [curl]=curl
    [taskset]=util-linux [/usr/bin/python3]=python3 [cmake]=cmake [openssl]=openssl)
  local missing=() tool
  for tool in "${!pkg_of[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("${pkg_of[$tool]}")
  done
  ((${#missing[@]} == 0)) && return 0
  [[ $(id -u) == 0 ]] || die "missing tools; install as root: apt-get install ${missing[*]}"
  log "installing ${missing[*]}"
  timeout 300 apt-get update -qq >/dev/null || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq "${missing[@]}" >/dev/null ||
    die "apt-get install ${missing[*]} failed"
}

# utime+stime of a process, in clock ticks (all its threads).
cpu_ticks() {
  local stat
  stat=$(<"/proc/$1/stat") || die "process $1 is gone"
  stat=${stat##*) }  # fields after "(comm) "; utime and stime are fields 14 and 15 of the line
  awk '{ print $12 + $13 }' <<<"$stat"
}

rss_bytes() {
  awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status" || die "process $1 is gone"
}

# cpu_us_per TICKS COUNT -> microseconds of CPU per unit
cpu_us_per() { awk -v t="$1" -v n="$2" -v hz="$CLK_TCK" 'BEGIN { printf "%.3f", t * 1e6 / hz / n }'; }

# busy_pct TICKS SECONDS -> share of one core the server used, e.g. "97%"
busy_pct() { awk -v t="$1" -v s="$2" -v hz="$CLK_TCK" 'BEGIN { printf "%.0f%%", 100 * t / hz / s }'; }

# record KEY SIDE ROUND VALUE (side a: h2gate's front port; b: the baseline; c: a second one)
record() { printf '%s\t%s\t%s\t%s\n' "$@" >>"$RUN_DIR/results.tsv"; }

# wait_for SECONDS WHAT CMD...: polls CMD every 100 ms.
wait_for() {
  local secs=$1 what=$2
  shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || return 1
    sleep 0.1
  done
}

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

stop_pid() {
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  PIDS=()
}

forget_pid() {
  local keep=() p
  for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# start_h2gate NAME FLAGS...: h2gate on the server core, front port and direct port.
# Sets H2_PID, H2_PORT, H2_DIRECT.
start_h2gate() {
  local name=$1
  shift
  read -r H2_PORT H2_DIRECT < <(bt free-ports 2)
  taskset -c "$SERVER_CPU" "$H2GATE_BIN" --listen="127.0.0.1:$H2_PORT" \
    --direct-listen="127.0.0.1:$H2_DIRECT" --log-level=warn "$@" \
    >"$RUN_DIR/$name.log" 2>&1 &
  H2_PID=$!
  PIDS+=("$H2_PID")
  wait_for 15 "h2gate" h2gate_ready_or_dead || die "h2gate ($name) not ready within 15 s; log: $RUN_DIR/$name.log"
  kill -0 "$H2_PID" 2>/dev/null ||
    die "h2gate ($name) exited at start; $H2GATE_BIN, log $RUN_DIR/$name.log: $(tail -3 "$RUN_DIR/$name.log")"
  wait_for 15 "direct port" tcp_open "$H2_DIRECT" ||
    die "h2gate ($name) direct port $H2_DIRECT not listening; log: $RUN_DIR/$name.log"
  log "h2gate $name: pid $H2_PID, front 127.0.0.1:$H2_PORT, direct 127.0.0.1:$H2_DIRECT"
}

# True once h2gate answers /readyz, or once it has exited (start_h2gate tells which).
h2gate_ready_or_dead() {
  kill -0 "$H2_PID" 2>/dev/null || return 0
  curl -fsS --max-time 1 -o /dev/null "http://127.0.0.1:$H2_PORT/readyz"
}

stop_h2gate() {
  stop_pid "$H2_PID"
  forget_pid "$H2_PID"
}

# grpc_call PORT PATH REQ_FILE EXPECT_FILE NAME [SCHEME]: one curl call, checks grpc-status 0 and
# the bytes. SCHEME https: HTTP/2 over TLS (curl offers ALPN h2 and http/1.1; the test certificate
# is not verified).
grpc_call() {
  local port=$1 path=$2 req=$3 expect=$4 what=$5 scheme=${6:-http} tag=$RUN_DIR/preflight-$5
  local http_opts=(--http2-prior-knowledge)
  if [[ $scheme == https ]]; then http_opts=(--http2 --insecure); fi
  curl -sS --max-time 5 "${http_opts[@]}" -H 'content-type: application/grpc' \
    -H 'te: trailers' --data-binary "@$req" -D "$tag.hdr" -o "$tag.body" \
    "$scheme://127.0.0.1:$port$path" || die "$what: curl failed"
  bt check-grpc-reply --what "$what" --headers "$tag.hdr" --body "$tag.body" --expect "$expect" >&2 ||
    die "$what: wrong answer (see $tag.hdr, $tag.body)"
}
