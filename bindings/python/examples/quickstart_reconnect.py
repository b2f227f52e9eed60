#!/usr/bin/env python3
"""The repository README's Python quick start (quickstart.py is the Python
README's): one connection to an echo server through a server restart. Hello on
connect (written to the raw socket), the echo printed, the reset and the
reconnect (same descriptor) when the server goes away and comes back, hello
again (with conn.send). Then it disconnects.

    PYTHONPATH=bindings/python python3 bindings/python/examples/quickstart_reconnect.py [PORT]

(default port 7000, on 127.0.0.1; the library is found in target/release or
target/debug of this repository, or through CONNMAN_LIBRARY.)
"""

import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
import connman  # noqa: E402  (PYTHONPATH=bindings/python, or pip install ./bindings/python)


class Printer:
    def __init__(self):
        self.reconnected = False
        self.done = threading.Event()

    def on_connect(self, conn):
        print("on_connect: fd", conn.fileno(), flush=True)
        os.write(conn.fileno(), b"hello\n")  # the descriptor is yours: write directly

    def on_data(self, conn, data):
        print("echo:", data.decode(errors="replace").rstrip(), flush=True)
        if self.reconnected:
            self.done.set()

    def on_reset(self, conn):
        print("on_reset: the connection dropped; connman reconnects by itself", flush=True)

    def on_reconnect(self, conn):
        print("on_reconnect: fd", conn.fileno(), "(the same descriptor)", flush=True)
        self.reconnected = True
        conn.send(b"hello again\n")  # or let connman write it (queued, no SIGPIPE)

    def on_close(self, conn):
        print("on_close", flush=True)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 7000
    handler = Printer()
    # Retry at least every second while the server is away.
    print(f"connecting to 127.0.0.1:{port}; stop and start the server to see a reconnect",
          flush=True)
    with connman.connect(port, "127.0.0.1", handler, {"backoff_max_ms": 1000}):
        ok = handler.done.wait(120)
    # Leaving the `with` disconnected it; shutdown waits for its on_close.
    connman.shutdown()
    print("done" if ok else "timed out", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
