//! Unix domain sockets: everything promised for TCP, against flaky-echo listening
//! on a path (`--unix`): the stable descriptor, echo through the raw fd and
//! `send`, drops, the socket file removed and made again, the abstract namespace,
//! pools of Unix members and mixed pools, bad paths, no descriptor leaks.

mod common;

use common::*;
use connman::{Conn, Error, Options, State};
use std::os::fd::RawFd;
use std::time::Duration;

fn opts() -> Options {
    Options {
        healthy_after: Duration::from_millis(1),
        ..Options::default()
    }
}

/// A fresh socket path in the temporary directory.
fn sock_path(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("connman-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name).to_string_lossy().into_owned()
}

fn raw_write(fd: RawFd, data: &[u8]) {
    // SAFETY: writing a live buffer to the connection's descriptor.
    let n = unsafe { libc::send(fd, data.as_ptr().cast(), data.len(), libc::MSG_NOSIGNAL) };
    assert_eq!(n, data.len() as isize);
}

#[test]
fn echo_drop_and_a_vanished_socket_file_keep_the_descriptor() {
    let _s = serial();
    let path = sock_path("echo.sock");
    let mut srv = Server::start(&["--unix", &path]);
    let rec = Recorder::new();
    let c = connman::connect_unix(&path, rec.clone(), &opts()).unwrap();
    assert!(rec.wait(|e| e.iter().any(is_connect)), "{:?}", rec.events());
    let fd = c.fd().unwrap();
    assert_eq!(connman::get_connection_unix(&path).unwrap(), c);
    raw_write(fd, b"raw;");
    c.send(b"sent;").unwrap();
    assert!(wait_until(|| rec.received().ends_with(b"raw;sent;")));

    // The server drops the connection: back on the same descriptor.
    std::thread::sleep(Duration::from_millis(3));
    srv.cmd("drop");
    assert!(
        rec.wait(|e| e.iter().any(is_reconnect)),
        "{:?}",
        rec.events()
    );
    assert_eq!(c.fd().unwrap(), fd);

    // The server goes away and its socket file with it: retried, ENOENT says why.
    std::thread::sleep(Duration::from_millis(3));
    srv.cmd("stop");
    assert!(
        !std::path::Path::new(&path).exists(),
        "stop removed the file"
    );
    assert!(rec.wait(|e| e.iter().filter(|x| **x == Ev::Reset).count() == 2));
    assert!(
        wait_stats(c, |s| s.last_error == libc::ENOENT
            && s.state == State::Reconnecting),
        "{:?}",
        c.stats()
    );
    // It comes back (a new socket file): reconnected, same descriptor, echo works.
    srv.cmd("start");
    assert!(rec.wait(|e| e.iter().filter(|x| is_reconnect(x)).count() == 2));
    assert_eq!(c.fd().unwrap(), fd);
    c.send(b"again;").unwrap();
    assert!(wait_until(|| rec.received().ends_with(b"again;")));
    c.disconnect().unwrap();
    assert!(rec.wait(|e| e.last() == Some(&Ev::Close)));
    rec.assert_contract();
    connman::shutdown().unwrap();
}

#[test]
fn abstract_namespace() {
    let _s = serial();
    let name = format!("@connman-test-{}", std::process::id());
    let mut srv = Server::start(&["--unix", &name]);
    let rec = Recorder::new();
    let c = connman::connect_unix(&name, rec.clone(), &opts()).unwrap();
    assert!(rec.wait(|e| e.iter().any(is_connect)));
    c.send(b"abstract").unwrap();
    assert!(wait_until(|| rec.received().ends_with(b"abstract")));
    std::thread::sleep(Duration::from_millis(3));
    srv.cmd("drop");
    assert!(rec.wait(|e| e.iter().any(is_reconnect)));
    c.disconnect().unwrap();
    assert!(rec.wait(|e| e.last() == Some(&Ev::Close)));
    rec.assert_contract();
    connman::shutdown().unwrap();
}

#[test]
fn pools_of_unix_members_and_mixed_pools() {
    let _s = serial();
    let path = sock_path("pool.sock");
    let unix = Server::start(&["--unix", &path]);
    let tcp = Server::echo();
    let made: std::sync::Arc<std::sync::Mutex<Vec<std::sync::Arc<Recorder>>>> = Default::default();
    let m = made.clone();
    let pool = connman::create_pool(
        "mixed",
        Box::new(move |_| {
            let r = Recorder::new();
            m.lock().unwrap().push(r.clone());
            Ok(r as _)
        }),
    )
    .unwrap();
    assert_eq!(pool.add_unix(&path, &opts()).unwrap(), 0);
    assert_eq!(pool.add(tcp.port, "127.0.0.1", &opts()).unwrap(), 1);
    assert_eq!(pool.add_unix(&path, &opts()).unwrap(), 2);
    assert!(wait_until(|| pool.stats().unwrap().connected == 3));
    let mut seen = std::collections::HashSet::new();
    for _ in 0..6 {
        seen.insert(pool.next().unwrap());
    }
    assert_eq!(seen.len(), 3, "round robin over Unix and TCP members");
    for i in 0..3 {
        let c = pool.conn(i).unwrap();
        c.send(format!("m{i}").as_bytes()).unwrap();
        let r = made.lock().unwrap()[i].clone();
        assert!(wait_until(|| r
            .received()
            .ends_with(format!("m{i}").as_bytes())));
        assert_eq!(pool.connection_fd(i).unwrap(), c.fd().unwrap());
    }
    // A Unix member is not found as a single connection.
    assert_eq!(
        connman::get_connection_unix(&path).map(drop),
        Err(Error::NotFound)
    );
    pool.disconnect().unwrap();
    assert!(wait_until(|| connman::find_pool("mixed").is_err()));
    drop(unix);
    connman::shutdown().unwrap();
}

#[test]
fn bad_paths_are_refused_without_a_callback() {
    let _s = serial();
    let rec = Recorder::new();
    let too_long = "a".repeat(connman::MAX_UNIX_PATH + 1);
    let abstract_too_long = format!("@{}", "a".repeat(connman::MAX_UNIX_PATH + 1));
    for (path, culprit) in [
        ("", "path must not be empty"),
        ("a\0b", "NUL"),
        (too_long.as_str(), "at most 107 bytes"),
        (abstract_too_long.as_str(), "at most 107 bytes"),
    ] {
        assert_eq!(
            connman::connect_unix(path, rec.clone(), &opts()).map(drop),
            Err(Error::InvalidArgument),
            "{path:?}"
        );
        assert!(
            connman::last_error_message().contains(culprit),
            "{path:?}: {}",
            connman::last_error_message()
        );
    }
    // The longest path and abstract name are accepted (and retried: nothing listens).
    let longest = connman::connect_unix(&"a".repeat(connman::MAX_UNIX_PATH), rec.clone(), &opts());
    let longest_abstract = connman::connect_unix(
        &format!("@{}", "b".repeat(connman::MAX_UNIX_PATH)),
        rec.clone(),
        &opts(),
    );
    let (a, b) = (longest.unwrap(), longest_abstract.unwrap());
    assert!(wait_stats(a, |s| s.last_error == libc::ENOENT));
    assert!(wait_stats(b, |s| s.last_error == libc::ECONNREFUSED));
    a.disconnect().unwrap();
    b.disconnect().unwrap();
    assert!(rec.wait(|e| e.iter().filter(|x| **x == Ev::Close).count() == 2));
    assert_eq!(
        rec.events(),
        vec![Ev::Close, Ev::Close],
        "no other callback"
    );
    connman::shutdown().unwrap();
}

#[test]
fn a_thousand_reconnects_leak_no_descriptor() {
    let _s = serial();
    let path = sock_path("leak.sock");
    let mut srv = Server::start(&["--unix", &path]);
    let rec = Recorder::new();
    let c: Conn = connman::connect_unix(&path, rec.clone(), &opts()).unwrap();
    assert!(rec.wait(|e| e.iter().any(is_connect)));
    let fds = open_fds().len();
    for round in 1..=1000 {
        std::thread::sleep(Duration::from_micros(1100));
        srv.cmd("drop");
        assert!(
            rec.wait(|e| e.iter().filter(|x| is_reconnect(x)).count() == round),
            "reconnect {round}"
        );
    }
    // (The attempt socket's spare descriptor is closed just after on_reconnect.)
    assert!(
        wait_until(|| open_fds().len() == fds),
        "descriptors after 1,000 reconnects: {} (before: {fds})",
        open_fds().len()
    );
    assert_eq!(c.stats().unwrap().connects, 1001);
    c.disconnect().unwrap();
    connman::shutdown().unwrap();
}
