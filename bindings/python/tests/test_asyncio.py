"""connman.asyncio (embedded mode on an asyncio loop), Connection.wait_connected,
and the embedding functions under it (configure, event_fd, dispatch), with the
standard loop and with uvloop (when installed; CONNMAN_TEST_REQUIRE_UVLOOP=1
makes its absence a failure)."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import select
import threading
import time
import unittest
from typing import Any, Callable, Coroutine

from flaky import EXAMPLES, TIMEOUT, EchoTestCase, Recorder, UnixEcho, run_python, until

import connman
import connman.asyncio

try:
    import uvloop
except ImportError:  # optional: requirements-dev.txt has it
    uvloop = None

REQUIRE_UVLOOP = os.environ.get("CONNMAN_TEST_REQUIRE_UVLOOP") == "1"


def _native_threads() -> int:
    return len(os.listdir("/proc/self/task"))


class LoopBase(EchoTestCase):
    """Runs each test coroutine on a fresh loop made by ``new_loop``."""

    new_loop: Callable[[], asyncio.AbstractEventLoop] = staticmethod(asyncio.new_event_loop)

    def tearDown(self) -> None:
        super().tearDown()  # connman.shutdown() detaches too, if a test left it attached
        self.assertIsNone(connman.asyncio._attached)

    def run_async(self, coro: Coroutine[Any, Any, None]) -> None:
        loop = self.new_loop()
        try:
            loop.run_until_complete(asyncio.wait_for(coro, 6 * TIMEOUT))
        finally:
            connman.asyncio.detach()
            loop.run_until_complete(connman.asyncio.drain())
            loop.close()


class AsyncioTests:
    """The tests, run once per kind of loop (the subclasses below)."""

    # -- what attach does ------------------------------------------------

    def test_handler_methods_run_on_the_loop_thread(self):
        rec = Recorder(send_on_connect=b"hi")

        async def main():
            loop = asyncio.get_running_loop()
            connman.asyncio.attach()
            connman.asyncio.attach(loop)  # again, same loop: nothing
            threads = _native_threads()
            conn = connman.connect(self.port, self.host, rec)
            self.assertTrue(await until(lambda: b"hi" in rec.data), rec.events)
            # Embedded mode with a numeric host: no library thread at all.
            self.assertEqual(_native_threads(), threads)
            self.server.cmd("drop")
            self.assertTrue(await until(lambda: rec.count("reconnect") == 1), rec.names())
            self.assertTrue(await until(lambda: rec.data == b"hihi"))
            self.assertEqual(rec.threads, {threading.get_ident()})
            # A call from another thread takes effect at the loop's next dispatch.
            t = threading.Thread(target=conn.send, args=(b"!",))
            t.start()
            t.join()
            self.assertTrue(await until(lambda: rec.data == b"hihi!"))
            connman.asyncio.detach()
            # detach shut the library down: on_close ran, here.
            self.assertEqual(rec.names(), ["connect", "reset", "reconnect", "close"])
            self.assertEqual(rec.threads, {threading.get_ident()})
            # ... and restored the default configuration (own thread).
            with self.assertRaises(connman.StateError):
                connman.event_fd()
            connman.asyncio.detach()  # twice: nothing

        self.run_async(main())

    def test_coroutine_methods_one_at_a_time_in_event_order(self):
        log: list[tuple[str, object]] = []

        class Slow(connman.Handler):
            async def on_connect(self, conn):
                log.append(("connect start", None))
                conn.send(b"a")  # its echo arrives while this sleeps
                await asyncio.sleep(0.1)
                conn.send(b"b")
                log.append(("connect end", None))

            async def on_data(self, conn, data):
                for byte in data:
                    log.append(("data start", bytes([byte])))
                await asyncio.sleep(0.02)
                log.append(("data end", data))

            def on_reset(self, conn):  # plain, but queued behind coroutines
                log.append(("reset", None))

            async def on_reconnect(self, conn):
                log.append(("reconnect", None))

            async def on_close(self, conn):
                await asyncio.sleep(0.01)
                log.append(("close", conn))

        class Quick(connman.Handler):
            def __init__(self):
                self.at = None

            def on_connect(self, conn):
                self.at = time.monotonic()

        async def main():
            connman.asyncio.attach()
            started = time.monotonic()
            connman.connect(self.port, self.host, Slow())
            quick = Quick()
            connman.connect(self.port, self.host, quick)
            self.assertTrue(await until(lambda: ("data end", b"b") in log or
                                        ("data end", b"ab") in log), log)
            # Another connection is not held up by this one's slow coroutine.
            self.assertLess(quick.at - started, 0.09)
            self.server.cmd("drop")
            self.assertTrue(await until(lambda: ("reconnect", None) in log), log)
            connman.asyncio.detach()
            await connman.asyncio.drain()

        self.run_async(main())
        names = [n for n, _ in log]
        self.assertEqual(names[:2], ["connect start", "connect end"])
        # Each on_data ran to its end before the next call started.
        body = names[2:]
        for i, name in enumerate(body):
            if name == "data start" and i + 1 < len(body) and body[i + 1] == "data start":
                continue  # one call for "ab": two bytes logged at its start
            if name == "data start":
                self.assertEqual(body[i + 1], "data end", log)
        self.assertEqual([n for n in body if not n.startswith("data")], ["reset", "reconnect", "close"])
        self.assertIsInstance(log[-1][1], connman.Connection)

    def test_exceptions_are_logged_and_the_connection_goes_on(self):
        class Bad(Recorder):
            async def on_connect(self, conn):
                super().on_connect(conn)
                raise RuntimeError("boom in async on_connect")

            def on_data(self, conn, data):
                super().on_data(conn, data)
                raise ValueError("boom in on_data")

        rec = Bad(send_on_connect=b"x")

        async def main():
            connman.asyncio.attach()
            with self.assertLogs("connman", logging.ERROR) as logs:
                connman.connect(self.port, self.host, rec)
                self.assertTrue(await until(lambda: rec.data == b"x"))
                self.server.cmd("drop")
                self.assertTrue(await until(lambda: rec.data == b"xx"), rec.names())
            text = "\n".join(logs.output)
            self.assertIn("boom in async on_connect", text)
            self.assertIn("Bad.on_connect raised", text)
            self.assertIn("boom in on_data", text)

        self.run_async(main())

    def test_a_cancelled_coroutine_method_frees_its_connection_queue(self):
        seen: list[str] = []

        class Stuck(connman.Handler):
            async def on_connect(self, conn):
                try:
                    await asyncio.sleep(60)
                except asyncio.CancelledError:
                    seen.append("cancelled")
                    raise

            def on_data(self, conn, data):
                seen.append(data.decode())

        async def main():
            connman.asyncio.attach()
            conn = connman.connect(self.port, self.host, Stuck())
            await conn.wait_connected(TIMEOUT)
            self.assertTrue(await until(lambda: bool(connman.asyncio._tasks)))
            conn.send(b"queued")  # its echo waits behind the stuck on_connect
            await asyncio.sleep(0.05)
            self.assertEqual(seen, [])
            for task in list(connman.asyncio._tasks):
                task.cancel()
            await asyncio.sleep(0)
            self.assertTrue(await until(lambda: seen == ["cancelled"]), seen)
            conn.send(b"after")  # the queue is gone: plain methods run at once again
            self.assertTrue(await until(lambda: seen == ["cancelled", "after"]), seen)

        self.run_async(main())

    def test_idle_means_no_wakeups(self):
        rec = Recorder(send_on_connect=b"idle?")

        async def main():
            connman.asyncio.attach()
            connman.connect(self.port, self.host, rec)
            self.assertTrue(await until(lambda: rec.data == b"idle?"))
            await asyncio.sleep(0.05)  # let the last echo's turn settle
            attachment = connman.asyncio._attached
            wakeups, cpu = attachment.dispatches, time.process_time()
            await asyncio.sleep(0.5)
            self.assertEqual(attachment.dispatches, wakeups, "the event fd woke the idle loop")
            self.assertLess(time.process_time() - cpu, 0.05)
            r, _, _ = select.select([connman.event_fd()], [], [], 0)
            self.assertEqual(r, [], "the event fd is readable while idle")

        self.run_async(main())

    def test_refusals(self):
        async def main():
            # A coroutine handler needs the loop: refused before attach.
            class Async(connman.Handler):
                async def on_data(self, conn, data):
                    pass

            with self.assertRaises(TypeError) as cm:
                connman.connect(self.port, self.host, Async())
            self.assertIn("attach", str(cm.exception))
            pool = connman.create_pool("async-refused", Async)
            with self.assertRaises(connman.FactoryError) as cm2:
                with self.assertLogs("connman", logging.ERROR):
                    pool.add_connection(self.port, self.host)
            self.assertIsInstance(cm2.exception.__cause__, TypeError)
            # The library runs with its own thread now: attach is refused.
            connman.connect(self.port, self.host, Recorder())
            with self.assertRaises(connman.StateError) as cm3:
                connman.asyncio.attach()
            self.assertEqual(cm3.exception.code, connman.ErrorCode.STATE)
            self.assertIn("shutdown", str(cm3.exception))
            connman.shutdown()
            connman.asyncio.attach()
            other = self.new_loop()
            try:
                with self.assertRaises(RuntimeError):
                    connman.asyncio.attach(other)
            finally:
                other.close()

        self.run_async(main())
        with self.assertRaises(RuntimeError):  # no running loop
            connman.asyncio.attach()

    def test_shutdown_while_attached_detaches(self):
        rec = Recorder()

        async def main():
            connman.asyncio.attach()
            connman.connect(self.port, self.host, rec)
            self.assertTrue(await until(lambda: rec.count("connect") == 1))
            connman.shutdown()
            self.assertEqual(rec.names(), ["connect", "close"])
            self.assertIsNone(connman.asyncio._attached)
            # Attach again, on the same loop: a fresh library.
            connman.asyncio.attach()
            rec2 = Recorder(send_on_connect=b"again")
            connman.connect(self.port, self.host, rec2)
            self.assertTrue(await until(lambda: rec2.data == b"again"))

        self.run_async(main())

    def test_shutdown_from_another_thread_hands_methods_to_the_loop(self):
        rec = Recorder()

        class Closing(Recorder):
            async def on_close(self, conn):
                await asyncio.sleep(0)
                super().on_close(conn)

        crec = Closing()

        async def main():
            connman.asyncio.attach()
            connman.connect(self.port, self.host, rec)
            connman.connect(self.port, self.host, crec)
            self.assertTrue(await until(lambda: rec.count("connect") + crec.count("connect") == 2))
            t = threading.Thread(target=connman.shutdown)
            t.start()
            while t.is_alive():
                await asyncio.sleep(0.005)
            await connman.asyncio.drain()
            self.assertTrue(await until(lambda: crec.count("close") == 1))
            self.assertEqual(rec.names(), ["connect", "close"])
            self.assertEqual(rec.threads | crec.threads, {threading.get_ident()})
            self.assertIsNone(connman.asyncio._attached)

        self.run_async(main())

    # -- wait_connected ----------------------------------------------------

    def test_wait_connected(self):
        self.server.cmd("stop")
        rec = Recorder()

        async def main():
            connman.asyncio.attach()
            conn = connman.connect(self.port, self.host, rec, {"backoff_max_ms": 20})
            with self.assertRaises(TimeoutError):
                await conn.wait_connected(timeout=0.1)
            waiters = [asyncio.ensure_future(conn.wait_connected()) for _ in range(3)]
            await asyncio.sleep(0.05)
            self.assertFalse(any(w.done() for w in waiters))
            self.server.cmd("start")
            await conn.wait_connected(timeout=TIMEOUT)
            await asyncio.gather(*waiters)
            self.assertEqual(conn.stats().state, connman.State.CONNECTED)
            await conn.wait_connected(timeout=0)  # up: at once
            # Down again: waits for the reconnect.
            self.server.cmd("stop")
            self.assertTrue(await until(lambda: rec.count("reset") == 1))
            waiter = asyncio.ensure_future(conn.wait_connected())
            await asyncio.sleep(0.05)
            self.assertFalse(waiter.done())
            self.server.cmd("start")
            await asyncio.wait_for(waiter, TIMEOUT)
            # Disconnected while waiting: ClosedError.
            self.server.cmd("stop")
            self.assertTrue(await until(lambda: rec.count("reset") == 2))
            waiter = asyncio.ensure_future(conn.wait_connected())
            await asyncio.sleep(0.01)
            conn.disconnect()
            with self.assertRaises(connman.ClosedError):
                await asyncio.wait_for(waiter, TIMEOUT)
            self.assertTrue(await until(lambda: rec.count("close") == 1))
            with self.assertRaises(connman.NotFoundError):
                await conn.wait_connected()
            self.assertEqual(connman._waiters._waiters, {})

        self.run_async(main())

    def test_wait_connected_in_threaded_mode(self):
        # No attach: the library's own thread wakes the waiting loop.
        self.server.cmd("stop")
        rec = Recorder()
        conn = connman.connect(self.port, self.host, rec, {"backoff_max_ms": 20})

        async def main():
            asyncio.get_running_loop().call_later(0.1, self.server.cmd, "start")
            await asyncio.gather(conn.wait_connected(TIMEOUT), conn.wait_connected(TIMEOUT))
            self.assertEqual(rec.names(), ["connect"])
            self.assertNotIn(threading.get_ident(), rec.threads)

        loop = self.new_loop()
        try:
            loop.run_until_complete(main())
        finally:
            loop.close()

    # -- Unix sockets and sending while reconnecting, on the loop ----------

    def test_unix_socket_with_send_while_reconnecting(self):
        server = UnixEcho(echo=False)
        self.addCleanup(server.close)

        class Client(connman.Handler):
            async def on_reconnect(self, conn):
                conn.send(b"HELLO\n")

        async def main():
            connman.asyncio.attach()
            conn = connman.connect_unix(
                server.path, Client(), {"send_while_reconnecting": 100, "backoff_max_ms": 20}
            )
            await conn.wait_connected(TIMEOUT)
            server.stop()
            self.assertTrue(await until(lambda: conn.stats().state == connman.State.RECONNECTING))
            conn.send(b"held")
            server.start()
            await conn.wait_connected(TIMEOUT)
            # (The first connection may have been refused before the server
            # accepted it: look at the last one.)
            self.assertTrue(await until(lambda: server.received[-1:] == [b"HELLO\nheld"]),
                            server.received)
            self.assertEqual(b"".join(server.received).count(b"held"), 1)

        self.run_async(main())


class TestAsyncioStandardLoop(AsyncioTests, LoopBase):
    pass


@unittest.skipIf(uvloop is None and not REQUIRE_UVLOOP, "uvloop is not installed")
class TestAsyncioUvloop(AsyncioTests, LoopBase):
    new_loop = staticmethod(lambda: uvloop.new_event_loop())


class TestEmbeddingByHand(EchoTestCase):
    """configure / event_fd / dispatch without asyncio: a poll loop of our own."""

    def test_poll_loop(self):
        with self.assertRaises(connman.StateError) as cm:
            connman.dispatch()  # threaded mode (the default)
        self.assertIn("embedded mode", str(cm.exception))
        connman.configure(threads=0)
        fd = connman.event_fd()
        self.assertEqual(connman.event_fd(), fd)
        rec = Recorder(send_on_connect=b"polled")
        connman.connect(self.server.port, self.server.host, rec)
        with self.assertRaises(connman.StateError):
            connman.configure(threads=1)  # running
        deadline = time.monotonic() + TIMEOUT
        while b"polled" not in rec.data and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.1)[0]:
                connman.dispatch()
        self.assertEqual(rec.data, b"polled")
        self.assertEqual(rec.threads, {threading.get_ident()})
        connman.dispatch()  # nothing ready: harmless
        connman.shutdown()  # runs the on_close here, itself
        self.assertEqual(rec.names(), ["connect", "close"])
        connman.configure()  # allowed again after shutdown

    def test_configure_arguments(self):
        for bad in (-1, connman._ffi.CONNMAN_MAX_THREADS + 1):
            with self.assertRaises(ValueError):
                connman.configure(threads=bad)
        for bad in ("1", 1.0, None, True):
            with self.assertRaises(TypeError):
                connman.configure(threads=bad)

    def test_two_threads_spread_connections(self):
        connman.configure(threads=2)
        recs = [Recorder(send_on_connect=b"t%d" % i) for i in range(8)]
        for rec in recs:
            connman.connect(self.server.port, self.server.host, rec)
        for i, rec in enumerate(recs):
            self.assertTrue(rec.wait_data(b"t%d" % i))
        self.server.cmd("drop")
        for rec in recs:
            self.assertTrue(rec.wait_count("reconnect"))
        for rec in recs:
            self.assertEqual(len(rec.threads), 1, "a connection moved between threads")
        threads = set().union(*(rec.threads for rec in recs))
        self.assertEqual(len(threads), 2, threads)
        self.assertNotIn(threading.get_ident(), threads)


class TestExample(unittest.TestCase):
    def test_asyncio_client_example(self):
        for extra in ([], ["--uvloop"]) if uvloop is not None or REQUIRE_UVLOOP else ([],):
            with self.subTest(args=extra):
                out = run_python(
                    os.path.join(EXAMPLES, "asyncio_client.py"), "--duration", "2", *extra
                )
                self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
                self.assertEqual(out.stderr, "")
                text = out.stdout
                for name in ("tcp", "unix"):
                    for what in ("connected", "reset", "reconnected", "closed"):
                        self.assertIn(f"[{name}] {what}", text)
                    self.assertIn("connman says (INFO): connection", text)
                    # After the outage the server gets the handshake, then every
                    # tick held meanwhile, in order.
                    held = re.findall(rf"\[{name}\] (tick \d+) held while reconnecting", text)
                    self.assertTrue(held, text)
                    got = re.findall(rf"server {name} got (.*)", text)
                    second = got.index(f"HELLO {name}", 1)
                    self.assertEqual(got[second + 1 : second + 1 + len(held)], held, text)


if __name__ == "__main__":
    unittest.main()
