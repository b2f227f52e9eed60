//! What the library says about itself: failed attempts (with the address and the
//! errno's text), resolution failures, resets and their reasons, reconnects,
//! connect timeouts, descriptors given up, caught panics. Each message is about
//! one connection or none. Nothing is formatted unless its level is enabled;
//! without a hook, errors go to stderr and nothing else is written.

use crate::conn::Conn;
use parking_lot::RwLock;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;

/// How much a message matters (the C `connman_log_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Something is wrong and the library could not carry on as asked.
    Error = 1,
    /// Something failed and will be retried: an attempt, a name resolution.
    Warn = 2,
    /// A connection changed state: connected, reset (and why), reconnected.
    Info = 3,
    /// Details.
    Debug = 4,
}

impl Level {
    /// The level of a C value (1 to 4).
    pub fn from_code(code: i32) -> Option<Level> {
        Some(match code {
            1 => Level::Error,
            2 => Level::Warn,
            3 => Level::Info,
            4 => Level::Debug,
            _ => return None,
        })
    }
}

/// A log hook: the level, the connection the message is about (None: the library
/// as a whole) and the message. It runs on the thread that logs (a loop thread, or
/// the application's thread inside a call); it may call connman functions.
pub type LogFn = Arc<dyn Fn(Level, Option<Conn>, &str) + Send + Sync>;

/// The most detailed level delivered now (0: nothing).
static MAX_LEVEL: AtomicU8 = AtomicU8::new(Level::Error as u8);
/// The hook; None: stderr.
static HOOK: RwLock<Option<LogFn>> = RwLock::new(None);
/// Messages formatted so far (tests hold the "nothing formatted when off" promise
/// to this).
static FORMATTED: AtomicU64 = AtomicU64::new(0);

/// Sends messages up to `max_level` to `hook`, or (None) to stderr. Replacing or
/// removing the hook is safe while connections run and from inside the hook.
pub fn set_log(hook: Option<LogFn>, max_level: Option<Level>) {
    *HOOK.write() = hook;
    MAX_LEVEL.store(max_level.map_or(0, |l| l as u8), Relaxed);
}

/// Whether a message of `level` would be delivered (checked before formatting).
#[inline]
pub(crate) fn enabled(level: Level) -> bool {
    level as u8 <= MAX_LEVEL.load(Relaxed)
}

/// How many messages the library has formatted (for tests).
#[doc(hidden)]
pub fn formatted_count() -> u64 {
    FORMATTED.load(Relaxed)
}

/// Delivers one message; call through [`log!`] so that nothing is formatted for a
/// level that is off. The hook is called with no lock held (it may set a new one).
pub(crate) fn write(level: Level, conn: u64, args: fmt::Arguments<'_>) {
    FORMATTED.fetch_add(1, Relaxed);
    let hook = HOOK.read().clone();
    match hook {
        Some(h) => {
            let text = fmt::format(args);
            let call = || h(level, (conn != 0).then(|| Conn::from_id(conn)), &text);
            // A Rust hook that panics must not unwind into the state machine (a
            // half-made transition) or the loop: the message goes to stderr instead.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).is_err() {
                to_stderr(conn, format_args!("{text} (the log hook panicked)"));
            }
        }
        None => to_stderr(conn, args),
    }
}

fn to_stderr(conn: u64, args: fmt::Arguments<'_>) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = if conn == 0 {
        writeln!(err, "connman: {args}")
    } else {
        writeln!(err, "connman: connection {conn}: {args}")
    };
}

/// `log!(Level::Warn, conn_id, "format", args...)`: formats and delivers only if
/// the level is enabled.
macro_rules! log {
    ($level:expr, $conn:expr, $($arg:tt)+) => {
        if $crate::log::enabled($level) {
            $crate::log::write($level, $conn, format_args!($($arg)+));
        }
    };
}
pub(crate) use log;
