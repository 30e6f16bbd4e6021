"""A Python grpcio client calling echo.v1.Echo/Echo through h2gate.

Usage: echo_client.py GENERATED_DIR HOST:PORT  (GENERATED_DIR holds echo/v1/echo_pb2.py)
"""
import sys

sys.path.insert(0, sys.argv[1])

import grpc  # noqa: E402
from echo.v1 import echo_pb2  # noqa: E402


def main() -> int:
    address = sys.argv[2]
    with grpc.insecure_channel(address) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        echo = channel.unary_unary(
            "/echo.v1.Echo/Echo",
            request_serializer=echo_pb2.EchoRequest.SerializeToString,
            response_deserializer=echo_pb2.EchoResponse.FromString,
        )
        payload = bytes(range(256)) * 4
        reply = echo(echo_pb2.EchoRequest(message="hello from python", payload=payload), timeout=10)
        if reply.message != "hello from python" or reply.payload != payload:
            print(f"unexpected reply: {reply!r}")
            return 1
        print(f"echo ok: {reply.message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
