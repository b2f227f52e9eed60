//! Hostile tests of version 2 (embedded mode, N threads, Unix sockets,
//! send_while_reconnecting, errors and the log hook) and of the older hostile
//! cases on the new core. Every test is deterministic and uses plain std sockets
//! as the peer, so that what the peer does is under the test's control.
//!
//! Tests named `fixed_*` reproduce a defect this testing found (each failed
//! before its fix); the others held from the start. All stay as regression tests. Scenarios that would hang the
//! process (a deadlock) or change process-wide limits run in a child process (the
//! test binary re-executed for that one test) with a deadline.

mod common;

use common::{serial, wait_for, wait_until, Ev, Recorder};
use connman::{Config, Conn, Error, Handler, Level, Options, State};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Support

/// The library in a known state for one test: shut down, configured with
/// `threads`, the log hook back to its default. Shut down again when dropped.
struct Lib {
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl Lib {
    fn new(threads: u32) -> Lib {
        let g = serial();
        connman::shutdown().unwrap();
        // Errors some tests cause on purpose (a descriptor given up) stay quiet.
        connman::set_log(Some(Arc::new(|_, _, _: &str| {})), Some(Level::Error));
        connman::configure(Config { threads }).unwrap();
        Lib { _serial: g }
    }
}

impl Drop for Lib {
    fn drop(&mut self) {
        connman::set_log(None, Some(Level::Error));
        let _ = connman::shutdown();
        let _ = connman::configure(Config::default());
    }
}

fn fast() -> Options {
    Options {
        backoff_initial: Duration::from_millis(5),
        backoff_max: Duration::from_millis(50),
        healthy_after: Duration::from_millis(1),
        ..Options::default()
    }
}

/// The application's loop for embedded mode: polls the event fd, dispatches when
/// it is readable, counts the wake-ups.
struct AppLoop {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    wakeups: Arc<AtomicU64>,
    id: ThreadId,
}

impl AppLoop {
    fn start() -> AppLoop {
        let fd = connman::event_fd().expect("embedded mode");
        let stop = Arc::new(AtomicBool::new(false));
        let wakeups = Arc::new(AtomicU64::new(0));
        let (s, w) = (stop.clone(), wakeups.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(SeqCst) {
                if poll_in(fd, 20) {
                    w.fetch_add(1, SeqCst);
                    connman::dispatch().expect("dispatch");
                }
            }
        });
        let id = thread.thread().id();
        AppLoop {
            stop,
            thread: Some(thread),
            wakeups,
            id,
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for AppLoop {
    fn drop(&mut self) {
        self.stop();
    }
}

/// poll(fd, POLLIN, timeout): readable?
fn poll_in(fd: RawFd, timeout_ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one live pollfd.
    let n = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    n == 1 && p.revents & libc::POLLIN != 0
}

/// Dispatches on this thread until `cond` holds or `limit` passes.
fn dispatch_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let fd = connman::event_fd().unwrap();
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        if poll_in(fd, 10) {
            connman::dispatch().unwrap();
        }
    }
    cond()
}

fn listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

/// Reads from `s` until `n` bytes arrived or `limit` passed.
fn read_n(s: &mut impl Read, n: usize, limit: Duration) -> Vec<u8> {
    let end = Instant::now() + limit;
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while out.len() < n && Instant::now() < end {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => out.extend_from_slice(&buf[..k]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                continue
            }
            Err(_) => break,
        }
    }
    out
}

fn tmp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("connman-hostile-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `body` in a child process (this test binary, re-executed for test `name`
/// only) and fails if it fails or does not finish within `limit`: for scenarios
/// that deadlock or change process-wide limits.
fn in_child(name: &str, limit: Duration, body: impl FnOnce()) {
    if std::env::var("CONNMAN_HOSTILE_CHILD").as_deref() == Ok(name) {
        body();
        return;
    }
    let _g = serial();
    // The child's output goes to a file, shown only if it fails (tests are quiet
    // when they pass; some of these make the library report panics on purpose).
    let log_path = std::env::temp_dir().join(format!(
        "connman-hostile-child-{}-{name}.log",
        std::process::id()
    ));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("CONNMAN_HOSTILE_CHILD", name)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let end = Instant::now() + limit;
    let output = || std::fs::read_to_string(&log_path).unwrap_or_default();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            assert!(st.success(), "{name}: the child failed: {st}\n{}", output());
            let _ = std::fs::remove_file(&log_path);
            return;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{name}: the child did not finish within {limit:?} (hang/deadlock)\n{}",
                output()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

type DataFn = Box<dyn Fn(Conn, &[u8]) + Send + Sync>;
/// What calls made from inside a log hook returned.
type Refusals = Arc<Mutex<Vec<(Result<(), Error>, Result<(), Error>, Result<(), Error>)>>>;
/// What shutdown and connect returned from inside a log hook.
type HookCalls = Arc<Mutex<Vec<(Result<(), Error>, Option<Error>)>>>;

/// A handler made of closures (each optional).
#[derive(Default)]
struct Fns {
    connect: Option<Box<dyn Fn(Conn, RawFd) + Send + Sync>>,
    reset: Option<Box<dyn Fn(Conn) + Send + Sync>>,
    reconnect: Option<Box<dyn Fn(Conn, RawFd) + Send + Sync>>,
    data: Option<DataFn>,
    close: Option<Box<dyn Fn(Conn) + Send + Sync>>,
}

impl Handler for Fns {
    fn on_connect(&self, c: Conn, fd: RawFd) {
        if let Some(f) = &self.connect {
            f(c, fd)
        }
    }
    fn on_reset(&self, c: Conn) {
        if let Some(f) = &self.reset {
            f(c)
        }
    }
    fn on_reconnect(&self, c: Conn, fd: RawFd) {
        if let Some(f) = &self.reconnect {
            f(c, fd)
        }
    }
    fn on_data(&self, c: Conn, d: &[u8]) {
        if let Some(f) = &self.data {
            f(c, d)
        }
    }
    fn on_close(&self, c: Conn) {
        if let Some(f) = &self.close {
            f(c)
        }
    }
}

/// Closes `s` with an RST (SO_LINGER 0).
fn rst(s: TcpStream) {
    let lg = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a live socket and a live linger struct.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&lg as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    drop(s);
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

// ---------------------------------------------------------------------------
// send_while_reconnecting

/// Fixed defect. One thread sends A while the connection is reconnecting (held), then,
/// once the connection is back, sends B. The peer must read A before B: the
/// application's own stream must not be reordered. Today B is written directly
/// (state CONNECTED, queue empty) while A still sits in the hold, which is only
/// released after on_reconnect returns: the peer reads "BA".
#[test]
fn fixed_held_bytes_are_overtaken_by_a_later_send_from_another_thread() {
    let _lib = Lib::new(1);
    let (l, port) = listener();
    let (to_sender, sender_rx) = mpsc::channel::<&'static str>();
    let (sender_done_tx, sender_done) = mpsc::channel::<()>();
    let sender_done = Arc::new(Mutex::new(sender_done));
    let (sd1, sd2) = (sender_done.clone(), sender_done.clone());
    let (t1, t2) = (Mutex::new(to_sender.clone()), Mutex::new(to_sender));
    let h = Fns {
        // While reconnecting: let the other thread send A, wait until it did.
        reset: Some(Box::new(move |_| {
            if t1.lock().unwrap().send("A").is_ok() {
                let _ = sd1.lock().unwrap().recv_timeout(Duration::from_secs(5));
            }
        })),
        // Back: let the other thread send B, wait until it did.
        reconnect: Some(Box::new(move |_, _| {
            if t2.lock().unwrap().send("B").is_ok() {
                let _ = sd2.lock().unwrap().recv_timeout(Duration::from_secs(5));
            }
        })),
        ..Fns::default()
    };
    let opts = Options {
        send_while_reconnecting: 64,
        ..fast()
    };
    let c = connman::connect(port, "127.0.0.1", Arc::new(h), &opts).unwrap();
    let sender = std::thread::spawn(move || {
        for what in sender_rx.iter().take(2) {
            let r = c.send(what.as_bytes());
            assert_eq!(r, Ok(()), "send {what}");
            sender_done_tx.send(()).unwrap();
        }
    });
    let (first, _) = l.accept().unwrap();
    drop(first); // a healthy drop: reconnects at once
    let (mut second, _) = l.accept().unwrap();
    second
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let got = read_n(&mut second, 2, Duration::from_secs(5));
    sender.join().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        "AB",
        "one thread's bytes must reach the peer in the order it sent them"
    );
}

/// The bound at its edges: exactly full fits, one more byte does not (nothing of
/// that call held), 0 means off, the maximum is accepted and one more refused;
/// held bytes count in send_queue_bytes and, at disconnect, in bytes_discarded
/// (read in on_close, where the handle still answers).
#[test]
fn hold_bound_edges_and_discard_accounting() {
    let _lib = Lib::new(1);
    let bad = Options {
        send_while_reconnecting: connman::MAX_SEND_QUEUE + 1,
        ..fast()
    };
    let rec = Recorder::new();
    assert_eq!(
        connman::connect(1, "127.0.0.1", rec.clone(), &bad).err(),
        Some(Error::InvalidArgument)
    );
    assert!(connman::last_error_message().contains("send_while_reconnecting"));
    let max = Options {
        send_while_reconnecting: connman::MAX_SEND_QUEUE,
        ..fast()
    };
    let (l, port) = listener();
    let c = connman::connect(port, "127.0.0.1", rec.clone(), &max).unwrap();
    c.disconnect().unwrap();
    assert!(rec.wait(|e| e.contains(&Ev::Close)));

    for (bound, expect_hold) in [(0usize, false), (10, true)] {
        let discarded = Arc::new(AtomicU64::new(u64::MAX));
        let d = discarded.clone();
        let h = Fns {
            close: Some(Box::new(move |c: Conn| {
                d.store(c.stats().unwrap().bytes_discarded, SeqCst);
            })),
            ..Fns::default()
        };
        let opts = Options {
            send_while_reconnecting: bound,
            backoff_initial: Duration::from_secs(60),
            backoff_max: Duration::from_secs(60),
            healthy_after: Duration::from_secs(60),
            ..Options::default()
        };
        let c = connman::connect(port, "127.0.0.1", Arc::new(h), &opts).unwrap();
        let (s, _) = l.accept().unwrap();
        assert!(wait_until(|| c.stats().unwrap().state == State::Connected));
        drop(s); // flap: retried after a 60 s backoff, so it stays RECONNECTING
        assert!(wait_until(
            || c.stats().unwrap().state == State::Reconnecting
        ));
        if !expect_hold {
            assert_eq!(c.send(b"x"), Err(Error::NotConnected));
        } else {
            assert_eq!(c.send(b"0123456789"), Ok(()), "exactly full fits");
            assert_eq!(c.send(b"x"), Err(Error::WouldBlock), "one more does not");
            assert_eq!(c.send(b""), Ok(()), "0 bytes always fit");
            assert_eq!(c.stats().unwrap().send_queue_bytes, 10);
        }
        c.disconnect().unwrap();
        assert!(wait_until(|| discarded.load(SeqCst) != u64::MAX));
        assert_eq!(discarded.load(SeqCst), if expect_hold { 10 } else { 0 });
    }
}

/// Held bytes at shutdown count as discarded too.
#[test]
fn held_bytes_at_shutdown_are_counted_as_discarded() {
    let _lib = Lib::new(1);
    let (l, port) = listener();
    let discarded = Arc::new(AtomicU64::new(u64::MAX));
    let d = discarded.clone();
    let h = Fns {
        close: Some(Box::new(move |c: Conn| {
            d.store(c.stats().unwrap().bytes_discarded, SeqCst);
        })),
        ..Fns::default()
    };
    let opts = Options {
        send_while_reconnecting: 100,
        backoff_initial: Duration::from_secs(60),
        backoff_max: Duration::from_secs(60),
        healthy_after: Duration::from_secs(60),
        ..Options::default()
    };
    let c = connman::connect(port, "127.0.0.1", Arc::new(h), &opts).unwrap();
    let (s, _) = l.accept().unwrap();
    assert!(wait_until(|| c.stats().unwrap().state == State::Connected));
    drop(s);
    assert!(wait_until(
        || c.stats().unwrap().state == State::Reconnecting
    ));
    c.send(&[7u8; 33]).unwrap();
    connman::shutdown().unwrap();
    assert_eq!(discarded.load(SeqCst), 33);
}

/// A drop during on_reconnect: the handshake written in on_reconnect and the
/// held bytes are lost with that connection (in flight), the next on_reconnect's
/// handshake goes first on the next connection, and nothing is delivered twice
/// or out of order.
#[test]
fn drop_during_on_reconnect_keeps_handshake_first_on_the_next_connection() {
    let _lib = Lib::new(1);
    let (l, port) = listener();
    let reconnects = Arc::new(AtomicUsize::new(0));
    let r = reconnects.clone();
    let sent_in_reset = Arc::new(AtomicBool::new(false));
    let sr = sent_in_reset.clone();
    let h = Fns {
        reset: Some(Box::new(move |c: Conn| {
            if !sr.swap(true, SeqCst) {
                c.send(b"HELD").unwrap();
            }
        })),
        reconnect: Some(Box::new(move |c: Conn, _| {
            let n = r.fetch_add(1, SeqCst) + 1;
            c.send(format!("HS{n}|").as_bytes()).unwrap();
        })),
        ..Fns::default()
    };
    let opts = Options {
        send_while_reconnecting: 64,
        ..fast()
    };
    let _c = connman::connect(port, "127.0.0.1", Arc::new(h), &opts).unwrap();
    let (first, _) = l.accept().unwrap();
    drop(first);
    // Second connection: reset at once (RST), whatever it got is lost.
    let (second, _) = l.accept().unwrap();
    rst(second);
    let (mut third, _) = l.accept().unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let got =
        String::from_utf8_lossy(&read_n(&mut third, 64, Duration::from_millis(800))).into_owned();
    // The third connection starts with its own handshake; HELD, if it was still
    // held (the second connection died before it was released), comes after it.
    assert!(got.starts_with("HS"), "handshake first, got {got:?}");
    assert!(got.matches("HELD").count() <= 1, "never twice: {got:?}");
    if let Some(p) = got.find("HELD") {
        assert!(p > got.find('|').unwrap(), "after the handshake: {got:?}");
    }
}

// ---------------------------------------------------------------------------
// Embedded mode

/// event_fd before configure (default config) is refused without starting the
/// library, so configure still works; after configure it starts the runtime and
/// then configure is refused; the same descriptor until shutdown, which closes it.
#[test]
fn event_fd_before_and_after_configure_and_after_shutdown() {
    let _g = serial();
    connman::shutdown().unwrap();
    connman::configure(Config::default()).unwrap();
    assert_eq!(connman::event_fd(), Err(Error::State));
    assert_eq!(connman::dispatch(), Err(Error::State));
    connman::configure(Config { threads: 0 }).expect("event_fd must not have started it");
    assert_eq!(
        connman::dispatch(),
        Ok(()),
        "nothing to do before the start"
    );
    let fd = connman::event_fd().unwrap();
    assert!(fd >= 0);
    assert_eq!(connman::event_fd(), Ok(fd));
    assert_eq!(connman::configure(Config { threads: 2 }), Err(Error::State));
    assert!(!poll_in(fd, 0), "idle: not readable");
    connman::shutdown().unwrap();
    // SAFETY: F_GETFD on a number we do not own only asks whether it is open.
    let r = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    assert_eq!(
        (r, errno()),
        (-1, libc::EBADF),
        "shutdown closes the event fd"
    );
    // Still embedded: dispatch with nothing running is harmless; a new event fd
    // starts afresh.
    assert_eq!(connman::dispatch(), Ok(()));
    let fd2 = connman::event_fd().unwrap();
    assert!(fd2 >= 0);
    connman::shutdown().unwrap();
    connman::configure(Config::default()).unwrap();
}

/// dispatch and shutdown from inside a callback are refused; a second thread's
/// dispatch while one runs returns at once and runs nothing.
#[test]
fn dispatch_from_two_threads_and_from_inside_callbacks() {
    let _lib = Lib::new(0);
    let (l, port) = listener();
    let inner = Arc::new(Mutex::new(Vec::new()));
    let in_cb = Arc::new(AtomicBool::new(false));
    let overlap = Arc::new(AtomicBool::new(false));
    let (i2, ic2, ov2) = (inner.clone(), in_cb.clone(), overlap.clone());
    let (ic3, ov3) = (in_cb.clone(), overlap.clone());
    let h = Fns {
        connect: Some(Box::new(move |_, _| {
            if ic2.swap(true, SeqCst) {
                ov2.store(true, SeqCst);
            }
            i2.lock().unwrap().push((
                connman::dispatch(),
                connman::shutdown(),
                connman::configure(Config::default()),
            ));
            std::thread::sleep(Duration::from_millis(400));
            ic2.store(false, SeqCst);
        })),
        data: Some(Box::new(move |_, _| {
            if ic3.swap(true, SeqCst) {
                ov3.store(true, SeqCst);
            }
            ic3.store(false, SeqCst);
        })),
        ..Fns::default()
    };
    let c = connman::connect(port, "127.0.0.1", Arc::new(h), &fast()).unwrap();
    let a = std::thread::spawn(move || {
        dispatch_until(Duration::from_secs(5), || {
            c.stats().is_ok_and(|s| s.bytes_received == 5)
        })
    });
    let (mut s, _) = l.accept().unwrap();
    s.write_all(b"hello").unwrap();
    // While A sleeps in on_connect, B's dispatch returns at once.
    assert!(wait_until(|| in_cb.load(SeqCst)));
    let t = Instant::now();
    for _ in 0..20 {
        assert_eq!(connman::dispatch(), Ok(()));
    }
    assert!(
        t.elapsed() < Duration::from_millis(200),
        "a second dispatcher must not block"
    );
    assert!(a.join().unwrap());
    assert!(
        !overlap.load(SeqCst),
        "callbacks of one connection overlapped"
    );
    let v = inner.lock().unwrap().clone();
    assert_eq!(
        v,
        vec![(
            Err(Error::InCallback),
            Err(Error::InCallback),
            Err(Error::InCallback)
        )]
    );
}

/// connman_shutdown from a thread while another thread is inside dispatch (in a
/// slow callback): shutdown waits for that dispatch, then runs the remaining
/// on_close on its own thread; a connect from that on_close is refused.
#[test]
fn shutdown_while_another_thread_dispatches() {
    let _lib = Lib::new(0);
    let (l, port) = listener();
    let in_data = Arc::new(AtomicBool::new(false));
    let data_done = Arc::new(AtomicBool::new(false));
    let close_thread = Arc::new(Mutex::new(None));
    let from_close = Arc::new(Mutex::new(None));
    let (a, b) = (in_data.clone(), data_done.clone());
    let (ct, fc) = (close_thread.clone(), from_close.clone());
    let h = Fns {
        data: Some(Box::new(move |_, _| {
            a.store(true, SeqCst);
            std::thread::sleep(Duration::from_millis(300));
            b.store(true, SeqCst);
        })),
        close: Some(Box::new(move |_| {
            *ct.lock().unwrap() = Some(std::thread::current().id());
            *fc.lock().unwrap() =
                Some(connman::connect(port, "127.0.0.1", Arc::new(Fns::default()), &fast()).err());
        })),
        ..Fns::default()
    };
    let _c = connman::connect(port, "127.0.0.1", Arc::new(h), &fast()).unwrap();
    let app = AppLoop::start();
    let (mut s, _) = l.accept().unwrap();
    s.write_all(b"x").unwrap();
    assert!(wait_until(|| in_data.load(SeqCst)));
    connman::shutdown().unwrap();
    assert!(
        data_done.load(SeqCst),
        "shutdown returned while on_data still ran"
    );
    assert_eq!(
        *close_thread.lock().unwrap(),
        Some(std::thread::current().id())
    );
    assert_eq!(*from_close.lock().unwrap(), Some(Some(Error::Closed)));
    assert_ne!(app.id, std::thread::current().id());
    drop(app);
}

/// Many threads connect, send and disconnect while one thread dispatches; then
/// shutdown. Every connection gets on_connect (or not) and exactly one on_close.
#[test]
fn many_threads_calling_while_one_dispatches() {
    let _lib = Lib::new(0);
    let l = UnixListener::bind(tmp_dir("many").join("s")).unwrap();
    let path = l
        .local_addr()
        .unwrap()
        .as_pathname()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let acc = std::thread::spawn(move || {
        let mut keep = Vec::new();
        l.set_nonblocking(true).unwrap();
        let end = Instant::now() + Duration::from_secs(8);
        while Instant::now() < end && keep.len() < 400 {
            match l.accept() {
                Ok((s, _)) => keep.push(s),
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
        keep
    });
    let app = AppLoop::start();
    let recs: Arc<Mutex<Vec<Arc<Recorder>>>> = Arc::default();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (recs, path) = (recs.clone(), path.clone());
            std::thread::spawn(move || {
                for i in 0..50 {
                    let r = Recorder::new();
                    let c = connman::connect_unix(&path, r.clone(), &fast()).unwrap();
                    let _ = c.send(b"x");
                    if i % 2 == 0 {
                        c.disconnect().unwrap();
                        let again = c.disconnect();
                        assert!(
                            again == Err(Error::Closed) || again == Err(Error::NotFound),
                            "{again:?}"
                        );
                    }
                    recs.lock().unwrap().push(r);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let recs = recs.lock().unwrap().clone();
    connman::disconnect_all().unwrap();
    assert!(wait_until(|| recs
        .iter()
        .all(|r| r.count(|e| *e == Ev::Close) == 1)));
    drop(app);
    connman::shutdown().unwrap();
    for r in &recs {
        assert!(
            r.contract_violation(true).is_none(),
            "{:?}",
            r.contract_violation(true)
        );
    }
    drop(acc.join().unwrap());
}

/// A program that stops dispatching: other threads keep connecting and
/// disconnecting; nothing runs; shutdown then finishes every on_close itself.
#[test]
fn an_application_that_stops_dispatching_is_still_shut_down_cleanly() {
    let _lib = Lib::new(0);
    let (l, port) = listener();
    let _efd = connman::event_fd().unwrap();
    let recs: Vec<Arc<Recorder>> = (0..300).map(|_| Recorder::new()).collect();
    for (i, r) in recs.iter().enumerate() {
        let c = connman::connect(port, "127.0.0.1", r.clone(), &fast()).unwrap();
        if i % 3 == 0 {
            c.disconnect().unwrap();
        }
    }
    // Nothing was dispatched: no callback ran.
    assert!(recs.iter().all(|r| r.events().is_empty()));
    connman::shutdown().unwrap();
    assert!(recs.iter().all(|r| r.events() == vec![Ev::Close]));
    drop(l);
}

/// Idle in embedded mode: the event fd stays unreadable (counted with poll over
/// a second) while connections are up; against a refused port it is readable
/// about once per backoff delay, not in a loop.
#[test]
fn embedded_idle_and_backoff_wakeups_are_bounded() {
    let _lib = Lib::new(0);
    let (l, port) = listener();
    let rec = Recorder::new();
    let app = AppLoop::start();
    let mut peers = Vec::new();
    for _ in 0..5 {
        let _c = connman::connect(port, "127.0.0.1", rec.clone(), &Options::default()).unwrap();
        peers.push(l.accept().unwrap().0);
    }
    assert!(rec.wait(|e| e.iter().filter(|e| common::is_connect(e)).count() == 5));
    std::thread::sleep(Duration::from_millis(200));
    let w0 = app.wakeups.load(SeqCst);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(app.wakeups.load(SeqCst) - w0, 0, "idle wake-ups");
    // A refused port, backoff 100 ms (jittered 50..100 ms): ~15..30 wake-ups in 1.5 s.
    let dead = common::dead_port();
    let opts = Options {
        backoff_initial: Duration::from_millis(100),
        backoff_max: Duration::from_millis(100),
        ..Options::default()
    };
    let c = connman::connect(dead, "127.0.0.1", Recorder::new(), &opts).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let (w1, a1) = (app.wakeups.load(SeqCst), c.stats().unwrap().attempts);
    std::thread::sleep(Duration::from_millis(1500));
    let (w, a) = (
        app.wakeups.load(SeqCst) - w1,
        c.stats().unwrap().attempts - a1,
    );
    assert!((10..=60).contains(&w), "{w} wake-ups for {a} attempts");
    assert!((10..=35).contains(&a), "{a} attempts");
    assert_eq!(c.stats().unwrap().last_error, libc::ECONNREFUSED);
}

/// configure racing connects from other threads: configure either wins (and
/// the runtime that starts is the configured one) or gets STATE; never a mix.
#[test]
fn configure_races_connects_from_other_threads() {
    let _g = serial();
    for round in 0..20 {
        connman::shutdown().unwrap();
        connman::configure(Config { threads: 2 }).unwrap();
        let go = Arc::new(std::sync::Barrier::new(3));
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let go = go.clone();
                std::thread::spawn(move || {
                    go.wait();
                    connman::connect(1, "127.0.0.1", Recorder::new(), &fast()).unwrap()
                })
            })
            .collect();
        go.wait();
        if round % 2 == 0 {
            std::thread::yield_now();
        }
        let r = connman::configure(Config { threads: 0 });
        for t in ts {
            t.join().unwrap();
        }
        match r {
            // configure won: the connects started the configured (embedded) runtime.
            Ok(()) => assert!(connman::event_fd().is_ok(), "round {round}"),
            Err(Error::State) => assert_eq!(connman::event_fd(), Err(Error::State)),
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    connman::shutdown().unwrap();
    connman::configure(Config::default()).unwrap();
}

// ---------------------------------------------------------------------------
// Errors and the log hook

/// Each thread sees the message of its own last failed call, under concurrency;
/// successful calls in between leave it unchanged.
#[test]
fn error_messages_are_per_thread_under_concurrency() {
    let _lib = Lib::new(2);
    let (_l, port) = listener();
    let live = connman::connect(port, "127.0.0.1", Recorder::new(), &fast()).unwrap();
    let ts: Vec<_> = (0..6)
        .map(|i| {
            std::thread::spawn(move || {
                for k in 0..300 {
                    let len = connman::MAX_UNIX_PATH + 1 + i;
                    let path = "a".repeat(len);
                    let r = connman::connect_unix(&path, Recorder::new(), &Options::default());
                    assert_eq!(r.err(), Some(Error::InvalidArgument));
                    // Successful calls: the message stays.
                    assert_eq!(connman::get_connection(port, "127.0.0.1"), Ok(live));
                    let _ = live.stats().unwrap();
                    let _ = connman::Config::default().validate();
                    let m = connman::last_error_message();
                    assert!(
                        m.contains(&format!("got {len}")),
                        "thread {i} iter {k}: {m:?}"
                    );
                }
            })
        })
        .collect();
    for t in ts {
        t.join().unwrap();
    }
    // disconnect_all over pools and connections already disconnected (internal
    // CLOSED results) is a success and leaves the message alone.
    let p =
        connman::create_pool("msg", Box::new(|_| Ok(Recorder::new() as Arc<dyn Handler>))).unwrap();
    p.add(port, "127.0.0.1", &fast()).unwrap();
    p.disconnect().unwrap();
    live.disconnect().unwrap();
    let _ = connman::connect(0, "127.0.0.1", Recorder::new(), &fast());
    let m = connman::last_error_message();
    assert!(!m.is_empty());
    connman::disconnect_all().unwrap();
    assert_eq!(connman::last_error_message(), m);
}

/// Fixed defect. A log hook that panics (a Rust hook; a C hook cannot unwind) on the
/// INFO "connected" message: the panic unwinds out of the state machine between
/// publishing CONNECTED and running on_connect, so on_connect never runs although
/// the connection is up (guarantee 1). Root cause: log::write calls the hook with
/// no catch_unwind; the loop's `guarded` catches it only after the turn was
/// abandoned half-way.
#[test]
fn fixed_a_panicking_log_hook_loses_on_connect() {
    in_child(
        "fixed_a_panicking_log_hook_loses_on_connect",
        Duration::from_secs(20),
        || {
            connman::configure(Config { threads: 1 }).unwrap();
            connman::set_log(
                Some(Arc::new(|_lvl, _c, msg: &str| {
                    if msg.starts_with("connected") {
                        panic!("hook panics");
                    }
                })),
                Some(Level::Info),
            );
            let (l, port) = listener();
            let rec = Recorder::new();
            let c = connman::connect(port, "127.0.0.1", rec.clone(), &fast()).unwrap();
            let _s = l.accept().unwrap();
            assert!(wait_until(|| c.stats().unwrap().state == State::Connected));
            assert!(
                rec.wait_for(Duration::from_secs(3), |e| e.iter().any(common::is_connect)),
                "connected, but on_connect never ran: {:?}",
                rec.events()
            );
        },
    );
}

/// Fixed defect. A log hook that panics on every message kills the library's I/O
/// thread (the panic escapes `guarded`, whose own error report calls the hook
/// again): nothing is managed any more, disconnect never gets its on_close and
/// shutdown returns with the connection still registered.
#[test]
fn fixed_a_log_hook_that_always_panics_kills_the_io_thread() {
    in_child(
        "fixed_a_log_hook_that_always_panics_kills_the_io_thread",
        Duration::from_secs(20),
        || {
            connman::configure(Config { threads: 1 }).unwrap();
            connman::set_log(
                Some(Arc::new(|_lvl, _c, _msg: &str| panic!("hook panics"))),
                Some(Level::Info),
            );
            let (l, port) = listener();
            let rec = Recorder::new();
            let c = connman::connect(port, "127.0.0.1", rec.clone(), &fast()).unwrap();
            let _s = l.accept().unwrap();
            std::thread::sleep(Duration::from_millis(300));
            c.disconnect().unwrap();
            assert!(
                rec.wait_for(Duration::from_secs(3), |e| e.contains(&Ev::Close)),
                "on_close never ran: {:?}",
                rec.events()
            );
        },
    );
}

/// The hook may call connman: replace itself, disconnect the connection it is
/// told about, try shutdown/configure/dispatch (refused on the loop thread).
/// Level 0 formats nothing.
#[test]
fn log_hook_calling_connman() {
    in_child("log_hook_calling_connman", Duration::from_secs(20), || {
        connman::configure(Config { threads: 1 }).unwrap();
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let refused: Refusals = Arc::default();
        fn install(seen: Arc<Mutex<Vec<String>>>, refused: Refusals) {
            let (s2, r2) = (seen.clone(), refused.clone());
            connman::set_log(
                Some(Arc::new(move |_lvl, c: Option<Conn>, msg: &str| {
                    s2.lock().unwrap().push(msg.to_owned());
                    // Re-install (a fresh hook) from inside the hook.
                    install(s2.clone(), r2.clone());
                    if msg.starts_with("connected") {
                        r2.lock().unwrap().push((
                            connman::shutdown(),
                            connman::configure(Config::default()),
                            connman::dispatch(),
                        ));
                        c.unwrap().disconnect().unwrap();
                    }
                })),
                Some(Level::Debug),
            );
        }
        install(seen.clone(), refused.clone());
        let (l, port) = listener();
        let rec = Recorder::new();
        let _c = connman::connect(port, "127.0.0.1", rec.clone(), &fast()).unwrap();
        let _s = l.accept().unwrap();
        assert!(rec.wait(|e| e.contains(&Ev::Close)), "{:?}", rec.events());
        let r = refused.lock().unwrap().clone();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].0, Err(Error::InCallback));
        assert_eq!(r[0].1, Err(Error::InCallback));
        assert!(
            r[0].2.is_err(),
            "dispatch in a hook on the loop thread: {:?}",
            r[0].2
        );
        // Level 0: nothing formatted while a refused port is retried.
        connman::set_log(Some(Arc::new(|_, _, _: &str| panic!("never called"))), None);
        let before = connman::__log_formatted_count();
        let c =
            connman::connect(common::dead_port(), "127.0.0.1", Recorder::new(), &fast()).unwrap();
        assert!(wait_until(|| c.stats().unwrap().attempts > 5));
        assert_eq!(connman::__log_formatted_count(), before);
        connman::shutdown().unwrap();
    });
}

/// Embedded mode: a hook that runs on the shutdown's own thread (the error about
/// a descriptor the application closed is logged while shutdown closes the
/// connection there) calls shutdown and connect: refused, no deadlock.
#[test]
fn log_hook_during_embedded_shutdown_calls_connman() {
    in_child(
        "log_hook_during_embedded_shutdown_calls_connman",
        Duration::from_secs(20),
        || {
            connman::configure(Config { threads: 0 }).unwrap();
            let got: HookCalls = Arc::default();
            let g = got.clone();
            let (l, port) = listener();
            connman::set_log(
                Some(Arc::new(move |lvl, _c, _msg: &str| {
                    if lvl == Level::Error {
                        g.lock().unwrap().push((
                            connman::shutdown(),
                            connman::connect(port, "127.0.0.1", Recorder::new(), &fast()).err(),
                        ));
                    }
                })),
                Some(Level::Error),
            );
            let up = Arc::new(AtomicBool::new(false));
            let u = up.clone();
            let h = Fns {
                connect: Some(Box::new(move |_, _fd| u.store(true, SeqCst))),
                ..Fns::default()
            };
            let c = connman::connect(port, "127.0.0.1", Arc::new(h), &fast()).unwrap();
            let _s = {
                let t = std::thread::spawn(move || l.accept().unwrap());
                assert!(dispatch_until(Duration::from_secs(5), || up.load(SeqCst)));
                t.join().unwrap()
            };
            // SAFETY: misuse on purpose: the application closes connman's fd; the
            // shutdown's close notices (and logs the ERROR the hook reacts to).
            unsafe { libc::close(c.fd().unwrap()) };
            connman::shutdown().unwrap();
            let v = got.lock().unwrap().clone();
            assert!(!v.is_empty(), "the EBADF error was logged during shutdown");
            assert_eq!(v[0], (Err(Error::InCallback), Some(Error::Closed)));
        },
    );
}

/// Fixed defect. connman_configure called from inside a pool factory deadlocks: the
/// factory runs while connman_pool_add holds the life-cycle gate shared
/// (runtime::admit), and configure takes it exclusively on the same thread.
/// connman_shutdown checks `in_any_factory()` and refuses; configure checks only
/// `in_loop()`.
#[test]
fn fixed_configure_from_a_pool_factory_deadlocks() {
    in_child(
        "fixed_configure_from_a_pool_factory_deadlocks",
        Duration::from_secs(10),
        || {
            let inner: Arc<Mutex<Option<Result<(), Error>>>> = Arc::default();
            let i2 = inner.clone();
            let pool = connman::create_pool(
                "p",
                Box::new(move |_i| {
                    *i2.lock().unwrap() = Some(connman::configure(Config::default()));
                    Ok(Recorder::new() as Arc<dyn Handler>)
                }),
            )
            .unwrap();
            let (_l, port) = listener();
            pool.add(port, "127.0.0.1", &fast()).unwrap();
            let r = inner.lock().unwrap().unwrap();
            assert!(r.is_err(), "configure inside a factory: {r:?}");
            connman::shutdown().unwrap();
        },
    );
}

// ---------------------------------------------------------------------------
// threads = N

/// A Unix echo server: one thread per accepted connection, echoes everything;
/// `drop_every` > 0 closes every accepted connection after that many bytes.
fn unix_echo(path: &std::path::Path, drop_every: usize) -> Arc<AtomicBool> {
    let l = UnixListener::bind(path).unwrap();
    l.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let st = stop.clone();
    std::thread::spawn(move || {
        while !st.load(SeqCst) {
            match l.accept() {
                Ok((mut s, _)) => {
                    s.set_nonblocking(false).unwrap();
                    s.set_read_timeout(Some(Duration::from_millis(200)))
                        .unwrap();
                    let st = st.clone();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        let mut total = 0;
                        while !st.load(SeqCst) {
                            match s.read(&mut buf) {
                                Ok(0) => return,
                                Ok(n) => {
                                    if s.write_all(&buf[..n]).is_err() {
                                        return;
                                    }
                                    total += n;
                                    if drop_every > 0 && total >= drop_every {
                                        return;
                                    }
                                }
                                Err(e)
                                    if e.kind() == std::io::ErrorKind::WouldBlock
                                        || e.kind() == std::io::ErrorKind::Interrupted => {}
                                Err(_) => return,
                            }
                        }
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    });
    stop
}

/// threads = 4 under load: every connection's callbacks on one thread and never
/// concurrent, while connections ping-pong and the server keeps dropping them;
/// then disconnect_all under load (every on_close once), then more connections
/// and shutdown under load.
#[test]
fn n_threads_serial_callbacks_disconnect_all_and_shutdown_under_load() {
    let _lib = Lib::new(4);
    let dir = tmp_dir("nthreads");
    let path = dir.join("echo");
    let stop = unix_echo(&path, 20_000);
    let path = path.to_str().unwrap().to_owned();
    type Threads = Arc<Mutex<std::collections::HashSet<ThreadId>>>;
    let open = |n: usize| -> Vec<(Conn, Arc<Recorder>, Threads)> {
        (0..n)
            .map(|_| {
                let threads: Threads = Arc::default();
                let t2 = threads.clone();
                let rec = Recorder::with_hook(move |c: Conn, ev: &Ev| {
                    t2.lock().unwrap().insert(std::thread::current().id());
                    match ev {
                        Ev::Connect(_) | Ev::Reconnect(_) => {
                            let _ = c.send(&[1u8; 512]);
                        }
                        Ev::Data(d) => {
                            let _ = c.send(d);
                        }
                        _ => {}
                    }
                });
                let c = connman::connect_unix(&path, rec.clone(), &fast()).unwrap();
                (c, rec, threads)
            })
            .collect()
    };
    let first = open(48);
    assert!(wait_until(|| first
        .iter()
        .all(|(_, r, _)| r.count(common::is_reconnect) >= 2)));
    connman::disconnect_all().unwrap();
    for (_, r, t) in &first {
        assert!(r.wait(|e| e.contains(&Ev::Close)));
        assert!(
            r.contract_violation(true).is_none(),
            "{:?}",
            r.contract_violation(true)
        );
        assert_eq!(
            t.lock().unwrap().len(),
            1,
            "callbacks of one connection on one thread"
        );
    }
    let second = open(48);
    assert!(wait_until(|| second
        .iter()
        .all(|(_, r, _)| r.count(common::is_reconnect) >= 1)));
    connman::shutdown().unwrap();
    let all: std::collections::HashSet<ThreadId> = first
        .iter()
        .chain(&second)
        .flat_map(|(_, _, t)| t.lock().unwrap().clone())
        .collect();
    assert_eq!(all.len(), 4, "spread over the 4 threads");
    for (_, r, t) in &second {
        assert!(
            r.contract_violation(true).is_none(),
            "{:?}",
            r.contract_violation(true)
        );
        assert_eq!(t.lock().unwrap().len(), 1);
    }
    stop.store(true, SeqCst);
}

/// 1,000 connections over threads = 8: each thread drives 125 of them (least
/// loaded first); threads = 64 is accepted and 65 refused.
#[test]
fn a_thousand_connections_are_spread_evenly() {
    let _lib = Lib::new(8);
    let dir = tmp_dir("spread");
    let path = dir.join("s");
    let l = UnixListener::bind(&path).unwrap();
    l.set_nonblocking(true).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let d2 = done.clone();
    let acc = std::thread::spawn(move || {
        let mut keep = Vec::new();
        while !d2.load(SeqCst) {
            match l.accept() {
                Ok((s, _)) => keep.push(s),
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        keep.len()
    });
    let on: Arc<Mutex<std::collections::HashMap<ThreadId, usize>>> = Arc::default();
    let path = path.to_str().unwrap().to_owned();
    for _ in 0..1000 {
        let on = on.clone();
        let h = Fns {
            connect: Some(Box::new(move |_, _| {
                *on.lock()
                    .unwrap()
                    .entry(std::thread::current().id())
                    .or_default() += 1;
            })),
            ..Fns::default()
        };
        connman::connect_unix(&path, Arc::new(h), &Options::default()).unwrap();
    }
    assert!(wait_until(
        || on.lock().unwrap().values().sum::<usize>() == 1000
    ));
    let per: Vec<usize> = on.lock().unwrap().values().copied().collect();
    assert_eq!(per.len(), 8, "{per:?}");
    assert!(per.iter().all(|&n| n == 125), "{per:?}");
    connman::shutdown().unwrap();
    done.store(true, SeqCst);
    assert_eq!(acc.join().unwrap(), 1000);
    assert_eq!(
        connman::configure(Config { threads: 65 }),
        Err(Error::InvalidArgument)
    );
    connman::configure(Config { threads: 64 }).unwrap();
    let c = connman::connect(common::dead_port(), "127.0.0.1", Recorder::new(), &fast()).unwrap();
    assert!(wait_until(|| c.stats().unwrap().attempts > 0));
    // (a new thread names itself when it starts running)
    assert!(wait_until(|| common::threads_named("connman-reactor")
        .len()
        == 64));
    connman::shutdown().unwrap();
    assert!(wait_until(
        || common::threads_named("connman-reactor").is_empty()
    ));
}

/// pool_next under churn across 3 loops: members drop and come back on
/// different threads while 4 threads call next() and send: next() only ever
/// returns a member of the pool, NOT_CONNECTED when none is up, CLOSED after
/// the pool's disconnect.
#[test]
fn pool_next_under_churn_across_loops() {
    let _lib = Lib::new(3);
    let dir = tmp_dir("churn");
    let path = dir.join("echo");
    let stop = unix_echo(&path, 3_000);
    let pool = connman::create_pool(
        "churn",
        Box::new(|_| Ok(Recorder::new() as Arc<dyn Handler>)),
    )
    .unwrap();
    let mut members = Vec::new();
    for _ in 0..12 {
        let i = pool.add_unix(path.to_str().unwrap(), &fast()).unwrap();
        members.push(pool.conn(i).unwrap());
    }
    let members = Arc::new(members);
    let ts: Vec<_> = (0..4)
        .map(|_| {
            let members = members.clone();
            std::thread::spawn(move || {
                let (mut ok, mut down) = (0, 0);
                let end = Instant::now() + Duration::from_millis(1500);
                while Instant::now() < end {
                    match pool.next() {
                        Ok(c) => {
                            assert!(members.contains(&c));
                            ok += 1;
                            match c.send(&[0u8; 100]) {
                                Ok(()) | Err(Error::NotConnected) | Err(Error::WouldBlock) => {}
                                Err(e) => panic!("send: {e:?}"),
                            }
                        }
                        Err(Error::NotConnected) => down += 1,
                        Err(e) => panic!("next: {e:?}"),
                    }
                }
                (ok, down)
            })
        })
        .collect();
    let mut total = 0;
    for t in ts {
        total += t.join().unwrap().0;
    }
    assert!(total > 100);
    let resets: u64 = members.iter().map(|c| c.stats().unwrap().resets).sum();
    assert!(resets > 12, "churned: {resets} resets");
    pool.disconnect().unwrap();
    assert_eq!(pool.next().err().unwrap_or(Error::NotFound), {
        // CLOSED while members close, NOT_FOUND once the pool is released.
        match pool.next() {
            Err(Error::NotFound) => Error::NotFound,
            _ => Error::Closed,
        }
    });
    stop.store(true, SeqCst);
}

// ---------------------------------------------------------------------------
// Unix sockets

/// The server's socket file removed (ENOENT), replaced by a regular file and by
/// a directory (ECONNREFUSED), then a listener again: retried throughout, the
/// log names the path and the reason, reconnected on the same descriptor.
#[test]
fn unix_socket_file_removed_replaced_by_file_and_directory_then_back() {
    let _lib = Lib::new(1);
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let l2 = lines.clone();
    connman::set_log(
        Some(Arc::new(move |_, _, m: &str| {
            l2.lock().unwrap().push(m.to_owned())
        })),
        Some(Level::Warn),
    );
    let dir = tmp_dir("replaced");
    let path = dir.join("s");
    let l = UnixListener::bind(&path).unwrap();
    let rec = Recorder::new();
    let c = connman::connect_unix(path.to_str().unwrap(), rec.clone(), &fast()).unwrap();
    let (s, _) = l.accept().unwrap();
    assert!(rec.wait(|e| e.iter().any(common::is_connect)));
    let fd = connman::Conn::from_id(c.id()).fd().unwrap();
    drop(l);
    std::fs::remove_file(&path).unwrap();
    drop(s);
    let wait_err = |want: i32| {
        let a0 = c.stats().unwrap().attempts;
        wait_until(|| {
            let st = c.stats().unwrap();
            st.last_error == want && st.attempts > a0 + 2
        })
    };
    assert!(wait_err(libc::ENOENT), "{:?}", c.stats());
    std::fs::write(&path, b"not a socket").unwrap();
    assert!(
        wait_err(libc::ECONNREFUSED),
        "regular file: {:?}",
        c.stats()
    );
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    assert!(wait_err(libc::ECONNREFUSED), "directory: {:?}", c.stats());
    std::fs::remove_dir(&path).unwrap();
    let l = UnixListener::bind(&path).unwrap();
    let _s = l.accept().unwrap();
    assert!(rec.wait(|e| e.iter().any(common::is_reconnect)));
    assert_eq!(rec.events()[2], Ev::Reconnect(fd));
    let lines = lines.lock().unwrap();
    let p = path.to_str().unwrap();
    assert!(
        lines
            .iter()
            .any(|m| m.contains(p) && m.contains("No such file")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|m| m.contains(p) && m.contains("refused")),
        "{lines:?}"
    );
}

/// A socket file the process may not connect to (EACCES): retried, with EACCES
/// in last_error and the log, and connected once permission is back. Runs as
/// an unprivileged effective uid in a child process (root bypasses the check).
#[test]
fn unix_permission_denied_is_retried_with_eacces() {
    in_child(
        "unix_permission_denied_is_retried_with_eacces",
        Duration::from_secs(20),
        || {
            let lines: Arc<Mutex<Vec<String>>> = Arc::default();
            let l2 = lines.clone();
            connman::set_log(
                Some(Arc::new(move |_, _, m: &str| {
                    l2.lock().unwrap().push(m.to_owned())
                })),
                Some(Level::Warn),
            );
            let dir = tmp_dir("eacces");
            std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
            let path = dir.join("s");
            let l = UnixListener::bind(&path).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .unwrap();
            // SAFETY: plain system calls; glibc applies them to every thread.
            if unsafe { libc::geteuid() } == 0 {
                assert_eq!(unsafe { libc::setresuid(65534, 65534, 0) }, 0);
            }
            let rec = Recorder::new();
            let c = connman::connect_unix(path.to_str().unwrap(), rec.clone(), &fast()).unwrap();
            assert!(
                wait_until(|| {
                    let s = c.stats().unwrap();
                    s.last_error == libc::EACCES && s.attempts > 3
                }),
                "{:?}",
                c.stats()
            );
            assert!(lines
                .lock()
                .unwrap()
                .iter()
                .any(|m| m.contains("Permission denied")));
            // Permission back: connects at the next retry.
            assert_eq!(unsafe { libc::setresuid(0, 0, 0) }, 0);
            let _s = l.accept().unwrap();
            assert!(rec.wait(|e| e.iter().any(common::is_connect)));
            connman::shutdown().unwrap();
        },
    );
}

/// A raw Unix listener with backlog 0 that never accepts.
fn unix_listener_backlog0(path: &std::path::Path) -> RawFd {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: plain system calls on a socket this function owns; sun_path is
    // filled within its bounds.
    unsafe {
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        let mut sun: libc::sockaddr_un = std::mem::zeroed();
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (d, s) in sun.sun_path.iter_mut().zip(path.as_os_str().as_bytes()) {
            *d = *s as libc::c_char;
        }
        assert_eq!(
            libc::bind(
                fd,
                (&sun as *const libc::sockaddr_un).cast(),
                std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t
            ),
            0
        );
        assert_eq!(libc::listen(fd, 0), 0);
        fd
    }
}

/// Fills a Unix listener's backlog with nonblocking connects until one fails with
/// EAGAIN; returns the connected ones.
fn fill_backlog(path: &std::path::Path) -> Vec<UnixStream> {
    let mut keep = Vec::new();
    for _ in 0..64 {
        // SAFETY: plain system calls.
        let fd = unsafe {
            libc::socket(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        use std::os::fd::FromRawFd;
        // SAFETY: fd is a fresh socket owned from here on.
        let s = unsafe { UnixStream::from_raw_fd(fd) };
        use std::os::unix::ffi::OsStrExt;
        let mut sun: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (d, b) in sun.sun_path.iter_mut().zip(path.as_os_str().as_bytes()) {
            *d = *b as libc::c_char;
        }
        // SAFETY: a live sockaddr_un.
        let r = unsafe {
            libc::connect(
                fd,
                (&sun as *const libc::sockaddr_un).cast(),
                std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
            )
        };
        if r != 0 {
            assert_eq!(errno(), libc::EAGAIN);
            return keep;
        }
        keep.push(s);
    }
    panic!("the backlog never filled");
}

/// A listener whose backlog is full: each attempt fails at once with EAGAIN
/// (a failed attempt with backoff, not a hang, not a wait for the connect
/// timeout); once the server accepts, the connection is made.
#[test]
fn unix_full_backlog_is_a_failed_attempt_not_a_hang() {
    let _lib = Lib::new(1);
    let dir = tmp_dir("backlog");
    let path = dir.join("s");
    let lfd = unix_listener_backlog0(&path);
    let queued = fill_backlog(&path);
    let rec = Recorder::new();
    let opts = Options {
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(40),
        connect_timeout: Duration::from_secs(30),
        ..Options::default()
    };
    let c = connman::connect_unix(path.to_str().unwrap(), rec.clone(), &opts).unwrap();
    assert!(
        wait_for(Duration::from_secs(3), &mut || {
            let s = c.stats().unwrap();
            s.last_error == libc::EAGAIN && s.attempts >= 5
        }),
        "{:?}",
        c.stats()
    );
    let a = c.stats().unwrap().attempts;
    assert!(a < 100, "no hot loop: {a} attempts");
    // Accept what is queued: room again.
    for _ in 0..queued.len() {
        // SAFETY: accept on our listener.
        let s = unsafe {
            libc::accept4(
                lfd,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            )
        };
        assert!(s >= 0);
    }
    assert!(
        rec.wait(|e| e.iter().any(common::is_connect)),
        "{:?}",
        c.stats()
    );
}

/// Paths at the length limits: 107 bytes works, 108 is refused with a message;
/// an abstract name of 107 bytes works; "@" alone is an (empty) abstract name.
#[test]
fn unix_paths_at_the_limits() {
    let _lib = Lib::new(1);
    let dir = tmp_dir("long");
    let base = dir.to_str().unwrap().len() + 1;
    let name = "x".repeat(connman::MAX_UNIX_PATH - base);
    let path = dir.join(&name);
    assert_eq!(path.to_str().unwrap().len(), connman::MAX_UNIX_PATH);
    let l = UnixListener::bind(&path).unwrap();
    let rec = Recorder::new();
    connman::connect_unix(path.to_str().unwrap(), rec.clone(), &fast()).unwrap();
    let _s = l.accept().unwrap();
    assert!(rec.wait(|e| e.iter().any(common::is_connect)));
    let too_long = format!("{}y", path.to_str().unwrap());
    assert_eq!(
        connman::connect_unix(&too_long, Recorder::new(), &fast()).err(),
        Some(Error::InvalidArgument)
    );
    assert!(
        connman::last_error_message().contains("108"),
        "{}",
        connman::last_error_message()
    );
    use std::os::linux::net::SocketAddrExt;
    let abs = format!("hostile-{}-{}", std::process::id(), "z".repeat(80));
    let abs = format!("{abs}{}", "z".repeat(connman::MAX_UNIX_PATH - abs.len()));
    let a = std::os::unix::net::SocketAddr::from_abstract_name(abs.as_bytes()).unwrap();
    let la = UnixListener::bind_addr(&a).unwrap();
    let rec = Recorder::new();
    connman::connect_unix(&format!("@{abs}"), rec.clone(), &fast()).unwrap();
    let _s = la.accept().unwrap();
    assert!(rec.wait(|e| e.iter().any(common::is_connect)));
    assert_eq!(
        connman::connect_unix(&format!("@{abs}z"), Recorder::new(), &fast()).err(),
        Some(Error::InvalidArgument)
    );
}

// ---------------------------------------------------------------------------
// The application misusing the descriptor

/// Fixed defect. The application closes the descriptor in on_connect (misuse the
/// header describes). Closing the last reference also removes the epoll
/// registration, so no event would ever tell: the connection used to stay
/// CONNECTED forever, and once the next connection took the number, connman_send
/// on the dead handle wrote into the other connection's socket. Now the
/// descriptor is checked when on_connect/on_reconnect returns (the connection is
/// given up: on_close, EBADF), and a new connection that takes a number still
/// registered to a live connection gives that one up at once.
#[test]
fn a_descriptor_closed_in_on_connect_gives_the_connection_up_and_leaks_nothing() {
    let _lib = Lib::new(1);
    let (l, port) = listener();
    let closed_fd = Arc::new(std::sync::atomic::AtomicI32::new(-1));
    let cl = closed_fd.clone();
    let z = Fns {
        connect: Some(Box::new(move |_, fd| {
            // SAFETY: misuse on purpose.
            unsafe { libc::close(fd) };
            cl.store(fd, SeqCst);
        })),
        ..Fns::default()
    };
    let zombie = connman::connect(port, "127.0.0.1", Arc::new(z), &fast()).unwrap();
    let (zs, _) = l.accept().unwrap();
    assert!(wait_until(|| closed_fd.load(SeqCst) >= 0));
    let n = closed_fd.load(SeqCst);
    assert!(
        wait_until(|| zombie.stats().is_err()),
        "given up after on_connect: {:?}",
        zombie.stats()
    );
    drop(zs);
    // Another connection: its descriptor takes the lowest free number.
    let rec = Recorder::new();
    let b = connman::connect(port, "127.0.0.1", rec.clone(), &fast()).unwrap();
    let (mut bs, _) = l.accept().unwrap();
    assert!(rec.wait(|e| e.iter().any(common::is_connect)));
    if b.fd().unwrap() != n {
        eprintln!(
            "NOTE: the number was not reused ({} != {n}); cross-talk not shown",
            b.fd().unwrap()
        );
    }
    let sent = zombie.send(b"SECRET-OF-THE-FIRST");
    assert!(
        sent.is_err(),
        "a send on the given-up handle fails: {sent:?}"
    );
    bs.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let leaked = read_n(&mut bs, 19, Duration::from_millis(500));
    assert!(
        leaked.is_empty(),
        "connman_send on the first connection delivered {:?} to the second's peer",
        String::from_utf8_lossy(&leaked)
    );
}

/// Fixed defect (misuse, but reachable: connman_fd gives the number before
/// on_connect). The application clears O_NONBLOCK on the descriptor before the
/// first connect: connman connects that very socket (the placeholder) with a
/// blocking connect(), so a listener with a full backlog blocks
/// connman_dispatch (or the library thread, stalling every connection on it)
/// until the server accepts. Root cause: begin_attempt
/// (src/runtime/machine.rs:280-305) assumes the placeholder is still nonblocking.
/// Fix: set O_NONBLOCK again (fcntl) before connecting the placeholder.
#[test]
fn fixed_a_blocking_placeholder_blocks_dispatch() {
    let _lib = Lib::new(0);
    let dir = tmp_dir("blocking");
    let path = dir.join("s");
    let lfd = unix_listener_backlog0(&path);
    let _queued = fill_backlog(&path);
    let _efd = connman::event_fd().unwrap();
    let c = connman::connect_unix(path.to_str().unwrap(), Recorder::new(), &fast()).unwrap();
    let fd = c.fd().unwrap();
    // SAFETY: fcntl on the connection's descriptor.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl & !libc::O_NONBLOCK);
    }
    // Unblocks the connect after 1.5 s (accepts what is queued).
    let rescue = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        // SAFETY: our listener, made nonblocking so that accept never hangs.
        unsafe {
            libc::fcntl(lfd, libc::F_SETFL, libc::O_NONBLOCK);
            while libc::accept4(lfd, std::ptr::null_mut(), std::ptr::null_mut(), 0) >= 0 {}
        }
    });
    let t = Instant::now();
    connman::dispatch().unwrap();
    let took = t.elapsed();
    rescue.join().unwrap();
    assert!(
        took < Duration::from_millis(500),
        "connman_dispatch blocked for {took:?}"
    );
}

/// Clearing O_NONBLOCK after on_connect is harmless: connman reads and writes
/// with MSG_DONTWAIT, so a read of exactly one full buffer followed by nothing
/// does not block the loop.
#[test]
fn a_blocking_descriptor_after_on_connect_does_not_block_the_loop() {
    let _lib = Lib::new(0);
    let (l, port) = listener();
    let got = Arc::new(AtomicUsize::new(0));
    let g = got.clone();
    let h = Fns {
        connect: Some(Box::new(|_, fd| {
            // SAFETY: fcntl on the connection's descriptor.
            unsafe {
                let fl = libc::fcntl(fd, libc::F_GETFL);
                libc::fcntl(fd, libc::F_SETFL, fl & !libc::O_NONBLOCK);
            }
        })),
        data: Some(Box::new(move |_, d| {
            g.fetch_add(d.len(), SeqCst);
        })),
        ..Fns::default()
    };
    let c = connman::connect(port, "127.0.0.1", Arc::new(h), &fast()).unwrap();
    let acc = std::thread::spawn(move || l.accept().unwrap().0);
    assert!(dispatch_until(Duration::from_secs(5), || c
        .stats()
        .unwrap()
        .state
        == State::Connected));
    let mut s = acc.join().unwrap();
    s.write_all(&vec![9u8; 128 * 1024]).unwrap();
    let fd = connman::event_fd().unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    while got.load(SeqCst) < 128 * 1024 && Instant::now() < end {
        if poll_in(fd, 10) {
            let t = Instant::now();
            connman::dispatch().unwrap();
            assert!(t.elapsed() < Duration::from_millis(300), "dispatch blocked");
        }
    }
    assert_eq!(got.load(SeqCst), 128 * 1024);
    assert_eq!(c.send(b"still fine"), Ok(()));
}

// ---------------------------------------------------------------------------
// The older hostile cases on the new core

/// Embedded mode: data the peer sent before its RST reaches on_data before
/// on_reset, even when the application dispatches only after both arrived.
#[test]
fn embedded_data_before_an_rst_reaches_on_data_first() {
    let _lib = Lib::new(0);
    let (l, port) = listener();
    let rec = Recorder::new();
    let c = connman::connect(
        port,
        "127.0.0.1",
        rec.clone(),
        &Options {
            healthy_after: Duration::from_secs(60),
            backoff_initial: Duration::from_secs(60),
            backoff_max: Duration::from_secs(60),
            ..Options::default()
        },
    )
    .unwrap();
    let acc = std::thread::spawn(move || l.accept().unwrap().0);
    assert!(dispatch_until(Duration::from_secs(5), || c
        .stats()
        .unwrap()
        .state
        == State::Connected));
    let mut s = acc.join().unwrap();
    let payload: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    s.write_all(&payload).unwrap();
    std::thread::sleep(Duration::from_millis(100)); // in the client's kernel buffer
    rst(s);
    std::thread::sleep(Duration::from_millis(100));
    assert!(dispatch_until(Duration::from_secs(5), || rec
        .count(|e| *e == Ev::Reset)
        == 1));
    let ev = rec.events();
    let reset_at = ev.iter().position(|e| *e == Ev::Reset).unwrap();
    let before: Vec<u8> = ev[..reset_at]
        .iter()
        .filter_map(|e| {
            if let Ev::Data(d) = e {
                Some(d.clone())
            } else {
                None
            }
        })
        .flatten()
        .collect();
    assert_eq!(before.len(), payload.len());
    assert!(before == payload);
    assert_eq!(c.stats().unwrap().last_error, libc::ECONNRESET);
}

/// Embedded mode: 300 connections to a host that never answers do not delay a
/// live one.
#[test]
fn embedded_dead_host_next_to_a_live_one() {
    let _lib = Lib::new(0);
    let hole = common::Blackhole::new();
    let (l, port) = listener();
    let app = AppLoop::start();
    for _ in 0..300 {
        connman::connect(hole.port, "127.0.0.1", Recorder::new(), &Options::default()).unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    let rec = Recorder::new();
    let t = Instant::now();
    connman::connect(port, "127.0.0.1", rec.clone(), &Options::default()).unwrap();
    let _s = l.accept().unwrap();
    assert!(rec.wait(|e| e.iter().any(common::is_connect)));
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    drop(app);
}

/// fork() in embedded mode: every call in the child fails at once with FORKED
/// (dispatch and event_fd included); the parent's event fd stays idle and its
/// connection keeps working.
#[test]
fn fork_in_embedded_mode() {
    let _lib = Lib::new(0);
    let (l, port) = listener();
    let rec = Recorder::new();
    let c = connman::connect(port, "127.0.0.1", rec.clone(), &Options::default()).unwrap();
    let acc = std::thread::spawn(move || l.accept().unwrap().0);
    assert!(dispatch_until(Duration::from_secs(5), || c
        .stats()
        .unwrap()
        .state
        == State::Connected));
    let mut s = acc.join().unwrap();
    let efd = connman::event_fd().unwrap();
    // SAFETY: the child only makes connman calls, then _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: async-signal-safe calls only on the failure paths.
        unsafe { libc::alarm(5) };
        let ok = connman::dispatch() == Err(Error::Forked)
            && connman::event_fd() == Err(Error::Forked)
            && c.send(b"child") == Err(Error::Forked)
            && connman::connect(port, "127.0.0.1", Recorder::new(), &Options::default()).err()
                == Some(Error::Forked)
            && connman::shutdown() == Err(Error::Forked);
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut st = 0;
    // SAFETY: our child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut st, 0) }, pid);
    assert!(
        libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0,
        "child status {st}"
    );
    assert!(!poll_in(efd, 300), "the parent's event fd stays idle");
    c.send(b"parent").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    assert_eq!(read_n(&mut s, 6, Duration::from_secs(2)), b"parent");
    s.write_all(b"back").unwrap();
    assert!(dispatch_until(Duration::from_secs(2), || rec.received() == b"back"));
}

extern "C" fn on_alarm(_: libc::c_int) {}

/// A 1 kHz SIGALRM storm (no SA_RESTART) while connections echo, with one
/// library thread and in embedded mode: no error, nothing lost, nothing
/// reordered.
#[test]
fn eintr_storm_while_running() {
    in_child("eintr_storm_while_running", Duration::from_secs(40), || {
        let errors: Arc<Mutex<Vec<String>>> = Arc::default();
        let e2 = errors.clone();
        connman::set_log(
            Some(Arc::new(move |_, _, m: &str| {
                e2.lock().unwrap().push(m.to_owned())
            })),
            Some(Level::Error),
        );
        // SAFETY: installing a handler that does nothing, then a 1 ms timer.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_alarm as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = 0;
            libc::sigaction(libc::SIGALRM, &sa, std::ptr::null_mut());
            let it = libc::itimerval {
                it_interval: libc::timeval {
                    tv_sec: 0,
                    tv_usec: 1000,
                },
                it_value: libc::timeval {
                    tv_sec: 0,
                    tv_usec: 1000,
                },
            };
            libc::setitimer(libc::ITIMER_REAL, &it, std::ptr::null_mut());
        }
        let dir = tmp_dir("eintr");
        let path = dir.join("echo");
        let _stop = unix_echo(&path, 0);
        for threads in [1u32, 0] {
            connman::shutdown().unwrap();
            connman::configure(Config { threads }).unwrap();
            let app = (threads == 0).then(AppLoop::start);
            let recs: Vec<(Conn, Arc<Recorder>)> = (0..8)
                .map(|_| {
                    let r = Recorder::new();
                    (
                        connman::connect_unix(path.to_str().unwrap(), r.clone(), &fast()).unwrap(),
                        r,
                    )
                })
                .collect();
            assert!(wait_until(|| recs
                .iter()
                .all(|(_, r)| r.count(common::is_connect) == 1)));
            let msg: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
            for chunk in msg.chunks(10_000) {
                for (c, _) in &recs {
                    while c.send(chunk) == Err(Error::WouldBlock) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }
            assert!(wait_until(|| recs
                .iter()
                .all(|(_, r)| r.received().len() >= msg.len())));
            for (_, r) in &recs {
                assert!(r.received() == msg, "lost or reordered bytes");
                assert!(r.count(|e| *e == Ev::Reset) == 0);
            }
            drop(app);
            connman::shutdown().unwrap();
        }
        assert!(
            errors.lock().unwrap().is_empty(),
            "{:?}",
            errors.lock().unwrap()
        );
    });
}

/// Out of descriptors (RLIMIT_NOFILE): connect fails with CONNMAN_ERR_OS and a
/// message; a reconnect under EMFILE keeps retrying with backoff (no spin) and
/// succeeds once descriptors are free; event_fd says why it cannot start.
#[test]
fn descriptor_exhaustion() {
    in_child("descriptor_exhaustion", Duration::from_secs(40), || {
        connman::configure(Config { threads: 1 }).unwrap();
        let (l, port) = listener();
        l.set_nonblocking(true).unwrap();
        let (drop_tx, drop_rx) = mpsc::channel::<()>();
        let accepted = Arc::new(AtomicUsize::new(0));
        let acc2 = accepted.clone();
        std::thread::spawn(move || {
            let mut keep: Vec<TcpStream> = Vec::new();
            loop {
                if drop_rx.try_recv().is_ok() {
                    // A FIN, but the descriptors stay in use.
                    for s in &keep {
                        let _ = s.shutdown(std::net::Shutdown::Both);
                    }
                }
                match l.accept() {
                    Ok((s, _)) => {
                        keep.push(s);
                        acc2.fetch_add(1, SeqCst);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        let rec = Recorder::new();
        let opts = Options {
            backoff_initial: Duration::from_millis(20),
            backoff_max: Duration::from_millis(100),
            recovery_backoff_max: Some(Duration::from_millis(100)),
            ..Options::default()
        };
        let c = connman::connect(port, "127.0.0.1", rec.clone(), &opts).unwrap();
        assert!(rec.wait(|e| e.iter().any(common::is_connect)));
        assert!(wait_until(|| accepted.load(SeqCst) == 1));
        // Use up every descriptor.
        // SAFETY: plain system calls.
        unsafe {
            let lim = libc::rlimit {
                rlim_cur: 256,
                rlim_max: 20000,
            };
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        }
        let mut hog = Vec::new();
        loop {
            // SAFETY: dup of stdin.
            let fd = unsafe { libc::dup(0) };
            if fd < 0 {
                assert_eq!(errno(), libc::EMFILE);
                break;
            }
            hog.push(fd);
        }
        let r = connman::connect(port, "127.0.0.1", Recorder::new(), &opts);
        assert_eq!(r.err(), Some(Error::Os(libc::EMFILE)));
        let m = connman::last_error_message();
        assert!(m.contains("Too many open files"), "{m}");
        // The peer drops: reconnects fail with EMFILE, retried with backoff.
        drop_tx.send(()).unwrap();
        assert!(rec.wait(|e| e.contains(&Ev::Reset)));
        std::thread::sleep(Duration::from_millis(200));
        let a0 = c.stats().unwrap().attempts;
        std::thread::sleep(Duration::from_millis(1000));
        let st = c.stats().unwrap();
        assert_eq!(st.last_error, libc::EMFILE, "{st:?}");
        let n = st.attempts - a0;
        assert!((3..=40).contains(&n), "{n} attempts in 1 s under EMFILE");
        for fd in hog.drain(..) {
            // SAFETY: our dups.
            unsafe { libc::close(fd) };
        }
        assert!(
            rec.wait(|e| e.iter().any(common::is_reconnect)),
            "{:?}",
            c.stats()
        );
        connman::shutdown().unwrap();
        // event_fd with no descriptor free.
        connman::configure(Config { threads: 0 }).unwrap();
        loop {
            // SAFETY: dup of stdin.
            let fd = unsafe { libc::dup(0) };
            if fd < 0 {
                break;
            }
            hog.push(fd);
        }
        assert_eq!(connman::event_fd(), Err(Error::Os(libc::EMFILE)));
        let m = connman::last_error_message();
        assert!(
            m.contains("Too many open files") || m.contains("EMFILE"),
            "event_fd: {m:?}"
        );
    });
}

/// A TCP listener with a large backlog and a thread accepting everything.
fn big_listener() -> (u16, Arc<AtomicBool>) {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket calls on a socket owned from here on.
    let l = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        let mut a: libc::sockaddr_in = std::mem::zeroed();
        a.sin_family = libc::AF_INET as libc::sa_family_t;
        a.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        assert_eq!(
            libc::bind(
                fd,
                (&a as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as u32
            ),
            0
        );
        assert_eq!(libc::listen(fd, 2048), 0);
        TcpListener::from_raw_fd(fd)
    };
    let port = l.local_addr().unwrap().port();
    l.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let st = stop.clone();
    std::thread::spawn(move || {
        let mut keep = Vec::new();
        while !st.load(SeqCst) {
            match l.accept() {
                Ok((s, _)) => keep.push(s),
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    });
    (port, stop)
}

/// Fixed defect. Embedded mode, more than 256 connects to one destination (the
/// per-destination cap of connects in flight, src/slots.rs): the rest wait in
/// the destination's queue. When an attempt finishes inside a dispatch its slot
/// is freed (`slots.release` pushes to `freed`), but the waiting connections are
/// only admitted at the start of the *next* turn (`Reactor::turn` calls
/// `admit_waiting` first) and nothing makes the event fd readable for that: no
/// event, no timer. With the library's own thread the next turn comes at once
/// (`run` loops), in embedded mode it never comes, so the queued connections are
/// stuck until some unrelated event. Fix: call `admit_waiting` at the end of
/// `turn` too (or make `dispatch` loop while `freed` is non-empty / signal the
/// eventfd when a slot is freed with waiters).
#[test]
fn fixed_embedded_connections_queued_for_a_connect_slot_are_never_admitted() {
    let _lib = Lib::new(0);
    let (port, stop) = big_listener();
    // All 300 starts are taken in the first dispatch (256 in flight, 44 queued).
    let _efd = connman::event_fd().unwrap();
    let connected = Arc::new(AtomicUsize::new(0));
    for _ in 0..300 {
        let c2 = connected.clone();
        let h = Fns {
            connect: Some(Box::new(move |_, _| {
                c2.fetch_add(1, SeqCst);
            })),
            ..Fns::default()
        };
        connman::connect(port, "127.0.0.1", Arc::new(h), &Options::default()).unwrap();
    }
    let app = AppLoop::start();
    let all = wait_for(Duration::from_secs(5), &mut || {
        connected.load(SeqCst) == 300
    });
    let n = connected.load(SeqCst);
    drop(app);
    stop.store(true, SeqCst);
    assert!(all, "only {n} of 300 connected within 5 s");
}

/// The same with the library's own thread: all 300 connect (control case).
#[test]
fn threaded_connections_queued_for_a_connect_slot_are_admitted() {
    let _lib = Lib::new(1);
    let (port, stop) = big_listener();
    let connected = Arc::new(AtomicUsize::new(0));
    for _ in 0..300 {
        let c2 = connected.clone();
        let h = Fns {
            connect: Some(Box::new(move |_, _| {
                c2.fetch_add(1, SeqCst);
            })),
            ..Fns::default()
        };
        connman::connect(port, "127.0.0.1", Arc::new(h), &Options::default()).unwrap();
    }
    assert!(wait_for(Duration::from_secs(5), &mut || connected
        .load(SeqCst)
        == 300));
    stop.store(true, SeqCst);
}

/// connman_configure while the library runs fails with STATE and changes
/// nothing. It takes the life-cycle gate exclusively first, so it waits for
/// creations in progress (here a pool add whose factory takes 1.5 s); while it
/// waits, connects from callbacks still succeed (parking_lot's recursive shared
/// lock is granted while readers hold it, even with a writer waiting).
#[test]
fn a_refused_configure_does_not_disturb_connects_from_callbacks() {
    in_child(
        "a_refused_configure_does_not_disturb_connects_from_callbacks",
        Duration::from_secs(20),
        || {
            connman::configure(Config { threads: 1 }).unwrap();
            let (l, port) = listener();
            let results: Arc<Mutex<Vec<Option<Error>>>> = Arc::default();
            let r2 = results.clone();
            let h = Fns {
                data: Some(Box::new(move |_, _| {
                    let r = connman::connect(port, "127.0.0.1", Recorder::new(), &fast());
                    r2.lock().unwrap().push(r.err());
                })),
                ..Fns::default()
            };
            let c = connman::connect(port, "127.0.0.1", Arc::new(h), &fast()).unwrap();
            let (mut s, _) = l.accept().unwrap();
            assert!(wait_until(|| c.stats().unwrap().state == State::Connected));
            // A pool add whose factory takes a second (holds the gate shared).
            let slow = std::thread::spawn(move || {
                let p = connman::create_pool(
                    "slow",
                    Box::new(|_| {
                        std::thread::sleep(Duration::from_millis(1500));
                        Ok(Recorder::new() as Arc<dyn Handler>)
                    }),
                )
                .unwrap();
                p.add(port, "127.0.0.1", &fast()).unwrap();
            });
            std::thread::sleep(Duration::from_millis(200));
            // A configure that can only fail (the library runs).
            let conf = std::thread::spawn(|| {
                let t = Instant::now();
                (connman::configure(Config { threads: 2 }), t.elapsed())
            });
            std::thread::sleep(Duration::from_millis(200));
            // Meanwhile a callback connects.
            s.write_all(b"go").unwrap();
            assert!(wait_until(|| !results.lock().unwrap().is_empty()));
            let (r, took) = conf.join().unwrap();
            slow.join().unwrap();
            assert_eq!(r, Err(Error::State));
            let got = results.lock().unwrap()[0];
            assert_eq!(
                got, None,
                "a connect from a callback failed ({got:?}: {}) while a refused configure waited {took:?}",
                connman::last_error_message()
            );
        },
    );
}

/// threads = 2: a slow log hook on one loop (every failed attempt of a refused
/// port sleeps 300 ms in the hook) does not delay the other loop's connection.
#[test]
fn a_slow_log_hook_delays_only_its_own_loop() {
    let _lib = Lib::new(2);
    let loop_of_dead: Arc<Mutex<Option<ThreadId>>> = Arc::default();
    let lod = loop_of_dead.clone();
    connman::set_log(
        Some(Arc::new(move |lvl, _c, _m: &str| {
            if lvl == Level::Warn {
                *lod.lock().unwrap() = Some(std::thread::current().id());
                std::thread::sleep(Duration::from_millis(300));
            }
        })),
        Some(Level::Warn),
    );
    let _dead =
        connman::connect(common::dead_port(), "127.0.0.1", Recorder::new(), &fast()).unwrap();
    assert!(wait_until(|| loop_of_dead.lock().unwrap().is_some()));
    let (l, port) = listener();
    let rec = Recorder::new();
    let c = connman::connect(port, "127.0.0.1", rec.clone(), &fast()).unwrap();
    let (mut s, _) = l.accept().unwrap();
    assert!(rec.wait(|e| e.iter().any(common::is_connect)));
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    for i in 0..10u8 {
        let t = Instant::now();
        s.write_all(&[i]).unwrap();
        assert!(rec.wait(|_| true) && wait_until(|| rec.received().len() > i as usize));
        assert!(
            t.elapsed() < Duration::from_millis(150),
            "{:?}",
            t.elapsed()
        );
    }
    let _ = c;
}

/// Fixed defect (the same root cause, with the library's own thread). `Reactor::run`
/// computes the epoll timeout (`next_timeout`) *before* `turn` admits the
/// connections waiting for a connect slot (`admit_waiting`, first thing in
/// `turn`), so the connect-timeout timers those admissions arm are not in the
/// timeout of that epoll_wait: with no other timer the loop sleeps with -1 and
/// `connect_timeout_ms` is not honoured for them (only the kernel's SYN retries,
/// ~2 minutes, end the attempt). Setup: 300 connects to one listener whose
/// accept queue takes exactly 256 (backlog 255) and which never accepts; 256 complete at once and
/// free their slots; the rest are admitted in the next turn and hang in
/// SYN_SENT. With connect_timeout_ms = 300 every one of them must have timed out
/// (and been retried) within 3 s.
#[test]
fn fixed_connect_timeout_of_connections_admitted_from_the_slot_queue_is_not_armed() {
    let _lib = Lib::new(1);
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket calls on a socket owned from here on.
    let l = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        let mut a: libc::sockaddr_in = std::mem::zeroed();
        a.sin_family = libc::AF_INET as libc::sa_family_t;
        a.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        assert_eq!(
            libc::bind(
                fd,
                (&a as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as u32
            ),
            0
        );
        assert_eq!(libc::listen(fd, 255), 0); // the accept queue holds 256
        TcpListener::from_raw_fd(fd)
    };
    let port = l.local_addr().unwrap().port();
    let opts = Options {
        connect_timeout: Duration::from_millis(300),
        backoff_initial: Duration::from_secs(60),
        backoff_max: Duration::from_secs(60),
        ..Options::default()
    };
    // Hold the loop in a callback while the 300 connects are made, so that it
    // takes all their starts in one turn.
    let (bl, bport) = listener();
    let in_cb = Arc::new(AtomicBool::new(false));
    let ic = in_cb.clone();
    let blocker = Fns {
        data: Some(Box::new(move |_, _| {
            ic.store(true, SeqCst);
            std::thread::sleep(Duration::from_millis(800));
        })),
        ..Fns::default()
    };
    let b = connman::connect(bport, "127.0.0.1", Arc::new(blocker), &Options::default()).unwrap();
    let (mut bs, _) = bl.accept().unwrap();
    assert!(wait_until(|| b.stats().unwrap().state == State::Connected));
    bs.write_all(b"block").unwrap();
    assert!(wait_until(|| in_cb.load(SeqCst)));
    let t = Instant::now();
    let conns: Vec<Conn> = (0..300)
        .map(|_| connman::connect(port, "127.0.0.1", Recorder::new(), &opts).unwrap())
        .collect();
    assert!(
        t.elapsed() < Duration::from_millis(700),
        "connects too slow for the setup"
    );
    std::thread::sleep(Duration::from_secs(3));
    let mut hist = std::collections::BTreeMap::new();
    for c in &conns {
        let s = c.stats().unwrap();
        *hist
            .entry((s.state as i32, s.attempts, s.last_error))
            .or_insert(0) += 1;
    }
    eprintln!("(state, attempts, last_error) -> count: {hist:?}");
    let stuck: Vec<_> = conns
        .iter()
        .map(|c| c.stats().unwrap())
        .filter(|s| s.state != State::Connected && s.last_error != libc::ETIMEDOUT)
        .collect();
    drop(l);
    assert!(
        stuck.is_empty(),
        "{} connections neither connected nor timed out after 3 s (connect_timeout 300 ms), e.g. {:?}",
        stuck.len(),
        stuck.first()
    );
}
