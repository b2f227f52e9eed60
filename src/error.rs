//! Error type of the safe API and its stable numeric codes (the C `connman_result`).

use std::ffi::CStr;
use std::fmt;

/// Everything that can go wrong in a connman call.
///
/// Each variant has a fixed numeric code ([`Error::code`]) shared with the C API;
/// codes are never renumbered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
}

/// Result of the safe API.
pub type Result<T> = std::result::Result<T, Error>;

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
        match code {
            0 => c"success",
            1 => c"invalid argument",
            2 => c"not found (unknown or stale handle, unknown pool, or index out of range)",
            3 => c"closed (disconnect was already requested)",
            4 => c"not connected",
            5 => c"would block (send queue full)",
            6 => c"already exists (pool name taken)",
            7 => c"internal error (a panic was caught)",
            8 => c"host name could not be resolved",
            9 => c"message larger than the send queue limit",
            10 => c"handler factory refused",
            11 => c"not allowed from inside a connman callback",
            12 => c"operating system call failed",
            _ => c"unknown connman result code",
        }
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
