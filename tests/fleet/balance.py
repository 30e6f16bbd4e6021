"""The fleet's balancing scenarios: scale-out with and without --grpc-max-connection-age
(scaleout-*), and the PROXY protocol through haproxy in TCP mode (proxy-*). See fleet.py."""
import http.client
import json
import socket
import sys
import time

import fleetlib
from fleetlib import Haproxy, Replica, metric, scrape
from harness import (CLIENT_SOURCE, EVEN_TOLERANCE, REPLICAS, SCALE_CHANNELS, SCALE_RATE,
                     Scenario, finish_load, replica_flags, start_load, stop_fleet)

# ---- scenario 2: scale-out -----------------------------------------------------------------


def scaleout(args, profile, with_age, balance):
    name = f"scaleout-{'age' if with_age else 'control'}-{balance}"
    sc = Scenario(name)
    work, age = args.work, profile["age"]
    extra = []
    if with_age:
        extra = [f"--grpc-max-connection-age={int(age * 1000)}ms",
                 f"--grpc-max-connection-age-grace={int(profile['grace'] * 1000)}ms"]
    replicas = [Replica(f"{name}-{i + 1}", args.binary, work, replica_flags(profile, extra))
                for i in range(REPLICAS)]
    names = [f"s{i + 1}" for i in range(REPLICAS)]
    haproxy = None
    try:
        replicas[0].start()
        servers = [(n, r.port, r.admin) for n, r in zip(names, replicas)]
        haproxy = Haproxy(work, name, "tcp", servers, balance=balance)
        haproxy.wait_states({"s1": "UP", "s2": "DOWN", "s3": "DOWN"}, 10)
        load = start_load(args, work, name, ["spread", "--target", str(haproxy.port),
                                              "--channels", str(SCALE_CHANNELS),
                                              "--rate", str(SCALE_RATE)], 120)
        time.sleep(1.0)
        before = {n: int(r["scur"]) for n, r in haproxy.show_stat().items()}
        replicas[1].start()
        replicas[2].start()
        haproxy.wait_states({n: "UP" for n in names}, 10)
        t_add = time.monotonic()
        time.sleep(max(0.0, t_add + 2 * age - time.monotonic()))
        m0 = [scrape(r.admin) for r in replicas]
        time.sleep(max(0.0, t_add + 3 * age - time.monotonic()))
        m1 = [scrape(r.admin) for r in replicas]
        after = {n: int(r["scur"]) for n, r in haproxy.show_stat().items()}
        result = finish_load(work, name, *load)
    except RuntimeError as e:
        sc.check(False, str(e))
        stop_fleet(sc, replicas, haproxy)
        return sc
    stop_fleet(sc, replicas, haproxy)

    def calls(s):
        return metric(s, "grpc_server_handled_total", grpc_method="Echo")

    window = [calls(b) - calls(a) for a, b in zip(m0, m1)]
    tot = sum(window) or 1
    shares = [w / tot for w in window]
    even = all(abs(s - 1 / REPLICAS) <= EVEN_TOLERANCE / REPLICAS for s in shares)
    c = result["counts"]
    fails = {k: v for k, v in c.items() if k != "grpc_unary ok"}
    f = sc.figures
    f["connections per server before adding / at the end (haproxy scur)"] = \
        f"{[before.get(n) for n in names]} / {[after.get(n) for n in names]}"
    f[f"calls per replica in the third age ({2 * age:g}-{3 * age:g} s after adding)"] = \
        f"{window} = " + ", ".join(f"{s:.1%}" for s in shares)
    f["client calls ok/failed"] = f"{c.get('grpc_unary ok', 0)}/{sum(fails.values())}"
    for k, v in f.items():
        print(f"  {k}: {v}")
    sc.check(sum(window) > 100, f"calls were counted in the window ({sum(window)})")
    sc.check(not fails, f"no failed calls: {fails or 'none'}")
    if with_age:
        low, high = (100 * (1 + d * EVEN_TOLERANCE) / REPLICAS for d in (-1, 1))
        sc.check(even, f"each replica's share within ±{EVEN_TOLERANCE:.0%} of even "
                 f"({low:.1f}%..{high:.1f}%)")
    else:
        sc.check(not even and shares[0] > 0.9,
                 f"control: without --grpc-max-connection-age the calls stay on the first replica "
                 f"({shares[0]:.1%}) and the evenness check fails, as it must")
    return sc


# ---- scenario 3: PROXY protocol through L4 -------------------------------------------------


def http1_from(source, port, path, body, timeout=5):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                      source_address=(source, 0))
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json",
                                                        "User-Agent": "fleet-proxy-caller"})
        r = conn.getresponse()
        return r.status, r.read()
    except (OSError, http.client.HTTPException) as e:
        return 0, repr(e).encode()
    finally:
        conn.close()


def raw_exchange(source, port, data, timeout=3):
    """Sends data from source, returns what comes back before the server closes."""
    with socket.socket() as s:
        s.settimeout(timeout)
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(data)
        got = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        return got


def grpc_calls(stubs, port, n):
    sys.path.insert(0, stubs)
    import grpc
    from echo.v1 import echo_pb2 as pb
    ok, bad = 0, []
    chans = [grpc.insecure_channel(f"127.0.0.1:{port}",
                                   options=[("grpc.use_local_subchannel_pool", 1)])
             for _ in range(3)]
    try:
        for i in range(n):
            ch = chans[i % 3]
            try:
                if i % 5 == 4:
                    rs = list(ch.unary_stream(
                        "/echo.v1.Echo/ServerStream",
                        request_serializer=pb.StreamRequest.SerializeToString,
                        response_deserializer=pb.EchoResponse.FromString)(
                        pb.StreamRequest(message=f"p{i}", count=3, interval_ms=10), timeout=10))
                    good = [r.message for r in rs] == [f"p{i}"] * 3
                else:
                    r = ch.unary_unary("/echo.v1.Echo/Echo",
                                       request_serializer=pb.EchoRequest.SerializeToString,
                                       response_deserializer=pb.EchoResponse.FromString)(
                        pb.EchoRequest(message=f"p{i}"), timeout=10)
                    good = r.message == f"p{i}"
                ok += good
                if not good:
                    bad.append(f"call {i}: wrong reply")
            except grpc.RpcError as e:
                bad.append(f"call {i}: {e.code().name} {e.details()}")
    finally:
        for ch in chans:
            ch.close()
    return ok, bad


def proxy(args, profile, variant, replicas_holder):
    sc = Scenario(f"proxy-{variant}")
    work, n = args.work, profile["proxy_calls"]
    control = variant == "control"
    flags = ["--proxy-protocol=optional" if control else "--proxy-protocol=required",
             "--proxy-protocol-from=127.0.0.1/32"]
    key = "control" if control else "required"
    haproxy = None
    try:
        replicas = replicas_holder.get(key)
        if replicas is None:
            replicas = [Replica(f"proxy-{key}-{i + 1}", args.binary, work,
                                replica_flags(profile, flags)) for i in range(REPLICAS)]
            for r in replicas:
                r.start()
            replicas_holder[key] = replicas
        for r in replicas:
            if http1_from("127.0.0.1", r.admin, "/debug/legacy-callers", "")[0] == 0:
                raise RuntimeError(f"{r.name}: admin port does not answer")
            conn = http.client.HTTPConnection("127.0.0.1", r.admin, timeout=3)
            conn.request("DELETE", "/debug/legacy-callers")
            conn.getresponse().read()
            conn.close()
        m0 = [scrape(r.admin) for r in replicas]
        haproxy = Haproxy(work, sc.name, "tcp", [(r.name, r.port, r.admin) for r in replicas],
                          send_proxy=None if control else variant)
        haproxy.wait_states({r.name: "UP" for r in replicas}, 10)
        answers = []
        for i in range(n):
            answers.append(("json", http1_from(CLIENT_SOURCE, haproxy.port, "/echo.v1.Echo/Echo",
                                               json.dumps({"message": f"m{i}"}))))
            answers.append(("426", http1_from(CLIENT_SOURCE, haproxy.port,
                                              "/echo.v1.Echo/ServerStream", '{"message":"x"}')))
        g_ok, g_bad = grpc_calls(args.stubs, haproxy.port, n)
        forged = missing = None
        if not control:
            # Straight to a replica: a PROXY header from a source not in --proxy-protocol-from
            # (refused, untrusted), and no header at all from the balancer's address (missing).
            forged = raw_exchange(CLIENT_SOURCE, replicas[0].port,
                                  b"PROXY TCP4 10.9.9.9 127.0.0.1 1111 80\r\nGET /healthz HTTP/1.1"
                                  b"\r\nHost: x\r\n\r\n")
            missing = raw_exchange("127.0.0.1", replicas[0].port,
                                   b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        reports = []
        for r in replicas:
            status, body = fleetlib.http_get(r.admin, "/debug/legacy-callers")
            reports.append(json.loads(body) if status == 200 else {"callers": [], "error": body})
        m1 = [scrape(r.admin) for r in replicas]
        haproxy.stop()
        haproxy = None
    except (RuntimeError, OSError, ValueError) as e:
        sc.check(False, f"{type(e).__name__}: {e}")
        if haproxy:
            haproxy.stop()
        return sc

    json_ok = sum(1 for k, (s, b) in answers if k == "json" and s == 200 and b'"message"' in b)
    rej_ok = sum(1 for k, (s, b) in answers if k == "426" and s == 426)
    clients = {}
    for rep in reports:
        for c in rep.get("callers", []):
            clients[c["client"]] = clients.get(c["client"], 0) + c["count"]
    per_replica = [sum(c["count"] for c in rep.get("callers", [])) for rep in reports]

    def delta(name, **labels):
        return sum(metric(b, name, **labels) - metric(a, name, **labels) for a, b in zip(m0, m1))

    outcomes = {o: delta("h2gate_proxy_protocol_total", outcome=o)
                for o in ("v1", "v2", "local", "absent", "missing", "untrusted", "malformed")}
    f = sc.figures
    f["HTTP/1.1 JSON ok / 426 ok (from 127.0.0.7)"] = f"{json_ok}/{n} / {rej_ok}/{n}"
    f["gRPC calls ok (grpcio from 127.0.0.1)"] = f"{g_ok}/{n}" + (f" {g_bad[:3]}" if g_bad else "")
    f["legacy-caller report clients (all replicas)"] = clients
    f["legacy calls per replica"] = per_replica
    f["h2gate_proxy_protocol_total deltas"] = {k: v for k, v in outcomes.items() if v}
    for k, v in f.items():
        print(f"  {k}: {v}")
    sc.check(json_ok == n and rej_ok == n, "every HTTP/1.1 caller got its answer")
    sc.check(g_ok == n, f"every gRPC call through haproxy succeeded ({g_ok}/{n})")
    names_client = set(clients) == {CLIENT_SOURCE} and sum(clients.values()) == 2 * n
    if control:
        sc.check(not names_client and set(clients) == {"127.0.0.1"},
                 "control: without send-proxy the report names the balancer (127.0.0.1), so the "
                 "check that it names 127.0.0.7 fails, as it must")
    else:
        sc.check(names_client, f"the replicas' reports name {CLIENT_SOURCE} for all {2 * n} "
                 "legacy calls, and never 127.0.0.1")
        sc.check(sum(1 for c in per_replica if c) >= 2, "the callers were spread over replicas")
        sc.check(outcomes[variant] >= 2 * n + 3,
                 f"h2gate read a {variant} header on every connection haproxy made "
                 f"({outcomes[variant]} >= {2 * n + 3})")
        sc.check(b"HTTP/" not in forged and outcomes["untrusted"] >= 1,
                 f"a forged header from {CLIENT_SOURCE} straight to a replica is refused "
                 f"(untrusted {outcomes['untrusted']}, answer {forged[:40]!r})")
        sc.check(b"HTTP/" not in missing and outcomes["missing"] >= 1,
                 f"a connection without a header is closed under required (missing "
                 f"{outcomes['missing']}, answer {missing[:40]!r})")
    return sc
