"""What every fleet scenario shares: the Scenario record, the load process (load.py) and the
few readings of h2gate's metrics and haproxy's stats the scenarios compare."""
import json
import os
import signal
import time

import fleetlib
from fleetlib import metric

HERE = os.path.dirname(os.path.abspath(__file__))

REPLICAS = 3
SCALE_CHANNELS = 30
SCALE_RATE = 20  # calls a second on each channel
EVEN_TOLERANCE = 0.15  # each replica's share within 15% of 1/3 (28.3% .. 38.3%)
CLIENT_SOURCE = "127.0.0.7"


class Scenario:
    def __init__(self, name):
        self.name = name
        self.checks = []  # (ok, text)
        self.figures = {}

    def check(self, ok, text):
        self.checks.append((bool(ok), text))
        print(f"  [{'ok' if ok else 'FAIL'}] {text}", flush=True)
        return ok

    @property
    def passed(self):
        return all(ok for ok, _ in self.checks) and bool(self.checks)


def log(msg):
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def start_load(args, work, name, argv, seconds):
    out = os.path.join(work, f"load-{name}.json")
    ready = os.path.join(work, f"load-{name}.ready")
    stop = os.path.join(work, f"load-{name}.stop")
    cmd = ["/usr/bin/python3", os.path.join(HERE, "load.py")] + argv + [
        "--stubs", args.stubs, "--out", out, "--ready-file", ready, "--stop-file", stop,
        "--max-seconds", str(seconds)]
    log_path = os.path.join(work, f"load-{name}.log")
    proc = fleetlib.spawn(cmd, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not os.path.exists(ready):
        if proc.poll() is not None:
            raise RuntimeError(f"load {name} exited: {tail(log_path)}")
        time.sleep(0.05)
    with open(ready) as f:
        if f.read() != "ready":
            raise RuntimeError(f"load {name}: some callers never got an answer before the test "
                               f"began: {tail(log_path)}")
    return proc, out, stop


def finish_load(work, name, proc, out, stop):
    log_path = os.path.join(work, f"load-{name}.log")
    open(stop, "w").close()
    rc = fleetlib.reap(proc, 60)
    if rc is None:
        proc.kill()
        fleetlib.reap(proc, 5)
        raise RuntimeError(f"load {name} did not finish within 60 s of being told to stop")
    if rc != 0:
        raise RuntimeError(f"load {name} exited {rc}: {tail(log_path)}")
    with open(out) as f:
        return json.load(f)


def stop_fleet(sc, replicas, haproxy):
    if haproxy:
        haproxy.stop()
    for r in replicas:
        if r.alive():
            r.sigterm()
            r.proc.send_signal(signal.SIGTERM)  # skip the shutdown delay: the test is over
    for r in replicas:
        if r.unreaped():
            rc, _ = r.wait_exit(30)
            sc.check(rc == 0, f"{r.name} (generation {r.gen}) exited {rc} at the end")


def replica_flags(profile, extra=()):
    return ["--http1-policy=warn", f"--shutdown-delay={int(profile['shutdown_delay'] * 1000)}ms",
            f"--drain-timeout={int(profile['drain_timeout'] * 1000)}ms"] + list(extra)


def in_flight_streams(samples):
    started = metric(samples, "grpc_server_started_total", grpc_method="ServerStream")
    handled = metric(samples, "grpc_server_handled_total", grpc_method="ServerStream")
    return started - handled


def haproxy_totals(haproxy):
    keys = ("econ", "eresp", "wretr", "wredis", "cli_abrt", "srv_abrt", "hrsp_5xx")
    totals = dict.fromkeys(keys, 0)
    for row in haproxy.show_stat().values():
        for k in keys:
            totals[k] += int(row.get(k) or 0)
    return totals


def print_timeline(timeline, events):
    """Failures and retries among the fleet's events, each with its time after the last SIGTERM."""
    t0 = timeline[0][0] if timeline else 0
    print("  timeline of failures and retries (s from the first SIGTERM; +s after the last one):")
    merged = sorted([(t, "event", text) for t, text in timeline] +
                    [(e["t"], "call", f"{e['kind']}: {e['detail']}") for e in events])
    last_term = None
    rows = []  # [first time, text, +since, count, last time]: repeats of one text collapse
    for t, what, text in merged:
        if what == "event" and text.startswith("SIGTERM"):
            last_term = t
        since = f" (+{t - last_term:.3f} s)" if what == "call" and last_term else ""
        if rows and rows[-1][1] == text and what == "call":
            rows[-1][3] += 1
            rows[-1][4] = t
        else:
            rows.append([t, text, since, 1, t])
    for t, text, since, n, t_last in rows[:80]:
        more = f"  x{n}, until {t_last - t0:.3f}" if n > 1 else ""
        print(f"    {t - t0:8.3f}  {text[:160]}{since}{more}")
    if len(rows) > 80:
        print(f"    ... {len(rows) - 80} more rows")
