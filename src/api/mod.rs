//! The public API: each function checks its arguments, then drives the state
//! (`conn`, `pool`, `registry`) and the runtime. Policies that span them (how a
//! connection is prepared and opened, what shutdown does, in which order) live
//! here, not in the layers below.

mod pool;

pub use pool::{create_pool, find_pool};

use crate::config::Config;
use crate::conn::{Conn, ConnShared, Member, Parts};
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::handler::Handler;
use crate::options::{secs_up, Options};
use crate::registry;
use crate::runtime::{self, Cmd, Runtime};
use crate::stats::Stats;
use crate::sys::{self, Addr, SockOpts};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::RawFd;
use std::sync::Arc;

/// A connection that passed every check and has its descriptor, but has not been
/// handed to a loop yet. Dropping it closes the descriptor.
pub(crate) struct Prepared {
    parts: Option<Parts>,
    /// The addresses of the first attempt (None: resolve in the background first).
    addrs: Option<Vec<Addr>>,
}

impl Drop for Prepared {
    fn drop(&mut self) {
        if let Some(p) = &self.parts {
            sys::close(p.fd);
        }
    }
}

/// An [`Error::Os`] saying which call failed and why.
fn os_error(call: &str, e: std::io::Error) -> Error {
    let why = format!("{call} failed: {e}");
    Error::from(e).because(format_args!("{why}"))
}

/// Validates the options, resolves the endpoint (on this thread, unless
/// `resolve_in_background` or nothing to resolve) and reserves the stable
/// descriptor with a placeholder socket.
pub(crate) fn prepare(endpoint: Endpoint, opts: &Options) -> Result<Prepared> {
    opts.validate()?;
    let addrs = match endpoint.known_addrs() {
        Some(addrs) => Some(addrs),
        None if opts.resolve_in_background => None,
        None => Some(endpoint.resolve_now()?),
    };
    // The placeholder: an unconnected socket that reserves the descriptor number.
    // The first attempt connects this very socket when the first address has its
    // family (no extra socket, dup3 or close on the common path); later sockets are
    // dup3'ed onto the number. Writes on it fail until it is connected. Without an
    // address yet, IPv4 is the likely family.
    let family = addrs
        .as_ref()
        .map(|a| a[0])
        .unwrap_or(Addr::Ip(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))));
    let sockopts = (!endpoint.is_unix()).then(|| SockOpts {
        nodelay: opts.nodelay,
        keepalive: opts.keepalive_idle.map(|idle| {
            (
                secs_up(idle) as u32,
                secs_up(opts.keepalive_interval) as u32,
                opts.keepalive_count,
            )
        }),
        user_timeout_ms: opts.user_timeout.map(|d| d.as_millis() as u32),
    });
    let fd = sys::socket_for(&family).map_err(|e| os_error("socket()", e))?;
    let close = |e: Error| {
        sys::close(fd);
        e
    };
    // Socket options go on here, on the caller's thread, not the loop's.
    if let Some(o) = &sockopts {
        sys::apply_sockopts(fd, o).map_err(|e| close(os_error("setsockopt()", e)))?;
    }
    let placeholder_id = sys::file_id(fd)
        .ok_or_else(|| close(os_error("fstat()", std::io::Error::last_os_error())))?;
    Ok(Prepared {
        parts: Some(Parts {
            fd,
            endpoint,
            placeholder_family: family,
            placeholder_id,
            opts: opts.clone(),
            sockopts,
        }),
        addrs,
    })
}

/// Hands a prepared connection to a loop of the runtime (started if needed). The
/// caller holds [`runtime::admit`].
pub(crate) fn open(
    mut prepared: Prepared,
    handler: Arc<dyn Handler>,
    member: Option<Member>,
) -> Result<Arc<ConnShared>> {
    let rt = Runtime::get_or_start()?;
    let lp = rt.pick_loop();
    let parts = prepared.parts.take().expect("prepared once");
    let sh = Arc::new(ConnShared::new(
        registry::next_id(),
        parts,
        handler,
        member,
        lp.clone(),
    ));
    if let Some(stale) = registry::insert_conn(&sh) {
        // Its descriptor number is this connection's now: sends on its handle must
        // not reach this socket. Its loop gives it up (on_close, EBADF, logged).
        let _ = stale.request_disconnect();
    }
    lp.post(Cmd::Start(sh.clone(), prepared.addrs.take()));
    Ok(sh)
}

fn connect_to(endpoint: Endpoint, handler: Arc<dyn Handler>, options: &Options) -> Result<Conn> {
    let _admitted = runtime::admit()?;
    let prepared = prepare(endpoint, options)?;
    Ok(open(prepared, handler, None)?.conn())
}

/// Opens a managed connection to `host:port` and keeps it open until
/// [`Conn::disconnect`] (see the crate docs). `host` is a name or a numeric IPv4
/// or IPv6 address; a name is resolved on this thread unless
/// [`Options::resolve_in_background`].
pub fn connect(
    port: u16,
    host: &str,
    handler: Arc<dyn Handler>,
    options: &Options,
) -> Result<Conn> {
    crate::fork::check()?;
    connect_to(Endpoint::tcp(host, port)?, handler, options)
}

/// Opens a managed connection to the Unix domain socket at `path` (`@name`: the
/// abstract namespace). Everything promised for TCP holds; the TCP options are
/// ignored.
pub fn connect_unix(path: &str, handler: Arc<dyn Handler>, options: &Options) -> Result<Conn> {
    crate::fork::check()?;
    connect_to(Endpoint::unix(path)?, handler, options)
}

/// The most recent live single (non-pool) connection opened to exactly this
/// `host` string and `port`.
pub fn get_connection(port: u16, host: &str) -> Result<Conn> {
    crate::fork::check()?;
    registry::conn_by_endpoint(&Endpoint::tcp(host, port)?).map(Conn::from_id)
}

/// The most recent live single (non-pool) connection opened to exactly this path.
pub fn get_connection_unix(path: &str) -> Result<Conn> {
    crate::fork::check()?;
    registry::conn_by_endpoint(&Endpoint::unix(path)?).map(Conn::from_id)
}

/// The connection whose stable descriptor is `fd`.
pub fn conn_from_fd(fd: RawFd) -> Result<Conn> {
    if fd < 0 {
        return Err(Error::invalid(format_args!(
            "fd must not be negative, got {fd}"
        )));
    }
    registry::conn_by_fd(fd).map(Conn::from_id)
}

impl Conn {
    /// The stable descriptor: the same number for the connection's whole life.
    pub fn fd(self) -> Result<RawFd> {
        let sh = registry::conn(self.id())?;
        if sh.is_closed() {
            return Err(Error::Closed);
        }
        Ok(sh.fd)
    }

    /// Sends `data`: written at once when nothing is queued, otherwise queued (bounded
    /// by [`Options::send_queue_limit`]) and written by the library, in order.
    /// All or nothing: on error nothing of `data` was queued. Never raises SIGPIPE.
    /// Errors: [`Error::NotConnected`] while down (unless
    /// [`Options::send_while_reconnecting`] holds it), [`Error::WouldBlock`] when
    /// the queue is full, [`Error::TooLarge`] when `data` exceeds the whole queue,
    /// [`Error::Closed`] after disconnect, [`Error::NotFound`] for a stale handle.
    pub fn send(self, data: &[u8]) -> Result<()> {
        // The Arc is cloned so that the registry lock is not held during the send.
        registry::conn(self.id())?.send(data)
    }

    /// Asks the connection to close: `on_close` follows on its loop. Works in every
    /// state, from any thread and from inside callbacks; a second call returns
    /// [`Error::Closed`].
    pub fn disconnect(self) -> Result<()> {
        registry::conn(self.id())?.request_disconnect()
    }

    /// A snapshot of the connection's counters.
    pub fn stats(self) -> Result<Stats> {
        Ok(registry::conn(self.id())?.stats())
    }
}

/// Disconnects every connection and every pool (as the original's `disconnectAll`).
/// Returns at once; each connection's on_close follows on its loop.
pub fn disconnect_all() -> Result<()> {
    crate::fork::check()?;
    for p in registry::all_pools() {
        let _ = pool::disconnect(&p);
    }
    for c in registry::all_conns() {
        let _ = c.request_disconnect();
    }
    Ok(())
}

/// Disconnects everything, waits until every on_close has run and the library's
/// threads have exited, and releases every descriptor. A later [`connect`] starts
/// afresh (as configured then). From inside a callback or a pool factory it
/// returns [`Error::InCallback`] and does nothing. In embedded mode the remaining
/// on_close callbacks run on the calling thread.
pub fn shutdown() -> Result<()> {
    crate::fork::check()?;
    if runtime::in_loop() || pool::in_any_factory() {
        return Err(Error::InCallback.because(format_args!(
            "connman_shutdown cannot run inside a callback or a pool factory"
        )));
    }
    let _exclusive = runtime::exclusive();
    // No pool takes new members from here on (an add from an on_close during the
    // shutdown must not outlive it).
    for p in registry::all_pools() {
        p.mark_closing();
    }
    runtime::stop();
    // Every connection is closed now, so pools with members are released; pools
    // without members never had a connection: forget them too.
    for p in registry::all_pools() {
        registry::remove_pool(p.id);
    }
    Ok(())
}

/// Sets how the library runs from the next start on: allowed before the first
/// connection and after [`shutdown`]; otherwise [`Error::State`], nothing changed.
pub fn configure(config: Config) -> Result<()> {
    crate::fork::check()?;
    if runtime::in_loop() || pool::in_any_factory() {
        return Err(Error::InCallback.because(format_args!(
            "connman_configure cannot run inside a callback or a pool factory"
        )));
    }
    let _exclusive = runtime::exclusive();
    runtime::configure(config)
}

/// Embedded mode ([`Config::threads`] = 0): the descriptor to wait on in the
/// application's loop. It becomes readable whenever the library has work (I/O, a
/// due timer, a request from another thread); then call [`dispatch`]. Starts the
/// runtime if needed; the same descriptor until [`shutdown`]. Do not read it or
/// close it. [`Error::State`] when not in embedded mode.
pub fn event_fd() -> Result<RawFd> {
    crate::fork::check()?;
    let _admitted = runtime::admit()?;
    if !runtime::config().embedded() {
        return Err(Error::State.because(format_args!(
            "connman_event_fd is for embedded mode (threads = 0)"
        )));
    }
    let rt = Runtime::get_or_start()?;
    rt.event_fd().ok_or(Error::State)
}

/// Embedded mode: does the library's ready work on this thread (every callback
/// runs inside it) and returns without blocking. Call it when [`event_fd`] is
/// readable. From inside a callback: [`Error::InCallback`]; when not in embedded
/// mode: [`Error::State`]. If another thread is dispatching, returns at once.
pub fn dispatch() -> Result<()> {
    crate::fork::check()?;
    if runtime::in_loop() {
        return Err(Error::InCallback.because(format_args!(
            "connman_dispatch cannot run inside a callback"
        )));
    }
    match Runtime::get() {
        Some(rt) => rt.dispatch(),
        None if runtime::config().embedded() => Ok(()),
        None => Err(Error::State.because(format_args!(
            "connman_dispatch is for embedded mode (threads = 0)"
        ))),
    }
}
