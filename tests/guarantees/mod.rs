//! The SPEC's guarantees, written once and run in every way the library can run:
//! one I/O thread, two I/O threads, and embedded on a loop the test drives
//! (`guarantees_threads1.rs`, `guarantees_threads2.rs`, `guarantees_embedded.rs`:
//! one process each, since the mode is process-wide).
//!
//! In embedded mode a driver thread plays the application's loop: it polls the
//! event fd and calls `dispatch` when it is readable, counting those wake-ups;
//! the test thread is "another thread" whose calls take effect at the next
//! dispatch.
#![allow(dead_code)]

use crate::common::*;
use connman::{Config, Conn, Error, Options, State};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Threads(u32),
    Embedded,
}

/// The application's loop in embedded mode.
struct Driver {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
    id: ThreadId,
}

/// The library running in one mode for one test; dropping it shuts the library
/// down (from the test thread, outside any dispatch).
pub struct Lib {
    pub mode: Mode,
    driver: Option<Driver>,
    /// Embedded: how many times the event fd was readable.
    pub wakeups: Arc<AtomicU64>,
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl Lib {
    pub fn start(mode: Mode) -> Lib {
        let serial = serial();
        let threads = match mode {
            Mode::Threads(n) => n,
            Mode::Embedded => 0,
        };
        connman::configure(Config { threads }).expect("configure before the first connection");
        if std::env::var_os("CONNMAN_TEST_LOG").is_some() {
            connman::set_log(None, Some(connman::Level::Debug));
        }
        let wakeups = Arc::new(AtomicU64::new(0));
        let driver = (mode == Mode::Embedded).then(|| {
            let fd = connman::event_fd().expect("embedded mode has an event fd");
            let stop = Arc::new(AtomicBool::new(false));
            let (stop2, wakeups2) = (stop.clone(), wakeups.clone());
            let thread = std::thread::Builder::new()
                .name("app-loop".into())
                .spawn(move || {
                    while !stop2.load(SeqCst) {
                        let mut p = libc::pollfd {
                            fd,
                            events: libc::POLLIN,
                            revents: 0,
                        };
                        // SAFETY: one live pollfd.
                        let n = unsafe { libc::poll(&mut p, 1, 20) };
                        if n == 1 {
                            wakeups2.fetch_add(1, SeqCst);
                            connman::dispatch().expect("dispatch");
                        }
                    }
                })
                .unwrap();
            let id = thread.thread().id();
            Driver { stop, thread, id }
        });
        Lib {
            mode,
            driver,
            wakeups,
            _serial: serial,
        }
    }

    /// The thread callbacks must run on (embedded mode).
    pub fn loop_thread(&self) -> Option<ThreadId> {
        self.driver.as_ref().map(|d| d.id)
    }

    pub fn shutdown(&mut self) {
        if let Some(d) = self.driver.take() {
            d.stop.store(true, SeqCst);
            d.thread.join().unwrap();
        }
        connman::shutdown().unwrap();
        connman::configure(Config::default()).unwrap();
    }
}

impl Drop for Lib {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The thread each callback ran on, in order.
pub type Seen = Arc<Mutex<Vec<(ThreadId, Ev)>>>;

/// A recorder that also notes the thread of every callback.
pub fn threaded_recorder() -> (Arc<Recorder>, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let rec = Recorder::with_hook(move |_c: Conn, ev: &Ev| {
        s.lock()
            .unwrap()
            .push((std::thread::current().id(), ev.clone()));
    });
    (rec, seen)
}

fn opts() -> Options {
    Options::default()
}

fn fast() -> Options {
    Options {
        healthy_after: Duration::from_millis(1),
        ..Options::default()
    }
}

/// Guarantees 1, 2, 4 and 7: order, a stable descriptor across reconnects, on_close
/// last, no descriptor leak; callbacks on the loop's thread (embedded) or on one
/// thread per connection.
pub fn order_stable_fd_and_threads(mode: Mode) {
    let mut lib = Lib::start(mode);
    let mut srv = Server::echo();
    let (rec, seen) = threaded_recorder();
    let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &fast()).unwrap();
    assert!(rec.wait(|e| e.iter().any(is_connect)), "{:?}", rec.events());
    let fd = c.fd().unwrap();
    let fds_before = open_fds().len();
    for round in 1..=20 {
        c.send(format!("ping{round}").as_bytes()).unwrap();
        assert!(wait_until(|| rec
            .received()
            .ends_with(format!("ping{round}").as_bytes())));
        // Up longer than healthy_after (1 ms): a healthy drop, retried at once.
        std::thread::sleep(Duration::from_millis(3));
        srv.cmd("drop");
        assert!(
            rec.wait(|e| e.iter().filter(|x| is_reconnect(x)).count() == round),
            "reconnect {round}: {:?}",
            rec.events()
        );
        assert_eq!(c.fd().unwrap(), fd);
    }
    // (The attempt socket's spare descriptor is closed just after on_reconnect.)
    assert!(
        wait_until(|| open_fds().len() == fds_before),
        "no descriptor leaked: {} open, {fds_before} before",
        open_fds().len()
    );
    c.disconnect().unwrap();
    assert!(rec.wait(|e| e.last() == Some(&Ev::Close)));
    rec.assert_contract();
    let threads: HashSet<ThreadId> = seen.lock().unwrap().iter().map(|(t, _)| *t).collect();
    assert_eq!(threads.len(), 1, "one connection, one thread: {threads:?}");
    if let Some(t) = lib.loop_thread() {
        assert!(threads.contains(&t), "callbacks run inside dispatch");
    }
    assert!(
        !threads.contains(&std::thread::current().id()),
        "no callback on the calling thread"
    );
    lib.shutdown();
}

/// Guarantee 3: callbacks never overlap per connection, and every connman function
/// may be called from inside them (disconnect of itself included).
pub fn reentrant_calls_from_callbacks(mode: Mode) {
    let _lib = Lib::start(mode);
    let srv = Server::echo();
    let port = srv.port;
    let second: Arc<Mutex<Option<Conn>>> = Arc::default();
    let second_rec = Recorder::new();
    let (s2, r2) = (second.clone(), second_rec.clone());
    let rec = Recorder::with_hook(move |c: Conn, ev: &Ev| match ev {
        Ev::Connect(fd) => {
            assert_eq!(c.fd().unwrap(), *fd);
            assert_eq!(c.stats().unwrap().state, State::Connected);
            assert_eq!(connman::conn_from_fd(*fd).unwrap(), c);
            let other = connman::connect(port, "127.0.0.1", r2.clone(), &opts()).unwrap();
            *s2.lock().unwrap() = Some(other);
            c.send(b"bye").unwrap();
        }
        Ev::Data(d) if d.ends_with(b"bye") => {
            c.disconnect().unwrap();
            assert_eq!(c.disconnect(), Err(Error::Closed));
        }
        _ => {}
    });
    let c = connman::connect(port, "127.0.0.1", rec.clone(), &opts()).unwrap();
    assert!(
        rec.wait(|e| e.last() == Some(&Ev::Close)),
        "{:?}",
        rec.events()
    );
    rec.assert_contract();
    assert!(second_rec.wait(|e| e.iter().any(is_connect)));
    let other = second.lock().unwrap().unwrap();
    other.disconnect().unwrap();
    assert!(second_rec.wait(|e| e.last() == Some(&Ev::Close)));
    assert!(wait_until(|| c.stats() == Err(Error::NotFound)));
}

/// Guarantee 5: disconnect works in every state, from another thread, twice.
pub fn disconnect_in_every_state(mode: Mode) {
    let _lib = Lib::start(mode);
    let hole = Blackhole::new();
    let srv = Server::echo();
    let patient = Options {
        connect_timeout: Duration::from_secs(30),
        ..opts()
    };
    // First connect in flight.
    let r1 = Recorder::new();
    let c1 = connman::connect(hole.port, "127.0.0.1", r1.clone(), &patient).unwrap();
    assert!(wait_stats(c1, |s| s.attempts > 0));
    // Connected.
    let r2 = Recorder::new();
    let c2 = connman::connect(srv.port, "127.0.0.1", r2.clone(), &opts()).unwrap();
    assert!(r2.wait(|e| e.iter().any(is_connect)));
    // Backing off.
    let r3 = Recorder::new();
    let slow = Options {
        backoff_initial: Duration::from_secs(60),
        backoff_max: Duration::from_secs(60),
        ..opts()
    };
    let c3 = connman::connect(dead_port(), "127.0.0.1", r3.clone(), &slow).unwrap();
    assert!(wait_stats(c3, |s| s.last_error == libc::ECONNREFUSED));
    for (c, r) in [(c1, &r1), (c2, &r2), (c3, &r3)] {
        let t = std::thread::spawn(move || c.disconnect());
        assert_eq!(t.join().unwrap(), Ok(()));
        assert!(matches!(
            c.disconnect(),
            Err(Error::Closed) | Err(Error::NotFound)
        ));
        assert!(r.wait(|e| e.last() == Some(&Ev::Close)), "{:?}", r.events());
        r.assert_contract();
    }
}

/// Guarantee 8: a host that never answers is retried with a connect timeout, and
/// stats say why; the timers fire (in embedded mode: through the event fd).
pub fn unanswered_host_is_retried_with_timeouts(mode: Mode) {
    let _lib = Lib::start(mode);
    let hole = Blackhole::new();
    let o = Options {
        connect_timeout: Duration::from_millis(50),
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(20),
        ..opts()
    };
    let rec = Recorder::new();
    let c = connman::connect(hole.port, "127.0.0.1", rec.clone(), &o).unwrap();
    assert!(
        wait_stats(c, |s| s.attempts >= 4 && s.last_error == libc::ETIMEDOUT),
        "{:?}",
        c.stats()
    );
    assert_eq!(c.stats().unwrap().state, State::Connecting);
    c.disconnect().unwrap();
    assert!(rec.wait(|e| e == [Ev::Close]));
}

/// Guarantee 9: a server that accepts and closes at once gets no hot loop.
pub fn flapping_server_gets_no_hot_loop(mode: Mode) {
    let _lib = Lib::start(mode);
    let srv = Server::start(&["--mode", "close"]);
    let rec = Recorder::new();
    let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &opts()).unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let attempts = c.stats().unwrap().attempts;
    assert!(attempts <= 12, "{attempts} attempts in 1 s: hot loop");
    assert!(attempts >= 3, "{attempts} attempts in 1 s: not retried");
    c.disconnect().unwrap();
}

/// Guarantee 10: idle, no wake-ups: the event fd stays unreadable (embedded), the
/// library threads are not scheduled (threads).
pub fn idle_means_no_wakeups(mode: Mode) {
    let lib = Lib::start(mode);
    let srv = Server::echo();
    let rec = Recorder::new();
    let conns: Vec<Conn> = (0..20)
        .map(|_| connman::connect(srv.port, "127.0.0.1", rec.clone(), &opts()).unwrap())
        .collect();
    assert!(rec.wait(|e| e.iter().filter(|x| is_connect(x)).count() == 20));
    std::thread::sleep(Duration::from_millis(100));
    let (w0, s0) = (lib.wakeups.load(SeqCst), library_switches());
    std::thread::sleep(Duration::from_millis(600));
    let (w1, s1) = (lib.wakeups.load(SeqCst), library_switches());
    assert_eq!(w1 - w0, 0, "the event fd became readable while idle");
    assert_eq!(s1 - s0, 0, "a library thread woke up while idle");
    drop(conns);
}

/// Context switches of the library's I/O threads so far.
fn library_switches() -> u64 {
    let mut total = 0;
    for tid in threads_named("connman-reactor") {
        let status =
            std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap_or_default();
        for l in status.lines() {
            if let Some(v) = l
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| l.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                total += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    total
}

/// Shutdown (from outside any callback) runs every remaining on_close and leaves
/// no library thread; configure is refused while the library runs and accepted
/// after shutdown.
pub fn shutdown_and_configure(mode: Mode) {
    let mut lib = Lib::start(mode);
    let srv = Server::echo();
    let recs: Vec<Arc<Recorder>> = (0..5).map(|_| Recorder::new()).collect();
    for r in &recs {
        connman::connect(srv.port, "127.0.0.1", r.clone(), &opts()).unwrap();
    }
    assert!(recs.iter().all(|r| r.wait(|e| e.iter().any(is_connect))));
    assert_eq!(
        connman::configure(Config { threads: 3 }),
        Err(Error::State),
        "configure while running"
    );
    lib.shutdown();
    for r in &recs {
        assert_eq!(
            r.events().last(),
            Some(&Ev::Close),
            "on_close ran before shutdown returned"
        );
        r.assert_contract();
    }
    assert!(threads_named("connman-reactor").is_empty());
    assert_eq!(connman::configure(Config { threads: 2 }), Ok(()));
    assert_eq!(connman::configure(Config::default()), Ok(()));
}

/// With two threads, connections are spread over both and each stays on one.
pub fn connections_spread_over_threads(mode: Mode) {
    let _lib = Lib::start(mode);
    let srv = Server::echo();
    let mut all: Vec<(Conn, Seen)> = Vec::new();
    let mut recs = Vec::new();
    for _ in 0..10 {
        let (rec, seen) = threaded_recorder();
        let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &opts()).unwrap();
        all.push((c, seen));
        recs.push(rec);
    }
    for (i, (c, _)) in all.iter().enumerate() {
        assert!(recs[i].wait(|e| e.iter().any(is_connect)));
        for k in 0..5 {
            c.send(format!("{i}-{k};").as_bytes()).unwrap();
        }
    }
    for (i, r) in recs.iter().enumerate() {
        assert!(wait_until(|| r
            .received()
            .ends_with(format!("{i}-4;").as_bytes())));
    }
    let mut per_thread: HashMap<ThreadId, usize> = HashMap::new();
    for (_, seen) in &all {
        let threads: HashSet<ThreadId> = seen.lock().unwrap().iter().map(|(t, _)| *t).collect();
        assert_eq!(threads.len(), 1, "a connection's callbacks on one thread");
        *per_thread
            .entry(*threads.iter().next().unwrap())
            .or_default() += 1;
    }
    let expected = match mode {
        Mode::Threads(n) => n as usize,
        Mode::Embedded => 1,
    };
    assert_eq!(per_thread.len(), expected, "spread: {per_thread:?}");
}

/// Calls from other threads take effect at the next dispatch: a connect from the
/// test thread makes the event fd readable, and its on_connect runs on the loop.
pub fn calls_from_other_threads_reach_the_loop(mode: Mode) {
    let lib = Lib::start(mode);
    let srv = Server::echo();
    let w0 = lib.wakeups.load(SeqCst);
    let t0 = Instant::now();
    let (rec, seen) = threaded_recorder();
    let _c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &opts()).unwrap();
    assert!(rec.wait(|e| e.iter().any(is_connect)));
    if let Some(t) = lib.loop_thread() {
        assert!(lib.wakeups.load(SeqCst) > w0);
        assert_eq!(seen.lock().unwrap()[0].0, t);
    }
    assert!(t0.elapsed() < Duration::from_secs(5));
}

/// Every guarantee above as tests for one mode.
#[macro_export]
macro_rules! guarantee_tests {
    ($mode:expr) => {
        #[test]
        fn order_stable_fd_and_threads() {
            guarantees::order_stable_fd_and_threads($mode);
        }
        #[test]
        fn reentrant_calls_from_callbacks() {
            guarantees::reentrant_calls_from_callbacks($mode);
        }
        #[test]
        fn disconnect_in_every_state() {
            guarantees::disconnect_in_every_state($mode);
        }
        #[test]
        fn unanswered_host_is_retried_with_timeouts() {
            guarantees::unanswered_host_is_retried_with_timeouts($mode);
        }
        #[test]
        fn flapping_server_gets_no_hot_loop() {
            guarantees::flapping_server_gets_no_hot_loop($mode);
        }
        #[test]
        fn idle_means_no_wakeups() {
            guarantees::idle_means_no_wakeups($mode);
        }
        #[test]
        fn shutdown_and_configure() {
            guarantees::shutdown_and_configure($mode);
        }
        #[test]
        fn connections_spread_over_threads() {
            guarantees::connections_spread_over_threads($mode);
        }
        #[test]
        fn calls_from_other_threads_reach_the_loop() {
            guarantees::calls_from_other_threads_reach_the_loop($mode);
        }
    };
}
