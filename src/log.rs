//! What the library says about itself: failed attempts, resolution failures,
//! resets and their reasons, reconnects, caught panics. Each message is about one
//! connection (its id) or none (id 0). Nothing is formatted unless its level is
//! enabled; without a hook, errors go to stderr and nothing else is written.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

/// How much a message matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Something is wrong and the library could not carry on as asked.
    Error = 1,
    /// Something failed and will be retried (an attempt, a resolution).
    Warn = 2,
    /// A connection changed state (reset, reconnected).
    Info = 3,
    /// Details.
    Debug = 4,
}

/// The most detailed level delivered now (0: nothing).
static MAX_LEVEL: AtomicU8 = AtomicU8::new(Level::Error as u8);

/// Whether a message of `level` would be delivered (checked before formatting).
#[inline]
pub(crate) fn enabled(level: Level) -> bool {
    level as u8 <= MAX_LEVEL.load(Relaxed)
}

/// Delivers one message; call through [`log!`] so that nothing is formatted for a
/// level that is off.
pub(crate) fn write(level: Level, conn: u64, args: fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = level;
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
