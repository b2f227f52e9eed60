//! One managed connection: the state every thread shares, the send path, and the
//! public handle [`Conn`].

use crate::error::{Error, Result};
use crate::handler::Handler;
use crate::options::{secs_up, Options};
use crate::pool::PoolShared;
use crate::registry;
use crate::runtime::{self, Cmd, RuntimeShared};
use crate::stats::{Counters, State, Stats};
use crate::sys::{self, SockOpts};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Weak};

/// Longest host name accepted (the DNS limit).
pub const MAX_HOST_LEN: usize = 253;

/// A handle to a managed connection: a plain id, cheap to copy. Every call checks
/// that the connection still exists; after its `on_close` the handle is stale and
/// calls return [`Error::NotFound`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Conn {
    id: u64,
}

impl Conn {
    /// Rebuilds a handle from [`Conn::id`]. Ids are never reused.
    pub fn from_id(id: u64) -> Conn {
        Conn { id }
    }

    /// The handle's id (never 0 for a handle the library issued).
    pub fn id(self) -> u64 {
        self.id
    }

    /// The stable descriptor: the same number for the connection's whole life.
    pub fn fd(self) -> Result<RawFd> {
        let sh = registry::conn(self.id)?;
        if sh.is_closed() {
            return Err(Error::Closed);
        }
        Ok(sh.fd)
    }

    /// Sends `data`: written at once when nothing is queued, otherwise queued (bounded
    /// by [`Options::send_queue_limit`]) and written by the library thread, in order.
    /// All or nothing: on error nothing of `data` was queued. Never raises SIGPIPE.
    /// Errors: [`Error::NotConnected`] while down, [`Error::WouldBlock`] when the
    /// queue is full, [`Error::TooLarge`] when `data` exceeds the whole queue,
    /// [`Error::Closed`] after disconnect, [`Error::NotFound`] for a stale handle.
    pub fn send(self, data: &[u8]) -> Result<()> {
        // The Arc is cloned so that the registry lock is not held during the send.
        registry::conn(self.id)?.send(data)
    }

    /// Asks the connection to close: `on_close` follows on the library thread.
    /// Works in every state, from any thread and from inside callbacks; a second
    /// call returns [`Error::Closed`].
    pub fn disconnect(self) -> Result<()> {
        registry::conn(self.id)?.request_disconnect()
    }

    /// A snapshot of the connection's counters.
    pub fn stats(self) -> Result<Stats> {
        Ok(registry::conn(self.id)?.stats())
    }
}

/// Guarded by the connection's lock: what the send path and the reactor share.
pub(crate) struct Io {
    pub state: State,
    pub queue: VecDeque<u8>,
    /// EPOLLOUT is registered because the queue is not empty.
    pub want_write: bool,
    /// Bytes handed to the kernel by send and the reactor's flush.
    pub bytes_sent: u64,
}

pub(crate) struct ConnShared {
    pub id: u64,
    /// The stable descriptor number the application holds.
    pub fd: RawFd,
    /// Address family of the placeholder socket first held by `fd`.
    pub placeholder_v6: bool,
    /// What `fd` referred to when the placeholder was made (see [`sys::file_id`]).
    pub placeholder_id: sys::FileId,
    pub host: String,
    pub port: u16,
    /// Set when `host` is a numeric address: no resolver needed.
    pub numeric: Option<SocketAddr>,
    pub opts: Options,
    pub sockopts: SockOpts,
    /// Taken (dropped) right after on_close, so the library holds no handler after it.
    pub handler: Mutex<Option<Arc<dyn Handler>>>,
    pub pool: Option<(Weak<PoolShared>, usize)>,
    pub io: Mutex<Io>,
    pub counters: Counters,
    /// Disconnect was asked: no callback but on_close from now on.
    pub closing: AtomicBool,
    pub rt: Arc<RuntimeShared>,
}

/// epoll token of a connection's stable descriptor or its in-flight attempt socket.
pub(crate) fn token(id: u64, attempt: bool) -> u64 {
    (id << 1) | attempt as u64
}

pub(crate) const READ_EVENTS: u32 = sys::EV_IN | sys::EV_RDHUP;

impl ConnShared {
    pub fn conn(&self) -> Conn {
        Conn { id: self.id }
    }

    /// on_close ran or is running.
    pub fn is_closed(&self) -> bool {
        self.io.lock().state == State::Closed
    }

    /// Sends at once when nothing is queued (one send(2) on the caller's thread, no
    /// wake-up of the reactor); otherwise appends to the bounded queue that the
    /// reactor flushes. All or nothing: either every byte was written or queued, or
    /// none was and an error says why.
    pub fn send(&self, data: &[u8]) -> Result<()> {
        let limit = self.opts.send_queue_limit;
        let mut io = self.io.lock();
        match io.state {
            State::Closing | State::Closed => return Err(Error::Closed),
            State::Connecting | State::Reconnecting => return Err(Error::NotConnected),
            State::Connected => {}
        }
        if data.is_empty() {
            return Ok(());
        }
        if data.len() > limit {
            return Err(Error::TooLarge);
        }
        if io.queue.len() + data.len() > limit {
            return Err(Error::WouldBlock);
        }
        let mut written = 0;
        if io.queue.is_empty() {
            match sys::send(self.fd, data) {
                Ok(n) => written = n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                // The connection is broken; the reactor sees it and resets.
                Err(_) => return Err(Error::NotConnected),
            }
            io.bytes_sent += written as u64;
        }
        if written < data.len() {
            io.queue.extend(&data[written..]);
            if !io.want_write {
                let _ = sys::epoll_mod(
                    self.rt.epfd,
                    self.fd,
                    READ_EVENTS | sys::EV_OUT,
                    token(self.id, false),
                );
                io.want_write = true;
            }
        }
        Ok(())
    }

    pub fn request_disconnect(&self) -> Result<()> {
        if self.closing.swap(true, SeqCst) {
            return Err(Error::Closed);
        }
        {
            let mut io = self.io.lock();
            if io.state != State::Closed {
                io.state = State::Closing;
            }
        }
        // A closing pool member is no longer handed out by pool_next.
        if let Some((pool, index)) = &self.pool {
            if let Some(pool) = pool.upgrade() {
                pool.set_connected(*index, self.id, false);
            }
        }
        self.rt.post(Cmd::Disconnect(self.id));
        Ok(())
    }

    /// A consistent snapshot: byte counters change only under the io lock.
    pub fn stats(&self) -> Stats {
        let io = self.io.lock();
        let (state, queued) = (io.state, io.queue.len() as u64);
        let c = &self.counters;
        Stats {
            state,
            connects: c.connects.load(Relaxed),
            resets: c.resets.load(Relaxed),
            attempts: c.attempts.load(Relaxed),
            consecutive_failures: c.consecutive_failures.load(Relaxed),
            last_error: c.last_error.load(Relaxed),
            last_resolve_error: c.last_resolve_error.load(Relaxed),
            bytes_received: c.bytes_received.load(Relaxed),
            bytes_sent: io.bytes_sent,
            bytes_discarded: c.bytes_discarded.load(Relaxed),
            send_queue_bytes: queued,
        }
    }
}

/// A connection that passed every check and has its descriptor, but has not been
/// handed to the reactor yet. Dropping it closes the descriptor.
pub(crate) struct Prepared {
    port: u16,
    host: String,
    numeric: Option<SocketAddr>,
    addrs: Vec<SocketAddr>,
    opts: Options,
    fd: RawFd,
    placeholder_v6: bool,
    placeholder_id: sys::FileId,
    sockopts: SockOpts,
}

impl Prepared {
    /// Validates the arguments, resolves the host (on the calling thread, so an
    /// unresolvable name is an error here) and reserves the stable descriptor.
    pub fn new(port: u16, host: &str, opts: &Options) -> Result<Prepared> {
        crate::fork::check()?;
        if port == 0 || host.is_empty() || host.len() > MAX_HOST_LEN || host.contains('\0') {
            return Err(Error::InvalidArgument);
        }
        opts.validate()?;
        let numeric = sys::parse_numeric(host, port);
        let addrs = match numeric {
            Some(a) => vec![a],
            None => sys::resolve(host, port).map_err(|_| Error::Resolve)?,
        };
        // The placeholder: an unconnected socket that reserves the descriptor number.
        // The first attempt connects this very socket when the first address has its
        // family (no extra socket, dup3 or close on the common path); later sockets
        // are dup3'ed onto the number. Writes on it fail until it is connected.
        let placeholder_v6 = addrs[0].is_ipv6();
        let sockopts = SockOpts {
            nodelay: opts.nodelay,
            keepalive: opts.keepalive_idle.map(|idle| {
                (
                    secs_up(idle) as u32,
                    secs_up(opts.keepalive_interval) as u32,
                    opts.keepalive_count,
                )
            }),
            user_timeout_ms: opts.user_timeout.map(|d| d.as_millis() as u32),
        };
        let fd = sys::tcp_socket(placeholder_v6)?;
        // Socket options go on here, on the caller's thread, not the reactor's.
        if let Err(e) = sys::apply_sockopts(fd, &sockopts) {
            sys::close(fd);
            return Err(e.into());
        }
        let Some(placeholder_id) = sys::file_id(fd) else {
            sys::close(fd);
            return Err(Error::Os(libc::EBADF));
        };
        Ok(Prepared {
            port,
            host: host.to_owned(),
            numeric,
            addrs,
            opts: opts.clone(),
            fd,
            placeholder_v6,
            placeholder_id,
            sockopts,
        })
    }

    /// Hands the connection to the reactor. Infallible but for a runtime that
    /// cannot start (no thread, no descriptors).
    pub fn start(
        mut self,
        handler: Arc<dyn Handler>,
        pool: Option<(Weak<PoolShared>, usize)>,
    ) -> Result<Arc<ConnShared>> {
        loop {
            let rt = runtime::get_or_start()?;
            let accepting = rt.accepting.lock();
            if !*accepting {
                // That runtime is shutting down; the next get_or_start makes a new one.
                drop(accepting);
                std::thread::yield_now();
                continue;
            }
            let sh = Arc::new(ConnShared {
                id: registry::next_id(),
                fd: self.fd,
                placeholder_v6: self.placeholder_v6,
                placeholder_id: self.placeholder_id,
                host: std::mem::take(&mut self.host),
                port: self.port,
                numeric: self.numeric,
                opts: self.opts.clone(),
                sockopts: self.sockopts,
                handler: Mutex::new(Some(handler)),
                pool,
                io: Mutex::new(Io {
                    state: State::Connecting,
                    queue: VecDeque::new(),
                    want_write: false,
                    bytes_sent: 0,
                }),
                counters: Counters::default(),
                closing: AtomicBool::new(false),
                rt: rt.clone(),
            });
            self.fd = -1; // owned by the connection now
            registry::insert_conn(&sh);
            rt.post(Cmd::Start(sh.clone(), std::mem::take(&mut self.addrs)));
            return Ok(sh);
        }
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        sys::close(self.fd);
    }
}

/// Opens a managed connection to `host:port` (see the crate docs).
pub fn connect(
    port: u16,
    host: &str,
    handler: Arc<dyn Handler>,
    options: &Options,
) -> Result<Conn> {
    let _admitted = runtime::admit()?;
    let sh = Prepared::new(port, host, options)?.start(handler, None)?;
    Ok(sh.conn())
}

/// The most recent live single (non-pool) connection opened to exactly this
/// `host` string and `port`.
pub fn get_connection(port: u16, host: &str) -> Result<Conn> {
    registry::conn_by_endpoint(host, port).map(Conn::from_id)
}

/// The connection whose stable descriptor is `fd`.
pub fn conn_from_fd(fd: RawFd) -> Result<Conn> {
    if fd < 0 {
        return Err(Error::InvalidArgument);
    }
    registry::conn_by_fd(fd).map(Conn::from_id)
}
