"""Test helpers: the shared flaky echo server (target/<profile>/flaky-echo) driven
over its stdin, a Unix-socket echo server in this process, and a recording
handler. Imported by the test modules."""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from typing import Callable, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
PKG_ROOT = os.path.dirname(HERE)  # bindings/python
EXAMPLES = os.path.join(PKG_ROOT, "examples")
REPO = os.path.normpath(os.path.join(PKG_ROOT, os.pardir, os.pardir))

# Which connman is tested: by default the package in this tree, whatever is
# installed; with CONNMAN_TEST_INSTALLED=1, the one installed in this
# interpreter (.ci/run: the wheel, in a fresh venv), and never the tree's.
INSTALLED = os.environ.get("CONNMAN_TEST_INSTALLED") == "1"
if not INSTALLED and PKG_ROOT not in sys.path:
    sys.path.insert(0, PKG_ROOT)

TIMEOUT = 10.0  # seconds: generous deadline for anything that should be quick

# The library's warnings (failed attempts against the servers the tests stop)
# would otherwise reach stderr through logging's last resort; assertLogs and the
# tests' own handlers still see every record.
if not os.environ.get("CONNMAN_TEST_VERBOSE"):
    logging.getLogger("connman").addHandler(logging.NullHandler())


def run_python(*args: str, timeout: float = 3 * TIMEOUT, **env: str) -> subprocess.CompletedProcess:
    """Runs this interpreter on ``args`` with the same connman importable (and
    ``env`` added to the environment); returns its output."""
    child = dict(os.environ, **env)
    if not INSTALLED:
        child["PYTHONPATH"] = os.pathsep.join(filter(None, [PKG_ROOT, child.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=child
    )


def flaky_echo_path() -> str:
    """CONNMAN_FLAKY_ECHO if set, else the repository's target/{debug,release}."""
    env = os.environ.get("CONNMAN_FLAKY_ECHO")
    looked = []
    if env:
        if os.access(env, os.X_OK):
            return env
        looked.append(f"CONNMAN_FLAKY_ECHO={env}")
    for profile in ("debug", "release"):
        path = os.path.join(REPO, "target", profile, "flaky-echo")
        if os.access(path, os.X_OK):
            return path
        looked.append(path)
    raise RuntimeError(
        "flaky-echo not found (build it with `cargo build --bin flaky-echo`, or set "
        "CONNMAN_FLAKY_ECHO); looked at: " + ", ".join(looked)
    )


class FlakyEcho:
    """A running flaky-echo server. ``cmd("drop")`` sends a command and waits
    for its ``OK``; closing stdin ends it."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [flaky_echo_path(), "--port", "0", "--quiet", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None if os.environ.get("CONNMAN_TEST_VERBOSE") else subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        self._lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        line = self._next_line(TIMEOUT)
        if not line or not line.startswith("LISTENING "):
            self.close()
            raise RuntimeError(f"flaky-echo did not start (first line {line!r})")
        self.port = int(line.split()[1])
        self.host = "127.0.0.1"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _next_line(self, timeout: float) -> Optional[str]:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def cmd(self, command: str, timeout: float = TIMEOUT) -> str:
        """Sends one command; returns its ``OK ...`` line."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        word = command.split()[0]
        deadline = time.monotonic() + timeout
        while True:
            line = self._next_line(max(0.0, deadline - time.monotonic()))
            if line is None:
                raise RuntimeError(f"flaky-echo gave no OK for {command!r}")
            if line.startswith(f"OK {word}"):
                return line
            if line.startswith("ERR"):
                raise RuntimeError(f"flaky-echo refused {command!r}: {line}")

    def stats(self) -> Dict[str, int]:
        line = self.cmd("stats")
        return {k: int(v) for k, v in (kv.split("=") for kv in line.split()[2:])}

    def wait_stats(self, pred: Callable[[Dict[str, int]], bool], timeout: float = TIMEOUT) -> Dict[str, int]:
        deadline = time.monotonic() + timeout
        while True:
            s = self.stats()
            if pred(s) or time.monotonic() > deadline:
                return s
            time.sleep(0.01)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class UnixEcho:
    """An echo server on a Unix socket, in this process: ``path`` is a filesystem
    path (in a fresh temporary directory unless given) or ``@name`` (abstract).
    ``stop()`` closes the listener (removing the socket file) and every
    connection; ``start()`` listens again on the same path. ``received[i]`` is
    what the i-th accepted connection sent."""

    def __init__(self, path: Optional[str] = None, echo: bool = True) -> None:
        if path is None:
            self._tmp: Optional[tempfile.TemporaryDirectory[str]] = tempfile.TemporaryDirectory(
                prefix="connman-test-"
            )
            path = os.path.join(self._tmp.name, "echo.sock")
        else:
            self._tmp = None
        self.path = path
        self.echo = echo
        self.received: List[bytearray] = []
        self.cond = threading.Condition()
        self._conns: List[socket.socket] = []
        self._listener: Optional[socket.socket] = None
        self.start()

    @property
    def address(self) -> str:
        return "\0" + self.path[1:] if self.path.startswith("@") else self.path

    def start(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(self.address)
        s.listen(16)
        self._listener = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                c, _ = listener.accept()
            except OSError:
                return  # stopped
            with self.cond:
                if self._listener is not listener:  # stopped meanwhile: drop it too
                    c.close()
                    return
                self._conns.append(c)
                self.received.append(bytearray())
                index = len(self.received) - 1
                self.cond.notify_all()
            threading.Thread(target=self._serve, args=(c, index), daemon=True).start()

    def _serve(self, c: socket.socket, index: int) -> None:
        while True:
            try:
                data = c.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            with self.cond:
                self.received[index] += data
                self.cond.notify_all()
            if self.echo:
                try:
                    c.sendall(data)
                except OSError:
                    break
        try:
            c.close()
        except OSError:
            pass

    def drop(self) -> None:
        """Closes every accepted connection (the listener stays)."""
        with self.cond:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self) -> None:
        """Stops listening (the socket file is removed) and drops every connection."""
        with self.cond:
            listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept()
            except OSError:
                pass
            listener.close()
        if not self.path.startswith("@"):
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        self.drop()

    def wait_received(self, pred: Callable[[List[bytes]], bool], timeout: float = TIMEOUT) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: pred([bytes(r) for r in self.received]), timeout)

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()


class Recorder:
    """A handler recording every call as (event, conn, arg); wait_for() waits with
    a deadline. ``send_on_connect``: bytes sent from on_connect/on_reconnect."""

    def __init__(self, send_on_connect: Optional[bytes] = None) -> None:
        self.events: List[Tuple[str, object, object]] = []
        self.cond = threading.Condition()
        self.send_on_connect = send_on_connect
        self.fds: List[int] = []
        self.data = bytearray()
        self.threads = set()

    def _add(self, name: str, conn: object, arg: object = None) -> None:
        with self.cond:
            self.events.append((name, conn, arg))
            self.threads.add(threading.get_ident())
            self.cond.notify_all()

    def on_connect(self, conn) -> None:
        self.fds.append(conn.fileno())
        if self.send_on_connect:
            conn.send(self.send_on_connect)
        self._add("connect", conn)

    def on_reset(self, conn) -> None:
        self._add("reset", conn)

    def on_reconnect(self, conn) -> None:
        self.fds.append(conn.fileno())
        if self.send_on_connect:
            conn.send(self.send_on_connect)
        self._add("reconnect", conn)

    def on_data(self, conn, data: bytes) -> None:
        with self.cond:
            self.data += data
        self._add("data", conn, data)

    def on_close(self, conn) -> None:
        self._add("close", conn)

    def names(self, with_data: bool = False) -> List[str]:
        with self.cond:
            return [e[0] for e in self.events if with_data or e[0] != "data"]

    def count(self, name: str) -> int:
        return self.names(True).count(name)

    def wait_for(self, pred: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
        with self.cond:
            return self.cond.wait_for(pred, timeout)

    def wait_count(self, name: str, n: int = 1, timeout: float = TIMEOUT) -> bool:
        return self.wait_for(lambda: sum(1 for e in self.events if e[0] == name) >= n, timeout)

    def wait_data(self, expected: bytes, timeout: float = TIMEOUT) -> bool:
        return self.wait_for(lambda: expected in self.data, timeout)


def wait_until(pred: Callable[[], bool], timeout: float = TIMEOUT, interval: float = 0.005) -> bool:
    """Polls ``pred`` until it is true or ``timeout`` passes; returns its last value.
    For conditions no handler call signals (library state, stats)."""
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= deadline:
            return bool(pred())
        time.sleep(interval)


async def until(pred: Callable[[], bool], timeout: float = TIMEOUT, interval: float = 0.005) -> bool:
    """:func:`wait_until` for coroutines: polls ``pred`` while the loop runs."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() >= deadline:
            return bool(pred())
        await asyncio.sleep(interval)
    return True


class LibraryTestCase(unittest.TestCase):
    """Leaves the library as it found it: shut down (so every on_close ran and
    no handler may be left in the binding's table) and configured by default."""

    def tearDown(self) -> None:
        import connman
        from connman import _callbacks

        connman.shutdown()
        connman.configure()
        self.assertEqual(_callbacks.handlers, {}, "handlers left in the table after shutdown")


class EchoTestCase(LibraryTestCase):
    """With a flaky-echo server: ``self.server``, ``self.port``, ``self.host``."""

    def setUp(self) -> None:
        self.server = FlakyEcho()
        self.addCleanup(self.server.close)
        self.port, self.host = self.server.port, self.server.host


def not_found(call: Callable[[], object]) -> bool:
    """True if ``call()`` raises connman.NotFoundError (a stale handle, a name
    or path with no connection or pool)."""
    import connman

    try:
        call()
        return False
    except connman.NotFoundError:
        return True
