//! The library's runtime: one reactor thread (plus resolver threads), started on the
//! first connect and stopped by [`shutdown`]; a later connect starts a fresh one.
//! Other threads talk to the reactor through a channel and an eventfd wake-up.

use crate::connection::ConnShared;
use crate::error::{Error, Result};
use crate::reactor::Reactor;
use crate::resolve::Resolver;
use crate::sys;
use crossbeam_channel::{unbounded, Receiver, Sender};
use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;

/// Messages to the reactor.
pub(crate) enum Cmd {
    /// A new connection, with the addresses resolved for its first attempt.
    Start(Arc<ConnShared>, Vec<SocketAddr>),
    /// The application asked to disconnect this connection.
    Disconnect(u64),
    /// A resolver thread finished a lookup.
    Resolved {
        id: u64,
        gen: u64,
        result: std::result::Result<Vec<SocketAddr>, i32>,
    },
    /// Close everything and stop the reactor thread.
    Shutdown,
}

/// What every thread shares with one reactor.
pub(crate) struct RuntimeShared {
    pub epfd: RawFd,
    wakefd: RawFd,
    tx: Sender<Cmd>,
    wake_pending: AtomicBool,
    /// False once shutdown began: no new connection may join this runtime.
    pub accepting: Mutex<bool>,
    pub resolver: Resolver,
}

/// epoll token of the wake-up eventfd; connection tokens are never 0.
pub(crate) const WAKE_TOKEN: u64 = 0;

impl RuntimeShared {
    /// Sends a command and wakes the reactor (one eventfd write per batch).
    pub fn post(&self, cmd: Cmd) {
        if self.tx.send(cmd).is_ok() && !self.wake_pending.swap(true, Ordering::AcqRel) {
            sys::eventfd_signal(self.wakefd);
        }
    }

    /// Called by the reactor when the eventfd fired, before it drains the channel.
    /// Drain first, then clear the flag: a post landing in between either sees the
    /// flag still set (and its command is drained next, as the reactor reads the
    /// channel after this) or signals again after the clear; none is lost.
    pub fn woken(&self) {
        sys::eventfd_drain(self.wakefd);
        self.wake_pending.store(false, Ordering::Release);
    }
}

impl Drop for RuntimeShared {
    fn drop(&mut self) {
        sys::close(self.wakefd);
        sys::close(self.epfd);
    }
}

struct Runtime {
    shared: Arc<RuntimeShared>,
    thread: JoinHandle<()>,
}

static RUNTIME: Mutex<Option<Runtime>> = Mutex::new(None);
/// Calls that create connections or pools hold this shared for their whole
/// duration (a pool add across its factory call); [`shutdown`] holds it exclusively
/// for its whole duration. So a creation racing a shutdown either completes before
/// it (and shutdown closes what it made) or starts after it (on a fresh runtime):
/// nothing made by a racing call outlives the shutdown that returned before it.
/// This also serializes shutdowns, so every caller returns only after the work is done.
static GATE: RwLock<()> = RwLock::new(());

thread_local! {
    /// On a reactor thread: the runtime it serves.
    static REACTOR_OF: RefCell<Option<Weak<RuntimeShared>>> = const { RefCell::new(None) };
}

/// True on the reactor thread, i.e. inside a callback.
pub(crate) fn in_reactor() -> bool {
    REACTOR_OF.with(|r| r.borrow().is_some())
}

pub(crate) fn mark_reactor_thread(rt: &Arc<RuntimeShared>) {
    REACTOR_OF.with(|r| *r.borrow_mut() = Some(Arc::downgrade(rt)));
}

/// Inside a callback of a runtime that is shutting down (on_close during
/// shutdown): nothing new may start, or shutdown would leave it running.
fn reactor_is_stopping() -> bool {
    REACTOR_OF.with(|r| {
        r.borrow()
            .as_ref()
            .and_then(Weak::upgrade)
            .is_some_and(|rt| !*rt.accepting.lock())
    })
}

/// Admission for a call that creates a connection or a pool: held until it is
/// done. Recursive: a pool factory may itself connect. In a callback (on a
/// reactor thread) while a shutdown is under way it fails with [`Error::Closed`]
/// instead of waiting: the shutdown waits for that very thread.
pub(crate) fn admit() -> Result<RwLockReadGuard<'static, ()>> {
    if in_reactor() {
        if reactor_is_stopping() {
            return Err(Error::Closed);
        }
        return GATE.try_read_recursive().ok_or(Error::Closed);
    }
    Ok(GATE.read_recursive())
}

/// The running runtime, started if there is none.
pub(crate) fn get_or_start() -> Result<Arc<RuntimeShared>> {
    if reactor_is_stopping() {
        return Err(Error::Closed);
    }
    let mut guard = RUNTIME.lock();
    if let Some(rt) = guard.as_ref() {
        return Ok(rt.shared.clone());
    }
    let epfd = sys::epoll_create()?;
    let wakefd = match sys::eventfd() {
        Ok(fd) => fd,
        Err(e) => {
            sys::close(epfd);
            return Err(e.into());
        }
    };
    let (tx, rx): (Sender<Cmd>, Receiver<Cmd>) = unbounded();
    let shared = Arc::new(RuntimeShared {
        epfd,
        wakefd,
        tx,
        wake_pending: AtomicBool::new(false),
        accepting: Mutex::new(true),
        resolver: Resolver::default(),
    });
    sys::epoll_add(epfd, wakefd, sys::EV_IN, WAKE_TOKEN)?;
    let reactor = Reactor::new(shared.clone(), rx);
    let thread = std::thread::Builder::new()
        .name("connman-reactor".into())
        .spawn(move || reactor.run())?;
    *guard = Some(Runtime {
        shared: shared.clone(),
        thread,
    });
    Ok(shared)
}

/// Disconnects everything, waits for every on_close, joins the library's threads.
pub(crate) fn shutdown() -> Result<()> {
    if in_reactor() || crate::pool::in_any_factory() {
        return Err(Error::InCallback);
    }
    let _exclusive = GATE.write();
    // No pool takes new members from here on (an add from an on_close during the
    // shutdown must not outlive it).
    for p in crate::registry::all_pools() {
        p.mark_closing();
    }
    let rt = RUNTIME.lock().take();
    if let Some(rt) = rt {
        *rt.shared.accepting.lock() = false;
        rt.shared.post(Cmd::Shutdown);
        let _ = rt.thread.join();
        rt.shared.resolver.stop();
    }
    // Pools without members never reached a reactor; forget them too.
    for p in crate::registry::all_pools() {
        p.mark_closing();
        crate::registry::remove_pool(p.id);
    }
    Ok(())
}
