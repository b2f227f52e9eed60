//! One event loop: it owns the sockets and timers of the connections assigned to
//! it, waits in epoll (with no timeout unless a timer is due), and hands each
//! readiness event, command and due timer to the connection state machine
//! (`machine.rs`), which runs the application's callbacks.
//!
//! A loop runs on a thread of its own ([`Reactor::run`]) or, in embedded mode, one
//! turn at a time on the application's thread ([`Reactor::dispatch`]).

use super::callback;
use super::event_loop::{Cmd, LoopShared, TIMER_TOKEN, WAKE_TOKEN};
use super::machine::Entry;
use super::resolver::Resolver;
use crate::backoff::Rng;
use crate::log::{log, Level};
use crate::registry::IdMap;
use crate::slots::ConnectSlots;
use crate::sys;
use crate::timer::{Timer, TimerKind, Timers};
use crossbeam_channel::Receiver;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

/// Bytes read per recv; also the largest slice one on_data call gets.
pub(super) const READ_BUF: usize = 128 * 1024;
/// recv calls per readiness event before other connections get a turn.
pub(super) const READS_PER_EVENT: usize = 8;
const MAX_EVENTS: usize = 1024;

pub(crate) struct Reactor {
    pub(super) shared: Arc<LoopShared>,
    rx: Receiver<Cmd>,
    pub(super) conns: IdMap<u64, Entry>,
    timers: Timers,
    pub(super) rng: Rng,
    pub(super) buf: Vec<u8>,
    /// Connects in flight per destination, and the connections waiting for one.
    pub(super) slots: ConnectSlots,
    pub(super) resolver: Arc<Resolver>,
    /// Shutdown began: every connection is being closed.
    pub(super) stopping: bool,
    /// The time of this turn (taken once after epoll_wait returns).
    pub(super) now: Instant,
    events: Vec<sys::Event>,
    /// Embedded mode: the deadline the timerfd is armed for.
    armed: Option<Instant>,
    /// Slots were freed at the end of the last turn while connects wait: the next
    /// turn must come at once.
    admissible: bool,
}

impl Reactor {
    pub fn new(shared: Arc<LoopShared>, rx: Receiver<Cmd>, resolver: Arc<Resolver>) -> Self {
        Reactor {
            shared,
            rx,
            conns: IdMap::default(),
            timers: Timers::default(),
            rng: Rng::from_entropy(),
            buf: vec![0; READ_BUF],
            slots: ConnectSlots::default(),
            resolver,
            stopping: false,
            now: Instant::now(),
            events: sys::new_events(MAX_EVENTS),
            armed: None,
            admissible: false,
        }
    }

    /// The loop of a thread of its own: turns until shut down and empty.
    pub fn run(mut self) {
        let _in_loop = callback::enter(&self.shared);
        loop {
            let timeout = if self.admissible {
                0
            } else {
                self.next_timeout()
            };
            self.turn(timeout);
            if self.stopping && self.conns.is_empty() {
                break;
            }
        }
    }

    /// Embedded mode: one turn that does what is ready and never blocks, then the
    /// timerfd is armed for the next due timer (or disarmed: no wake-up while idle).
    pub fn dispatch(&mut self) {
        let _in_loop = callback::enter(&self.shared);
        self.turn(0);
        self.arm_timerfd();
        if self.admissible {
            // Waiting connects may start: the descriptor must say so at once.
            sys::timerfd_set(self.shared.timerfd, Some(std::time::Duration::ZERO));
            self.armed = Some(self.now);
        }
    }

    /// Embedded mode, at shutdown: closes every connection on this thread (their
    /// on_close run here), including those whose start is still queued.
    pub fn shut_down_here(&mut self) {
        let _in_loop = callback::enter(&self.shared);
        self.begin_shutdown();
        self.guarded(|r| r.drain_commands());
        self.arm_timerfd();
    }

    /// One turn: wait up to `timeout_ms` for events, then handle them, the
    /// commands, and the timers that are due.
    fn turn(&mut self, timeout_ms: i32) {
        self.guarded(|r| r.admit_waiting());
        let mut events = std::mem::take(&mut self.events);
        let n = match sys::epoll_wait(self.shared.epfd, &mut events, timeout_ms) {
            Ok(n) => n,
            Err(e) => {
                log!(Level::Error, 0, "epoll_wait failed: {e}");
                0
            }
        };
        self.now = Instant::now();
        for ev in &events[..n] {
            let (bits, tok) = sys::event_parts(ev);
            self.guarded(|r| r.on_event(bits, tok));
        }
        self.events = events;
        self.guarded(|r| r.drain_commands());
        self.guarded(|r| r.run_timers());
        self.admissible = self.slots.end_turn();
    }

    /// Contains a bug in the loop itself: report it and keep serving the others.
    fn guarded(&mut self, f: impl FnOnce(&mut Self)) {
        if catch_unwind(AssertUnwindSafe(|| f(self))).is_err() {
            log!(
                Level::Error,
                0,
                "internal error in the event loop (panic caught); continuing"
            );
        }
    }

    fn on_event(&mut self, bits: u32, tok: u64) {
        match tok {
            WAKE_TOKEN => self.shared.woken(),
            TIMER_TOKEN => {
                sys::timerfd_clear(self.shared.timerfd);
                self.armed = None;
            }
            _ if tok & 1 == 1 => self.attempt_ready(tok >> 1, bits),
            _ => self.io_ready(tok >> 1, bits),
        }
    }

    fn drain_commands(&mut self) {
        while let Ok(cmd) = self.rx.try_recv() {
            match cmd {
                Cmd::Start(sh, addrs) => self.start(sh, addrs),
                Cmd::Close(id) => self.close(id),
                Cmd::Resolved { id, gen, result } => self.resolved(id, gen, result),
                Cmd::Shutdown => self.begin_shutdown(),
            }
        }
    }

    /// Every connection closes; a start arriving later is closed at once.
    fn begin_shutdown(&mut self) {
        self.stopping = true;
        let ids: Vec<u64> = self.conns.keys().copied().collect();
        for id in ids {
            if let Some(e) = self.conns.get(&id) {
                let _ = e.sh.request_disconnect();
            }
            self.close(id);
        }
    }

    /// Starts waiting connects while their destinations have free slots.
    fn admit_waiting(&mut self) {
        while let Some((addr, id, gen)) = self.slots.next_admitted() {
            self.admit(addr, id, gen);
        }
    }

    fn run_timers(&mut self) {
        let now = self.now;
        while let Some(t) = self.timers.pop_due(now) {
            if self.conns.get(&t.conn).is_some_and(|e| e.gen == t.gen) {
                self.timer_fired(t.conn, t.kind);
            }
        }
    }

    /// Milliseconds until the next live timer (-1: none). Stale timers at the top of
    /// the heap are dropped first, so a cancelled timer never wakes the loop.
    fn next_timeout(&mut self) -> i32 {
        let conns = &self.conns;
        self.timers.prune_top(|t| timer_live(conns, t));
        self.timers.shrink();
        self.timers.timeout_ms(Instant::now())
    }

    /// Embedded mode: the timerfd fires when the earliest live timer is due.
    fn arm_timerfd(&mut self) {
        let conns = &self.conns;
        self.timers.prune_top(|t| timer_live(conns, t));
        let next = self.timers.next_deadline();
        if next != self.armed {
            sys::timerfd_set(
                self.shared.timerfd,
                next.map(|when| when.saturating_duration_since(Instant::now())),
            );
            self.armed = next;
        }
    }

    /// Arms a timer of connection `id` for its current phase. Cancellation is lazy
    /// (a phase change makes it stale), so when stale timers outnumber the live ones
    /// (at most two per connection) the heap is compacted: amortized O(1).
    pub(super) fn arm(&mut self, id: u64, kind: TimerKind, when: Instant) {
        let Some(e) = self.conns.get(&id) else {
            return;
        };
        self.timers.push(Timer {
            when,
            conn: id,
            gen: e.gen,
            kind,
        });
        if self.timers.len() > 4 * self.conns.len() + 64 {
            let conns = &self.conns;
            self.timers.retain(|t| timer_live(conns, t));
        }
    }
}

/// A timer still belongs to its connection's current phase.
fn timer_live(conns: &IdMap<u64, Entry>, t: &Timer) -> bool {
    conns.get(&t.conn).is_some_and(|e| e.gen == t.gen)
}
