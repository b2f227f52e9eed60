//! Test support shared by the Rust integration tests: the project's flaky echo
//! server (tools/flaky-echo, spawned as a process and steered through stdin), a
//! recording handler that checks the callback contract, and waiting on conditions
//! with deadlines. What does not need the library comes from the `testkit` crate
//! (tools/testkit), which the benchmark and flaky-echo share.
#![allow(dead_code)]

pub mod capi;

use connman::{Conn, Handler};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use testkit::{flaky, FlakyEcho};

// Not every test binary uses every helper.
#[allow(unused_imports)]
pub use testkit::{
    procfs::{open_fds, rss_kib, thread_count, threads_named},
    sys::{dead_port, is_cloexec},
    Blackhole,
};

/// Tests in one binary share the library's process-wide state (and count the
/// process's descriptors and threads), so they run one at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub const DEADLINE: Duration = Duration::from_secs(10);

/// Polls `cond` until it holds or `DEADLINE` passes; returns whether it held.
pub fn wait_until(mut cond: impl FnMut() -> bool) -> bool {
    wait_for(DEADLINE, &mut cond)
}

/// Like [`wait_until`], with a deadline of one's own.
pub fn wait_for(limit: Duration, cond: &mut dyn FnMut() -> bool) -> bool {
    testkit::wait_for(limit, cond)
}

/// The flaky echo server (`tools/flaky-echo`), steered through its stdin protocol.
/// Its log is printed only if the test fails (or live with `CONNMAN_TEST_VERBOSE=1`).
pub struct Server {
    inner: FlakyEcho,
    pub port: u16,
}

impl Server {
    pub fn start(args: &[&str]) -> Server {
        let mut cmd = FlakyEcho::command();
        cmd.args(args);
        Server::spawn(cmd)
    }

    /// Starts flaky-echo through a wrapper command, e.g.
    /// `["ip", "netns", "exec", "NS"]`, so it runs inside a network namespace.
    pub fn start_via(wrapper: &[&str], args: &[&str]) -> Server {
        let mut cmd = Command::new(wrapper[0]);
        cmd.args(&wrapper[1..]).arg(flaky::binary()).args(args);
        Server::spawn(cmd)
    }

    fn spawn(mut cmd: Command) -> Server {
        cmd.arg("--quiet");
        let inner = FlakyEcho::spawn(cmd, flaky::verbose()).unwrap_or_else(|e| panic!("{e}"));
        Server {
            port: inner.port,
            inner,
        }
    }

    pub fn echo() -> Server {
        Server::start(&[])
    }

    /// Sends one command and waits for its `OK` line; returns that line.
    pub fn cmd(&mut self, c: &str) -> String {
        self.inner.cmd(c).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The server's process id (for signals: SIGSTOP freezes it, SIGKILL ends it).
    pub fn pid(&self) -> i32 {
        self.inner.pid()
    }

    /// A field of the `stats` answer.
    pub fn stat(&mut self, key: &str) -> u64 {
        let line = self.cmd("stats");
        line.split_whitespace()
            .find_map(|kv| {
                kv.strip_prefix(&format!("{key}="))
                    .map(|v| v.parse().unwrap())
            })
            .unwrap_or_else(|| panic!("no {key} in {line:?}"))
    }
}

/// Code run inside a callback, before it is recorded.
pub type Hook = Box<dyn FnMut(Conn, &Ev) + Send>;

/// One callback as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Connect(i32),
    Reset,
    Reconnect(i32),
    Data(Vec<u8>),
    Close,
}

/// A handler that records every callback, checks that callbacks never overlap,
/// and can run a hook inside a callback.
#[derive(Default)]
pub struct Recorder {
    pub events: Mutex<Vec<Ev>>,
    cv: Condvar,
    busy: AtomicBool,
    pub overlaps: AtomicUsize,
    pub hook: Mutex<Option<Hook>>,
    /// When each event of `events` was recorded (same index).
    pub stamps: Mutex<Vec<Instant>>,
}

impl Recorder {
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder::default())
    }

    pub fn with_hook(hook: impl FnMut(Conn, &Ev) + Send + 'static) -> Arc<Recorder> {
        let r = Recorder::default();
        *r.hook.lock().unwrap() = Some(Box::new(hook));
        Arc::new(r)
    }

    fn record(&self, conn: Conn, ev: Ev) {
        if self.busy.swap(true, SeqCst) {
            self.overlaps.fetch_add(1, SeqCst);
        }
        if let Some(h) = self.hook.lock().unwrap().as_mut() {
            h(conn, &ev);
        }
        {
            let mut events = self.events.lock().unwrap();
            self.stamps.lock().unwrap().push(Instant::now());
            events.push(ev);
        }
        self.busy.store(false, SeqCst);
        self.cv.notify_all();
    }

    pub fn events(&self) -> Vec<Ev> {
        self.events.lock().unwrap().clone()
    }

    pub fn count(&self, f: impl Fn(&Ev) -> bool) -> usize {
        self.events.lock().unwrap().iter().filter(|e| f(e)).count()
    }

    /// Waits until `f` holds for the recorded events, up to the deadline.
    pub fn wait(&self, f: impl Fn(&[Ev]) -> bool) -> bool {
        self.wait_for(DEADLINE, f)
    }

    pub fn received(&self) -> Vec<u8> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                Ev::Data(d) => Some(d.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// Like [`Recorder::wait`], with a deadline of one's own.
    pub fn wait_for(&self, limit: Duration, f: impl Fn(&[Ev]) -> bool) -> bool {
        let end = Instant::now() + limit;
        let mut g = self.events.lock().unwrap();
        loop {
            if f(&g) {
                return true;
            }
            let now = Instant::now();
            if now >= end {
                return false;
            }
            g = self.cv.wait_timeout(g, end - now).unwrap().0;
        }
    }

    /// The events with the time each was recorded.
    pub fn timed_events(&self) -> Vec<(Instant, Ev)> {
        let events = self.events.lock().unwrap();
        let stamps = self.stamps.lock().unwrap();
        stamps.iter().copied().zip(events.iter().cloned()).collect()
    }

    /// The bytes received in each connection epoch: one entry per on_connect or
    /// on_reconnect, holding what on_data delivered until the next on_reset.
    pub fn epochs(&self) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        for e in self.events.lock().unwrap().iter() {
            match e {
                Ev::Connect(_) | Ev::Reconnect(_) => out.push(Vec::new()),
                Ev::Data(d) => match out.last_mut() {
                    Some(cur) => cur.extend_from_slice(d),
                    None => out.push(d.clone()), // a violation; assert_contract says so
                },
                _ => {}
            }
        }
        out
    }

    /// The SPEC's ordering guarantees on the sequence recorded so far, which may
    /// still be going on: `None` when it is a valid prefix of a connection's life,
    /// else what is wrong. With `closed`, on_close must also have run exactly once.
    pub fn contract_violation(&self, closed: bool) -> Option<String> {
        let ev = self.events();
        if self.overlaps.load(SeqCst) != 0 {
            return Some("callbacks overlapped".into());
        }
        let mut fd = None;
        let mut up = false;
        let mut n_closed = 0;
        for (i, e) in ev.iter().enumerate() {
            if n_closed > 0 {
                return Some(format!("callback {e:?} after on_close in {ev:?}"));
            }
            match e {
                Ev::Connect(f) => {
                    if i != 0 {
                        return Some(format!("on_connect must be first: {ev:?}"));
                    }
                    fd = Some(*f);
                    up = true;
                }
                Ev::Reset if !up => return Some(format!("on_reset while not up: {ev:?}")),
                Ev::Reset => up = false,
                Ev::Reconnect(f) => {
                    if up || fd.is_none() {
                        return Some(format!("on_reconnect out of order: {ev:?}"));
                    }
                    if Some(*f) != fd {
                        return Some(format!("descriptor changed across reconnect: {ev:?}"));
                    }
                    up = true;
                }
                Ev::Data(_) if !up => return Some("on_data while not up".into()),
                Ev::Data(_) => {}
                Ev::Close => n_closed += 1,
            }
        }
        if closed && n_closed != 1 {
            return Some(format!("on_close exactly once: {ev:?}"));
        }
        None
    }

    /// Checks the SPEC's ordering guarantees on the recorded sequence.
    pub fn assert_contract(&self) {
        let ev = self.events();
        assert_eq!(self.overlaps.load(SeqCst), 0, "callbacks overlapped");
        let mut fd = None;
        let mut up = false;
        let mut closed = false;
        for (i, e) in ev.iter().enumerate() {
            assert!(!closed, "callback {e:?} after on_close in {ev:?}");
            match e {
                Ev::Connect(f) => {
                    assert_eq!(i, 0, "on_connect must be first: {ev:?}");
                    fd = Some(*f);
                    up = true;
                }
                Ev::Reset => {
                    assert!(up, "on_reset while not up: {ev:?}");
                    up = false;
                }
                Ev::Reconnect(f) => {
                    assert!(!up && fd.is_some(), "on_reconnect out of order: {ev:?}");
                    assert_eq!(Some(*f), fd, "descriptor changed across reconnect");
                    up = true;
                }
                Ev::Data(_) => assert!(up, "on_data while not up"),
                Ev::Close => closed = true,
            }
        }
        assert_eq!(
            ev.iter().filter(|e| **e == Ev::Close).count(),
            1,
            "on_close exactly once: {ev:?}"
        );
    }
}

impl Handler for Recorder {
    fn on_connect(&self, conn: Conn, fd: i32) {
        self.record(conn, Ev::Connect(fd));
    }
    fn on_reset(&self, conn: Conn) {
        self.record(conn, Ev::Reset);
    }
    fn on_reconnect(&self, conn: Conn, fd: i32) {
        self.record(conn, Ev::Reconnect(fd));
    }
    fn on_data(&self, conn: Conn, data: &[u8]) {
        self.record(conn, Ev::Data(data.to_vec()));
    }
    fn on_close(&self, conn: Conn) {
        self.record(conn, Ev::Close);
    }
}

pub fn is_connect(e: &Ev) -> bool {
    matches!(e, Ev::Connect(_))
}
pub fn is_reconnect(e: &Ev) -> bool {
    matches!(e, Ev::Reconnect(_))
}

/// Waits until the connection's stats satisfy `f` (a stale handle never does).
pub fn wait_stats(c: Conn, f: impl Fn(&connman::Stats) -> bool) -> bool {
    wait_until(|| c.stats().is_ok_and(|s| f(&s)))
}

/// A connection whose on_data blocks the library thread until released (on drop),
/// so that what a call does "at once" is seen before the reactor catches up:
/// no other callback, command or timer runs meanwhile.
pub struct ReactorBlocker {
    pub c: Conn,
    release: mpsc::Sender<()>,
    _srv: Server,
}

impl ReactorBlocker {
    pub fn block() -> ReactorBlocker {
        let srv = Server::echo();
        let (tx, rx) = mpsc::channel::<()>();
        let rx = Mutex::new(rx);
        let (in_tx, in_rx) = mpsc::channel::<()>();
        let in_tx = Mutex::new(in_tx);
        let rec = Recorder::with_hook(move |_c: Conn, ev: &Ev| {
            if matches!(ev, Ev::Data(_)) {
                let _ = in_tx.lock().unwrap().send(());
                let _ = rx.lock().unwrap().recv_timeout(Duration::from_secs(10));
            }
        });
        let c = connman::connect(
            srv.port,
            "127.0.0.1",
            rec.clone(),
            &connman::Options::default(),
        )
        .unwrap();
        assert!(rec.wait(|e| e.iter().any(is_connect)));
        c.send(b"block").unwrap();
        in_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the reactor is inside on_data");
        ReactorBlocker {
            c,
            release: tx,
            _srv: srv,
        }
    }
}

impl Drop for ReactorBlocker {
    fn drop(&mut self) {
        let _ = self.release.send(());
        let _ = self.c.disconnect();
    }
}
