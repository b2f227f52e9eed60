//! C functions that say which library this is and why a call failed.

use super::types::*;
use crate::error::Error;
use std::ffi::{c_char, CStr};

/// The version of the library loaded, "MAJOR.MINOR.PATCH" (e.g. "1.0.0"); the
/// header it came with has the same numbers as `CONNMAN_VERSION_*`. Static; do not
/// free. Any thread.
#[no_mangle]
pub extern "C" fn connman_version() -> *const c_char {
    ffi_guard!("connman_version", c"unknown".as_ptr() => {
        const V: &CStr = match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"unknown",
        };
        V.as_ptr()
    })
}
/// Describes a result code. Never returns NULL: unknown codes get a generic text.
/// The string is static; do not free it. Any thread.
#[no_mangle]
pub extern "C" fn connman_strerror(code: connman_result) -> *const c_char {
    ffi_guard!("connman_strerror", c"internal error".as_ptr() => { Error::describe_c(code).as_ptr() })
}

/// Why the last failed connman call on this thread failed: names the function, the
/// argument, the value and the rule ("connman_connect:
/// options.backoff_initial_ms must be at least 1, got 0"), or the host and the
/// resolver's reason ("connman_connect: no-such-host.invalid:53: Name or service not
/// known"). Never NULL; "" before any call failed. Successful calls leave it
/// unchanged. The string belongs to the library and stays valid until the next
/// call of this function on this thread. Any thread.
#[no_mangle]
pub extern "C" fn connman_last_error_message() -> *const c_char {
    ffi_guard!("connman_last_error_message", c"".as_ptr() => {
        crate::error::with_message_c(|m| m.as_ptr())
    })
}
