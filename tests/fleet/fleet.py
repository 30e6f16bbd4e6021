"""A fleet of real h2gate processes behind a real haproxy (tests/fleet/run.sh runs this).

  fleet.py --binary H2GATE --stubs DIR --work DIR [--profile short|full] [--only NAME,...]

Scenarios (NAME):
  drain-json  one replica: an HTTP/1.1 JSON call on a keep-alive connection opened before
      SIGTERM, sent while the drain waits for a gRPC stream in flight; it must be answered, and
      the replica exit 0 (deterministic; the rolling updates below hit it by chance).
  rolling-tcp, rolling-http  three replicas behind haproxy as an L4 balancer (mode tcp) or as an
      ingress (mode http, `proto h2`, `http-reuse always`, h2gate with
      --http2-route-per-request=127.0.0.0/8), health-checked on /readyz of each admin port every
      200 ms (fall 1, rise 2). Under load (load.py rolling) each replica in turn gets SIGTERM,
      drains with --shutdown-delay/--drain-timeout, exits, and a fresh process takes its port
      and must be UP in haproxy before the next one goes.
  scaleout-control, scaleout-age  one replica with 30 long-lived gRPC channels through haproxy
      (mode tcp), then two more replicas. Calls per replica are read from each replica's own
      grpc_server_handled_total over the third connection age after the new ones came up. With
      --grpc-max-connection-age they must be within 15% of an even share; without it (the
      control) they must not be, which shows the check can fail.
  proxy-v2, proxy-v1, proxy-control  haproxy mode tcp with send-proxy-v2 / send-proxy from
      127.0.0.1, h2gate with --proxy-protocol=required --proxy-protocol-from=127.0.0.1/32; HTTP/1.1
      callers bound to 127.0.0.7; /debug/legacy-callers on the replicas must name 127.0.0.7 and
      gRPC calls must succeed. The control (no send-proxy, --proxy-protocol=optional) must name
      127.0.0.1 instead.

Prints a summary table; exit code 0 only if every scenario passed.
"""
import argparse
import os
import signal
import subprocess
import sys
import time
import traceback

import fleetlib
from balance import proxy, scaleout
from drain import drain_json, rolling
from harness import Scenario, log, stop_fleet

PROFILES = {
    # The manifests' drain timing (deploy/k8s/base/h2gate.env: H2GATE_SHUTDOWN_DELAY=5s,
    # H2GATE_DRAIN_TIMEOUT=20s); streams of 3 s, two passes over the fleet.
    "full": dict(shutdown_delay=5.0, drain_timeout=20.0, passes=2, stream_count=20,
                 stream_interval=150, settle=2.0, age=3.0, grace=1.0,
                 balances=["roundrobin", "leastconn"], proxy_calls=60),
    # Scaled down for ctest; the shutdown delay (1.5 s) stays well above haproxy's detection time
    # (one failed check: 200 ms plus the check itself; up to 0.7 s seen on a loaded machine).
    "short": dict(shutdown_delay=1.5, drain_timeout=4.0, passes=1, stream_count=10,
                  stream_interval=100, settle=0.3, age=2.0, grace=1.0,
                  balances=["roundrobin"], proxy_calls=20),
}


# ---- main ----------------------------------------------------------------------------------


def summary(results, started):
    print("\n==== fleet summary " + "=" * 60)
    width = max(len(k) for sc in results for k in sc.figures) if results else 20
    for sc in results:
        print(f"{'PASS' if sc.passed else 'FAIL'}  {sc.name}")
        for k, v in sc.figures.items():
            print(f"      {k:<{width}}  {v}")
        for ok, text in sc.checks:
            if not ok:
                print(f"      FAILED: {text}")
    print(f"total {time.monotonic() - started:.1f} s; "
          f"{sum(sc.passed for sc in results)}/{len(results)} scenarios passed")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--stubs", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--profile", choices=sorted(PROFILES), default="short")
    p.add_argument("--only", default="", help="comma-separated scenario prefixes")
    args = p.parse_args()
    args.binary, args.stubs, args.work = (os.path.abspath(x) for x in
                                          (args.binary, args.stubs, args.work))
    profile = PROFILES[args.profile]

    def on_signal(signum, _):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started = time.monotonic()
    results = []
    wanted = [w for w in args.only.split(",") if w]

    def want(name):
        return not wanted or any(name.startswith(w) for w in wanted)

    haproxy_version = subprocess.run([fleetlib.HAPROXY, "-v"], capture_output=True,
                                     text=True).stdout.splitlines()[0]
    log(f"profile {args.profile}: {profile}; {haproxy_version}")
    def run(name, fn, *fn_args):
        if not want(name):
            return
        log(f"==== {name}")
        try:
            results.append(fn(args, profile, *fn_args))
        except Exception:  # a bug in the harness fails the scenario, and the others still run
            sc = Scenario(name)
            sc.check(False, "harness error: " + traceback.format_exc(limit=6))
            results.append(sc)
            fleetlib.stop_all()  # what the scenario left running
            holder.clear()

    holder = {}
    try:
        run("drain-json", drain_json)
        for mode in ("tcp", "http"):
            run(f"rolling-{mode}", rolling, mode)
        for balance in profile["balances"]:
            for with_age in (False, True):
                run(f"scaleout-{'age' if with_age else 'control'}-{balance}", scaleout, with_age,
                    balance)
        for variant in ("v2", "v1", "control"):
            run(f"proxy-{variant}", proxy, variant, holder)
        for reps in holder.values():
            sc = Scenario("proxy fleet stop")
            stop_fleet(sc, reps, None)
            if not sc.passed and sc.checks:
                results.append(sc)
    finally:
        fleetlib.stop_all()
    summary(results, started)
    return 0 if results and all(sc.passed for sc in results) else 1


if __name__ == "__main__":
    sys.exit(main())
