//! The C ABI: a thin layer over the safe core, private to the crate: only its
//! `#[no_mangle] extern "C"` symbols are exported (from libconnman.so/.a); no Rust
//! item of it is part of the Rust API. No logic lives here: each function
//! checks its arguments (through [`check`]), calls the core, and turns the outcome
//! into a `connman_result`. Every body runs inside `ffi_guard!`, so no Rust panic
//! crosses into C. `include/connman.h` is generated from this module by cbindgen.

#![allow(non_camel_case_types)]
#![allow(clippy::not_unsafe_ptr_arg_deref)]

/// Runs an `extern "C"` body and catches any panic.
///
/// `ffi_guard!({ ... })` takes a block evaluating to `Result<(), Error>` and yields a
/// `connman_result`: `CONNMAN_OK`, the error's code, or `CONNMAN_ERR_PANIC`.
/// `ffi_guard!(default => { ... })` takes a block of any type and yields `default`
/// on panic.
macro_rules! ffi_guard {
    ($default:expr => $body:block) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            Ok(v) => v,
            Err(_) => $default,
        }
    };
    ($body:block) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(
            || -> ::std::result::Result<(), $crate::Error> { $body },
        )) {
            Ok(Ok(())) => $crate::ffi::types::CONNMAN_OK,
            Ok(Err(e)) => e.code(),
            Err(_) => $crate::ffi::types::CONNMAN_ERR_PANIC,
        }
    };
}

mod check;
mod conn;
mod handler;
mod pool;
mod types;
