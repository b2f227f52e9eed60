//! A server that vanishes from the network: connect attempts that are never
//! answered, and established connections whose peer is gone without a FIN or a
//! RST ever arriving (half-open). Loopback cannot lose packets, so these tests
//! build their own two-host network: two network namespaces joined by a veth pair,
//!
//!   connman-test-<pid>-c (client, 10.231.0.1/24) <-veth-> connman-test-<pid> (server, 10.231.0.2/24)
//!
//! with permanent neighbour entries on both sides (so a dead link is pure packet
//! loss, not an ARP failure). The flaky echo server runs in the server namespace
//! (`ip netns exec`); the client runs on a thread of the test process that joined
//! the client namespace with setns(2) before its first connect, so the library's
//! threads, which it spawns, live there too. Taking the server's link down makes
//! it vanish. No address is added to the root namespace; nothing leaves the two
//! namespaces. A Drop guard deletes both namespaces (and with them the veth pair),
//! even when a test panics.
//!
//! Needs root and iproute2: without them (or when a namespace cannot be made) each
//! test prints why and returns early.
//!
//! Figures (detection times) are printed; `cargo test --test netns -- --nocapture`.

mod common;

use common::*;
use connman::{Conn, Options, State};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENT_IP: &str = "10.231.0.1";
const SERVER_IP: &str = "10.231.0.2";

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The two namespaces and the veth pair between them; deleted on drop.
struct Lab {
    server_ns: String,
    client_ns: String,
    veth_s: String,
}

impl Lab {
    /// Builds the lab, or says why it cannot be built here.
    fn new() -> Result<Lab, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root".into());
        }
        ip(&["-V"]).map_err(|e| format!("iproute2 missing: {e}"))?;
        remove_stale_labs();
        let pid = std::process::id();
        let lab = Lab {
            server_ns: format!("connman-test-{pid}"),
            client_ns: format!("connman-test-{pid}-c"),
            veth_s: format!("cms{pid}"),
        };
        let veth_c = format!("cmc{pid}");
        // From here on, Drop cleans up whatever was made.
        let (s, c) = (lab.server_ns.as_str(), lab.client_ns.as_str());
        ip(&["netns", "add", s])?;
        ip(&["netns", "add", c])?;
        ip(&[
            "link",
            "add",
            &veth_c,
            "netns",
            c,
            "type",
            "veth",
            "peer",
            "name",
            &lab.veth_s,
            "netns",
            s,
        ])?;
        let client_cidr = format!("{CLIENT_IP}/24");
        let server_cidr = format!("{SERVER_IP}/24");
        ip(&["-n", c, "addr", "add", &client_cidr, "dev", &veth_c])?;
        ip(&["-n", s, "addr", "add", &server_cidr, "dev", &lab.veth_s])?;
        for (ns, dev) in [(c, veth_c.as_str()), (s, lab.veth_s.as_str())] {
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        // Permanent neighbours: a dead link then drops packets silently.
        let mac = |ns: &str, dev: &str| -> Result<String, String> {
            let path = format!("/sys/class/net/{dev}/address");
            let out = Command::new("ip")
                .args(["netns", "exec", ns, "cat", &path])
                .output()
                .map_err(|e| e.to_string())?;
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        };
        let (mac_c, mac_s) = (mac(c, &veth_c)?, mac(s, &lab.veth_s)?);
        ip(&[
            "-n",
            c,
            "neigh",
            "replace",
            SERVER_IP,
            "lladdr",
            &mac_s,
            "dev",
            &veth_c,
            "nud",
            "permanent",
        ])?;
        ip(&[
            "-n",
            s,
            "neigh",
            "replace",
            CLIENT_IP,
            "lladdr",
            &mac_c,
            "dev",
            &lab.veth_s,
            "nud",
            "permanent",
        ])?;
        Ok(lab)
    }

    /// Brings the server's side of the link up or down (down: the server vanishes).
    fn server_link(&self, up: bool) {
        ip(&[
            "-n",
            &self.server_ns,
            "link",
            "set",
            &self.veth_s,
            if up { "up" } else { "down" },
        ])
        .unwrap();
    }

    /// The flaky echo server, inside the server namespace.
    fn server(&self, args: &[&str]) -> Server {
        let mut all = vec!["--host", SERVER_IP];
        all.extend_from_slice(args);
        Server::start_via(&["ip", "netns", "exec", &self.server_ns], &all)
    }

    /// Runs `f` on a thread inside the client namespace (the library's threads,
    /// started from there, join it too).
    fn as_client<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.client_ns);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("client namespace");
            // SAFETY: setns on a namespace descriptor we hold; it moves this thread only.
            let rc =
                unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            let r = f();
            connman::shutdown().unwrap();
            r
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth end inside it, and so the pair.
        let _ = ip(&["netns", "del", &self.server_ns]);
        let _ = ip(&["netns", "del", &self.client_ns]);
    }
}

/// Namespaces left by a test process that was killed (no Drop ran).
fn remove_stale_labs() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix("connman-test-") else {
            continue;
        };
        let pid = rest.trim_end_matches("-c");
        if pid.parse::<u32>().is_ok() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

/// The lab, or None after printing why the test is skipped.
fn lab(test: &str) -> Option<Lab> {
    match Lab::new() {
        Ok(l) => Some(l),
        Err(why) => {
            println!("SKIP {test}: {why}");
            None
        }
    }
}

/// No keepalive, no user timeout, no idle timeout: each test turns on one.
fn bare() -> Options {
    Options {
        keepalive_idle: None,
        user_timeout: None,
        idle_timeout: None,
        healthy_after: Duration::from_millis(1),
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(100),
        connect_timeout: Duration::from_millis(300),
        ..Options::default()
    }
}

fn ups(e: &[Ev]) -> usize {
    e.iter()
        .filter(|x| is_connect(x) || is_reconnect(x))
        .count()
}

/// Connects to the lab's server and checks the echo path, takes the server's link
/// down (the peer vanishes: no FIN, no RST), runs `after_down` on the connection,
/// and measures how long the library takes to notice (on_reset, within `limit`).
/// Then brings the link back and checks the connection comes back on its own.
/// Returns the detection time and the stats right after on_reset.
fn half_open(
    lab: &Arc<Lab>,
    o: Options,
    limit: Duration,
    after_down: impl FnOnce(Conn) + Send + 'static,
) -> (Duration, connman::Stats) {
    let srv = lab.server(&[]);
    let port = srv.port;
    let l2 = lab.clone();
    let r = lab.as_client(move || {
        let rec = Recorder::new();
        let c = connman::connect(port, SERVER_IP, rec.clone(), &o).unwrap();
        assert!(rec.wait(|e| ups(e) == 1), "{:?}", c.stats());
        c.send(b"ping").unwrap();
        assert!(wait_until(|| rec.received().ends_with(b"ping")));
        l2.server_link(false);
        let t = Instant::now();
        after_down(c);
        assert!(
            rec.wait_for(limit, |e| e.contains(&Ev::Reset)),
            "half-open peer not detected within {limit:?}: {:?}",
            c.stats()
        );
        let detected = t.elapsed();
        let st = c.stats().unwrap();
        assert_eq!(st.state, State::Reconnecting);
        l2.server_link(true);
        assert!(
            rec.wait(|e| ups(e) == 2),
            "back after link up: {:?}",
            c.stats()
        );
        c.send(b"again").unwrap();
        assert!(wait_until(|| rec.received().ends_with(b"again")));
        c.disconnect().unwrap();
        assert!(rec.wait(|e| e.contains(&Ev::Close)));
        rec.assert_contract();
        (detected, st)
    });
    drop(srv);
    r
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[test]
fn half_open_peer_is_detected_by_tcp_keepalive() {
    let _s = serial();
    let Some(lab) = lab("keepalive") else {
        return;
    };
    let o = Options {
        keepalive_idle: Some(Duration::from_secs(1)),
        keepalive_interval: Duration::from_secs(1),
        keepalive_count: 2,
        ..bare()
    };
    let (d, st) = half_open(&Arc::new(lab), o, Duration::from_secs(10), |_| {});
    println!(
        "half-open, keepalive 1 s + 2 x 1 s (no user timeout): on_reset after {:.2} s, last_error {}",
        secs(d),
        st.last_error
    );
    assert_eq!(st.last_error, libc::ETIMEDOUT);
    assert!(secs(d) >= 2.5 && secs(d) < 5.0, "{d:?}");
}

#[test]
fn half_open_peer_with_unacknowledged_data_is_detected_by_user_timeout() {
    let _s = serial();
    let Some(lab) = lab("user timeout") else {
        return;
    };
    let o = Options {
        user_timeout: Some(Duration::from_secs(1)),
        ..bare()
    };
    let (d, st) = half_open(&Arc::new(lab), o, Duration::from_secs(10), |c| {
        c.send(b"never acknowledged").unwrap();
    });
    println!(
        "half-open, user_timeout 1 s with data in flight: on_reset after {:.2} s, last_error {}",
        secs(d),
        st.last_error
    );
    assert_eq!(st.last_error, libc::ETIMEDOUT);
    assert!(secs(d) >= 0.9 && secs(d) < 4.0, "{d:?}");
}

#[test]
fn half_open_peer_is_detected_by_idle_timeout() {
    let _s = serial();
    let Some(lab) = lab("idle timeout") else {
        return;
    };
    let o = Options {
        idle_timeout: Some(Duration::from_secs(1)),
        ..bare()
    };
    let (d, st) = half_open(&Arc::new(lab), o, Duration::from_secs(5), |_| {});
    println!(
        "half-open, idle_timeout 1 s: on_reset after {:.2} s, last_error {}",
        secs(d),
        st.last_error
    );
    assert_eq!(st.last_error, libc::ETIMEDOUT);
    assert!(secs(d) >= 0.8 && secs(d) < 1.6, "{d:?}");
}

/// Linux: with TCP_USER_TIMEOUT set, keepalive gives up after the user timeout,
/// not after keepalive_count probes (tcp(7)). connman sets both (60 s each by
/// default, so the defaults agree); an application that shortens only the
/// keepalive options gets the user timeout's 60 s. Measured here with 6 s.
#[test]
fn user_timeout_overrides_keepalive_count() {
    let _s = serial();
    let Some(lab) = lab("keepalive + user timeout") else {
        return;
    };
    let o = Options {
        keepalive_idle: Some(Duration::from_secs(1)),
        keepalive_interval: Duration::from_secs(1),
        keepalive_count: 2,
        user_timeout: Some(Duration::from_secs(6)),
        ..bare()
    };
    let (d, st) = half_open(&Arc::new(lab), o, Duration::from_secs(15), |_| {});
    println!(
        "half-open, keepalive 1 s + 2 x 1 s with user_timeout 6 s: on_reset after {:.2} s (keepalive alone: ~3 s)",
        secs(d)
    );
    assert_eq!(st.last_error, libc::ETIMEDOUT);
    assert!(secs(d) >= 5.0, "keepalive_count decided after all: {d:?}");
}

#[test]
fn connect_to_a_vanished_host_times_out_and_is_retried_until_it_is_back() {
    let _s = serial();
    let Some(lab) = lab("vanished host") else {
        return;
    };
    let srv = lab.server(&[]);
    let port = srv.port;
    lab.server_link(false);
    let l = Arc::new(lab);
    let l2 = l.clone();
    let (attempts, st, back) = l.as_client(move || {
        let rec = Recorder::new();
        let c = connman::connect(port, SERVER_IP, rec.clone(), &bare()).unwrap();
        let t = Instant::now();
        assert!(wait_stats(c, |s| s.attempts >= 4), "{:?}", c.stats());
        let secs = t.elapsed().as_secs_f64();
        let st = c.stats().unwrap();
        // Each attempt waits out its 300 ms connect timeout; the backoff is small.
        assert!(
            secs >= 0.8,
            "attempts fail faster than the connect timeout: {st:?} in {secs:.2}s"
        );
        assert!(rec.events().is_empty());
        l2.server_link(true);
        let t = Instant::now();
        assert!(rec.wait(|e| ups(e) == 1), "{:?}", c.stats());
        let back = t.elapsed();
        c.send(b"hello").unwrap();
        assert!(wait_until(|| rec.received().ends_with(b"hello")));
        c.disconnect().unwrap();
        (secs, st, back)
    });
    println!(
        "vanished host: 4 attempts in {attempts:.2} s (connect_timeout 300 ms), last_error {}; link back -> on_connect in {:.0} ms",
        st.last_error,
        back.as_secs_f64() * 1000.0
    );
    assert_eq!(st.last_error, libc::ETIMEDOUT, "{st:?}");
    assert_eq!(st.state, State::Connecting);
    assert!(st.consecutive_failures >= 3);
    assert!(back < Duration::from_millis(1000), "{back:?}");
    drop(srv);
}
