#!/usr/bin/env python3
"""bench/ready.py PORT [TIMEOUT_S]: waits until the broker on 127.0.0.1:PORT answers an ApiVersions request
(v0) and a Metadata request (v1, no topics) that lists at least one broker, i.e. until it serves clients
(Kafka answers requests a moment before its broker is unfenced, with no broker in Metadata). Prints "armed"
once it is polling (so that bench/run.sh can start it before the broker and leave the interpreter's own
start-up out of the measurement), then, when the broker is ready, the wall-clock time (time.time()).
Polls every 10 ms. Exit 0 when ready, 1 on timeout."""

import socket
import struct
import sys
import time


def call(sock, api_key, version, corr, body):
    client = b"strom-bench-ready"
    header = struct.pack(">hhih", api_key, version, corr, len(client)) + client
    msg = header + body
    sock.sendall(struct.pack(">i", len(msg)) + msg)
    size = struct.unpack(">i", recv_exact(sock, 4))[0]
    resp = recv_exact(sock, size)
    if struct.unpack(">i", resp[:4])[0] != corr:
        raise OSError("correlation id mismatch")
    return resp[4:]


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise OSError("closed")
        buf += chunk
    return buf


def ready(port):
    with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
        body = call(sock, 18, 0, 1, b"")
        if struct.unpack(">h", body[:2])[0] != 0:
            return False
        body = call(sock, 3, 1, 2, struct.pack(">i", 0))  # Metadata v1, an empty topic list
        return struct.unpack(">i", body[:4])[0] > 0  # brokers


def main():
    port = int(sys.argv[1])
    deadline = time.monotonic() + (float(sys.argv[2]) if len(sys.argv) > 2 else 60.0)
    print("armed", flush=True)
    while time.monotonic() < deadline:
        try:
            if ready(port):
                print(f"{time.time():.6f}", flush=True)
                return 0
        except (OSError, struct.error):
            pass
        time.sleep(0.01)
    return 1


if __name__ == "__main__":
    sys.exit(main())
