//! C functions for the log hook.

use super::handler::conn_c;
use super::types::*;
use crate::error::Error;
use crate::log::{Level, LogFn};
use std::ffi::{c_void, CString};
use std::sync::Arc;

/// Where the library's messages go: `fn(ctx, level, conn, message)` for every
/// message up to `max_level` (`CONNMAN_LOG_ERROR` .. `CONNMAN_LOG_DEBUG`; 0: none).
/// A NULL `fn` restores the default: messages up to `max_level` written to stderr
/// (the library starts with errors only on stderr).
///
/// Logged: failed connect attempts with the address and the errno's text and
/// connect timeouts (WARN), resolution failures with the host and the resolver's
/// reason (WARN), connects, resets with their reason (EOF, ECONNRESET, idle,
/// keepalive or user timeout) and reconnects (INFO), descriptors given up and
/// caught panics (ERROR). `conn` is the connection the message is about (`id` 0:
/// the library as a whole). `message` is valid only during the call.
///
/// The hook runs on the thread that logs (a library loop thread, or the thread
/// inside a connman call), possibly on several threads at once with
/// `threads` > 1; it may call connman functions, this one included. Nothing is
/// formatted for levels above `max_level`. Replacing or removing the hook while
/// connections run is safe, but a call of the old hook may still be running on
/// another thread when this function returns: keep the old `ctx` valid until
/// `connman_shutdown` returned (or make it a static).
/// Errors: `CONNMAN_ERR_INVALID_ARGUMENT` (max_level outside 0..4).
#[no_mangle]
pub extern "C" fn connman_set_log(
    r#fn: connman_log_fn,
    ctx: *mut c_void,
    max_level: connman_log_level,
) -> connman_result {
    ffi_guard!("connman_set_log", {
        let max = match max_level {
            0 => None,
            l => Some(Level::from_code(l).ok_or_else(|| {
                Error::invalid(format_args!(
                    "max_level must be 0 to 4 (CONNMAN_LOG_DEBUG), got {l}"
                ))
            })?),
        };
        let hook = r#fn.map(|f| {
            let ctx = LogCtx(ctx);
            Arc::new(move |level: Level, conn: Option<crate::Conn>, msg: &str| {
                let ctx = &ctx;
                let text = CString::new(msg.replace('\0', " ")).unwrap_or_default();
                let conn = conn.map_or(connman_conn { id: 0 }, conn_c);
                // SAFETY: the application's hook, called as documented, with a
                // NUL-terminated message live for the call.
                unsafe { f(ctx.0, level as connman_log_level, conn, text.as_ptr()) }
            }) as LogFn
        });
        crate::log::set_log(hook, max);
        Ok(())
    })
}

/// The hook's context pointer, carried to the threads that log.
struct LogCtx(*mut c_void);
// SAFETY: the library never dereferences the pointer; it passes it back to the
// application's hook, which connman_set_log documents may run on any thread.
unsafe impl Send for LogCtx {}
// SAFETY: as above: only the pointer value is shared.
unsafe impl Sync for LogCtx {}

const _: () = assert!(CONNMAN_LOG_ERROR == Level::Error as i32);
const _: () = assert!(CONNMAN_LOG_WARN == Level::Warn as i32);
const _: () = assert!(CONNMAN_LOG_INFO == Level::Info as i32);
const _: () = assert!(CONNMAN_LOG_DEBUG == Level::Debug as i32);
