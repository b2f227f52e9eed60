//! The C ABI of `include/connman.h`, declared for Rust tests that call it directly
//! (the library's own `ffi` module is private: only its C symbols are exported).
//!
//! The types mirror the header's; `tests/header.rs` compiles a C program that
//! prints the header's sizes, field offsets and constants and compares them with
//! these, so a change to the C surface that is not made here fails that test.
#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_void};

pub type connman_result = i32;
pub type connman_state = i32;

pub const CONNMAN_OK: connman_result = 0;
pub const CONNMAN_ERR_INVALID_ARGUMENT: connman_result = 1;
pub const CONNMAN_ERR_NOT_FOUND: connman_result = 2;
pub const CONNMAN_ERR_CLOSED: connman_result = 3;
pub const CONNMAN_ERR_NOT_CONNECTED: connman_result = 4;
pub const CONNMAN_ERR_WOULD_BLOCK: connman_result = 5;
pub const CONNMAN_ERR_EXISTS: connman_result = 6;
pub const CONNMAN_ERR_PANIC: connman_result = 7;
pub const CONNMAN_ERR_RESOLVE: connman_result = 8;
pub const CONNMAN_ERR_TOO_LARGE: connman_result = 9;
pub const CONNMAN_ERR_FACTORY: connman_result = 10;
pub const CONNMAN_ERR_IN_CALLBACK: connman_result = 11;
pub const CONNMAN_ERR_OS: connman_result = 12;
pub const CONNMAN_ERR_FORKED: connman_result = 13;
pub const CONNMAN_ERR_STATE: connman_result = 14;

pub const CONNMAN_STATE_CONNECTING: connman_state = 0;
pub const CONNMAN_STATE_CONNECTED: connman_state = 1;
pub const CONNMAN_STATE_RECONNECTING: connman_state = 2;
pub const CONNMAN_STATE_CLOSING: connman_state = 3;
pub const CONNMAN_STATE_CLOSED: connman_state = 4;

pub const CONNMAN_MAX_HOST_LEN: usize = 253;
pub const CONNMAN_MAX_POOL_NAME_LEN: usize = 255;
pub const CONNMAN_MAX_UNIX_PATH_LEN: usize = 107;
pub const CONNMAN_MAX_THREADS: u32 = 64;
pub const CONNMAN_VERSION_MAJOR: u32 = 1;
pub const CONNMAN_VERSION_MINOR: u32 = 0;
pub const CONNMAN_VERSION_PATCH: u32 = 0;

pub type connman_log_level = i32;
pub const CONNMAN_LOG_ERROR: connman_log_level = 1;
pub const CONNMAN_LOG_WARN: connman_log_level = 2;
pub const CONNMAN_LOG_INFO: connman_log_level = 3;
pub const CONNMAN_LOG_DEBUG: connman_log_level = 4;

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct connman_conn {
    pub id: u64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct connman_pool {
    pub id: u64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct connman_handler {
    pub ctx: *mut c_void,
    pub on_connect: Option<unsafe extern "C" fn(ctx: *mut c_void, conn: connman_conn, fd: c_int)>,
    pub on_reset: Option<unsafe extern "C" fn(ctx: *mut c_void, conn: connman_conn)>,
    pub on_reconnect: Option<unsafe extern "C" fn(ctx: *mut c_void, conn: connman_conn, fd: c_int)>,
    pub on_data: Option<
        unsafe extern "C" fn(ctx: *mut c_void, conn: connman_conn, data: *const u8, len: usize),
    >,
    pub on_close: Option<unsafe extern "C" fn(ctx: *mut c_void, conn: connman_conn)>,
}

pub type connman_handler_factory = Option<
    unsafe extern "C" fn(
        factory_ctx: *mut c_void,
        index: usize,
        out: *mut connman_handler,
    ) -> connman_result,
>;

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct connman_options {
    pub backoff_initial_ms: u32,
    pub backoff_max_ms: u32,
    pub connect_timeout_ms: u32,
    pub idle_timeout_ms: u32,
    pub healthy_after_ms: u32,
    pub send_queue_limit: u32,
    pub keepalive_idle_ms: u32,
    pub keepalive_interval_ms: u32,
    pub keepalive_count: u32,
    pub user_timeout_ms: u32,
    pub nodelay: u32,
    pub recovery_backoff_max_ms: u32,
    pub recovery_window_ms: u32,
    pub resolve_in_background: u32,
    pub send_while_reconnecting: u32,
    pub reserved: [u32; 17],
}

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct connman_stats {
    pub state: connman_state,
    pub last_error: i32,
    pub last_resolve_error: i32,
    pub connects: u64,
    pub resets: u64,
    pub attempts: u64,
    pub consecutive_failures: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    pub bytes_discarded: u64,
    pub send_queue_bytes: u64,
    pub reserved: [u64; 8],
}

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct connman_pool_stats {
    pub members: usize,
    pub connected: usize,
    pub closed: usize,
    pub reserved: [u64; 5],
}

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct connman_config {
    pub threads: u32,
    pub reserved: [u32; 15],
}

pub type connman_log_fn = Option<
    unsafe extern "C" fn(
        ctx: *mut c_void,
        level: connman_log_level,
        conn: connman_conn,
        message: *const c_char,
    ),
>;

// SAFETY: the signatures are the header's (tests/header.rs checks the types'
// layout against it). The functions are declared `safe` because these tests call
// them with bad input on purpose: the library checks every pointer it is given for
// NULL and alignment before using it, and the tests pass only NULL, misaligned
// pointers into live buffers, or pointers to live values of the declared types
// (strings NUL-terminated), for which every call is sound.
unsafe extern "C" {
    pub safe fn connman_strerror(code: connman_result) -> *const c_char;
    pub safe fn connman_version() -> *const c_char;
    pub safe fn connman_options_default() -> connman_options;
    pub safe fn connman_connect(
        port: u16,
        host: *const c_char,
        handler: *const connman_handler,
        options: *const connman_options,
        out: *mut connman_conn,
    ) -> connman_result;
    pub safe fn connman_get_connection(
        port: u16,
        host: *const c_char,
        out: *mut connman_conn,
    ) -> connman_result;
    pub safe fn connman_fd(conn: connman_conn) -> c_int;
    pub safe fn connman_conn_from_fd(fd: c_int, out: *mut connman_conn) -> connman_result;
    pub safe fn connman_send(conn: connman_conn, data: *const u8, len: usize) -> connman_result;
    pub safe fn connman_disconnect(conn: connman_conn) -> connman_result;
    pub safe fn connman_get_stats(conn: connman_conn, out: *mut connman_stats) -> connman_result;
    pub safe fn connman_disconnect_all() -> connman_result;
    pub safe fn connman_shutdown() -> connman_result;
    pub safe fn connman_pool_create(
        name: *const c_char,
        factory: connman_handler_factory,
        factory_ctx: *mut c_void,
        out: *mut connman_pool,
    ) -> connman_result;
    pub safe fn connman_pool_find(name: *const c_char, out: *mut connman_pool) -> connman_result;
    pub safe fn connman_pool_add(
        pool: connman_pool,
        port: u16,
        host: *const c_char,
        options: *const connman_options,
        index_out: *mut usize,
    ) -> connman_result;
    pub safe fn connman_pool_size(pool: connman_pool, out: *mut usize) -> connman_result;
    pub safe fn connman_pool_get_connection(
        pool: connman_pool,
        index: usize,
        fd_out: *mut c_int,
    ) -> connman_result;
    pub safe fn connman_pool_get_handler(
        pool: connman_pool,
        index: usize,
        ctx_out: *mut *mut c_void,
    ) -> connman_result;
    pub safe fn connman_pool_conn(
        pool: connman_pool,
        index: usize,
        out: *mut connman_conn,
    ) -> connman_result;
    pub safe fn connman_pool_next(pool: connman_pool, out: *mut connman_conn) -> connman_result;
    pub safe fn connman_pool_get_stats(
        pool: connman_pool,
        out: *mut connman_pool_stats,
    ) -> connman_result;
    pub safe fn connman_pool_disconnect(pool: connman_pool) -> connman_result;
    pub safe fn connman_connect_unix(
        path: *const c_char,
        handler: *const connman_handler,
        options: *const connman_options,
        out: *mut connman_conn,
    ) -> connman_result;
    pub safe fn connman_get_connection_unix(
        path: *const c_char,
        out: *mut connman_conn,
    ) -> connman_result;
    pub safe fn connman_pool_add_unix(
        pool: connman_pool,
        path: *const c_char,
        options: *const connman_options,
        index_out: *mut usize,
    ) -> connman_result;
    pub safe fn connman_config_default() -> connman_config;
    pub safe fn connman_configure(config: *const connman_config) -> connman_result;
    pub safe fn connman_event_fd() -> c_int;
    pub safe fn connman_dispatch() -> connman_result;
    pub safe fn connman_last_error_message() -> *const c_char;
    pub safe fn connman_set_log(
        r#fn: connman_log_fn,
        ctx: *mut c_void,
        max_level: connman_log_level,
    ) -> connman_result;
}
