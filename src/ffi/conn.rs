//! C functions for single connections.

use super::check;
use super::handler::FfiHandler;
use super::types::*;
use crate::error::Error;
use crate::options::Options;
use crate::Conn;
use std::ffi::{c_char, c_int};
use std::sync::Arc;

pub(super) fn options(p: *const connman_options) -> Result<Options, Error> {
    match check::optional("options", p)? {
        None => Ok(Options::default()),
        Some(o) => o.to_core(),
    }
}

fn conn(c: connman_conn) -> Conn {
    Conn::from_id(c.id)
}

/// The default options (see `connman_options` for each value).
#[no_mangle]
pub extern "C" fn connman_options_default() -> connman_options {
    ffi_guard!("connman_options_default", DEFAULT_OPTIONS => { connman_options::from_core(&Options::default()) })
}
/// Opens a managed connection to `host`:`port` and keeps it open until
/// `connman_disconnect`.
///
/// `host` is a name or a numeric IPv4/IPv6 address (NUL-terminated UTF-8, 1 to 253
/// bytes); names are resolved on this call's thread (so an unresolvable name fails
/// here with `CONNMAN_ERR_RESOLVE`; with `options.resolve_in_background` = 1 never
/// here) and afresh, off the library's loops, before each later round of attempts;
/// every address is tried in turn. `handler` is copied; `options` may be NULL for
/// the defaults.
///
/// Returns at once; the connect happens on the library's loop and `on_connect` runs
/// when it succeeds. Until then, and between `on_reset` and `on_reconnect`, the
/// connection is retried forever with backoff; `connman_get_stats` shows why it
/// fails, and so does the log (`connman_set_log`). On success `*out` receives the
/// handle. Any thread, callbacks included (a name lookup there stalls other
/// callbacks for its duration: prefer numeric addresses or
/// `resolve_in_background` inside callbacks).
///
/// Errors: `CONNMAN_ERR_INVALID_ARGUMENT` (NULL host, handler or out; empty or too
/// long host; port 0; bad options), `CONNMAN_ERR_RESOLVE`, `CONNMAN_ERR_OS`.
#[no_mangle]
pub extern "C" fn connman_connect(
    port: u16,
    host: *const c_char,
    handler: *const connman_handler,
    options: *const connman_options,
    out: *mut connman_conn,
) -> connman_result {
    ffi_guard!("connman_connect", {
        let host = check::c_str("host", host, CONNMAN_MAX_HOST_LEN)?;
        let handler = *check::input("handler", handler)?;
        let opts = self::options(options)?;
        let out = check::out("out", out)?;
        let c = crate::connect(port, host, Arc::new(FfiHandler(handler)), &opts)?;
        out.write(connman_conn { id: c.id() });
        Ok(())
    })
}
/// Finds the most recently opened live single (non-pool) connection to exactly this
/// `host` string and `port` (as given to `connman_connect`: "localhost" and
/// "127.0.0.1" are different keys). Errors: `CONNMAN_ERR_INVALID_ARGUMENT`,
/// `CONNMAN_ERR_NOT_FOUND`.
#[no_mangle]
pub extern "C" fn connman_get_connection(
    port: u16,
    host: *const c_char,
    out: *mut connman_conn,
) -> connman_result {
    ffi_guard!("connman_get_connection", {
        let host = check::c_str("host", host, CONNMAN_MAX_HOST_LEN)?;
        let out = check::out("out", out)?;
        let c = crate::get_connection(port, host)?;
        out.write(connman_conn { id: c.id() });
        Ok(())
    })
}
/// Opens a managed connection to the Unix domain socket at `path` and keeps it open
/// until `connman_disconnect`, exactly as `connman_connect` does for TCP: a stable
/// descriptor, reconnect with backoff when the server's socket goes away and comes
/// back (ENOENT or ECONNREFUSED in `last_error` meanwhile), pools, disconnect.
///
/// `path` is a filesystem path (1 to `CONNMAN_MAX_UNIX_PATH_LEN` bytes), or `@name`
/// for the Linux abstract namespace (`name` up to `CONNMAN_MAX_UNIX_PATH_LEN`
/// bytes). The TCP options (`keepalive_*`, `user_timeout_ms`, `nodelay`) are
/// ignored; `resolve_in_background` has nothing to do. Errors:
/// `CONNMAN_ERR_INVALID_ARGUMENT` (NULL, empty or too long path; NULL handler or
/// out; bad options), `CONNMAN_ERR_OS`.
#[no_mangle]
pub extern "C" fn connman_connect_unix(
    path: *const c_char,
    handler: *const connman_handler,
    options: *const connman_options,
    out: *mut connman_conn,
) -> connman_result {
    ffi_guard!("connman_connect_unix", {
        let path = check::c_str("path", path, usize::MAX)?;
        let handler = *check::input("handler", handler)?;
        let opts = self::options(options)?;
        let out = check::out("out", out)?;
        let c = crate::connect_unix(path, Arc::new(FfiHandler(handler)), &opts)?;
        out.write(connman_conn { id: c.id() });
        Ok(())
    })
}
/// Finds the most recently opened live single (non-pool) connection to exactly
/// this Unix socket `path` (as given to `connman_connect_unix`). Errors:
/// `CONNMAN_ERR_INVALID_ARGUMENT`, `CONNMAN_ERR_NOT_FOUND`.
#[no_mangle]
pub extern "C" fn connman_get_connection_unix(
    path: *const c_char,
    out: *mut connman_conn,
) -> connman_result {
    ffi_guard!("connman_get_connection_unix", {
        let path = check::c_str("path", path, usize::MAX)?;
        let out = check::out("out", out)?;
        let c = crate::get_connection_unix(path)?;
        out.write(connman_conn { id: c.id() });
        Ok(())
    })
}
/// The connection's descriptor: the same number from `connman_connect` until
/// `on_close`, across every reconnect. -1 for a stale handle or once closed.
#[no_mangle]
pub extern "C" fn connman_fd(conn: connman_conn) -> c_int {
    ffi_guard!("connman_fd", -1 => { self::conn(conn).fd().unwrap_or(-1) })
}
/// Finds the connection whose descriptor is `fd`. Errors:
/// `CONNMAN_ERR_INVALID_ARGUMENT` (negative fd or NULL out), `CONNMAN_ERR_NOT_FOUND`.
#[no_mangle]
pub extern "C" fn connman_conn_from_fd(fd: c_int, out: *mut connman_conn) -> connman_result {
    ffi_guard!("connman_conn_from_fd", {
        let out = check::out("out", out)?;
        let c = crate::conn_from_fd(fd)?;
        out.write(connman_conn { id: c.id() });
        Ok(())
    })
}
/// Sends `len` bytes: written at once when the send queue is empty, the rest (or
/// all, when the queue is not empty) queued and written by the connection's loop in
/// order. All or nothing: on any error nothing of this call was queued. Never raises
/// SIGPIPE. Queued bytes still unsent at a reset are discarded (counted in
/// `bytes_discarded`). Any thread, callbacks included. Writing to the descriptor
/// directly is the zero-overhead alternative; do not mix both while data is queued.
///
/// While reconnecting, with `options.send_while_reconnecting` > 0, the bytes are
/// held instead and sent once the connection is back, after what `on_reconnect`
/// sends.
///
/// Errors: `CONNMAN_ERR_NOT_CONNECTED` (not up now), `CONNMAN_ERR_WOULD_BLOCK`
/// (queue full, or the reconnect hold full: retry later), `CONNMAN_ERR_TOO_LARGE` (len > send_queue_limit),
/// `CONNMAN_ERR_CLOSED`, `CONNMAN_ERR_NOT_FOUND`, `CONNMAN_ERR_INVALID_ARGUMENT`
/// (NULL data with len > 0). len 0 is a successful no-op when connected.
#[no_mangle]
pub extern "C" fn connman_send(conn: connman_conn, data: *const u8, len: usize) -> connman_result {
    ffi_guard!("connman_send", {
        let data = check::bytes("data", data, len)?;
        self::conn(conn).send(data)
    })
}
/// Closes the connection for good: in any state (first connect in flight,
/// connected, backing off, reconnecting), from any thread, from inside callbacks
/// (its own included). Returns at once; `on_close` then runs on the connection's
/// thread (in embedded mode: inside a later `connman_dispatch`), exactly once, and
/// is the last callback. A second call returns
/// `CONNMAN_ERR_CLOSED`; after `on_close`, `CONNMAN_ERR_NOT_FOUND`.
#[no_mangle]
pub extern "C" fn connman_disconnect(conn: connman_conn) -> connman_result {
    ffi_guard!("connman_disconnect", { self::conn(conn).disconnect() })
}
/// Copies the connection's counters and state into `*out`. Any thread. Errors:
/// `CONNMAN_ERR_INVALID_ARGUMENT` (NULL out), `CONNMAN_ERR_NOT_FOUND`.
#[no_mangle]
pub extern "C" fn connman_get_stats(conn: connman_conn, out: *mut connman_stats) -> connman_result {
    ffi_guard!("connman_get_stats", {
        let out = check::out("out", out)?;
        let s = self::conn(conn).stats()?;
        out.write(s.into());
        Ok(())
    })
}
