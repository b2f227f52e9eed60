"""Unix domain sockets (connect_unix, Pool.add_unix, get_connection_unix) and
sending while reconnecting (the send_while_reconnecting option), against a
Unix-socket echo server in this process (flaky.UnixEcho)."""

from __future__ import annotations

import errno
import os
import pathlib
import unittest

from flaky import FlakyEcho, LibraryTestCase, Recorder, UnixEcho, not_found, wait_until

import connman

FAST = {"backoff_initial_ms": 5, "backoff_max_ms": 20, "recovery_backoff_max_ms": 20}


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class UnixBase(LibraryTestCase):
    def setUp(self) -> None:
        self.server = UnixEcho()
        self.addCleanup(self.server.close)


class TestUnix(UnixBase):
    def test_connect_echo_raw_and_send(self):
        rec = Recorder(send_on_connect=b"hello")
        conn = connman.connect_unix(self.server.path, rec)
        self.assertIsInstance(conn, connman.Connection)
        self.assertTrue(rec.wait_data(b"hello"), rec.events)
        self.assertEqual(rec.names(), ["connect"])
        os.write(conn.fileno(), b" raw")
        self.assertTrue(rec.wait_data(b"hello raw"))
        conn.send(b" send")
        self.assertTrue(rec.wait_data(b"hello raw send"))
        s = conn.stats()
        self.assertEqual(s.state, connman.State.CONNECTED)
        self.assertEqual((s.connects, s.bytes_sent), (1, 10))  # raw writes bypass the count
        self.assertEqual(connman.get_connection_unix(self.server.path), conn)
        self.assertEqual(connman.get_connection_unix(pathlib.Path(self.server.path)), conn)
        conn.disconnect()
        self.assertTrue(rec.wait_count("close"))
        self.assertTrue(wait_until(lambda: not_found(lambda: connman.get_connection_unix(self.server.path))))

    def test_server_drops_then_socket_file_removed_and_recreated(self):
        rec = Recorder(send_on_connect=b"ping")
        conn = connman.connect_unix(pathlib.Path(self.server.path), rec, FAST)
        self.assertTrue(rec.wait_data(b"ping"))
        fd = conn.fileno()
        # The server drops the connection: reconnected at once.
        self.server.drop()
        self.assertTrue(rec.wait_count("reconnect"), rec.names())
        self.assertTrue(rec.wait_data(b"pingping"))
        # The server goes away with its socket file: ENOENT while it is gone.
        self.server.stop()
        self.assertFalse(os.path.exists(self.server.path))
        self.assertTrue(rec.wait_count("reset", 2), rec.names())
        self.assertTrue(wait_until(lambda: conn.stats().last_error == errno.ENOENT), conn.stats())
        s = conn.stats()
        self.assertEqual(s.last_error_name, "ENOENT")
        self.assertEqual(s.state, connman.State.RECONNECTING)
        # Back, on a new socket file at the same path: same descriptor number.
        self.server.start()
        self.assertTrue(rec.wait_count("reconnect", 2), rec.names())
        self.assertTrue(rec.wait_data(b"pingpingping"))
        self.assertEqual(rec.names(), ["connect", "reset", "reconnect", "reset", "reconnect"])
        self.assertEqual(set(rec.fds), {fd})
        self.assertEqual(conn.fileno(), fd)
        self.assertEqual(conn.stats().connects, 3)

    def test_refused_while_the_file_exists_without_listener(self):
        # A socket file with nobody listening: ECONNREFUSED, then it connects.
        self.server.stop()
        import socket

        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(self.server.path)
        stale.close()  # the file stays, nobody listens
        rec = Recorder()
        conn = connman.connect_unix(self.server.path, rec, FAST)
        self.assertTrue(wait_until(lambda: conn.stats().last_error_name == "ECONNREFUSED"))
        self.assertEqual(rec.names(), [])
        os.unlink(self.server.path)
        self.server.start()
        self.assertTrue(rec.wait_count("connect"), rec.names())

    def test_abstract_namespace(self):
        name = f"@connman-test-{os.getpid()}-abstract"
        server = UnixEcho(name)
        self.addCleanup(server.close)
        rec = Recorder(send_on_connect=b"abstract")
        conn = connman.connect_unix(name, rec, FAST)
        self.assertTrue(rec.wait_data(b"abstract"), rec.events)
        self.assertEqual(connman.get_connection_unix(name), conn)
        fd = conn.fileno()
        server.stop()
        self.assertTrue(rec.wait_count("reset"))
        server.start()
        self.assertTrue(rec.wait_count("reconnect"), rec.names())
        self.assertEqual(conn.fileno(), fd)
        # The same name as a filesystem path is another endpoint.
        with self.assertRaises(connman.NotFoundError):
            connman.get_connection_unix(name[1:])

    def test_pools_of_unix_members_and_mixed_pools(self):
        other = UnixEcho()
        self.addCleanup(other.close)
        tcp = FlakyEcho()
        self.addCleanup(tcp.close)
        pool = connman.create_pool("unix-mixed", lambda i: Recorder(send_on_connect=b"m%d" % i))
        self.assertEqual(pool.add_unix(self.server.path), 0)
        self.assertEqual(pool.add_unix(pathlib.Path(other.path), FAST), 1)
        self.assertEqual(pool.add_connection(tcp.port, tcp.host), 2)
        self.assertEqual(len(pool), 3)
        for i in range(3):
            self.assertTrue(pool.get_handler(i).wait_data(b"m%d" % i))
        self.assertTrue(wait_until(lambda: pool.stats().connected == 3))
        members = {pool.get_connection(i) for i in range(3)}
        self.assertEqual({pool.next() for _ in range(6)}, members)
        # A member is not a single connection: get_connection_unix does not find it.
        with self.assertRaises(connman.NotFoundError):
            connman.get_connection_unix(self.server.path)
        other.stop()
        self.assertTrue(pool.get_handler(1).wait_count("reset"))
        self.assertTrue(wait_until(lambda: pool.stats().connected == 2))
        self.assertEqual({pool.next() for _ in range(6)}, members - {pool.get_connection(1)})
        other.start()
        self.assertTrue(pool.get_handler(1).wait_count("reconnect"))
        handlers = [pool.get_handler(i) for i in range(3)]
        pool.disconnect()
        for h in handlers:
            self.assertTrue(h.wait_count("close"))

    def test_bad_paths_raise_and_call_nothing(self):
        rec = Recorder()
        pool = connman.create_pool("unix-bad", Recorder)
        too_long = "/tmp/" + "x" * 103  # 108 bytes
        for bad, exc in (
            ("", ValueError),
            ("a\0b", ValueError),
            ("\0abstract-the-C-way", ValueError),
            (too_long, ValueError),
            ("@" + "x" * 108, ValueError),
            ("/tmp/\udc80", ValueError),
            (None, TypeError),
            (b"/tmp/x.sock", TypeError),
            (5, TypeError),
            (_BytesPath(), TypeError),
            (["/tmp/x"], TypeError),
        ):
            with self.subTest(path=bad):
                with self.assertRaises(exc):
                    connman.connect_unix(bad, rec)
                with self.assertRaises(exc):
                    pool.add_unix(bad)
                with self.assertRaises(exc):
                    connman.get_connection_unix(bad)
        # The longest allowed, both kinds: accepted (nothing listens there).
        for ok in ("/tmp/" + "x" * 102, "@" + "y" * 107):
            conn = connman.connect_unix(ok, rec, FAST)
            conn.disconnect()
        self.assertEqual(len(pool), 0)
        self.assertTrue(rec.wait_count("close", 2))
        self.assertEqual(rec.names(), ["close", "close"])

    def test_no_descriptor_leak_over_reconnects(self):
        before = _fds()
        rec = Recorder(send_on_connect=b"r")
        conn = connman.connect_unix(self.server.path, rec, FAST)
        self.assertTrue(rec.wait_count("connect"))
        for i in range(1, 101):
            # Accepted by the server first (connect() succeeds before accept()).
            self.assertTrue(self.server.wait_received(lambda r: len(r) == i))
            self.server.drop()
            self.assertTrue(rec.wait_count("reconnect", i), rec.names()[-3:])
        conn.disconnect()
        self.assertTrue(rec.wait_count("close"))
        connman.shutdown()
        self.server.drop()
        self.assertTrue(wait_until(lambda: _fds() <= before), (before, _fds()))


class TestSendWhileReconnecting(UnixBase):
    class Handshaker(Recorder):
        """Writes a handshake as the first bytes of every connection."""

        def on_connect(self, conn):
            conn.send(b"HELLO\n")
            super().on_connect(conn)

        def on_reconnect(self, conn):
            conn.send(b"HELLO AGAIN\n")
            super().on_reconnect(conn)

    def _outage(self, options):
        self.server.echo = False
        rec = self.Handshaker()
        conn = connman.connect_unix(self.server.path, rec, dict(FAST, **options))
        self.assertTrue(rec.wait_count("connect"))
        self.assertTrue(self.server.wait_received(lambda r: r == [b"HELLO\n"]))
        self.server.stop()
        self.assertTrue(rec.wait_count("reset"))
        return conn, rec

    def test_sends_during_an_outage_arrive_after_the_handshake(self):
        conn, rec = self._outage({"send_while_reconnecting": 1024})
        conn.send(b"held 1;")
        conn.send(bytearray(b"held 2;"))
        self.assertEqual(conn.stats().send_queue_bytes, 14)
        self.server.start()
        self.assertTrue(rec.wait_count("reconnect"))
        expected = [b"HELLO\n", b"HELLO AGAIN\nheld 1;held 2;"]
        self.assertTrue(self.server.wait_received(lambda r: r == expected), self.server.received)
        conn.send(b"after")
        self.assertTrue(self.server.wait_received(lambda r: r[1].endswith(b"held 2;after")))
        s = conn.stats()
        self.assertEqual((s.send_queue_bytes, s.bytes_discarded), (0, 0))
        self.assertEqual(len(self.server.received), 2)  # exactly once: no other connection

    def test_the_bound_and_disconnect_while_held(self):
        conn, rec = self._outage({"send_while_reconnecting": 10})
        conn.send(b"12345678")
        with self.assertRaises(connman.WouldBlockError) as cm:
            conn.send(b"abc")  # 11 > 10: nothing of it held
        self.assertIn("connman_send", cm.exception.detail)
        conn.send(b"90")
        self.assertEqual(conn.stats().send_queue_bytes, 10)
        conn.disconnect()
        self.assertTrue(rec.wait_count("close"))

    def test_off_by_default(self):
        conn, rec = self._outage({})
        with self.assertRaises(connman.NotConnectedError):
            conn.send(b"lost")
        self.assertEqual(conn.stats().send_queue_bytes, 0)


class _BytesPath:
    def __fspath__(self) -> bytes:
        return b"/tmp/x.sock"


if __name__ == "__main__":
    unittest.main()
