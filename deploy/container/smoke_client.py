#!/usr/bin/python3
"""gRPC checks for build-and-smoke.sh, against a running h2gate (h2c, prior knowledge).

Needs only Debian's python3-grpcio: messages are encoded by hand (proto/echo/v1/echo.proto
keeps its field numbers stable for exactly this), so no protoc step is needed.

  smoke_client.py HOST:PORT echo                  Echo round trip, message and payload unchanged
  smoke_client.py HOST:PORT health SERVING        grpc.health.v1.Health/Check, service ""
  smoke_client.py HOST:PORT hold MS MARKER        ServerStream held open MS ms; writes MARKER once
                                                  the first response is in, exits 0 if the stream
                                                  then ends with OK (i.e. it survived a drain)
Exit 0 on success; 1 with a message on stderr otherwise. Every call has a deadline.
"""
import sys
import time

import grpc

DEADLINE_S = 10.0
HEALTH = {b"": "UNKNOWN", b"\x08\x00": "UNKNOWN", b"\x08\x01": "SERVING", b"\x08\x02": "NOT_SERVING"}


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field_bytes(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def field_varint(num, value):
    return varint(num << 3) + varint(value)


def decode(buf):
    """Length-delimited and varint fields of one message -> {field number: value}."""
    fields, i = {}, 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            fields[num], i = read_varint(buf, i)
        elif wire == 2:
            n, i = read_varint(buf, i)
            fields[num], i = buf[i:i + n], i + n
        else:
            raise ValueError(f"unexpected wire type {wire} for field {num}")
    return fields


def read_varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def channel(target):
    ch = grpc.insecure_channel(target)
    grpc.channel_ready_future(ch).result(timeout=DEADLINE_S)
    return ch


def echo(target):
    message, payload = "smoke-test \u00e9", bytes(range(256)) * 4
    request = field_bytes(1, message.encode()) + field_bytes(2, payload)
    with channel(target) as ch:
        call = ch.unary_unary("/echo.v1.Echo/Echo")
        reply = decode(call(request, timeout=DEADLINE_S))
    if reply.get(1, b"").decode() != message or reply.get(2, b"") != payload:
        raise SystemExit(f"echo: reply differs from request: {reply!r:.200}")
    print(f"echo: OK ({len(request)}-byte request came back unchanged)")


def health(target, expect):
    with channel(target) as ch:
        call = ch.unary_unary("/grpc.health.v1.Health/Check")
        raw = call(b"", timeout=DEADLINE_S)
    got = HEALTH.get(raw, f"unparsed {raw!r}")
    if got != expect:
        raise SystemExit(f"health: expected {expect}, got {got}")
    print(f"health: {got}")


def hold(target, hold_ms, marker):
    request = field_bytes(1, b"drain") + field_varint(2, 1) + field_varint(4, int(hold_ms))
    with channel(target) as ch:
        call = ch.unary_stream("/echo.v1.Echo/ServerStream")
        stream = call(request, timeout=DEADLINE_S + int(hold_ms) / 1000)
        started = time.monotonic()
        count = 0
        for reply in stream:
            count += 1
            if count == 1:
                open(marker, "w").close()
        if stream.code() != grpc.StatusCode.OK or count != 1:
            raise SystemExit(f"hold: stream ended {stream.code()} after {count} responses")
    print(f"hold: stream stayed open {time.monotonic() - started:.1f}s and ended OK")


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    target, mode = argv[1], argv[2]
    try:
        if mode == "echo":
            echo(target)
        elif mode == "health" and len(argv) == 4:
            health(target, argv[3])
        elif mode == "hold" and len(argv) == 5:
            hold(target, argv[3], argv[4])
        else:
            raise SystemExit(__doc__)
    except grpc.RpcError as e:
        raise SystemExit(f"{mode}: RPC failed: {e.code()} {e.details()}")
    except grpc.FutureTimeoutError:
        raise SystemExit(f"{mode}: could not connect to {target} within {DEADLINE_S}s")


if __name__ == "__main__":
    main(sys.argv)
