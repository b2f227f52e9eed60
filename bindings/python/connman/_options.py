"""Connection options: :class:`Options` and what an ``options`` argument takes."""

from __future__ import annotations

import dataclasses
from typing import Mapping, TypeAlias

from ._args import integer
from ._ffi import connman_options
from ._loader import lib


@dataclasses.dataclass
class Options:
    """Options of one connection; ``None`` leaves a field at the library default.

    Pass an ``Options``, a ``dict`` with the same keys, or ``None`` (all defaults)
    as the ``options`` argument of :func:`connect` and :meth:`Pool.add_connection`.
    Times are in milliseconds. :meth:`Options.defaults` shows the library's
    defaults. Values the library rejects raise :class:`InvalidArgumentError` (a
    :class:`ValueError` whose message names the field, the value and the rule).
    For Unix-socket connections the TCP options (``keepalive_*``,
    ``user_timeout_ms``, ``nodelay``) are ignored and ``resolve_in_background``
    has nothing to do.
    """

    backoff_initial_ms: int | None = None
    """Delay before the first retry after a failed attempt (default 10; >= 1)."""
    backoff_max_ms: int | None = None
    """Ceiling of the doubling backoff (default 128000; >= backoff_initial_ms)."""
    connect_timeout_ms: int | None = None
    """Longest time one connect attempt may take (default 10000; >= 1)."""
    idle_timeout_ms: int | None = None
    """Reset the connection when nothing was received for this long (0: off)."""
    healthy_after_ms: int | None = None
    """A connection dropping sooner than this after connecting counts as a failed
    attempt, so the backoff keeps growing (default 1000)."""
    send_queue_limit: int | None = None
    """Bytes :meth:`Connection.send` may hold queued (default 1 MiB; 1 to 1 GiB)."""
    keepalive_idle_ms: int | None = None
    """TCP keepalive idle time before the first probe (default 30000; 0: off)."""
    keepalive_interval_ms: int | None = None
    """TCP keepalive interval between probes (default 10000)."""
    keepalive_count: int | None = None
    """TCP keepalive probes before the peer is declared dead (default 3; 1..127)."""
    user_timeout_ms: int | None = None
    """TCP_USER_TIMEOUT (default 60000; 0: the system's default)."""
    nodelay: int | bool | None = None
    """TCP_NODELAY: 1/True (default) disables Nagle's algorithm, 0/False keeps it."""
    recovery_backoff_max_ms: int | None = None
    """Backoff ceiling while a recently healthy connection is being re-established
    (default 250; 0: off), so a restarted server is found again quickly."""
    recovery_window_ms: int | None = None
    """How long after a healthy connection dropped that ceiling applies (default 10000)."""
    resolve_in_background: int | bool | None = None
    """1/True: never resolve the host name in :func:`connect` /
    :meth:`Pool.add_connection` (what code running on an event loop wants): they
    return at once, and an unresolvable name is retried with backoff like a refused
    connect (``Stats.last_resolve_error`` says why). 0/False (default): the first
    resolution happens in the call, so an unresolvable name raises
    :class:`ResolveError` there."""
    send_while_reconnecting: int | None = None
    """Bytes :meth:`Connection.send` may hold while the connection is reconnecting
    (default 0: off, ``send`` then raises :class:`NotConnectedError`; at most 1 GiB).
    Held bytes are sent once the connection is back, after whatever the handler
    sends in ``on_reconnect`` (so a handshake written there goes first); beyond the
    bound :class:`WouldBlockError`, nothing of that call held. Bytes in flight at
    the reset are still lost."""

    @classmethod
    def defaults(cls) -> Options:
        """The library's default values (``connman_options_default()``)."""
        c = lib().connman_options_default()
        return cls(**{name: getattr(c, name) for name in FIELDS})

    def to_dict(self) -> dict[str, int | None]:
        """The fields as a dict (``None`` for library defaults)."""
        return dataclasses.asdict(self)


FIELDS = tuple(f.name for f in dataclasses.fields(Options))
"""Every option; ``connman_options.reserved`` (room for later versions, always
zero) is deliberately not one."""
_FLAGS = frozenset({"nodelay", "resolve_in_background"})  # also take a bool

OptionsLike: TypeAlias = Options | Mapping[str, int | None] | None
"""What an ``options`` argument takes: an :class:`Options`, a dict of its
fields, or None for the library's defaults."""


def to_c(options: OptionsLike) -> connman_options | None:
    """The ``connman_options`` for an ``options`` argument (None: the defaults)."""
    if options is None:
        return None
    values: Mapping[str, object]
    if isinstance(options, Options):
        values = options.to_dict()
    elif isinstance(options, Mapping):
        unknown = [k for k in options if k not in FIELDS]
        if unknown:
            raise TypeError(
                f"unknown option(s) {', '.join(map(repr, unknown))}; "
                f"valid options are: {', '.join(FIELDS)}"
            )
        values = options
    else:
        raise TypeError(
            f"options must be None, a dict or connman.Options, not {type(options).__name__}"
        )
    c = lib().connman_options_default()
    for name, value in values.items():
        if value is None:
            continue
        v = integer(int(value) if name in _FLAGS and isinstance(value, bool) else value,
                    f"option {name}")
        if not 0 <= v <= 0xFFFFFFFF:
            raise ValueError(f"option {name} must be in 0..4294967295, got {v}")
        setattr(c, name, v)
    return c
