//! The connection state machine: how one connection moves between its phases, on
//! the loop that drives it.
//!
//! ```text
//!            start / begin_round
//!                    |
//!        (name) Resolving --resolved--> try_from(addrs, 0)
//!                    |                     |  next address: slot free?
//!                    |            no: Queued --admitted--+
//!                    |                     |             |
//!                    |            yes: Connecting <------+
//!                    |                     | ok                 | failed / timed out
//!                    |                    Up                   try_from(addrs, idx + 1)
//!                    |                     | dropped            | no address left
//!                    +--- healthy: begin_round      flap: retry ---> Backoff --timer--> begin_round
//! ```
//!
//! Every phase change bumps the entry's generation; timers and lookups carry the
//! generation they were made in and are ignored once it is stale. A drop shuts
//! the stable descriptor down (writes fail, the number stays reserved) until the
//! next connected socket replaces it (dup3).

use super::callback::{invoke, Call};
use super::event_loop::Cmd;
use super::reactor::{Reactor, READS_PER_EVENT};
use crate::backoff::{Backoff, Failure};
use crate::conn::{token, ConnShared, READ_EVENTS};
use crate::endpoint::Endpoint;
use crate::handler::Handler;
use crate::log::{log, Level};
use crate::registry;
use crate::stats::{Counters, State};
use crate::sys::{self, Addr, ConnectStart, FileId};
use crate::timer::TimerKind;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;
use std::time::Instant;

pub(super) enum Phase {
    /// Waiting for the backoff timer.
    Backoff,
    /// A resolver thread is looking the host up.
    Resolving,
    /// Waiting for a connect slot of `addrs[idx]`.
    Queued { addrs: Vec<Addr>, idx: usize },
    /// A connect to `addrs[idx]` is in flight on `sock`, holding its slot.
    Connecting {
        addrs: Vec<Addr>,
        idx: usize,
        sock: RawFd,
    },
    /// Established on the stable descriptor.
    Up,
}

pub(crate) struct Entry {
    pub sh: Arc<ConnShared>,
    /// The handler, held here so a callback costs no lock (dropped at close).
    handler: Arc<dyn Handler>,
    phase: Phase,
    /// Bumped on every phase change; timers and lookups of older generations are stale.
    pub gen: u64,
    /// Made at the first drop or failure (a connection that never fails needs none).
    backoff: Option<Box<Backoff>>,
    /// The placeholder socket on the stable descriptor was never used to connect.
    placeholder_unused: bool,
    /// What the stable descriptor holds as far as connman knows: checked before
    /// connman shuts down, replaces or closes it, so a number the application
    /// closed and reused for something of its own is never touched.
    fd_id: FileId,
    ever_connected: bool,
    up_since: Instant,
    last_rx: Instant,
}

impl Entry {
    /// The stable descriptor still holds the socket connman put there.
    fn owns_fd(&self) -> bool {
        sys::file_id(self.sh.fd) == Some(self.fd_id)
    }

    fn backoff(&mut self) -> &mut Backoff {
        let policy = self.sh.opts.policy();
        self.backoff
            .get_or_insert_with(|| Box::new(Backoff::new(policy)))
    }

    fn set_phase(&mut self, phase: Phase) {
        self.phase = phase;
        self.gen += 1;
    }
}

/// How an attempt began.
enum Began {
    /// Connected at once (Unix sockets; a TCP handshake that completed within
    /// connect(), as on loopback): the socket, not in epoll.
    Done(RawFd),
    /// In flight: the socket.
    InFlight(RawFd),
    /// Failed at once: errno.
    Failed(i32),
    /// The stable descriptor is no longer connman's: give the connection up.
    Lost,
}

impl Began {
    fn describe(&self) -> &'static str {
        match self {
            Began::Done(_) => "connected at once",
            Began::InFlight(_) => "in flight",
            Began::Failed(_) => "failed at once",
            Began::Lost => "the descriptor is no longer connman's",
        }
    }
}

impl Reactor {
    pub(super) fn start(&mut self, sh: Arc<ConnShared>, addrs: Option<Vec<Addr>>) {
        let id = sh.id;
        let Some(handler) = sh.handler.lock().clone() else {
            return;
        };
        let now = self.now;
        self.conns.insert(
            id,
            Entry {
                backoff: None,
                fd_id: sh.placeholder_id,
                sh,
                handler,
                phase: Phase::Backoff,
                gen: 0,
                placeholder_unused: true,
                ever_connected: false,
                up_since: now,
                last_rx: now,
            },
        );
        // A disconnect may have been asked (from another thread, or by
        // disconnect_all) between registration and this command; close it now.
        if self.stopping || self.conns[&id].sh.closing.load(SeqCst) {
            self.close(id);
            return;
        }
        match addrs {
            Some(addrs) => self.try_from(id, addrs, 0),
            None => self.begin_round(id),
        }
    }

    /// A new round of attempts: fresh name resolution unless the addresses are
    /// known without it (a numeric host, a Unix path).
    fn begin_round(&mut self, id: u64) {
        let Some(e) = self.conns.get_mut(&id) else {
            return;
        };
        if let Some(addrs) = e.sh.endpoint.known_addrs() {
            return self.try_from(id, addrs, 0);
        }
        e.set_phase(Phase::Resolving);
        let (gen, endpoint) = (e.gen, Endpoint::clone(&e.sh.endpoint));
        let lp = Arc::downgrade(&self.shared);
        self.resolver.submit(
            endpoint,
            Box::new(move |result| {
                if let Some(lp) = lp.upgrade() {
                    lp.post(Cmd::Resolved { id, gen, result });
                }
            }),
        );
    }

    pub(super) fn resolved(&mut self, id: u64, gen: u64, result: Result<Vec<Addr>, i32>) {
        let Some(e) = self.conns.get_mut(&id) else {
            return;
        };
        if e.gen != gen || !matches!(e.phase, Phase::Resolving) {
            return;
        }
        match result {
            Ok(addrs) => self.try_from(id, addrs, 0),
            Err(code) => {
                e.sh.counters.last_resolve_error.store(code, Relaxed);
                Counters::add(&e.sh.counters.consecutive_failures, 1);
                log!(
                    Level::Warn,
                    id,
                    "resolving {} failed: {}; retrying",
                    e.sh.endpoint,
                    sys::resolve_error_text(code)
                );
                self.retry(id, Failure::Attempts);
            }
        }
    }

    /// Tries the addresses from `idx` on: the first that can take a connect slot
    /// starts an attempt; one that fails at once moves on to the next; with none
    /// left, backs off.
    fn try_from(&mut self, id: u64, mut addrs: Vec<Addr>, mut idx: usize) {
        loop {
            let Some(e) = self.conns.get_mut(&id) else {
                return;
            };
            let Some(&addr) = addrs.get(idx) else {
                return self.retry(id, Failure::Attempts);
            };
            // Wait for a slot of this destination when none is free, or when others
            // already wait (FIFO); `admit` resumes from here.
            e.set_phase(Phase::Queued { addrs, idx });
            if !self.slots.take(addr, id, e.gen, false) {
                log!(Level::Debug, id, "waiting for a connect slot of {addr}");
                return;
            }
            let Phase::Queued { addrs: queued, .. } =
                std::mem::replace(&mut e.phase, Phase::Backoff)
            else {
                unreachable!("set just above")
            };
            match self.connect_now(id, queued, idx) {
                Some(back) => (addrs, idx) = (back, idx + 1),
                None => return,
            }
        }
    }

    /// A slot of `addr` became free for queued connection `id` (generation `gen`).
    pub(super) fn admit(&mut self, addr: Addr, id: u64, gen: u64) {
        let Some(e) = self.conns.get_mut(&id) else {
            return;
        };
        let waiting = e.gen == gen
            && matches!(&e.phase, Phase::Queued { addrs, idx } if addrs.get(*idx) == Some(&addr));
        if !waiting || !self.slots.take(addr, id, gen, true) {
            return;
        }
        let Phase::Queued { addrs, idx } = std::mem::replace(&mut e.phase, Phase::Backoff) else {
            unreachable!("checked above")
        };
        if let Some(rest) = self.connect_now(id, addrs, idx) {
            self.try_from(id, rest, idx + 1);
        }
    }

    /// Starts the attempt to `addrs[idx]`, which holds a slot. Returns the
    /// addresses back when the attempt failed at once (the caller moves on).
    fn connect_now(&mut self, id: u64, addrs: Vec<Addr>, idx: usize) -> Option<Vec<Addr>> {
        let addr = addrs[idx];
        let began = self.begin_attempt(id, &addr);
        log!(Level::Debug, id, "attempt to {addr}: {}", began.describe());
        match began {
            Began::InFlight(_) => {}
            // Connected within connect(): the slot is held to the end of this turn,
            // so that a storm still goes out one batch of slots per loop turn (as
            // when completions came back through epoll) and a server that is just
            // dying is not sent its whole accept queue's worth at once.
            Began::Done(_) => self.slots.release_after_turn(addr),
            _ => self.slots.release(addr),
        }
        match began {
            Began::Done(sock) => {
                self.established(id, sock, false);
                None
            }
            Began::InFlight(sock) => {
                let e = self.conns.get_mut(&id)?;
                e.set_phase(Phase::Connecting { addrs, idx, sock });
                let when = self.now + e.sh.opts.connect_timeout;
                self.arm(id, TimerKind::ConnectTimeout, when);
                None
            }
            Began::Failed(errno) => {
                self.note_failure(id, &addr, errno);
                Some(addrs)
            }
            Began::Lost => {
                self.give_up(id);
                None
            }
        }
    }

    /// Opens (or reuses the placeholder), configures and connects a socket to `addr`.
    fn begin_attempt(&mut self, id: u64, addr: &Addr) -> Began {
        let epfd = self.shared.epfd;
        let Some(e) = self.conns.get_mut(&id) else {
            return Began::Lost;
        };
        let sh = e.sh.clone();
        Counters::add(&sh.counters.attempts, 1);
        // The first attempt connects the placeholder itself (see api::prepare).
        let on_stable = e.placeholder_unused && addr.family() == sh.placeholder_family;
        let fd = if on_stable {
            if !e.owns_fd() {
                return Began::Lost;
            }
            e.placeholder_unused = false;
            // connman_fd handed the number out before on_connect: the application
            // may have made it blocking, and a blocking connect would stall the loop.
            if let Err(err) = sys::set_nonblocking(sh.fd) {
                return Began::Failed(sys::errno_of(&err));
            }
            sh.fd
        } else {
            match sys::socket_for(addr) {
                Ok(fd) => fd,
                Err(err) => return Began::Failed(sys::errno_of(&err)),
            }
        };
        let fd_id = e.fd_id;
        let fail = |errno: i32| {
            release_attempt(epfd, &sh, fd_id, fd, false);
            Began::Failed(errno)
        };
        if !on_stable {
            if let (Some(o), false) = (&sh.sockopts, addr.is_unix()) {
                if let Err(err) = sys::apply_sockopts(fd, o) {
                    return fail(sys::errno_of(&err));
                }
            }
        }
        match sys::connect(fd, addr) {
            Ok(ConnectStart::Done) => Began::Done(fd),
            // A handshake often completes within connect() itself (loopback, a
            // server on this host): one poll saves the epoll registration, a loop
            // turn and the connect timer; a refusal is seen at once too.
            Ok(ConnectStart::InProgress) => match sys::connect_outcome(fd) {
                Some(0) => Began::Done(fd),
                Some(errno) => fail(errno),
                None => match sys::epoll_add(epfd, fd, sys::EV_OUT, token(id, true)) {
                    Ok(()) => Began::InFlight(fd),
                    Err(err) => fail(sys::errno_of(&err)),
                },
            },
            Err(err) => fail(sys::errno_of(&err)),
        }
    }

    /// The in-flight attempt socket became writable or failed.
    pub(super) fn attempt_ready(&mut self, id: u64, bits: u32) {
        let Some(e) = self.conns.get(&id) else {
            return;
        };
        let Phase::Connecting { sock, .. } = e.phase else {
            return;
        };
        let err = sys::socket_error(sock);
        if err == 0 && bits & (sys::EV_ERR | sys::EV_HUP) == 0 {
            if let Some((addrs, idx, sock)) = self.end_attempt(id) {
                self.slots.release(addrs[idx]);
                self.established(id, sock, true);
            }
        } else {
            self.attempt_failed(id, if err == 0 { libc::ECONNREFUSED } else { err });
        }
    }

    /// Ends the Connecting phase of `id` (the phase becomes Backoff until the caller
    /// moves on): its addresses, the index of the one tried, and the socket.
    fn end_attempt(&mut self, id: u64) -> Option<(Vec<Addr>, usize, RawFd)> {
        let e = self.conns.get_mut(&id)?;
        match std::mem::replace(&mut e.phase, Phase::Backoff) {
            Phase::Connecting { addrs, idx, sock } => Some((addrs, idx, sock)),
            other => {
                e.phase = other;
                None
            }
        }
    }

    /// The attempt in flight failed (error or timeout): the next address, or back off.
    fn attempt_failed(&mut self, id: u64, errno: i32) {
        let Some((addrs, idx, sock)) = self.end_attempt(id) else {
            return;
        };
        if let Some(e) = self.conns.get(&id) {
            release_attempt(self.shared.epfd, &e.sh, e.fd_id, sock, true);
        }
        let addr = addrs[idx];
        self.slots.release(addr);
        self.note_failure(id, &addr, errno);
        self.try_from(id, addrs, idx + 1);
    }

    fn note_failure(&mut self, id: u64, addr: &Addr, errno: i32) {
        let Some(e) = self.conns.get(&id) else {
            return;
        };
        e.sh.counters.last_error.store(errno, Relaxed);
        Counters::add(&e.sh.counters.consecutive_failures, 1);
        log!(
            Level::Warn,
            id,
            "connect to {addr} failed: {}",
            sys::errno_text(errno)
        );
    }

    /// `sock` is connected (`registered`: it is in epoll, waiting for writability):
    /// move it onto the stable descriptor number.
    fn established(&mut self, id: u64, sock: RawFd, registered: bool) {
        let epfd = self.shared.epfd;
        let Some(e) = self.conns.get_mut(&id) else {
            return;
        };
        let sh = e.sh.clone();
        {
            let mut io = sh.io.lock();
            if sock == sh.fd {
                // The placeholder itself connected: only its interest changes.
                if !registered
                    || sys::epoll_mod(epfd, sh.fd, READ_EVENTS, token(id, false)).is_err()
                {
                    let _ = sys::epoll_add(epfd, sh.fd, READ_EVENTS, token(id, false));
                }
            } else {
                // Move the fresh socket onto the stable number, unless that number no
                // longer holds connman's socket (the application closed it). Its epoll
                // entry goes first (epoll keys entries by open file, so the entry
                // would outlive the closed duplicate).
                if !e.owns_fd() {
                    drop(io);
                    release_attempt(epfd, &sh, e.fd_id, sock, registered);
                    return self.give_up(id);
                }
                if registered {
                    sys::epoll_del(epfd, sock);
                }
                if let Err(err) = sys::dup3_cloexec(sock, sh.fd) {
                    drop(io);
                    sys::close(sock);
                    let errno = sys::errno_of(&err);
                    sh.counters.last_error.store(errno, Relaxed);
                    log!(Level::Error, id, "dup3 onto the descriptor failed: {err}");
                    return self.retry(id, Failure::Attempts);
                }
                // `sock` stays open until after the callback: its identity is
                // taken then (see `adopt`), off the path to on_reconnect.
                let _ = sys::epoll_add(epfd, sh.fd, READ_EVENTS, token(id, false));
            }
            io.want_write = false;
            // Until on_reconnect returns, sends from other threads are held (with
            // send_while_reconnecting): they follow the handshake written there.
            io.holding = e.ever_connected && sh.opts.send_while_reconnecting > 0;
            sh.publish(&mut io, State::Connected);
        }
        let now = self.now;
        e.set_phase(Phase::Up);
        e.up_since = now;
        e.last_rx = now;
        let first = !e.ever_connected;
        e.ever_connected = true;
        let handler = e.handler.clone();
        Counters::add(&sh.counters.connects, 1);
        sh.counters.consecutive_failures.store(0, Relaxed);
        if let Some(idle) = sh.opts.idle_timeout {
            self.arm(id, TimerKind::Idle, now + idle);
        }
        if first {
            log!(Level::Info, id, "connected to {}", sh.endpoint);
            invoke(&sh, &*handler, Call::Connect(sh.fd));
            self.adopt(id, sock);
        } else {
            log!(Level::Info, id, "reconnected to {}", sh.endpoint);
            invoke(&sh, &*handler, Call::Reconnect(sh.fd));
            self.adopt(id, sock);
            // Bytes sent while reconnecting go after what on_reconnect sent.
            if let Err(errno) = sh.release_held() {
                self.read(id, Some(errno));
            }
        }
    }

    /// After the connect callback: records what the stable descriptor now holds
    /// (the identity of `sock`, which dup3 put there; `sock` itself, which the
    /// application never saw, is the one reliable handle on it) and closes `sock`.
    /// Nothing checks the identity between dup3 and here: the loop runs no other
    /// work of this connection in between.
    ///
    /// Then checks that the application did not close the descriptor inside the
    /// callback (a closed descriptor leaves epoll with it, so no event would ever
    /// tell): if it did, the connection is given up now.
    fn adopt(&mut self, id: u64, sock: RawFd) {
        let Some(e) = self.conns.get_mut(&id) else {
            return;
        };
        if sock != e.sh.fd {
            if let Some(fd_id) = sys::file_id(sock) {
                e.fd_id = fd_id;
            }
            sys::close(sock);
        }
        if !e.sh.closing.load(SeqCst) && !e.owns_fd() {
            self.give_up(id);
        }
    }

    /// Readiness on the stable descriptor of an established connection.
    pub(super) fn io_ready(&mut self, id: u64, bits: u32) {
        let Some(e) = self.conns.get(&id) else {
            return;
        };
        if !matches!(e.phase, Phase::Up) {
            return;
        }
        let broken = if bits & sys::EV_OUT != 0 {
            e.sh.flush(&mut e.sh.io.lock()).err()
        } else {
            None
        };
        if broken.is_some() || bits & (sys::EV_IN | sys::EV_RDHUP | sys::EV_HUP | sys::EV_ERR) != 0
        {
            self.read(id, broken);
        }
    }

    /// Reads what arrived. `broken`: a send failed with that errno. The peer may
    /// still have sent bytes before it reset (typically its last message, then an
    /// RST): the kernel holds them and they must reach on_data before on_reset. So
    /// a broken connection is read to its end before it counts as dropped; a
    /// healthy one for a few reads per turn (level-triggered: the rest next turn).
    fn read(&mut self, id: u64, broken: Option<i32>) {
        /// How a read turn ended.
        enum End {
            /// Nothing more now (or the rest next turn: level-triggered).
            Done,
            /// The connection dropped, with this errno.
            Dropped(i32),
        }
        let now = self.now;
        let Some(e) = self.conns.get_mut(&id) else {
            return;
        };
        // Borrowed, not cloned: no reference count traffic per event.
        let Entry {
            sh,
            handler,
            last_rx,
            ..
        } = e;
        let buf = &mut self.buf;
        let mut reads = 0;
        let end = loop {
            if broken.is_none() && reads == READS_PER_EVENT {
                break End::Done;
            }
            reads += 1;
            match sys::recv(sh.fd, buf) {
                Ok(0) => break End::Dropped(broken.unwrap_or(0)),
                Ok(n) => {
                    Counters::add(&sh.counters.bytes_received, n as u64);
                    *last_rx = now;
                    invoke(sh, &**handler, Call::Data(&buf[..n]));
                    if sh.closing.load(SeqCst) || (n < buf.len() && broken.is_none()) {
                        break End::Done;
                    }
                }
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                    break broken.map_or(End::Done, End::Dropped);
                }
                Err(err) => break End::Dropped(sys::errno_of(&err)),
            }
        };
        if let End::Dropped(errno) = end {
            self.dropped(id, errno);
        }
    }

    /// An established connection dropped (errno 0: the peer closed its side).
    fn dropped(&mut self, id: u64, errno: i32) {
        let epfd = self.shared.epfd;
        let Some(e) = self.conns.get_mut(&id) else {
            return;
        };
        if !matches!(e.phase, Phase::Up) {
            return;
        }
        if !e.owns_fd() {
            return self.give_up(id);
        }
        let sh = e.sh.clone();
        {
            let mut io = sh.io.lock();
            sys::epoll_del(epfd, sh.fd);
            sys::shutdown_both(sh.fd);
            sh.discard(&mut io, false);
            io.holding = false;
            sh.publish(&mut io, State::Reconnecting);
        }
        e.set_phase(Phase::Backoff);
        let lived = self.now.saturating_duration_since(e.up_since);
        let handler = e.handler.clone();
        Counters::add(&sh.counters.resets, 1);
        if errno != 0 {
            sh.counters.last_error.store(errno, Relaxed);
        }
        log!(Level::Info, id, "reset: {}", reset_reason(errno));
        invoke(&sh, &*handler, Call::Reset);
        if sh.closing.load(SeqCst) {
            return; // the Close command closes it
        }
        if lived >= sh.opts.healthy_after {
            // A healthy connection dropped: the server is probably still there, so
            // retry at once; the backoff starts over.
            if let Some(e) = self.conns.get_mut(&id) {
                e.backoff().healthy_drop(self.now);
            }
            self.begin_round(id);
        } else {
            // It died right after connecting: count it as a failure (no hot loop).
            Counters::add(&sh.counters.consecutive_failures, 1);
            self.retry(id, Failure::Flap);
        }
    }

    /// Arms the backoff timer for the next round.
    fn retry(&mut self, id: u64, why: Failure) {
        let now = self.now;
        let Some(e) = self.conns.get_mut(&id) else {
            return;
        };
        e.set_phase(Phase::Backoff);
        let delay = e.backoff().next_delay(why, now, &mut self.rng);
        self.arm(id, TimerKind::Retry, now + delay);
    }

    /// A live timer of connection `id` is due.
    pub(super) fn timer_fired(&mut self, id: u64, kind: TimerKind) {
        match kind {
            TimerKind::Retry => self.begin_round(id),
            TimerKind::ConnectTimeout => {
                log!(Level::Warn, id, "connect timed out");
                self.attempt_failed(id, libc::ETIMEDOUT)
            }
            TimerKind::Idle => {
                let Some(e) = self.conns.get(&id) else {
                    return;
                };
                let due = e.last_rx + e.sh.opts.idle_timeout.unwrap_or_default();
                if due <= self.now {
                    log!(
                        Level::Info,
                        id,
                        "idle timeout: nothing received for too long"
                    );
                    self.dropped(id, libc::ETIMEDOUT);
                } else {
                    self.arm(id, TimerKind::Idle, due);
                }
            }
        }
    }

    /// Closes a connection for good and runs its on_close (last callback).
    pub(super) fn close(&mut self, id: u64) {
        let Some(e) = self.conns.remove(&id) else {
            return;
        };
        self.shared.load.fetch_sub(1, Relaxed);
        let sh = e.sh;
        let owned = sys::file_id(sh.fd) == Some(e.fd_id);
        if !owned {
            sh.counters.last_error.store(libc::EBADF, Relaxed);
            log!(
                Level::Error,
                id,
                "descriptor {} no longer holds connman's socket (the application closed \
                 it); the connection is given up and the descriptor left alone",
                sh.fd
            );
        }
        match e.phase {
            Phase::Connecting { addrs, idx, sock } => {
                self.slots.release(addrs[idx]);
                release_attempt(self.shared.epfd, &sh, e.fd_id, sock, true);
            }
            Phase::Backoff | Phase::Resolving | Phase::Queued { .. } | Phase::Up => {}
        }
        registry::unmap_conn(&sh);
        {
            let mut io = sh.io.lock();
            if owned {
                sys::epoll_del(self.shared.epfd, sh.fd);
            }
            sh.discard(&mut io, true);
            sh.publish(&mut io, State::Closed);
            if owned {
                sys::close(sh.fd);
            }
        }
        invoke(&sh, &*e.handler, Call::Close);
        drop(e.handler);
        sh.retire();
    }

    /// The stable descriptor no longer holds connman's socket: the application
    /// closed it, and the number may hold a file of its own by now. connman never
    /// replaces or closes it then; it gives the connection up (on_close follows,
    /// with last_error EBADF) instead of writing the application's data elsewhere.
    fn give_up(&mut self, id: u64) {
        let Some(e) = self.conns.get(&id) else {
            return;
        };
        let sh = e.sh.clone();
        if !sh.closing.swap(true, SeqCst) {
            sh.publish(&mut sh.io.lock(), State::Closing);
        }
        self.close(id);
    }
}

/// Gives up an attempt socket: out of epoll (if `registered`), then closed. The
/// stable descriptor is never closed here; a connect still in flight on it is
/// aborted (shutdown on SYN_SENT), so that a late SYN retransmit cannot complete a
/// connection connman does not know of, unless it is no longer connman's.
fn release_attempt(epfd: RawFd, sh: &ConnShared, fd_id: FileId, fd: RawFd, registered: bool) {
    if fd == sh.fd {
        if sys::file_id(fd) == Some(fd_id) {
            if registered {
                sys::epoll_del(epfd, fd);
            }
            sys::shutdown_both(fd);
        }
    } else {
        if registered {
            sys::epoll_del(epfd, fd);
        }
        sys::close(fd);
    }
}

/// What a reset's errno means, for the log.
fn reset_reason(errno: i32) -> String {
    match errno {
        0 => "the peer closed the connection (EOF)".to_owned(),
        libc::ETIMEDOUT => "timed out (idle, keepalive or user timeout)".to_owned(),
        e => sys::errno_text(e),
    }
}
