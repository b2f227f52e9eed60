"""Tests of the connman Python binding against the shared flaky echo server.

Run: python3 -m unittest discover -s bindings/python/tests -v   (or pytest)
Needs libconnman (CONNMAN_LIBRARY or target/{release,debug}) and flaky-echo
(CONNMAN_FLAKY_ECHO or target/{debug,release}/flaky-echo).
"""

from __future__ import annotations

import errno
import gc
import logging
import os
import pickle
import textwrap
import threading
import unittest
import weakref

from flaky import (
    EXAMPLES,
    TIMEOUT,
    EchoTestCase,
    FlakyEcho,
    Recorder,
    run_python,
    flaky_echo_path,
    not_found,
    wait_until,
)

import connman
from connman import _callbacks, _errors


class Base(EchoTestCase):
    def connect(self, rec=None, **kw):
        rec = rec if rec is not None else Recorder()
        conn = connman.connect(self.port, self.host, rec, **kw)
        return conn, rec

    def connected(self, rec, n: int = 1) -> None:
        self.assertTrue(rec.wait_count("connect", n), f"no on_connect: {rec.names()}")

    def closed(self, rec, conn) -> None:
        """Waits for on_close, then for the handle to go stale (after on_close
        returns)."""
        self.assertTrue(rec.wait_count("close"), rec.names())
        self.assertTrue(wait_until(lambda: _is_stale(conn)), "handle not stale after on_close")


class TestBasics(Base):
    def test_version_and_library(self):
        self.assertRegex(connman.version(), r"^\d+\.\d+\.\d+")
        self.assertTrue(connman.library_path())

    def test_connect_on_connect_once_and_first_then_echo(self):
        conn, rec = self.connect(Recorder(send_on_connect=b"hello"))
        self.assertIsInstance(conn, connman.Connection)
        self.assertTrue(rec.wait_data(b"hello"), rec.events)
        self.assertEqual(rec.names(True)[0], "connect")
        self.assertEqual(rec.count("connect"), 1)
        # The Connection the handler got is the one connect() returned.
        self.assertEqual(rec.events[0][1], conn)
        self.assertEqual(hash(rec.events[0][1]), hash(conn))
        self.assertEqual(rec.fds[0], conn.fileno())
        # Callbacks run on the library's thread, never this one.
        self.assertNotIn(threading.get_ident(), rec.threads)
        self.assertEqual(len(rec.threads), 1)
        conn.send(b" world")
        conn.send(bytearray(b" ba"))
        conn.send(memoryview(b"xxmvxx")[2:4])
        self.assertTrue(rec.wait_data(b"hello world bamv"), bytes(rec.data))
        for d in (b"1", b"22", b"333"):
            conn.send(d)
        self.assertTrue(rec.wait_data(b"122333"))
        conn.send(b"")  # a no-op when connected
        self.assertTrue(all(isinstance(e[2], bytes) for e in rec.events if e[0] == "data"))

    def test_write_directly_to_fileno(self):
        conn, rec = self.connect()
        self.connected(rec)
        os.write(conn.fileno(), b"raw bytes")
        self.assertTrue(rec.wait_data(b"raw bytes"))

    def test_reset_and_reconnect_keep_the_fileno(self):
        conn, rec = self.connect(Recorder(send_on_connect=b"ping"))
        self.connected(rec)
        fd = conn.fileno()
        for i, how in enumerate(("drop", "rst", "drop")):
            self.assertTrue(rec.wait_data(b"ping" * (i + 1)), bytes(rec.data))
            self.server.cmd(how)
            self.assertTrue(rec.wait_count("reconnect", i + 1), rec.names())
        self.assertTrue(rec.wait_data(b"ping" * 4))
        self.assertEqual(
            rec.names(), ["connect", "reset", "reconnect", "reset", "reconnect", "reset", "reconnect"]
        )
        self.assertEqual(set(rec.fds), {fd})
        self.assertEqual(conn.fileno(), fd)
        s = conn.stats()
        self.assertEqual(s.connects, 4)
        self.assertEqual(s.resets, 3)
        self.assertEqual(s.state, connman.State.CONNECTED)

    def test_not_connected_before_first_connect_then_connects(self):
        self.server.cmd("stop")
        conn, rec = self.connect(options={"backoff_max_ms": 50})
        with self.assertRaises(connman.NotConnectedError) as cm:
            conn.send(b"x")
        self.assertEqual(cm.exception.code, connman.ErrorCode.NOT_CONNECTED)
        self.assertTrue(wait_until(lambda: conn.stats().attempts >= 3))
        s = conn.stats()
        self.assertEqual(s.state, connman.State.CONNECTING)
        self.assertEqual(s.connects, 0)
        self.assertEqual(s.last_error, errno.ECONNREFUSED)
        self.assertGreaterEqual(s.consecutive_failures, 1)
        self.assertEqual(rec.names(), [])
        self.server.cmd("start")
        self.connected(rec)
        self.assertEqual(rec.names(), ["connect"])

    def test_get_connection(self):
        conn, rec = self.connect()
        self.assertEqual(connman.get_connection(self.port, self.host), conn)
        other = connman.connect(self.port, "localhost", Recorder())
        self.assertEqual(connman.get_connection(self.port, "localhost"), other)
        self.assertNotEqual(other, conn)
        self.assertEqual(connman.get_connection(self.port, self.host), conn)
        conn.disconnect()
        self.closed(rec, conn)
        with self.assertRaises(connman.NotFoundError):
            connman.get_connection(self.port, self.host)

    def test_context_manager_disconnects(self):
        rec = Recorder()
        with connman.connect(self.port, self.host, rec) as conn:
            self.connected(rec)
        self.closed(rec, conn)
        self.assertEqual(rec.names()[-1], "close")
        # Leaving again (already closed) is quiet.
        with conn:
            pass
        with self.assertRaises(connman.NotFoundError) as cm:
            conn.stats()
        self.assertEqual(cm.exception.code, 2)
        with self.assertRaises(connman.NotFoundError):
            conn.fileno()

    def test_stats_fields(self):
        conn, rec = self.connect(Recorder(send_on_connect=b"12345"))
        self.assertTrue(rec.wait_data(b"12345"))
        s = conn.stats()
        self.assertIsInstance(s, connman.Stats)
        self.assertIsInstance(s.state, connman.State)
        expected = {f[0] for f in connman._ffi.connman_stats._fields_} - {"reserved"}
        expected |= {"last_error_name", "last_resolve_error_name"}
        self.assertEqual({f for f in s.__dataclass_fields__}, expected)
        self.assertEqual((s.last_error_name, s.last_resolve_error_name), ("", ""))
        self.assertEqual(s.state, connman.State.CONNECTED)
        self.assertEqual((s.connects, s.resets, s.attempts), (1, 0, 1))
        self.assertEqual((s.last_error, s.last_resolve_error, s.consecutive_failures), (0, 0, 0))
        self.assertEqual((s.bytes_sent, s.bytes_received), (5, 5))
        self.assertEqual((s.bytes_discarded, s.send_queue_bytes), (0, 0))
        with self.assertRaises(Exception):
            s.connects = 7  # frozen
        conn.disconnect()
        try:  # CLOSED while on_close is running (on the library thread)
            self.assertIn(conn.stats().state, (connman.State.CLOSING, connman.State.CLOSED))
        except connman.NotFoundError:
            pass  # on_close already returned

    def test_connection_from_fd(self):
        conn, rec = self.connect()
        self.connected(rec)
        self.assertEqual(connman.Connection.from_fd(conn.fileno()), conn)
        self.assertEqual(connman.connection_from_fd(conn.fileno()), conn)

        class F:
            def fileno(self_inner):
                return conn.fileno()

        self.assertEqual(connman.connection_from_fd(F()), conn)
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        self.addCleanup(os.close, w)
        with self.assertRaises(connman.NotFoundError):
            connman.connection_from_fd(r)

    def test_disconnect_twice_and_stale_handle(self):
        conn, rec = self.connect()
        self.connected(rec)
        conn.disconnect()
        try:
            conn.disconnect()
        except connman.ClosedError as e:
            self.assertEqual(e.code, connman.ErrorCode.CLOSED)
            self.assertEqual(e.name, "CONNMAN_ERR_CLOSED")
        except connman.NotFoundError:
            pass  # on_close already ran
        else:
            self.fail("second disconnect did not raise")
        self.closed(rec, conn)
        with self.assertRaises(connman.NotFoundError) as cm:
            conn.disconnect()
        e = cm.exception
        self.assertIsInstance(e, connman.ConnmanError)
        self.assertEqual(e.code, 2)
        self.assertEqual(e.name, "CONNMAN_ERR_NOT_FOUND")
        self.assertEqual(e.message, _errors.strerror(2))
        self.assertEqual(e.function, "connman_disconnect")
        self.assertIn("CONNMAN_ERR_NOT_FOUND", str(e))
        for call in (lambda: conn.send(b"x"), conn.stats, conn.fileno):
            with self.assertRaises(connman.NotFoundError):
                call()
        e2 = pickle.loads(pickle.dumps(e))
        self.assertEqual((type(e2), e2.code, e2.message), (type(e), e.code, e.message))

    def test_disconnect_while_first_connect_pending(self):
        self.server.cmd("stop")
        conn, rec = self.connect()
        conn.disconnect()
        self.assertTrue(rec.wait_count("close"))
        self.assertEqual(rec.names(), ["close"])

    def test_callbacks_may_call_the_library_and_disconnect_themselves(self):
        results = {}
        done = threading.Event()

        class H:
            def on_connect(self, conn):
                conn.send(b"bye")

            def on_data(self, conn, data):
                try:
                    connman.shutdown()
                except connman.InCallbackError as e:
                    results["shutdown"] = e.code
                results["stats"] = conn.stats().state
                conn.disconnect()

            def on_close(self, conn):
                results["close"] = True
                done.set()

        connman.connect(self.port, self.host, H())
        self.assertTrue(done.wait(TIMEOUT))
        self.assertEqual(results["shutdown"], connman.ErrorCode.IN_CALLBACK)
        self.assertEqual(results["stats"], connman.State.CONNECTED)

    def test_options_dataclass_and_dict(self):
        d = connman.Options.defaults()
        self.assertEqual(d.backoff_initial_ms, 10)
        self.assertEqual(d.backoff_max_ms, 128000)
        self.assertEqual(d.idle_timeout_ms, 0)
        rec = Recorder(send_on_connect=b"o")
        connman.connect(self.port, self.host, rec, connman.Options(nodelay=False, keepalive_idle_ms=0))
        rec2 = Recorder(send_on_connect=b"p")
        connman.connect(self.port, self.host, rec2, options={"connect_timeout_ms": 500, "nodelay": 1})
        self.assertTrue(rec.wait_data(b"o"))
        self.assertTrue(rec2.wait_data(b"p"))

    def test_idle_timeout_resets(self):
        # The server stays silent: the idle timeout resets the connection.
        self.server.cmd("mode silent")
        conn, rec = self.connect(options={"idle_timeout_ms": 100})
        self.connected(rec)
        self.assertTrue(rec.wait_count("reset"), rec.names())


    def test_send_queue_errors(self):
        conn, rec = self.connect(options={"send_queue_limit": 4})
        self.connected(rec)
        with self.assertRaises(connman.TooLargeError) as cm:
            conn.send(b"12345")
        self.assertEqual(cm.exception.code, connman.ErrorCode.TOO_LARGE)
        conn.send(b"1234")
        self.assertTrue(rec.wait_data(b"1234"))

        # A peer that never reads: the kernel buffers fill, then the queue.
        self.server.cmd("mode noread")
        conn2, rec2 = self.connect(options={"send_queue_limit": 1 << 20})
        self.connected(rec2)
        chunk = bytes(64 * 1024)
        sent = 0
        with self.assertRaises(connman.WouldBlockError) as cm:
            while sent < (1 << 30):
                conn2.send(chunk)
                sent += len(chunk)
        self.assertEqual(cm.exception.code, connman.ErrorCode.WOULD_BLOCK)
        self.assertGreater(conn2.stats().send_queue_bytes, 0)

    def test_unresolvable_host(self):
        with self.assertRaises(connman.ResolveError) as cm:
            connman.connect(self.port, "no-such-host.invalid", Recorder())
        self.assertEqual(cm.exception.code, connman.ErrorCode.RESOLVE)
        self.assertEqual(_callbacks.handlers, {})

    def test_demo_client_runs(self):
        demo = os.path.join(EXAMPLES, "demo_client.py")
        out = run_python(
            demo, "--duration", "1.5", "--drop-after-ms", "400",
            CONNMAN_FLAKY_ECHO=flaky_echo_path(),
        )
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        text = out.stdout
        for name in ("localhost", "127.0.0.1", "pool#0", "pool#1"):
            self.assertIn(f"[{name}] connected", text)
            self.assertIn(f"[{name}] echo:", text)
            self.assertIn(f"[{name}] reset", text)
            self.assertIn(f"[{name}] reconnected", text)
            self.assertIn(f"[{name}] closed", text)
        self.assertIn("disconnect_all", text)


class TestHandlers(Base):
    def test_handler_with_no_methods(self):
        conn = connman.connect(self.port, self.host, object())
        self.assertTrue(wait_until(lambda: conn.stats().state == connman.State.CONNECTED))
        conn.send(b"nobody listens")
        self.server.wait_stats(lambda s: s["bytes_in"] >= 14)
        self.server.cmd("drop")
        self.assertTrue(wait_until(lambda: conn.stats().connects >= 2))
        self.assertTrue(wait_until(lambda: conn.stats().state == connman.State.CONNECTED))
        conn.disconnect()
        self.assertTrue(wait_until(lambda: _is_stale(conn)))

    def test_raising_handler_is_logged_and_still_managed(self):
        class Bad(Recorder):
            def on_connect(self, conn):
                super().on_connect(conn)
                raise RuntimeError("boom in on_connect")

            def on_data(self, conn, data):
                super().on_data(conn, data)
                raise ValueError("boom in on_data")

            def on_close(self, conn):
                super().on_close(conn)
                raise KeyError("boom in on_close")

        rec = Bad(send_on_connect=b"x")
        with self.assertLogs("connman", logging.ERROR) as logs:
            conn = connman.connect(self.port, self.host, rec)
            self.assertTrue(rec.wait_data(b"x"))
            self.server.cmd("drop")
            self.assertTrue(rec.wait_count("reconnect"))
            self.assertTrue(rec.wait_data(b"xx"))
            conn.disconnect()
            self.assertTrue(rec.wait_count("close"))
            # on_close logs its exception after recording the event: wait for it.
            self.assertTrue(wait_until(lambda: "boom in on_close" in "".join(logs.output)))
        text = "\n".join(logs.output)
        self.assertIn("boom in on_connect", text)
        self.assertIn("boom in on_data", text)
        self.assertIn("boom in on_close", text)
        self.assertIn("Bad.on_connect", text)
        self.assertEqual(rec.names(), ["connect", "reset", "reconnect", "close"])

    def test_connection_without_references_keeps_working(self):
        events = []
        cond = threading.Condition()

        class H:
            def _add(self, name):
                with cond:
                    events.append(name)
                    cond.notify_all()

            def on_connect(self, conn):
                self._add("connect")

            def on_reset(self, conn):
                self._add("reset")

            def on_reconnect(self, conn):
                self._add("reconnect")

            def on_close(self, conn):
                self._add("close")

        handler = H()
        ref = weakref.ref(handler)
        connman.connect(self.port, self.host, handler)
        del handler
        gc.collect()
        with cond:
            self.assertTrue(cond.wait_for(lambda: "connect" in events, TIMEOUT))
        gc.collect()
        self.assertIsNotNone(ref(), "handler freed while the connection lives")
        self.server.cmd("drop")
        with cond:
            self.assertTrue(cond.wait_for(lambda: "reconnect" in events, TIMEOUT), events)
        connman.get_connection(self.port, self.host).disconnect()
        with cond:
            self.assertTrue(cond.wait_for(lambda: "close" in events, TIMEOUT))
        self.assertEqual(events, ["connect", "reset", "reconnect", "close"])
        # After on_close the library lets go of the handler.
        self.assertTrue(wait_until(lambda: (gc.collect(), ref() is None)[1]))

    def test_many_threads_connect_and_disconnect(self):
        errors = []
        closes = threading.Semaphore(0)
        n_threads, rounds = 8, 5

        def worker(k):
            try:
                for r in range(rounds):
                    msg = f"t{k}r{r}".encode()
                    rec = Recorder(send_on_connect=msg)
                    conn = connman.connect(self.port, self.host, rec)
                    if not rec.wait_data(msg):
                        errors.append(f"{msg!r}: no echo: {rec.names()}")
                    conn.disconnect()
                    if not rec.wait_count("close"):
                        errors.append(f"{msg!r}: no close")
                    closes.release()
            except Exception as e:  # reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT * 3)
            self.assertFalse(t.is_alive())
        self.assertEqual(errors, [])
        self.assertEqual(_callbacks.handlers, {})


class TestPools(Base):
    def test_pool_members_handlers_next_len_disconnect(self):
        made = []

        def factory(index):
            h = Recorder(send_on_connect=f"member{index}".encode())
            made.append((index, h))
            return h

        pool = connman.create_pool("pool-a", factory)
        self.assertIsInstance(pool, connman.Pool)
        self.assertTrue(pool)
        self.assertEqual(len(pool), 0)
        self.assertEqual(pool.add_connection(self.port, self.host), 0)
        self.assertEqual(pool.add_connection(self.port, "localhost", {"nodelay": 0}), 1)
        self.assertEqual(len(pool), 2)
        self.assertEqual([i for i, _ in made], [0, 1])
        for i, h in made:
            self.assertIs(pool.get_handler(i), h)
            self.assertTrue(h.wait_data(f"member{i}".encode()))
            c = pool.get_connection(i)
            self.assertIsInstance(c, connman.Connection)
            self.assertEqual(c.fileno(), h.fds[0])
            self.assertEqual(c, h.events[0][1])
        self.assertEqual(pool.stats(), connman.PoolStats(members=2, connected=2, closed=0))
        seen = {pool.next() for _ in range(4)}
        self.assertEqual(seen, {pool.get_connection(0), pool.get_connection(1)})
        for bad in (2, 100):
            with self.assertRaises(IndexError):
                pool.get_handler(bad)
            with self.assertRaises(IndexError):
                pool.get_connection(bad)
        with self.assertRaises(IndexError):
            pool.get_handler(-1)
        with self.assertRaises(connman.PoolIndexError) as cm:
            pool.get_connection(2)
        self.assertEqual(cm.exception.code, connman.ErrorCode.NOT_FOUND)
        self.assertEqual(connman.get_pool("pool-a"), pool)
        self.assertEqual(connman.get_pool("pool-a").name, "pool-a")

        pool.disconnect()
        for _, h in made:
            self.assertTrue(h.wait_count("close"))
        with self.assertRaises(connman.ConnmanError) as cm:
            pool.add_connection(self.port, self.host)
        self.assertIn(cm.exception.code, (connman.ErrorCode.CLOSED, connman.ErrorCode.NOT_FOUND))
        # Once every member closed, the name is free again.
        self.assertTrue(wait_until(lambda: not _pool_exists("pool-a")))
        connman.create_pool("pool-a", Recorder)

    def test_pool_factory_without_index_and_next_skips_down_members(self):
        pool = connman.create_pool("pool-b", Recorder)
        with self.assertRaises(connman.NotConnectedError):
            pool.next()
        other = FlakyEcho()
        self.addCleanup(other.close)
        pool.add_connection(self.port, self.host)
        pool.add_connection(other.port, other.host)
        h0, h1 = pool.get_handler(0), pool.get_handler(1)
        self.connected(h0)
        self.connected(h1)
        other.cmd("stop")
        self.assertTrue(h1.wait_count("reset"))
        self.assertTrue(wait_until(lambda: pool.stats().connected == 1))
        for _ in range(3):
            self.assertEqual(pool.next(), pool.get_connection(0))
        other.cmd("start")
        self.assertTrue(h1.wait_count("reconnect"))

    def test_factory_errors(self):
        calls = []

        def factory(index):
            calls.append(index)
            if len(calls) == 1:
                raise RuntimeError("factory says no")
            if len(calls) == 2:
                return None
            return Recorder()

        pool = connman.create_pool("pool-c", factory)
        with self.assertLogs("connman", logging.ERROR) as logs:
            with self.assertRaises(connman.FactoryError) as cm:
                pool.add_connection(self.port, self.host)
        self.assertEqual(cm.exception.code, connman.ErrorCode.FACTORY)
        self.assertIsInstance(cm.exception.__cause__, RuntimeError)
        self.assertIn("factory says no", "\n".join(logs.output))
        with self.assertLogs("connman", logging.ERROR):
            with self.assertRaises(connman.FactoryError):
                pool.add_connection(self.port, self.host)
        self.assertEqual(len(pool), 0)
        self.assertEqual(pool.add_connection(self.port, self.host), 0)
        self.assertEqual(calls, [0, 0, 0])
        self.connected(pool.get_handler(0))

    def test_get_pool_and_duplicate_name(self):
        pool = connman.create_pool("pool-d", Recorder)
        self.assertEqual(connman.get_pool("pool-d"), pool)
        with self.assertRaises(connman.ExistsError) as cm:
            connman.create_pool("pool-d", Recorder)
        e = cm.exception
        self.assertIsInstance(e, connman.ConnmanError)
        self.assertEqual(e.code, connman.ErrorCode.EXISTS)
        self.assertEqual(e.code, 6)
        self.assertEqual(e.name, "CONNMAN_ERR_EXISTS")
        self.assertTrue(e.message)
        with self.assertRaises(connman.NotFoundError):
            connman.get_pool("no-such-pool")

    def test_get_handler_of_closed_member(self):
        pool = connman.create_pool("pool-e", Recorder)
        pool.add_connection(self.port, self.host)
        pool.add_connection(self.port, self.host)
        h = pool.get_handler(0)
        self.connected(h)
        pool.get_connection(0).disconnect()
        self.assertTrue(h.wait_count("close"))
        with self.assertRaises(connman.ClosedError):
            pool.get_handler(0)
        with self.assertRaises(connman.ClosedError):
            pool.get_connection(0)
        self.assertIsInstance(pool.get_handler(1), Recorder)

    def test_pool_context_manager(self):
        with connman.create_pool("pool-f", Recorder) as pool:
            pool.add_connection(self.port, self.host)
            h = pool.get_handler(0)
        self.assertTrue(h.wait_count("close"))


def _is_stale(conn) -> bool:
    return not_found(conn.stats)


def _pool_exists(name: str) -> bool:
    return not not_found(lambda: connman.get_pool(name))


class TestLifecycle(Base):
    def test_disconnect_all(self):
        singles = [self.connect()[1] for _ in range(3)]
        pool = connman.create_pool("pool-all", Recorder)
        pool.add_connection(self.port, self.host)
        members = [pool.get_handler(0)]
        for rec in singles + members:
            self.connected(rec)
        connman.disconnect_all()
        for rec in singles + members:
            self.assertTrue(rec.wait_count("close"))
            self.assertEqual(rec.names(), ["connect", "close"])
        self.assertTrue(wait_until(lambda: not _pool_exists("pool-all")))
        self.assertEqual(_callbacks.factories, {})

    def test_shutdown_then_start_afresh(self):
        conn, rec = self.connect()
        pool = connman.create_pool("pool-s", Recorder)
        pool.add_connection(self.port, self.host)
        self.connected(rec)
        connman.shutdown()
        # shutdown returns after every on_close ran.
        self.assertEqual(rec.names(), ["connect", "close"])
        self.assertEqual(_callbacks.handlers, {})
        self.assertEqual(_callbacks.factories, {})
        with self.assertRaises(connman.NotFoundError):
            conn.stats()
        with self.assertRaises(connman.NotFoundError):
            len(pool)
        connman.shutdown()  # twice is fine
        conn2, rec2 = self.connect(Recorder(send_on_connect=b"again"))
        self.assertTrue(rec2.wait_data(b"again"))
        self.assertNotEqual(conn2, conn)
        connman.create_pool("pool-s", Recorder)  # the name is free again

    def test_interpreter_exit_shuts_down(self):
        code = textwrap.dedent(
            f"""
            import threading
            import connman
            up = threading.Event()
            class H:
                def on_connect(self, conn): up.set()
                def on_close(self, conn): print("closed", flush=True)
            connman.connect({self.port}, "127.0.0.1", H())
            assert up.wait(10)
            print("exiting", flush=True)
            """
        )
        out = run_python("-c", code)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.split(), ["exiting", "closed"], out.stderr)


    def test_fork_child_gets_forked_error(self):
        code = textwrap.dedent(
            f"""
            import os, threading
            import connman
            up = threading.Event()
            class H(connman.Handler):
                def on_connect(self, conn): up.set()
            connman.connect({self.port}, "127.0.0.1", H())
            assert up.wait(10)
            pid = os.fork()
            if pid == 0:
                try:
                    connman.connect({self.port}, "127.0.0.1", H())
                    os._exit(1)
                except connman.ForkedError:
                    os._exit(0)
            _, status = os.waitpid(pid, 0)
            print("child", os.waitstatus_to_exitcode(status))
            """
        )
        out = run_python("-W", "ignore::DeprecationWarning", "-c", code)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.split(), ["child", "0"], out.stderr)

    def test_failed_add_after_factory_leaves_no_handler(self):
        # With exactly one descriptor free after a shutdown, connman_pool_add
        # resolves and opens the socket, calls the factory, then cannot start the
        # library thread (CONNMAN_ERR_OS): the handler the factory made must not
        # stay in the binding's table (the library never calls its on_close).
        code = textwrap.dedent(
            f"""
            import os, resource
            import connman
            from connman import _callbacks
            made = []
            pool = connman.create_pool("fd-starved", lambda i: made.append(i) or object())
            connman.shutdown()
            pool = connman.create_pool("fd-starved", lambda i: made.append(i) or object())
            resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
            fds = []
            try:
                while True:
                    fds.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                pass
            os.close(fds.pop())
            try:
                pool.add_connection({self.port}, "127.0.0.1")
                result = "added"
            except connman.ConnmanError as e:
                result = e.name
            for fd in fds:
                os.close(fd)
            print(result, len(pool), len(_callbacks.handlers))
            """
        )
        out = run_python("-c", code)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.split(), ["CONNMAN_ERR_OS", "0", "0"], out.stderr)


class TestArguments(Base):
    def test_bad_ports(self):
        h = Recorder()
        for port in ("80", 80.0, None, True):
            with self.assertRaises(TypeError, msg=repr(port)):
                connman.connect(port, "127.0.0.1", h)
        for port in (0, -1, 65536, 10**20):
            with self.assertRaises(ValueError, msg=repr(port)):
                connman.connect(port, "127.0.0.1", h)
        with self.assertRaises(ValueError):
            connman.get_connection(0, "127.0.0.1")

    def test_bad_hosts(self):
        h = Recorder()
        for host in (None, 5, b"127.0.0.1"):
            with self.assertRaises(TypeError, msg=repr(host)):
                connman.connect(self.port, host, h)
        for host in ("", "a\0b", "x" * 254, "\udc80"):
            with self.assertRaises(ValueError, msg=repr(host)):
                connman.connect(self.port, host, h)
        with self.assertRaises(TypeError):
            connman.get_connection(self.port, None)

    def test_bad_handler_options_and_data(self):
        with self.assertRaises(TypeError):
            connman.connect(self.port, self.host, None)
        for opts in ("fast", 5, [("nodelay", 1)]):
            with self.assertRaises(TypeError, msg=repr(opts)):
                connman.connect(self.port, self.host, Recorder(), opts)
        with self.assertRaises(TypeError):
            connman.connect(self.port, self.host, Recorder(), {"bogus_ms": 1})
        with self.assertRaises(TypeError):
            connman.Options(bogus_ms=1)
        with self.assertRaises(TypeError):
            connman.connect(self.port, self.host, Recorder(), {"backoff_max_ms": "1"})
        with self.assertRaises(TypeError):
            connman.connect(self.port, self.host, Recorder(), {"backoff_max_ms": True})
        for value in (-1, 2**32):
            with self.assertRaises(ValueError):
                connman.connect(self.port, self.host, Recorder(), {"backoff_max_ms": value})
        # Rejected by the library itself: still a ValueError.
        with self.assertRaises(ValueError) as cm:
            connman.connect(self.port, self.host, Recorder(), {"backoff_initial_ms": 0})
        self.assertIsInstance(cm.exception, connman.InvalidArgumentError)
        self.assertEqual(cm.exception.code, connman.ErrorCode.INVALID_ARGUMENT)
        # Nothing was registered by the failed calls.
        self.assertEqual(_callbacks.handlers, {})

        conn, rec = self.connect()
        self.connected(rec)
        for data in ("text", 5, None, [1, 2]):
            with self.assertRaises(TypeError, msg=repr(data)):
                conn.send(data)

    def test_bad_pool_arguments(self):
        with self.assertRaises(TypeError):
            connman.create_pool(5, Recorder)
        with self.assertRaises(ValueError):
            connman.create_pool("", Recorder)
        with self.assertRaises(ValueError):
            connman.create_pool("n" * 256, Recorder)
        with self.assertRaises(TypeError):
            connman.create_pool("ok", "not callable")
        with self.assertRaises(TypeError):
            connman.get_pool(None)
        pool = connman.create_pool("pool-args", Recorder)
        with self.assertRaises(TypeError):
            pool.get_handler("0")
        with self.assertRaises(TypeError):
            pool.get_connection(1.0)
        with self.assertRaises(ValueError):
            pool.add_connection(0, self.host)
        with self.assertRaises(TypeError):
            pool.add_connection(self.port, None)
        with self.assertRaises(TypeError):
            pool.add_connection(self.port, self.host, {"nope": 1})
        with self.assertRaises(ValueError):
            connman.connection_from_fd(-1)
        with self.assertRaises(TypeError):
            connman.connection_from_fd("3")
        self.assertEqual(len(pool), 0)


if __name__ == "__main__":
    unittest.main()
