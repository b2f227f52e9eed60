//! A C `connman_handler` as a core [`Handler`].

use super::types::{connman_conn, connman_handler};
use crate::conn::Conn;
use crate::handler::Handler;
use std::os::fd::RawFd;

/// The C callbacks, called on the reactor thread.
pub(super) struct FfiHandler(pub(super) connman_handler);

// SAFETY: the library never dereferences ctx; it only passes it back to the C
// callbacks, which run on the single reactor thread, one at a time. Sharing the
// pointer value across threads (connman_pool_get_handler) is the C contract.
unsafe impl Send for FfiHandler {}
// SAFETY: as above: &FfiHandler only exposes copies of plain pointer values.
unsafe impl Sync for FfiHandler {}

pub(crate) fn conn_c(conn: Conn) -> connman_conn {
    connman_conn { id: conn.id() }
}

impl Handler for FfiHandler {
    fn on_connect(&self, conn: Conn, fd: RawFd) {
        if let Some(f) = self.0.on_connect {
            // SAFETY: a C function pointer the application supplied, called as documented.
            unsafe { f(self.0.ctx, conn_c(conn), fd) }
        }
    }
    fn on_reset(&self, conn: Conn) {
        if let Some(f) = self.0.on_reset {
            // SAFETY: a C function pointer the application supplied, called as documented.
            unsafe { f(self.0.ctx, conn_c(conn)) }
        }
    }
    fn on_reconnect(&self, conn: Conn, fd: RawFd) {
        if let Some(f) = self.0.on_reconnect {
            // SAFETY: a C function pointer the application supplied, called as documented.
            unsafe { f(self.0.ctx, conn_c(conn), fd) }
        }
    }
    fn on_data(&self, conn: Conn, data: &[u8]) {
        if let Some(f) = self.0.on_data {
            // SAFETY: data is a live slice for the duration of the call.
            unsafe { f(self.0.ctx, conn_c(conn), data.as_ptr(), data.len()) }
        }
    }
    fn on_close(&self, conn: Conn) {
        if let Some(f) = self.0.on_close {
            // SAFETY: a C function pointer the application supplied, called as documented.
            unsafe { f(self.0.ctx, conn_c(conn)) }
        }
    }
}
