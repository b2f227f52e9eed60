"""Saying why: every ConnmanError carries connman_last_error_message (read on
the failing thread), InvalidArgumentError names the field, StateError; the
library's log messages as records of the `logging` logger "connman"; errno and
EAI names in stats."""

from __future__ import annotations

import contextlib
import errno
import gc
import io
import logging
import pickle
import textwrap
import threading
import unittest

from flaky import TIMEOUT, EchoTestCase, Recorder, not_found, run_python, wait_until

import connman
from connman import _callbacks, _logging


class Records(logging.Handler):
    """Collects the records of the "connman" logger."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.mutex = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self.mutex:
            self.records.append(record)

    def find(self, level: int, text: str) -> list[logging.LogRecord]:
        with self.mutex:
            return [r for r in self.records if r.levelno == level and text in r.getMessage()]


class TestErrors(EchoTestCase):
    def test_invalid_option_names_the_field(self):
        for field, value in (("backoff_initial_ms", 0), ("keepalive_count", 500),
                             ("send_queue_limit", 0)):
            with self.subTest(field=field):
                with self.assertRaises(connman.InvalidArgumentError) as cm:
                    connman.connect(self.port, self.host, Recorder(), {field: value})
                e = cm.exception
                self.assertIsInstance(e, ValueError)
                self.assertEqual(e.code, connman.ErrorCode.INVALID_ARGUMENT)
                self.assertEqual(e.function, "connman_connect")
                self.assertIn(field, str(e))
                self.assertIn(field, e.detail)
                self.assertTrue(e.detail.startswith("connman_connect: "), e.detail)
                self.assertIn("CONNMAN_ERR_INVALID_ARGUMENT", str(e))
        # The same through the Unix and pool paths, with their function names.
        with self.assertRaises(connman.InvalidArgumentError) as cm:
            connman.connect_unix("/tmp/x.sock", Recorder(), {"backoff_max_ms": 1, "backoff_initial_ms": 5})
        self.assertIn("connman_connect_unix: options.backoff_max_ms", str(cm.exception))
        pool = connman.create_pool("why-pool", Recorder)
        with self.assertRaises(connman.InvalidArgumentError) as cm:
            pool.add_connection(self.port, self.host, {"healthy_after_ms": 0})
        self.assertIn("connman_pool_add: options.healthy_after_ms", str(cm.exception))
        self.assertEqual(_callbacks.handlers, {})

    def test_resolve_error_names_the_host_and_the_reason(self):
        with self.assertRaises(connman.ResolveError) as cm:
            connman.connect(self.port, "no-such-host.invalid", Recorder())
        self.assertIn("no-such-host.invalid", cm.exception.detail)
        self.assertIn("connman_connect", cm.exception.detail)

    def test_not_found_closed_and_state_errors_say_why(self):
        conn = connman.connect(self.port, self.host, Recorder())
        conn.disconnect()
        with self.assertRaises(connman.ConnmanError) as cm:
            conn.disconnect()
        self.assertIn(cm.exception.code, (connman.ErrorCode.CLOSED, connman.ErrorCode.NOT_FOUND))
        self.assertTrue(cm.exception.detail.startswith("connman_disconnect: "), cm.exception.detail)
        self.assertTrue(wait_until(lambda: not_found(conn.stats)))
        with self.assertRaises(connman.NotFoundError) as cm:
            conn.stats()
        self.assertIn(f"connection {conn.id}", cm.exception.detail)
        with self.assertRaises(connman.NotFoundError) as cm:
            conn.fileno()
        self.assertIn("closed", str(cm.exception))
        # configure while the library runs: StateError (code 14).
        connman.connect(self.port, self.host, Recorder())
        with self.assertRaises(connman.StateError) as cm:
            connman.configure(threads=2)
        e = cm.exception
        self.assertEqual((e.code, e.name), (14, "CONNMAN_ERR_STATE"))
        self.assertIn("running", e.detail)
        e2 = pickle.loads(pickle.dumps(e))
        self.assertEqual((type(e2), e2.code, e2.detail, str(e2)), (type(e), e.code, e.detail, str(e)))

    def test_a_stale_message_is_not_borrowed(self):
        # A Python-side error after some failed C call does not pick up that
        # call's message.
        with self.assertRaises(connman.InvalidArgumentError):
            connman.connect(self.port, self.host, Recorder(), {"backoff_initial_ms": 0})
        err = connman._errors.error(connman.ErrorCode.NOT_FOUND, "connman_pool_find")
        self.assertEqual(err.detail, "")
        self.assertNotIn("backoff", str(err))

    def test_messages_are_per_thread(self):
        failures: list[str] = []
        start = threading.Barrier(2)

        def fail(what: str, call) -> None:
            start.wait()
            for _ in range(200):
                try:
                    call()
                    failures.append(f"{what}: no error")
                except connman.ConnmanError as e:
                    if what not in e.detail:
                        failures.append(f"{what}: got {e.detail!r}")

        threads = [
            threading.Thread(target=fail, args=("backoff_initial_ms", lambda: connman.connect(
                self.port, self.host, Recorder(), {"backoff_initial_ms": 0}))),
            threading.Thread(target=fail, args=("no-such-pool", lambda: connman.get_pool(
                "no-such-pool"))),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT * 3)
        self.assertEqual(failures, [])


class TestLogging(EchoTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.logs = Records()
        logger = logging.getLogger("connman")
        logger.addHandler(self.logs)
        self.addCleanup(logger.removeHandler, self.logs)
        old = logger.level
        self.addCleanup(connman.set_log_level)
        self.addCleanup(logger.setLevel, old)

    def test_records_with_levels_and_the_connection(self):
        connman.set_log_level(logging.DEBUG)
        self.server.cmd("stop")
        rec = Recorder()
        conn = connman.connect(self.port, self.host, rec, {"backoff_max_ms": 20})
        self.assertTrue(wait_until(lambda: self.logs.find(logging.WARNING, "Connection refused")))
        warning = self.logs.find(logging.WARNING, "Connection refused")[0]
        self.assertEqual(warning.name, "connman")
        self.assertEqual(warning.conn, conn)
        self.assertEqual(warning.conn_id, conn.id)
        self.assertIn(f"connection {conn.id}: connect to {self.host}:{self.port}", warning.getMessage())
        s = conn.stats()
        self.assertEqual((s.last_error, s.last_error_name), (errno.ECONNREFUSED, "ECONNREFUSED"))
        self.server.cmd("start")
        self.assertTrue(rec.wait_count("connect"))
        self.assertTrue(wait_until(lambda: self.logs.find(logging.INFO, "connected")))
        self.server.cmd("drop")
        self.assertTrue(rec.wait_count("reconnect"))
        self.assertTrue(wait_until(lambda: self.logs.find(logging.INFO, "reset")))
        self.assertTrue(wait_until(lambda: self.logs.find(logging.INFO, "reconnected")))
        self.assertTrue(all(r.conn == conn for r in self.logs.records if r.conn_id))

    def test_idle_timeout_reset_is_logged(self):
        connman.set_log_level("INFO")
        self.server.cmd("mode silent")
        rec = Recorder()
        connman.connect(self.port, self.host, rec, {"idle_timeout_ms": 100})
        self.assertTrue(rec.wait_count("reset"))
        self.assertTrue(wait_until(lambda: self.logs.find(logging.INFO, "idle")), [
            r.getMessage() for r in self.logs.records])

    def test_the_level_follows_the_logger(self):
        self.assertEqual(_logging.c_level(logging.DEBUG), connman._ffi.CONNMAN_LOG_DEBUG)
        self.assertEqual(_logging.c_level(logging.INFO), connman._ffi.CONNMAN_LOG_INFO)
        self.assertEqual(_logging.c_level(logging.WARNING), connman._ffi.CONNMAN_LOG_WARN)
        self.assertEqual(_logging.c_level(logging.ERROR), connman._ffi.CONNMAN_LOG_ERROR)
        self.assertEqual(_logging.c_level(logging.CRITICAL), 0)
        self.assertEqual(_logging.c_level(logging.NOTSET), connman._ffi.CONNMAN_LOG_DEBUG)
        # ERROR: the library delivers no warning (it formats none).
        connman.set_log_level(logging.ERROR)
        self.server.cmd("stop")
        conn = connman.connect(self.port, self.host, Recorder(), {"backoff_max_ms": 20})
        self.assertTrue(wait_until(lambda: conn.stats().attempts >= 3))
        self.assertEqual(self.logs.records, [])
        # Back to WARNING, while the connection is failing: warnings flow.
        connman.set_log_level(logging.WARNING)
        self.assertTrue(wait_until(lambda: self.logs.find(logging.WARNING, "refused")))

    def test_a_broken_logging_setup_never_reaches_the_library(self):
        class Explodes(logging.Filter):
            def filter(self, record: logging.LogRecord) -> bool:
                raise RuntimeError("filter explodes")

        connman.set_log_level(logging.INFO)
        logger = logging.getLogger("connman")
        f = Explodes()
        logger.addFilter(f)
        self.addCleanup(logger.removeFilter, f)
        gc.collect()  # the hook is kept alive by the package
        rec = Recorder(send_on_connect=b"still fine")
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            connman.connect(self.port, self.host, rec)
            self.assertTrue(rec.wait_data(b"still fine"))
            self.assertTrue(wait_until(lambda: "connected to" in err.getvalue()))
        self.assertIn("connman: cannot log a message of the library: b'connected to", err.getvalue())

    def test_logging_configured_before_import(self):
        code = textwrap.dedent(
            f"""
            import logging, sys, threading
            logging.basicConfig(level=logging.DEBUG, stream=sys.stdout,
                                format="%(name)s %(levelname)s %(conn_id)s %(message)s")
            import connman
            up = threading.Event()
            class H(connman.Handler):
                def on_connect(self, conn): up.set()
            conn = connman.connect({self.port}, "127.0.0.1", H())
            assert up.wait(10)
            connman.shutdown()
            """
        )
        out = run_python("-c", code)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, r"connman INFO 1 connection 1: connected to 127\.0\.0\.1:")

    def test_resolve_in_background_and_eai_names(self):
        connman.set_log_level(logging.WARNING)
        conn = connman.connect(self.port, "no-such-host.invalid", Recorder(),
                               {"resolve_in_background": True, "backoff_max_ms": 20})
        self.assertTrue(wait_until(lambda: conn.stats().last_resolve_error != 0))
        s = conn.stats()
        self.assertTrue(s.last_resolve_error_name.startswith("EAI_"), s)
        self.assertTrue(wait_until(lambda: self.logs.find(logging.WARNING, "no-such-host.invalid")))


if __name__ == "__main__":
    unittest.main()
