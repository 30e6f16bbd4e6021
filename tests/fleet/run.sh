#!/usr/bin/env bash
# A fleet of real h2gate processes behind a real haproxy (Debian's 2.6): rolling update under
# load (haproxy as an L4 balancer and as an h2 ingress), scale-out with and without
# --grpc-max-connection-age, PROXY protocol v1/v2 through L4. fleet.py says what each checks.
#   tests/fleet/run.sh PATH/TO/h2gate [--full] [--only SCENARIO,...]
# The short version (default) takes about a minute; --full (scripts/fleet.sh) uses the manifests'
# drain timing and takes a few minutes. Exits 0 only if every scenario passed; 77 (skipped under
# ctest) without haproxy or /usr/bin/python3 with grpcio.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

h2gate=${1:-}
if [[ -z "$h2gate" ]]; then
  echo "usage: $0 PATH/TO/h2gate [--full] [--only SCENARIO,...]" >&2
  exit 2
fi
shift
profile=short
only=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --full) profile=full ;;
    --only) only=$2; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

if [[ ! -x "$h2gate" ]]; then
  echo "FAIL: $h2gate is not an executable" >&2
  exit 1
fi
haproxy=$(command -v haproxy || true)
[[ -z "$haproxy" && -x /usr/sbin/haproxy ]] && haproxy=/usr/sbin/haproxy
if [[ -z "$haproxy" ]]; then
  echo "SKIP: haproxy is needed for the fleet test (apt-get install haproxy)"
  exit 77
fi
if ! /usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null; then
  echo "SKIP: /usr/bin/python3 with grpcio is needed" \
    "(apt-get install python3-grpcio python3-protobuf)"
  exit 77
fi
for tool in protoc timeout setsid; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed" >&2; exit 1; }
done

# A short directory: haproxy's stats socket paths must fit in sun_path (108 bytes).
work=$(mktemp -d /tmp/h2gate-fleet.XXXXXX)
fleet_pid=
status=1
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  # fleet.py ends its children itself; its process group is ended here in case it could not
  # (killed, or stuck), and every child has PR_SET_PDEATHSIG as a last resort.
  if [[ -n "$fleet_pid" ]] && kill -0 "$fleet_pid" 2>/dev/null; then
    kill -TERM -- "-$fleet_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$fleet_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$fleet_pid" 2>/dev/null || true
  fi
  if [[ $status -ne 0 ]]; then
    # h2gate's own warnings and errors (its log lines carry the level after the time).
    for log in "$work"/h2gate-*.log; do
      [[ -f "$log" ]] || continue
      grep -qaE '^[^ ]+ (warn|error|critical) ' "$log" || continue
      echo "---- $(basename "$log"): warnings and errors (at most 20)"
      grep -aE '^[^ ]+ (warn|error|critical) ' "$log" | head -n 20
    done
  fi
  # H2GATE_FLEET_KEEP=DIR keeps the logs, configs and backtraces (not the cores) for a report.
  if [[ -n "${H2GATE_FLEET_KEEP:-}" ]]; then
    mkdir -p "$H2GATE_FLEET_KEEP"
    cp "$work"/*.log "$work"/*.cfg "$work"/*.json "$work"/backtrace-*.txt "$H2GATE_FLEET_KEEP"/ \
      2>/dev/null || true
  fi
  rm -rf "$work"
}
trap 'cleanup' EXIT
trap 'exit 1' INT TERM

# The demo service's Python messages, generated at run time from proto/ (no grpc plugin needed:
# load.py builds its stubs from channel.unary_unary / unary_stream).
mkdir -p "$work/stubs"
protoc --proto_path="$root/proto" --python_out="$work/stubs" "$root/proto/echo/v1/echo.proto"

if [[ $profile == full ]]; then limit=1500; else limit=240; fi
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the source tree
# Its own process group (setsid: a background child of a script is no group leader, so setsid
# does not fork and $! is the group's id), bounded by timeout.
setsid timeout --signal=TERM --kill-after=10 "$limit" /usr/bin/python3 "$here/fleet.py" \
  --binary "$h2gate" --stubs "$work/stubs" --work "$work" --profile "$profile" \
  ${only:+--only "$only"} &
fleet_pid=$!
rc=0
wait "$fleet_pid" || rc=$?
fleet_pid=
if [[ $rc -eq 124 ]]; then
  echo "FAIL: the fleet test did not finish within $limit s"
fi
status=$rc
exit "$rc"
