"""Callers and checks for tests/haproxy/run.sh (Debian's /usr/bin/python3, for its grpcio).

  ingress_client.py wait-up SOCKET SECONDS
      until haproxy's stats socket reports server be/g UP after a passed check
  ingress_client.py phase --mode warn|reject|control --stubs DIR --haproxy PORT --h2gate PORT
                          --stats SOCKET --nbthread N
      gRPC (grpcio, h2c to haproxy) and curl HTTP/1.1 JSON and /healthz callers at the same time
      through haproxy; checks every answer, h2gate's counters and haproxy's server state
  ingress_client.py probe-first-flight PORT_FILE RESULT_FILE
      a fake h2 backend: records whether haproxy's first flight on a new backend connection
      carries the first HEADERS or waits for the server's SETTINGS

Every check that fails prints "FAIL: ..." and makes the exit code 1. Each phase prints one
"figures[MODE]: ..." line that run.sh repeats at the end.
"""
import argparse
import concurrent.futures
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter

GRPC_UNARY = 300  # unary Echo calls
GRPC_STREAMS = 40  # ServerStream calls, STREAM_COUNT messages each
STREAM_COUNT = 5
GRPC_WARMUP = 5  # sequential unary calls before any JSON caller
GRPC_CHANNELS = 4
GRPC_WORKERS = 8
JSON_CALLS = 40
HEALTHZ_CALLS = 10
CURL_WORKERS = 6
JSON_BODY = '{"message":"hi"}'
METHOD_PATH = "/echo.v1.Echo/Echo"

failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL: {msg}", flush=True)


# ---- haproxy stats socket ------------------------------------------------------------------


def haproxy_command(sock_path, command):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(sock_path)
        s.sendall(command.encode() + b"\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data.decode()
            data += chunk


def server_stat(sock_path, proxy="be", server="g"):
    lines = [l for l in haproxy_command(sock_path, "show stat").splitlines() if l]
    fields = lines[0].lstrip("# ").split(",")
    for line in lines[1:]:
        row = dict(zip(fields, line.split(",")))
        if row.get("pxname") == proxy and row.get("svname") == server:
            return row
    raise RuntimeError(f"no {proxy}/{server} in haproxy's show stat")


def wait_up(sock_path, seconds):
    deadline = time.monotonic() + seconds
    row = {}
    while time.monotonic() < deadline:
        try:
            row = server_stat(sock_path)
            if row["status"] == "UP" and row["check_status"].startswith("L7OK"):
                print(f"haproxy: server be/g {row['status']}, check {row['check_status']} "
                      f"(code {row['check_code']}, {row['check_duration']} ms)")
                return 0
        except (OSError, RuntimeError):
            pass
        time.sleep(0.2)
    print(f"FAIL: haproxy server be/g not UP after {seconds} s: status={row.get('status')} "
          f"check={row.get('check_status')} desc={row.get('check_desc')}")
    return 1


# ---- h2gate /metrics -----------------------------------------------------------------------

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(h2gate_port):
    # HTTP/1.1 straight to h2gate: route-per-request concerns HTTP/2 connections only.
    with urllib.request.urlopen(f"http://127.0.0.1:{h2gate_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    samples = []
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m and not line.startswith("#"):
            samples.append((m.group(1), dict(LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return samples


def metric(samples, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`."""
    return int(sum(v for n, l, v in samples
                   if n == name and all(l.get(k) == w for k, w in labels.items())))


# ---- callers -------------------------------------------------------------------------------


def curl(args):
    t0 = time.monotonic()
    r = subprocess.run(["curl", "-sS", "-i", "--http1.1", "--max-time", "10"] + args,
                       capture_output=True, timeout=20)
    answer = {"t0": t0, "t1": time.monotonic(), "rc": r.returncode,
              "stderr": r.stderr.decode(errors="replace").strip(), "status": 0, "headers": {},
              "body": b""}
    raw = r.stdout
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    m = re.match(r"HTTP/\S+ (\d{3})", lines[0]) if lines else None
    if m:
        answer["status"] = int(m.group(1))
        for line in lines[1:]:
            name, _, value = line.partition(":")
            answer["headers"].setdefault(name.strip().lower(), value.strip())
        answer["body"] = body
    return answer


def json_call(url):
    return curl(["-X", "POST", "-H", "content-type: application/json", "-d", JSON_BODY, url])


def describe(a):
    if a["rc"] != 0:
        return f"curl rc={a['rc']} ({a['stderr'][:80]})"
    ct = a["headers"].get("content-type", "-")
    extra = ""
    if "grpc-status" in a["headers"]:
        extra = f" grpc-status={a['headers']['grpc-status']} " \
                f"grpc-message={a['headers'].get('grpc-message', '')!r}"
    return f"{a['status']} content-type={ct} body={len(a['body'])}B{extra}"


def check_json_answer(a, mode, expect_headers):
    """None if `a` is the answer h2gate gives a JSON caller under `mode`, else why not."""
    if a["rc"] != 0:
        return describe(a)
    try:
        body = json.loads(a["body"])
    except ValueError:
        body = None
    ct = a["headers"].get("content-type", "")
    if mode == "reject":
        if a["status"] != 415 or ct != "application/json" or not isinstance(body, dict):
            return describe(a)
        if body.get("code") != 9 or METHOD_PATH not in body.get("message", "") or \
                "application/grpc" not in body.get("message", ""):
            return f"415 with an unexpected body {a['body'][:120]!r}"
        meta = (body.get("details") or [{}])[0].get("metadata", {})
        if meta.get("grpc_service") != "echo.v1.Echo" or meta.get("grpc_method") != "Echo":
            return f"415 naming the wrong method: {meta}"
        return None
    # warn (and the control, which runs under warn)
    if a["status"] != 200 or ct != "application/json" or body != {"message": "hi"}:
        return describe(a)
    for name, value in expect_headers.items():
        if a["headers"].get(name) != value:
            return f"200 without h2gate's {name} header (got {a['headers'].get(name)!r})"
    return None


def check_healthz(a):
    if a["rc"] != 0 or a["status"] != 200:
        return describe(a)
    try:
        if json.loads(a["body"]) != {"status": "alive"}:
            return f"200 with body {a['body'][:80]!r}"
    except ValueError:
        return f"200 with body {a['body'][:80]!r}"
    return None


class GrpcCallers:
    def __init__(self, stubs, port):
        sys.path.insert(0, stubs)
        import grpc
        from echo.v1 import echo_pb2
        self.grpc, self.pb = grpc, echo_pb2
        # A local subchannel pool each: GRPC_CHANNELS client connections to haproxy, not one.
        self.channels = [grpc.insecure_channel(f"127.0.0.1:{port}",
                                               options=[("grpc.use_local_subchannel_pool", 1)])
                         for _ in range(GRPC_CHANNELS)]
        self.unary = [c.unary_unary("/echo.v1.Echo/Echo",
                                    request_serializer=echo_pb2.EchoRequest.SerializeToString,
                                    response_deserializer=echo_pb2.EchoResponse.FromString)
                      for c in self.channels]
        self.stream = [c.unary_stream("/echo.v1.Echo/ServerStream",
                                      request_serializer=echo_pb2.StreamRequest.SerializeToString,
                                      response_deserializer=echo_pb2.EchoResponse.FromString)
                       for c in self.channels]
        self.lock = threading.Lock()
        self.results = Counter()
        self.times = []

    def _record(self, kind, error):
        with self.lock:
            self.results[f"{kind} ok" if error is None else f"{kind} {error}"] += 1
            self.times.append(time.monotonic())

    def call_unary(self, i):
        payload = os.urandom(64)
        try:
            reply = self.unary[i % GRPC_CHANNELS](
                self.pb.EchoRequest(message=f"unary-{i}", payload=payload), timeout=10)
            err = None if (reply.message == f"unary-{i}" and reply.payload == payload) \
                else f"wrong reply {reply.message!r}"
        except self.grpc.RpcError as e:
            err = f"{e.code().name}: {e.details()}"
        self._record("unary", err)

    def call_stream(self, i):
        try:
            replies = [r.message for r in self.stream[i % GRPC_CHANNELS](
                self.pb.StreamRequest(message=f"stream-{i}", count=STREAM_COUNT, interval_ms=10),
                timeout=10)]
            err = None if replies == [f"stream-{i}"] * STREAM_COUNT else f"wrong replies {replies}"
        except self.grpc.RpcError as e:
            err = f"{e.code().name}: {e.details()}"
        self._record("stream", err)

    def close(self):
        for c in self.channels:
            c.close()


def phase(args):
    mode = args.mode
    url = f"http://127.0.0.1:{args.haproxy}"
    expect_headers = {}
    if mode != "reject":
        # What h2gate itself sends an HTTP/1.1 JSON caller under warn, asked directly.
        direct = json_call(f"http://127.0.0.1:{args.h2gate}{METHOD_PATH}")
        if check_json_answer(direct, "warn", {}) is not None:
            fail(f"direct HTTP/1.1 JSON call to h2gate under warn: {describe(direct)}")
        expect_headers = {h: direct["headers"][h] for h in ("deprecation", "warning")
                          if h in direct["headers"]}
        if set(expect_headers) != {"deprecation", "warning"}:
            fail(f"h2gate's direct warn answer lacks Deprecation/Warning: {direct['headers']}")
    before = server_stat(args.stats)

    g = GrpcCallers(args.stubs, args.haproxy)
    # Warm-up: haproxy's pooled upstream connection carries gRPC calls before any JSON caller.
    for i in range(GRPC_WARMUP):
        g.call_unary(-1 - i)

    grpc_pool = concurrent.futures.ThreadPoolExecutor(GRPC_WORKERS)
    curl_pool = concurrent.futures.ThreadPoolExecutor(CURL_WORKERS)
    t_start = time.monotonic()
    grpc_futures = []
    every = GRPC_UNARY // GRPC_STREAMS  # streams spread among the unary calls
    for i in range(GRPC_UNARY):
        grpc_futures.append(grpc_pool.submit(g.call_unary, i))
        if i % every == 0 and i // every < GRPC_STREAMS:
            grpc_futures.append(grpc_pool.submit(g.call_stream, i))
    json_futures = [curl_pool.submit(json_call, url + METHOD_PATH) for _ in range(JSON_CALLS)]
    health_futures = [curl_pool.submit(curl, [url + "/healthz"]) for _ in range(HEALTHZ_CALLS)]
    for f in grpc_futures:
        f.result()
    json_answers = [f.result() for f in json_futures]
    health_answers = [f.result() for f in health_futures]
    grpc_pool.shutdown()
    curl_pool.shutdown()
    g.close()
    grpc_total = GRPC_WARMUP + GRPC_UNARY + GRPC_STREAMS

    # ---- answers
    grpc_ok = g.results["unary ok"] + g.results["stream ok"]
    grpc_bad = {k: v for k, v in g.results.items() if not k.endswith(" ok")}
    if grpc_ok != grpc_total:
        fail(f"gRPC through haproxy: {grpc_ok}/{grpc_total} OK; the others: {grpc_bad}")
    json_kinds = Counter()
    json_wrong = 0
    for a in json_answers:
        why = check_json_answer(a, mode, expect_headers)
        json_kinds["expected " + ("415 JSON" if mode == "reject" else "200 JSON")
                   if why is None else why] += 1
        json_wrong += why is not None
    health_kinds = Counter()
    for a in health_answers:
        why = check_healthz(a)
        health_kinds["200 alive" if why is None else why] += 1
    health_wrong = sum(v for k, v in health_kinds.items() if k != "200 alive")
    json_first = min(a["t0"] for a in json_answers)
    json_last = max(a["t1"] for a in json_answers)
    grpc_during = sum(1 for t in g.times if json_first <= t <= json_last)
    print(f"[{mode}] gRPC: {dict(g.results)}; {grpc_during} gRPC calls ended while the JSON "
          f"callers ran ({json_last - json_first:.2f} s of {time.monotonic() - t_start:.2f} s)")
    print(f"[{mode}] JSON callers: {dict(json_kinds)}")
    print(f"[{mode}] /healthz callers: {dict(health_kinds)}")
    if mode != "control":
        if json_wrong:
            fail(f"{json_wrong}/{JSON_CALLS} JSON callers got something other than h2gate's "
                 f"{'415' if mode == 'reject' else '200'} answer: {dict(json_kinds)}")
        if health_wrong:
            fail(f"{health_wrong}/{HEALTHZ_CALLS} /healthz callers: {dict(health_kinds)}")
    elif json_wrong == 0:
        fail("control: every JSON caller got h2gate's answer although haproxy's upstream "
             "connections are not kept (--http2-route-per-request=none); the control shows nothing")

    # ---- haproxy's view
    after = server_stat(args.stats)
    connects = int(after["connect"] or 0) - int(before["connect"] or 0)
    reuses = int(after["reuse"] or 0) - int(before["reuse"] or 0)
    print(f"[{mode}] haproxy server be/g: status {after['status']}, check {after['check_status']}; "
          f"upstream connects {connects}, reuses {reuses}, 5xx {after['hrsp_5xx']}")
    if after["status"] != "UP":
        fail(f"haproxy reports server be/g {after['status']} ({after['check_desc']})")

    # ---- h2gate's counters
    m = scrape(args.h2gate)
    rejected2 = metric(m, "h2gate_http1_rejections_total", grpc_service="echo.v1.Echo",
                       grpc_method="Echo", http_method="POST", registered="true",
                       http_version="2")
    transcoded2 = metric(m, "h2gate_http1_transcoded_total", grpc_service="echo.v1.Echo",
                         grpc_method="Echo", policy="warn", grpc_code="OK", http_version="2")
    kept_rpr = metric(m, "h2gate_http2_kept_connections_total", reason="route_per_request")
    kept_first = metric(m, "h2gate_http2_kept_connections_total", reason="first_request")
    streams_grpc = metric(m, "h2gate_http2_kept_streams_total", kind="grpc")
    streams_http = metric(m, "h2gate_http2_kept_streams_total", kind="http")
    # Every health check is a connection of its own with one /healthz stream; the rest of the
    # kept connections are haproxy's pooled upstream connections.
    checks = streams_http - (JSON_CALLS + HEALTHZ_CALLS) if mode != "control" else 0
    data_conns = kept_rpr - checks
    print(f"[{mode}] h2gate: rejections{{http_version=\"2\"}} {rejected2}, "
          f"transcoded{{OK,http_version=\"2\"}} {transcoded2}, kept connections "
          f"route_per_request {kept_rpr} (health checks {checks}, so {data_conns} for traffic), "
          f"first_request {kept_first}; kept streams grpc {streams_grpc}, http {streams_http}")
    conn_bound = 2 * args.nbthread + 2
    if mode == "reject":
        if rejected2 != JSON_CALLS:
            fail(f"h2gate_http1_rejections_total{{...,http_version=\"2\"}} is {rejected2}, "
                 f"expected {JSON_CALLS} (one per JSON caller)")
        if transcoded2 != 0:
            fail(f"transcoded calls under reject: {transcoded2}")
    if mode == "warn":
        if transcoded2 != JSON_CALLS:
            fail(f"h2gate_http1_transcoded_total{{...,grpc_code=\"OK\",http_version=\"2\"}} is "
                 f"{transcoded2}, expected {JSON_CALLS} (one per JSON caller)")
        if rejected2 != 0:
            fail(f"rejections under warn: {rejected2}")
    if mode != "control":
        if streams_grpc != grpc_total:
            fail(f"h2gate_http2_kept_streams_total{{kind=\"grpc\"}} is {streams_grpc}, "
                 f"expected {grpc_total}: every gRPC call rides a kept connection")
        if kept_first != 0:
            fail(f"kept connections with reason first_request: {kept_first}, expected 0")
        if not 1 <= data_conns <= conn_bound or not 1 <= connects <= conn_bound:
            fail(f"haproxy should share a few upstream connections among "
                 f"{grpc_total + JSON_CALLS + HEALTHZ_CALLS} calls: h2gate counted {data_conns} "
                 f"and haproxy {connects} connects, expected 1..{conn_bound}")
    else:
        if kept_rpr or rejected2 or transcoded2:
            fail(f"control: h2gate saw kept/answered traffic it should not have: kept "
                 f"{kept_rpr}, rejections {rejected2}, transcoded {transcoded2}")
    wrong_kinds = f" {dict(json_kinds)}" if json_wrong else ""
    print(f"figures[{mode}]: gRPC ok {grpc_ok}/{grpc_total}; JSON callers "
          f"{JSON_CALLS - json_wrong} right, {json_wrong} wrong{wrong_kinds}; "
          f"/healthz {HEALTHZ_CALLS - health_wrong} right, {health_wrong} wrong; haproxy upstream "
          f"connects {connects}, reuses {reuses}; h2gate kept route_per_request {kept_rpr} "
          f"({data_conns} traffic + {checks} checks), rejections(h2) {rejected2}, "
          f"transcoded(h2) {transcoded2}", flush=True)
    return 1 if failures else 0


# ---- probe: haproxy's first flight on a new h2 backend connection --------------------------

FRAME_TYPES = {0: "DATA", 1: "HEADERS", 2: "PRIORITY", 3: "RST_STREAM", 4: "SETTINGS",
               5: "PUSH_PROMISE", 6: "PING", 7: "GOAWAY", 8: "WINDOW_UPDATE", 9: "CONTINUATION"}
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def read_for(conn, seconds):
    conn.settimeout(0.05)
    data = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        except socket.timeout:
            pass
    return data


def frames(data):
    out = []
    while len(data) >= 9:
        length = int.from_bytes(data[:3], "big")
        out.append((FRAME_TYPES.get(data[3], str(data[3])), data[4],
                    int.from_bytes(data[5:9], "big") & 0x7FFFFFFF))
        data = data[9 + length:]
    return out


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + \
        struct.pack(">I", stream) + payload


def probe_first_flight(port_file, result_file):
    with socket.socket() as ls:
        ls.bind(("127.0.0.1", 0))
        ls.listen(4)
        ls.settimeout(15)
        with open(port_file + ".tmp", "w") as f:
            f.write(str(ls.getsockname()[1]))
        os.rename(port_file + ".tmp", port_file)
        conn, _ = ls.accept()
        with conn:
            first = read_for(conn, 0.5)  # the server stays silent
            if not first.startswith(PREFACE):
                result = {"error": f"no preface: {first[:40]!r}"}
            else:
                before = frames(first[len(PREFACE):])
                conn.sendall(frame(4, 0, 0) + frame(4, 1, 0))  # our SETTINGS, and the ACK
                after = frames(read_for(conn, 0.5))
                result = {"first_flight": [f[0] for f in before],
                          "after_server_settings": [f[0] for f in after]}
                for name, _, stream in before + after:
                    if name == "HEADERS":  # :status 200, end of stream: curl gets its answer
                        conn.sendall(frame(1, 5, stream, b"\x88"))
                        time.sleep(0.1)
                        break
    with open(result_file, "w") as f:
        json.dump(result, f)
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("wait-up")
    w.add_argument("socket")
    w.add_argument("seconds", type=float)
    ph = sub.add_parser("phase")
    ph.add_argument("--mode", choices=["warn", "reject", "control"], required=True)
    ph.add_argument("--stubs", required=True)
    ph.add_argument("--haproxy", type=int, required=True)
    ph.add_argument("--h2gate", type=int, required=True)
    ph.add_argument("--stats", required=True)
    ph.add_argument("--nbthread", type=int, required=True)
    pr = sub.add_parser("probe-first-flight")
    pr.add_argument("port_file")
    pr.add_argument("result_file")
    args = p.parse_args()
    if args.cmd == "wait-up":
        return wait_up(args.socket, args.seconds)
    if args.cmd == "phase":
        return phase(args)
    return probe_first_flight(args.port_file, args.result_file)


if __name__ == "__main__":
    sys.exit(main())
