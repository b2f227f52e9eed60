"""Pools: named groups of connections whose handlers come from a factory."""

from __future__ import annotations

import dataclasses
import os
from ctypes import byref, c_int, c_size_t, c_void_p
from typing import TYPE_CHECKING, Callable, Generic, cast, overload

from . import _args, _callbacks, _ffi
from ._callbacks import FactoryWithIndex, FactoryWithoutIndex, H, Handler
from ._connection import Connection, snapshot
from ._errors import ClosedError, ConnmanError, PoolIndexError, check, error
from ._ffi import connman_conn, connman_options, connman_pool, connman_pool_stats
from ._handle import Handle
from ._loader import lib
from ._options import OptionsLike, to_c

if TYPE_CHECKING:
    from ._ffi import _Ptr


@dataclasses.dataclass(frozen=True)
class PoolStats:
    """A snapshot of a pool (``connman_pool_stats``), from :meth:`Pool.stats`."""

    members: int
    """Members ever added: valid indexes are ``0 .. members-1``."""
    connected: int
    """Members connected now."""
    closed: int
    """Members whose ``on_close`` has run."""


class Pool(Handle, Generic[H]):
    """A named pool of connections whose handlers come from a factory.

    Obtained from :func:`create_pool` or :func:`get_pool`. Members are indexed
    0, 1, 2, ... in the order of :meth:`add_connection` and :meth:`add_unix`;
    indexes never change.
    ``len(pool)`` is the number of members ever added. Using it as a context
    manager disconnects the pool on exit. For type checkers a pool is generic in
    the type of its handlers: ``create_pool("p", Client)`` is a ``Pool[Client]``.
    """

    __slots__ = ("_name",)

    def __init__(self, id: int, name: str | None = None) -> None:
        """Wraps an existing pool handle id (use :func:`create_pool` or
        :func:`get_pool` instead)."""
        super().__init__(id)
        self._name = name

    @property
    def name(self) -> str | None:
        """The pool's name, as given to :func:`create_pool` or :func:`get_pool`."""
        return self._name

    @property
    def _c(self) -> connman_pool:
        return connman_pool(self._id)

    def add_connection(self, port: int, host: str, options: OptionsLike = None) -> int:
        """Adds a member connected to ``host``:``port`` and returns its index.

        The factory is called (on this thread) with the new index to make the
        member's handler. Raises :class:`FactoryError` if the factory raised or
        returned ``None`` (the cause is chained and logged), :class:`ResolveError`
        for an unresolvable host, :class:`ClosedError` if the pool was
        disconnected, ``TypeError``/``ValueError`` for bad arguments.
        """
        p = _args.port(port)
        h = _args.host(host)
        library = lib()
        return self._add(
            "connman_pool_add", options,
            lambda opts, out: library.connman_pool_add(self._c, p, h, opts, out),
        )

    def add_unix(self, path: str | os.PathLike[str], options: OptionsLike = None) -> int:
        """Adds a member connected to the Unix socket at ``path`` (as for
        :func:`connect_unix`: a filesystem path or ``"@name"``) and returns its
        index; otherwise exactly as :meth:`add_connection`. A pool may mix TCP
        and Unix members."""
        raw = _args.unix_path(path)
        library = lib()
        return self._add(
            "connman_pool_add_unix", options,
            lambda opts, out: library.connman_pool_add_unix(self._c, raw, opts, out),
        )

    def _add(
        self,
        function: str,
        options: OptionsLike,
        call: Callable[[_Ptr[connman_options], _Ptr[c_size_t]], int],
    ) -> int:
        copts = to_c(options)
        out = c_size_t()
        with _callbacks.factory_calls() as calls:
            rc = call(byref(copts) if copts is not None else None, byref(out))
        if rc != _ffi.CONNMAN_OK:
            err = error(rc, function)
            calls.discard()
            if calls.exception is not None and rc == _ffi.CONNMAN_ERR_FACTORY:
                raise err from calls.exception
            raise err
        return out.value

    def _index_error(self, rc: int, index: int, function: str) -> ConnmanError:
        err = error(rc, function)
        if rc == _ffi.CONNMAN_ERR_NOT_FOUND:
            n = c_size_t()
            if lib().connman_pool_size(self._c, byref(n)) == _ffi.CONNMAN_OK:
                return PoolIndexError(
                    rc, f"pool index {index} out of range (pool has {n.value} members)",
                    function, err.detail,
                )
        return err

    def get_connection(self, index: int) -> Connection:
        """The :class:`Connection` of member ``index``. Raises :class:`IndexError`
        (:class:`PoolIndexError`) for an index out of range and
        :class:`ClosedError` if that member is closed."""
        i = _args.index(index)
        fd = c_int()
        rc = lib().connman_pool_get_connection(self._c, i, byref(fd))
        if rc != _ffi.CONNMAN_OK:
            raise self._index_error(rc, i, "connman_pool_get_connection")
        out = connman_conn()
        rc = lib().connman_pool_conn(self._c, i, byref(out))
        if rc != _ffi.CONNMAN_OK:
            raise self._index_error(rc, i, "connman_pool_conn")
        return Connection(out.id)

    def get_handler(self, index: int) -> H:
        """The handler object the factory made for member ``index``. Raises
        :class:`IndexError` for an index out of range and :class:`ClosedError` if
        that member is closed."""
        i = _args.index(index)
        ctx = c_void_p()
        rc = lib().connman_pool_get_handler(self._c, i, byref(ctx))
        if rc != _ffi.CONNMAN_OK:
            raise self._index_error(rc, i, "connman_pool_get_handler")
        handler = _callbacks.handler_of(ctx.value)
        if handler is None:  # its on_close ran meanwhile
            raise ClosedError(
                _ffi.CONNMAN_ERR_CLOSED, None, "connman_pool_get_handler",
                f"connman_pool_get_handler: member {i} of pool {self._name!r} is closed",
            )
        return cast(H, handler)

    def next(self) -> Connection:
        """Round robin over the members connected right now. Raises
        :class:`NotConnectedError` when none is, :class:`ClosedError` once the
        pool is disconnected."""
        out = connman_conn()
        check(lib().connman_pool_next(self._c, byref(out)), "connman_pool_next")
        return Connection(out.id)

    def __len__(self) -> int:
        n = c_size_t()
        check(lib().connman_pool_size(self._c, byref(n)), "connman_pool_size")
        return n.value

    def __bool__(self) -> bool:  # an empty pool is still a pool
        return True

    def stats(self) -> PoolStats:
        """A :class:`PoolStats` snapshot: members, connected, closed."""
        s = connman_pool_stats()
        check(lib().connman_pool_get_stats(self._c, byref(s)), "connman_pool_get_stats")
        return snapshot(PoolStats, s)

    def disconnect(self) -> None:
        """Disconnects every member (each gets ``on_close``). The pool takes no new
        members afterwards; its name is released once every member's
        ``on_close`` has run. A second call raises :class:`ClosedError`."""
        check(lib().connman_pool_disconnect(self._c), "connman_pool_disconnect")
        _callbacks.drop_factory_of(self._id)  # the factory is never called again

    def __repr__(self) -> str:
        return f"<connman.Pool id={self._id} name={self._name!r}>"


@overload
def create_pool(name: str, factory: FactoryWithIndex[H]) -> Pool[H]: ...
@overload
def create_pool(name: str, factory: FactoryWithoutIndex[H]) -> Pool[H]: ...
def create_pool(name: str, factory: FactoryWithIndex[H] | FactoryWithoutIndex[H]) -> Pool[H]:
    """Creates an empty pool named ``name`` whose members get their handlers from
    ``factory``.

    The factory is called on the thread calling :meth:`Pool.add_connection`, as
    ``factory(index)`` if it requires a positional argument, else ``factory()``
    (so a handler class with a no-argument constructor is a factory). It must
    return a handler. Raises :class:`ExistsError` if the name is taken (including
    by a pool still closing).
    """
    n = _args.pool_name(name)
    if not callable(factory):
        raise TypeError(f"factory must be callable, not {type(factory).__name__}")
    library = lib()
    key = _callbacks.register_factory(factory)
    out = connman_pool()
    try:
        rc = library.connman_pool_create(n, _callbacks.C_FACTORY, key, byref(out))
    except BaseException:
        _callbacks.sweep_factories(only=[key])
        raise
    if rc != _ffi.CONNMAN_OK:
        _callbacks.sweep_factories(only=[key])
        raise error(rc, "connman_pool_create")
    _callbacks.bind_factory(key, out.id)
    return Pool(out.id, name)


def get_pool(name: str) -> Pool[Handler]:
    """Finds a pool by name (a disconnected pool is found until every member's
    ``on_close`` has run). Raises :class:`NotFoundError` if there is none."""
    n = _args.pool_name(name)
    out = connman_pool()
    check(lib().connman_pool_find(n, byref(out)), "connman_pool_find")
    return Pool(out.id, name)
