//! C functions for how the library runs: its configuration, embedded mode, and
//! the messages that say why a call failed.

use super::check;
use super::types::*;
use std::ffi::c_int;

/// The default configuration: one I/O thread.
#[no_mangle]
pub extern "C" fn connman_config_default() -> connman_config {
    ffi_guard!("connman_config_default", DEFAULT_CONFIG => { DEFAULT_CONFIG })
}
/// Sets how the library runs from its next start on. Allowed before the first
/// connection and after `connman_shutdown` returned; otherwise
/// `CONNMAN_ERR_STATE` and nothing changes. NULL means the defaults. The library
/// starts (as configured) with the first `connman_connect`, `connman_pool_add` or
/// `connman_event_fd`. Errors: `CONNMAN_ERR_INVALID_ARGUMENT` (threads above
/// `CONNMAN_MAX_THREADS`, nonzero `reserved`), `CONNMAN_ERR_STATE`,
/// `CONNMAN_ERR_IN_CALLBACK`.
#[no_mangle]
pub extern "C" fn connman_configure(config: *const connman_config) -> connman_result {
    ffi_guard!("connman_configure", {
        let config = match check::optional("config", config)? {
            None => DEFAULT_CONFIG,
            Some(c) => *c,
        };
        crate::configure(config.to_core()?)
    })
}
/// Disconnects every connection and every pool (`connman_pool_disconnect` on each).
/// Returns at once; the `on_close` callbacks follow on the connections' threads
/// (in embedded mode: inside the next `connman_dispatch`).
#[no_mangle]
pub extern "C" fn connman_disconnect_all() -> connman_result {
    ffi_guard!("connman_disconnect_all", {
        crate::disconnect_all()?;
        Ok(())
    })
}
/// Disconnects everything, waits until every `on_close` has run and the library's
/// threads have exited, and releases every descriptor the library opened. Handles
/// become stale; a later `connman_connect` starts the library afresh. From inside a
/// callback (or a pool factory) it does nothing and returns
/// `CONNMAN_ERR_IN_CALLBACK`. It waits for name lookups in progress to finish. In
/// embedded mode the remaining `on_close` callbacks run on the calling thread
/// (after a `connman_dispatch` under way on another thread returned), and the
/// event descriptor is closed (by that other thread, as its dispatch returns, if
/// one was under way): remove it from your loop first.
/// `connman_connect` or `connman_pool_add` called from an `on_close` that runs during
/// the shutdown returns `CONNMAN_ERR_CLOSED`.
#[no_mangle]
pub extern "C" fn connman_shutdown() -> connman_result {
    ffi_guard!("connman_shutdown", { crate::shutdown() })
}
/// Embedded mode (`threads` = 0): the descriptor to watch for readability in the
/// application's loop (poll, epoll, libuv's uv_poll, GLib, ...). It becomes readable
/// whenever the library has work: I/O on a connection, a due timer (backoff,
/// connect or idle timeout), a request from another thread; call `connman_dispatch`
/// then. While nothing is due it stays unreadable (no periodic wake-ups). Starts
/// the library if needed; the same descriptor until `connman_shutdown`, which
/// closes it. Do not read from it, write to it or close it.
///
/// Returns -1 when the library is not in embedded mode, or in a `fork()` child
/// (`connman_last_error_message` says which).
#[no_mangle]
pub extern "C" fn connman_event_fd() -> c_int {
    ffi_guard!("connman_event_fd", -1 => {
        crate::error::begin_call();
        match crate::event_fd() {
            Ok(fd) => fd,
            Err(e) => {
                crate::error::end_call_failed("connman_event_fd", e);
                -1
            }
        }
    })
}
/// Embedded mode: does the work that is ready (reads, connects, timers, requests
/// from other threads) on the calling thread, running every callback inside this
/// call, and returns without blocking. Requests from other threads wait for it:
/// a program that stops dispatching while other threads keep connecting keeps
/// those connections' descriptors and requests queued until it dispatches again. Call it whenever `connman_event_fd` is
/// readable; calling it when nothing is ready is harmless. Level-triggered: if
/// work remains (a connection with more to read than one turn takes), the
/// descriptor stays readable. If another thread is dispatching at that moment,
/// returns `CONNMAN_OK` at once. Errors: `CONNMAN_ERR_STATE` (not in embedded mode),
/// `CONNMAN_ERR_IN_CALLBACK` (from inside a callback).
#[no_mangle]
pub extern "C" fn connman_dispatch() -> connman_result {
    ffi_guard!("connman_dispatch", { crate::dispatch() })
}
