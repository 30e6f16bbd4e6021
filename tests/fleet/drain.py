"""The fleet's drain scenarios: one replica's drain step by step (drain-json), and rolling updates
behind haproxy as an L4 balancer and as an ingress (rolling-tcp, rolling-http). See fleet.py."""
import http.client
import select
import socket
import sys
import time

from fleetlib import Haproxy, Replica, scrape
from harness import (REPLICAS, Scenario, finish_load, haproxy_totals, in_flight_streams, log,
                     print_timeline, replica_flags, start_load, stop_fleet)

def drain_json(args, profile):
    """What a rolling update does to HTTP/1.1 JSON callers, made deterministic, while the drain
    waits in gRPC's Shutdown for a stream in flight: an idle keep-alive connection opened before
    SIGTERM is closed by the replica when its listener stops (so the caller's next call opens a
    new connection, to another replica); a call whose headers came before SIGTERM and whose body
    comes during the drain gets an answer (served, or refused with Connection: close). The replica
    must exit 0 once the stream is done."""
    sc = Scenario("drain-json")
    sys.path.insert(0, args.stubs)
    import grpc
    from echo.v1 import echo_pb2 as pb
    r = Replica("drain-json", args.binary, args.work,
                ["--http1-policy=warn", "--shutdown-delay=0", "--drain-timeout=5s"])
    channel = None
    try:
        r.start()
        conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=5)
        headers = {"Content-Type": "application/json", "User-Agent": "fleet-drain-json"}
        conn.request("POST", "/echo.v1.Echo/Echo", body='{"message":"before"}', headers=headers)
        first = conn.getresponse()
        first_status = (first.status, first.read())
        # A second caller, busy: its call's headers are in, its body is still to come.
        body = b'{"message":"during"}'
        busy = socket.create_connection(("127.0.0.1", r.port), timeout=5)
        busy.sendall(b"POST /echo.v1.Echo/Echo HTTP/1.1\r\nHost: t\r\n"
                     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
        channel = grpc.insecure_channel(f"127.0.0.1:{r.port}")
        stream = channel.unary_stream("/echo.v1.Echo/ServerStream",
                                      request_serializer=pb.StreamRequest.SerializeToString,
                                      response_deserializer=pb.EchoResponse.FromString)
        it = stream(pb.StreamRequest(message="held", count=1, hold_ms=1500), timeout=10)
        next(it)  # the stream is open on the server, and stays open 1.5 s more
        r.sigterm()
        time.sleep(0.3)  # the drain now waits in grpc::Server::Shutdown for that stream
        idle_closed = select.select([conn.sock], [], [], 2)[0] != [] and \
            conn.sock.recv(1, socket.MSG_PEEK) == b""
        busy.sendall(body)
        answer = b""
        busy_until = time.monotonic() + 5
        while b"\r\n\r\n" not in answer and time.monotonic() < busy_until:
            chunk = busy.recv(4096)
            if not chunk:
                break
            answer += chunk
        busy.close()
        head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        answered = head.startswith("HTTP/1.1 ")
        during = (head.split("\r\n", 1)[0] + (" connection=close" if "Connection: close" in head
                                               else "")) if answered else f"no answer: {answer!r}"
        try:
            stream_end = f"completed ({len(list(it)) + 1} message)"
        except grpc.RpcError as e:
            stream_end = f"{e.code().name}: {e.details()}"
        rc, took = r.wait_exit(10)
    except (RuntimeError, OSError, StopIteration) as e:
        sc.check(False, f"{type(e).__name__}: {e}")
        return sc
    finally:
        if channel is not None:
            channel.close()
        if r.unreaped():
            r.proc.kill()
            r.wait_exit(5)
    sc.figures["JSON call before SIGTERM"] = f"{first_status[0]} {first_status[1][:40]!r}"
    sc.figures["idle keep-alive connection closed when the listener stopped"] = idle_closed
    sc.figures["JSON call whose body came during the drain"] = during
    sc.figures["stream held across the drain"] = stream_end
    sc.figures["replica exit"] = f"{rc} after {took:.2f} s" + (" (SIGSEGV)" if rc == -11 else "")
    for k, v in sc.figures.items():
        print(f"  {k}: {v}")
    sc.check(first_status[0] == 200, "the JSON call before SIGTERM was served")
    sc.check(idle_closed, "the idle keep-alive connection was closed by the replica")
    sc.check(answered, "the JSON call whose body came during the drain got an HTTP answer")
    sc.check(stream_end.startswith("completed"), f"the stream in flight completed ({stream_end})")
    sc.check(rc == 0, f"the replica exited 0 ({rc})")
    return sc


# ---- scenario 1: rolling update ------------------------------------------------------------


def rolling(args, profile, mode):
    sc = Scenario(f"rolling-{mode}")
    work = args.work
    extra = ["--http2-route-per-request=127.0.0.0/8"] if mode == "http" else []
    replicas = [Replica(f"{mode}{i + 1}", args.binary, work, replica_flags(profile, extra))
                for i in range(REPLICAS)]
    haproxy = None
    timeline = []  # (wall time, text)
    try:
        for r in replicas:
            r.start()
        haproxy = Haproxy(work, f"rolling-{mode}", mode,
                          [(r.name, r.port, r.admin) for r in replicas])
        haproxy.wait_states({r.name: "UP" for r in replicas}, 10)
        log(f"{sc.name}: {REPLICAS} replicas UP behind haproxy mode {mode} on 127.0.0.1:"
            f"{haproxy.port}")
        load_argv = ["rolling", "--target", str(haproxy.port), "--mode", mode,
                     "--stream-count", str(profile["stream_count"]),
                     "--stream-interval", str(profile["stream_interval"]),
                     # Long streams: twice the shutdown delay and one second more.
                     "--long-streams", "6",
                     "--long-count", str(int((2 * profile["shutdown_delay"] + 1) * 1000 /
                                             profile["stream_interval"])),
                     "--shutdown-delay", str(profile["shutdown_delay"])]
        load = start_load(args, work, sc.name, load_argv, 600)
        time.sleep(0.5)
        delay, drain = profile["shutdown_delay"], profile["drain_timeout"]
        detect, exits, ups, at_term, at_goaway = [], [], [], 0, 0

        def replace(r):
            nonlocal at_term, at_goaway
            m0 = scrape(r.admin)
            at_term += in_flight_streams(m0)
            r.sigterm()
            t_term = time.time()
            timeline.append((t_term, f"SIGTERM {r.name}#{r.gen}"))
            detect.append(haproxy.wait_states({r.name: "DOWN"}, delay + 2))
            timeline.append((time.time(), f"haproxy marks {r.name} DOWN"))
            # Just before the shutdown delay ends (the admin port closes with the listener).
            time.sleep(max(0.0, delay - 0.15 - (time.monotonic() - r.t_term)))
            m1 = scrape(r.admin)
            at_goaway += in_flight_streams(m1) if m1 else 0
            rc, took = r.wait_exit(delay + drain + 5)
            timeline.append((t_term + took, f"{r.name}#{r.gen} exited {rc}"))
            exits.append(took)
            sc.check(rc == 0 and took < delay + drain + 1,
                     f"{r.name}#{r.gen} exited {rc} {took:.2f} s after SIGTERM "
                     f"(delay {delay:g} s + drain timeout {drain:g} s)")
            t_start = time.monotonic()
            r.start()
            haproxy.wait_states({r.name: "UP"}, 10)
            ups.append(time.monotonic() - t_start)
            timeline.append((time.time(), f"{r.name}#{r.gen} started and UP"))
            time.sleep(profile["settle"])

        def busiest(candidates):
            # The replica with the most streams open goes next: through an ingress, which spreads
            # requests, not connections, that is the drain with the most streams to carry.
            return max(candidates, key=lambda r: in_flight_streams(scrape(r.admin)))

        for _ in range(profile["passes"]):
            left = list(replicas)
            while left:
                r = busiest(left)
                left.remove(r)
                replace(r)
        extra_drains = 0
        # Bounded: a drain must carry a stream at least once.
        while at_goaway == 0 and extra_drains < 3:
            extra_drains += 1
            replace(busiest(replicas))
        time.sleep(0.5)
        result = finish_load(work, sc.name, *load)
        lb = haproxy_totals(haproxy)
        lb_states, lb_changes = haproxy.log_summary()
    except RuntimeError as e:
        sc.check(False, str(e))
        stop_fleet(sc, replicas, haproxy)
        return sc
    stop_fleet(sc, replicas, haproxy)

    c = result["counts"]

    def total(prefix):
        return sum(v for k, v in c.items() if k.startswith(prefix + " ") and
                   not k.startswith(prefix + " ok") and "server said" not in k and
                   "replaced before" not in k)

    fails = {k: v for k, v in c.items() if " ok" not in k and "server said" not in k and
             "replaced before" not in k and not k.startswith("grpc_stream_retried")}
    conn_errors = sum(v for k, v in fails.items() if "connection error" in k or
                      "UNAVAILABLE" in k)
    f = sc.figures
    f["gRPC unary ok/failed"] = f"{c.get('grpc_unary ok', 0)}/{total('grpc_unary')}"
    f["gRPC streams completed/failed"] = f"{c.get('grpc_stream ok', 0)}/{total('grpc_stream')}"
    retried = sum(v for k, v in c.items() if k.startswith("grpc_stream_retried "))
    f["streams retried (UNAVAILABLE before any response)"] = \
        f"{retried} (then completed: {c.get('grpc_stream ok after retry', 0)})"
    f["streams in flight at SIGTERM / at GOAWAY (draining replica's metrics)"] = \
        f"{at_term} / {at_goaway}"
    f["JSON (warn, transcoded) ok/failed"] = f"{c.get('json ok', 0)}/{total('json')}"
    want = "426" if mode == "tcp" else "415"
    f[f"HTTP/1.1 streaming-method callers ({want}) ok/failed"] = \
        f"{c.get('http1_reject ok', 0) + c.get('http1_reject_new_conn ok', 0)}/" \
        f"{total('http1_reject') + total('http1_reject_new_conn')}"
    f["client connection errors"] = conn_errors
    f["keep-alive: Connection: close seen / idle conn closed by peer, replaced"] = \
        f"{sum(v for k, v in c.items() if 'server said' in k)} / " \
        f"{sum(v for k, v in c.items() if 'replaced before' in k)}"
    f["haproxy DOWN detection after SIGTERM (max)"] = f"{max(detect):.3f} s"
    f["replica exit after SIGTERM (max)"] = f"{max(exits):.2f} s"
    f["new replica start to haproxy UP (max)"] = f"{max(ups):.2f} s"
    f["haproxy econ/eresp/retries/redispatches/cli_abrt/srv_abrt/5xx"] = \
        "/".join(str(lb[k]) for k in ("econ", "eresp", "wretr", "wredis", "cli_abrt",
                                       "srv_abrt", "hrsp_5xx"))
    f["haproxy sessions by termination state (log)"] = lb_states
    downs = sum(" is DOWN" in c for c in lb_changes)
    f["haproxy server state changes DOWN/UP"] = \
        f"{downs}/{sum(' is UP' in c for c in lb_changes)}"
    f["replacements"] = \
        f"{len(exits)} ({extra_drains} extra, to have a stream in flight at a GOAWAY)"
    for k, v in f.items():
        print(f"  {k}: {v}")
    sc.check(not fails, f"no failed call of any kind: {fails or 'none'}")
    sc.check(conn_errors == 0, f"no connection errors seen by clients ({conn_errors})")
    sc.check(result["hung_threads"] == 0,
             f"every caller thread ended ({result['hung_threads']} hung)")
    sc.check(downs == len(exits), f"haproxy marked a replica DOWN only when it was drained "
             f"({downs} DOWN for {len(exits)} drains): " + ("; ".join(lb_changes)
                                                            if downs != len(exits) else "no flaps"))
    sc.check(max(detect) < profile["shutdown_delay"],
             f"haproxy saw each draining replica DOWN ({max(detect):.3f} s) before its shutdown "
             f"delay ended ({profile['shutdown_delay']:g} s)")
    sc.check(at_goaway > 0, f"streams were in flight when draining replicas sent GOAWAY "
             f"({at_goaway}): the drain was exercised")
    if result["events"]:
        print_timeline(timeline, result["events"])
    return sc
