#!/usr/bin/env python3
"""connman demo client: the original connman test client, in Python.

Two single connections (to 'localhost' and to '127.0.0.1') and a pool of two
members made by a factory, all against a flaky echo server that keeps dropping
them. Each client writes its own message on its own interval and prints the
echoes, the drops (on_reset: it stops writing) and the reconnects
(on_reconnect: it resumes). At the end, disconnect_all() closes everything.

    PYTHONPATH=bindings/python python3 bindings/python/examples/demo_client.py

Without --port it starts the repository's flaky-echo itself (build it with
`cargo build --bin flaky-echo`, or point CONNMAN_FLAKY_ECHO at it), dropping
every connection after --drop-after-ms (plus jitter).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from typing import List, Optional

import connman

HERE = os.path.dirname(os.path.abspath(__file__))

_print_lock = threading.Lock()


def say(*args: object) -> None:
    with _print_lock:
        print(f"{time.strftime('%H:%M:%S')}", *args, flush=True)


class Client(connman.Handler):
    """A handler that writes `message` every `interval` seconds while connected."""

    def __init__(self, name: str, message: str, interval: float) -> None:
        self.name = name
        self.message = message.encode()
        self.interval = interval
        self.conn: Optional[connman.Connection] = None
        self.up = False
        self.next_write = 0.0

    # -- connman handler methods (run on the library thread: keep them short) --

    def on_connect(self, conn: connman.Connection) -> None:
        self.conn, self.up, self.next_write = conn, True, 0.0
        say(f"[{self.name}] connected (fd {conn.fileno()})")

    def on_reset(self, conn: connman.Connection) -> None:
        self.up = False  # stop writing until on_reconnect
        say(f"[{self.name}] reset: connection dropped, pausing writes")

    def on_reconnect(self, conn: connman.Connection) -> None:
        self.up, self.next_write = True, 0.0
        say(f"[{self.name}] reconnected (same fd {conn.fileno()}), resuming writes")

    def on_data(self, conn: connman.Connection, data: bytes) -> None:
        say(f"[{self.name}] echo: {data.decode(errors='replace')!r}")

    def on_close(self, conn: connman.Connection) -> None:
        self.up = False
        say(f"[{self.name}] closed")

    # -- called from the main loop --

    def tick(self, now: float) -> None:
        if not self.up or self.conn is None or now < self.next_write:
            return
        self.next_write = now + self.interval
        try:
            self.conn.send(self.message)
        except connman.NotConnectedError:
            pass  # dropped just now: on_reset is on its way
        except connman.ConnmanError as e:
            say(f"[{self.name}] send failed: {e}")


def start_server(drop_after_ms: int) -> tuple[subprocess.Popen[str], int]:
    repo = os.path.normpath(os.path.join(HERE, os.pardir, os.pardir, os.pardir))
    path = os.environ.get("CONNMAN_FLAKY_ECHO") or os.path.join(repo, "target", "debug", "flaky-echo")
    if not os.access(path, os.X_OK):
        sys.exit(f"flaky-echo not found at {path}: run `cargo build --bin flaky-echo` or use --port")
    proc = subprocess.Popen(
        [path, "--quiet", "--drop-after-ms", str(drop_after_ms),
         "--drop-jitter-ms", str(drop_after_ms // 2)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if len(line) != 2 or line[0] != "LISTENING":
        sys.exit(f"flaky-echo did not start: {line}")
    return proc, int(line[1])


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, help="an echo server already running on this port")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds to run (default 10)")
    ap.add_argument("--drop-after-ms", type=int, default=1500,
                    help="when starting flaky-echo: drop connections after this long")
    args = ap.parse_args(argv)

    server = None
    port = args.port
    if port is None:
        server, port = start_server(args.drop_after_ms)
        say(f"started flaky-echo on port {port}")
    say(f"connman {connman.version()} from {connman.library_path()}")

    clients: List[Client] = []
    try:
        # Two single connections: "localhost" and "127.0.0.1" are different keys.
        for host, msg, interval in (("localhost", "hello from localhost", 0.3),
                                    ("127.0.0.1", "hello from 127.0.0.1", 0.5)):
            c = Client(host, msg, interval)
            clients.append(c)
            connman.connect(port, host, c)
        assert connman.get_connection(port, "localhost") != connman.get_connection(port, "127.0.0.1")

        # A pool of two, its handlers made by a factory (called with the index).
        def factory(index: int) -> Client:
            c = Client(f"pool#{index}", f"pool member {index}", 0.4 + 0.2 * index)
            clients.append(c)
            return c

        pool = connman.create_pool("demo", factory)
        pool.add_connection(port, "127.0.0.1")
        pool.add_connection(port, "127.0.0.1")
        say(f"pool {pool.name!r} has {len(pool)} members")

        deadline = time.monotonic() + args.duration
        while (now := time.monotonic()) < deadline:
            for c in clients:
                c.tick(now)
            time.sleep(0.02)

        for c in clients:
            if c.conn is not None:
                s = c.conn.stats()
                say(f"[{c.name}] stats: {s.state.name}, {s.connects} connects, "
                    f"{s.resets} resets, {s.bytes_sent} bytes sent")
    finally:
        say("disconnect_all")
        connman.disconnect_all()
        connman.shutdown()  # waits for every on_close
        if server is not None:
            server.communicate(timeout=5)  # closing its stdin stops it
    return 0


if __name__ == "__main__":
    sys.exit(main())
