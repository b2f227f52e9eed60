//! connman keeps TCP and Unix-socket client connections alive.
//!
//! It opens a connection to `host:port` (or a Unix socket path), hands the
//! application the raw socket descriptor (no mediation: write to it directly),
//! calls the application's [`Handler`] when the connection is up, drops, comes back
//! and when bytes arrive, and re-establishes broken connections by itself, with
//! backoff, forever, until told to disconnect. The descriptor number stays the
//! same across reconnects. Connections can be grouped in named pools built from a
//! handler factory.
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
//! Threading ([`Config`]): by default one library thread owns every socket and
//! timer and runs every callback; with `threads` = N, N threads share the
//! connections (each connection's callbacks on one of them); with `threads` = 0
//! the application's own loop drives the library through [`event_fd`] and
//! [`dispatch`]. The API may be called from any thread, including from inside
//! callbacks. See [`Handler`] for the callback contract.
//!
//! Layers, from the bottom: leaves (`error`, `options`, `config`, `stats`,
//! `backoff`, `timer`, `slots`, `endpoint`, `sys`, `fork`, `log`); the state shared
//! between threads (`conn`, `pool`, `registry`); the runtime that drives it
//! (`runtime`: event loops, the connection state machine, the resolver); the
//! public API (`api`); and the C ABI over it (`ffi`). See docs/ARCHITECTURE.md.

#![deny(unsafe_op_in_unsafe_fn)]

// Leaves.
mod backoff;
mod config;
mod endpoint;
mod error;
mod fork;
mod log;
mod options;
mod slots;
mod stats;
mod sys;
mod timer;
// State shared between threads.
mod conn;
mod handler;
mod pool;
mod registry;
// What drives it.
mod runtime;
// The public API, and the C ABI (`include/connman.h`) over it: `#[no_mangle]`
// functions over the safe API. Private: only the C symbols leave the crate.
mod api;
mod ffi;

pub use api::{
    configure, conn_from_fd, connect, connect_unix, create_pool, disconnect_all, dispatch,
    event_fd, find_pool, get_connection, get_connection_unix, shutdown,
};
pub use config::{Config, MAX_THREADS};
pub use conn::Conn;
pub use endpoint::{MAX_HOST_LEN, MAX_UNIX_PATH};
pub use error::{last_error_message, Error, Result};
pub use handler::Handler;
#[doc(hidden)]
pub use log::formatted_count as __log_formatted_count;
pub use log::{set_log, Level, LogFn};
pub use options::{Options, MAX_SEND_QUEUE};
pub use pool::{Factory, Pool, MAX_POOL_NAME};
pub use stats::{PoolStats, State, Stats};

/// The library version, as in Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
