//! Sending while reconnecting (`send_while_reconnecting`): bytes sent during an
//! outage are held, bounded, and sent once the connection is back, after what the
//! application writes in `on_reconnect`; discarded (and counted) at disconnect;
//! off by default.

mod common;

use common::*;
use connman::{Conn, Error, Options, State};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn held(bound: usize) -> Options {
    Options {
        healthy_after: Duration::from_millis(1),
        backoff_initial: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        send_while_reconnecting: bound,
        ..Options::default()
    }
}

/// Brings the connection down and keeps the server away until `start`.
fn outage(srv: &mut Server, c: Conn) {
    std::thread::sleep(Duration::from_millis(3));
    srv.cmd("stop");
    assert!(wait_stats(c, |s| s.state == State::Reconnecting));
}

#[test]
fn bytes_sent_during_an_outage_follow_the_handshake_in_order_exactly_once() {
    for transport in ["tcp", "unix"] {
        let _s = serial();
        let path = std::env::temp_dir()
            .join(format!("connman-held-{}.sock", std::process::id()))
            .to_string_lossy()
            .into_owned();
        let mut srv = if transport == "tcp" {
            Server::echo()
        } else {
            Server::start(&["--unix", &path])
        };
        // The handshake goes out inside on_reconnect, one part raw, one through send.
        let rec = Recorder::with_hook(|c: Conn, ev: &Ev| {
            if let Ev::Reconnect(fd) = ev {
                // SAFETY: writing a live buffer to the connection's descriptor.
                let n = unsafe { libc::send(*fd, b"HEL".as_ptr().cast(), 3, libc::MSG_NOSIGNAL) };
                assert_eq!(n, 3);
                c.send(b"LO;").unwrap();
            }
        });
        let c = if transport == "tcp" {
            connman::connect(srv.port, "127.0.0.1", rec.clone(), &held(1 << 16)).unwrap()
        } else {
            connman::connect_unix(&path, rec.clone(), &held(1 << 16)).unwrap()
        };
        assert!(rec.wait(|e| e.iter().any(is_connect)));
        outage(&mut srv, c);
        let mut expected = b"HELLO;".to_vec();
        for i in 0..50 {
            let msg = format!("m{i};");
            c.send(msg.as_bytes()).unwrap();
            expected.extend_from_slice(msg.as_bytes());
        }
        assert_eq!(
            c.stats().unwrap().send_queue_bytes,
            expected.len() as u64 - 6
        );
        srv.cmd("start");
        assert!(rec.wait(|e| e.iter().any(is_reconnect)), "{transport}");
        assert!(
            wait_until(|| rec
                .epochs()
                .last()
                .is_some_and(|e| e.len() >= expected.len())),
            "{transport}: {:?}",
            rec.epochs()
                .last()
                .map(|e| String::from_utf8_lossy(e).into_owned())
        );
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(
            String::from_utf8_lossy(rec.epochs().last().unwrap()),
            String::from_utf8_lossy(&expected),
            "{transport}: the echo after the reconnect: handshake first, then every held \
             byte once, in order"
        );
        let st = c.stats().unwrap();
        assert_eq!(st.send_queue_bytes, 0);
        assert_eq!(st.bytes_discarded, 0);
        c.disconnect().unwrap();
        connman::shutdown().unwrap();
    }
}

#[test]
fn the_bound_refuses_what_does_not_fit_whole() {
    let _s = serial();
    let mut srv = Server::echo();
    let rec = Recorder::new();
    let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &held(10)).unwrap();
    assert!(rec.wait(|e| e.iter().any(is_connect)));
    outage(&mut srv, c);
    c.send(b"123456").unwrap();
    assert_eq!(c.send(b"78901"), Err(Error::WouldBlock));
    assert!(connman::last_error_message().contains("send_while_reconnecting"));
    c.send(b"7890").unwrap();
    assert_eq!(c.send(b"x"), Err(Error::WouldBlock));
    assert_eq!(c.stats().unwrap().send_queue_bytes, 10);
    srv.cmd("start");
    assert!(rec.wait(|e| e.iter().any(is_reconnect)));
    assert!(wait_until(|| rec
        .epochs()
        .last()
        .is_some_and(|e| e == b"1234567890")));
    c.disconnect().unwrap();
    connman::shutdown().unwrap();
}

#[test]
fn held_bytes_at_disconnect_are_discarded_and_counted() {
    let _s = serial();
    let mut srv = Server::echo();
    let discarded = Arc::new(Mutex::new(None));
    let d = discarded.clone();
    let rec = Recorder::with_hook(move |c: Conn, ev: &Ev| {
        if *ev == Ev::Close {
            *d.lock().unwrap() = c
                .stats()
                .ok()
                .map(|s| (s.bytes_discarded, s.send_queue_bytes));
        }
    });
    let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &held(100)).unwrap();
    assert!(rec.wait(|e| e.iter().any(is_connect)));
    outage(&mut srv, c);
    c.send(b"never sent").unwrap();
    c.disconnect().unwrap();
    assert!(rec.wait(|e| e.last() == Some(&Ev::Close)));
    assert_eq!(*discarded.lock().unwrap(), Some((10, 0)));
    connman::shutdown().unwrap();
}

#[test]
fn off_by_default() {
    let _s = serial();
    let mut srv = Server::echo();
    let rec = Recorder::new();
    let o = Options {
        healthy_after: Duration::from_millis(1),
        ..Options::default()
    };
    assert_eq!(o.send_while_reconnecting, 0);
    let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &o).unwrap();
    assert!(rec.wait(|e| e.iter().any(is_connect)));
    outage(&mut srv, c);
    assert_eq!(c.send(b"x"), Err(Error::NotConnected));
    assert_eq!(c.stats().unwrap().send_queue_bytes, 0);
    c.disconnect().unwrap();
    connman::shutdown().unwrap();
}

/// A send from another thread while on_reconnect runs is held too: it follows the
/// handshake written in on_reconnect and the bytes held before it (found from C,
/// c-examples/tests/regressions.c).
#[test]
fn a_send_from_another_thread_during_on_reconnect_follows_the_handshake() {
    let _s = serial();
    let mut srv = Server::echo();
    let (in_reconnect_tx, in_reconnect_rx) = std::sync::mpsc::channel::<()>();
    let in_reconnect_tx = Mutex::new(in_reconnect_tx);
    let rec = Recorder::with_hook(move |c: Conn, ev: &Ev| {
        if matches!(ev, Ev::Reconnect(_)) {
            let _ = in_reconnect_tx.lock().unwrap().send(());
            std::thread::sleep(Duration::from_millis(150)); // preparing the handshake
            c.send(b"HS;").unwrap();
        }
    });
    let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &held(4096)).unwrap();
    assert!(rec.wait(|e| e.iter().any(is_connect)));
    outage(&mut srv, c);
    c.send(b"A;").unwrap();
    srv.cmd("start");
    in_reconnect_rx.recv_timeout(DEADLINE).unwrap();
    c.send(b"B;").unwrap(); // while on_reconnect runs
    assert!(wait_until(|| rec
        .epochs()
        .last()
        .is_some_and(|e| e.len() >= 7)));
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        String::from_utf8_lossy(rec.epochs().last().unwrap()),
        "HS;A;B;",
        "handshake, held bytes, then the send made during on_reconnect"
    );
    c.disconnect().unwrap();
    connman::shutdown().unwrap();
}
