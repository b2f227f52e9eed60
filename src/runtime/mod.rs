//! The runtime: the event loops that drive connections, run in one of three ways
//! ([`Config`]): one loop on a thread of its own (the default), N loops on N
//! threads (connections spread over them, each connection on one), or one loop
//! with no thread, driven by the application (embedded mode: `event_fd` and
//! `dispatch`). Started by the first connection, stopped by `shutdown`; a later
//! connection starts a fresh one, configured anew.

mod callback;
mod event_loop;
mod machine;
mod reactor;
mod resolver;

pub(crate) use callback::{in_loop, loop_is_stopping};
pub(crate) use event_loop::{Cmd, LoopShared};

use crate::config::Config;
use crate::error::{Error, Result};
use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use reactor::Reactor;
use resolver::Resolver;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;
use std::thread::JoinHandle;

pub(crate) struct Runtime {
    loops: Vec<Arc<LoopShared>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Embedded mode: the one loop, run by whichever thread dispatches.
    embedded: Option<Mutex<Reactor>>,
    resolver: Arc<Resolver>,
}

static RUNTIME: Mutex<Option<Arc<Runtime>>> = Mutex::new(None);
static CONFIG: Mutex<Config> = Mutex::new(Config { threads: 1 });

/// Calls that create connections or pools hold this shared for their whole
/// duration (a pool add across its factory call); `shutdown` and `configure` hold
/// it exclusively. So a creation racing a shutdown either completes before it (and
/// shutdown closes what it made) or starts after it (on a fresh runtime): nothing
/// made by a racing call outlives the shutdown that returned before it.
static GATE: RwLock<()> = RwLock::new(());

/// Admission for a call that creates a connection or a pool: held until it is
/// done. Recursive: a pool factory may itself connect. In a callback while a
/// shutdown is under way it fails with [`Error::Closed`] instead of waiting: the
/// shutdown waits for that very thread.
pub(crate) fn admit() -> Result<RwLockReadGuard<'static, ()>> {
    let stopping = || {
        Error::Closed.because(format_args!(
            "the library is shutting down (called from a callback during connman_shutdown)"
        ))
    };
    if in_loop() {
        if loop_is_stopping() {
            return Err(stopping());
        }
        return GATE.try_read_recursive().ok_or_else(stopping);
    }
    Ok(GATE.read_recursive())
}

/// Exclusive use of the library's life cycle (shutdown, configure).
pub(crate) fn exclusive() -> parking_lot::RwLockWriteGuard<'static, ()> {
    GATE.write()
}

impl Runtime {
    /// The running runtime, started (as configured) if there is none.
    pub fn get_or_start() -> Result<Arc<Runtime>> {
        let mut guard = RUNTIME.lock();
        if let Some(rt) = guard.as_ref() {
            return Ok(rt.clone());
        }
        let config = *CONFIG.lock();
        let rt = Arc::new(Runtime::start(config)?);
        *guard = Some(rt.clone());
        Ok(rt)
    }

    /// The running runtime, if any.
    pub fn get() -> Option<Arc<Runtime>> {
        RUNTIME.lock().clone()
    }

    fn start(config: Config) -> Result<Runtime> {
        let resolver = Arc::new(Resolver::default());
        if config.embedded() {
            let (shared, rx) = LoopShared::new(true)?;
            let reactor = Reactor::new(shared.clone(), rx, resolver.clone());
            return Ok(Runtime {
                loops: vec![shared],
                threads: Mutex::new(Vec::new()),
                embedded: Some(Mutex::new(reactor)),
                resolver,
            });
        }
        let mut rt = Runtime {
            loops: Vec::new(),
            threads: Mutex::new(Vec::new()),
            embedded: None,
            resolver,
        };
        for i in 0..config.threads.max(1) {
            let (shared, rx) = LoopShared::new(false)?;
            let reactor = Reactor::new(shared.clone(), rx, rt.resolver.clone());
            let spawned = std::thread::Builder::new()
                .name(if config.threads == 1 {
                    "connman-reactor".into()
                } else {
                    format!("connman-reactor-{i}")
                })
                .spawn(move || reactor.run());
            match spawned {
                Ok(t) => {
                    rt.loops.push(shared);
                    rt.threads.get_mut().push(t);
                }
                Err(e) => {
                    rt.stop();
                    let why = format!("could not start an I/O thread: {e}");
                    return Err(Error::from(e).because(format_args!("{why}")));
                }
            }
        }
        Ok(rt)
    }

    /// The loop a new connection goes to: the least loaded one. Counted at once,
    /// so that connections opened in a burst are spread too.
    pub fn pick_loop(&self) -> Arc<LoopShared> {
        let lp = self
            .loops
            .iter()
            .min_by_key(|l| l.load.load(Relaxed))
            .expect("a runtime has at least one loop");
        lp.load.fetch_add(1, Relaxed);
        lp.clone()
    }

    /// Embedded mode: the loop's descriptor (readable whenever there is work).
    pub fn event_fd(&self) -> Option<RawFd> {
        self.embedded.as_ref().map(|_| self.loops[0].epfd)
    }

    /// Embedded mode: one turn of the loop on this thread. Returns at once if
    /// another thread is dispatching.
    pub fn dispatch(&self) -> Result<()> {
        let Some(embedded) = &self.embedded else {
            return Err(Error::State.because(format_args!(
                "connman_dispatch is for embedded mode (threads = 0); this runtime runs \
                 its own I/O threads"
            )));
        };
        if let Some(mut reactor) = embedded.try_lock() {
            reactor.dispatch();
        }
        Ok(())
    }

    /// Closes every connection (each on_close runs) and stops the loops and the
    /// resolver. Threads are joined; in embedded mode the calling thread does the
    /// closing itself (after a dispatch under way elsewhere finished).
    fn stop(&self) {
        for lp in &self.loops {
            lp.accepting.store(false, SeqCst);
        }
        if let Some(embedded) = &self.embedded {
            embedded.lock().shut_down_here();
        }
        for lp in &self.loops {
            lp.post(Cmd::Shutdown);
        }
        for t in std::mem::take(&mut *self.threads.lock()) {
            let _ = t.join();
        }
        self.resolver.stop();
    }
}

/// Stops the running runtime, if any (the caller holds [`exclusive`]).
pub(crate) fn stop() {
    let rt = RUNTIME.lock().take();
    if let Some(rt) = rt {
        rt.stop();
    }
}

/// Sets the configuration the next runtime starts with; refused while one runs
/// (the caller holds [`exclusive`]).
pub(crate) fn configure(config: Config) -> Result<()> {
    config.validate()?;
    if RUNTIME.lock().is_some() {
        return Err(Error::State.because(format_args!(
            "the library is running: configure before the first connection or after \
             connman_shutdown"
        )));
    }
    *CONFIG.lock() = config;
    Ok(())
}

/// The configuration the next (or the running) runtime has.
pub(crate) fn config() -> Config {
    *CONFIG.lock()
}
