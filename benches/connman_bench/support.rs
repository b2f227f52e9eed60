//! Small things every metric uses: the clock, the error type, a one-shot signal,
//! waits, and a shutdown with a deadline.

use std::sync::{mpsc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub(crate) use testkit::wait_for;

pub(crate) static BASE: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since the bench started (cheap enough for callbacks).
pub(crate) fn now_ns() -> u64 {
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

pub(crate) type R<T> = Result<T, String>;

/// A one-shot flag a thread can wait on with a timeout.
#[derive(Default)]
pub(crate) struct Signal {
    m: Mutex<bool>,
    c: Condvar,
}

impl Signal {
    pub(crate) fn set(&self) {
        *self.m.lock().unwrap() = true;
        self.c.notify_all();
    }
    pub(crate) fn clear(&self) {
        *self.m.lock().unwrap() = false;
    }
    pub(crate) fn wait(&self, timeout: Duration) -> bool {
        let g = self.m.lock().unwrap();
        let (g, _) = self.c.wait_timeout_while(g, timeout, |set| !*set).unwrap();
        *g
    }
}

/// `connman::shutdown`, but failing instead of hanging if it takes over 30 s.
pub(crate) fn shutdown_bounded() -> R<()> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(connman::shutdown());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("shutdown: {e:?}")),
        Err(_) => Err("connman::shutdown did not return within 30 s".into()),
    }
}
