"""Running connman on an asyncio event loop.

:func:`attach` puts the library in embedded mode (``connman.configure(threads=0)``:
no library thread) and has the loop watch :func:`connman.event_fd`, calling
:func:`connman.dispatch` when it is readable. So every handler method runs on
the loop's thread, and handlers may use the loop freely (futures, tasks,
``loop.call_later``...) with no locks and no ``call_soon_threadsafe``::

    import asyncio
    import connman
    import connman.asyncio

    class Client(connman.Handler):
        async def on_connect(self, conn):
            conn.send(b"hello")
            await asyncio.sleep(1)          # the loop goes on meanwhile
        def on_data(self, conn, data):
            print(data)

    async def main():
        connman.asyncio.attach()            # the running loop
        try:
            conn = connman.connect(7000, "127.0.0.1", Client())
            await conn.wait_connected(timeout=5)
            ...
        finally:
            connman.asyncio.detach()        # disconnects: every plain on_close has run
            await connman.asyncio.drain()   # and every queued coroutine method

    asyncio.run(main())

Handler methods may be plain functions or coroutine functions (``async def``).
A plain one runs inside the dispatch, as in threaded mode. A coroutine one
starts there too and runs up to its first suspension (an ``await`` that waits)
before the event is over: what it sends before that goes out before anything
the library sends next (the bytes held by ``send_while_reconnecting``, for
instance: write a handshake in ``on_reconnect`` before awaiting anything). If
it suspends, a task carries it on, and the connection's later calls (plain ones
included) wait in that connection's queue until it is done: a connection's
methods run one at a time, in the order of the events. Other connections are
not held up. An exception raised by a handler method, plain or coroutine, is
logged on the ``connman`` logger and the connection keeps being managed. A
method still queued when its connection closes still runs; the
:class:`connman.Connection` it gets is stale by then. (Before Python 3.12 the
first step of a coroutine method runs outside any task, so
``asyncio.current_task()`` is None there and ``asyncio.timeout()`` needs an
``await`` before it; from 3.12 on it is an eager task.)

Host names: :func:`connman.connect` resolves the host on the calling thread (the
loop's, here) unless the option ``resolve_in_background`` is set; set it (or
use numeric addresses) so that a slow resolver never stalls the loop. Unix
sockets need no resolution.

Threads: connman functions may still be called from any thread (their effect
happens at the loop's next dispatch). Handler methods always run on the loop's
thread: when the library is shut down from another thread, the calls that the
shutdown makes are handed to the loop. Only once the loop has stopped running
(or is closed) do plain methods run on the thread that shuts the library down
(at interpreter exit, for instance); coroutine methods cannot run any more then,
and are logged as dropped.

Idle, nothing runs: the loop only wakes up when the library has work.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import sys
import threading
from typing import Any, Awaitable, Callable, Coroutine, Generator

from . import _callbacks, _runtime
from ._callbacks import _Entry
from ._errors import StateError

__all__ = ["attach", "detach", "drain"]

logger = logging.getLogger("connman")


class _Attachment:
    __slots__ = ("loop", "fd", "dispatches")

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        self.loop = loop
        self.fd = fd
        self.dispatches = 0  # how many times the loop woke connman (for tests)


_attached: _Attachment | None = None
_tasks: set[asyncio.Task[None]] = set()  # the connections' running queues, for drain()


def attach(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Runs the library on ``loop`` (default: the running loop) in embedded mode.

    Call it before the first connection (or after :func:`connman.shutdown`):
    the library must not be running with its own threads, else
    :class:`connman.StateError`. Attaching again to the same loop does nothing;
    to another loop raises ``RuntimeError`` (detach first). ``loop`` may be a
    loop that is not running yet, to be run on this thread. Works with any loop
    that implements ``add_reader`` (the standard loop on Linux, uvloop).
    """
    global _attached
    if loop is None:
        loop = _running_loop()
        if loop is None:
            raise RuntimeError(
                "connman.asyncio.attach() without a loop must be called from a coroutine "
                "(or pass the loop: attach(loop))"
            )
    if _attached is not None:
        if _attached.loop is loop:
            return
        raise RuntimeError("connman is attached to another loop: detach() first")
    if loop.is_closed():
        raise RuntimeError("cannot attach connman to a closed loop")
    try:
        _runtime.configure(threads=0)
    except StateError as e:
        # Already running: fine in embedded mode, not with the library's threads.
        try:
            _runtime.event_fd()
        except StateError:
            raise StateError(
                e.code, None, "connman_configure",
                "connman.asyncio.attach: the library is already running with its own "
                "thread(s); attach before the first connection or after connman.shutdown()",
            ) from None
    attachment = _Attachment(loop, _runtime.event_fd())
    _attached = attachment
    _callbacks.set_runner(_run)
    _runtime.set_shutdown_override(detach)
    try:
        loop.add_reader(attachment.fd, _readable, attachment)
    except BaseException:  # a loop without add_reader (e.g. the Windows proactor)
        _attached = None
        _callbacks.set_runner(None)
        _runtime.set_shutdown_override(None)
        raise


def detach() -> None:
    """Stops running the library on the loop: the loop stops watching it, the
    library shuts down (every connection is disconnected and every plain
    ``on_close`` has run when this returns, as with :func:`connman.shutdown`),
    and the default configuration (one library thread) is restored for what
    comes next. :func:`connman.shutdown` does the same while attached.
    Coroutine methods still queued keep running as tasks on the loop:
    ``await drain()`` waits for them. Best called on the loop's thread; from
    another thread it first waits until the loop has stopped watching, then
    shuts the library down on the calling thread, handing the handler calls that
    this makes to the loop. Not from inside a handler method
    (:class:`connman.InCallbackError`). Does nothing when not attached.
    """
    global _attached
    attachment = _attached
    if attachment is None:
        return
    _unwatch(attachment)
    try:
        _runtime.shutdown_library()  # the runner still in place: on_close in order
    except BaseException:
        _watch(attachment)
        raise
    _attached = None
    _callbacks.set_runner(None)
    _runtime.set_shutdown_override(None)
    _runtime.configure()


async def drain() -> None:
    """Waits until every queued handler method (of any connection) has run,
    including those queued by the events that :func:`detach` produced."""
    loop, me = asyncio.get_running_loop(), asyncio.current_task()
    while True:
        tasks = {t for t in _tasks if not t.done() and t is not me and t.get_loop() is loop}
        if not tasks:
            return
        await asyncio.wait(tasks)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    """True if touching ``loop`` from here is safe: this thread runs it, or nobody does."""
    return not loop.is_running() or _running_loop() is loop


def _watch(attachment: _Attachment) -> None:
    loop = attachment.loop
    if loop.is_closed():
        return
    if _on_loop_thread(loop):
        loop.add_reader(attachment.fd, _readable, attachment)
    else:
        loop.call_soon_threadsafe(loop.add_reader, attachment.fd, _readable, attachment)


def _unwatch(attachment: _Attachment) -> None:
    """Has the loop stop watching the event fd before the library closes it."""
    loop = attachment.loop
    if loop.is_closed():
        return
    if _on_loop_thread(loop):
        loop.remove_reader(attachment.fd)
        return
    done = threading.Event()

    def remove() -> None:
        loop.remove_reader(attachment.fd)
        done.set()

    loop.call_soon_threadsafe(remove)
    if not done.wait(_UNWATCH_TIMEOUT):
        logger.warning("connman: the loop did not stop watching the event fd in time")


_UNWATCH_TIMEOUT = 10.0  # seconds: the loop is blocked if it takes longer


def _readable(attachment: _Attachment) -> None:
    attachment.dispatches += 1
    try:
        _runtime.dispatch()
    except Exception:
        logger.exception("connman: connman_dispatch failed")


# ---------------------------------------------------------------------------
# Running handler methods. A connection with nothing queued runs a method at
# once, inside the event (a coroutine up to its first suspension); a coroutine
# that suspends is carried on by a task, and the connection's later calls queue
# behind it until the queue is empty again.


def _run(entry: _Entry, method: str, fn: Callable[..., object], args: tuple[object, ...]) -> None:
    attachment = _attached
    loop = attachment.loop if attachment is not None else None
    if loop is None or not loop.is_running():  # closed, or ended: nobody else will run it
        _run_here(entry, method, fn, args)
    elif _running_loop() is loop:
        _run_on_loop(loop, entry, method, fn, args)
    else:  # the library was shut down from another thread: hand it over
        loop.call_soon_threadsafe(_run_on_loop, loop, entry, method, fn, args)


def _run_here(entry: _Entry, method: str, fn: Callable[..., object], args: tuple[object, ...]) -> None:
    """No loop runs any more: a plain method runs now, a coroutine is dropped."""
    if method in entry.coroutines:
        logger.error(
            "connman: %s.%s not run: its loop is not running (connection %d)",
            type(entry.handler).__name__, method, _conn_id(entry),
        )
        return
    result = _callbacks.call(entry, method, fn, args)
    if inspect.isawaitable(result):
        _callbacks.close_awaitable(result)


def _run_on_loop(
    loop: asyncio.AbstractEventLoop,
    entry: _Entry,
    method: str,
    fn: Callable[..., object],
    args: tuple[object, ...],
) -> None:
    if entry.pending is not None:  # a coroutine of this connection is running
        entry.pending.append((method, fn, args, None))
        return
    result = _callbacks.call(entry, method, fn, args)  # a coroutine function: not started yet
    if result is None or not inspect.isawaitable(result):
        return  # the common case: a plain method, done
    try:
        rest = _start(loop, result)
    except Exception as e:
        _callbacks.report(entry.handler, method, _conn_id(entry), e)
        return
    if rest is None:
        return  # finished without suspending
    entry.pending = collections.deque([(method, fn, args, rest)])
    task = loop.create_task(_drain_queue(entry))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


def _start(loop: asyncio.AbstractEventLoop, awaitable: Awaitable[object]) -> Awaitable[object] | None:
    """Runs coroutine ``awaitable`` up to its first suspension, here and now (so
    that what it writes before its first ``await`` precedes anything the library
    sends when the callback returns, e.g. bytes held while reconnecting). Returns
    what to await for the rest, or None if it finished (raising what it raised)."""
    if not asyncio.iscoroutine(awaitable):
        return awaitable  # a future or another awaitable: nothing to start
    if _EAGER_TASKS:  # Python 3.12+: a task that starts at once, current_task() set
        task = asyncio.Task(awaitable, loop=loop, eager_start=True)  # type: ignore[call-arg,unused-ignore]
        if not task.done():
            return task
        task.result()
        return None
    try:
        first = awaitable.send(None)
    except StopIteration:
        return None
    return _Resumed(awaitable, first)


_EAGER_TASKS = sys.version_info >= (3, 12)


class _Resumed:
    """The rest of a coroutine whose first step ran, having yielded ``first``
    (what an ``await`` hands the task driving it, e.g. a future): awaiting this
    carries it on exactly as ``await`` would have, from that yield on."""

    __slots__ = ("_coro", "_first")

    def __init__(self, coro: Coroutine[Any, Any, object], first: object) -> None:
        self._coro = coro
        self._first = first

    def __await__(self) -> Generator[Any, Any, object]:
        coro, value = self._coro, self._first
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as e:  # thrown in by the task (cancelled): pass it on
                try:
                    value = coro.throw(e)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as stop:
                    return stop.value

    def close(self) -> None:
        self._coro.close()


async def _drain_queue(entry: _Entry) -> None:
    """Runs the connection's queued calls one at a time, in order: the first is
    the rest of a coroutine that suspended, the others were called meanwhile."""
    queue = entry.pending
    assert queue is not None
    try:
        while queue:
            method, fn, args, rest = queue[0]
            try:
                result = fn(*args) if rest is None else rest
                if inspect.isawaitable(result):
                    await result
            except Exception:
                _callbacks.report(entry.handler, method, _conn_id(entry))
            queue.popleft()
    finally:
        entry.pending = None
        for _, _, _, rest in queue:  # cancelled (the loop is closing): never run
            if rest is not None:
                _callbacks.close_awaitable(rest)
        queue.clear()


def _conn_id(entry: _Entry) -> int:
    return entry.conn.id if entry.conn is not None else 0
