#!/usr/bin/python3
"""Opens N TCP connections to 127.0.0.1:PORT and holds them open, for the memory benchmark.

--mode keepalive: each connection sends one HTTP/1.1 request and reads its whole answer, then
                  stays open and idle (a keep-alive connection between requests).
--mode silent:    each connection sends nothing (the server holds it in its sniff phase).

Prints "READY <n>" on stdout once all N are established (and, for keepalive, answered), then
holds them until SIGTERM/SIGINT or --hold seconds. On the way out it prints "HELD <n> CLOSED <k>",
k being connections the server had closed meanwhile (a measurement with k > 0 is void).
Bounded: --timeout for setting up, --hold for holding. At most --batch connects in flight, so
the server's accept queue never overflows.
"""

import argparse
import selectors
import signal
import socket
import sys
import time

REQUEST = (b"POST /echo.v1.Echo/Echo HTTP/1.1\r\n"
           b"Host: 127.0.0.1\r\n"
           b"User-Agent: h2gate-bench-holdconns\r\n"
           b"Content-Type: application/json\r\n"
           b"Content-Length: 16\r\n"
           b"\r\n"
           b'{"message":"hi"}')


def die(msg):
    print(f"holdconns: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def response_complete(buf):
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    die(f"answer without Content-Length: {head[:200]!r}")


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--mode", choices=["keepalive", "silent"], required=True)
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--hold", type=float, default=300)
    args = p.parse_args()

    stop = False

    def on_signal(_sig, _frm):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    sel = selectors.DefaultSelector()
    held = []          # sockets that are done (established, answered if keepalive)
    pending = 0        # sockets registered with the selector
    started = 0
    deadline = time.monotonic() + args.timeout
    addr = ("127.0.0.1", args.port)

    while len(held) < args.count:
        if stop:
            die("interrupted while connecting")
        if time.monotonic() > deadline:
            die(f"only {len(held)} of {args.count} connections ready after {args.timeout:.0f}s")
        while pending < args.batch and started < args.count:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            err = s.connect_ex(addr)
            if err not in (0, 115):  # EINPROGRESS
                die(f"connect #{started}: errno {err}")
            # state: [phase, buffer]; phase "connect" -> "read" (keepalive) -> done
            sel.register(s, selectors.EVENT_WRITE, ["connect", b""])
            pending += 1
            started += 1
        for key, _ev in sel.select(timeout=0.5):
            s, state = key.fileobj, key.data
            if state[0] == "connect":
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    die(f"connect failed: errno {err}")
                if args.mode == "silent":
                    sel.unregister(s)
                    pending -= 1
                    held.append(s)
                    continue
                s.sendall(REQUEST)  # small, fits the fresh socket's send buffer
                state[0] = "read"
                sel.modify(s, selectors.EVENT_READ, state)
            else:
                chunk = s.recv(65536)
                if not chunk:
                    die("server closed a keep-alive connection before answering")
                state[1] += chunk
                if response_complete(state[1]):
                    if b" 426 " not in state[1].split(b"\r\n", 1)[0] + b" ":
                        die(f"unexpected answer: {state[1][:60]!r}")
                    sel.unregister(s)
                    pending -= 1
                    held.append(s)

    print(f"READY {len(held)}", flush=True)
    end = time.monotonic() + args.hold
    while not stop and time.monotonic() < end:
        time.sleep(0.2)

    closed = 0
    for s in held:
        try:
            if s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    print(f"HELD {len(held)} CLOSED {closed}", flush=True)
    for s in held:
        s.close()


if __name__ == "__main__":
    main()
