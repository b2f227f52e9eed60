#!/usr/bin/env python3
"""The quick start of bindings/python/README.md: connect to an echo server, send
a line, print the echo and the connection's stats, disconnect.

    python3 echo_server.py --port 7000 &     # or any TCP echo server
    python3 quickstart.py --port 7000
"""

from __future__ import annotations

import argparse
import threading

import connman


class Client(connman.Handler):
    """Sends a greeting once connected and prints what comes back. The methods
    it does not define (on_reset, on_reconnect) are no-ops."""

    def __init__(self) -> None:
        self.echoed = threading.Event()

    def on_connect(self, conn: connman.Connection) -> None:
        print(f"connected (fd {conn.fileno()})")
        conn.send(b"hello, connman")

    def on_data(self, conn: connman.Connection, data: bytes) -> None:
        print(f"echo: {data!r}")
        self.echoed.set()

    def on_close(self, conn: connman.Connection) -> None:
        print("closed")


def main() -> int:
    ap = argparse.ArgumentParser(description="connman quick start")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=7000)
    args = ap.parse_args()

    client = Client()
    with connman.connect(args.port, args.host, client) as conn:  # disconnects on exit
        if not client.echoed.wait(5):
            print(f"no echo within 5 s: {conn.stats()}")
            return 1
        stats = conn.stats()
        print(f"state {stats.state.name}, {stats.bytes_sent} bytes sent, "
              f"{stats.bytes_received} received")
    connman.shutdown()  # returns once every on_close has run
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
