//! The one place where pointers from C are checked and turned into references.
//! NULL or misaligned pointers become `Error::InvalidArgument`.

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

/// Checks an out-parameter: non-NULL and aligned.
pub(super) fn out<T>(p: *mut T) -> Result<Out<T>> {
    if p.is_null() || !p.is_aligned() {
        return Err(Error::InvalidArgument);
    }
    Ok(Out(p))
}

/// A required input struct.
pub(super) fn input<'a, T>(p: *const T) -> Result<&'a T> {
    optional(p)?.ok_or(Error::InvalidArgument)
}

/// An optional input struct (NULL gives None).
pub(super) fn optional<'a, T>(p: *const T) -> Result<Option<&'a T>> {
    if p.is_null() {
        return Ok(None);
    }
    if !p.is_aligned() {
        return Err(Error::InvalidArgument);
    }
    // SAFETY: non-NULL and aligned; the C caller promises it points at a live T for
    // the duration of the call.
    Ok(Some(unsafe { &*p }))
}

/// A NUL-terminated UTF-8 string of at most `max` bytes.
pub(super) fn c_str<'a>(p: *const c_char, max: usize) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::InvalidArgument);
    }
    // SAFETY: non-NULL; the C caller promises a NUL-terminated string live for the call.
    let s = unsafe { CStr::from_ptr(p) };
    let bytes = s.to_bytes();
    if bytes.is_empty() || bytes.len() > max {
        return Err(Error::InvalidArgument);
    }
    std::str::from_utf8(bytes).map_err(|_| Error::InvalidArgument)
}

/// A byte buffer; NULL is accepted only with length 0.
pub(super) fn bytes<'a>(p: *const u8, len: usize) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() || len > isize::MAX as usize {
        return Err(Error::InvalidArgument);
    }
    // SAFETY: non-NULL, len fits isize; the C caller promises `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}
