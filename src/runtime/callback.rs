//! Running the application's callbacks: which thread is inside a loop (so that
//! calls made from callbacks can tell), and one function that runs a callback
//! with the contract's rules (nothing but on_close after a disconnect; a panic in
//! the handler is reported and contained).

use super::event_loop::LoopShared;
use crate::conn::ConnShared;
use crate::handler::Handler;
use crate::log::{log, Level};
use std::cell::RefCell;
use std::os::fd::RawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

thread_local! {
    /// The loop this thread is running: a loop thread's own, or, in embedded mode,
    /// the loop `dispatch` (or `shutdown`) is running on this thread right now.
    static CURRENT: RefCell<Option<Arc<LoopShared>>> = const { RefCell::new(None) };
}

/// Marks this thread as running `lp` until the guard drops.
pub(crate) struct InLoop(Option<Arc<LoopShared>>);

pub(crate) fn enter(lp: &Arc<LoopShared>) -> InLoop {
    InLoop(CURRENT.with(|c| c.replace(Some(lp.clone()))))
}

impl Drop for InLoop {
    fn drop(&mut self) {
        let prev = self.0.take();
        CURRENT.with(|c| *c.borrow_mut() = prev);
    }
}

/// True inside a loop, i.e. inside a callback (or on a loop thread).
pub(crate) fn in_loop() -> bool {
    CURRENT.with(|c| c.borrow().is_some())
}

/// Inside a callback of a loop that is shutting down (on_close during shutdown):
/// nothing new may start, or shutdown would leave it running.
pub(crate) fn loop_is_stopping() -> bool {
    CURRENT.with(|c| c.borrow().as_ref().is_some_and(|lp| !lp.is_accepting()))
}

/// Which callback to run.
pub(crate) enum Call<'a> {
    Connect(RawFd),
    Reset,
    Reconnect(RawFd),
    Data(&'a [u8]),
    Close,
}

/// Runs one callback of `h`, the connection's handler, unless disconnect was asked
/// (then only on_close runs). A panic in the handler is reported and contained.
pub(crate) fn invoke(sh: &ConnShared, h: &dyn Handler, call: Call<'_>) {
    let is_close = matches!(call, Call::Close);
    if !is_close && sh.closing.load(SeqCst) {
        return;
    }
    let conn = sh.conn();
    let name = match call {
        Call::Connect(_) => "on_connect",
        Call::Reset => "on_reset",
        Call::Reconnect(_) => "on_reconnect",
        Call::Data(_) => "on_data",
        Call::Close => "on_close",
    };
    let _scope = crate::conn::callback_scope(sh.id);
    let r = catch_unwind(AssertUnwindSafe(|| match call {
        Call::Connect(fd) => h.on_connect(conn, fd),
        Call::Reset => h.on_reset(conn),
        Call::Reconnect(fd) => h.on_reconnect(conn, fd),
        Call::Data(d) => h.on_data(conn, d),
        Call::Close => h.on_close(conn),
    }));
    if r.is_err() {
        log!(
            Level::Error,
            sh.id,
            "handler {name} panicked; the connection keeps being managed"
        );
    }
}
