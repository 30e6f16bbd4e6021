"""A Python grpcio client calling echo.v1.Echo/Echo through h2gate, in cleartext or over TLS.

Usage: echo_client.py GENERATED_DIR HOST:PORT [CA_FILE]
  GENERATED_DIR holds echo/v1/echo_pb2.py. With CA_FILE (the PEM CA that signs the server's
  certificate, which names "localhost"), the call goes over TLS.
"""
import sys

sys.path.insert(0, sys.argv[1])

import grpc  # noqa: E402
from echo.v1 import echo_pb2  # noqa: E402


def open_channel(address: str, ca_file: str | None) -> grpc.Channel:
    if ca_file is None:
        return grpc.insecure_channel(address)
    with open(ca_file, "rb") as f:
        credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
    options = [("grpc.ssl_target_name_override", "localhost")]
    return grpc.secure_channel(address, credentials, options=options)


def main() -> int:
    address = sys.argv[2]
    ca_file = sys.argv[3] if len(sys.argv) > 3 else None
    message = "hello over tls" if ca_file else "hello from python"
    with open_channel(address, ca_file) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        echo = channel.unary_unary(
            "/echo.v1.Echo/Echo",
            request_serializer=echo_pb2.EchoRequest.SerializeToString,
            response_deserializer=echo_pb2.EchoResponse.FromString,
        )
        payload = bytes(range(256)) * 4
        reply = echo(echo_pb2.EchoRequest(message=message, payload=payload), timeout=10)
        if reply.message != message or reply.payload != payload:
            print(f"unexpected reply: {reply!r}")
            return 1
        print(f"echo ok: {reply.message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
