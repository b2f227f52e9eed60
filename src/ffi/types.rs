//! The C types: result and state codes, handles, handler, options, stats.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::options::Options;
use crate::stats::{PoolStats, State, Stats};
use std::ffi::{c_int, c_void};
use std::time::Duration;

/// The version of this header: `connman_version()` returns
/// "MAJOR.MINOR.PATCH" of the library actually loaded. A program built against
/// this header runs with any library of the same major version, later minors
/// included (see "Structs that grow").
pub const CONNMAN_VERSION_MAJOR: u32 = 1;
/// See `CONNMAN_VERSION_MAJOR`.
pub const CONNMAN_VERSION_MINOR: u32 = 0;
/// See `CONNMAN_VERSION_MAJOR`.
pub const CONNMAN_VERSION_PATCH: u32 = 0;

/// Cargo.toml is the one source of truth: the header's literals must match it.
const fn parse_u32(s: &str) -> u32 {
    let b = s.as_bytes();
    let mut i = 0;
    let mut v = 0;
    while i < b.len() {
        v = v * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    v
}
const _: () = assert!(CONNMAN_VERSION_MAJOR == parse_u32(env!("CARGO_PKG_VERSION_MAJOR")));
const _: () = assert!(CONNMAN_VERSION_MINOR == parse_u32(env!("CARGO_PKG_VERSION_MINOR")));
const _: () = assert!(CONNMAN_VERSION_PATCH == parse_u32(env!("CARGO_PKG_VERSION_PATCH")));

/// Status of a connman call: `CONNMAN_OK` (0) or one of the `CONNMAN_ERR_*` codes.
/// Codes are never renumbered. `connman_strerror` describes them.
pub type connman_result = i32;

/// Success.
pub const CONNMAN_OK: connman_result = 0;
/// An argument was NULL, empty, too long, not UTF-8, out of range or malformed.
pub const CONNMAN_ERR_INVALID_ARGUMENT: connman_result = 1;
/// Unknown or stale handle, unknown pool name, or pool index out of range.
pub const CONNMAN_ERR_NOT_FOUND: connman_result = 2;
/// Disconnect was already requested for this connection or pool.
pub const CONNMAN_ERR_CLOSED: connman_result = 3;
/// The connection is not up right now (first connect pending, or reconnecting);
/// for `connman_pool_next`: no member is connected.
pub const CONNMAN_ERR_NOT_CONNECTED: connman_result = 4;
/// The send queue cannot take this message now; nothing of it was queued.
pub const CONNMAN_ERR_WOULD_BLOCK: connman_result = 5;
/// A pool with this name already exists.
pub const CONNMAN_ERR_EXISTS: connman_result = 6;
/// An internal bug was caught at the API boundary; the call had no effect or only
/// part of it. Please report it (the log says where).
pub const CONNMAN_ERR_PANIC: connman_result = 7;
/// The host name could not be resolved.
pub const CONNMAN_ERR_RESOLVE: connman_result = 8;
/// The message is larger than the connection's whole send queue (`send_queue_limit`).
pub const CONNMAN_ERR_TOO_LARGE: connman_result = 9;
/// The pool's handler factory refused (returned non-zero); nothing was added.
pub const CONNMAN_ERR_FACTORY: connman_result = 10;
/// Not allowed from inside a connman callback (`connman_shutdown`,
/// `connman_configure`, `connman_dispatch`), or re-entered from inside a pool's own
/// factory.
pub const CONNMAN_ERR_IN_CALLBACK: connman_result = 11;
/// An operating-system call failed (out of descriptors, threads or memory).
pub const CONNMAN_ERR_OS: connman_result = 12;
/// This process is a `fork()` child of a process that was using connman. The
/// library's state (threads, descriptors, locks) belongs to the parent, so every
/// call in the child returns this at once and touches nothing: exec or _exit.
pub const CONNMAN_ERR_FORKED: connman_result = 13;
/// Not allowed in the library's current state: `connman_configure` while the
/// library runs, `connman_dispatch` when not in embedded mode.
pub const CONNMAN_ERR_STATE: connman_result = 14;

// The header needs literal values; these keep each equal to the core's code (a
// mismatch does not compile). One line per code: a new `Error` variant needs one here.
const _: () = assert!(CONNMAN_ERR_INVALID_ARGUMENT == Error::InvalidArgument.code());
const _: () = assert!(CONNMAN_ERR_NOT_FOUND == Error::NotFound.code());
const _: () = assert!(CONNMAN_ERR_CLOSED == Error::Closed.code());
const _: () = assert!(CONNMAN_ERR_NOT_CONNECTED == Error::NotConnected.code());
const _: () = assert!(CONNMAN_ERR_WOULD_BLOCK == Error::WouldBlock.code());
const _: () = assert!(CONNMAN_ERR_EXISTS == Error::Exists.code());
const _: () = assert!(CONNMAN_ERR_PANIC == Error::Panic.code());
const _: () = assert!(CONNMAN_ERR_RESOLVE == Error::Resolve.code());
const _: () = assert!(CONNMAN_ERR_TOO_LARGE == Error::TooLarge.code());
const _: () = assert!(CONNMAN_ERR_FACTORY == Error::Factory.code());
const _: () = assert!(CONNMAN_ERR_IN_CALLBACK == Error::InCallback.code());
const _: () = assert!(CONNMAN_ERR_OS == Error::Os(0).code());
const _: () = assert!(CONNMAN_ERR_FORKED == Error::Forked.code());
const _: () = assert!(CONNMAN_ERR_STATE == Error::State.code());

/// State of a connection, in `connman_stats.state`.
pub type connman_state = i32;
/// The first connect has not succeeded yet.
pub const CONNMAN_STATE_CONNECTING: connman_state = 0;
/// Up: the descriptor carries a live connection.
pub const CONNMAN_STATE_CONNECTED: connman_state = 1;
/// Was up, dropped (`on_reset` ran), being re-established.
pub const CONNMAN_STATE_RECONNECTING: connman_state = 2;
/// Disconnect was requested; `on_close` has not run yet.
pub const CONNMAN_STATE_CLOSING: connman_state = 3;
/// Closed: `on_close` is running (after it returns the handle is stale and
/// `connman_get_stats` returns `CONNMAN_ERR_NOT_FOUND`).
pub const CONNMAN_STATE_CLOSED: connman_state = 4;

/// How much a log message matters (`connman_set_log`).
pub type connman_log_level = i32;
/// Something is wrong and the library could not carry on as asked.
pub const CONNMAN_LOG_ERROR: connman_log_level = 1;
/// Something failed and will be retried: a connect attempt, a name resolution.
pub const CONNMAN_LOG_WARN: connman_log_level = 2;
/// A connection changed state: connected, reset (with the reason), reconnected.
pub const CONNMAN_LOG_INFO: connman_log_level = 3;
/// Details.
pub const CONNMAN_LOG_DEBUG: connman_log_level = 4;

/// A log hook (see `connman_set_log`): `message` is valid only during the call;
/// `conn.id` is 0 for a message about no particular connection.
pub type connman_log_fn = Option<
    unsafe extern "C" fn(
        ctx: *mut c_void,
        level: connman_log_level,
        conn: connman_conn,
        message: *const std::ffi::c_char,
    ),
>;

/// Longest host name accepted, in bytes (the DNS limit).
pub const CONNMAN_MAX_HOST_LEN: usize = 253;
/// Longest pool name accepted, in bytes.
pub const CONNMAN_MAX_POOL_NAME_LEN: usize = 255;
/// Longest Unix socket path accepted, in bytes (for an abstract name, `@name`,
/// the bytes after the `@`).
pub const CONNMAN_MAX_UNIX_PATH_LEN: usize = 107;
/// Most I/O threads `connman_config.threads` may ask for.
pub const CONNMAN_MAX_THREADS: u32 = 64;

// The same for every state.
const _: () = assert!(CONNMAN_STATE_CONNECTING == State::Connecting.code());
const _: () = assert!(CONNMAN_STATE_CONNECTED == State::Connected.code());
const _: () = assert!(CONNMAN_STATE_RECONNECTING == State::Reconnecting.code());
const _: () = assert!(CONNMAN_STATE_CLOSING == State::Closing.code());
const _: () = assert!(CONNMAN_STATE_CLOSED == State::Closed.code());

// The header needs literal values; these keep them equal to the core's limits.
const _: () = assert!(CONNMAN_MAX_HOST_LEN == crate::MAX_HOST_LEN);
const _: () = assert!(CONNMAN_MAX_POOL_NAME_LEN == crate::MAX_POOL_NAME);
const _: () = assert!(CONNMAN_MAX_UNIX_PATH_LEN == crate::MAX_UNIX_PATH);
const _: () = assert!(CONNMAN_MAX_THREADS == crate::MAX_THREADS);

/// A connection handle, passed by value. `id` 0 is never a live handle. After the
/// connection's `on_close` returns, the handle is stale: every call with it returns
/// `CONNMAN_ERR_NOT_FOUND` (and `connman_fd` returns -1). Ids are never reused.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct connman_conn {
    pub id: u64,
}

/// A pool handle, passed by value. `id` 0 is never a live handle. Stale once the
/// pool was disconnected and every member's `on_close` has run.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct connman_pool {
    pub id: u64,
}

/// The application's callbacks for one connection. Every function pointer may be
/// NULL (no-op). Each receives `ctx` first and the connection handle second.
///
/// Threading: the callbacks of one connection run one at a time, all on one
/// thread: the library's thread (the default), one of its N threads
/// (`connman_config.threads` = N), or, in embedded mode, the thread calling
/// `connman_dispatch`. A slow callback delays the other connections of that thread.
/// Any connman function may be called from inside a callback (`connman_shutdown`,
/// `connman_configure` and `connman_dispatch` return `CONNMAN_ERR_IN_CALLBACK`
/// there). Callbacks must not unwind (no C++ exception or longjmp may leave them).
///
/// Order: `on_connect` exactly once, before any other; then `on_reset` and
/// `on_reconnect` strictly alternating; `on_data` only while connected; `on_close`
/// exactly once and last, after a disconnect or shutdown. After `on_close` returns
/// the library never touches `ctx` again, so `on_close` may free it. After
/// `connman_disconnect` returns, no callback but `on_close` starts.
///
/// The struct is copied by `connman_connect`; it need not outlive that call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct connman_handler {
    /// Passed back to every callback; the library never dereferences it.
    pub ctx: *mut c_void,
    /// The first connect succeeded. `fd` is the connection's descriptor, the same
    /// number for its whole life: write to it directly (use `send(..., MSG_NOSIGNAL)`
    /// or ignore SIGPIPE) or with `connman_send`. It is nonblocking (a raw write may
    /// be partial or fail with EAGAIN) and close-on-exec. Do not read from it:
    /// incoming bytes arrive through `on_data`. To force a reconnect, call
    /// `shutdown(fd, SHUT_RDWR)` on it: that counts as a drop (`on_reset`, then
    /// `on_reconnect` on the same number). Do not close it: if the application does,
    /// connman notices the next time it would touch the number (when `on_connect`
    /// or `on_reconnect` returns, at a drop, an idle timeout, a reconnect or the
    /// disconnect), never closes or replaces whatever the number
    /// holds by then, and gives the connection up: `on_close` runs (inside it,
    /// `connman_get_stats` shows `last_error` EBADF) and an error is reported. A
    /// new connman connection that gets the freed number gives the old one up at
    /// once. Until then, writes to the number (raw or with `connman_send`) go
    /// wherever the application pointed it.
    pub on_connect: Option<unsafe extern "C" fn(ctx: *mut c_void, conn: connman_conn, fd: c_int)>,
    /// An established connection dropped: the peer closed or reset it (a peer that
    /// only half-closes, `shutdown(SHUT_WR)`, counts as a drop too), a keepalive,
    /// user or idle timeout ended it, or the application shut the descriptor down.
    /// Every byte the peer sent before it was delivered to `on_data` first. Until
    /// `on_reconnect`, writes on the descriptor fail; data in flight at the reset is
    /// lost (retransmit it after `on_reconnect` if it matters) and queued
    /// `connman_send` data is discarded. `connman_send` fails with
    /// `CONNMAN_ERR_NOT_CONNECTED` meanwhile, or holds the bytes for later with
    /// `options.send_while_reconnecting`.
    pub on_reset: Option<unsafe extern "C" fn(ctx: *mut c_void, conn: connman_conn)>,
    /// The connection is back, on the same descriptor number `on_connect` gave.
    /// Socket options set by hand on the old socket must be set again here.
    pub on_reconnect: Option<unsafe extern "C" fn(ctx: *mut c_void, conn: connman_conn, fd: c_int)>,
    /// `len` bytes arrived (len > 0). `data` is valid only during the call.
    pub on_data: Option<
        unsafe extern "C" fn(ctx: *mut c_void, conn: connman_conn, data: *const u8, len: usize),
    >,
    /// The connection is closed for good and its descriptor is closed. Last callback.
    /// The handle becomes stale (`CONNMAN_ERR_NOT_FOUND`) when this returns, not
    /// before: another thread that saw a flag set in here may still briefly see
    /// `CONNMAN_STATE_CLOSED`.
    pub on_close: Option<unsafe extern "C" fn(ctx: *mut c_void, conn: connman_conn)>,
}

/// Makes the handler of pool member `index` (0, 1, 2, ... in the order of
/// `connman_pool_add`). Fill `*out` and return `CONNMAN_OK`; any other value
/// refuses and nothing is added. Called on the thread calling `connman_pool_add`.
pub type connman_handler_factory = Option<
    unsafe extern "C" fn(
        factory_ctx: *mut c_void,
        index: usize,
        out: *mut connman_handler,
    ) -> connman_result,
>;

/// Options of one connection. Get the defaults from `connman_options_default()` and
/// change what you need (`connman_options o = {0}` is not a valid start: zero is
/// not the default of every field); a NULL options pointer means the defaults. Times
/// are in milliseconds. An invalid value makes the call fail with
/// `CONNMAN_ERR_INVALID_ARGUMENT`, and `connman_last_error_message` names the field,
/// the value and the rule. The TCP options (`keepalive_*`, `user_timeout_ms`,
/// `nodelay`) are ignored for Unix-socket connections.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct connman_options {
    /// Delay before the first retry after a failed attempt (default 10; at least 1).
    /// Each failure doubles it, up to `backoff_max_ms`; each delay is drawn at random
    /// from [delay/2, delay] so that many clients do not retry in lockstep.
    pub backoff_initial_ms: u32,
    /// Ceiling of the backoff (default 128000; at least `backoff_initial_ms`).
    pub backoff_max_ms: u32,
    /// Longest time one connect attempt may take (default 10000; at least 1).
    pub connect_timeout_ms: u32,
    /// Reset the connection when nothing was received for this long (default 0: off).
    pub idle_timeout_ms: u32,
    /// A connection that drops within this time of connecting counts as a failed
    /// attempt, so the backoff keeps growing against a server that accepts and closes
    /// at once; one that lived longer is retried immediately (default 1000; at least 1).
    pub healthy_after_ms: u32,
    /// Bytes `connman_send` may hold queued (default 1048576; 1 to 1073741824).
    pub send_queue_limit: u32,
    /// TCP keepalive idle time before the first probe (default 30000; 0: keepalive
    /// off). Rounded up to whole seconds; at most 32767000.
    pub keepalive_idle_ms: u32,
    /// TCP keepalive interval between probes (default 10000; used when keepalive is on;
    /// 1 to 32767000, rounded up to whole seconds).
    pub keepalive_interval_ms: u32,
    /// TCP keepalive probes before the peer is declared dead (default 3; 1 to 127).
    /// Linux ignores the count while `user_timeout_ms` is set (the default): the
    /// connection then ends once `user_timeout_ms` passed without an answer, so to
    /// detect a vanished peer sooner, lower `user_timeout_ms` too.
    pub keepalive_count: u32,
    /// TCP_USER_TIMEOUT: how long sent data may stay unacknowledged before the
    /// connection is dropped (default 60000; 0: the system's default; at most 2147483647).
    pub user_timeout_ms: u32,
    /// TCP_NODELAY: 1 (default) disables Nagle's algorithm, 0 keeps it.
    pub nodelay: u32,
    /// While a connection that was healthy is being re-established (for
    /// `recovery_window_ms` after it dropped), retries are at most this far apart,
    /// jittered to [cap/2, cap], so a restarted server is found again quickly
    /// instead of after a long doubled backoff (default 250; 0: off). Retries after a
    /// flap (a connection that died within `healthy_after_ms`) are never capped.
    pub recovery_backoff_max_ms: u32,
    /// How long after a healthy connection dropped `recovery_backoff_max_ms`
    /// applies (default 10000); afterwards the normal backoff does.
    pub recovery_window_ms: u32,
    /// 1: never resolve the host name on the calling thread (what a thread running
    /// an event loop needs): `connman_connect` and `connman_pool_add` return at once,
    /// and an unresolvable name is retried with backoff like a refused connect
    /// (`connman_stats.last_resolve_error` says why). 0 (default): the first
    /// resolution happens in the call, so an unresolvable name fails it with
    /// `CONNMAN_ERR_RESOLVE`.
    pub resolve_in_background: u32,
    /// Bytes `connman_send` may hold while the connection is reconnecting (default
    /// 0: off, `connman_send` then fails with `CONNMAN_ERR_NOT_CONNECTED`; at most
    /// 1073741824). Held bytes are sent once the connection is back, after whatever
    /// the application sends inside `on_reconnect` (so a handshake written there
    /// goes first); until `on_reconnect` returns, a `connman_send` from another
    /// thread is held too, behind them. Beyond the bound `CONNMAN_ERR_WOULD_BLOCK`,
    /// nothing of that call held (so one send larger than the whole bound is never
    /// held). Held bytes come on top of `send_queue_limit`. Bytes in flight at the reset are still lost; bytes still held at
    /// disconnect count in `bytes_discarded`.
    pub send_while_reconnecting: u32,
    /// Room for fields of later versions: must be zero (see "Structs that grow").
    pub reserved: [u32; 17],
}

/// A snapshot of one connection, from `connman_get_stats`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct connman_stats {
    /// One of the `CONNMAN_STATE_*` values.
    pub state: connman_state,
    /// errno of the last failure, 0 if none: a connect error (ECONNREFUSED; ENOENT
    /// for a Unix socket whose file is missing), ETIMEDOUT (connect, idle, keepalive
    /// or user timeout), a socket error (ECONNRESET), or EBADF when the application
    /// closed the descriptor and the connection was given up.
    pub last_error: i32,
    /// getaddrinfo's `EAI_*` code of the last failed name resolution, 0 if none.
    pub last_resolve_error: i32,
    /// Successful connects, the first included.
    pub connects: u64,
    /// Established connections that dropped.
    pub resets: u64,
    /// Connect attempts (one per address tried).
    pub attempts: u64,
    /// Failed attempts since the last successful connect.
    pub consecutive_failures: u64,
    /// Bytes delivered to `on_data`.
    pub bytes_received: u64,
    /// Bytes `connman_send` handed to the kernel.
    pub bytes_sent: u64,
    /// Bytes `connman_send` accepted but that were still queued at a reset, and dropped.
    pub bytes_discarded: u64,
    /// Bytes waiting to be sent now: queued by `connman_send`, and held while
    /// reconnecting (`send_while_reconnecting`).
    pub send_queue_bytes: u64,
    /// Room for fields of later versions: written as zero.
    pub reserved: [u64; 8],
}

/// A snapshot of a pool, from `connman_pool_get_stats`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct connman_pool_stats {
    /// Members ever added: valid indexes are 0 .. members-1.
    pub members: usize,
    /// Members connected now.
    pub connected: usize,
    /// Members whose `on_close` has run.
    pub closed: usize,
    /// Room for fields of later versions: written as zero.
    pub reserved: [u64; 5],
}

/// How the library runs, for `connman_configure`. Get the defaults from
/// `connman_config_default()` and change what you need.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct connman_config {
    /// Library I/O threads (default 1; at most `CONNMAN_MAX_THREADS`). 1: one
    /// library thread runs every callback. N > 1: connections are spread over N
    /// threads; all callbacks of one connection run on one of them, serially, but
    /// callbacks of different connections may run at the same time. 0: embedded
    /// mode, no I/O thread: see "Running on your own loop".
    pub threads: u32,
    /// Room for fields of later versions: must be zero.
    pub reserved: [u32; 15],
}

/// The defaults as a constant (what `connman_options_default` returns).
pub(crate) const DEFAULT_OPTIONS: connman_options = connman_options {
    backoff_initial_ms: 10,
    backoff_max_ms: 128_000,
    connect_timeout_ms: 10_000,
    idle_timeout_ms: 0,
    healthy_after_ms: 1_000,
    send_queue_limit: 1 << 20,
    keepalive_idle_ms: 30_000,
    keepalive_interval_ms: 10_000,
    keepalive_count: 3,
    user_timeout_ms: 60_000,
    nodelay: 1,
    recovery_backoff_max_ms: 250,
    recovery_window_ms: 10_000,
    resolve_in_background: 0,
    send_while_reconnecting: 0,
    reserved: [0; 17],
};

/// The default configuration (what `connman_config_default` returns).
pub(crate) const DEFAULT_CONFIG: connman_config = connman_config {
    threads: 1,
    reserved: [0; 15],
};

fn ms(v: u32) -> Duration {
    Duration::from_millis(v as u64)
}

fn nonzero_ms(v: u32) -> Option<Duration> {
    (v != 0).then(|| ms(v))
}

impl connman_options {
    pub(crate) fn from_core(o: &Options) -> Self {
        let m = |d: Duration| d.as_millis().min(u32::MAX as u128) as u32;
        connman_options {
            backoff_initial_ms: m(o.backoff_initial),
            backoff_max_ms: m(o.backoff_max),
            connect_timeout_ms: m(o.connect_timeout),
            idle_timeout_ms: o.idle_timeout.map_or(0, m),
            healthy_after_ms: m(o.healthy_after),
            send_queue_limit: o.send_queue_limit.min(u32::MAX as usize) as u32,
            keepalive_idle_ms: o.keepalive_idle.map_or(0, m),
            keepalive_interval_ms: m(o.keepalive_interval),
            keepalive_count: o.keepalive_count,
            user_timeout_ms: o.user_timeout.map_or(0, m),
            nodelay: o.nodelay as u32,
            recovery_backoff_max_ms: o.recovery_backoff_max.map_or(0, m),
            recovery_window_ms: m(o.recovery_window),
            resolve_in_background: o.resolve_in_background as u32,
            send_while_reconnecting: o.send_while_reconnecting.min(u32::MAX as usize) as u32,
            reserved: [0; 17],
        }
    }

    pub(crate) fn to_core(self) -> Result<Options> {
        unknown_fields("connman_options", &self.reserved)?;
        flag("nodelay", self.nodelay)?;
        flag("resolve_in_background", self.resolve_in_background)?;
        let o = Options {
            backoff_initial: ms(self.backoff_initial_ms),
            backoff_max: ms(self.backoff_max_ms),
            connect_timeout: ms(self.connect_timeout_ms),
            idle_timeout: nonzero_ms(self.idle_timeout_ms),
            healthy_after: ms(self.healthy_after_ms),
            send_queue_limit: self.send_queue_limit as usize,
            keepalive_idle: nonzero_ms(self.keepalive_idle_ms),
            keepalive_interval: ms(self.keepalive_interval_ms),
            keepalive_count: self.keepalive_count,
            user_timeout: nonzero_ms(self.user_timeout_ms),
            nodelay: self.nodelay == 1,
            recovery_backoff_max: nonzero_ms(self.recovery_backoff_max_ms),
            recovery_window: ms(self.recovery_window_ms),
            resolve_in_background: self.resolve_in_background == 1,
            send_while_reconnecting: self.send_while_reconnecting as usize,
        };
        o.validate()?;
        Ok(o)
    }
}

/// A 0/1 option field.
fn flag(name: &str, v: u32) -> Result<()> {
    if v > 1 {
        return Err(Error::invalid(format_args!(
            "options.{name} must be 0 or 1, got {v}"
        )));
    }
    Ok(())
}

/// Reserved space must be zero: a nonzero word is a field this library does not
/// know, set by a program built against a newer connman.h.
fn unknown_fields<T: Copy + Default + PartialEq + std::fmt::Display>(
    strukt: &str,
    reserved: &[T],
) -> Result<()> {
    match reserved.iter().position(|v| *v != T::default()) {
        None => Ok(()),
        Some(i) => Err(Error::invalid(format_args!(
            "{strukt}.reserved[{i}] is {}: a field this libconnman ({}) does not know              (the program was built against a newer connman.h, or did not start from              the _default() values)",
            reserved[i],
            crate::VERSION
        ))),
    }
}

impl connman_config {
    pub(crate) fn to_core(self) -> Result<Config> {
        unknown_fields("connman_config", &self.reserved)?;
        let c = Config {
            threads: self.threads,
        };
        c.validate()?;
        Ok(c)
    }
}

impl From<Stats> for connman_stats {
    fn from(s: Stats) -> Self {
        connman_stats {
            state: s.state.code(),
            last_error: s.last_error,
            last_resolve_error: s.last_resolve_error,
            connects: s.connects,
            resets: s.resets,
            attempts: s.attempts,
            consecutive_failures: s.consecutive_failures,
            bytes_received: s.bytes_received,
            bytes_sent: s.bytes_sent,
            bytes_discarded: s.bytes_discarded,
            send_queue_bytes: s.send_queue_bytes,
            reserved: [0; 8],
        }
    }
}

impl From<PoolStats> for connman_pool_stats {
    fn from(s: PoolStats) -> Self {
        connman_pool_stats {
            members: s.members,
            connected: s.connected,
            closed: s.closed,
            reserved: [0; 5],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_options_constant_matches_core_defaults() {
        assert_eq!(
            DEFAULT_OPTIONS,
            connman_options::from_core(&Options::default())
        );
        assert_eq!(DEFAULT_OPTIONS.to_core().unwrap(), Options::default());
    }

    #[test]
    fn default_config_constant_matches_core_defaults() {
        assert_eq!(DEFAULT_CONFIG.to_core().unwrap(), Config::default());
    }

    #[test]
    fn bad_options_are_rejected() {
        let cases: [fn(&mut connman_options); 11] = [
            |o| o.backoff_initial_ms = 0,
            |o| o.backoff_max_ms = 5,
            |o| o.connect_timeout_ms = 0,
            |o| o.send_queue_limit = 0,
            |o| o.keepalive_count = 0,
            |o| o.keepalive_idle_ms = 40_000_000,
            |o| o.nodelay = 2,
            |o| o.reserved[3] = 1,
            |o| o.send_queue_limit = u32::MAX,
            |o| o.healthy_after_ms = 0,
            |o| o.user_timeout_ms = u32::MAX,
        ];
        for (i, f) in cases.iter().enumerate() {
            let mut o = DEFAULT_OPTIONS;
            f(&mut o);
            assert_eq!(o.to_core(), Err(Error::InvalidArgument), "case {i}");
        }
    }
}
