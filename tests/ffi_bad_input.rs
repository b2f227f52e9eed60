//! The C ABI against bad input: every `connman_*` function called directly
//! (declared in `common/capi.rs`, as a C program sees them) with NULL, empty, huge (1 MiB), non-UTF-8,
//! misaligned and out-of-range arguments, stale handles, indexes out of range and
//! duplicate pool names. Each row of the table is one test, named
//! `<function>__<argument>`, and checks the exact code the header documents; every
//! out-parameter is pre-filled with a sentinel and must be untouched on error.
//! The table is written out in docs/RELIABILITY.md.
#![allow(non_snake_case)]

mod common;

use common::capi::*;
use common::*;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering::SeqCst};
use std::time::Duration;

// ---- sentinels: what an out-parameter holds before the call ----

const CONN_S: connman_conn = connman_conn {
    id: 0xDEAD_BEEF_0BAD_F00D,
};
const POOL_S: connman_pool = connman_pool {
    id: 0xDEAD_BEEF_0BAD_F00D,
};
const USIZE_S: usize = usize::MAX - 7;
const FD_S: c_int = -77;
const CTX_S: *mut c_void = 0x5EA7 as *mut c_void;
const STATS_S: connman_stats = connman_stats {
    state: 99,
    last_error: -99,
    last_resolve_error: -99,
    connects: 0xAAAA,
    resets: 0xBBBB,
    attempts: 0xCCCC,
    consecutive_failures: 0xDDDD,
    bytes_received: 0xEEEE,
    bytes_sent: 0xFFFF,
    bytes_discarded: 0x1111,
    send_queue_bytes: 0x2222,
    reserved: [0x3333; 8],
};
const PSTATS_S: connman_pool_stats = connman_pool_stats {
    members: 0xAAAA,
    connected: 0xBBBB,
    closed: 0xCCCC,
    reserved: [0x4444; 5],
};

// ---- argument values ----

fn c(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

fn p(v: &[u8]) -> *const c_char {
    v.as_ptr().cast()
}

/// A NUL-terminated string of `n` bytes of 'a'.
fn long(n: usize) -> Vec<u8> {
    let mut v = vec![b'a'; n];
    v.push(0);
    v
}

const MIB: usize = 1 << 20;
const NON_UTF8: &[u8] = b"\xff\xfe\xc3\x28host\0";
const LOOP: &[u8] = b"127.0.0.1\0";

/// A pointer one byte past an aligned one: misaligned for anything wider.
fn misaligned<T>(slot: &mut [u64; 8]) -> *mut T {
    (slot.as_mut_ptr() as usize + 1) as *mut T
}

fn null_handler() -> connman_handler {
    connman_handler {
        ctx: null_mut(),
        on_connect: None,
        on_reset: None,
        on_reconnect: None,
        on_data: None,
        on_close: None,
    }
}

fn defaults() -> connman_options {
    connman_options_default()
}

fn describe(rc: connman_result) -> String {
    // SAFETY: connman_strerror returns a static NUL-terminated string.
    unsafe { CStr::from_ptr(connman_strerror(rc)) }
        .to_string_lossy()
        .into_owned()
}

// ---- fixtures ----

/// connman_connect through C with the given options; returns the handle.
fn connect_c(port: u16, opts: Option<&connman_options>) -> connman_conn {
    let h = null_handler();
    let mut out = CONN_S;
    let o = opts.map_or(null(), |o| o as *const _);
    let host = c("127.0.0.1");
    assert_eq!(connman_connect(port, p(&host), &h, o, &mut out), CONNMAN_OK);
    assert_ne!(out, CONN_S);
    out
}

fn stats(conn: connman_conn) -> Option<connman_stats> {
    let mut s = STATS_S;
    (connman_get_stats(conn, &mut s) == CONNMAN_OK).then_some(s)
}

/// A connection up on a running echo server.
fn live(opts: Option<&connman_options>) -> (Server, connman_conn) {
    let srv = Server::echo();
    let conn = connect_c(srv.port, opts);
    assert!(wait_until(
        || stats(conn).is_some_and(|s| s.state == CONNMAN_STATE_CONNECTED)
    ));
    (srv, conn)
}

/// A handle whose connection has closed (its on_close ran), and its old fd.
fn stale() -> (connman_conn, c_int) {
    let conn = connect_c(dead_port(), None);
    let fd = connman_fd(conn);
    assert!(fd >= 0);
    assert_eq!(connman_disconnect(conn), CONNMAN_OK);
    assert!(wait_until(|| stats(conn).is_none()));
    (conn, fd)
}

unsafe extern "C" fn ok_factory(ctx: *mut c_void, _i: usize, out: *mut connman_handler) -> i32 {
    let mut h = null_handler();
    h.ctx = ctx;
    // SAFETY: the library passes a live handler struct to fill.
    unsafe { *out = h };
    CONNMAN_OK
}

unsafe extern "C" fn refusing_factory(_: *mut c_void, _: usize, _: *mut connman_handler) -> i32 {
    1
}

/// What the re-entrant factory got from connman_pool_add on its own pool.
static REENTRANT_RC: AtomicI32 = AtomicI32::new(-1);

/// The pool whose factory re-enters connman_pool_add.
static REENTRANT_POOL: AtomicU64 = AtomicU64::new(0);

unsafe extern "C" fn reentrant_factory(
    ctx: *mut c_void,
    i: usize,
    out: *mut connman_handler,
) -> i32 {
    // SAFETY: ctx is &REENTRANT_POOL, a static.
    let id = unsafe { &*(ctx as *const AtomicU64) }.load(SeqCst);
    let mut idx = USIZE_S;
    REENTRANT_RC.store(
        connman_pool_add(
            connman_pool { id },
            9,
            LOOP.as_ptr().cast(),
            null(),
            &mut idx,
        ),
        SeqCst,
    );
    assert_eq!(idx, USIZE_S);
    // SAFETY: as in ok_factory.
    unsafe { ok_factory(null_mut(), i, out) }
}

fn create_pool(name: &str, factory: connman_handler_factory) -> connman_pool {
    let mut out = POOL_S;
    let n = c(name);
    assert_eq!(
        connman_pool_create(p(&n), factory, 0x1000 as *mut c_void, &mut out),
        CONNMAN_OK
    );
    out
}

/// A pool with one member, connected to a running echo server.
fn pool_with_member(name: &str) -> (Server, connman_pool) {
    let srv = Server::echo();
    let pool = create_pool(name, Some(ok_factory));
    let mut idx = USIZE_S;
    assert_eq!(
        connman_pool_add(pool, srv.port, p(LOOP), null(), &mut idx),
        CONNMAN_OK
    );
    assert_eq!(idx, 0);
    let mut ps = PSTATS_S;
    assert!(wait_until(|| {
        connman_pool_get_stats(pool, &mut ps) == CONNMAN_OK && ps.connected == 1
    }));
    (srv, pool)
}

/// A pool handle that was released (disconnected with no members left).
fn stale_pool() -> connman_pool {
    let pool = create_pool("stale", Some(ok_factory));
    assert_eq!(connman_pool_disconnect(pool), CONNMAN_OK);
    pool
}

// ---- the table ----

/// One row: `$call` evaluates to the code; `$check` then runs (sentinel checks).
/// A row that expects `CONNMAN_ERR_INVALID_ARGUMENT` or `CONNMAN_ERR_RESOLVE` names
/// the substring `connman_last_error_message()` must then contain (the culprit).
macro_rules! row {
    ($name:ident: $want:expr, $msg:literal, $call:expr) => {
        row!(@test $name: $want, Some($msg), $call, ());
    };
    ($name:ident: $want:expr, $call:expr) => {
        row!(@test $name: $want, None, $call, ());
    };
    ($name:ident: $want:expr, $call:expr, $check:expr) => {
        row!(@test $name: $want, None, $call, $check);
    };
    (@test $name:ident: $want:expr, $msg:expr, $call:expr, $check:expr) => {
        #[test]
        fn $name() {
            let _s = serial();
            let got: connman_result = $call;
            assert_eq!(
                got,
                $want,
                "{}: got {got} ({}), want {} ({}); message {:?}",
                stringify!($name),
                describe(got),
                $want,
                describe($want),
                last_message()
            );
            let msg: Option<&str> = $msg;
            match msg {
                Some(want) => assert!(
                    last_message().contains(want),
                    "{}: the message {:?} does not contain {want:?}",
                    stringify!($name),
                    last_message()
                ),
                None => assert!(
                    $want != CONNMAN_ERR_INVALID_ARGUMENT && $want != CONNMAN_ERR_RESOLVE,
                    "{}: a row for this code names the message's culprit",
                    stringify!($name)
                ),
            }
            $check;
            connman::shutdown().unwrap();
        }
    };
}

/// This thread's `connman_last_error_message()`.
fn last_message() -> String {
    // SAFETY: never NULL; valid until the next call on this thread.
    unsafe { CStr::from_ptr(connman_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

/// connman_connect with one thing changed from a valid call; `out` must stay.
fn connect_with(
    port: u16,
    host: *const c_char,
    handler: *const connman_handler,
    opts: *const connman_options,
) -> connman_result {
    let mut out = CONN_S;
    let rc = connman_connect(port, host, handler, opts, &mut out);
    if rc != CONNMAN_OK {
        assert_eq!(out, CONN_S, "out-parameter written on error");
    }
    rc
}

fn connect_opts(f: impl FnOnce(&mut connman_options)) -> connman_result {
    let mut o = defaults();
    f(&mut o);
    connect_with(80, p(LOOP), &null_handler(), &o)
}

// connman_connect
row!(connect__host_null: CONNMAN_ERR_INVALID_ARGUMENT, "connman_connect: host is NULL", connect_with(80, null(), &null_handler(), null()));
row!(connect__host_empty: CONNMAN_ERR_INVALID_ARGUMENT, "connman_connect: host is empty", connect_with(80, p(b"\0"), &null_handler(), null()));
row!(connect__host_254_bytes: CONNMAN_ERR_INVALID_ARGUMENT, "connman_connect: host must be at most 253 bytes, got 254", connect_with(80, p(&long(254)), &null_handler(), null()));
row!(connect__host_1_MiB: CONNMAN_ERR_INVALID_ARGUMENT, "host must be at most 253 bytes, got 1048576", connect_with(80, p(&long(MIB)), &null_handler(), null()));
row!(connect__host_not_utf8: CONNMAN_ERR_INVALID_ARGUMENT, "connman_connect: host is not UTF-8 (invalid byte at offset 0)", connect_with(80, p(NON_UTF8), &null_handler(), null()));
row!(connect__host_253_bytes_unresolvable: CONNMAN_ERR_RESOLVE, "connman_connect: aaaaaaaaaa", connect_with(80, p(&long(253)), &null_handler(), null()));
row!(connect__host_unresolvable: CONNMAN_ERR_RESOLVE, "connman_connect: no-such-host.invalid:80: ", connect_with(80, p(b"no-such-host.invalid\0"), &null_handler(), null()));
row!(connect__host_with_space: CONNMAN_ERR_RESOLVE, "connman_connect: 127.0.0.1 :80: ", connect_with(80, p(b"127.0.0.1 \0"), &null_handler(), null()));
row!(connect__port_0: CONNMAN_ERR_INVALID_ARGUMENT, "connman_connect: port must be 1 to 65535, got 0", connect_with(0, p(LOOP), &null_handler(), null()));
row!(connect__handler_null: CONNMAN_ERR_INVALID_ARGUMENT, "connman_connect: handler is NULL", connect_with(80, p(LOOP), null(), null()));
row!(connect__handler_misaligned: CONNMAN_ERR_INVALID_ARGUMENT, "connman_connect: handler is not aligned", connect_with(80, p(LOOP), misaligned(&mut [0; 8]), null()));
row!(connect__options_misaligned: CONNMAN_ERR_INVALID_ARGUMENT, "connman_connect: options is not aligned", connect_with(80, p(LOOP), &null_handler(), misaligned(&mut [0; 8])));
row!(connect__out_null: CONNMAN_ERR_INVALID_ARGUMENT, "connman_connect: out is NULL", connman_connect(80, p(LOOP), &null_handler(), null(), null_mut()));
row!(connect__out_misaligned: CONNMAN_ERR_INVALID_ARGUMENT, "connman_connect: out is not aligned", connman_connect(80, p(LOOP), &null_handler(), null(), misaligned(&mut [0; 8])));
row!(connect__options_backoff_initial_0: CONNMAN_ERR_INVALID_ARGUMENT, "connman_connect: options.backoff_initial_ms must be at least 1, got 0", connect_opts(|o| o.backoff_initial_ms = 0));
row!(connect__options_backoff_max_below_initial: CONNMAN_ERR_INVALID_ARGUMENT, "options.backoff_max_ms must be at least backoff_initial_ms (500), got 499", connect_opts(|o| { o.backoff_initial_ms = 500; o.backoff_max_ms = 499 }));
row!(connect__options_connect_timeout_0: CONNMAN_ERR_INVALID_ARGUMENT, "options.connect_timeout_ms must be at least 1, got 0", connect_opts(|o| o.connect_timeout_ms = 0));
row!(connect__options_send_queue_limit_0: CONNMAN_ERR_INVALID_ARGUMENT, "options.send_queue_limit must be 1 to 1073741824, got 0", connect_opts(|o| o.send_queue_limit = 0));
row!(connect__options_send_queue_limit_over_1_GiB: CONNMAN_ERR_INVALID_ARGUMENT, "options.send_queue_limit must be 1 to 1073741824, got 1073741825", connect_opts(|o| o.send_queue_limit = (1 << 30) + 1));
row!(connect__options_send_queue_limit_u32_max: CONNMAN_ERR_INVALID_ARGUMENT, "options.send_queue_limit must be 1 to 1073741824, got 4294967295", connect_opts(|o| o.send_queue_limit = u32::MAX));
row!(connect__options_keepalive_idle_over_32767_s: CONNMAN_ERR_INVALID_ARGUMENT, "options.keepalive_idle_ms must be 1 to 32767000, got 32767001", connect_opts(|o| o.keepalive_idle_ms = 32_767_001));
row!(connect__options_keepalive_interval_0: CONNMAN_ERR_INVALID_ARGUMENT, "options.keepalive_interval_ms must be 1 to 32767000, got 0", connect_opts(|o| o.keepalive_interval_ms = 0));
row!(connect__options_keepalive_interval_over_32767_s: CONNMAN_ERR_INVALID_ARGUMENT, "options.keepalive_interval_ms must be 1 to 32767000, got 4294967295", connect_opts(|o| o.keepalive_interval_ms = u32::MAX));
row!(connect__options_keepalive_count_0: CONNMAN_ERR_INVALID_ARGUMENT, "options.keepalive_count must be 1 to 127, got 0", connect_opts(|o| o.keepalive_count = 0));
row!(connect__options_keepalive_count_128: CONNMAN_ERR_INVALID_ARGUMENT, "options.keepalive_count must be 1 to 127, got 128", connect_opts(|o| o.keepalive_count = 128));
row!(connect__options_nodelay_2: CONNMAN_ERR_INVALID_ARGUMENT, "options.nodelay must be 0 or 1, got 2", connect_opts(|o| o.nodelay = 2));
row!(connect__options_keepalive_off_ignores_interval_and_count: CONNMAN_OK, connect_opts(|o| { o.keepalive_idle_ms = 0; o.keepalive_interval_ms = 0; o.keepalive_count = 0 }));
row!(connect__options_healthy_after_0: CONNMAN_ERR_INVALID_ARGUMENT, "options.healthy_after_ms must be at least 1, got 0", connect_opts(|o| o.healthy_after_ms = 0));
row!(connect__options_user_timeout_over_i32_max: CONNMAN_ERR_INVALID_ARGUMENT, "options.user_timeout_ms must be at most 2147483647, got 2147483648", connect_opts(|o| o.user_timeout_ms = i32::MAX as u32 + 1));
row!(connect__options_largest_timeouts: CONNMAN_OK, connect_opts(|o| { o.backoff_max_ms = u32::MAX; o.connect_timeout_ms = u32::MAX; o.idle_timeout_ms = u32::MAX; o.healthy_after_ms = u32::MAX; o.user_timeout_ms = i32::MAX as u32 }));
row!(connect__options_null_means_defaults: CONNMAN_OK, connect_with(80, p(LOOP), &null_handler(), null()));
row!(connect__host_bracketed_ipv6: CONNMAN_OK, connect_with(80, p(b"[::1]\0"), &null_handler(), null()));

// connman_get_connection
fn get_connection(port: u16, host: *const c_char) -> connman_result {
    let mut out = CONN_S;
    let rc = connman_get_connection(port, host, &mut out);
    assert_eq!(out, CONN_S);
    rc
}
row!(get_connection__host_null: CONNMAN_ERR_INVALID_ARGUMENT, "connman_get_connection: host is NULL", get_connection(80, null()));
row!(get_connection__host_empty: CONNMAN_ERR_INVALID_ARGUMENT, "connman_get_connection: host is empty", get_connection(80, p(b"\0")));
row!(get_connection__host_1_MiB: CONNMAN_ERR_INVALID_ARGUMENT, "connman_get_connection: host must be at most 253 bytes, got 1048576", get_connection(80, p(&long(MIB))));
row!(get_connection__host_not_utf8: CONNMAN_ERR_INVALID_ARGUMENT, "connman_get_connection: host is not UTF-8", get_connection(80, p(NON_UTF8)));
row!(get_connection__port_0: CONNMAN_ERR_INVALID_ARGUMENT, "connman_get_connection: port must be 1 to 65535, got 0", get_connection(0, p(LOOP)));
row!(get_connection__out_null: CONNMAN_ERR_INVALID_ARGUMENT, "connman_get_connection: out is NULL", connman_get_connection(80, p(LOOP), null_mut()));
row!(get_connection__unknown: CONNMAN_ERR_NOT_FOUND, get_connection(9, p(LOOP)));
row!(get_connection__closed_connection: CONNMAN_ERR_NOT_FOUND, {
    let (conn, _) = stale();
    let _ = conn;
    get_connection(9, p(LOOP))
});

// connman_fd (returns the descriptor or -1, not a code: 0 below means "-1 as documented")
fn fd_is_minus_one(conn: connman_conn) -> connman_result {
    assert_eq!(connman_fd(conn), -1);
    CONNMAN_OK
}
row!(fd__id_0: CONNMAN_OK, fd_is_minus_one(connman_conn { id: 0 }));
row!(fd__id_u64_max: CONNMAN_OK, fd_is_minus_one(connman_conn { id: u64::MAX }));
row!(fd__stale_handle: CONNMAN_OK, fd_is_minus_one(stale().0));

// connman_conn_from_fd
fn conn_from_fd(fd: c_int) -> connman_result {
    let mut out = CONN_S;
    let rc = connman_conn_from_fd(fd, &mut out);
    assert_eq!(out, CONN_S);
    rc
}
row!(conn_from_fd__fd_minus_1: CONNMAN_ERR_INVALID_ARGUMENT, "connman_conn_from_fd: fd must not be negative, got -1", conn_from_fd(-1));
row!(conn_from_fd__fd_int_min: CONNMAN_ERR_INVALID_ARGUMENT, "connman_conn_from_fd: fd must not be negative, got -2147483648", conn_from_fd(c_int::MIN));
row!(conn_from_fd__out_null: CONNMAN_ERR_INVALID_ARGUMENT, "connman_conn_from_fd: out is NULL", connman_conn_from_fd(0, null_mut()));
row!(conn_from_fd__not_a_connman_fd: CONNMAN_ERR_NOT_FOUND, conn_from_fd(0));
row!(conn_from_fd__fd_int_max: CONNMAN_ERR_NOT_FOUND, conn_from_fd(c_int::MAX));
row!(conn_from_fd__fd_of_closed_connection: CONNMAN_ERR_NOT_FOUND, conn_from_fd(stale().1));

// connman_send
row!(send__data_null_len_5: CONNMAN_ERR_INVALID_ARGUMENT, "connman_send: data is NULL but len is 5", {
    let (_srv, conn) = live(None);
    connman_send(conn, null(), 5)
});
row!(send__data_null_len_0_connected: CONNMAN_OK, {
    let (_srv, conn) = live(None);
    connman_send(conn, null(), 0)
});
row!(send__len_over_isize_max: CONNMAN_ERR_INVALID_ARGUMENT, "connman_send: len 18446744073709551615 is too large", {
    let (_srv, conn) = live(None);
    connman_send(conn, b"x".as_ptr(), usize::MAX)
});
row!(send__len_over_send_queue_limit: CONNMAN_ERR_TOO_LARGE, {
    let mut o = defaults();
    o.send_queue_limit = 4096;
    let (_srv, conn) = live(Some(&o));
    let big = vec![0u8; 4097];
    let rc = connman_send(conn, big.as_ptr(), big.len());
    assert_eq!(stats(conn).unwrap().bytes_sent, 0, "nothing of it was sent");
    rc
});
row!(send__stale_handle: CONNMAN_ERR_NOT_FOUND, connman_send(stale().0, b"x".as_ptr(), 1));
row!(send__id_0: CONNMAN_ERR_NOT_FOUND, connman_send(connman_conn { id: 0 }, b"x".as_ptr(), 1));
row!(send__first_connect_pending: CONNMAN_ERR_NOT_CONNECTED, {
    let hole = Blackhole::new();
    let conn = connect_c(hole.port, None);
    connman_send(conn, b"x".as_ptr(), 1)
});
row!(send__reconnecting: CONNMAN_ERR_NOT_CONNECTED, {
    let (mut srv, conn) = live(None);
    srv.cmd("stop");
    assert!(wait_until(|| stats(conn).unwrap().state == CONNMAN_STATE_RECONNECTING));
    connman_send(conn, b"x".as_ptr(), 1)
});
row!(send__after_disconnect_before_on_close: CONNMAN_ERR_CLOSED, {
    let (_srv, conn) = live(None);
    let _blocked = ReactorBlocker::block();
    assert_eq!(connman_disconnect(conn), CONNMAN_OK);
    connman_send(conn, b"x".as_ptr(), 1)
});
row!(send__queue_full: CONNMAN_ERR_WOULD_BLOCK, {
    let srv = Server::start(&["--mode", "noread"]);
    let mut o = defaults();
    o.send_queue_limit = 64 * 1024;
    let conn = connect_c(srv.port, Some(&o));
    assert!(wait_until(|| stats(conn).unwrap().state == CONNMAN_STATE_CONNECTED));
    let chunk = [7u8; 16 * 1024];
    let mut rc = CONNMAN_OK;
    for _ in 0..100_000 {
        rc = connman_send(conn, chunk.as_ptr(), chunk.len());
        if rc != CONNMAN_OK {
            break;
        }
    }
    let s = stats(conn).unwrap();
    assert!(s.send_queue_bytes + chunk.len() as u64 > 64 * 1024, "nothing of the refused call was queued");
    rc
});

// connman_disconnect
row!(disconnect__id_0: CONNMAN_ERR_NOT_FOUND, connman_disconnect(connman_conn { id: 0 }));
row!(disconnect__id_u64_max: CONNMAN_ERR_NOT_FOUND, connman_disconnect(connman_conn { id: u64::MAX }));
row!(disconnect__stale_handle: CONNMAN_ERR_NOT_FOUND, connman_disconnect(stale().0));
row!(disconnect__twice: CONNMAN_ERR_CLOSED, {
    let (_srv, conn) = live(None);
    let _blocked = ReactorBlocker::block();
    assert_eq!(connman_disconnect(conn), CONNMAN_OK);
    connman_disconnect(conn)
});

// connman_get_stats
row!(get_stats__out_null: CONNMAN_ERR_INVALID_ARGUMENT, "connman_get_stats: out is NULL", {
    let (_srv, conn) = live(None);
    connman_get_stats(conn, null_mut())
});
row!(get_stats__out_misaligned: CONNMAN_ERR_INVALID_ARGUMENT, "connman_get_stats: out is not aligned", {
    let (_srv, conn) = live(None);
    connman_get_stats(conn, misaligned(&mut [0; 8]))
});
row!(get_stats__stale_handle: CONNMAN_ERR_NOT_FOUND, {
    let (conn, _) = stale();
    let mut s = STATS_S;
    let rc = connman_get_stats(conn, &mut s);
    assert_eq!(s, STATS_S);
    rc
});
row!(get_stats__id_0: CONNMAN_ERR_NOT_FOUND, {
    let mut s = STATS_S;
    let rc = connman_get_stats(connman_conn { id: 0 }, &mut s);
    assert_eq!(s, STATS_S);
    rc
});

// connman_disconnect_all, connman_shutdown
row!(disconnect_all__nothing_open: CONNMAN_OK, connman_disconnect_all());
row!(shutdown__twice: CONNMAN_OK, {
    assert_eq!(connman_shutdown(), CONNMAN_OK);
    connman_shutdown()
});

static SHUTDOWN_IN_CALLBACK: AtomicI32 = AtomicI32::new(-1);
unsafe extern "C" fn shutdown_on_connect(_: *mut c_void, _: connman_conn, _: c_int) {
    SHUTDOWN_IN_CALLBACK.store(connman_shutdown(), SeqCst);
}
row!(shutdown__from_inside_a_callback: CONNMAN_ERR_IN_CALLBACK, {
    let srv = Server::echo();
    let mut h = null_handler();
    h.on_connect = Some(shutdown_on_connect);
    let mut out = CONN_S;
    assert_eq!(connman_connect(srv.port, p(LOOP), &h, null(), &mut out), CONNMAN_OK);
    assert!(wait_until(|| SHUTDOWN_IN_CALLBACK.load(SeqCst) != -1));
    assert_eq!(stats(out).unwrap().state, CONNMAN_STATE_CONNECTED, "it did nothing");
    SHUTDOWN_IN_CALLBACK.load(SeqCst)
});

// connman_strerror, connman_version, connman_options_default
row!(strerror__every_code_and_unknown_ones: CONNMAN_OK, {
    for code in (-3..=15).chain([i32::MIN, i32::MAX]) {
        let s = connman_strerror(code);
        assert!(!s.is_null());
        // SAFETY: non-NULL static string.
        let text = unsafe { CStr::from_ptr(s) }.to_str().unwrap();
        assert!(!text.is_empty());
        if !(0..=14).contains(&code) {
            assert_eq!(text, "unknown connman result code");
        }
    }
    CONNMAN_OK
});
row!(version__is_the_crate_version: CONNMAN_OK, {
    // SAFETY: static NUL-terminated string.
    let v = unsafe { CStr::from_ptr(connman_version()) };
    assert_eq!(v.to_str().unwrap(), connman::VERSION);
    CONNMAN_OK
});
row!(options_default__documented_values: CONNMAN_OK, {
    let o = defaults();
    assert_eq!(
        (o.backoff_initial_ms, o.backoff_max_ms, o.connect_timeout_ms, o.idle_timeout_ms),
        (10, 128_000, 10_000, 0)
    );
    assert_eq!((o.healthy_after_ms, o.send_queue_limit), (1_000, 1 << 20));
    assert_eq!(
        (o.keepalive_idle_ms, o.keepalive_interval_ms, o.keepalive_count, o.user_timeout_ms, o.nodelay),
        (30_000, 10_000, 3, 60_000, 1)
    );
    CONNMAN_OK
});

// connman_pool_create
fn pool_create(name: *const c_char, factory: connman_handler_factory) -> connman_result {
    let mut out = POOL_S;
    let rc = connman_pool_create(name, factory, null_mut(), &mut out);
    if rc != CONNMAN_OK {
        assert_eq!(out, POOL_S);
    }
    rc
}
row!(pool_create__name_null: CONNMAN_ERR_INVALID_ARGUMENT, "connman_pool_create: name is NULL", pool_create(null(), Some(ok_factory)));
row!(pool_create__name_empty: CONNMAN_ERR_INVALID_ARGUMENT, "connman_pool_create: name is empty", pool_create(p(b"\0"), Some(ok_factory)));
row!(pool_create__name_256_bytes: CONNMAN_ERR_INVALID_ARGUMENT, "connman_pool_create: name must be at most 255 bytes, got 256", pool_create(p(&long(256)), Some(ok_factory)));
row!(pool_create__name_255_bytes: CONNMAN_OK, pool_create(p(&long(255)), Some(ok_factory)));
row!(pool_create__name_1_MiB: CONNMAN_ERR_INVALID_ARGUMENT, "connman_pool_create: name must be at most 255 bytes, got 1048576", pool_create(p(&long(MIB)), Some(ok_factory)));
row!(pool_create__name_not_utf8: CONNMAN_ERR_INVALID_ARGUMENT, "connman_pool_create: name is not UTF-8", pool_create(p(NON_UTF8), Some(ok_factory)));
row!(pool_create__factory_null: CONNMAN_ERR_INVALID_ARGUMENT, "connman_pool_create: factory is NULL", pool_create(p(b"f\0"), None));
row!(pool_create__out_null: CONNMAN_ERR_INVALID_ARGUMENT, "connman_pool_create: out is NULL", connman_pool_create(p(b"f\0"), Some(ok_factory), null_mut(), null_mut()));
row!(pool_create__duplicate_name: CONNMAN_ERR_EXISTS, {
    create_pool("dup", Some(ok_factory));
    pool_create(p(b"dup\0"), Some(ok_factory))
});
row!(pool_create__name_of_a_pool_still_closing: CONNMAN_ERR_EXISTS, {
    let (_srv, pool) = pool_with_member("closing");
    let _blocked = ReactorBlocker::block();
    assert_eq!(connman_pool_disconnect(pool), CONNMAN_OK);
    pool_create(p(b"closing\0"), Some(ok_factory))
});
row!(pool_create__name_of_a_released_pool: CONNMAN_OK, {
    let (_srv, pool) = pool_with_member("released");
    assert_eq!(connman_pool_disconnect(pool), CONNMAN_OK);
    let mut found = POOL_S;
    assert!(wait_until(|| connman_pool_find(p(b"released\0"), &mut found) == CONNMAN_ERR_NOT_FOUND));
    pool_create(p(b"released\0"), Some(ok_factory))
});

// connman_pool_find
fn pool_find(name: *const c_char) -> connman_result {
    let mut out = POOL_S;
    let rc = connman_pool_find(name, &mut out);
    assert_eq!(out, POOL_S);
    rc
}
row!(pool_find__name_null: CONNMAN_ERR_INVALID_ARGUMENT, "connman_pool_find: name is NULL", pool_find(null()));
row!(pool_find__name_empty: CONNMAN_ERR_INVALID_ARGUMENT, "connman_pool_find: name is empty", pool_find(p(b"\0")));
row!(pool_find__name_1_MiB: CONNMAN_ERR_INVALID_ARGUMENT, "connman_pool_find: name must be at most 255 bytes, got 1048576", pool_find(p(&long(MIB))));
row!(pool_find__name_not_utf8: CONNMAN_ERR_INVALID_ARGUMENT, "connman_pool_find: name is not UTF-8", pool_find(p(NON_UTF8)));
row!(pool_find__unknown: CONNMAN_ERR_NOT_FOUND, pool_find(p(b"nope\0")));
row!(pool_find__out_null: CONNMAN_ERR_INVALID_ARGUMENT, "connman_pool_find: out is NULL", {
    create_pool("there", Some(ok_factory));
    connman_pool_find(p(b"there\0"), null_mut())
});

// connman_pool_add
fn pool_add(
    pool: connman_pool,
    port: u16,
    host: *const c_char,
    o: *const connman_options,
) -> connman_result {
    let mut idx = USIZE_S;
    let rc = connman_pool_add(pool, port, host, o, &mut idx);
    if rc != CONNMAN_OK {
        assert_eq!(idx, USIZE_S);
        let mut n = USIZE_S;
        if connman_pool_size(pool, &mut n) == CONNMAN_OK {
            assert_eq!(n, 0, "nothing added on error");
        }
    }
    rc
}
fn fresh_pool() -> connman_pool {
    create_pool("add", Some(ok_factory))
}
row!(pool_add__pool_id_0: CONNMAN_ERR_NOT_FOUND, pool_add(connman_pool { id: 0 }, 80, p(LOOP), null()));
row!(pool_add__stale_pool: CONNMAN_ERR_NOT_FOUND, pool_add(stale_pool(), 80, p(LOOP), null()));
row!(pool_add__host_null: CONNMAN_ERR_INVALID_ARGUMENT, "connman_pool_add: host is NULL", pool_add(fresh_pool(), 80, null(), null()));
row!(pool_add__host_1_MiB: CONNMAN_ERR_INVALID_ARGUMENT, "connman_pool_add: host must be at most 253 bytes, got 1048576", pool_add(fresh_pool(), 80, p(&long(MIB)), null()));
row!(pool_add__host_not_utf8: CONNMAN_ERR_INVALID_ARGUMENT, "connman_pool_add: host is not UTF-8", pool_add(fresh_pool(), 80, p(NON_UTF8), null()));
row!(pool_add__port_0: CONNMAN_ERR_INVALID_ARGUMENT, "connman_pool_add: port must be 1 to 65535, got 0", pool_add(fresh_pool(), 0, p(LOOP), null()));
row!(pool_add__bad_options: CONNMAN_ERR_INVALID_ARGUMENT, "connman_pool_add: options.", {
    let mut o = defaults();
    o.connect_timeout_ms = 0;
    pool_add(fresh_pool(), 80, p(LOOP), &o)
});
row!(pool_add__index_out_null: CONNMAN_ERR_INVALID_ARGUMENT, "connman_pool_add: index_out is NULL", connman_pool_add(fresh_pool(), 80, p(LOOP), null(), null_mut()));
row!(pool_add__host_unresolvable: CONNMAN_ERR_RESOLVE, "connman_pool_add: no-such-host.invalid:80: ", pool_add(fresh_pool(), 80, p(b"no-such-host.invalid\0"), null()));
row!(pool_add__factory_refuses: CONNMAN_ERR_FACTORY, pool_add(create_pool("refuse", Some(refusing_factory)), 80, p(LOOP), null()));
row!(pool_add__from_inside_its_own_factory: CONNMAN_OK, {
    // ctx points at the pool's id, known once the pool exists.
    let mut pool = POOL_S;
    let ctx = std::ptr::addr_of!(REENTRANT_POOL) as *mut c_void;
    assert_eq!(connman_pool_create(p(b"reenter\0"), Some(reentrant_factory), ctx, &mut pool), CONNMAN_OK);
    REENTRANT_POOL.store(pool.id, SeqCst);
    let mut idx = USIZE_S;
    let rc = connman_pool_add(pool, 80, p(LOOP), null(), &mut idx);
    assert_eq!(idx, 0, "the outer add goes through");
    assert_eq!(REENTRANT_RC.load(SeqCst), CONNMAN_ERR_IN_CALLBACK, "the inner add is refused");
    rc
});
row!(pool_add__after_pool_disconnect_members_closing: CONNMAN_ERR_CLOSED, {
    let (srv, pool) = pool_with_member("add-closing");
    let _blocked = ReactorBlocker::block();
    assert_eq!(connman_pool_disconnect(pool), CONNMAN_OK);
    let mut idx = USIZE_S;
    let rc = connman_pool_add(pool, srv.port, p(LOOP), null(), &mut idx);
    assert_eq!(idx, USIZE_S);
    rc
});
row!(pool_add__after_pool_disconnect_released: CONNMAN_ERR_NOT_FOUND, {
    let pool = fresh_pool();
    assert_eq!(connman_pool_disconnect(pool), CONNMAN_OK);
    pool_add(pool, 80, p(LOOP), null())
});

// connman_pool_size, connman_pool_get_stats
row!(pool_size__out_null: CONNMAN_ERR_INVALID_ARGUMENT, "connman_pool_size: out is NULL", connman_pool_size(fresh_pool(), null_mut()));
row!(pool_size__out_misaligned: CONNMAN_ERR_INVALID_ARGUMENT, "connman_pool_size: out is not aligned", connman_pool_size(fresh_pool(), misaligned(&mut [0; 8])));
row!(pool_size__stale_pool: CONNMAN_ERR_NOT_FOUND, {
    let mut n = USIZE_S;
    let rc = connman_pool_size(stale_pool(), &mut n);
    assert_eq!(n, USIZE_S);
    rc
});
row!(pool_get_stats__out_null: CONNMAN_ERR_INVALID_ARGUMENT, "connman_pool_get_stats: out is NULL", connman_pool_get_stats(fresh_pool(), null_mut()));
row!(pool_get_stats__stale_pool: CONNMAN_ERR_NOT_FOUND, {
    let mut s = PSTATS_S;
    let rc = connman_pool_get_stats(stale_pool(), &mut s);
    assert_eq!(s, PSTATS_S);
    rc
});

// connman_pool_get_connection, _get_handler, _conn: index checks
fn get_fd(pool: connman_pool, i: usize) -> connman_result {
    let mut fd = FD_S;
    let rc = connman_pool_get_connection(pool, i, &mut fd);
    if rc != CONNMAN_OK {
        assert_eq!(fd, FD_S);
    }
    rc
}
fn get_ctx(pool: connman_pool, i: usize) -> connman_result {
    let mut ctx = CTX_S;
    let rc = connman_pool_get_handler(pool, i, &mut ctx);
    if rc != CONNMAN_OK {
        assert_eq!(ctx, CTX_S);
    }
    rc
}
fn get_conn(pool: connman_pool, i: usize) -> connman_result {
    let mut c = CONN_S;
    let rc = connman_pool_conn(pool, i, &mut c);
    if rc != CONNMAN_OK {
        assert_eq!(c, CONN_S);
    }
    rc
}
/// Member 0 of a pool closed by its own connman_disconnect.
fn closed_member() -> (Server, connman_pool) {
    let (srv, pool) = pool_with_member("closed-member");
    let mut m = CONN_S;
    assert_eq!(connman_pool_conn(pool, 0, &mut m), CONNMAN_OK);
    assert_eq!(connman_disconnect(m), CONNMAN_OK);
    assert!(wait_until(|| stats(m).is_none()));
    (srv, pool)
}
row!(pool_get_connection__index_eq_size: CONNMAN_ERR_NOT_FOUND, get_fd(pool_with_member("i").1, 1));
row!(pool_get_connection__index_size_max: CONNMAN_ERR_NOT_FOUND, get_fd(pool_with_member("i").1, usize::MAX));
row!(pool_get_connection__empty_pool: CONNMAN_ERR_NOT_FOUND, get_fd(fresh_pool(), 0));
row!(pool_get_connection__stale_pool: CONNMAN_ERR_NOT_FOUND, get_fd(stale_pool(), 0));
row!(pool_get_connection__out_null: CONNMAN_ERR_INVALID_ARGUMENT, "connman_pool_get_connection: fd_out is NULL", connman_pool_get_connection(pool_with_member("i").1, 0, null_mut()));
row!(pool_get_connection__closed_member: CONNMAN_ERR_CLOSED, get_fd(closed_member().1, 0));
row!(pool_get_connection__valid: CONNMAN_OK, {
    let (_srv, pool) = pool_with_member("ok");
    let mut fd = FD_S;
    let rc = connman_pool_get_connection(pool, 0, &mut fd);
    let mut m = CONN_S;
    assert_eq!(connman_pool_conn(pool, 0, &mut m), CONNMAN_OK);
    assert_eq!(fd, connman_fd(m));
    rc
});
row!(pool_get_handler__index_eq_size: CONNMAN_ERR_NOT_FOUND, get_ctx(pool_with_member("i").1, 1));
row!(pool_get_handler__index_size_max: CONNMAN_ERR_NOT_FOUND, get_ctx(pool_with_member("i").1, usize::MAX));
row!(pool_get_handler__stale_pool: CONNMAN_ERR_NOT_FOUND, get_ctx(stale_pool(), 0));
row!(pool_get_handler__out_null: CONNMAN_ERR_INVALID_ARGUMENT, "connman_pool_get_handler: ctx_out is NULL", connman_pool_get_handler(pool_with_member("i").1, 0, null_mut()));
row!(pool_get_handler__closed_member: CONNMAN_ERR_CLOSED, get_ctx(closed_member().1, 0));
row!(pool_get_handler__valid_gives_the_factory_ctx: CONNMAN_OK, {
    let (_srv, pool) = pool_with_member("ctx");
    let mut ctx = CTX_S;
    let rc = connman_pool_get_handler(pool, 0, &mut ctx);
    assert_eq!(ctx as usize, 0x1000);
    rc
});
row!(pool_get_handler__pool_made_by_the_rust_api: CONNMAN_ERR_NOT_FOUND, {
    let srv = Server::echo();
    let pool = connman::create_pool("rust", Box::new(|_| Ok(Recorder::new() as std::sync::Arc<dyn connman::Handler>))).unwrap();
    pool.add(srv.port, "127.0.0.1", &connman::Options::default()).unwrap();
    get_ctx(connman_pool { id: pool.id() }, 0)
});
row!(pool_conn__index_eq_size: CONNMAN_ERR_NOT_FOUND, get_conn(pool_with_member("i").1, 1));
row!(pool_conn__index_size_max: CONNMAN_ERR_NOT_FOUND, get_conn(pool_with_member("i").1, usize::MAX));
row!(pool_conn__stale_pool: CONNMAN_ERR_NOT_FOUND, get_conn(stale_pool(), 0));
row!(pool_conn__out_null: CONNMAN_ERR_INVALID_ARGUMENT, "connman_pool_conn: out is NULL", connman_pool_conn(pool_with_member("i").1, 0, null_mut()));
row!(pool_conn__closed_member_gives_a_stale_handle: CONNMAN_OK, {
    let (_srv, pool) = closed_member();
    let mut m = CONN_S;
    let rc = connman_pool_conn(pool, 0, &mut m);
    assert_eq!(connman_send(m, b"x".as_ptr(), 1), CONNMAN_ERR_NOT_FOUND);
    rc
});

// connman_pool_next
fn next(pool: connman_pool) -> connman_result {
    let mut c = CONN_S;
    let rc = connman_pool_next(pool, &mut c);
    if rc != CONNMAN_OK {
        assert_eq!(c, CONN_S);
    }
    rc
}
row!(pool_next__out_null: CONNMAN_ERR_INVALID_ARGUMENT, "connman_pool_next: out is NULL", connman_pool_next(pool_with_member("n").1, null_mut()));
row!(pool_next__empty_pool: CONNMAN_ERR_NOT_CONNECTED, next(fresh_pool()));
row!(pool_next__no_member_connected: CONNMAN_ERR_NOT_CONNECTED, {
    let (mut srv, pool) = pool_with_member("down");
    srv.cmd("stop");
    let mut s = PSTATS_S;
    assert!(wait_until(|| connman_pool_get_stats(pool, &mut s) == CONNMAN_OK && s.connected == 0));
    next(pool)
});
row!(pool_next__stale_pool: CONNMAN_ERR_NOT_FOUND, next(stale_pool()));
row!(pool_next__id_0: CONNMAN_ERR_NOT_FOUND, next(connman_pool { id: 0 }));

row!(pool_next__right_after_pool_disconnect: CONNMAN_ERR_CLOSED, {
    let (_srv, pool) = pool_with_member("next-closing");
    let _blocked = ReactorBlocker::block();
    assert_eq!(connman_pool_disconnect(pool), CONNMAN_OK);
    next(pool)
});
row!(pool_next__skips_a_member_being_disconnected: CONNMAN_ERR_NOT_CONNECTED, {
    let (_srv, pool) = pool_with_member("next-member-closing");
    let _blocked = ReactorBlocker::block();
    let mut m = CONN_S;
    assert_eq!(connman_pool_conn(pool, 0, &mut m), CONNMAN_OK);
    assert_eq!(connman_disconnect(m), CONNMAN_OK);
    next(pool)
});

// connman_pool_disconnect
row!(pool_disconnect__pool_id_0: CONNMAN_ERR_NOT_FOUND, connman_pool_disconnect(connman_pool { id: 0 }));
row!(pool_disconnect__stale_pool: CONNMAN_ERR_NOT_FOUND, connman_pool_disconnect(stale_pool()));
row!(pool_disconnect__twice_members_closing: CONNMAN_ERR_CLOSED, {
    let (_srv, pool) = pool_with_member("twice");
    let _blocked = ReactorBlocker::block();
    assert_eq!(connman_pool_disconnect(pool), CONNMAN_OK);
    connman_pool_disconnect(pool)
});
row!(pool_disconnect__twice_empty_pool_released_at_once: CONNMAN_ERR_NOT_FOUND, {
    let pool = fresh_pool();
    assert_eq!(connman_pool_disconnect(pool), CONNMAN_OK);
    connman_pool_disconnect(pool)
});

// Version 2: options fields and reserved space
row!(connect__options_reserved_nonzero: CONNMAN_ERR_INVALID_ARGUMENT, "connman_connect: connman_options.reserved[16] is 7: a field this libconnman", connect_opts(|o| o.reserved[16] = 7));
row!(connect__options_resolve_in_background_2: CONNMAN_ERR_INVALID_ARGUMENT, "options.resolve_in_background must be 0 or 1, got 2", connect_opts(|o| o.resolve_in_background = 2));
row!(connect__options_send_while_reconnecting_over_1_GiB: CONNMAN_ERR_INVALID_ARGUMENT, "options.send_while_reconnecting must be 0 to 1073741824, got 1073741825", connect_opts(|o| o.send_while_reconnecting = (1 << 30) + 1));
row!(connect__options_zeroed: CONNMAN_ERR_INVALID_ARGUMENT, "options.backoff_initial_ms must be at least 1, got 0", {
    // SAFETY: connman_options is plain old data; all-zero is a valid value.
    let o: connman_options = unsafe { std::mem::zeroed() };
    connect_with(80, p(LOOP), &null_handler(), &o)
});
row!(connect__resolve_in_background_unresolvable_returns_at_once: CONNMAN_OK, {
    let h = null_handler();
    let mut o = defaults();
    o.resolve_in_background = 1;
    let mut out = CONN_S;
    let rc = connman_connect(80, p(b"no-such-host.invalid\0"), &h, &o, &mut out);
    assert!(wait_until(|| stats(out).is_some_and(|s| s.last_resolve_error != 0)));
    rc
});

// connman_connect_unix, connman_get_connection_unix, connman_pool_add_unix
fn connect_unix(path: *const c_char) -> connman_result {
    let mut out = CONN_S;
    let rc = connman_connect_unix(path, &null_handler(), null(), &mut out);
    if rc != CONNMAN_OK {
        assert_eq!(out, CONN_S, "out-parameter written on error");
    }
    rc
}
row!(connect_unix__path_null: CONNMAN_ERR_INVALID_ARGUMENT, "connman_connect_unix: path is NULL", connect_unix(null()));
row!(connect_unix__path_empty: CONNMAN_ERR_INVALID_ARGUMENT, "connman_connect_unix: path is empty", connect_unix(p(b"\0")));
row!(connect_unix__path_108_bytes: CONNMAN_ERR_INVALID_ARGUMENT, "connman_connect_unix: path must be at most 107 bytes", connect_unix(p(&long(108))));
row!(connect_unix__path_1_MiB: CONNMAN_ERR_INVALID_ARGUMENT, "connman_connect_unix: path must be at most 107 bytes (after the '@' of an abstract name), got 1048576", connect_unix(p(&long(MIB))));
row!(connect_unix__abstract_name_108_bytes: CONNMAN_ERR_INVALID_ARGUMENT, "connman_connect_unix: path must be at most 107 bytes (after the '@'", {
    let mut v = long(108);
    v[0] = b'@';
    let mut w = vec![b'@'];
    w.extend_from_slice(&v[..108]);
    w.push(0);
    connect_unix(p(&w))
});
row!(connect_unix__path_not_utf8: CONNMAN_ERR_INVALID_ARGUMENT, "connman_connect_unix: path is not UTF-8", connect_unix(p(NON_UTF8)));
row!(connect_unix__handler_null: CONNMAN_ERR_INVALID_ARGUMENT, "connman_connect_unix: handler is NULL", {
    let mut out = CONN_S;
    connman_connect_unix(p(b"/tmp/x.sock\0"), null(), null(), &mut out)
});
row!(connect_unix__out_null: CONNMAN_ERR_INVALID_ARGUMENT, "connman_connect_unix: out is NULL", connman_connect_unix(p(b"/tmp/x.sock\0"), &null_handler(), null(), null_mut()));
row!(connect_unix__path_107_bytes_missing_is_retried: CONNMAN_OK, connect_unix(p(&long(107))));
row!(get_connection_unix__path_null: CONNMAN_ERR_INVALID_ARGUMENT, "connman_get_connection_unix: path is NULL", {
    let mut out = CONN_S;
    connman_get_connection_unix(null(), &mut out)
});
row!(get_connection_unix__out_null: CONNMAN_ERR_INVALID_ARGUMENT, "connman_get_connection_unix: out is NULL", connman_get_connection_unix(p(b"/tmp/x.sock\0"), null_mut()));
row!(get_connection_unix__unknown: CONNMAN_ERR_NOT_FOUND, {
    let mut out = CONN_S;
    connman_get_connection_unix(p(b"/tmp/no-such.sock\0"), &mut out)
});
row!(pool_add_unix__path_empty: CONNMAN_ERR_INVALID_ARGUMENT, "connman_pool_add_unix: path is empty", {
    let mut idx = USIZE_S;
    let rc = connman_pool_add_unix(fresh_pool(), p(b"\0"), null(), &mut idx);
    assert_eq!(idx, USIZE_S);
    rc
});
row!(pool_add_unix__index_out_null: CONNMAN_ERR_INVALID_ARGUMENT, "connman_pool_add_unix: index_out is NULL", connman_pool_add_unix(fresh_pool(), p(b"/tmp/x.sock\0"), null(), null_mut()));

// connman_configure, connman_event_fd, connman_dispatch
fn config_with(f: impl FnOnce(&mut connman_config)) -> connman_result {
    let mut c = connman_config_default();
    f(&mut c);
    connman_configure(&c)
}
row!(configure__threads_65: CONNMAN_ERR_INVALID_ARGUMENT, "connman_configure: config.threads must be at most 64, got 65", config_with(|c| c.threads = 65));
row!(configure__reserved_nonzero: CONNMAN_ERR_INVALID_ARGUMENT, "connman_configure: connman_config.reserved[0] is 1", config_with(|c| c.reserved[0] = 1));
row!(configure__misaligned: CONNMAN_ERR_INVALID_ARGUMENT, "connman_configure: config is not aligned", connman_configure(misaligned(&mut [0; 8])));
row!(configure__null_means_defaults: CONNMAN_OK, connman_configure(null()));
row!(configure__while_running: CONNMAN_ERR_STATE, {
    let (_srv, _conn) = live(None);
    config_with(|c| c.threads = 2)
});
row!(event_fd__not_embedded_is_minus_one: CONNMAN_OK, {
    assert_eq!(connman_event_fd(), -1);
    assert!(last_message().contains("connman_event_fd: connman_event_fd is for embedded mode"));
    CONNMAN_OK
});
row!(dispatch__not_embedded: CONNMAN_ERR_STATE, connman_dispatch());
row!(dispatch__embedded_before_start_is_harmless: CONNMAN_OK, {
    assert_eq!(config_with(|c| c.threads = 0), CONNMAN_OK);
    let rc = connman_dispatch();
    assert_eq!(connman_configure(null()), CONNMAN_OK);
    rc
});

// connman_set_log
row!(set_log__max_level_5: CONNMAN_ERR_INVALID_ARGUMENT, "connman_set_log: max_level must be 0 to 4", connman_set_log(None, null_mut(), 5));
row!(set_log__max_level_negative: CONNMAN_ERR_INVALID_ARGUMENT, "connman_set_log: max_level must be 0 to 4 (CONNMAN_LOG_DEBUG), got -1", connman_set_log(None, null_mut(), -1));
row!(set_log__default_back: CONNMAN_OK, connman_set_log(None, null_mut(), CONNMAN_LOG_ERROR));

/// Messages are per thread: two threads failing differently each see their own.
#[test]
fn last_error_messages_are_per_thread() {
    let _s = serial();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
    let run = |port: u16, want: &'static str| {
        let b = barrier.clone();
        std::thread::spawn(move || {
            for _ in 0..200 {
                assert_ne!(
                    connect_with(port, p(LOOP), &null_handler(), null()),
                    CONNMAN_OK
                );
                b.wait();
                assert!(
                    last_message().contains(want),
                    "{:?} lacks {want:?}",
                    last_message()
                );
                b.wait();
            }
        })
    };
    let a = run(0, "port must be 1 to 65535, got 0");
    let b = {
        let b = barrier.clone();
        std::thread::spawn(move || {
            for _ in 0..200 {
                assert_ne!(connect_opts(|o| o.keepalive_count = 0), CONNMAN_OK);
                b.wait();
                assert!(
                    last_message().contains("keepalive_count"),
                    "{:?}",
                    last_message()
                );
                b.wait();
            }
        })
    };
    a.join().unwrap();
    b.join().unwrap();
    // A successful call leaves the message as it was.
    assert_ne!(
        connect_with(0, p(LOOP), &null_handler(), null()),
        CONNMAN_OK
    );
    let before = last_message();
    assert_eq!(connman_disconnect_all(), CONNMAN_OK);
    assert_eq!(last_message(), before);
    connman::shutdown().unwrap();
}

/// Sanity: the process survived everything above, and nothing leaked a thread.
#[test]
fn zz_no_library_thread_left() {
    let _s = serial();
    connman::shutdown().unwrap();
    assert!(wait_for(Duration::from_secs(5), &mut || threads_named(
        "connman-"
    )
    .is_empty()));
}
