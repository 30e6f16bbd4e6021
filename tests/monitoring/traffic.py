"""One round of traffic through h2gate that gives every dashboard panel a series that moves.

Usage: traffic.py STUBS_DIR HOST:PORT
  STUBS_DIR holds echo/v1/echo_pb2.py. h2gate runs with the policy file run.sh writes: everything
  `warn` with a sunset in 2099, /grpc.health.v1.Health/Check `warn` with a sunset in 2020 (past,
  so rejected). Every answer is checked, so a panel never shows data from traffic that went
  wrong. Exits 1 on the first unexpected answer.
"""
import socket
import subprocess
import sys

sys.path.insert(0, sys.argv[1])

import grpc  # noqa: E402
from echo.v1 import echo_pb2  # noqa: E402

ADDRESS = sys.argv[2]
BASE = f"http://{ADDRESS}"


def expect(what, got, want):
    print(f"{what}: {got}")
    if got != want:
        print(f"FAIL: {what}: got {got}, want {want}")
        sys.exit(1)


def curl(*args):
    """The HTTP status of one curl call; bounded by --max-time."""
    r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                        *args], capture_output=True, text=True, timeout=10)
    return int(r.stdout or 0)


def json_post(path, body, *flags, content_type="application/json"):
    return curl(*flags, "-X", "POST", "-H", f"Content-Type: {content_type}", "-d", body,
                BASE + path)


def grpc_calls():
    with grpc.insecure_channel(ADDRESS) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        echo = channel.unary_unary(
            "/echo.v1.Echo/Echo",
            request_serializer=echo_pb2.EchoRequest.SerializeToString,
            response_deserializer=echo_pb2.EchoResponse.FromString)
        for i in range(5):
            expect("gRPC Echo", echo(echo_pb2.EchoRequest(message=f"m{i}"), timeout=10).message,
                   f"m{i}")
        for _ in range(2):  # the demo service refuses a delay over 600000 ms
            try:
                echo(echo_pb2.EchoRequest(message="x", delay_ms=700000), timeout=10)
                code = grpc.StatusCode.OK
            except grpc.RpcError as e:
                code = e.code()
            expect("gRPC Echo delay_ms=700000", code, grpc.StatusCode.INVALID_ARGUMENT)


def main():
    grpc_calls()
    h1, h2 = "--http1.1", "--http2-prior-knowledge"
    # Legacy JSON callers. Under warn: served (transcoded), over HTTP/1.1 and over h2c.
    for _ in range(3):
        expect("HTTP/1.1 JSON Echo (warn)", json_post("/echo.v1.Echo/Echo", '{"message":"a"}', h1),
               200)
    expect("h2c JSON Echo (warn)", json_post("/echo.v1.Echo/Echo", '{"message":"b"}', h2), 200)
    # Transcoded, and the gRPC error becomes 400.
    expect("HTTP/1.1 JSON Echo delay_ms=700000", json_post("/echo.v1.Echo/Echo",
                                                           '{"delay_ms":700000}', h1), 400)
    # Past its sunset: rejected, 426 over HTTP/1.1, 415 over h2c.
    for _ in range(2):
        expect("HTTP/1.1 JSON Health/Check (sunset passed)",
               json_post("/grpc.health.v1.Health/Check", "{}", h1), 426)
    expect("h2c JSON Health/Check (sunset passed)",
           json_post("/grpc.health.v1.Health/Check", "{}", h2), 415)
    # Streaming methods are never transcoded.
    expect("HTTP/1.1 JSON ServerStream", json_post("/echo.v1.Echo/ServerStream", "{}", h1), 426)
    # A body that is not JSON to a method served as JSON.
    expect("h2c application/proto Echo", json_post("/echo.v1.Echo/Echo", "x", h2,
                                                   content_type="application/proto"), 415)
    # A limit: a header over --max-header-bytes.
    expect("HTTP/1.1 header over the limit", curl(h1, "-H", "X-Big: " + "a" * 20000,
                                                 BASE + "/healthz"), 431)
    # A sniff failure: connect and hang up without a byte (what a TCP health check does).
    host, port = ADDRESS.rsplit(":", 1)
    socket.create_connection((host, int(port)), timeout=5).close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
