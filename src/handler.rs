//! The application's side of a connection: the callbacks.

use crate::conn::Conn;
use std::any::Any;
use std::os::fd::RawFd;

/// Callbacks of one connection. Every method has a no-op default.
///
/// All callbacks run on the library's single reactor thread, one at a time: callbacks
/// of one connection never run concurrently, and a slow callback delays every other
/// connection, so do not block in them. Any connman function may be called from
/// inside a callback (except [`crate::shutdown`], which returns
/// [`crate::Error::InCallback`] there).
///
/// Order: `on_connect` once, first; then `on_reset` and `on_reconnect` strictly
/// alternating; `on_data` only while connected; `on_close` exactly once, last, after
/// a disconnect (or shutdown). After `on_close` returns the library drops its
/// reference to the handler.
///
/// A panic in a callback is caught, reported on stderr, and the connection keeps
/// being managed.
pub trait Handler: Any + Send + Sync {
    /// The first connect succeeded; `fd` is the descriptor, stable for the
    /// connection's life. Write to it directly, or use [`Conn::send`]; do not read
    /// from it. `shutdown(fd, SHUT_RDWR)` forces a reconnect. Do not close it: if
    /// the application does, connman never closes or replaces what the number holds
    /// later; it gives the connection up (`on_close`, `last_error` EBADF).
    fn on_connect(&self, conn: Conn, fd: RawFd) {
        let _ = (conn, fd);
    }
    /// An established connection dropped (closed or reset by the peer, a half-close
    /// included, or a timeout). Every byte the peer sent before was delivered to
    /// `on_data` first. Writes to the descriptor fail until `on_reconnect`; data in
    /// flight at the reset is lost.
    fn on_reset(&self, conn: Conn) {
        let _ = conn;
    }
    /// The connection is back, on the same descriptor number as `on_connect` gave.
    fn on_reconnect(&self, conn: Conn, fd: RawFd) {
        let _ = (conn, fd);
    }
    /// Bytes arrived. `data` is valid only during the call.
    fn on_data(&self, conn: Conn, data: &[u8]) {
        let _ = (conn, data);
    }
    /// The connection is closed for good; the descriptor is already closed. Last callback.
    fn on_close(&self, conn: Conn) {
        let _ = conn;
    }
}
