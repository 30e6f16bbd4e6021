"""Processes and probes for the fleet test (tests/fleet/fleet.py): h2gate replicas, haproxy with a
generated config, haproxy's stats socket, and h2gate's /metrics.

Every process started here is recorded in PROCS and ended by stop_all() (fleet.py calls it from a
finally block and from its SIGTERM/SIGINT handler); each child also gets PR_SET_PDEATHSIG, so it
dies with this process even if that is killed outright. Loopback only.
"""
import ctypes
import glob
import os
import re
import resource
import signal
import socket
import subprocess
import time
import urllib.request

PROCS = []  # every Popen still to be ended


def _die_with_parent():
    # PR_SET_PDEATHSIG (1): SIGKILL this child when its parent thread goes away.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


def _die_with_parent_and_dump_core():
    _die_with_parent()
    # A crash leaves a core in the process's own directory (core_pattern "core", Debian's
    # default), for the backtrace Replica.wait_exit prints.
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        pass


def spawn(argv, log_path, cwd=None):
    log = open(log_path, "ab")
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         cwd=cwd,
                         preexec_fn=_die_with_parent_and_dump_core if cwd else _die_with_parent)
    log.close()
    PROCS.append(p)
    return p


def reap(p, seconds):
    """Waits for p (bounded); returns its exit code or None if it still runs."""
    try:
        rc = p.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return None
    if p in PROCS:
        PROCS.remove(p)
    return rc


def stop_all():
    for p in list(PROCS):
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
                p.send_signal(signal.SIGTERM)  # h2gate: a second signal skips the shutdown delay
            except OSError:
                pass
    deadline = time.monotonic() + 5
    for p in list(PROCS):
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
        PROCS.remove(p)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, timeout=2.0):
    """(status, body) of GET http://127.0.0.1:port/path over HTTP/1.1, or (0, error text)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except OSError as e:
        return 0, repr(e)


# ---- h2gate /metrics -----------------------------------------------------------------------

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(admin_port):
    status, text = http_get(admin_port, "/metrics", timeout=3)
    if status != 200:
        return None
    samples = []
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m and not line.startswith("#"):
            samples.append((m.group(1), dict(LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return samples


def metric(samples, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`."""
    return int(sum(v for n, l, v in samples or []
                   if n == name and all(l.get(k) == w for k, w in labels.items())))


# ---- h2gate replicas -----------------------------------------------------------------------


class Replica:
    """One h2gate process on a fixed main and admin port, so that a replacement takes its place
    (as a new pod takes the old one's place behind the Service)."""

    def __init__(self, name, binary, work, flags):
        self.name, self.binary, self.work, self.flags = name, binary, work, list(flags)
        self.port, self.admin = free_port(), free_port()
        self.gen = 0
        self.proc = None
        self.log = None
        self.exits = []  # (generation, exit code, seconds from SIGTERM to exit)
        self.backtraces = []

    def start(self, extra=()):
        self.gen += 1
        self.log = os.path.join(self.work, f"h2gate-{self.name}-{self.gen}.log")
        self.cwd = os.path.join(self.work, f"cwd-{self.name}-{self.gen}")
        os.makedirs(self.cwd, exist_ok=True)
        argv = [self.binary, f"--listen=127.0.0.1:{self.port}",
                f"--admin-listen=127.0.0.1:{self.admin}"] + self.flags + list(extra)
        for attempt in range(50):  # the port is free once the old process has closed it
            self.proc = spawn(argv, self.log, cwd=self.cwd)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if http_get(self.admin, "/readyz", timeout=0.5)[0] == 200:
                    return
                time.sleep(0.05)
            rc = reap(self.proc, 1)
            with open(self.log, errors="replace") as f:
                text = f.read()
            if rc is not None and "in use" in text and attempt < 49:
                time.sleep(0.1)
                continue
            raise RuntimeError(f"h2gate {self.name} did not get ready (rc {rc}): {text[-2000:]}")

    def sigterm(self):
        self.t_term = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)

    def wait_exit(self, seconds):
        rc = reap(self.proc, seconds)
        took = time.monotonic() - self.t_term
        self.exits.append((self.gen, rc, took))
        if rc is not None and rc < 0:
            print(f"  {self.name}#{self.gen} died of signal {-rc}; last log lines:\n"
                  + "".join(open(self.log, errors="replace").readlines()[-8:])
                  + self.backtrace(), flush=True)
        return rc, took

    def backtrace(self):
        cores = glob.glob(os.path.join(self.cwd, "core*"))
        if not cores:
            return "  (no core file: see /proc/sys/kernel/core_pattern)\n"
        def gdb(*commands):
            argv = ["gdb", "-batch", "-nx"]
            for c in commands:
                argv += ["-ex", c]
            return subprocess.run(argv + [self.binary, cores[0]], capture_output=True, text=True,
                                  timeout=120).stdout
        try:
            out = gdb("bt 40", "echo ==== every thread\\n", "info threads",
                      "thread apply all bt 30")
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"  (gdb failed: {e})\n"
        crashed, _, every = out.partition("==== every thread")
        keep = os.path.join(self.work, f"backtrace-{self.name}-{self.gen}.txt")
        with open(keep, "w") as f:
            f.write(crashed + "\n" + every)
        self.backtraces.append(crashed)
        frames = list(dict.fromkeys(l[:220] for l in crashed.splitlines() if l.startswith("#")))
        frames = frames[:24]
        return "  backtrace of the crashing thread (frames cut at 220 characters):\n    " + \
            "\n    ".join(frames) + "\n"

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def unreaped(self):
        return self.proc is not None and self.proc in PROCS


# ---- haproxy -------------------------------------------------------------------------------

HAPROXY = next((p for p in ("/usr/sbin/haproxy", "/usr/bin/haproxy") if os.path.exists(p)),
               "haproxy")


def haproxy_config(mode, port, stats, servers, balance="roundrobin", send_proxy=None):
    """mode: tcp (an L4 balancer) or http (an ingress speaking h2 to the replicas).
    servers: [(name, port, admin_port)]. send_proxy: None, "v1" or "v2" (tcp mode only).
    Health checks: GET /readyz on each replica's admin port over HTTP/1.1, every 200 ms, down
    after one failure, up after two passes (a readiness probe with a short period)."""
    lines = [
        "global",
        "  nbthread 2",
        f"  stats socket {stats} mode 600 level admin",
        "  log stderr format short local0 info",
        "",
        "defaults",
        "  log global",
        "  timeout connect 2s",
        "  timeout client 60s",
        "  timeout server 60s",
        "  timeout check 1s",
        "  timeout client-fin 1s",
        "  timeout server-fin 1s",
        # A connection refused by a replica that just closed its listener is tried again, on
        # another server (haproxy's defaults: retries 3, and redispatch made explicit).
        "  retries 3",
        "  option redispatch 1",
        "  default-server inter 200ms fastinter 200ms downinter 200ms fall 1 rise 2",
        "",
        "frontend fe",
        f"  mode {mode}",
        f"  option {'tcplog' if mode == 'tcp' else 'httplog'}",
        f"  bind 127.0.0.1:{port}",
    ]
    if mode == "http":
        lines += ["  timeout http-request 10s", "  timeout http-keep-alive 10s"]
    lines += [
        "  default_backend be",
        "",
        "backend be",
        f"  mode {mode}",
        f"  balance {balance}",
        "  option httpchk",
        "  http-check send meth GET uri /readyz ver HTTP/1.1 hdr host fleet.test",
        "  http-check expect status 200",
    ]
    if mode == "http":
        # Every caller's requests share pooled h2 connections to the replicas (an ingress).
        lines.append("  http-reuse always")
    for name, sport, admin in servers:
        extra = ""
        if mode == "http":
            extra = " proto h2 check-proto h1"
        if send_proxy == "v2":
            extra += " send-proxy-v2"
        elif send_proxy == "v1":
            extra += " send-proxy"
        # `port` sends the check to the admin listener; with it haproxy sends no PROXY header on
        # checks (the admin port reads none).
        lines.append(f"  server {name} 127.0.0.1:{sport} check port {admin} source 127.0.0.1"
                     f"{extra}")
    return "\n".join(lines) + "\n"


class Haproxy:
    def __init__(self, work, name, mode, servers, **kw):
        self.work, self.name, self.mode = work, name, mode
        self.stats = os.path.join(work, f"{name}.sock")
        self.log = os.path.join(work, f"haproxy-{name}.log")
        self.cfg = os.path.join(work, f"haproxy-{name}.cfg")
        for _ in range(3):  # a free port may be taken between asking and binding
            self.port = free_port()
            with open(self.cfg, "w") as f:
                f.write(haproxy_config(mode, self.port, self.stats, servers, **kw))
            check = subprocess.run([HAPROXY, "-c", "-q", "-f", self.cfg], capture_output=True,
                                   timeout=20)
            if check.returncode != 0:
                raise RuntimeError(f"haproxy rejects {self.cfg}: {check.stderr.decode()}"
                                   f"{check.stdout.decode()}")
            self.proc = spawn([HAPROXY, "-db", "-f", self.cfg], self.log)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and self.proc.poll() is None:
                if os.path.exists(self.stats):
                    try:
                        self.show_stat()
                        return
                    except OSError:
                        pass
                time.sleep(0.05)
            reap(self.proc, 2)
        raise RuntimeError(f"haproxy {name} did not start: {open(self.log).read()[-2000:]}")

    def command(self, command):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(self.stats)
            s.sendall(command.encode() + b"\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return data.decode()
                data += chunk

    def show_stat(self):
        lines = [l for l in self.command("show stat").splitlines() if l]
        fields = lines[0].lstrip("# ").split(",")
        rows = {}
        for line in lines[1:]:
            row = dict(zip(fields, line.split(",")))
            if row.get("pxname") == "be" and row.get("svname") not in ("BACKEND", "FRONTEND"):
                rows[row["svname"]] = row
        return rows

    def states(self):
        return {n: r["status"] for n, r in self.show_stat().items()}

    def wait_states(self, want, seconds):
        """Until every server named in `want` has that status (UP or DOWN); returns seconds taken
        or raises."""
        t0 = time.monotonic()
        got = {}
        while time.monotonic() - t0 < seconds:
            try:
                got = self.states()
                if all(got.get(n, "").split(" ")[0] == s for n, s in want.items()):
                    return time.monotonic() - t0
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"haproxy {self.name}: servers {got}, wanted {want} within {seconds} s")

    def log_summary(self):
        """(sessions by termination state, server state changes) from haproxy's log: a session
        that ended in anything but "--" (tcplog) or "----" (httplog) was cut by someone."""
        states, changes = {}, []
        field = 6 if self.mode == "tcp" else 9
        with open(self.log, errors="replace") as f:
            for line in f:
                if line.startswith("<6>"):
                    parts = line.split()
                    if len(parts) > field:
                        states[parts[field]] = states.get(parts[field], 0) + 1
                elif line.startswith("[WARNING]") and " is " in line and "Server " in line:
                    changes.append(line.split(" : ", 1)[-1].split(" reason:")[0].strip())
        return states, changes

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        if reap(self.proc, 5) is None:
            self.proc.kill()
            reap(self.proc, 5)
