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

impl Signal {
    pub(crate) fn is_set(&self) -> bool {
        *self.m.lock().unwrap()
    }
}

/// How the bench runs connman for a phase: its own loop threads, or embedded
/// (no library thread: the bench's poll loop on `connman::event_fd()` calls
/// `connman::dispatch()` on the measuring thread).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    Threads(u32),
    Embedded,
}

impl Mode {
    pub(crate) fn name(self) -> String {
        match self {
            Mode::Threads(1) => "own thread".into(),
            Mode::Threads(n) => format!("{n} threads"),
            Mode::Embedded => "embedded".into(),
        }
    }

    /// Shuts the running library down and configures it for this mode (configure
    /// is only allowed before the first connection or after shutdown).
    pub(crate) fn enter(self) -> R<Drive> {
        shutdown_bounded()?;
        let threads = match self {
            Mode::Threads(n) => n,
            Mode::Embedded => 0,
        };
        connman::configure(connman::Config { threads }).map_err(|e| format!("configure: {e:?}"))?;
        Ok(match self {
            Mode::Threads(_) => Drive::Own,
            Mode::Embedded => {
                Drive::Embedded(connman::event_fd().map_err(|e| format!("event_fd: {e:?}"))?)
            }
        })
    }
}

/// Waiting for the library: sleeping (its threads do the work), or, embedded,
/// polling its event descriptor and dispatching on this thread.
pub(crate) enum Drive {
    Own,
    Embedded(std::os::fd::RawFd),
}

impl Drive {
    /// Waits up to `limit` for `sig` to be set.
    pub(crate) fn wait(&self, sig: &Signal, limit: Duration) -> bool {
        match self {
            Drive::Own => sig.wait(limit),
            Drive::Embedded(_) => self.until(limit, || sig.is_set()),
        }
    }

    /// Waits up to `limit` for `cond`.
    pub(crate) fn until(&self, limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
        let Drive::Embedded(efd) = *self else {
            return wait_for(limit, cond);
        };
        let end = Instant::now() + limit;
        loop {
            if cond() {
                return true;
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            if testkit::sys::poll_fd(efd, libc::POLLIN, left.as_millis().clamp(1, 100) as i32) {
                let _ = connman::dispatch();
            }
        }
    }
}
