//! C functions for pools.

use super::check;
use super::conn::options;
use super::handler::FfiHandler;
use super::types::*;
use crate::error::Error;
use crate::handler::Handler;
use crate::Pool;
use std::any::Any;
use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;

fn pool(p: connman_pool) -> Pool {
    Pool::from_id(p.id)
}

/// The factory's context pointer, carried to the thread that calls connman_pool_add.
struct FactoryCtx(*mut c_void);
// SAFETY: the library never dereferences the pointer; it passes it back to the C
// factory, which the application wrote to be called from the threads that call
// connman_pool_add (documented on connman_pool_create).
unsafe impl Send for FactoryCtx {}

/// Creates an empty pool named `name` (NUL-terminated UTF-8, 1 to 255 bytes) whose
/// members get their handlers from `factory` (called with `factory_ctx`, on the
/// thread that calls `connman_pool_add`). `factory_ctx` must stay valid until the
/// pool is released: the factory is never called after `connman_pool_disconnect`
/// (or `connman_disconnect_all`, `connman_shutdown`) returns. On success `*out`
/// receives the handle.
/// Errors: `CONNMAN_ERR_INVALID_ARGUMENT` (NULL or bad name, NULL factory or out),
/// `CONNMAN_ERR_EXISTS` (the name is taken, including by a pool still closing).
#[no_mangle]
pub extern "C" fn connman_pool_create(
    name: *const c_char,
    factory: connman_handler_factory,
    factory_ctx: *mut c_void,
    out: *mut connman_pool,
) -> connman_result {
    ffi_guard!("connman_pool_create", {
        let name = check::c_str("name", name, CONNMAN_MAX_POOL_NAME_LEN)?;
        let f = factory.ok_or_else(|| Error::invalid(format_args!("factory is NULL")))?;
        let out = check::out("out", out)?;
        let ctx = FactoryCtx(factory_ctx);
        let make = move |index: usize| -> crate::Result<Arc<dyn Handler>> {
            let ctx = &ctx;
            let mut h = connman_handler {
                ctx: std::ptr::null_mut(),
                on_connect: None,
                on_reset: None,
                on_reconnect: None,
                on_data: None,
                on_close: None,
            };
            // SAFETY: the application's factory, called with its own ctx and a
            // pointer to a live, initialized handler struct.
            let rc = unsafe { f(ctx.0, index, &mut h) };
            if rc != CONNMAN_OK {
                return Err(Error::Factory);
            }
            Ok(Arc::new(FfiHandler(h)))
        };
        let p = crate::create_pool(name, Box::new(make))?;
        out.write(connman_pool { id: p.id() });
        Ok(())
    })
}

/// Finds a pool by name. A disconnected pool is found until every member's
/// `on_close` has run. Errors: `CONNMAN_ERR_INVALID_ARGUMENT`, `CONNMAN_ERR_NOT_FOUND`.
#[no_mangle]
pub extern "C" fn connman_pool_find(name: *const c_char, out: *mut connman_pool) -> connman_result {
    ffi_guard!("connman_pool_find", {
        let name = check::c_str("name", name, CONNMAN_MAX_POOL_NAME_LEN)?;
        let out = check::out("out", out)?;
        let p = crate::find_pool(name)?;
        out.write(connman_pool { id: p.id() });
        Ok(())
    })
}

/// Adds a member connected to `host`:`port` (arguments as for `connman_connect`).
/// Checks the arguments and resolves the host first, then calls the factory with
/// the new member's index, then opens the connection; `*index_out` receives the
/// index. Indexes are 0, 1, 2, ... and never change. If the factory refuses,
/// nothing is added (`CONNMAN_ERR_FACTORY`). Adds to one pool are serialized.
/// Errors also: `CONNMAN_ERR_INVALID_ARGUMENT`, `CONNMAN_ERR_RESOLVE`,
/// `CONNMAN_ERR_NOT_FOUND` (stale pool), `CONNMAN_ERR_CLOSED` (pool disconnected),
/// `CONNMAN_ERR_IN_CALLBACK` (called from this pool's own factory), `CONNMAN_ERR_OS`.
#[no_mangle]
pub extern "C" fn connman_pool_add(
    pool: connman_pool,
    port: u16,
    host: *const c_char,
    options: *const connman_options,
    index_out: *mut usize,
) -> connman_result {
    ffi_guard!("connman_pool_add", {
        let host = check::c_str("host", host, CONNMAN_MAX_HOST_LEN)?;
        let opts = self::options(options)?;
        let out = check::out("index_out", index_out)?;
        let i = self::pool(pool).add(port, host, &opts)?;
        out.write(i);
        Ok(())
    })
}

/// Adds a member connected to the Unix socket at `path` (as for
/// `connman_connect_unix`), otherwise exactly as `connman_pool_add`. A pool may mix
/// TCP and Unix members.
#[no_mangle]
pub extern "C" fn connman_pool_add_unix(
    pool: connman_pool,
    path: *const c_char,
    options: *const connman_options,
    index_out: *mut usize,
) -> connman_result {
    ffi_guard!("connman_pool_add_unix", {
        let path = check::c_str("path", path, usize::MAX)?;
        let opts = self::options(options)?;
        let out = check::out("index_out", index_out)?;
        let i = self::pool(pool).add_unix(path, &opts)?;
        out.write(i);
        Ok(())
    })
}

/// Number of members ever added (closed ones keep their index).
#[no_mangle]
pub extern "C" fn connman_pool_size(pool: connman_pool, out: *mut usize) -> connman_result {
    ffi_guard!("connman_pool_size", {
        let out = check::out("out", out)?;
        out.write(self::pool(pool).size()?);
        Ok(())
    })
}

/// The descriptor of member `index`: the same number its `on_connect` received.
/// Errors: `CONNMAN_ERR_NOT_FOUND` (stale pool, index out of range),
/// `CONNMAN_ERR_CLOSED` (that member is closed), `CONNMAN_ERR_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn connman_pool_get_connection(
    pool: connman_pool,
    index: usize,
    fd_out: *mut c_int,
) -> connman_result {
    ffi_guard!("connman_pool_get_connection", {
        let out = check::out("fd_out", fd_out)?;
        out.write(self::pool(pool).connection_fd(index)?);
        Ok(())
    })
}

/// The `ctx` of the handler the factory made for member `index`. Errors as for
/// `connman_pool_get_connection`. The pointer is only returned, never used: if
/// another thread may be disconnecting that member, its `on_close` may be freeing
/// the ctx concurrently; synchronize that in the application.
#[no_mangle]
pub extern "C" fn connman_pool_get_handler(
    pool: connman_pool,
    index: usize,
    ctx_out: *mut *mut c_void,
) -> connman_result {
    ffi_guard!("connman_pool_get_handler", {
        let out = check::out("ctx_out", ctx_out)?;
        let h: Arc<dyn Any + Send + Sync> = self::pool(pool).handler(index)?;
        let h = h.downcast::<FfiHandler>().map_err(|_| Error::NotFound)?;
        out.write(h.0.ctx);
        Ok(())
    })
}

/// The connection handle of member `index` (valid even after that member closed:
/// calls with it then return `CONNMAN_ERR_NOT_FOUND`).
#[no_mangle]
pub extern "C" fn connman_pool_conn(
    pool: connman_pool,
    index: usize,
    out: *mut connman_conn,
) -> connman_result {
    ffi_guard!("connman_pool_conn", {
        let out = check::out("out", out)?;
        let c = self::pool(pool).conn(index)?;
        out.write(connman_conn { id: c.id() });
        Ok(())
    })
}

/// Round robin over the members connected right now, in index order, skipping
/// those that are down and those being disconnected. Constant time; safe from many
/// threads at once. Errors:
/// `CONNMAN_ERR_NOT_CONNECTED` (none is connected now), `CONNMAN_ERR_CLOSED` (pool
/// disconnected), `CONNMAN_ERR_NOT_FOUND`, `CONNMAN_ERR_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn connman_pool_next(pool: connman_pool, out: *mut connman_conn) -> connman_result {
    ffi_guard!("connman_pool_next", {
        let out = check::out("out", out)?;
        let c = self::pool(pool).next()?;
        out.write(connman_conn { id: c.id() });
        Ok(())
    })
}

/// Members, connected members, closed members.
#[no_mangle]
pub extern "C" fn connman_pool_get_stats(
    pool: connman_pool,
    out: *mut connman_pool_stats,
) -> connman_result {
    ffi_guard!("connman_pool_get_stats", {
        let out = check::out("out", out)?;
        out.write(self::pool(pool).stats()?.into());
        Ok(())
    })
}

/// Disconnects every member (each gets its `on_close`). The pool then takes no new
/// members (`CONNMAN_ERR_CLOSED`) and cannot be reused. Its name stays taken and
/// `connman_pool_find` finds it until every member's `on_close` has run; then the
/// name is released (a new pool may take it) and the handle is stale. A second
/// call returns `CONNMAN_ERR_CLOSED`.
#[no_mangle]
pub extern "C" fn connman_pool_disconnect(pool: connman_pool) -> connman_result {
    ffi_guard!("connman_pool_disconnect", { self::pool(pool).disconnect() })
}
