//! Error type of the safe API, its stable numeric codes (the C `connman_result`),
//! and the per-thread message that says why the last call failed.

use std::cell::{Cell, RefCell};
use std::ffi::CStr;
use std::fmt;

/// Everything that can go wrong in a connman call.
///
/// Each variant has a fixed numeric code ([`Error::code`]) shared with the C API;
/// codes are never renumbered. [`last_error_message`] says more about the last
/// failure on this thread (which argument, which value, the resolver's reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// An argument was NULL, empty, out of range or otherwise malformed.
    InvalidArgument,
    /// Unknown or stale handle, unknown pool, index out of range, nothing registered.
    NotFound,
    /// Disconnect was already asked for this connection or pool.
    Closed,
    /// The connection is not up right now (first connect pending, or reconnecting).
    NotConnected,
    /// The bounded send queue cannot take this message now; nothing was queued.
    WouldBlock,
    /// A pool with this name already exists.
    Exists,
    /// An internal bug was caught at the API boundary.
    Panic,
    /// The host name could not be resolved.
    Resolve,
    /// The message is larger than the connection's whole send queue limit.
    TooLarge,
    /// The pool's handler factory refused to make a handler.
    Factory,
    /// This function may not be called from inside a connman callback.
    InCallback,
    /// An operating-system call failed (descriptor or thread limits, memory).
    Os(i32),
    /// This process is a `fork()` child of a process that was using connman: the
    /// library's state belongs to the parent, so nothing may be done with it here.
    Forked,
    /// Not allowed in the library's current state: configuring while it runs, or
    /// dispatching when it is not in embedded mode.
    State,
}

/// Result of the safe API.
pub type Result<T> = std::result::Result<T, Error>;

/// The codes and their descriptions, in one table: `connman_strerror` and
/// `Display` both read it.
const DESCRIPTIONS: [&CStr; 15] = [
    c"success",
    c"invalid argument",
    c"not found (unknown or stale handle, unknown pool, or index out of range)",
    c"closed (disconnect was already requested)",
    c"not connected",
    c"would block (send queue full)",
    c"already exists (pool name taken)",
    c"internal error (a panic was caught)",
    c"host name could not be resolved",
    c"message larger than the send queue limit",
    c"handler factory refused",
    c"not allowed from inside a connman callback",
    c"operating system call failed",
    c"not usable in a fork() child of a process that used connman",
    c"not allowed in the library's current state",
];

impl Error {
    /// The stable C code of this error (`CONNMAN_ERR_*`).
    pub const fn code(self) -> i32 {
        match self {
            Error::InvalidArgument => 1,
            Error::NotFound => 2,
            Error::Closed => 3,
            Error::NotConnected => 4,
            Error::WouldBlock => 5,
            Error::Exists => 6,
            Error::Panic => 7,
            Error::Resolve => 8,
            Error::TooLarge => 9,
            Error::Factory => 10,
            Error::InCallback => 11,
            Error::Os(_) => 12,
            Error::Forked => 13,
            Error::State => 14,
        }
    }

    /// A short static description of a C code; never empty.
    pub fn describe(code: i32) -> &'static str {
        Error::describe_c(code)
            .to_str()
            .unwrap_or("unknown connman result code")
    }

    /// The same description as a C string (what `connman_strerror` returns).
    pub(crate) fn describe_c(code: i32) -> &'static CStr {
        usize::try_from(code)
            .ok()
            .and_then(|i| DESCRIPTIONS.get(i))
            .copied()
            .unwrap_or(c"unknown connman result code")
    }

    /// An [`Error::InvalidArgument`] whose message (see [`last_error_message`])
    /// names the argument, the value and the rule.
    pub(crate) fn invalid(why: fmt::Arguments<'_>) -> Error {
        Error::InvalidArgument.because(why)
    }

    /// This error, with `why` as its detail: the message of the call that fails
    /// with it (a call that recovers from it and succeeds leaves no trace).
    pub(crate) fn because(self, why: fmt::Arguments<'_>) -> Error {
        DETAIL.with(|m| {
            let mut m = m.borrow_mut();
            m.clear();
            let _ = fmt::write(&mut *m, why);
        });
        DETAILED.with(|d| d.set(true));
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Os(errno) => write!(
                f,
                "{}: {}",
                Error::describe(self.code()),
                std::io::Error::from_raw_os_error(*errno)
            ),
            _ => f.write_str(Error::describe(self.code())),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Os(crate::sys::errno_of(&e))
    }
}

thread_local! {
    /// Why the last failed C call on this thread failed.
    static MESSAGE: RefCell<String> = const { RefCell::new(String::new()) };
    /// The detail of the latest error made on this thread (see `Error::because`).
    static DETAIL: RefCell<String> = const { RefCell::new(String::new()) };
    /// DETAIL belongs to the call under way (see [`begin_call`]).
    static DETAILED: Cell<bool> = const { Cell::new(false) };
}

/// Why the last failed connman call on this thread failed: names the argument,
/// the value and the rule where there is one (`"options.backoff_initial_ms must be
/// at least 1, got 0"`), the host and the resolver's reason, and so on. For the
/// Rust API: the detail of the last error that had one (read it right after the
/// call that failed); through the C API, `connman_last_error_message` also names
/// the function. Empty before any failure.
pub fn last_error_message() -> String {
    if DETAILED.with(Cell::get) {
        DETAIL.with(|m| m.borrow().clone())
    } else {
        MESSAGE.with(|m| m.borrow().clone())
    }
}

/// Marks the start of an API call (the C layer does this for each call): a
/// failure then says which call failed, and one without a detail of its own gets
/// the error's description.
pub(crate) fn begin_call() {
    DETAILED.with(|d| d.set(false));
}

/// Records the failure of call `func`: its detail (set during the call) prefixed
/// with the function's name, or `func: description` when it has none.
pub(crate) fn end_call_failed(func: &str, e: Error) {
    let detailed = DETAILED.with(|d| d.replace(false));
    MESSAGE.with(|m| {
        let mut m = m.borrow_mut();
        m.clear();
        if detailed {
            DETAIL.with(|d| {
                let _ = fmt::write(&mut *m, format_args!("{func}: {}", d.borrow()));
            });
        } else {
            let _ = fmt::write(&mut *m, format_args!("{func}: {e}"));
        }
    });
}

/// The message as a C string for `connman_last_error_message` (valid until the
/// next call of it on this thread).
pub(crate) fn with_message_c<R>(f: impl FnOnce(&CStr) -> R) -> R {
    thread_local! {
        static C: RefCell<std::ffi::CString> = RefCell::new(std::ffi::CString::default());
    }
    let text = MESSAGE.with(|m| m.borrow().replace('\0', " "));
    C.with(|c| {
        let mut c = c.borrow_mut();
        *c = std::ffi::CString::new(text).unwrap_or_default();
        f(&c)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_cover_every_code() {
        for e in [
            Error::InvalidArgument,
            Error::NotFound,
            Error::Closed,
            Error::NotConnected,
            Error::WouldBlock,
            Error::Exists,
            Error::Panic,
            Error::Resolve,
            Error::TooLarge,
            Error::Factory,
            Error::InCallback,
            Error::Os(5),
            Error::Forked,
            Error::State,
        ] {
            assert_ne!(Error::describe(e.code()), "unknown connman result code");
        }
        assert_eq!(Error::describe(15), "unknown connman result code");
        assert_eq!(Error::describe(-1), "unknown connman result code");
    }

    #[test]
    fn messages_name_the_call_and_the_detail() {
        begin_call();
        let e = Error::invalid(format_args!("port must not be 0"));
        end_call_failed("connman_connect", e);
        assert_eq!(last_error_message(), "connman_connect: port must not be 0");
        begin_call();
        end_call_failed("connman_send", Error::WouldBlock);
        assert_eq!(
            last_error_message(),
            "connman_send: would block (send queue full)"
        );
    }
}
