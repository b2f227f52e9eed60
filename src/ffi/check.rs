//! The one place where pointers from C are checked and turned into references.
//! NULL or misaligned pointers become `Error::InvalidArgument`, with a message
//! naming the argument.

use crate::error::{Error, Result};
use std::ffi::{c_char, CStr};

/// A checked, writable out-parameter. Written once, at the end of a successful call.
pub(super) struct Out<T>(*mut T);

impl<T> Out<T> {
    pub(super) fn write(self, value: T) {
        // SAFETY: checked non-NULL and aligned in `out`; the C caller promises it points
        // at writable memory for a T (the header documents every out parameter).
        unsafe { self.0.write(value) }
    }
}

fn null(name: &str) -> Error {
    Error::invalid(format_args!("{name} is NULL"))
}

fn misaligned(name: &str) -> Error {
    Error::invalid(format_args!("{name} is not aligned for its type"))
}

/// Checks an out-parameter: non-NULL and aligned.
pub(super) fn out<T>(name: &str, p: *mut T) -> Result<Out<T>> {
    if p.is_null() {
        return Err(null(name));
    }
    if !p.is_aligned() {
        return Err(misaligned(name));
    }
    Ok(Out(p))
}

/// A required input struct.
pub(super) fn input<'a, T>(name: &str, p: *const T) -> Result<&'a T> {
    optional(name, p)?.ok_or_else(|| null(name))
}

/// An optional input struct (NULL gives None).
pub(super) fn optional<'a, T>(name: &str, p: *const T) -> Result<Option<&'a T>> {
    if p.is_null() {
        return Ok(None);
    }
    if !p.is_aligned() {
        return Err(misaligned(name));
    }
    // SAFETY: non-NULL and aligned; the C caller promises it points at a live T for
    // the duration of the call.
    Ok(Some(unsafe { &*p }))
}

/// A NUL-terminated UTF-8 string of 1 to `max` bytes.
pub(super) fn c_str<'a>(name: &str, p: *const c_char, max: usize) -> Result<&'a str> {
    if p.is_null() {
        return Err(null(name));
    }
    // SAFETY: non-NULL; the C caller promises a NUL-terminated string live for the call.
    let s = unsafe { CStr::from_ptr(p) };
    let bytes = s.to_bytes();
    if bytes.is_empty() {
        return Err(Error::invalid(format_args!("{name} is empty")));
    }
    if bytes.len() > max {
        return Err(Error::invalid(format_args!(
            "{name} must be at most {max} bytes, got {}",
            bytes.len()
        )));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        Error::invalid(format_args!(
            "{name} is not UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })
}

/// A byte buffer; NULL is accepted only with length 0.
pub(super) fn bytes<'a>(name: &str, p: *const u8, len: usize) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Error::invalid(format_args!(
            "{name} is NULL but len is {len}"
        )));
    }
    if len > isize::MAX as usize {
        return Err(Error::invalid(format_args!("len {len} is too large")));
    }
    // SAFETY: non-NULL, len fits isize; the C caller promises `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}
