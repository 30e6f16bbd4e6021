"""Client load for the fleet test, run as its own process by fleet.py (/usr/bin/python3, for
Debian's grpcio). It writes READY_FILE once every kind of caller has had an answer, runs until
STOP_FILE appears (or --max-seconds), lets the calls in flight end, and writes its figures as
JSON to OUT.

  load.py rolling --target PORT --mode tcp|http --stubs DIR --out F --ready-file F --stop-file F
      gRPC unary Echo and ServerStream calls (grpcio, h2c; short streams and streams longer than
      the shutdown delay), HTTP/1.1 JSON callers of Echo (served under --http1-policy=warn) and
      HTTP/1.1 callers of ServerStream (426 from h2gate behind an L4 balancer; 415 behind an
      ingress, which reaches h2gate over HTTP/2), all through haproxy. Busy HTTP/1.1 callers
      reuse their keep-alive connection every few ms; sparse ones leave it idle for up to twice
      the shutdown delay, so some are idle across a whole drain.
  load.py spread --target PORT --channels N --rate R --stubs DIR --out F --ready-file F
                 --stop-file F
      N gRPC channels, each its own TCP connection, each calling unary Echo R times a second

What a client does here is what gRPC's and HTTP's rules say a client does, no more:
- gRPC: transparent retry is on (grpcio's default, grpc.enable_retries=1): an RPC the server
  never saw (a stream refused by REFUSED_STREAM or above a GOAWAY's last stream id) is sent again
  by gRPC itself. No retry policy is configured, and unary calls are never retried by this code:
  a unary call that fails counts as failed, whatever its status.
- A ServerStream call that ends UNAVAILABLE before its first response is tried again, at most
  twice (gRPC's retry design, A6: an RPC is retryable until the client has received response
  headers; UNAVAILABLE is the status every gRPC retry policy lists). It counts as retried; any
  other ending is a failure.
- HTTP/1.1 keep-alive: a connection the server marked `Connection: close` is not reused, and an
  idle pooled connection that the peer has closed (readable at EOF before the next request) is
  replaced before the request is written, as urllib3 and Go's net/http do. Nothing is sent again
  after it was written: an error after that is a failure ("connection error").
"""
import argparse
import collections
import http.client
import json
import os
import random
import select
import sys
import threading
import time
from collections import Counter

EVENTS_FIRST = 150  # failures and retries kept with their times: the first ones,
EVENTS_LAST = 50  # and the last ones
JSON_PATH = "/echo.v1.Echo/Echo"
STREAM_PATH = "/echo.v1.Echo/ServerStream"


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = Counter()
        self.events = []  # failures and retries, with wall-clock times for fleet.py's timeline
        self.last = collections.deque(maxlen=EVENTS_LAST)

    def add(self, key, n=1):
        with self.lock:
            self.counts[key] += n

    def event(self, kind, detail):
        with self.lock:
            self.counts[f"{kind} {detail}"] += 1
            e = {"t": time.time(), "kind": kind, "detail": detail}
            if len(self.events) < EVENTS_FIRST:
                self.events.append(e)
            else:
                self.last.append(e)

    def all_events(self):
        return self.events + list(self.last)


def load_grpc(stubs):
    sys.path.insert(0, stubs)
    import grpc  # noqa: E402
    from echo.v1 import echo_pb2  # noqa: E402
    return grpc, echo_pb2


def open_channel(grpc, target):
    # A local subchannel pool: each channel is a TCP connection of its own, as separate client
    # processes would have (grpcio's global pool would share one among equal channels).
    return grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1),
                                                  ("grpc.enable_retries", 1)])


class Stopper:
    def __init__(self, stop_file, max_seconds):
        self.ev = threading.Event()
        self.stop_file, self.deadline = stop_file, time.monotonic() + max_seconds
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self):
        while not self.ev.is_set():
            if os.path.exists(self.stop_file) or time.monotonic() > self.deadline:
                self.ev.set()
            time.sleep(0.05)

    def stopped(self):
        return self.ev.is_set()


# ---- gRPC callers --------------------------------------------------------------------------


def grpc_unary_worker(rec, grpc, pb, channel, wid, stopper, pace):
    call = channel.unary_unary(JSON_PATH, request_serializer=pb.EchoRequest.SerializeToString,
                               response_deserializer=pb.EchoResponse.FromString)
    k = 0
    while not stopper.stopped():
        k += 1
        msg, payload = f"u{wid}-{k}", os.urandom(32)
        try:
            reply = call(pb.EchoRequest(message=msg, payload=payload), timeout=10)
            if reply.message == msg and reply.payload == payload:
                rec.add("grpc_unary ok")
            else:
                rec.event("grpc_unary", f"wrong reply {reply.message!r}")
        except grpc.RpcError as e:
            rec.event("grpc_unary", f"{e.code().name}: {(e.details() or '')[:120]}")
        time.sleep(pace)


def grpc_stream_worker(rec, grpc, pb, channel, wid, stopper, count, interval_ms):
    call = channel.unary_stream(STREAM_PATH, request_serializer=pb.StreamRequest.SerializeToString,
                                response_deserializer=pb.EchoResponse.FromString)
    k = 0
    timeout = count * interval_ms / 1000 + 15
    while not stopper.stopped():
        k += 1
        msg = f"s{wid}-{k}"
        for attempt in range(3):
            got = 0
            try:
                for r in call(pb.StreamRequest(message=msg, count=count, interval_ms=interval_ms),
                              timeout=timeout):
                    if r.message != msg:
                        raise ValueError(f"wrong message {r.message!r}")
                    got += 1
                if got == count:
                    rec.add("grpc_stream ok")
                    if attempt:
                        rec.add("grpc_stream ok after retry")
                else:
                    rec.event("grpc_stream", f"ended OK after {got}/{count} messages")
                break
            except grpc.RpcError as e:
                code = e.code()
                if code == grpc.StatusCode.UNAVAILABLE and got == 0 and attempt < 2:
                    rec.event("grpc_stream_retried", f"UNAVAILABLE before any response: "
                              f"{(e.details() or '')[:100]}")
                    continue
                rec.event("grpc_stream", f"{code.name} after {got}/{count} messages: "
                          f"{(e.details() or '')[:100]}")
                break
            except ValueError as e:
                rec.event("grpc_stream", str(e))
                break


# ---- HTTP/1.1 callers ----------------------------------------------------------------------


def peer_closed(sock):
    """True if an idle connection is readable: the peer closed it (or sent something unasked)."""
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


class KeepAliveCaller:
    """One HTTP/1.1 connection reused for as long as the server allows."""

    def __init__(self, rec, port, kind, keep_alive=True):
        self.rec, self.port, self.kind, self.keep_alive = rec, port, kind, keep_alive
        self.conn = None

    def request(self, path, body):
        if self.conn is not None and self.conn.sock is not None and peer_closed(self.conn.sock):
            self.rec.add(f"{self.kind} idle connection closed by peer, replaced before sending")
            self.conn.close()
            self.conn = None
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        reused = self.conn.sock is not None
        headers = {"Content-Type": "application/json", "User-Agent": f"fleet-{self.kind}"}
        if not self.keep_alive:
            headers["Connection"] = "close"
        try:
            self.conn.request("POST", path, body=body, headers=headers)
            r = self.conn.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException) as e:
            self.conn.close()
            self.conn = None
            return None, f"connection error {type(e).__name__} ({'reused' if reused else 'new'} " \
                         f"connection): {str(e)[:80]}"
        if r.will_close:
            self.conn.close()
            self.conn = None
            if self.keep_alive:
                self.rec.add(f"{self.kind} server said Connection: close")
        return (r.status, dict((k.lower(), v) for k, v in r.getheaders()), data), None


def json_worker(rec, port, wid, stopper, gaps):
    caller = KeepAliveCaller(rec, port, "json")
    k = 0
    while not stopper.stopped():
        k += 1
        msg = f"j{wid}-{k}"
        answer, err = caller.request(JSON_PATH, json.dumps({"message": msg}))
        if err:
            rec.event("json", err)
        else:
            status, headers, data = answer
            try:
                ok = status == 200 and json.loads(data).get("message") == msg
            except ValueError:
                ok = False
            if ok and "warning" in headers:
                rec.add("json ok")
            else:
                rec.event("json", f"status {status} warning={'warning' in headers} "
                          f"body {data[:80]!r}")
        time.sleep(random.uniform(*gaps))


def reject_worker(rec, port, mode, stopper, keep_alive, gaps):
    """A legacy caller of a streaming method: h2gate's 426 (L4) or 415 (through an ingress)."""
    want_status, want_reason = (426, "GRPC_REQUIRES_HTTP2") if mode == "tcp" else \
        (415, "GRPC_REQUIRES_GRPC_CONTENT_TYPE")
    kind = "http1_reject" if keep_alive else "http1_reject_new_conn"
    caller = KeepAliveCaller(rec, port, kind, keep_alive)
    while not stopper.stopped():
        answer, err = caller.request(STREAM_PATH, '{"message":"legacy","count":2}')
        if err:
            rec.event(kind, err)
        else:
            status, _, data = answer
            if status == want_status and want_reason.encode() in data:
                rec.add(f"{kind} ok")
            else:
                rec.event(kind, f"status {status} body {data[:80]!r}")
        time.sleep(random.uniform(*gaps))


# ---- runs ----------------------------------------------------------------------------------


def run_threads(targets, ready_file, warm_keys, rec, stopper, seconds_to_ready=20):
    threads = [threading.Thread(target=t, args=a, daemon=True) for t, a in targets]
    for t in threads:
        t.start()
    deadline = time.monotonic() + seconds_to_ready
    while time.monotonic() < deadline and not stopper.stopped():
        if all(rec.counts[k] > 0 for k in warm_keys):
            break
        time.sleep(0.05)
    with open(ready_file + ".tmp", "w") as f:
        f.write("ready" if all(rec.counts[k] > 0 for k in warm_keys) else "not ready")
    os.rename(ready_file + ".tmp", ready_file)
    for t in threads:
        t.join(timeout=max(1, stopper.deadline - time.monotonic() + 40))
    return sum(t.is_alive() for t in threads)


def rolling(a):
    grpc, pb = load_grpc(a.stubs)
    rec = Recorder()
    stopper = Stopper(a.stop_file, a.max_seconds)
    target = f"127.0.0.1:{a.target}"
    channels = [open_channel(grpc, target) for _ in range(a.channels)]
    targets = []
    for i in range(a.unary):
        targets.append((grpc_unary_worker, (rec, grpc, pb, channels[i % a.channels], i, stopper,
                                            0.005)))
    for i in range(a.streams):
        targets.append((grpc_stream_worker, (rec, grpc, pb, channels[i % a.channels], i, stopper,
                                             a.stream_count, a.stream_interval)))
    # Long streams outlast the shutdown delay: through an ingress, which sends a draining replica
    # no new request once its check fails, these are the streams still open at its GOAWAY.
    for i in range(a.long_streams):
        targets.append((grpc_stream_worker, (rec, grpc, pb, channels[(a.streams + i) % a.channels],
                                             1000 + i, stopper, a.long_count, a.stream_interval)))
    for i in range(a.json):
        targets.append((json_worker, (rec, a.target, i, stopper, (0.002, 0.01))))
    # Sparse legacy callers: their pooled connection sits idle for up to twice the shutdown
    # delay between calls, so some are idle across a replica's whole drain.
    for i in range(a.sparse):
        targets.append((json_worker, (rec, a.target, 100 + i, stopper,
                                      (0.1, 2 * a.shutdown_delay))))
    for _ in range(a.reject):
        targets.append((reject_worker, (rec, a.target, a.mode, stopper, True, (0.005, 0.015))))
    for _ in range(a.sparse):
        targets.append((reject_worker, (rec, a.target, a.mode, stopper, True,
                                        (0.1, 2 * a.shutdown_delay))))
    targets.append((reject_worker, (rec, a.target, a.mode, stopper, False, (0.01, 0.03))))
    warm = ["grpc_unary ok", "grpc_stream ok", "json ok", "http1_reject ok",
            "http1_reject_new_conn ok"]
    hung = run_threads(targets, a.ready_file, warm, rec, stopper)
    for c in channels:
        c.close()
    out = {"counts": dict(rec.counts), "events": rec.all_events(), "hung_threads": hung}
    with open(a.out, "w") as f:
        json.dump(out, f)
    return 0


def spread_worker(rec, grpc, pb, channel, wid, stopper, rate):
    call = channel.unary_unary(JSON_PATH, request_serializer=pb.EchoRequest.SerializeToString,
                               response_deserializer=pb.EchoResponse.FromString)
    period = 1.0 / rate
    next_t = time.monotonic() + random.uniform(0, period)
    while not stopper.stopped():
        time.sleep(max(0, next_t - time.monotonic()))
        next_t += period
        try:
            call(pb.EchoRequest(message=f"c{wid}"), timeout=10)
            rec.add("grpc_unary ok")
        except grpc.RpcError as e:
            rec.event("grpc_unary", f"{e.code().name}: {(e.details() or '')[:120]}")


def spread(a):
    grpc, pb = load_grpc(a.stubs)
    rec = Recorder()
    stopper = Stopper(a.stop_file, a.max_seconds)
    channels = [open_channel(grpc, f"127.0.0.1:{a.target}") for _ in range(a.channels)]
    targets = [(spread_worker, (rec, grpc, pb, c, i, stopper, a.rate))
               for i, c in enumerate(channels)]
    hung = run_threads(targets, a.ready_file, ["grpc_unary ok"], rec, stopper)
    for c in channels:
        c.close()
    with open(a.out, "w") as f:
        json.dump({"counts": dict(rec.counts), "events": rec.all_events(), "hung_threads": hung},
                  f)
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("rolling", "spread"):
        s = sub.add_parser(name)
        s.add_argument("--target", type=int, required=True)
        s.add_argument("--stubs", required=True)
        s.add_argument("--out", required=True)
        s.add_argument("--ready-file", required=True)
        s.add_argument("--stop-file", required=True)
        s.add_argument("--max-seconds", type=float, default=300)
    r = sub.choices["rolling"]
    r.add_argument("--mode", choices=["tcp", "http"], required=True)
    r.add_argument("--channels", type=int, default=6)
    r.add_argument("--unary", type=int, default=6)
    r.add_argument("--streams", type=int, default=6)
    r.add_argument("--stream-count", type=int, default=10)
    r.add_argument("--stream-interval", type=int, default=100)
    r.add_argument("--long-streams", type=int, default=2)
    r.add_argument("--long-count", type=int, default=20)
    r.add_argument("--json", type=int, default=3)
    r.add_argument("--sparse", type=int, default=3)
    r.add_argument("--reject", type=int, default=2)
    r.add_argument("--shutdown-delay", type=float, default=1.0)
    s = sub.choices["spread"]
    s.add_argument("--channels", type=int, default=30)
    s.add_argument("--rate", type=float, default=20)
    a = p.parse_args()
    return rolling(a) if a.cmd == "rolling" else spread(a)


if __name__ == "__main__":
    sys.exit(main())
