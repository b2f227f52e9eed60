//! Regression tests for defects found by hostile testing (issue 10): each failed
//! before its fix.

mod common;

use common::*;
use connman::{Conn, Error, Options, State};
use std::io::Write;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

fn opts() -> Options {
    Options::default()
}

/// A peer that resets the connection (SO_LINGER 0, then close).
fn reset(peer: std::net::TcpStream) {
    let lg = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket we own, with a live linger struct.
    let r = unsafe {
        libc::setsockopt(
            peer.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&lg as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as u32,
        )
    };
    assert_eq!(r, 0);
    drop(peer);
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// Defect 1: with sends queued (the peer does not read) and a peer that sends its
/// last bytes and then resets, every byte it sent reaches on_data before on_reset,
/// as a raw socket would read them before ECONNRESET.
#[test]
fn bytes_sent_before_a_reset_reach_on_data_before_on_reset() {
    let _s = serial();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let rec = Recorder::new();
    let c = connman::connect(port, "127.0.0.1", rec.clone(), &opts()).unwrap();
    let (mut peer, _) = l.accept().unwrap();
    assert!(rec.wait(|e| e.iter().any(is_connect)));
    // Fill the path to the peer (which never reads) until connman queues.
    let chunk = vec![7u8; 64 * 1024];
    assert!(wait_until(|| {
        let _ = c.send(&chunk);
        c.stats().unwrap().send_queue_bytes > 0
    }));
    // Hold the library thread so that the data and the reset arrive together.
    let blocker = ReactorBlocker::block();
    let last = pattern(48 * 1024);
    peer.set_nonblocking(true).unwrap();
    peer.write_all(&last).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    reset(peer);
    std::thread::sleep(Duration::from_millis(50));
    drop(blocker);
    assert!(
        rec.wait(|e| e.contains(&Ev::Reset)),
        "reset seen: {:?}",
        rec.events().len()
    );
    let before_reset: Vec<u8> = rec
        .events()
        .iter()
        .take_while(|e| **e != Ev::Reset)
        .filter_map(|e| match e {
            Ev::Data(d) => Some(d.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(
        before_reset.len(),
        last.len(),
        "bytes delivered before on_reset"
    );
    assert!(before_reset == last, "bytes delivered intact and in order");
    c.disconnect().unwrap();
    connman::shutdown().unwrap();
}

/// CPU time (user + system, in clock ticks) of this process's threads named `name`.
fn thread_cpu_ticks(name: &str) -> u64 {
    let mut total = 0;
    for t in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let p = t.path();
        let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(p.join("stat")).unwrap_or_default();
        // Fields after the parenthesized command: state is field 3, utime 14, stime 15.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 13 {
            total += f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0);
        }
    }
    total
}

/// Forks; the child runs `child` (with a 5 s alarm, so a hang kills it) and exits
/// with its result; returns the child's wait status.
fn in_child(child: impl FnOnce() -> i32) -> i32 {
    // SAFETY: fork in a test process; the child only makes connman calls (which
    // must not block) and then leaves with _exit, never returning into the harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        // SAFETY: alarm and _exit are async-signal-safe.
        unsafe { libc::alarm(5) };
        let code = child();
        // SAFETY: as above.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child with a live status int.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    status
}

/// Defect 2: after fork() the child's connman refuses every call at once with
/// `Error::Forked` (touching neither the shared epoll instance nor any lock a
/// parent thread may have held), and the parent is not disturbed: its library
/// thread stays idle and its connection keeps working.
#[test]
fn a_forked_child_cannot_use_connman_nor_disturb_the_parent() {
    let _s = serial();
    let srv = Server::echo();
    let rec = Recorder::new();
    let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &opts()).unwrap();
    assert!(rec.wait(|e| e.iter().any(is_connect)));
    let pool = connman::create_pool("forked", Box::new(|_| Ok(Recorder::new() as _))).unwrap();
    // Another thread keeps taking the library's locks while the forks happen.
    let stop = Arc::new(AtomicBool::new(false));
    let hammer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(SeqCst) {
                let _ = c.stats();
                let _ = connman::get_connection(1, "127.0.0.1");
            }
        })
    };
    let big = vec![1u8; 512 * 1024];
    for round in 0..20 {
        let status = in_child(|| {
            let refused = |r: Result<(), Error>| r == Err(Error::Forked);
            let all = [
                // Enough to queue and arm write interest on the shared epoll.
                refused(c.send(&big)),
                refused(c.send(&big)),
                refused(c.stats().map(drop)),
                refused(c.fd().map(drop)),
                refused(connman::conn_from_fd(3).map(drop)),
                refused(connman::get_connection(srv.port, "127.0.0.1").map(drop)),
                refused(
                    connman::connect(srv.port, "127.0.0.1", Recorder::new(), &opts()).map(drop),
                ),
                refused(
                    connman::create_pool("child", Box::new(|_| Ok(Recorder::new() as _))).map(drop),
                ),
                refused(pool.add(srv.port, "127.0.0.1", &opts()).map(drop)),
                refused(pool.next().map(drop)),
                refused(connman::disconnect_all()),
                refused(c.disconnect()),
                refused(connman::shutdown()),
            ];
            all.iter().position(|ok| !ok).map_or(0, |i| 10 + i as i32)
        });
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child {round}: status {status:#x} (exit code 10+i: call i was not refused; a signal: it hung)"
        );
    }
    stop.store(true, SeqCst);
    hammer.join().unwrap();
    // The parent's library thread is idle: no spinning on events the child armed.
    std::thread::sleep(Duration::from_millis(50));
    let before = thread_cpu_ticks("connman-reactor");
    std::thread::sleep(Duration::from_millis(500));
    let spent = thread_cpu_ticks("connman-reactor") - before;
    assert!(spent <= 1, "library thread used {spent} ticks while idle");
    // And the parent's connection still works.
    c.send(b"still here").unwrap();
    assert!(wait_until(|| rec.received().ends_with(b"still here")));
    assert_eq!(c.stats().unwrap().state, State::Connected);
    pool.disconnect().unwrap();
    c.disconnect().unwrap();
    connman::shutdown().unwrap();
}

/// Defect 3: a `connman_shutdown` racing a pool add whose factory is running
/// leaves nothing alive: once shutdown returns, no connection and no library
/// thread remain, whatever the add returned.
#[test]
fn shutdown_racing_a_pool_add_leaves_nothing_alive() {
    let _s = serial();
    let mut srv = Server::echo();
    for _ in 0..3 {
        let (entered_tx, entered_rx) = mpsc::channel::<()>();
        let entered_tx = Mutex::new(entered_tx);
        let made: Arc<Mutex<Vec<Arc<Recorder>>>> = Arc::default();
        let made2 = made.clone();
        let pool = connman::create_pool(
            "racing",
            Box::new(move |_| {
                let _ = entered_tx.lock().unwrap().send(());
                std::thread::sleep(Duration::from_millis(200));
                let r = Recorder::new();
                made2.lock().unwrap().push(r.clone());
                Ok(r as _)
            }),
        )
        .unwrap();
        let port = srv.port;
        let adder = std::thread::spawn(move || pool.add(port, "127.0.0.1", &Options::default()));
        entered_rx.recv_timeout(DEADLINE).unwrap();
        connman::shutdown().unwrap();
        // Nothing of the library is left running...
        assert!(
            threads_named("connman-").is_empty(),
            "threads after shutdown: {:?}",
            threads_named("connman-")
        );
        let added = adder.join().unwrap();
        // ... and whatever the add returned, no member lives on.
        assert!(threads_named("connman-").is_empty());
        for r in made.lock().unwrap().iter() {
            let ev = r.events();
            assert!(
                ev.is_empty() || ev.last() == Some(&Ev::Close),
                "a member outlived shutdown (add returned {added:?}): {ev:?}"
            );
        }
        assert!(
            wait_until(|| srv.stat("active") == 0),
            "server still has clients"
        );
        assert_eq!(connman::find_pool("racing").map(drop), Err(Error::NotFound));
    }
    connman::shutdown().unwrap();
}

/// Defect 4: connections stuck on an unresponsive destination (a listener whose
/// accept queue is full: SYNs go unanswered) do not hold up connections to other
/// destinations: a new one is up, and a dropped one back, within 500 ms.
#[test]
fn an_unresponsive_destination_does_not_starve_a_healthy_one() {
    let _s = serial();
    let hole = Blackhole::new();
    let stuck: Vec<Conn> = (0..600)
        .map(|_| connman::connect(hole.port, "127.0.0.1", Recorder::new(), &opts()).unwrap())
        .collect();
    assert!(wait_until(|| stuck
        .iter()
        .filter(|c| c.stats().unwrap().attempts > 0)
        .count()
        >= 256));
    let mut srv = Server::echo();
    let rec = Recorder::new();
    let t0 = Instant::now();
    let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &opts()).unwrap();
    assert!(
        rec.wait_for(Duration::from_millis(500), |e| e.iter().any(is_connect)),
        "new connection not up after {:?}",
        t0.elapsed()
    );
    let t1 = Instant::now();
    srv.cmd("drop");
    assert!(
        rec.wait_for(Duration::from_millis(500), |e| e.iter().any(is_reconnect)),
        "dropped connection not back after {:?}",
        t1.elapsed()
    );
    for s in &stuck {
        assert_eq!(s.stats().unwrap().state, State::Connecting);
    }
    connman::shutdown().unwrap();
    let _ = c;
}

/// (st_dev, st_ino) of what descriptor `fd` refers to, None when it is not open.
fn identity(fd: i32) -> Option<(u64, u64)> {
    // SAFETY: fstat writes into a live, zeroed stat struct.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        (libc::fstat(fd, &mut st) == 0).then_some((st.st_dev, st.st_ino))
    }
}

/// The application closes connman's descriptor by mistake and a file of its own
/// takes the number; returns that file's identity.
fn replace_with_a_file(fd: i32, dir: &std::path::Path, name: &str) -> (u64, u64) {
    let f = std::fs::File::create(dir.join(name)).unwrap();
    // SAFETY: closing connman's descriptor is the misuse under test; dup2 then puts
    // our own file on that number (as a later open() could).
    unsafe {
        libc::close(fd);
        assert_eq!(libc::dup2(f.as_raw_fd(), fd), fd);
    }
    identity(fd).unwrap()
}

/// Defect 5: connman never closes or replaces a descriptor that is no longer the
/// socket it put there: it gives the connection up (on_close; last_error EBADF)
/// and leaves the application's file alone, at a reconnect and at a disconnect.
#[test]
fn a_descriptor_the_application_closed_and_reused_is_never_touched() {
    let _s = serial();
    type Logged = Vec<(connman::Level, Option<Conn>, String)>;
    let logged: Arc<Mutex<Logged>> = Arc::default();
    let l = logged.clone();
    connman::set_log(
        Some(Arc::new(move |level, conn, msg: &str| {
            l.lock().unwrap().push((level, conn, msg.to_owned()));
        })),
        Some(connman::Level::Error),
    );
    let dir = std::env::temp_dir().join(format!("connman-reuse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let srv = Server::start(&["--mode", "silent"]);

    // At a reconnect: the idle timeout drops the connection, and the reconnect
    // must not dup3 a socket over the application's file.
    let seen_error = Arc::new(Mutex::new(None));
    let seen = seen_error.clone();
    let rec = Recorder::with_hook(move |c: Conn, ev: &Ev| {
        if *ev == Ev::Close {
            *seen.lock().unwrap() = c.stats().ok().map(|s| s.last_error);
        }
    });
    let idle = Options {
        idle_timeout: Some(Duration::from_millis(200)),
        ..opts()
    };
    let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &idle).unwrap();
    assert!(rec.wait(|e| e.iter().any(is_connect)));
    let fd = c.fd().unwrap();
    let file = replace_with_a_file(fd, &dir, "a");
    assert!(
        rec.wait(|e| e.last() == Some(&Ev::Close)),
        "given up: {:?}",
        rec.events()
    );
    assert_eq!(*seen_error.lock().unwrap(), Some(libc::EBADF));
    assert!(
        logged.lock().unwrap().iter().any(|(level, conn, msg)| {
            *level == connman::Level::Error
                && *conn == Some(c)
                && msg.contains("no longer holds connman's socket")
        }),
        "the give-up is logged as an error with the handle: {:?}",
        logged.lock().unwrap()
    );
    assert_eq!(
        identity(fd),
        Some(file),
        "the application's file is untouched"
    );
    rec.assert_contract();
    // SAFETY: our own file.
    unsafe { libc::close(fd) };

    // At a disconnect: closing must not close the application's file.
    let rec = Recorder::new();
    let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &opts()).unwrap();
    assert!(rec.wait(|e| e.iter().any(is_connect)));
    let fd = c.fd().unwrap();
    let file = replace_with_a_file(fd, &dir, "b");
    c.disconnect().unwrap();
    assert!(rec.wait(|e| e.last() == Some(&Ev::Close)));
    assert_eq!(identity(fd), Some(file), "disconnect left the file open");
    // SAFETY: our own file.
    unsafe { libc::close(fd) };

    connman::shutdown().unwrap();
    connman::set_log(None, Some(connman::Level::Error));
    let _ = std::fs::remove_dir_all(&dir);
}

/// shutdown(2) of the descriptor by the application means "reconnect", as ending
/// the socket did in the original.
#[test]
fn shutdown_of_the_descriptor_by_the_application_reconnects() {
    let _s = serial();
    let srv = Server::echo();
    let rec = Recorder::new();
    let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &opts()).unwrap();
    assert!(rec.wait(|e| e.iter().any(is_connect)));
    let fd = c.fd().unwrap();
    // SAFETY: shutdown on the connection's descriptor, as the application may.
    unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
    assert!(
        rec.wait(|e| e.iter().any(is_reconnect)),
        "{:?}",
        rec.events()
    );
    assert_eq!(c.fd().unwrap(), fd);
    c.send(b"back").unwrap();
    assert!(wait_until(|| rec.received().ends_with(b"back")));
    c.disconnect().unwrap();
    connman::shutdown().unwrap();
}
