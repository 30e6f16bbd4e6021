#!/usr/bin/python3
"""Helpers for bench/run.sh: request bodies, parsing tool output, metrics, the result table.

Every subcommand prints plain `key=value` lines (or a file) for the shell to read, and exits
non-zero with a one-line reason on stderr when a check fails, so run.sh can stop with a clear
message instead of recording a figure from a broken run.
"""

import argparse
import os
import re
import socket
import statistics
import struct
import sys
import urllib.request


def fail(msg):
    print(f"benchtool: {msg}", file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------------------------------------
# Request bodies. Encoded by hand: two length-delimited fields are all EchoRequest needs, and it
# keeps the harness free of generated code.

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def grpc_frame(message):
    """A gRPC length-prefixed message: flag 0 (not compressed), 4-byte big-endian length."""
    return b"\x00" + struct.pack(">I", len(message)) + message


def cmd_bodies(args):
    payload = bytes((i * 7 + 3) & 0xFF for i in range(args.payload))
    message = b"bench"
    # EchoRequest{message=1 (string), payload=2 (bytes)}; EchoResponse has the same fields and
    # numbers, and the service returns them unchanged, so the response frame is the same bytes.
    echo = (b"\x0a" + varint(len(message)) + message +
            b"\x12" + varint(len(payload)) + payload)
    files = {
        "echo_req.bin": grpc_frame(echo),
        "echo_resp.bin": grpc_frame(echo),
        "health_req.bin": grpc_frame(b""),             # HealthCheckRequest{} (all services)
        "health_resp.bin": grpc_frame(b"\x08\x01"),    # HealthCheckResponse{status: SERVING}
    }
    for name, data in files.items():
        with open(os.path.join(args.dir, name), "wb") as f:
            f.write(data)
    print(len(files["echo_resp.bin"]), len(files["health_resp.bin"]))


# ---------------------------------------------------------------------------------------------
# Checking a gRPC call made with curl (headers, trailers and body dumped to files).

def cmd_check_grpc_reply(args):
    with open(args.headers, "rb") as f:
        head = f.read().decode("latin-1")
    with open(args.body, "rb") as f:
        body = f.read()
    with open(args.expect, "rb") as f:
        expect = f.read()
    if not re.search(r"^HTTP/2 200", head, re.M):
        fail(f"{args.what}: not an HTTP/2 200: {head.splitlines()[:1]}")
    status = re.findall(r"^grpc-status:\s*(\d+)", head, re.M | re.I)
    if status != ["0"]:
        msg = re.findall(r"^grpc-message:\s*(.*)$", head, re.M | re.I)
        fail(f"{args.what}: grpc-status {status or 'missing'} {msg}")
    if body != expect:
        fail(f"{args.what}: response body ({len(body)} bytes) differs from the expected "
             f"{len(expect)} bytes")
    print(f"ok {args.what}: grpc-status 0, {len(body)} bytes as expected")


# ---------------------------------------------------------------------------------------------
# h2load output.

def _num(pattern, text, what, cast=float):
    m = re.search(pattern, text, re.M)
    if not m:
        fail(f"cannot find {what} in h2load/wrk output")
    return cast(m.group(1))


def cmd_h2load(args):
    """Parses an h2load run; fails unless every request got the expected response bytes."""
    text = open(args.file, encoding="utf-8", errors="replace").read()
    m = re.search(r"^finished in ([\d.]+)(us|ms|s), ([\d.]+) req/s", text, re.M)
    if not m:
        fail(f"no 'finished in' line in {args.file}")
    elapsed = float(m.group(1)) / {"us": 1e6, "ms": 1e3, "s": 1}[m.group(2)]
    rps = float(m.group(3))
    m = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", text, re.M)
    if not m:
        fail(f"no 'requests:' line in {args.file}")
    total, started, done, ok, failed, errored, timeout = map(int, m.groups())
    m = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text, re.M)
    if not m:
        fail(f"no 'status codes:' line in {args.file}")
    by_class = dict(zip(("2xx", "3xx", "4xx", "5xx"), map(int, m.groups())))
    data = _num(r"^traffic: .*, [\d.]+[KMG]?B \((\d+)\) data", text, "data bytes", int)
    if args.expect_status == "4xx":
        # h2load counts a 4xx answer as "failed": here every answer must be one (the 415), and
        # nothing else may go wrong.
        ok, failed = by_class["4xx"], failed - by_class["4xx"]
    other = sum(n for c, n in by_class.items() if c != args.expect_status)
    if ok == 0:
        fail(f"{args.what}: no request got a {args.expect_status} answer ({args.file})")
    if failed or errored or timeout or other:
        fail(f"{args.what}: {failed} failed, {errored} errored, {timeout} timed out, "
             f"{other} not {args.expect_status} ({args.file})")
    if args.expect_requests and ok != args.expect_requests:
        fail(f"{args.what}: {ok} requests succeeded, expected {args.expect_requests}")
    # h2load counts a gRPC error (HTTP 200 + grpc-status != 0, no body) as a success: the DATA
    # bytes received tell. Streams cancelled at the end of a timed run may have delivered bytes
    # without being counted done, hence the slack of the in-flight window.
    want = ok * args.expect_bytes
    slack = args.expect_bytes * args.inflight
    if not (want <= data <= want + slack):
        fail(f"{args.what}: received {data} DATA bytes for {ok} requests, expected "
             f"{args.expect_bytes} each ({want}); gRPC errors are reported by h2load as 200")
    print(f"elapsed={elapsed}")
    print(f"rps={rps}")
    print(f"succeeded={ok}")


def cmd_wrk(args):
    text = open(args.file, encoding="utf-8", errors="replace").read()
    m = re.search(r"^\s*(\d+) requests in ([\d.]+)(ms|s|m),", text, re.M)
    if not m:
        fail(f"no 'requests in' line in {args.file}")
    reqs = int(m.group(1))
    rps = _num(r"^Requests/sec:\s+([\d.]+)", text, "Requests/sec")
    non2xx = int(re.search(r"Non-2xx or 3xx responses: (\d+)", text).group(1)) \
        if "Non-2xx" in text else 0
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if reqs == 0:
        fail(f"{args.what}: no responses ({args.file})")
    if errs and any(int(x) for x in errs.groups()):
        fail(f"{args.what}: wrk socket errors: {errs.group(0)} ({args.file})")
    # Every answer must be the expected kind: the 426 (wrk counts it as "Non-2xx"), or for JSON
    # transcoding a 2xx. Requests cut at the end of the run are not counted either way.
    if args.expect == "non2xx" and non2xx != reqs:
        fail(f"{args.what}: {reqs} responses but {non2xx} non-2xx: not every answer was the 426")
    if args.expect == "2xx" and non2xx != 0:
        fail(f"{args.what}: {non2xx} of {reqs} responses were not 2xx")
    print(f"rps={rps}")
    print(f"responses={reqs}")


def cmd_latency(args):
    """p50/p99 from h2load --log-file rows: start_us, status, duration_us."""
    lat = []
    bad = 0
    with open(args.file) as f:
        for line in f:
            cols = line.split("\t")
            if len(cols) < 3:
                continue
            if cols[1] != "200":
                bad += 1
                continue
            lat.append(int(cols[2]))
    if bad:
        fail(f"{args.what}: {bad} requests without status 200")
    if len(lat) < args.min_samples:
        fail(f"{args.what}: {len(lat)} samples, expected at least {args.min_samples} "
             f"(the client did not keep the rate)")
    lat.sort()

    def pct(p):  # nearest rank
        return lat[max(0, min(len(lat) - 1, int(round(p / 100 * len(lat) + 0.5)) - 1))]

    print(f"p50_us={pct(50)}")
    print(f"p99_us={pct(99)}")
    print(f"samples={len(lat)}")


# ---------------------------------------------------------------------------------------------
# Prometheus metrics of the running h2gate.

def cmd_metric(args):
    """Sums the samples of one metric whose labels match every key=value given."""
    want = dict(kv.split("=", 1) for kv in args.labels)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{args.port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError as e:
        fail(f"cannot read /metrics on port {args.port}: {e}")
    total = 0.0
    found = False
    for line in text.splitlines():
        if not line.startswith(args.name):
            continue
        m = re.match(r"^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)$", line)
        if not m or m.group(1) != args.name:
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if args.exclude:
            k, v = args.exclude.split("=", 1)
            if labels.get(k) == v:
                continue
        if all(labels.get(k) == v for k, v in want.items()):
            total += float(m.group(4))
            found = True
    if not found and not args.exclude:
        fail(f"metric {args.name} {want} not found on port {args.port}")
    print(int(total) if total == int(total) else total)


def cmd_free_ports(args):
    """Ports the kernel hands out now; each is free at this instant (held together, so distinct)."""
    socks = []
    for _ in range(args.count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))
    for s in socks:
        s.close()


def cmd_nginx_conf(args):
    body = open(args.body, "rb").read().decode("utf-8")
    if "$" in body:
        fail("the 426 body contains '$', which nginx would read as a variable")
    esc = body.replace("\\", "\\\\").replace('"', '\\"')
    if not re.fullmatch(r"[!#-~]+", args.upgrade) or "$" in args.upgrade:
        fail(f"--upgrade {args.upgrade!r}: want one token without spaces, quotes or '$'")
    p = args.prefix
    tls = ";"
    if args.tls_cert:
        # The same certificate and versions as h2gate (--tls-min-version=1.2, its default).
        tls = (f" ssl;\n    ssl_certificate {args.tls_cert};\n"
               f"    ssl_certificate_key {args.tls_key};\n    ssl_protocols TLSv1.2 TLSv1.3;")
    print(f"""# Generated by bench/lib/benchtool.py: the same 426 as h2gate, from one process.
worker_processes 1;
daemon off;
master_process off;
error_log {p}/error.log warn;
pid {p}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  server_tokens off;
  # h2gate does not cap requests per keep-alive connection; nginx's default is 1000.
  keepalive_requests 100000000;
  keepalive_timeout 75s;
  client_body_temp_path {p}/tmp/body;
  proxy_temp_path {p}/tmp/proxy;
  fastcgi_temp_path {p}/tmp/fastcgi;
  uwsgi_temp_path {p}/tmp/uwsgi;
  scgi_temp_path {p}/tmp/scgi;
  server {{
    listen 127.0.0.1:{args.port}{tls}
    location = {args.path} {{
      default_type application/json;
      add_header Cache-Control no-store always;
      add_header Upgrade "{args.upgrade}" always;
      return 426 "{esc}";
    }}
  }}
}}""")


# ---------------------------------------------------------------------------------------------
# The table.

# (section, figure, key, unit, target kind, target value[, sides]). Keys are recorded by run.sh
# as "<key>\t<side>\t<round>\t<value>", side "a" for h2gate's front port, "b" for the baseline;
# a comparison of three (row 9) records "c" too, and each of its table rows names the two sides
# it sets side by side ("ab" unless given).
ROWS = [
    ("1. gRPC Echo, 1 KiB, {echo_shape}; gateway vs direct port", "requests/s", "echo.rps",
     "int", "ratio>=", 0.97),
    ("", "server CPU per request (µs)", "echo.cpu_us", "us", None, None),
    ("2. gRPC Health/Check, {echo_shape}; gateway vs direct port", "requests/s", "health.rps",
     "int", "ratio>=", 0.97),
    ("", "server CPU per request (µs)", "health.cpu_us", "us", None, None),
    ("3. Connection churn, 1 call per new connection, {churn_rate} conn/s offered; "
     "gateway vs direct", "server CPU per connection (µs)", "churn.cpu_us", "us", "ratio<=", 1.10),
    ("", "connections/s completed", "churn.cps", "int", None, None),
    ("4. HTTP/1.1 426, keep-alive, 32 conns; h2gate vs nginx", "server CPU per response (µs)",
     "http1.cpu_us", "us", "ratio<=", 1.00),
    ("", "responses/s (wrk-bound)", "http1.rps", "int", None, None),
    ("5. Memory, {mem_conns} connections (RSS delta / N)", "idle HTTP/1.1 keep-alive (B/conn)",
     "mem.keepalive", "int", None, None),
    ("", "silent, in sniff phase (B/conn)", "mem.silent", "int", "abs<=", 4096),
    ("6. Latency at {lat_rps} req/s, Echo 1 KiB; gateway vs direct", "p50 (µs)", "lat.p50",
     "int", None, None),
    ("", "p99 (µs)", "lat.p99", "int", None, None),
    ("7. Echo 1 KiB, 16 conns, 1 call in flight each; HTTP/1.1 JSON (allow policy) vs gRPC",
     "calls/s", "transcode.rps", "int", None, None),
    ("", "server CPU per call (µs)", "transcode.cpu_us", "us", None, None),
    ("8. HTTP/2 guard: gRPC through the guard vs handed to gRPC untouched; Echo 1 KiB, "
     "{echo_shape}", "requests/s", "guard_echo.rps", "int", None, None),
    ("", "server CPU per request (µs)", "guard_echo.cpu_us", "us", None, None),
    ("", "Health/Check: server CPU per request (µs)", "guard_health.cpu_us", "us", None, None),
    ("", "churn at the churn row's rate: server CPU per connection (µs)", "guard_churn.cpu_us", "us",
     None, None),
    ("9. gRPC over kept HTTP/2 connections (--http2-route-per-request=all) vs the hand-off "
     "(guarded) vs the direct port; {echo_shape}", "Echo 1 KiB, kept vs hand-off: requests/s",
     "kept_echo.rps", "int", None, None, "ab"),
    ("", "Echo, kept vs hand-off: server CPU per request (µs)", "kept_echo.cpu_us", "us",
     "ratio<=", 1.30, "ab"),
    ("", "Echo, hand-off vs direct: requests/s", "kept_echo.rps", "int", None, None, "bc"),
    ("", "Echo, hand-off vs direct: server CPU per request (µs)", "kept_echo.cpu_us", "us",
     None, None, "bc"),
    ("", "Echo, kept vs direct: requests/s", "kept_echo.rps", "int", None, None, "ac"),
    ("", "Echo, kept vs direct: server CPU per request (µs)", "kept_echo.cpu_us", "us",
     None, None, "ac"),
    ("", "Health/Check, kept vs hand-off: requests/s", "kept_health.rps", "int", None, None, "ab"),
    ("", "Health/Check, kept vs hand-off: server CPU per request (µs)", "kept_health.cpu_us", "us",
     "ratio<=", 1.30, "ab"),
    ("", "Health/Check, hand-off vs direct: requests/s", "kept_health.rps", "int", None, None,
     "bc"),
    ("", "Health/Check, hand-off vs direct: server CPU per request (µs)", "kept_health.cpu_us",
     "us", None, None, "bc"),
    ("", "Health/Check, kept vs direct: requests/s", "kept_health.rps", "int", None, None, "ac"),
    ("", "Health/Check, kept vs direct: server CPU per request (µs)", "kept_health.cpu_us", "us",
     None, None, "ac"),
    ("10. JSON POST of {{\"message\":\"hi\"}} to /echo.v1.Echo/Echo, {json_clients} conns, 1 in "
     "flight each; HTTP/2 (h2load, kept) vs HTTP/1.1 (wrk)",
     "reject policy, 415 vs 426: server CPU per response (µs)", "h2json_reject.cpu_us", "us",
     None, None),
    ("", "reject policy, 415 vs 426: responses/s", "h2json_reject.rps", "int", None, None),
    ("", "warn policy, transcoded: server CPU per call (µs)", "h2json_warn.cpu_us", "us", None,
     None),
    ("", "warn policy, transcoded: calls/s", "h2json_warn.rps", "int", None, None),
    # TLS (TESTS=tls). Sides: a, the front port of an h2gate with --http2-guard-exempt=127.0.0.1/32
    # (handed to gRPC's TLS acceptor, zero copy); b, the front port of one with the defaults (TLS
    # terminated by h2gate, relayed through the guard); c, the exempt process's direct port
    # (gRPC's own TLS, no front listener).
    ("11. gRPC Echo over TLS, 1 KiB, {echo_shape}; front port vs the direct port's own TLS",
     "exempt source (gRPC's handshake, zero copy) vs direct: requests/s", "tls_echo.rps", "int",
     "ratio>=", 0.97, "ac"),
    ("", "exempt vs direct: server CPU per request (µs)", "tls_echo.cpu_us", "us", None, None,
     "ac"),
    ("", "guarded source (h2gate's handshake, the guard) vs direct: requests/s", "tls_echo.rps",
     "int", None, None, "bc"),
    ("", "guarded vs direct: server CPU per request (µs)", "tls_echo.cpu_us", "us", None, None,
     "bc"),
    ("", "guarded vs exempt: server CPU per request (µs)", "tls_echo.cpu_us", "us", None, None,
     "ba"),
    ("12. New TLS connections, 1 Echo call each, {tls_churn_rate} conn/s offered; front port vs "
     "direct", "exempt vs direct: server CPU per connection (µs)", "tls_churn.cpu_us", "us",
     "ratio<=", 1.10, "ac"),
    ("", "guarded vs direct: server CPU per connection (µs)", "tls_churn.cpu_us", "us",
     "ratio<=", 1.10, "bc"),
    ("", "guarded vs direct: connections/s completed", "tls_churn.cps", "int", None, None, "bc"),
    ("13. HTTPS 426 (HTTP/1.1 over TLS, no ALPN), keep-alive, 32 conns; h2gate vs nginx, same "
     "certificate", "server CPU per response (µs)", "tls426.cpu_us", "us", None, None),
    ("", "responses/s (wrk-bound)", "tls426.rps", "int", None, None),
    # TESTS=bare. Side a: h2gate's front port (the defaults); b: the bare gRPC server of
    # bench/bare (the same Echo, the default health service, nothing else). Scheduler counts:
    # "cs" and "wake" from perf stat on the server's threads, "vcs" and "nvcs" from
    # /proc/PID/task/*/status.
    ("14. h2gate vs a bare gRPC server (bench/bare); Echo 1 KiB and Health/Check, {echo_shape}; "
     "churn at {churn_rate} conn/s, 1 Echo call each", "Echo: requests/s", "bare_echo.rps", "int",
     None, None),
    ("", "Echo: server CPU per request (µs)", "bare_echo.cpu_us", "us", None, None),
    ("", "Echo: context switches per call (perf)", "bare_echo.cs", "f3", None, None),
    ("", "Echo: wake-ups raised per call (perf)", "bare_echo.wake", "f3", None, None),
    ("", "Echo: voluntary switches per call (/proc)", "bare_echo.vcs", "f3", None, None),
    ("", "Health: requests/s", "bare_health.rps", "int", None, None),
    ("", "Health: server CPU per request (µs)", "bare_health.cpu_us", "us", None, None),
    ("", "Health: context switches per call (perf)", "bare_health.cs", "f3", None, None),
    ("", "Health: wake-ups raised per call (perf)", "bare_health.wake", "f3", None, None),
    ("", "Health: voluntary switches per call (/proc)", "bare_health.vcs", "f3", None, None),
    ("", "churn: server CPU per connection (µs)", "bare_churn.cpu_us", "us", None, None),
    ("", "churn: connections/s completed", "bare_churn.cps", "int", None, None),
    ("", "churn: context switches per connection (perf)", "bare_churn.cs", "f3", None, None),
    ("", "churn: wake-ups raised per connection (perf)", "bare_churn.wake", "f3", None, None),
    ("", "churn: voluntary switches per connection (/proc)", "bare_churn.vcs", "f3", None, None),
    ("", "churn: involuntary switches per connection (/proc)", "bare_churn.nvcs", "f3", None,
     None),
    # TESTS=callgrind: one figure per side, from two run lengths (bench/lib/callgrind.sh).
    ("15. Instructions (callgrind), h2gate's front port vs the bare gRPC server; Echo and "
     "Health over {cg_calls} calls (4 conns × 8 streams), churn over {cg_churn} connections",
     "Echo: instructions per call", "cg_echo.ir", "int", "ratio<=", 1.05),
    ("", "Health: instructions per call", "cg_health.ir", "int", "ratio<=", 1.05),
    ("", "churn, 1 Health call each: instructions per connection", "cg_churn.ir", "int", None,
     None),
]


def fmt(v, unit):
    if unit == "us":
        return f"{v:,.1f}"
    if unit == "f3":
        return f"{v:,.3f}"
    return f"{v:,.0f}"


def summary(vals, unit):
    if not vals:
        return "—"
    med = statistics.median(vals)
    if len(vals) == 1:
        return fmt(med, unit)
    return f"{fmt(med, unit)} ({fmt(min(vals), unit)}–{fmt(max(vals), unit)})"


def cmd_table(args):
    data = {}
    with open(args.results) as f:
        for line in f:
            key, side, _rnd, val = line.rstrip("\n").split("\t")
            data.setdefault((key, side), []).append(float(val))
    subs = dict(kv.split("=", 1) for kv in args.subst)
    out = []
    out.append("| Comparison | Figure | h2gate | Baseline | Ratio | Target | Met |")
    out.append("| --- | --- | --- | --- | --- | --- | --- |")
    for section, figure, key, unit, tkind, tval, *sides in ROWS:
        first, second = sides[0] if sides else "ab"
        a = data.get((key, first), [])
        b = data.get((key, second), [])
        if not a and not b:
            continue
        ratio = "—"
        met = "—"
        target = "—"
        if a and b:
            ma, mb = statistics.median(a), statistics.median(b)
            r = ma / mb if mb else float("inf")
            ratio = f"{r:.3f}×"
            if key.startswith("lat."):
                ratio += f" ({ma - mb:+,.0f} µs)"
            if tkind == "ratio>=":
                target, ok = f"≥ {tval:.2f}×", r >= tval
            elif tkind == "ratio<=":
                target, ok = f"≤ {tval:.2f}×", r <= tval
            if tkind and tkind.startswith("ratio"):
                met = "yes" if ok else "**no**"
        if tkind == "abs<=" and a:
            target = f"≤ {tval:,} B"
            met = "yes" if statistics.median(a) <= tval else "**no**"
        out.append(f"| {section.format(**subs)} | {figure} | {summary(a, unit)} | "
                   f"{summary(b, unit)} | {ratio} | {target} | {met} |")
    table = "\n".join(out)
    header = open(args.header).read() if args.header else ""
    text = header + "\n" + table + "\n"
    with open(args.out, "w") as f:
        f.write(text)
    print(text)


# ---------------------------------------------------------------------------------------------
# Callgrind: instructions per call from two run lengths (bench/lib/callgrind.sh).

def short_name(fn):
    """A C++ function name with its template and parameter lists elided, to fit in a table."""
    out, depth = [], 0
    for ch in fn:
        if ch in "<(":
            if depth == 0:
                out.append(ch + "…")
            depth += 1
        elif ch in ">)" and depth:
            depth -= 1
            if depth == 0:
                out.append(ch)
        elif depth == 0:
            out.append(ch)
    return "".join(out).replace("operator…", "operator")


def read_annotate(path):
    """{(file, function): cost} from `callgrind_annotate --show-percs=no` output."""
    costs = {}
    started = False
    for line in open(path, encoding="utf-8", errors="replace"):
        if line.startswith("Ir") and "file:function" in line:
            started = True
            continue
        m = re.match(r"^\s*([\d,]+)\s+(.+?)(?: \[[^\]]*\])?$", line.rstrip("\n"))
        if not started or not m:
            continue
        file, _, fn = m.group(2).partition(":")
        # The same function can be listed under its file's absolute and relative debug path.
        file = file.replace(os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + "/", "")
        file = re.sub(r"^/work/main/", "", file)
        key = (file, short_name(fn))
        costs[key] = max(costs.get(key, 0), int(m.group(1).replace(",", "")))
    return costs


def self_by_object(path):
    """{object: self instructions} from a callgrind out file; abseil's many libraries as one."""
    names, costs = {}, {}
    ob, skip = None, False
    for line in open(path, encoding="utf-8", errors="replace"):
        c = line[0]
        if c.isdigit() or c in "+-*":
            if skip:  # the inclusive cost of a call: not this function's own
                skip = False
                continue
            parts = line.split()
            if len(parts) > 1:
                costs[ob] = costs.get(ob, 0) + int(parts[-1])
        elif line.startswith(("ob=", "cob=")):
            # A compressed name is spelled out where it first appears, which may be a callee's.
            m = re.match(r"c?ob=\((\d+)\)(?: (.*))?", line.rstrip("\n"))
            if m.group(2):
                names[m.group(1)] = m.group(2)
            if c == "o":
                ob = names.get(m.group(1), m.group(1))
        elif line.startswith("calls="):
            skip = True
    out = {}
    for obj, v in costs.items():
        base = os.path.basename(obj or "?")
        base = "libabsl_*.so (abseil)" if base.startswith("libabsl_") else \
            re.sub(r"\.so[.\d]*$", ".so", base)
        out[base] = out.get(base, 0) + v
    return out


def per_call(short, long_, n_short, n_long):
    keys = set(short) | set(long_)
    return {k: (long_.get(k, 0) - short.get(k, 0)) / (n_long - n_short) for k in keys}


def cmd_callgrind_table(args):
    runs = {}
    for line in open(args.totals):
        method, side, calls, ir = line.split()
        runs.setdefault((method, side), []).append((int(calls), int(ir)))
    out = []
    for method in dict.fromkeys(m for m, _ in runs):
        sides = [s for m, s in runs if m == method]
        # Method churn counts connections (one Health/Check call each), the others calls.
        unit = "connection" if method == "churn" else "call"
        # Ratios against the bare gRPC server (bench/bare) when it ran, else against the hand-off.
        base = "bare" if "bare" in sides else "handoff"
        base_name = {"bare": "bare", "handoff": "hand-off"}[base]
        out.append(f"### {method}: instructions per {unit} (all threads; difference of two runs)")
        out.append("")
        out.append(f"| Side | {unit}s (short, long) | instructions (short, long) | per {unit} | "
                   f"vs {base_name} |")
        out.append("| --- | --- | --- | --- | --- |")
        pc = {}
        for side in sides:
            (ns, irs), (nl, irl) = sorted(runs[(method, side)])
            pc[side] = (irl - irs) / (nl - ns)
        for side in sides:
            (ns, irs), (nl, irl) = sorted(runs[(method, side)])
            ratio = f"{pc[side] / pc[base]:.3f}×" if base in pc else "—"
            out.append(f"| {side} | {ns:,}, {nl:,} | {irs:,}, {irl:,} | {pc[side]:,.0f} | "
                       f"{ratio} |")
        out.append("")
        prof = {}
        for side in sides:
            (ns, _), (nl, _) = sorted(runs[(method, side)])
            prof[side] = {
                kind: per_call(read_annotate(f"{args.dir}/{side}-{method}-{ns}.{kind}"),
                               read_annotate(f"{args.dir}/{side}-{method}-{nl}.{kind}"), ns, nl)
                for kind in ("incl", "self")}
        objs = {}
        for side in sides:
            (ns, _), (nl, _) = sorted(runs[(method, side)])
            objs[side] = per_call(self_by_object(f"{args.dir}/{side}-{method}-{ns}.callgrind"),
                                  self_by_object(f"{args.dir}/{side}-{method}-{nl}.callgrind"),
                                  ns, nl)
        out.append(f"#### {method}: self instructions per {unit} by library")
        out.append("")
        # Difference columns: kept − hand-off, hand-off − bare, for the sides that ran.
        diffs = [(x, y) for x, y in (("kept", "handoff"), ("handoff", "bare"))
                 if x in objs and y in objs]
        names = {"kept": "kept", "handoff": "hand-off", "bare": "bare", "direct": "direct",
                 "exempt": "exempt"}
        out.append("| library | " + " | ".join(sides) +
                   "".join(f" | {names[x]} − {names[y]}" for x, y in diffs) + " |")
        out.append("| --- |" + " --- |" * (len(sides) + len(diffs)))
        first = "kept" if "kept" in objs else sides[0]
        for obj in sorted(set().union(*objs.values()), key=lambda o: -objs[first].get(o, 0)):
            if all(abs(objs[sd].get(obj, 0)) < 100 for sd in sides):
                continue
            row = f"| {obj} | " + " | ".join(f"{objs[sd].get(obj, 0):,.0f}" for sd in sides)
            for x, y in diffs:
                row += f" | {objs[x].get(obj, 0) - objs[y].get(obj, 0):+,.0f}"
            out.append(row + " |")
        out.append("")
        if "kept" in prof:
            own = {k: v for k, v in prof["kept"]["incl"].items()
                   if k[0].startswith(("gateway/src/h2/", "gateway/src/call/inprocess_call"))}
            out.append(f"#### {method}, kept: inclusive instructions per call, the kept path's "
                       f"own functions (gateway/src/h2/*, call/inprocess_call.*)")
            out.append("")
            out.append("| per call | share of the call | file | function |")
            out.append("| --- | --- | --- | --- |")
            for (file, fn), v in sorted(own.items(), key=lambda kv: -kv[1])[:args.top]:
                out.append(f"| {v:,.0f} | {100 * v / pc['kept']:.1f}% | {file} | `{fn}` |")
            out.append("")
        if "handoff" in prof and "bare" in prof:
            h, b = prof["handoff"]["self"], prof["bare"]["self"]
            diff = {key: h.get(key, 0) - b.get(key, 0) for key in set(h) | set(b)}
            out.append(f"#### {method}: self instructions per {unit}, hand-off (h2gate) vs bare "
                       f"(largest differences)")
            out.append("")
            out.append("| hand-off | bare | difference | file | function |")
            out.append("| --- | --- | --- | --- | --- |")
            for (file, fn), v in sorted(diff.items(), key=lambda kv: -abs(kv[1]))[:args.top]:
                out.append(f"| {h.get((file, fn), 0):,.0f} | {b.get((file, fn), 0):,.0f} | "
                           f"{v:+,.0f} | {file} | `{fn}` |")
            out.append("")
        if "kept" in prof and "handoff" in prof:
            k, h = prof["kept"]["self"], prof["handoff"]["self"]
            diff = {key: k.get(key, 0) - h.get(key, 0) for key in set(k) | set(h)}
            out.append(f"#### {method}: self instructions per call, kept vs hand-off "
                       f"(largest differences)")
            out.append("")
            out.append("| kept | hand-off | difference | file | function |")
            out.append("| --- | --- | --- | --- | --- |")
            for (file, fn), v in sorted(diff.items(), key=lambda kv: -abs(kv[1]))[:args.top]:
                out.append(f"| {k.get((file, fn), 0):,.0f} | {h.get((file, fn), 0):,.0f} | "
                           f"{v:+,.0f} | {file} | `{fn}` |")
            out.append("")
    text = "\n".join(out)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("bodies")
    s.add_argument("--dir", required=True)
    s.add_argument("--payload", type=int, default=1024)
    s.set_defaults(fn=cmd_bodies)

    s = sub.add_parser("check-grpc-reply")
    s.add_argument("--what", required=True)
    s.add_argument("--headers", required=True)
    s.add_argument("--body", required=True)
    s.add_argument("--expect", required=True)
    s.set_defaults(fn=cmd_check_grpc_reply)

    s = sub.add_parser("h2load")
    s.add_argument("--what", required=True)
    s.add_argument("--file", required=True)
    s.add_argument("--expect-bytes", type=int, required=True)
    s.add_argument("--expect-requests", type=int, default=0)
    s.add_argument("--inflight", type=int, default=1)
    s.add_argument("--expect-status", choices=["2xx", "4xx"], default="2xx",
                   help="the status class every answer must have (4xx: the 415 of a JSON call)")
    s.set_defaults(fn=cmd_h2load)

    s = sub.add_parser("wrk")
    s.add_argument("--expect", choices=["non2xx", "2xx"], default="non2xx",
                   help="non2xx: every answer is the 426; 2xx: every answer succeeded")
    s.add_argument("--what", required=True)
    s.add_argument("--file", required=True)
    s.set_defaults(fn=cmd_wrk)

    s = sub.add_parser("latency")
    s.add_argument("--what", required=True)
    s.add_argument("--file", required=True)
    s.add_argument("--min-samples", type=int, default=1)
    s.set_defaults(fn=cmd_latency)

    s = sub.add_parser("metric")
    s.add_argument("--port", required=True)
    s.add_argument("--exclude", help="label=value to leave out")
    s.add_argument("name")
    s.add_argument("labels", nargs="*")
    s.set_defaults(fn=cmd_metric)

    s = sub.add_parser("free-ports")
    s.add_argument("count", type=int)
    s.set_defaults(fn=cmd_free_ports)

    s = sub.add_parser("nginx-conf")
    s.add_argument("--prefix", required=True)
    s.add_argument("--port", required=True)
    s.add_argument("--path", required=True)
    s.add_argument("--body", required=True)
    s.add_argument("--upgrade", default="h2c", help="the 426's Upgrade header value")
    s.add_argument("--tls-cert", help="PEM certificate: listen with TLS (ssl)")
    s.add_argument("--tls-key", help="PEM key of --tls-cert")
    s.set_defaults(fn=cmd_nginx_conf)

    s = sub.add_parser("table")
    s.add_argument("--results", required=True)
    s.add_argument("--header")
    s.add_argument("--out", required=True)
    s.add_argument("subst", nargs="*", help="name=value for the section titles")
    s.set_defaults(fn=cmd_table)

    s = sub.add_parser("callgrind-table")
    s.add_argument("--dir", required=True)
    s.add_argument("--totals", required=True)
    s.add_argument("--top", type=int, default=40)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_callgrind_table)

    args = p.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
