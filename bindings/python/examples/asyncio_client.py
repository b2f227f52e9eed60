#!/usr/bin/env python3
"""connman on an asyncio loop: a TCP and a Unix-socket connection that survive
their servers' restarts, with coroutine handlers and sends held while
reconnecting.

    PYTHONPATH=bindings/python python3 bindings/python/examples/asyncio_client.py
    ... --uvloop            # the same on uvloop (pip install uvloop)

The example runs its own two echo servers on the same loop (asyncio's
start_server and start_unix_server), so it needs nothing else. Each client
writes a handshake line ("HELLO <name>") in on_connect and on_reconnect, then a
"tick N" line every 0.2 s. Halfway through, both servers go away for a moment
(the Unix one removes its socket file) and come back: the clients keep sending
meanwhile, and the option send_while_reconnecting holds those lines until the
connection is back, after the handshake. The servers print what they receive,
and the library's log records (logger "connman") are printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
from typing import Awaitable, Callable, Optional

import connman
import connman.asyncio


class Client(connman.Handler):
    """Coroutine handler methods run on the loop, one at a time per connection."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ticks = 0
        self.held = 0

    async def on_connect(self, conn: connman.Connection) -> None:
        conn.send(f"HELLO {self.name}\n".encode())  # before any await: goes first
        print(f"[{self.name}] connected (fd {conn.fileno()})", flush=True)

    def on_reset(self, conn: connman.Connection) -> None:
        print(f"[{self.name}] reset: sends are held until the reconnect", flush=True)

    async def on_reconnect(self, conn: connman.Connection) -> None:
        conn.send(f"HELLO {self.name}\n".encode())  # precedes the held lines
        print(f"[{self.name}] reconnected (same fd {conn.fileno()})", flush=True)

    def on_data(self, conn: connman.Connection, data: bytes) -> None:
        for line in data.decode(errors="replace").splitlines():
            print(f"[{self.name}] echo: {line}", flush=True)

    def on_close(self, conn: connman.Connection) -> None:
        print(f"[{self.name}] closed", flush=True)

    def tick(self, conn: connman.Connection) -> None:
        self.ticks += 1
        up = conn.stats().state == connman.State.CONNECTED
        try:
            conn.send(f"tick {self.ticks}\n".encode())
        except connman.WouldBlockError:
            print(f"[{self.name}] tick {self.ticks} dropped: the hold is full", flush=True)
            return
        if not up:
            self.held += 1
            print(f"[{self.name}] tick {self.ticks} held while reconnecting", flush=True)


Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class EchoServer:
    """An asyncio echo server that can be stopped and started again."""

    def __init__(self, name: str, start: Callable[[Serve], Awaitable[asyncio.Server]]) -> None:
        self.name = name
        self._start = start
        self.server: Optional[asyncio.Server] = None
        self.clients: dict[asyncio.StreamWriter, "asyncio.Task[None] | None"] = {}

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.clients[writer] = asyncio.current_task()
        try:
            while line := await reader.readline():
                print(f"  server {self.name} got {line.decode().strip()}", flush=True)
                writer.write(line)
        except ConnectionError:
            pass
        finally:
            del self.clients[writer]
            writer.close()

    async def start(self) -> None:
        self.server = await self._start(self._serve)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.clients):
            writer.close()
        await asyncio.gather(*(t for t in self.clients.values() if t is not None))
        await self.server.wait_closed()


async def main(duration: float) -> int:
    # The library's own messages (failed attempts, resets, reconnects) are
    # records of the "connman" logger; its level is read when connman starts.
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="  connman says (%(levelname)s): %(message)s")
    connman.asyncio.attach()  # embedded mode on this loop: no library thread
    sock_dir = tempfile.mkdtemp(prefix="connman-example-")
    path = os.path.join(sock_dir, "echo.sock")
    port = 0  # any free one at first, then the same one again

    def start_tcp(serve: Serve) -> Awaitable[asyncio.Server]:
        return asyncio.start_server(serve, "127.0.0.1", port, reuse_address=True)

    def start_unix(serve: Serve) -> Awaitable[asyncio.Server]:
        return asyncio.start_unix_server(serve, path)

    tcp, unix = EchoServer("tcp", start_tcp), EchoServer("unix", start_unix)
    await tcp.start()
    await unix.start()
    assert tcp.server is not None
    port = tcp.server.sockets[0].getsockname()[1]

    options = connman.Options(send_while_reconnecting=64 * 1024)
    clients = {"tcp": Client("tcp"), "unix": Client("unix")}
    conns = {
        "tcp": connman.connect(port, "127.0.0.1", clients["tcp"], options),
        "unix": connman.connect_unix(path, clients["unix"], options),
    }
    try:
        for conn in conns.values():
            await conn.wait_connected(timeout=5)
        loop = asyncio.get_running_loop()
        end = loop.time() + duration
        restarted = False
        while loop.time() < end:
            for name, conn in conns.items():
                clients[name].tick(conn)
            if not restarted and loop.time() > end - duration / 2:
                restarted = True
                print("-- both servers go away (the Unix socket file too)", flush=True)
                await tcp.stop()
                await unix.stop()
                if os.path.exists(path):  # Python 3.13 removes it by itself
                    os.unlink(path)
                for _ in range(2):  # during the outage: held
                    await asyncio.sleep(0.15)
                    for name, conn in conns.items():
                        clients[name].tick(conn)
                await tcp.start()
                await unix.start()
                print("-- both servers are back", flush=True)
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.2)  # the last echoes
        for name, conn in conns.items():
            s = conn.stats()
            print(f"[{name}] {s.connects} connects, {s.resets} resets, {s.bytes_sent} bytes "
                  f"sent, {clients[name].held} ticks held while reconnecting", flush=True)
    finally:
        connman.asyncio.detach()  # disconnects everything: every on_close runs
        await connman.asyncio.drain()
        await tcp.stop()
        await unix.stop()
        if os.path.exists(path):
            os.unlink(path)
        os.rmdir(sock_dir)
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=4.0, help="seconds to run (default 4)")
    ap.add_argument("--uvloop", action="store_true", help="run on uvloop")
    args = ap.parse_args()
    if args.uvloop:
        import uvloop

        sys.exit(uvloop.run(main(args.duration)))
    sys.exit(asyncio.run(main(args.duration)))
