//! One managed connection's shared state: what the application's threads and the
//! event loop that drives the connection both touch. The send path lives here (it
//! runs on the caller's thread), and so does every update of the connection's
//! state as others see it (stats, pool membership).
//!
//! Lock rule: `io` is the only lock here; it is never held while calling out to
//! the application, and the only lock taken under it is the pool's member list.

use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::handler::Handler;
use crate::options::Options;
use crate::pool::PoolShared;
use crate::stats::{Counters, State, Stats};
use crate::sys::{self, Addr, Family, FileId, SockOpts};
use parking_lot::Mutex;
use std::cell::Cell;
use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Weak};

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
}

thread_local! {
    /// The connection whose callback runs on this thread now (0: none).
    static IN_CALLBACK_OF: Cell<u64> = const { Cell::new(0) };
}

/// Marks this thread as running a callback of connection `id` until dropped.
pub(crate) struct CallbackScope(u64);

pub(crate) fn callback_scope(id: u64) -> CallbackScope {
    CallbackScope(IN_CALLBACK_OF.with(|c| c.replace(id)))
}

impl Drop for CallbackScope {
    fn drop(&mut self) {
        IN_CALLBACK_OF.with(|c| c.set(self.0));
    }
}

fn in_callback_of(id: u64) -> bool {
    IN_CALLBACK_OF.with(|c| c.get() == id)
}

/// What a connection needs of the event loop that drives it.
pub(crate) trait Driver: Send + Sync {
    /// The loop's epoll instance: a sending thread arms write interest on it.
    fn epfd(&self) -> RawFd;
    /// Asks the loop to close connection `id` at its next turn.
    fn post_close(&self, id: u64);
}

/// Guarded by the connection's lock: what the send path and the loop share.
pub(crate) struct Io {
    pub state: State,
    pub queue: VecDeque<u8>,
    /// Bytes sent while reconnecting (`send_while_reconnecting`), held until the
    /// connection is back and `on_reconnect` has returned.
    pub held: VecDeque<u8>,
    /// Back, but on_reconnect has not returned yet: a send from anywhere but that
    /// callback is held too, so that it follows the handshake written there.
    pub holding: bool,
    /// EPOLLOUT is registered because the queue is not empty.
    pub want_write: bool,
    /// Bytes handed to the kernel by send and the loop's flush.
    pub bytes_sent: u64,
}

/// A pool member's place in its pool.
pub(crate) struct Member {
    pub pool: Weak<PoolShared>,
    pub index: usize,
}

pub(crate) struct ConnShared {
    pub id: u64,
    /// The stable descriptor number the application holds.
    pub fd: RawFd,
    /// Shared with the other connections to the same endpoint made in a row (see
    /// [`interned`]), like `opts`: per-connection memory is what differs.
    pub endpoint: Arc<Endpoint>,
    /// The placeholder socket's family (what `fd` first held).
    pub placeholder_family: Family,
    /// What `fd` referred to when the placeholder was made (see [`sys::file_id`]).
    pub placeholder_id: FileId,
    pub opts: Arc<Options>,
    /// Socket options for every new TCP socket (None for Unix sockets).
    pub sockopts: Option<SockOpts>,
    /// Taken (dropped) right after on_close, so the library holds no handler after it.
    pub handler: Mutex<Option<Arc<dyn Handler>>>,
    pub member: Option<Member>,
    pub io: Mutex<Io>,
    pub counters: Counters,
    /// Disconnect was asked: no callback but on_close from now on.
    pub closing: AtomicBool,
    pub driver: Arc<dyn Driver>,
}

static LAST_OPTIONS: Mutex<Option<Arc<Options>>> = Mutex::new(None);
static LAST_ENDPOINT: Mutex<Option<Arc<Endpoint>>> = Mutex::new(None);

/// `v`, shared with the previous connection when that one was made with an equal
/// value: 10,000 connections opened in a loop with one `Options` and one host hold
/// one copy of each (about 320 bytes less per connection) instead of 10,000.
fn interned<T: PartialEq>(last: &Mutex<Option<Arc<T>>>, v: T) -> Arc<T> {
    let mut last = last.lock();
    match &*last {
        Some(a) if **a == v => a.clone(),
        _ => {
            let a = Arc::new(v);
            *last = Some(a.clone());
            a
        }
    }
}

/// epoll token of a connection's stable descriptor or its in-flight attempt socket.
pub(crate) fn token(id: u64, attempt: bool) -> u64 {
    (id << 1) | attempt as u64
}

pub(crate) const READ_EVENTS: u32 = sys::EV_IN | sys::EV_RDHUP;

/// Everything a new connection is made of, checked.
pub(crate) struct Parts {
    pub fd: RawFd,
    pub endpoint: Endpoint,
    pub placeholder_family: Addr,
    pub placeholder_id: FileId,
    pub opts: Options,
    pub sockopts: Option<SockOpts>,
}

impl ConnShared {
    pub fn new(
        id: u64,
        parts: Parts,
        handler: Arc<dyn Handler>,
        member: Option<Member>,
        driver: Arc<dyn Driver>,
    ) -> ConnShared {
        ConnShared {
            id,
            fd: parts.fd,
            endpoint: interned(&LAST_ENDPOINT, parts.endpoint),
            placeholder_family: parts.placeholder_family.family(),
            placeholder_id: parts.placeholder_id,
            opts: interned(&LAST_OPTIONS, parts.opts),
            sockopts: parts.sockopts,
            handler: Mutex::new(Some(handler)),
            member,
            io: Mutex::new(Io {
                state: State::Connecting,
                queue: VecDeque::new(),
                held: VecDeque::new(),
                holding: false,
                want_write: false,
                bytes_sent: 0,
            }),
            counters: Counters::default(),
            closing: AtomicBool::new(false),
            driver,
        }
    }

    pub fn conn(&self) -> Conn {
        Conn { id: self.id }
    }

    /// on_close ran or is running.
    pub fn is_closed(&self) -> bool {
        self.io.lock().state == State::Closed
    }

    /// Moves the connection to `next` as others see it: its state, and its place
    /// among its pool's connected members. The only place either changes. Closing
    /// and Closed are final: a connect finishing after a disconnect was asked does
    /// not make the connection Connected again.
    pub fn publish(&self, io: &mut Io, next: State) {
        let prev = io.state;
        let next = match (prev, next) {
            (State::Closed, _) => State::Closed,
            (State::Closing, State::Closed) => State::Closed,
            (State::Closing, _) => State::Closing,
            (_, n) => n,
        };
        io.state = next;
        let (was, is) = (prev == State::Connected, next == State::Connected);
        if was != is {
            if let Some(m) = &self.member {
                if let Some(pool) = m.pool.upgrade() {
                    pool.set_connected(m.index, self.id, is);
                }
            }
        }
    }

    /// Sends at once when nothing is queued (one send(2) on the caller's thread, no
    /// wake-up of the loop); otherwise appends to the bounded queue that the loop
    /// flushes. While reconnecting, holds the bytes for later when
    /// `send_while_reconnecting` allows. All or nothing: either every byte was
    /// written or queued, or none was and an error says why.
    pub fn send(&self, data: &[u8]) -> Result<()> {
        let mut io = self.io.lock();
        match io.state {
            State::Closing | State::Closed => return Err(Error::Closed),
            State::Connecting => return Err(Error::NotConnected),
            State::Reconnecting => return self.hold(&mut io, data),
            State::Connected if io.holding && !in_callback_of(self.id) => {
                return self.hold(&mut io, data)
            }
            State::Connected => {}
        }
        if data.is_empty() {
            return Ok(());
        }
        let limit = self.opts.send_queue_limit;
        if data.len() > limit {
            return Err(Error::TooLarge.because(format_args!(
                "{} bytes is more than the whole send queue (send_queue_limit {limit})",
                data.len()
            )));
        }
        if io.queue.len() + data.len() > limit {
            return Err(Error::WouldBlock);
        }
        let mut written = 0;
        if io.queue.is_empty() {
            match sys::send(self.fd, data) {
                Ok(n) => written = n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                // The connection is broken; the loop sees it and resets.
                Err(_) => return Err(Error::NotConnected),
            }
            io.bytes_sent += written as u64;
        }
        if written < data.len() {
            io.queue.extend(&data[written..]);
            self.want_write(&mut io);
        }
        Ok(())
    }

    /// Send while reconnecting: held up to `send_while_reconnecting` bytes.
    fn hold(&self, io: &mut Io, data: &[u8]) -> Result<()> {
        let bound = self.opts.send_while_reconnecting;
        if bound == 0 {
            return Err(Error::NotConnected);
        }
        if io.held.len() + data.len() > bound {
            return Err(Error::WouldBlock.because(format_args!(
                "reconnecting: {} of send_while_reconnecting's {bound} bytes are held, \
                 {} more do not fit",
                io.held.len(),
                data.len()
            )));
        }
        io.held.extend(data);
        Ok(())
    }

    /// Registers write interest so the loop flushes the queue.
    pub fn want_write(&self, io: &mut Io) {
        if !io.want_write {
            let _ = sys::epoll_mod(
                self.driver.epfd(),
                self.fd,
                READ_EVENTS | sys::EV_OUT,
                token(self.id, false),
            );
            io.want_write = true;
        }
    }

    /// Writes out the send queue; Err(errno) when the connection broke.
    pub fn flush(&self, io: &mut Io) -> std::result::Result<(), i32> {
        while !io.queue.is_empty() {
            let (head, _) = io.queue.as_slices();
            match sys::send(self.fd, head) {
                Ok(n) => {
                    io.queue.drain(..n);
                    io.bytes_sent += n as u64;
                }
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(err) => return Err(sys::errno_of(&err)),
            }
        }
        if io.queue.is_empty() && io.want_write {
            io.want_write = false;
            let _ = sys::epoll_mod(
                self.driver.epfd(),
                self.fd,
                READ_EVENTS,
                token(self.id, false),
            );
        }
        Ok(())
    }

    /// After on_reconnect returned: the bytes held while reconnecting go out, after
    /// whatever the application sent inside on_reconnect.
    pub fn release_held(&self) -> std::result::Result<(), i32> {
        let mut io = self.io.lock();
        io.holding = false;
        if io.held.is_empty() || io.state != State::Connected {
            return Ok(());
        }
        let held = std::mem::take(&mut io.held);
        io.queue.extend(held);
        let r = self.flush(&mut io);
        if !io.queue.is_empty() {
            self.want_write(&mut io);
        }
        r
    }

    /// Forgets what is queued (at a drop, or for good at close; `held` bytes stay
    /// for the next reconnect unless `all`), counting them as discarded.
    pub fn discard(&self, io: &mut Io, all: bool) {
        let mut n = io.queue.len();
        io.queue.clear();
        io.queue.shrink_to(64 * 1024);
        if all {
            n += io.held.len();
            io.held = VecDeque::new();
            io.queue = VecDeque::new();
        }
        Counters::add(&self.counters.bytes_discarded, n as u64);
        io.want_write = false;
    }

    pub fn request_disconnect(&self) -> Result<()> {
        if self.closing.swap(true, SeqCst) {
            return Err(Error::Closed);
        }
        {
            let mut io = self.io.lock();
            self.publish(&mut io, State::Closing);
        }
        self.driver.post_close(self.id);
        Ok(())
    }

    /// A consistent snapshot: byte counters change only under the io lock.
    pub fn stats(&self) -> Stats {
        let io = self.io.lock();
        let (state, queued) = (io.state, (io.queue.len() + io.held.len()) as u64);
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

    /// After on_close returned: the handle goes stale and the pool learns that this
    /// member is gone.
    pub fn retire(&self) {
        drop(self.handler.lock().take());
        crate::registry::remove_conn(self.id);
        if let Some(m) = &self.member {
            if let Some(pool) = m.pool.upgrade() {
                pool.member_closed();
            }
        }
    }
}
