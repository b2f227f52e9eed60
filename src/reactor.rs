//! The reactor: one thread that owns every socket and timer of a runtime, waits in
//! epoll_wait (with no timeout unless a timer is due), drives each connection's state
//! machine and runs the application's callbacks.
//!
//! Connection phases: `Attempting` (a fresh nonblocking socket is connecting to one
//! of the resolved addresses), `Up` (that socket was dup3'ed onto the stable
//! descriptor number), `Waiting` (backoff timer armed), `Resolving` (a resolver
//! thread is looking the host up). A drop shuts the stable descriptor down (writes
//! fail, the number stays reserved) until the next connected socket replaces it.

use crate::backoff::{Backoff, Rng};
use crate::connection::{token, ConnShared, READ_EVENTS};
use crate::handler::Handler;
use crate::registry::{self, IdMap};
use crate::resolve::Job;
use crate::runtime::{self, Cmd, RuntimeShared, WAKE_TOKEN};
use crate::slots::ConnectSlots;
use crate::stats::{Counters, State};
use crate::sys::{self, ConnectStart};
use crate::timer::{Timer, TimerKind, Timers};
use crossbeam_channel::Receiver;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes read per recv; also the largest slice one on_data call gets.
const READ_BUF: usize = 256 * 1024;
/// recv calls per readiness event before other connections get a turn.
const READS_PER_EVENT: usize = 8;
const MAX_EVENTS: usize = 1024;

enum Phase {
    Waiting,
    Resolving,
    Attempting {
        addrs: Vec<SocketAddr>,
        idx: usize,
        sock: RawFd,
        /// `sock` is connecting and holds a connect slot of `addrs[idx]`.
        in_flight: bool,
    },
    Up,
}

struct Entry {
    sh: Arc<ConnShared>,
    phase: Phase,
    /// Bumped on every phase change; timers and lookups of older generations are stale.
    gen: u64,
    backoff: Backoff,
    /// When a healthy connection last dropped (recovery window, see Options).
    last_healthy_drop: Option<Instant>,
    /// The placeholder socket on the stable descriptor was never used to connect.
    placeholder_unused: bool,
    /// What the stable descriptor holds as far as connman knows: checked before
    /// connman closes, shuts down or replaces it, so a number the application
    /// closed and reused for something of its own is never touched.
    fd_id: sys::FileId,
    ever_connected: bool,
    up_since: Instant,
    last_rx: Instant,
}

pub(crate) struct Reactor {
    rt: Arc<RuntimeShared>,
    rx: Receiver<Cmd>,
    conns: IdMap<u64, Entry>,
    timers: Timers,
    rng: Rng,
    buf: Vec<u8>,
    stopping: bool,
    /// Connects in flight per destination, and the connections waiting for one.
    slots: ConnectSlots,
    /// admit_waiting is starting a queued connection (it may skip the queue).
    admitting: bool,
}

/// Which callback to run.
enum Call<'a> {
    Connect(RawFd),
    Reset,
    Reconnect(RawFd),
    Data(&'a [u8]),
    Close,
}

/// Runs one callback, unless disconnect was asked (then only on_close runs). A
/// panic in the application's handler is reported and contained.
fn invoke(sh: &ConnShared, call: Call<'_>) {
    let is_close = matches!(call, Call::Close);
    if !is_close && sh.closing.load(SeqCst) {
        return;
    }
    let Some(handler) = sh.handler.lock().clone() else {
        return;
    };
    let h: &dyn Handler = &*handler;
    let conn = sh.conn();
    let name = match call {
        Call::Connect(_) => "on_connect",
        Call::Reset => "on_reset",
        Call::Reconnect(_) => "on_reconnect",
        Call::Data(_) => "on_data",
        Call::Close => "on_close",
    };
    let r = catch_unwind(AssertUnwindSafe(|| match call {
        Call::Connect(fd) => h.on_connect(conn, fd),
        Call::Reset => h.on_reset(conn),
        Call::Reconnect(fd) => h.on_reconnect(conn, fd),
        Call::Data(d) => h.on_data(conn, d),
        Call::Close => h.on_close(conn),
    }));
    if r.is_err() {
        report(format_args!(
            "handler {name} of connection {} panicked; the connection keeps being managed",
            sh.id
        ));
    }
}

impl Reactor {
    pub fn new(rt: Arc<RuntimeShared>, rx: Receiver<Cmd>) -> Self {
        let seed = Instant::now().elapsed().as_nanos() as u64
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
            ^ (std::process::id() as u64) << 32;
        Reactor {
            rt,
            rx,
            conns: IdMap::default(),
            timers: Timers::default(),
            rng: Rng::seeded(seed),
            buf: vec![0; READ_BUF],
            stopping: false,
            slots: ConnectSlots::default(),
            admitting: false,
        }
    }

    pub fn run(mut self) {
        runtime::mark_reactor_thread(&self.rt);
        let mut events = sys::new_events(MAX_EVENTS);
        loop {
            self.guarded(|r| r.admit_waiting());
            let timeout = self.next_timeout();
            let n = match sys::epoll_wait(self.rt.epfd, &mut events, timeout) {
                Ok(n) => n,
                Err(e) => {
                    report(format_args!("epoll_wait failed: {e}"));
                    0
                }
            };
            for ev in &events[..n] {
                let (bits, tok) = sys::event_parts(ev);
                self.guarded(|r| r.on_event(bits, tok));
            }
            self.guarded(|r| r.drain_commands());
            self.guarded(|r| r.run_timers());
            if self.stopping && self.conns.is_empty() {
                break;
            }
        }
    }

    /// Starts waiting connects while their destinations have free slots.
    fn admit_waiting(&mut self) {
        while let Some((addr, id, gen)) = self.slots.next_admitted() {
            let waiting = self.conns.get(&id).is_some_and(|e| {
                e.gen == gen
                    && matches!(&e.phase, Phase::Attempting { sock: -1, addrs, idx, .. }
                        if addrs.get(*idx) == Some(&addr))
            });
            if waiting {
                self.admitting = true;
                self.try_current(id);
                self.admitting = false;
            }
        }
    }

    /// Milliseconds until the next live timer (-1: none). Stale timers at the top of
    /// the heap are dropped first, so a cancelled timer never wakes the reactor.
    fn next_timeout(&mut self) -> i32 {
        let conns = &self.conns;
        self.timers.prune_top(|t| timer_live(conns, t));
        self.timers.timeout_ms(Instant::now())
    }

    /// Contains a bug in the reactor itself: report it and keep serving the others.
    fn guarded(&mut self, f: impl FnOnce(&mut Self)) {
        if catch_unwind(AssertUnwindSafe(|| f(self))).is_err() {
            report(format_args!(
                "internal error in the reactor (panic caught); continuing"
            ));
        }
    }

    fn on_event(&mut self, bits: u32, tok: u64) {
        if tok == WAKE_TOKEN {
            self.rt.woken();
            return;
        }
        let id = tok >> 1;
        if tok & 1 == 1 {
            self.attempt_ready(id, bits);
        } else {
            self.io_ready(id, bits);
        }
    }

    fn drain_commands(&mut self) {
        while let Ok(cmd) = self.rx.try_recv() {
            match cmd {
                Cmd::Start(sh, addrs) => self.start(sh, addrs),
                Cmd::Disconnect(id) => self.close(id),
                Cmd::Resolved { id, gen, result } => self.resolved(id, gen, result),
                Cmd::Shutdown => {
                    self.stopping = true;
                    let ids: Vec<u64> = self.conns.keys().copied().collect();
                    for id in ids {
                        if let Some(e) = self.conns.get(&id) {
                            let _ = e.sh.request_disconnect();
                        }
                        self.close(id);
                    }
                }
            }
        }
    }

    fn run_timers(&mut self) {
        let now = Instant::now();
        while let Some(t) = self.timers.pop_due(now) {
            let Some(e) = self.conns.get(&t.conn) else {
                continue;
            };
            if e.gen != t.gen {
                continue;
            }
            match t.kind {
                TimerKind::Retry => self.start_round(t.conn),
                TimerKind::ConnectTimeout => self.attempt_failed(t.conn, libc::ETIMEDOUT),
                TimerKind::Idle => {
                    let idle = e.sh.opts.idle_timeout.unwrap_or_default();
                    let due = e.last_rx + idle;
                    if due <= now {
                        self.dropped(t.conn, libc::ETIMEDOUT);
                    } else {
                        let gen = e.gen;
                        self.push_timer(Timer {
                            when: due,
                            conn: t.conn,
                            gen,
                            kind: TimerKind::Idle,
                        });
                    }
                }
            }
        }
    }

    fn start(&mut self, sh: Arc<ConnShared>, addrs: Vec<SocketAddr>) {
        let id = sh.id;
        let now = Instant::now();
        let backoff = Backoff::new(sh.opts.backoff_initial, sh.opts.backoff_max);
        let fd_id = sh.placeholder_id;
        self.conns.insert(
            id,
            Entry {
                sh,
                phase: Phase::Waiting,
                gen: 0,
                backoff,
                last_healthy_drop: None,
                placeholder_unused: true,
                fd_id,
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
        self.try_addrs(id, addrs);
    }

    /// A new round of attempts: fresh name resolution unless the host is numeric.
    fn start_round(&mut self, id: u64) {
        let Some(e) = self.conns.get_mut(&id) else {
            return;
        };
        e.gen += 1;
        if let Some(addr) = e.sh.numeric {
            self.try_addrs(id, vec![addr]);
            return;
        }
        e.phase = Phase::Resolving;
        let job = Job {
            id,
            gen: e.gen,
            host: e.sh.host.clone(),
            port: e.sh.port,
        };
        self.rt.resolver.submit(job, Arc::downgrade(&self.rt));
    }

    fn resolved(&mut self, id: u64, gen: u64, result: Result<Vec<SocketAddr>, i32>) {
        let Some(e) = self.conns.get_mut(&id) else {
            return;
        };
        if e.gen != gen || !matches!(e.phase, Phase::Resolving) {
            return;
        }
        match result {
            Ok(addrs) => self.try_addrs(id, addrs),
            Err(code) => {
                e.sh.counters.last_resolve_error.store(code, Relaxed);
                Counters::add(&e.sh.counters.consecutive_failures, 1);
                self.schedule_retry(id, false);
            }
        }
    }

    fn try_addrs(&mut self, id: u64, addrs: Vec<SocketAddr>) {
        if let Some(e) = self.conns.get_mut(&id) {
            e.phase = Phase::Attempting {
                addrs,
                idx: 0,
                sock: -1,
                in_flight: false,
            };
            self.try_current(id);
        }
    }

    /// Starts a connect to the current address; on immediate failure moves on to the
    /// next one, and when none is left, backs off.
    fn try_current(&mut self, id: u64) {
        loop {
            let Some(e) = self.conns.get_mut(&id) else {
                return;
            };
            let sh = e.sh.clone();
            let Phase::Attempting {
                addrs,
                idx,
                sock,
                in_flight,
            } = &mut e.phase
            else {
                return;
            };
            let Some(addr) = addrs.get(*idx).copied() else {
                self.schedule_retry(id, false);
                return;
            };
            // Wait for a slot of this destination when none is free, or when others
            // already wait (FIFO), unless this is admit_waiting starting a waiter.
            if !self.slots.take(addr, id, e.gen, self.admitting) {
                return;
            }
            Counters::add(&sh.counters.attempts, 1);
            // The first attempt connects the placeholder itself (see Prepared::new).
            let on_stable = e.placeholder_unused && addr.is_ipv6() == sh.placeholder_v6;
            let fd = if on_stable {
                if sys::file_id(sh.fd) != Some(e.fd_id) {
                    self.slots.release(addr);
                    self.give_up(id);
                    return;
                }
                e.placeholder_unused = false;
                sh.fd
            } else {
                match sys::tcp_socket(addr.is_ipv6()) {
                    Ok(fd) => fd,
                    Err(err) => {
                        self.slots.release(addr);
                        note_failure(&sh, sys::errno_of(&err));
                        *idx += 1;
                        continue;
                    }
                }
            };
            let configured = if on_stable {
                Ok(())
            } else {
                sys::apply_sockopts(fd, &sh.sockopts)
            };
            if let Err(err) = configured {
                release_attempt(self.rt.epfd, &sh, e.fd_id, fd);
                self.slots.release(addr);
                note_failure(&sh, sys::errno_of(&err));
                *idx += 1;
                continue;
            }
            match sys::connect(fd, &addr) {
                Ok(ConnectStart::Done) => {
                    self.slots.release(addr);
                    *sock = fd;
                    self.established(id);
                    return;
                }
                Ok(ConnectStart::InProgress) => {
                    if let Err(err) = sys::epoll_add(self.rt.epfd, fd, sys::EV_OUT, token(id, true))
                    {
                        release_attempt(self.rt.epfd, &sh, e.fd_id, fd);
                        self.slots.release(addr);
                        note_failure(&sh, sys::errno_of(&err));
                        *idx += 1;
                        continue;
                    }
                    *sock = fd;
                    *in_flight = true;
                    e.gen += 1;
                    let gen = e.gen;
                    self.push_timer(Timer {
                        when: Instant::now() + sh.opts.connect_timeout,
                        conn: id,
                        gen,
                        kind: TimerKind::ConnectTimeout,
                    });
                    return;
                }
                Err(err) => {
                    release_attempt(self.rt.epfd, &sh, e.fd_id, fd);
                    self.slots.release(addr);
                    note_failure(&sh, sys::errno_of(&err));
                    *idx += 1;
                    continue;
                }
            }
        }
    }

    /// The in-flight attempt socket became writable or failed.
    fn attempt_ready(&mut self, id: u64, bits: u32) {
        let Some(e) = self.conns.get(&id) else {
            return;
        };
        let Phase::Attempting { sock, .. } = e.phase else {
            return;
        };
        if sock < 0 {
            return;
        }
        let err = sys::socket_error(sock);
        if err == 0 && bits & (sys::EV_ERR | sys::EV_HUP) == 0 {
            self.established(id);
        } else {
            self.attempt_failed(id, if err == 0 { libc::ECONNREFUSED } else { err });
        }
    }

    /// The current attempt failed (error or timeout): next address, or back off.
    fn attempt_failed(&mut self, id: u64, errno: i32) {
        let Some(e) = self.conns.get_mut(&id) else {
            return;
        };
        let sh = e.sh.clone();
        let Phase::Attempting {
            addrs,
            idx,
            sock,
            in_flight,
        } = &mut e.phase
        else {
            return;
        };
        if std::mem::take(in_flight) {
            self.slots.release(addrs[*idx]);
        }
        if *sock >= 0 {
            release_attempt(self.rt.epfd, &sh, e.fd_id, std::mem::replace(sock, -1));
        }
        *idx += 1;
        e.gen += 1;
        note_failure(&sh, errno);
        self.try_current(id);
    }

    /// The attempt socket is connected: move it onto the stable descriptor number.
    fn established(&mut self, id: u64) {
        let epfd = self.rt.epfd;
        let Some(e) = self.conns.get_mut(&id) else {
            return;
        };
        let sh = e.sh.clone();
        let Phase::Attempting {
            addrs,
            idx,
            sock,
            in_flight,
        } = &mut e.phase
        else {
            return;
        };
        if std::mem::take(in_flight) {
            self.slots.release(addrs[*idx]);
        }
        let fresh = std::mem::replace(sock, -1);
        {
            let mut io = sh.io.lock();
            if fresh == sh.fd {
                // The placeholder itself connected: only its interest changes.
                if sys::epoll_mod(epfd, sh.fd, READ_EVENTS, token(id, false)).is_err() {
                    let _ = sys::epoll_add(epfd, sh.fd, READ_EVENTS, token(id, false));
                }
            } else {
                // Move the fresh socket onto the stable number, unless that number no
                // longer holds connman's socket (the application closed it).
                if sys::file_id(sh.fd) != Some(e.fd_id) {
                    drop(io);
                    release_attempt(epfd, &sh, e.fd_id, fresh);
                    self.give_up(id);
                    return;
                }
                // Its epoll entry is removed first (epoll keys entries by open file,
                // so the entry would outlive the closed duplicate).
                sys::epoll_del(epfd, fresh);
                if let Err(err) = sys::dup3_cloexec(fresh, sh.fd) {
                    drop(io);
                    sys::close(fresh);
                    if let Phase::Attempting { idx, .. } = &mut e.phase {
                        *idx += 1;
                    }
                    note_failure(&sh, sys::errno_of(&err));
                    self.try_current(id);
                    return;
                }
                sys::close(fresh);
                if let Some(fd_id) = sys::file_id(sh.fd) {
                    e.fd_id = fd_id;
                }
                let _ = sys::epoll_add(epfd, sh.fd, READ_EVENTS, token(id, false));
            }
            io.want_write = false;
            if io.state != State::Closing && io.state != State::Closed {
                io.state = State::Connected;
            }
        }
        let now = Instant::now();
        e.phase = Phase::Up;
        e.gen += 1;
        e.up_since = now;
        e.last_rx = now;
        let first = !e.ever_connected;
        e.ever_connected = true;
        let gen = e.gen;
        Counters::add(&sh.counters.connects, 1);
        sh.counters.consecutive_failures.store(0, Relaxed);
        if let Some(idle) = sh.opts.idle_timeout {
            self.push_timer(Timer {
                when: now + idle,
                conn: id,
                gen,
                kind: TimerKind::Idle,
            });
        }
        if !sh.closing.load(SeqCst) {
            set_pool_connected(&sh, true);
        }
        invoke(
            &sh,
            if first {
                Call::Connect(sh.fd)
            } else {
                Call::Reconnect(sh.fd)
            },
        );
    }

    /// Readiness on the stable descriptor of an established connection.
    fn io_ready(&mut self, id: u64, bits: u32) {
        let Some(e) = self.conns.get(&id) else {
            return;
        };
        if !matches!(e.phase, Phase::Up) {
            return;
        }
        let sh = e.sh.clone();
        // A failed flush means the connection is broken, but the peer may have sent
        // bytes before it reset (typically its last message, then an RST): the kernel
        // still holds them and they must reach on_data before on_reset. So a broken
        // connection is read to its end before it counts as dropped.
        let broken = if bits & sys::EV_OUT != 0 {
            flush(&sh).err()
        } else {
            None
        };
        if broken.is_none() && bits & (sys::EV_IN | sys::EV_RDHUP | sys::EV_HUP | sys::EV_ERR) == 0
        {
            return;
        }
        let mut reads = 0;
        loop {
            if broken.is_none() && reads == READS_PER_EVENT {
                return; // level-triggered: the rest is read at the next turn
            }
            reads += 1;
            match sys::recv(sh.fd, &mut self.buf) {
                Ok(0) => {
                    self.dropped(id, broken.unwrap_or(0));
                    return;
                }
                Ok(n) => {
                    Counters::add(&sh.counters.bytes_received, n as u64);
                    if let Some(e) = self.conns.get_mut(&id) {
                        e.last_rx = Instant::now();
                    }
                    invoke(&sh, Call::Data(&self.buf[..n]));
                    if sh.closing.load(SeqCst) {
                        return;
                    }
                    if n < self.buf.len() && broken.is_none() {
                        return;
                    }
                }
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                    if let Some(errno) = broken {
                        self.dropped(id, errno);
                    }
                    return;
                }
                Err(err) => {
                    self.dropped(id, sys::errno_of(&err));
                    return;
                }
            }
        }
    }

    /// An established connection dropped (errno 0: the peer closed cleanly).
    fn dropped(&mut self, id: u64, errno: i32) {
        let epfd = self.rt.epfd;
        let Some(e) = self.conns.get_mut(&id) else {
            return;
        };
        if !matches!(e.phase, Phase::Up) {
            return;
        }
        if !owns_fd(e) {
            self.give_up(id);
            return;
        }
        let sh = e.sh.clone();
        {
            let mut io = sh.io.lock();
            sys::epoll_del(epfd, sh.fd);
            sys::shutdown_both(sh.fd);
            Counters::add(&sh.counters.bytes_discarded, io.queue.len() as u64);
            io.queue.clear();
            io.queue.shrink_to(64 * 1024);
            io.want_write = false;
            if io.state == State::Connected {
                io.state = State::Reconnecting;
            }
        };
        e.phase = Phase::Waiting;
        e.gen += 1;
        let lived = e.up_since.elapsed();
        Counters::add(&sh.counters.resets, 1);
        if errno != 0 {
            sh.counters.last_error.store(errno, Relaxed);
        }
        set_pool_connected(&sh, false);
        invoke(&sh, Call::Reset);
        if sh.closing.load(SeqCst) {
            return; // the Disconnect command closes it
        }
        if lived >= sh.opts.healthy_after {
            // A healthy connection dropped: the server is probably still there, so
            // retry at once; the backoff starts over.
            if let Some(e) = self.conns.get_mut(&id) {
                e.backoff.reset();
                e.last_healthy_drop = Some(Instant::now());
            }
            self.start_round(id);
        } else {
            // It died right after connecting: count it as a failure (no hot loop).
            Counters::add(&sh.counters.consecutive_failures, 1);
            self.schedule_retry(id, true);
        }
    }

    /// Arms the backoff timer. `flapped`: the connection came up and died at once;
    /// then the recovery cap does not apply (guarantee 9: no hot loop against a server
    /// that accepts and closes), only to retries after failed attempts.
    fn schedule_retry(&mut self, id: u64, flapped: bool) {
        let Some(e) = self.conns.get_mut(&id) else {
            return;
        };
        e.phase = Phase::Waiting;
        e.gen += 1;
        let mut delay = e.backoff.next_delay(&mut self.rng);
        // Shortly after a healthy connection dropped, the server is probably
        // restarting: keep retries close together (still jittered) to find it fast.
        if let (Some(at), Some(cap)) = (e.last_healthy_drop, e.sh.opts.recovery_backoff_max) {
            if !flapped && delay > cap && at.elapsed() < e.sh.opts.recovery_window {
                let half = cap / 2;
                let span = (cap - half).as_micros() as u64;
                delay = half + Duration::from_micros(self.rng.below(span + 1));
            }
        }
        let gen = e.gen;
        self.push_timer(Timer {
            when: Instant::now() + delay,
            conn: id,
            gen,
            kind: TimerKind::Retry,
        });
    }

    /// Closes a connection for good and runs its on_close (last callback).
    fn close(&mut self, id: u64) {
        let Some(e) = self.conns.remove(&id) else {
            return;
        };
        let sh = e.sh;
        let owned = sys::file_id(sh.fd) == Some(e.fd_id);
        if !owned {
            sh.counters.last_error.store(libc::EBADF, Relaxed);
            report(format_args!(
                "connection {id}: descriptor {} no longer holds connman's socket (the \
                 application closed it); the connection is given up and the descriptor \
                 left alone",
                sh.fd
            ));
        }
        if let Phase::Attempting {
            addrs,
            idx,
            sock,
            in_flight,
        } = e.phase
        {
            if in_flight {
                self.slots.release(addrs[idx]);
            }
            if sock >= 0 {
                release_attempt(self.rt.epfd, &sh, e.fd_id, sock);
            }
        }
        registry::unmap_conn(&sh);
        {
            let mut io = sh.io.lock();
            if owned {
                sys::epoll_del(self.rt.epfd, sh.fd);
            }
            Counters::add(&sh.counters.bytes_discarded, io.queue.len() as u64);
            io.queue = Default::default();
            io.want_write = false;
            io.state = State::Closed;
            if owned {
                sys::close(sh.fd);
            }
        }
        set_pool_connected(&sh, false);
        invoke(&sh, Call::Close);
        drop(sh.handler.lock().take());
        registry::remove_conn(id);
        if let Some((pool, _)) = &sh.pool {
            if let Some(pool) = pool.upgrade() {
                pool.member_closed();
            }
        }
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
            let mut io = sh.io.lock();
            if io.state != State::Closed {
                io.state = State::Closing;
            }
        }
        self.close(id);
    }

    /// Arms a timer. Cancellation is lazy, so when stale timers outnumber the live
    /// ones (at most two per connection) the heap is compacted: amortized O(1).
    fn push_timer(&mut self, t: Timer) {
        self.timers.push(t);
        if self.timers.len() > 4 * self.conns.len() + 64 {
            self.compact_timers();
        }
    }

    /// Drops stale timers (lazy cancellation).
    fn compact_timers(&mut self) {
        let conns = &self.conns;
        self.timers.retain(|t| timer_live(conns, t));
    }
}

/// Writes a diagnostic to stderr; never panics (stderr may be a closed pipe).
fn report(msg: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "connman: {msg}");
}

/// Gives up an attempt socket: out of epoll, then closed. The stable descriptor is
/// never closed here; a connect still in flight on it is aborted (shutdown on
/// SYN_SENT), so that a late SYN retransmit cannot complete a connection connman
/// does not know of.
fn release_attempt(epfd: RawFd, sh: &ConnShared, fd_id: sys::FileId, fd: RawFd) {
    if fd == sh.fd {
        if sys::file_id(fd) == Some(fd_id) {
            sys::epoll_del(epfd, fd);
            sys::shutdown_both(fd);
        }
    } else {
        sys::epoll_del(epfd, fd);
        sys::close(fd);
    }
}

/// The stable descriptor still holds the socket connman put there.
fn owns_fd(e: &Entry) -> bool {
    sys::file_id(e.sh.fd) == Some(e.fd_id)
}

/// A timer still belongs to its connection's current phase.
fn timer_live(conns: &IdMap<u64, Entry>, t: &Timer) -> bool {
    conns.get(&t.conn).is_some_and(|e| e.gen == t.gen)
}

fn note_failure(sh: &ConnShared, errno: i32) {
    sh.counters.last_error.store(errno, Relaxed);
    Counters::add(&sh.counters.consecutive_failures, 1);
}

fn set_pool_connected(sh: &ConnShared, up: bool) {
    if let Some((pool, index)) = &sh.pool {
        if let Some(pool) = pool.upgrade() {
            pool.set_connected(*index, sh.id, up);
        }
    }
}

/// Writes out the send queue; Err(errno) when the connection broke.
fn flush(sh: &ConnShared) -> Result<(), i32> {
    let mut io = sh.io.lock();
    while !io.queue.is_empty() {
        let (head, _) = io.queue.as_slices();
        match sys::send(sh.fd, head) {
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
        let _ = sys::epoll_mod(sh.rt.epfd, sh.fd, READ_EVENTS, token(sh.id, false));
    }
    Ok(())
}
