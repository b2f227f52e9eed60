//! connman keeps TCP client connections alive.
//!
//! It opens a connection to `host:port`, hands the application the raw socket
//! descriptor (no mediation: write to it directly), calls the application's
//! [`Handler`] when the connection is up, drops, comes back and when bytes arrive,
//! and re-establishes broken connections by itself, with backoff, forever, until
//! told to disconnect. The descriptor number stays the same across reconnects.
//! Connections can be grouped in named pools built from a handler factory.
//!
//! ```no_run
//! use connman::{Conn, Handler, Options};
//! use std::sync::Arc;
//!
//! struct Echo;
//! impl Handler for Echo {
//!     fn on_connect(&self, conn: Conn, _fd: i32) {
//!         let _ = conn.send(b"hello\n");
//!     }
//!     fn on_data(&self, _conn: Conn, data: &[u8]) {
//!         println!("got {:?}", String::from_utf8_lossy(data));
//!     }
//! }
//!
//! let conn = connman::connect(7000, "127.0.0.1", Arc::new(Echo), &Options::default())?;
//! // ... later
//! conn.disconnect()?;
//! connman::shutdown()?;
//! # Ok::<(), connman::Error>(())
//! ```
//!
//! Threading: one library thread (the reactor) owns every socket and timer and runs
//! every callback; the API may be called from any thread, including from inside
//! callbacks. See [`Handler`] for the callback contract.

#![deny(unsafe_op_in_unsafe_fn)]

mod backoff;
mod connection;
mod error;
// The C ABI (`include/connman.h`): `#[no_mangle]` functions over the safe API.
// Private: only the C symbols leave the crate, no Rust item of it does.
mod ffi;
mod handler;
mod options;
mod pool;
mod reactor;
mod registry;
mod resolve;
mod runtime;
mod stats;
mod sys;
mod timer;

pub use connection::{conn_from_fd, connect, get_connection, Conn, MAX_HOST_LEN};
pub use error::{Error, Result};
pub use handler::Handler;
pub use options::{Options, MAX_SEND_QUEUE};
pub use pool::{create_pool, find_pool, Factory, Pool, MAX_POOL_NAME};
pub use stats::{PoolStats, State, Stats};

/// The library version, as in Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Disconnects every connection and every pool (as the original's `disconnectAll`).
/// Returns at once; each connection's on_close follows on the library thread.
pub fn disconnect_all() {
    for p in registry::all_pools() {
        let _ = p.disconnect();
    }
    for c in registry::all_conns() {
        let _ = c.request_disconnect();
    }
}

/// Disconnects everything, waits until every on_close has run and the library's
/// threads have exited, and releases every descriptor. A later [`connect`] starts
/// afresh. From inside a callback it returns [`Error::InCallback`] and does nothing.
pub fn shutdown() -> Result<()> {
    runtime::shutdown()
}
