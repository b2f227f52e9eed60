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
/// `ffi_guard!("connman_x", { ... })` takes a block evaluating to
/// `Result<(), Error>` and yields a `connman_result`: `CONNMAN_OK`, the error's code,
/// or `CONNMAN_ERR_PANIC`; a failure leaves this thread's last error message
/// (`connman_last_error_message`) naming the function and why.
/// `ffi_guard!("connman_x", default => { ... })` takes a block of any type and
/// yields `default` on panic.
macro_rules! ffi_guard {
    ($name:literal, $default:expr => $body:block) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            Ok(v) => v,
            Err(_) => {
                $crate::ffi::caught_panic($name);
                $default
            }
        }
    };
    ($name:literal, $body:block) => {{
        $crate::error::begin_call();
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(
            || -> ::std::result::Result<(), $crate::Error> { $body },
        )) {
            Ok(Ok(())) => $crate::ffi::types::CONNMAN_OK,
            Ok(Err(e)) => {
                $crate::error::end_call_failed($name, e);
                e.code()
            }
            Err(_) => {
                $crate::ffi::caught_panic($name);
                $crate::ffi::types::CONNMAN_ERR_PANIC
            }
        }
    }};
}

/// A panic was caught at the boundary of `func`: reported, and the call's message says so.
pub(crate) fn caught_panic(func: &str) {
    crate::log::log!(
        crate::log::Level::Error,
        0,
        "internal error in {func} (a panic was caught); please report it"
    );
    crate::error::end_call_failed(
        func,
        crate::Error::Panic.because(format_args!("internal error (a panic was caught)")),
    );
}

// In the order the header presents them.
mod check;
mod conn;
mod handler;
mod library;
mod log;
mod pool;
mod runtime;
mod types;
