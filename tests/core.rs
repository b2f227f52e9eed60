//! The SPEC's guarantees for single connections, against the real flaky echo server.

mod common;

use common::*;
use connman::{Conn, Error, Options, State};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn opts() -> Options {
    Options::default()
}

fn fast() -> Options {
    Options {
        healthy_after: Duration::from_millis(1),
        ..Options::default()
    }
}

#[test]
fn connect_echo_reset_reconnect_same_fd_close() {
    let _s = serial();
    let mut srv = Server::start(&["--greeting", "hello\\r\\n"]);
    let rec = Recorder::new();
    let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &opts()).unwrap();
    assert!(
        rec.wait(|e| e.len() >= 2),
        "connect + greeting: {:?}",
        rec.events()
    );
    let fd = c.fd().unwrap();
    assert_eq!(rec.events()[0], Ev::Connect(fd));
    assert_eq!(connman::conn_from_fd(fd).unwrap(), c);
    assert_eq!(connman::get_connection(srv.port, "127.0.0.1").unwrap(), c);
    c.send(b"ping").unwrap();
    assert!(wait_until(|| rec.received().ends_with(b"ping")));
    for round in 1..=3 {
        srv.cmd("drop");
        assert!(
            rec.wait(|e| e.iter().filter(|x| is_reconnect(x)).count() == round),
            "reconnect {round}: {:?}",
            rec.events()
        );
        assert_eq!(c.fd().unwrap(), fd, "stable descriptor");
    }
    c.send(b"after").unwrap();
    assert!(wait_until(|| rec.received().ends_with(b"after")));
    let st = c.stats().unwrap();
    assert_eq!(st.state, State::Connected);
    assert_eq!(st.connects, 4);
    assert_eq!(st.resets, 3);
    assert!(st.bytes_received >= 9 + 4 * 7);
    assert_eq!(st.bytes_sent, 9);
    c.disconnect().unwrap();
    // Closed while on_close is pending; NotFound once it ran (it may be that fast).
    assert!(matches!(
        c.disconnect(),
        Err(Error::Closed) | Err(Error::NotFound)
    ));
    assert!(rec.wait(|e| e.last() == Some(&Ev::Close)));
    rec.assert_contract();
    assert!(
        wait_until(|| c.stats() == Err(Error::NotFound)),
        "stale after on_close"
    );
    assert_eq!(c.fd(), Err(Error::NotFound));
    assert_eq!(c.send(b"x"), Err(Error::NotFound));
    assert_eq!(c.disconnect(), Err(Error::NotFound));
    assert_eq!(
        connman::get_connection(srv.port, "127.0.0.1"),
        Err(Error::NotFound)
    );
    connman::shutdown().unwrap();
}

#[test]
fn rst_and_server_restart_are_survived() {
    let _s = serial();
    let mut srv = Server::echo();
    let rec = Recorder::new();
    let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &fast()).unwrap();
    assert!(rec.wait(|e| e.iter().any(is_connect)));
    srv.cmd("rst");
    assert!(rec.wait(|e| e.iter().any(is_reconnect)));
    srv.cmd("stop");
    assert!(rec.wait(|e| e.last() == Some(&Ev::Reset)));
    assert!(
        wait_until(|| c.stats().unwrap().attempts >= 5),
        "keeps retrying"
    );
    // Stats say why it fails (the attempt counter moves before the failure is
    // recorded, so wait for the errno itself).
    assert!(wait_until(
        || c.stats().unwrap().last_error == libc::ECONNREFUSED
    ));
    let st = c.stats().unwrap();
    assert_eq!(st.state, State::Reconnecting);
    assert!(st.consecutive_failures >= 2, "{st:?}");
    assert_eq!(c.send(b"x"), Err(Error::NotConnected));
    srv.cmd("start");
    assert!(rec.wait(|e| e.iter().filter(|x| is_reconnect(x)).count() == 2));
    c.send(b"back").unwrap();
    assert!(wait_until(|| rec.received().ends_with(b"back")));
    c.disconnect().unwrap();
    connman::shutdown().unwrap();
    rec.assert_contract();
}

#[test]
fn disconnect_in_every_state() {
    let _s = serial();
    // First connect in flight: the peer never completes the handshake.
    let hole = Blackhole::new();
    let rec = Recorder::new();
    let c = connman::connect(hole.port, "127.0.0.1", rec.clone(), &opts()).unwrap();
    assert!(wait_until(|| c.stats().unwrap().attempts >= 1));
    assert_eq!(c.stats().unwrap().state, State::Connecting);
    c.disconnect().unwrap();
    assert!(rec.wait(|e| e == [Ev::Close]));

    // Backing off: nothing listens.
    let dead_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let rec = Recorder::new();
    let c = connman::connect(dead_port, "127.0.0.1", rec.clone(), &opts()).unwrap();
    assert!(wait_until(|| c.stats().unwrap().attempts >= 2));
    c.disconnect().unwrap();
    assert!(matches!(
        c.disconnect(),
        Err(Error::Closed) | Err(Error::NotFound)
    ));
    assert!(rec.wait(|e| e == [Ev::Close]));

    // Connected, then reconnecting, from another thread.
    let mut srv = Server::echo();
    let rec = Recorder::new();
    let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &opts()).unwrap();
    assert!(rec.wait(|e| e.iter().any(is_connect)));
    srv.cmd("stop");
    assert!(rec.wait(|e| e.last() == Some(&Ev::Reset)));
    std::thread::spawn(move || c.disconnect().unwrap())
        .join()
        .unwrap();
    assert!(rec.wait(|e| e.last() == Some(&Ev::Close)));
    rec.assert_contract();
    srv.cmd("start");

    // From inside its own callbacks.
    for at in ["connect", "data", "reset"] {
        let rec = Recorder::with_hook(move |c: Conn, ev: &Ev| {
            let hit = matches!(
                (at, ev),
                ("connect", Ev::Connect(_)) | ("data", Ev::Data(_)) | ("reset", Ev::Reset)
            );
            if hit {
                c.disconnect().unwrap();
                assert_eq!(c.disconnect(), Err(Error::Closed));
                let _ = c.stats().unwrap();
            }
        });
        let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &opts()).unwrap();
        assert!(rec.wait(|e| e.iter().any(is_connect)));
        if at != "connect" {
            c.send(b"x").unwrap();
        }
        if at == "reset" {
            assert!(rec.wait(|e| e.iter().any(|x| matches!(x, Ev::Data(_)))));
            srv.cmd("drop");
        }
        assert!(
            rec.wait(|e| e.last() == Some(&Ev::Close)),
            "{at}: {:?}",
            rec.events()
        );
        rec.assert_contract();
    }
    connman::shutdown().unwrap();
}

#[test]
fn bad_arguments_are_errors() {
    let _s = serial();
    let h = Recorder::new();
    assert_eq!(
        connman::connect(0, "127.0.0.1", h.clone(), &opts()),
        Err(Error::InvalidArgument)
    );
    assert_eq!(
        connman::connect(80, "", h.clone(), &opts()),
        Err(Error::InvalidArgument)
    );
    let long = "a".repeat(300);
    assert_eq!(
        connman::connect(80, &long, h.clone(), &opts()),
        Err(Error::InvalidArgument)
    );
    assert_eq!(
        connman::connect(80, "no-such-host.invalid", h.clone(), &opts()),
        Err(Error::Resolve)
    );
    let bad = Options {
        backoff_initial: Duration::ZERO,
        ..opts()
    };
    assert_eq!(
        connman::connect(80, "127.0.0.1", h.clone(), &bad),
        Err(Error::InvalidArgument)
    );
    assert_eq!(Conn::from_id(0).stats(), Err(Error::NotFound));
    assert_eq!(Conn::from_id(u64::MAX).disconnect(), Err(Error::NotFound));
    assert_eq!(connman::conn_from_fd(-1), Err(Error::InvalidArgument));
    assert_eq!(connman::conn_from_fd(0), Err(Error::NotFound));
    assert_eq!(connman::get_connection(1, "nowhere"), Err(Error::NotFound));
    assert!(h.events().is_empty(), "no callback for a refused connect");
    connman::shutdown().unwrap();
}

#[test]
fn unanswered_host_is_retried_with_timeout_and_backoff() {
    let _s = serial();
    let hole = Blackhole::new();
    let o = Options {
        connect_timeout: Duration::from_millis(50),
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(40),
        ..opts()
    };
    let rec = Recorder::new();
    let c = connman::connect(hole.port, "127.0.0.1", rec.clone(), &o).unwrap();
    assert!(
        wait_until(|| c.stats().unwrap().attempts >= 4),
        "{:?}",
        c.stats()
    );
    let st = c.stats().unwrap();
    assert_eq!(st.last_error, libc::ETIMEDOUT);
    assert_eq!(st.state, State::Connecting);
    assert!(st.consecutive_failures >= 3);
    assert!(rec.events().is_empty());
    // A host name is resolved again for every round.
    let rec2 = Recorder::new();
    let c2 = connman::connect(hole.port, "localhost", rec2, &o).unwrap();
    assert!(wait_until(|| c2.stats().unwrap().attempts >= 3));
    connman::shutdown().unwrap();
    assert_eq!(rec.events(), vec![Ev::Close]);
}

#[test]
fn server_that_closes_at_once_is_not_hammered() {
    let _s = serial();
    let srv = Server::start(&["--mode", "close"]);
    let rec = Recorder::new();
    let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &opts()).unwrap();
    let t = Instant::now();
    assert!(rec.wait(|e| e.iter().any(is_connect)));
    std::thread::sleep(Duration::from_millis(700)); // the window being measured
    let st = c.stats().unwrap();
    let secs = t.elapsed().as_secs_f64();
    // Backoff 10, 20, 40, ... ms (jittered down to half): about 8 rounds in 0.7 s,
    // where a hot loop would make thousands.
    assert!(st.connects >= 2, "it does retry: {st:?}");
    assert!(
        (st.connects as f64) < 20.0 * secs.max(1.0),
        "hot reconnect loop: {st:?} in {secs:.2}s"
    );
    c.disconnect().unwrap();
    connman::shutdown().unwrap();
    rec.assert_contract();
}

#[test]
fn send_queue_bounds_and_would_block() {
    let _s = serial();
    let mut srv = Server::start(&["--mode", "noread"]);
    let rec = Recorder::new();
    let limit = 64 * 1024;
    let o = Options {
        send_queue_limit: limit,
        ..opts()
    };
    let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &o).unwrap();
    assert!(rec.wait(|e| e.iter().any(is_connect)));
    assert_eq!(c.send(&vec![0u8; limit + 1]), Err(Error::TooLarge));
    let chunk = vec![7u8; 16 * 1024];
    let mut accepted = 0u64;
    let mut blocked = false;
    for _ in 0..100_000 {
        match c.send(&chunk) {
            Ok(()) => accepted += chunk.len() as u64,
            Err(Error::WouldBlock) => {
                blocked = true;
                break;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(blocked, "a stuck reader must fill the bounded queue");
    let st = c.stats().unwrap();
    assert!(st.send_queue_bytes as usize <= limit);
    assert_eq!(
        st.bytes_sent + st.send_queue_bytes,
        accepted,
        "nothing lost"
    );
    srv.cmd("mode sink");
    assert!(
        wait_until(|| c.stats().unwrap().send_queue_bytes == 0),
        "queue drains"
    );
    assert!(wait_until(|| srv.stat("bytes_in") == accepted));
    c.send(&chunk).unwrap();
    c.disconnect().unwrap();
    connman::shutdown().unwrap();
}

#[test]
fn no_descriptor_or_thread_leaks_and_cloexec() {
    let _s = serial();
    connman::shutdown().unwrap();
    let fds_before = open_fds();
    let mut srv = Server::echo();
    let rec = Recorder::new();
    let c = connman::connect(srv.port, "localhost", rec.clone(), &fast()).unwrap();
    assert!(rec.wait(|e| e.iter().any(is_connect)));
    let fd = c.fd().unwrap();
    // SAFETY: F_GETFD on a descriptor number.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    assert!(flags & libc::FD_CLOEXEC != 0, "descriptor must be CLOEXEC");
    let during = open_fds().len();
    for round in 1..=50 {
        // Let the connection live past healthy_after (1 ms), so each drop is a
        // healthy one retried at once rather than a flap that backs off.
        std::thread::sleep(Duration::from_millis(2));
        srv.cmd(if round % 2 == 0 { "drop" } else { "rst" });
        assert!(rec.wait(|e| e.iter().filter(|x| is_reconnect(x)).count() == round));
        // SAFETY: as above.
        assert!(unsafe { libc::fcntl(fd, libc::F_GETFD) } & libc::FD_CLOEXEC != 0);
    }
    // (The attempt socket's spare descriptor is closed just after on_reconnect.)
    assert!(
        wait_until(|| open_fds().len() == during),
        "descriptors stay flat across reconnects: {} (during: {during})",
        open_fds().len()
    );
    connman::shutdown().unwrap();
    rec.assert_contract();
    assert_eq!(
        threads_named("connman-"),
        Vec::<String>::new(),
        "library threads joined"
    );
    // The flaky server's pipes count too: stop it before comparing.
    drop(srv);
    let after = open_fds();
    assert_eq!(
        after.len(),
        fds_before.len(),
        "every descriptor released: {fds_before:?} vs {after:?}"
    );
    // Starts afresh.
    let srv = Server::echo();
    let rec = Recorder::new();
    let _c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &opts()).unwrap();
    assert!(rec.wait(|e| e.iter().any(is_connect)));
    connman::shutdown().unwrap();
    assert_eq!(rec.events().last(), Some(&Ev::Close));
}

fn reactor_switches() -> u64 {
    let tids = threads_named("connman-reactor");
    assert_eq!(tids.len(), 1, "one reactor thread");
    let status = std::fs::read_to_string(format!("/proc/self/task/{}/status", tids[0])).unwrap();
    status
        .lines()
        .filter(|l| l.contains("ctxt_switches"))
        .map(|l| l.split_whitespace().last().unwrap().parse::<u64>().unwrap())
        .sum()
}

#[test]
fn idle_library_does_not_wake_up() {
    let _s = serial();
    let srv = Server::echo();
    let recs: Vec<_> = (0..20).map(|_| Recorder::new()).collect();
    for r in &recs {
        connman::connect(srv.port, "127.0.0.1", r.clone(), &opts()).unwrap();
    }
    assert!(wait_until(|| recs.iter().all(|r| r.count(is_connect) == 1)));
    std::thread::sleep(Duration::from_millis(50)); // let the last callbacks finish
    let before = reactor_switches();
    std::thread::sleep(Duration::from_millis(700)); // the idle window being measured
    let after = reactor_switches();
    assert_eq!(after, before, "the reactor woke up while idle");
    connman::shutdown().unwrap();
}

#[test]
fn callbacks_are_serial_and_may_call_any_function() {
    let _s = serial();
    let srv = Server::echo();
    let port = srv.port;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let rec = Recorder::with_hook(move |c: Conn, ev: &Ev| {
        if let Ev::Connect(fd) = ev {
            assert_eq!(c.fd().unwrap(), *fd);
            assert_eq!(connman::conn_from_fd(*fd).unwrap(), c);
            assert_eq!(connman::shutdown(), Err(Error::InCallback));
            // Open another connection from inside a callback.
            let other =
                connman::connect(port, "127.0.0.1", Recorder::new(), &Options::default()).unwrap();
            seen2.lock().unwrap().push(other);
            c.send(b"from-callback").unwrap();
        }
    });
    let _c = connman::connect(port, "127.0.0.1", rec.clone(), &opts()).unwrap();
    assert!(wait_until(|| rec.received().ends_with(b"from-callback")));
    let other = seen.lock().unwrap()[0];
    assert!(wait_until(
        || other.stats().unwrap().state == State::Connected
    ));
    // Hammer from several threads while data flows.
    let counter = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let counter = counter.clone();
            std::thread::spawn(move || {
                for _ in 0..200 {
                    if _c.send(b"z").is_ok() {
                        counter.fetch_add(1, SeqCst);
                    }
                    let _ = _c.stats();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let n = counter.load(SeqCst) as usize;
    assert!(wait_until(|| rec
        .received()
        .iter()
        .filter(|&&b| b == b'z')
        .count()
        == n));
    connman::shutdown().unwrap();
    rec.assert_contract();
}

#[test]
fn ipv6_numeric_and_latest_single_lookup() {
    let _s = serial();
    let srv = Server::start(&["--host", "::1"]);
    let a = Recorder::new();
    let b = Recorder::new();
    let ca = connman::connect(srv.port, "::1", a.clone(), &opts()).unwrap();
    let cb = connman::connect(srv.port, "[::1]", b.clone(), &opts()).unwrap();
    let cc = connman::connect(srv.port, "::1", Recorder::new(), &opts()).unwrap();
    assert!(a.wait(|e| e.iter().any(is_connect)) && b.wait(|e| e.iter().any(is_connect)));
    // The most recent single connection to exactly that host string wins.
    assert_eq!(connman::get_connection(srv.port, "::1").unwrap(), cc);
    assert_eq!(connman::get_connection(srv.port, "[::1]").unwrap(), cb);
    cc.disconnect().unwrap();
    assert!(wait_until(
        || connman::get_connection(srv.port, "::1") == Ok(ca)
    ));
    ca.send(b"v6").unwrap();
    assert!(wait_until(|| a.received() == b"v6"));
    connman::shutdown().unwrap();
}

#[test]
fn disconnect_racing_the_first_command_still_closes() {
    let _s = serial();
    let srv = Server::echo();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let killer = std::thread::spawn(move || {
        while !stop2.load(SeqCst) {
            connman::disconnect_all().unwrap();
        }
    });
    let recs: Vec<_> = (0..2000)
        .map(|_| {
            let r = Recorder::new();
            let _ = connman::connect(srv.port, "127.0.0.1", r.clone(), &opts());
            r
        })
        .collect();
    stop.store(true, SeqCst);
    killer.join().unwrap();
    connman::disconnect_all().unwrap();
    assert!(
        wait_until(|| recs.iter().all(|r| r.count(|e| *e == Ev::Close) == 1)),
        "every connection gets its on_close"
    );
    for r in &recs {
        r.assert_contract();
    }
    connman::shutdown().unwrap();
}

#[test]
fn connect_from_on_close_during_shutdown_is_refused() {
    let _s = serial();
    let srv = Server::echo();
    let port = srv.port;
    let result = Arc::new(Mutex::new(None));
    let r2 = result.clone();
    let rec = Recorder::with_hook(move |_c: Conn, ev: &Ev| {
        if *ev == Ev::Close {
            let r = connman::connect(port, "127.0.0.1", Recorder::new(), &Options::default());
            *r2.lock().unwrap() = Some(r.map(|_| ()));
        }
    });
    connman::connect(port, "127.0.0.1", rec.clone(), &opts()).unwrap();
    assert!(rec.wait(|e| e.iter().any(is_connect)));
    connman::shutdown().unwrap();
    assert_eq!(*result.lock().unwrap(), Some(Err(Error::Closed)));
    assert_eq!(threads_named("connman-"), Vec::<String>::new());
}

#[test]
fn connects_in_flight_are_capped_and_queued_fairly() {
    let _s = serial();
    let hole = Blackhole::new();
    let o = Options {
        connect_timeout: Duration::from_secs(30),
        ..opts()
    };
    let conns: Vec<Conn> = (0..300)
        .map(|_| connman::connect(hole.port, "127.0.0.1", Recorder::new(), &o).unwrap())
        .collect();
    let started = || {
        conns
            .iter()
            .filter(|c| c.stats().unwrap().attempts >= 1)
            .count()
    };
    // 256 connects in flight at most; the rest wait for a slot.
    assert!(wait_until(|| started() == 256), "started {}", started());
    // Freeing slots admits the waiting ones, oldest first.
    for c in &conns[..10] {
        c.disconnect().unwrap();
    }
    assert!(wait_until(|| conns[256..266].iter().all(|c| c
        .stats()
        .unwrap()
        .attempts
        == 1)));
    assert!(conns[266..]
        .iter()
        .all(|c| c.stats().unwrap().attempts == 0));
    connman::shutdown().unwrap();
}

/// A first attempt that timed out on the stable descriptor must be aborted: a late
/// SYN retransmit must not complete a connection that connman does not know of.
#[test]
fn timed_out_first_attempt_leaves_no_phantom_connection() {
    let _s = serial();
    let mut hole = Blackhole::new();
    let o = Options {
        connect_timeout: Duration::from_millis(100),
        backoff_initial: Duration::from_secs(30), // no second attempt in this test
        backoff_max: Duration::from_secs(30),
        ..opts()
    };
    let c = connman::connect(hole.port, "127.0.0.1", Recorder::new(), &o).unwrap();
    assert!(wait_until(
        || c.stats().unwrap().last_error == libc::ETIMEDOUT
    ));
    hole.drain(); // the kernel would now accept a retransmitted SYN
    let fd = c.fd().unwrap();
    let peer = || {
        // SAFETY: getpeername into a live, correctly sized sockaddr_storage.
        unsafe {
            let mut sa: libc::sockaddr_storage = std::mem::zeroed();
            let mut len = std::mem::size_of_val(&sa) as libc::socklen_t;
            libc::getpeername(
                fd,
                (&mut sa as *mut libc::sockaddr_storage).cast(),
                &mut len,
            ) == 0
        }
    };
    // SYNs are retransmitted after 1 s, then 3 s: watch past the first one.
    let mut phantom = false;
    wait_for(Duration::from_millis(2500), &mut || {
        phantom |= peer();
        phantom
    });
    assert!(
        !phantom,
        "the stable descriptor connected behind connman's back"
    );
    assert_eq!(c.stats().unwrap().connects, 0);
    connman::shutdown().unwrap();
}
