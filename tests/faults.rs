//! Faults of a real peer (the flaky echo server, on loopback) and what the library
//! does about each: FIN, RST, a listener that goes away and comes back, the server
//! process restarted on the same port, accept-and-close, a silent or frozen peer
//! (idle_timeout), a slow reader; plus SIGPIPE and CLOEXEC under those faults.
//! Half-open peers (no FIN, no RST ever) need packet loss: see tests/netns.rs.
//!
//! Figures (detection and recovery times) are printed; see them with
//! `cargo test --test faults -- --nocapture`. They are recorded in docs/RELIABILITY.md.

mod common;

use common::*;
use connman::{Conn, Error, Handler, Options, State};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Reconnects at once after any drop of a connection up for more than 1 ms (the
/// smallest flapping guard), small backoff.
fn fast() -> Options {
    Options {
        healthy_after: Duration::from_millis(1),
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(100),
        ..Options::default()
    }
}

fn ups(e: &[Ev]) -> usize {
    e.iter()
        .filter(|x| is_connect(x) || is_reconnect(x))
        .count()
}

fn resets(e: &[Ev]) -> usize {
    e.iter().filter(|x| **x == Ev::Reset).count()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// (min, median, max) in milliseconds.
fn summary(v: &mut [Duration]) -> (f64, f64, f64) {
    v.sort();
    (ms(v[0]), ms(v[v.len() / 2]), ms(v[v.len() - 1]))
}

/// What a hook saw when it probed the descriptor from inside on_reset.
type Probes = Arc<Mutex<Vec<(isize, i32, Result<(), Error>)>>>;

/// A recorder whose on_reset writes to the stable descriptor directly and through
/// connman_send: between on_reset and on_reconnect both must fail.
fn probing_recorder(probes: Probes) -> Arc<Recorder> {
    Recorder::with_hook(move |c: Conn, ev: &Ev| {
        if *ev == Ev::Reset {
            let fd = c.fd().unwrap();
            // SAFETY: a one-byte send from a static buffer on a descriptor number.
            let r = unsafe { libc::send(fd, b"x".as_ptr().cast(), 1, libc::MSG_NOSIGNAL) };
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            probes.lock().unwrap().push((r, errno, c.send(b"y")));
        }
    })
}

#[test]
fn fin_is_detected_and_reconnected_at_once_on_the_same_fd() {
    let _s = serial();
    let mut srv = Server::echo();
    let probes: Probes = Arc::default();
    let rec = probing_recorder(probes.clone());
    let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &fast()).unwrap();
    assert!(rec.wait(|e| ups(e) == 1));
    let fd = c.fd().unwrap();
    let mut lat = Vec::new();
    for round in 1..=30 {
        std::thread::sleep(Duration::from_millis(5)); // up longer than healthy_after
        let t = Instant::now();
        srv.cmd("drop");
        assert!(
            rec.wait(|e| ups(e) == round + 1),
            "round {round}: {:?}",
            c.stats()
        );
        lat.push(t.elapsed());
        assert_eq!(c.fd().unwrap(), fd);
    }
    let (lo, med, hi) = summary(&mut lat);
    println!("FIN -> on_reconnect: min {lo:.2} ms, median {med:.2} ms, max {hi:.2} ms (30 drops)");
    // At once: the first backoff delay would be at least 5 ms.
    assert!(
        med < 5.0,
        "a healthy drop is retried at once: median {med:.2} ms"
    );
    assert!(hi < 250.0, "max {hi:.1} ms");
    let st = c.stats().unwrap();
    assert_eq!((st.connects, st.resets), (31, 30), "{st:?}");
    assert_eq!(st.state, State::Connected);
    assert_eq!(st.consecutive_failures, 0);
    assert_eq!(st.last_error, 0, "a clean FIN is not an error: {st:?}");
    for (r, errno, sent) in probes.lock().unwrap().iter() {
        assert_eq!(
            *r, -1,
            "a direct write between on_reset and on_reconnect fails"
        );
        assert_eq!(*errno, libc::EPIPE);
        assert_eq!(*sent, Err(Error::NotConnected));
    }
    assert_eq!(probes.lock().unwrap().len(), 30);
    c.send(b"still-works").unwrap();
    assert!(wait_until(|| rec.received().ends_with(b"still-works")));
    c.disconnect().unwrap();
    connman::shutdown().unwrap();
    rec.assert_contract();
}

#[test]
fn rst_is_detected_as_econnreset_and_recovered() {
    let _s = serial();
    let mut srv = Server::echo();
    let probes: Probes = Arc::default();
    let rec = probing_recorder(probes.clone());
    let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &fast()).unwrap();
    assert!(rec.wait(|e| ups(e) == 1));
    let mut lat = Vec::new();
    for round in 1..=30 {
        std::thread::sleep(Duration::from_millis(5)); // up longer than healthy_after
                                                      // Data in flight both ways when the RST comes.
        c.send(&[b'r'; 4096]).unwrap();
        let t = Instant::now();
        srv.cmd("rst");
        assert!(rec.wait(|e| ups(e) == round + 1), "round {round}");
        lat.push(t.elapsed());
        assert_eq!(c.stats().unwrap().last_error, libc::ECONNRESET);
    }
    let (lo, med, hi) = summary(&mut lat);
    println!("RST -> on_reconnect: min {lo:.2} ms, median {med:.2} ms, max {hi:.2} ms (30 resets)");
    assert!(
        med < 5.0,
        "a healthy drop is retried at once: median {med:.2} ms"
    );
    assert!(hi < 250.0, "max {hi:.1} ms");
    for (r, errno, sent) in probes.lock().unwrap().iter() {
        assert_eq!((*r, *errno), (-1, libc::EPIPE));
        assert_eq!(*sent, Err(Error::NotConnected));
    }
    let st = c.stats().unwrap();
    assert_eq!((st.connects, st.resets), (31, 30), "{st:?}");
    c.disconnect().unwrap();
    connman::shutdown().unwrap();
    rec.assert_contract();
}

#[test]
fn listener_gone_for_a_while_is_retried_with_bounded_backoff() {
    let _s = serial();
    let mut srv = Server::echo();
    let rec = Recorder::new();
    let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &fast()).unwrap();
    assert!(rec.wait(|e| ups(e) == 1));
    srv.cmd("stop");
    assert!(rec.wait(|e| resets(e) == 1));
    let a0 = c.stats().unwrap().attempts;
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_millis(800)); // the window being measured
    let st = c.stats().unwrap();
    let window = t0.elapsed();
    let made = st.attempts - a0;
    println!(
        "listener down: {made} attempts in {:.0} ms (backoff 10 ms doubling to 100 ms), last_error {}",
        ms(window),
        st.last_error
    );
    // Delays are drawn from [d/2, d] with d = 10, 20, 40, 80, 100, 100, ... ms.
    let most = 4 + (ms(window) / 50.0).ceil() as u64 + 1;
    assert!(
        made >= 5 && made <= most,
        "{made} attempts (at most {most}): {st:?}"
    );
    assert_eq!(st.state, State::Reconnecting);
    assert_eq!(st.last_error, libc::ECONNREFUSED);
    assert!(st.consecutive_failures >= made, "{st:?}");
    assert_eq!(c.send(b"x"), Err(Error::NotConnected));
    assert_eq!(rec.events().len(), 2, "no callback while retrying");
    let t1 = Instant::now();
    srv.cmd("start");
    assert!(rec.wait(|e| ups(e) == 2));
    let back = t1.elapsed();
    println!(
        "listener back -> on_reconnect in {:.1} ms (bound: backoff_max 100 ms)",
        ms(back)
    );
    assert!(back < Duration::from_millis(400), "{back:?}");
    assert_eq!(c.stats().unwrap().consecutive_failures, 0);
    c.send(b"back").unwrap();
    assert!(wait_until(|| rec.received().ends_with(b"back")));
    c.disconnect().unwrap();
    connman::shutdown().unwrap();
    rec.assert_contract();
}

#[test]
fn server_process_restarted_on_the_same_port() {
    let _s = serial();
    let srv = Server::echo();
    let port = srv.port;
    let rec = Recorder::new();
    let c = connman::connect(port, "127.0.0.1", rec.clone(), &fast()).unwrap();
    assert!(rec.wait(|e| ups(e) == 1));
    let fd = c.fd().unwrap();
    c.send(b"one").unwrap();
    assert!(wait_until(|| rec.received().ends_with(b"one")));
    let t = Instant::now();
    drop(srv); // the process exits; the kernel closes its sockets
    assert!(rec.wait(|e| resets(e) >= 1));
    println!(
        "server process killed -> on_reset in {:.1} ms",
        ms(t.elapsed())
    );
    // An exiting process closes its client sockets before its listener, so a
    // reconnect may still land in the dying listener's queue (then it is reset too).
    let a = c.stats().unwrap().attempts;
    assert!(
        wait_stats(c, |s| s.attempts >= a + 3 && s.state == State::Reconnecting),
        "keeps retrying: {:?}",
        c.stats()
    );
    assert_eq!(c.stats().unwrap().last_error, libc::ECONNREFUSED);
    let n = ups(&rec.events());
    let t = Instant::now();
    let mut srv2 = Server::start(&["--port", &port.to_string()]);
    assert_eq!(srv2.port, port);
    assert!(rec.wait(|e| ups(e) == n + 1));
    println!(
        "new server process on the same port -> on_reconnect in {:.1} ms",
        ms(t.elapsed())
    );
    assert_eq!(
        c.fd().unwrap(),
        fd,
        "same descriptor across server restarts"
    );
    c.send(b"two").unwrap();
    assert!(wait_until(|| rec.received().ends_with(b"two")));
    assert_eq!(srv2.stat("active"), 1);
    c.disconnect().unwrap();
    connman::shutdown().unwrap();
    rec.assert_contract();
}

#[test]
fn accept_and_close_backs_off_then_a_healthy_connection_resets_the_backoff() {
    let _s = serial();
    let mut srv = Server::start(&["--mode", "close"]);
    let rec = Recorder::new();
    let o = Options {
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(320),
        ..Options::default() // healthy_after 1 s
    };
    let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &o).unwrap();
    assert!(rec.wait(|e| ups(e) >= 6), "{:?}", c.stats());
    let times: Vec<Instant> = rec
        .timed_events()
        .into_iter()
        .filter(|(_, e)| is_connect(e) || is_reconnect(e))
        .map(|(t, _)| t)
        .collect();
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let shown: Vec<String> = gaps.iter().map(|g| format!("{:.1}", ms(*g))).collect();
    println!("accept-and-close: gaps between connects {shown:?} ms (backoff 10 ms doubling)");
    // Gap k is at least half of 10 ms * 2^k: the backoff grows, no hot loop.
    for (k, g) in gaps.iter().enumerate().take(5) {
        let floor = Duration::from_millis(5 << k);
        assert!(*g >= floor, "gap {k} is {g:?}, below {floor:?}: {shown:?}");
    }
    // The server behaves again: the connection stays up; after it has been up
    // longer than healthy_after, a drop is retried at once (backoff reset).
    srv.cmd("mode echo");
    // The connection up now may have been accepted (and closed) in close mode.
    let mut sent_in = 0;
    assert!(wait_until(|| {
        let ev = rec.events();
        if rec.received().ends_with(b"ok") {
            return true;
        }
        let n = ups(&ev);
        if n != sent_in && ev.last().is_some_and(is_reconnect) && c.send(b"ok").is_ok() {
            sent_in = n; // once per connection epoch
        }
        false
    }));
    std::thread::sleep(Duration::from_millis(1100)); // longer than healthy_after
    let n = ups(&rec.events());
    let t = Instant::now();
    srv.cmd("drop");
    assert!(rec.wait(|e| ups(e) == n + 1));
    let back = t.elapsed();
    println!(
        "healthy connection dropped -> on_reconnect in {:.1} ms (backoff was at 320 ms)",
        ms(back)
    );
    assert!(
        back < Duration::from_millis(150),
        "backoff not reset: {back:?}"
    );
    c.disconnect().unwrap();
    connman::shutdown().unwrap();
    rec.assert_contract();
}

/// (connect or reconnect time, reset time) of each epoch that ended.
fn epoch_lengths(rec: &Recorder) -> Vec<Duration> {
    let mut out = Vec::new();
    let mut up = None;
    for (t, e) in rec.timed_events() {
        match e {
            Ev::Connect(_) | Ev::Reconnect(_) => up = Some(t),
            Ev::Reset => out.push(t - up.take().unwrap()),
            _ => {}
        }
    }
    out
}

#[test]
fn silent_peer_is_reset_by_idle_timeout_within_the_bound() {
    let _s = serial();
    let mut srv = Server::start(&["--mode", "silent"]);
    let idle = Duration::from_millis(300);
    let rec = Recorder::new();
    let o = Options {
        idle_timeout: Some(idle),
        ..Options::default()
    };
    let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &o).unwrap();
    assert!(rec.wait(|e| resets(e) >= 3), "{:?}", c.stats());
    let mut lens = epoch_lengths(&rec);
    let (lo, med, hi) = summary(&mut lens);
    println!(
        "silent peer, idle_timeout 300 ms: connected -> on_reset min {lo:.1}, median {med:.1}, max {hi:.1} ms"
    );
    assert!(lo >= 300.0, "reset before the idle timeout: {lo:.1} ms");
    assert!(hi < 450.0, "idle reset too late: {hi:.1} ms");
    assert_eq!(c.stats().unwrap().last_error, libc::ETIMEDOUT);
    // Traffic keeps an idle timer from firing; silence after it does not.
    srv.cmd("mode echo");
    assert!(wait_until(
        || rec.events().last().is_some_and(is_reconnect) && c.send(b"p").is_ok()
    ));
    let r0 = resets(&rec.events());
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(1000) {
        let _ = c.send(b"p");
        std::thread::sleep(Duration::from_millis(100)); // the traffic's pace
    }
    assert_eq!(
        resets(&rec.events()),
        r0,
        "reset although data kept arriving"
    );
    let quiet = Instant::now();
    assert!(rec.wait(|e| resets(e) == r0 + 1));
    let after = quiet.elapsed();
    println!("echo traffic stops -> idle reset after {:.1} ms", ms(after));
    assert!(after >= Duration::from_millis(200) && after < Duration::from_millis(500));
    c.disconnect().unwrap();
    connman::shutdown().unwrap();
    rec.assert_contract();
}

#[test]
fn frozen_server_process_is_detected_by_idle_timeout() {
    let _s = serial();
    let srv = Server::echo();
    let rec = Recorder::new();
    let o = Options {
        idle_timeout: Some(Duration::from_millis(300)),
        ..fast()
    };
    let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &o).unwrap();
    assert!(rec.wait(|e| ups(e) == 1));
    // SAFETY: stopping our own child process.
    assert_eq!(unsafe { libc::kill(srv.pid(), libc::SIGSTOP) }, 0);
    let t = Instant::now();
    c.send(b"lost?").unwrap(); // the kernel takes it; the frozen peer never echoes
    assert!(rec.wait(|e| resets(e) == 1));
    let detected = t.elapsed();
    println!(
        "frozen peer (SIGSTOP): on_reset after {:.1} ms with idle_timeout 300 ms",
        ms(detected)
    );
    assert!(detected >= Duration::from_millis(250) && detected < Duration::from_millis(600));
    assert_eq!(c.stats().unwrap().last_error, libc::ETIMEDOUT);
    // SAFETY: resuming our own child process.
    assert_eq!(unsafe { libc::kill(srv.pid(), libc::SIGCONT) }, 0);
    assert!(wait_until(|| c.send(b"thawed").is_ok()));
    assert!(wait_until(|| rec.received().ends_with(b"thawed")));
    c.disconnect().unwrap();
    connman::shutdown().unwrap();
    rec.assert_contract();
}

/// Byte `i` of the slow-reader stream: position-dependent, so a lost, repeated
/// or reordered chunk shows.
fn pattern(i: u64) -> u8 {
    (i ^ (i >> 8) ^ (i >> 17) ^ (i >> 29)) as u8
}

/// Checks every received byte against the pattern as it arrives (no copy kept).
#[derive(Default)]
struct StreamCheck {
    received: AtomicU64,
    bad_at: Mutex<Option<u64>>,
    resets: AtomicUsize,
    connected: AtomicBool,
}

impl Handler for StreamCheck {
    fn on_connect(&self, _c: Conn, _fd: i32) {
        self.connected.store(true, SeqCst);
    }
    fn on_reset(&self, _c: Conn) {
        self.resets.fetch_add(1, SeqCst);
    }
    fn on_data(&self, _c: Conn, data: &[u8]) {
        let start = self.received.load(SeqCst);
        if let Some(k) = (0..data.len()).find(|&k| data[k] != pattern(start + k as u64)) {
            self.bad_at.lock().unwrap().get_or_insert(start + k as u64);
        }
        self.received.fetch_add(data.len() as u64, SeqCst);
    }
}

#[test]
fn slow_reader_bounds_memory_loses_nothing_and_recovers() {
    let _s = serial();
    let mut srv = Server::start(&["--mode", "noread"]);
    let limit = 256 * 1024;
    let total: u64 = 12 << 20;
    let h = Arc::new(StreamCheck::default());
    let o = Options {
        send_queue_limit: limit,
        ..Options::default()
    };
    let c = connman::connect(srv.port, "127.0.0.1", h.clone(), &o).unwrap();
    assert!(wait_until(|| h.connected.load(SeqCst)));
    let rss0 = rss_kib();
    let would_block = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sender = {
        let (would_block, done) = (would_block.clone(), done.clone());
        std::thread::spawn(move || {
            let mut off = 0u64;
            let mut size = 1usize;
            while off < total {
                size = (size * 7 + 4093) % (48 * 1024) + 1; // 1 B .. 48 KiB
                let n = size.min((total - off) as usize);
                let chunk: Vec<u8> = (off..off + n as u64).map(pattern).collect();
                loop {
                    match c.send(&chunk) {
                        Ok(()) => break,
                        Err(Error::WouldBlock) => {
                            would_block.fetch_add(1, SeqCst);
                            std::thread::sleep(Duration::from_millis(1)); // retry pace
                        }
                        Err(e) => panic!("send at {off}: {e}"),
                    }
                }
                off += n as u64;
            }
            done.store(true, SeqCst);
        })
    };
    // The reader is slow: it stops reading for 150 ms, reads for 40 ms, and so on.
    let mut max_queue = 0;
    let mut max_rss = rss0;
    let end = Instant::now() + Duration::from_secs(60);
    while !done.load(SeqCst) && Instant::now() < end {
        srv.cmd("mode noread");
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(150) {
            max_queue = max_queue.max(c.stats().unwrap().send_queue_bytes);
            std::thread::sleep(Duration::from_millis(5)); // sampling pace
        }
        max_rss = max_rss.max(rss_kib());
        srv.cmd("mode echo");
        std::thread::sleep(Duration::from_millis(40)); // the reader's burst
    }
    srv.cmd("mode echo");
    sender.join().unwrap();
    assert!(
        wait_for(Duration::from_secs(30), &mut || h.received.load(SeqCst)
            == total),
        "echoed {} of {total}",
        h.received.load(SeqCst)
    );
    let st = c.stats().unwrap();
    let wb = would_block.load(SeqCst);
    println!(
        "slow reader: {} MiB through a 256 KiB queue, {wb} WOULD_BLOCK answers, max queue {} KiB, RSS {} -> max {} KiB",
        total >> 20,
        max_queue / 1024,
        rss0,
        max_rss
    );
    assert_eq!(*h.bad_at.lock().unwrap(), None, "stream corrupted");
    assert_eq!(h.resets.load(SeqCst), 0);
    assert!(wb > 0, "the stuck reader must have filled the queue");
    assert!(max_queue <= limit as u64);
    assert_eq!(st.bytes_sent, total, "{st:?}");
    assert_eq!((st.bytes_discarded, st.send_queue_bytes), (0, 0));
    assert!(
        max_rss < rss0 + 16 * 1024,
        "memory grew by {} KiB under a slow reader",
        max_rss - rss0
    );
    c.disconnect().unwrap();
    connman::shutdown().unwrap();
}

static SIGPIPES: AtomicUsize = AtomicUsize::new(0);

extern "C" fn count_sigpipe(_: libc::c_int) {
    SIGPIPES.fetch_add(1, SeqCst);
}

/// Counts SIGPIPE while alive (instead of the Rust runtime's SIG_IGN).
struct SigpipeCounter(libc::sigaction);

impl SigpipeCounter {
    fn install() -> SigpipeCounter {
        // SAFETY: installs an async-signal-safe handler (one atomic add); the old
        // action is kept and restored on drop.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = count_sigpipe as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            assert_eq!(libc::sigaction(libc::SIGPIPE, &sa, &mut old), 0);
            SigpipeCounter(old)
        }
    }
}

impl Drop for SigpipeCounter {
    fn drop(&mut self) {
        // SAFETY: restores the action saved by install.
        unsafe { libc::sigaction(libc::SIGPIPE, &self.0, std::ptr::null_mut()) };
    }
}

#[test]
fn sigpipe_is_never_raised_by_the_library() {
    let _s = serial();
    let _counter = SigpipeCounter::install();
    // Control: a plain write to a broken pipe does raise it, so the counter works.
    let mut fds = [0; 2];
    // SAFETY: socketpair fills a live two-element array; the writes use a static buffer.
    unsafe {
        assert_eq!(
            libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()),
            0
        );
        libc::close(fds[1]);
        assert_eq!(libc::write(fds[0], b"x".as_ptr().cast(), 1), -1);
        libc::close(fds[0]);
    }
    assert_eq!(SIGPIPES.swap(0, SeqCst), 1, "control SIGPIPE not counted");

    // The library's writes hit reset connections over and over: directly on the
    // caller's thread, from the reactor's flush, and from inside on_reset.
    let mut srv = Server::start(&["--mode", "noread"]);
    let rec = Recorder::with_hook(|c: Conn, ev: &Ev| {
        if *ev == Ev::Reset {
            let _ = c.send(b"from on_reset");
        }
    });
    let o = Options {
        send_queue_limit: 64 * 1024,
        ..fast()
    };
    let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &o).unwrap();
    for round in 1..=40 {
        assert!(rec.wait(|e| ups(e) == round));
        // Fill the kernel buffers and the queue, so the reactor is flushing.
        while c.send(&[1u8; 16 * 1024]).is_ok() {}
        srv.cmd(if round % 2 == 0 { "rst" } else { "drop" });
        for _ in 0..50 {
            let _ = c.send(b"racing the reset");
        }
    }
    assert!(rec.wait(|e| ups(e) == 41));
    c.disconnect().unwrap();
    connman::shutdown().unwrap();
    rec.assert_contract();
    assert_eq!(SIGPIPES.load(SeqCst), 0, "the library raised SIGPIPE");
}

/// Open descriptors with what each refers to (`socket:[inode]`, ...).
fn fd_links() -> Vec<(i32, String)> {
    open_fds()
        .into_iter()
        .filter_map(|fd| {
            let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
            Some((fd, link.display().to_string()))
        })
        .collect()
}

#[test]
fn every_descriptor_the_library_opens_is_cloexec() {
    let _s = serial();
    connman::shutdown().unwrap();
    let hole = Blackhole::new();
    let srv = Server::echo();
    let before: HashSet<(i32, String)> = fd_links().into_iter().collect();
    let rec = Recorder::new();
    let o = Options {
        connect_timeout: Duration::from_secs(5),
        ..Options::default()
    };
    // One connection stuck in its first attempt, one up through a resolved name,
    // one backing off.
    let stuck = connman::connect(hole.port, "127.0.0.1", Recorder::new(), &o).unwrap();
    let up = connman::connect(srv.port, "localhost", rec.clone(), &o).unwrap();
    let off = connman::connect(dead_port(), "127.0.0.1", Recorder::new(), &o).unwrap();
    assert!(rec.wait(|e| ups(e) == 1));
    assert!(wait_stats(stuck, |s| s.attempts >= 1));
    assert!(wait_stats(off, |s| s.attempts >= 2));
    let new: Vec<(i32, String)> = fd_links()
        .into_iter()
        .filter(|x| !before.contains(x))
        .collect();
    for (fd, link) in &new {
        // An attempt socket of `off` may close between the listing and this check.
        if let Some(cloexec) = is_cloexec(*fd) {
            assert!(cloexec, "fd {fd} ({link}) is not CLOEXEC");
        }
    }
    let mut kinds: Vec<&str> = new
        .iter()
        .map(|(_, l)| l.split(':').next().unwrap_or(""))
        .collect();
    kinds.sort();
    println!("library descriptors (all CLOEXEC): {new:?}");
    assert!(new.iter().any(|(_, k)| k.contains("eventpoll")));
    assert!(new.iter().any(|(_, k)| k.contains("eventfd")));
    // 3 stable descriptors (the first attempt in flight connects the stable
    // descriptor's own socket, so it adds none).
    assert!(
        kinds.iter().filter(|k| **k == "socket").count() >= 3,
        "{new:?}"
    );
    for c in [stuck, up, off] {
        assert_eq!(is_cloexec(c.fd().unwrap()), Some(true));
    }
    connman::shutdown().unwrap();
    drop(hole);
}

/// Checks the blast stream (byte i is i % 256) as it arrives, keeping no copy.
#[derive(Default)]
struct BlastCheck {
    received: AtomicU64,
    bad_at: Mutex<Option<u64>>,
    resets: AtomicUsize,
}

impl Handler for BlastCheck {
    fn on_reset(&self, _c: Conn) {
        self.resets.fetch_add(1, SeqCst);
    }
    fn on_data(&self, _c: Conn, data: &[u8]) {
        // Compared 256 bytes at a time (memcmp): the check must not be what slows
        // the library thread down.
        static PATTERN: [u8; 512] = {
            let mut p = [0u8; 512];
            let mut i = 0;
            while i < 512 {
                p[i] = i as u8;
                i += 1;
            }
            p
        };
        let start = self.received.load(SeqCst);
        let mut pos = 0;
        while pos < data.len() {
            let n = (data.len() - pos).min(256);
            let o = ((start + pos as u64) % 256) as usize;
            if data[pos..pos + n] != PATTERN[o..o + n] {
                self.bad_at
                    .lock()
                    .unwrap()
                    .get_or_insert(start + pos as u64);
                break;
            }
            pos += n;
        }
        self.received.fetch_add(data.len() as u64, SeqCst);
    }
}

#[test]
fn blasting_peer_is_read_in_bounded_memory_without_starving_others() {
    let _s = serial();
    let mut blaster = Server::start(&["--mode", "blast"]);
    let echo = Server::echo();
    let h = Arc::new(BlastCheck::default());
    let a = connman::connect(blaster.port, "127.0.0.1", h.clone(), &Options::default()).unwrap();
    assert!(wait_until(|| h.received.load(SeqCst) > 1 << 20));
    let rss0 = rss_kib();
    let rec = Recorder::new();
    let b = connman::connect(echo.port, "127.0.0.1", rec.clone(), &Options::default()).unwrap();
    assert!(rec.wait(|e| ups(e) == 1));
    let got0 = h.received.load(SeqCst);
    let t0 = Instant::now();
    let mut lat = Vec::new();
    for i in 0..50 {
        let msg = format!("<{i}>");
        let t = Instant::now();
        b.send(msg.as_bytes()).unwrap();
        assert!(wait_until(|| rec.received().ends_with(msg.as_bytes())));
        lat.push(t.elapsed());
    }
    let rate = (h.received.load(SeqCst) - got0) as f64 / t0.elapsed().as_secs_f64();
    let rss1 = rss_kib();
    let (lo, med, hi) = summary(&mut lat);
    println!(
        "blasting peer: {:.0} MiB/s read; echo round trip on another connection min {lo:.2}, median {med:.2}, max {hi:.2} ms; VmRSS {rss0} -> {rss1} KiB",
        rate / (1 << 20) as f64
    );
    assert_eq!(*h.bad_at.lock().unwrap(), None, "blast stream corrupted");
    assert_eq!(h.resets.load(SeqCst), 0);
    assert!(hi < 250.0, "another connection starved: {hi:.1} ms");
    assert!(rss1 < rss0 + 16 * 1024, "memory grew: {rss0} -> {rss1} KiB");
    blaster.cmd("mode sink"); // stops writing
    assert!(
        wait_stats(a, |s| s.bytes_received == h.received.load(SeqCst)),
        "stats count what on_data got"
    );
    connman::shutdown().unwrap();
    rec.assert_contract();
}

/// After a healthy connection drops, retries stay at most `recovery_backoff_max`
/// apart for `recovery_window`, so a restarting server is found again quickly;
/// with the cap off, the plain doubling backoff spaces them out.
#[test]
fn recovery_window_keeps_retries_close_after_a_healthy_drop() {
    let _s = serial();
    let mut counts = Vec::new();
    for cap in [Some(Duration::from_millis(40)), None] {
        let mut srv = Server::echo();
        let rec = Recorder::new();
        let o = Options {
            healthy_after: Duration::from_millis(1),
            recovery_backoff_max: cap,
            ..Options::default()
        };
        let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &o).unwrap();
        assert!(rec.wait(|e| ups(e) == 1));
        std::thread::sleep(Duration::from_millis(5)); // live past healthy_after
        srv.cmd("stop");
        assert!(rec.wait(|e| e.last() == Some(&Ev::Reset)));
        let before = c.stats().unwrap().attempts;
        std::thread::sleep(Duration::from_millis(1500)); // the outage being observed
        counts.push(c.stats().unwrap().attempts - before);
        srv.cmd("start");
        assert!(rec.wait(|e| ups(e) == 2), "reconnects after the outage");
        connman::shutdown().unwrap();
    }
    // 40 ms cap: 20 to 40 attempts per second; doubling from 10 ms: about 8 in 1.5 s.
    assert!(counts[0] >= 20, "capped retries: {counts:?}");
    assert!(counts[1] <= 12, "plain backoff: {counts:?}");
}

/// The recovery window ends once the connection is back: a server that then accepts
/// and closes at once gets the normal doubling backoff, not retries every few ms.
#[test]
fn recovery_window_does_not_weaken_the_flap_guard() {
    let _s = serial();
    let mut srv = Server::echo();
    let rec = Recorder::new();
    let o = Options {
        healthy_after: Duration::from_millis(100),
        recovery_backoff_max: Some(Duration::from_millis(20)),
        ..Options::default()
    };
    let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &o).unwrap();
    assert!(rec.wait(|e| ups(e) == 1));
    std::thread::sleep(Duration::from_millis(150)); // live past healthy_after
    srv.cmd("mode close"); // drops it (healthy), then accepts and closes at once
    assert!(rec.wait(|e| ups(e) >= 2));
    let before = c.stats().unwrap().connects;
    std::thread::sleep(Duration::from_millis(1500)); // the window being observed
    let flaps = c.stats().unwrap().connects - before;
    // Doubling from 10 ms: about 8 in 1.5 s; a 20 ms cap would allow about 100.
    assert!(
        flaps <= 15,
        "{flaps} reconnects in 1.5 s to a flapping server"
    );
    connman::shutdown().unwrap();
}
