//! fork() safety. A child forked from a process that was using connman inherits a
//! copy of the library's memory but none of its threads: its locks may be held
//! forever by threads that do not exist there, and its descriptors (the epoll
//! instance among them) are shared with the parent, so touching them would disturb
//! the parent's connections. The rule: in such a child every call fails at once
//! with [`Error::Forked`] and touches nothing; `exec` and `_exit` are safe.

use crate::error::{Error, Result};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Once;

static FORKED: AtomicBool = AtomicBool::new(false);
static WATCH: Once = Once::new();

/// Runs in the child right after fork(): one atomic store, async-signal-safe.
extern "C" fn in_child() {
    FORKED.store(true, Relaxed);
}

/// Fails with [`Error::Forked`] in a child forked after the library was first
/// used. Every entry point that reaches the library's state calls this first; the
/// first call registers the fork handler (a process that forks before using
/// connman gives its child a fresh library).
pub(crate) fn check() -> Result<()> {
    WATCH.call_once(|| {
        // SAFETY: registers a handler that only stores to an atomic; no preconditions.
        unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
    });
    if FORKED.load(Relaxed) {
        Err(Error::Forked)
    } else {
        Ok(())
    }
}
