"""Test helpers: the shared flaky echo server (target/<profile>/flaky-echo) driven
over its stdin, and a recording handler. Imported by the test modules."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
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
