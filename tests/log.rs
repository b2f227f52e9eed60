//! The log hook: what is logged, with which handle, at which level; replacing and
//! removing the hook while connections run; nothing formatted when nobody listens.

mod common;

use common::*;
use connman::{Conn, Level, Options};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Lines = Arc<Mutex<Vec<(Level, Option<Conn>, String)>>>;

fn capture(max: Level) -> Lines {
    let lines: Lines = Arc::default();
    let l = lines.clone();
    connman::set_log(
        Some(Arc::new(move |level, conn, msg: &str| {
            l.lock().unwrap().push((level, conn, msg.to_owned()));
        })),
        Some(max),
    );
    lines
}

fn restore() {
    connman::set_log(None, Some(Level::Error));
}

fn has(lines: &Lines, level: Level, conn: Option<Conn>, text: &str) -> bool {
    lines
        .lock()
        .unwrap()
        .iter()
        .any(|(l, c, m)| *l == level && *c == conn && m.contains(text))
}

#[test]
fn a_refused_port_is_logged_with_the_address_and_errno() {
    let _s = serial();
    let lines = capture(Level::Debug);
    let port = dead_port();
    let c = connman::connect(port, "127.0.0.1", Recorder::new(), &Options::default()).unwrap();
    assert!(
        wait_until(|| has(
            &lines,
            Level::Warn,
            Some(c),
            &format!("connect to 127.0.0.1:{port} failed: Connection refused")
        )),
        "{:?}",
        lines.lock().unwrap()
    );
    c.disconnect().unwrap();
    connman::shutdown().unwrap();
    restore();
}

#[test]
fn drops_reconnects_and_idle_timeouts_are_logged_with_their_reason() {
    let _s = serial();
    let lines = capture(Level::Info);
    let mut srv = Server::echo();
    let rec = Recorder::new();
    let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &Options::default()).unwrap();
    assert!(rec.wait(|e| e.iter().any(is_connect)));
    assert!(has(&lines, Level::Info, Some(c), "connected to 127.0.0.1:"));
    srv.cmd("drop");
    assert!(rec.wait(|e| e.iter().any(is_reconnect)));
    assert!(has(
        &lines,
        Level::Info,
        Some(c),
        "reset: the peer closed the connection (EOF)"
    ));
    assert!(has(
        &lines,
        Level::Info,
        Some(c),
        "reconnected to 127.0.0.1:"
    ));
    srv.cmd("rst");
    assert!(rec.wait(|e| e.iter().filter(|x| is_reconnect(x)).count() == 2));
    assert!(has(
        &lines,
        Level::Info,
        Some(c),
        "reset: Connection reset by peer"
    ));
    c.disconnect().unwrap();

    let silent = Server::start(&["--mode", "silent"]);
    let rec = Recorder::new();
    let idle = Options {
        idle_timeout: Some(Duration::from_millis(100)),
        ..Options::default()
    };
    let c2 = connman::connect(silent.port, "127.0.0.1", rec.clone(), &idle).unwrap();
    assert!(rec.wait(|e| e.contains(&Ev::Reset)));
    assert!(has(&lines, Level::Info, Some(c2), "idle timeout"));
    assert!(has(&lines, Level::Info, Some(c2), "reset: timed out"));
    // Nothing above the level asked for.
    assert!(lines
        .lock()
        .unwrap()
        .iter()
        .all(|(l, _, _)| *l <= Level::Info));
    connman::shutdown().unwrap();
    restore();
}

#[test]
fn the_hook_can_be_replaced_and_removed_while_connections_run_and_may_call_connman() {
    let _s = serial();
    let port = dead_port();
    let fast = Options {
        backoff_initial: Duration::from_millis(5),
        backoff_max: Duration::from_millis(5),
        ..Options::default()
    };
    let c = connman::connect(port, "127.0.0.1", Recorder::new(), &fast).unwrap();
    let calls: Arc<Mutex<Vec<u64>>> = Arc::default();
    for round in 0..20 {
        let k = calls.clone();
        // The hook calls into the library, replaces itself now and then.
        connman::set_log(
            Some(Arc::new(move |_l, conn: Option<Conn>, _m: &str| {
                if let Some(conn) = conn {
                    let _ = conn.stats();
                }
                k.lock().unwrap().push(round);
                if round % 5 == 4 {
                    connman::set_log(None, Some(Level::Error));
                }
            })),
            Some(Level::Warn),
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    restore();
    let n = calls.lock().unwrap().len();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        calls.lock().unwrap().len(),
        n,
        "a removed hook is not called"
    );
    assert!(n > 5, "the hooks were called ({n})");
    c.disconnect().unwrap();
    connman::shutdown().unwrap();
}

#[test]
fn nothing_is_formatted_when_the_level_is_off() {
    let _s = serial();
    restore(); // the default: errors only
    let port = dead_port();
    let fast = Options {
        backoff_initial: Duration::from_millis(2),
        backoff_max: Duration::from_millis(2),
        ..Options::default()
    };
    let c = connman::connect(port, "127.0.0.1", Recorder::new(), &fast).unwrap();
    assert!(wait_stats(c, |s| s.attempts > 2));
    let before = connman::__log_formatted_count();
    assert!(wait_stats(c, |s| s.attempts > 50), "many failed attempts");
    assert_eq!(
        connman::__log_formatted_count(),
        before,
        "a failed attempt (WARN) formats nothing while only errors are on"
    );
    // And with a hook at WARN, each failed attempt is formatted once.
    let lines = capture(Level::Warn);
    let a0 = c.stats().unwrap().attempts;
    assert!(wait_stats(c, |s| s.attempts > a0 + 20));
    assert!(lines.lock().unwrap().len() >= 20);
    c.disconnect().unwrap();
    connman::shutdown().unwrap();
    restore();
}
