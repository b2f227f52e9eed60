//! Soak: many connections dropped and re-established over and over, checking that
//! descriptors, threads and memory (VmRSS) stay flat and that every cycle is seen
//! exactly once, in contract order.
//!
//! - `reset_reconnect_cycles_ci`: 30 connections x 200 drops = 6,000 cycles, and
//!   `listener_stop_start_cycles_ci`: 30 connections x 40 rounds of the listener
//!   going away (a few refused attempts each: attempt sockets, backoff timers) and
//!   coming back, in the default run.
//! - `reset_reconnect_cycles_100k` (ignored): 100 connections x 1,000 drops =
//!   100,000 cycles: `cargo test --release --test soak -- --ignored --nocapture`.
//!   Its figures are recorded in docs/RELIABILITY.md. `CONNMAN_SOAK=1000,1000`
//!   runs another size (connections, drops). `listener_stop_start_cycles_long`
//!   (ignored): 100 connections x 300 stop/start rounds.

mod common;

use common::*;
use connman::{Conn, Handler, Options, State};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Counts callbacks and checks their order without keeping them.
#[derive(Default)]
struct Counting {
    ups: AtomicUsize,
    resets: AtomicUsize,
    closes: AtomicUsize,
    up: AtomicBool,
    fd: AtomicI32,
    violations: AtomicUsize,
}

impl Counting {
    fn bad(&self) {
        self.violations.fetch_add(1, SeqCst);
    }
}

impl Handler for Counting {
    fn on_connect(&self, _c: Conn, fd: i32) {
        if self.ups.load(SeqCst) != 0 || self.closes.load(SeqCst) != 0 {
            self.bad();
        }
        self.fd.store(fd, SeqCst);
        self.up.store(true, SeqCst);
        self.ups.fetch_add(1, SeqCst);
    }
    fn on_reset(&self, _c: Conn) {
        if !self.up.swap(false, SeqCst) || self.closes.load(SeqCst) != 0 {
            self.bad();
        }
        self.resets.fetch_add(1, SeqCst);
    }
    fn on_reconnect(&self, _c: Conn, fd: i32) {
        if self.up.swap(true, SeqCst) || fd != self.fd.load(SeqCst) {
            self.bad();
        }
        self.ups.fetch_add(1, SeqCst);
    }
    fn on_close(&self, _c: Conn) {
        if self.closes.fetch_add(1, SeqCst) != 0 {
            self.bad();
        }
    }
}

/// (descriptors, threads, VmRSS KiB) of this process.
fn footprint() -> (usize, usize, u64) {
    (open_fds().len(), thread_count(), rss_kib())
}

/// How each round takes the connections down.
#[derive(Clone, Copy, PartialEq)]
enum Fault {
    /// `drop` / `rst` alternately: reset, reconnect at once.
    Drop,
    /// `stop`, a few refused attempts each (backoff timers, attempt sockets), `start`.
    StopStart,
}

fn soak(conns: usize, rounds: usize, fault: Fault) {
    connman::shutdown().unwrap();
    let mut srv = Server::echo();
    let o = Options {
        healthy_after: Duration::from_millis(1),
        backoff_initial: Duration::from_millis(5),
        backoff_max: Duration::from_millis(50),
        ..Options::default()
    };
    let hs: Vec<Arc<Counting>> = (0..conns).map(|_| Arc::default()).collect();
    let cs: Vec<Conn> = hs
        .iter()
        .map(|h| connman::connect(srv.port, "127.0.0.1", h.clone(), &o).unwrap())
        .collect();
    let all_up = |n: usize| hs.iter().all(|h| h.ups.load(SeqCst) == n);
    assert!(wait_until(|| all_up(1)));
    let warmup = (rounds / 10).max(10);
    let mut base = None;
    let (mut max_fds, mut max_threads, mut max_rss) = (0, 0, 0);
    let start = Instant::now();
    let mut timed = Instant::now();
    for round in 1..=rounds {
        if fault == Fault::Drop {
            srv.cmd(if round % 2 == 0 { "rst" } else { "drop" });
        } else {
            srv.cmd("stop");
            assert!(wait_until(|| hs
                .iter()
                .all(|h| h.resets.load(SeqCst) == round)));
            let before: Vec<u64> = cs.iter().map(|c| c.stats().unwrap().attempts).collect();
            assert!(wait_until(|| cs.iter().zip(&before).all(|(c, a)| c
                .stats()
                .unwrap()
                .attempts
                >= a + 2)));
            srv.cmd("start");
        }
        assert!(
            wait_for(Duration::from_secs(30), &mut || all_up(round + 1)),
            "round {round}: {} of {conns} back",
            hs.iter()
                .filter(|h| h.ups.load(SeqCst) == round + 1)
                .count()
        );
        if round == warmup {
            base = Some(footprint());
            timed = Instant::now();
        }
        if round > warmup && round % 10 == 0 {
            let (f, t, r) = footprint();
            max_fds = max_fds.max(f);
            max_threads = max_threads.max(t);
            max_rss = max_rss.max(r);
        }
    }
    let elapsed = start.elapsed();
    let per_sec = ((rounds - warmup) * conns) as f64 / timed.elapsed().as_secs_f64();
    let (bf, bt, br) = base.unwrap();
    let (ef, et, er) = footprint();
    println!(
        "soak ({}): {conns} connections x {rounds} rounds = {} reset/reconnect cycles in {:.1} s ({per_sec:.0} cycles/s)",
        if fault == Fault::Drop {
            "drop/rst"
        } else {
            "stop/start"
        },
        conns * rounds,
        elapsed.as_secs_f64()
    );
    println!(
        "soak: after warm-up ({warmup} rounds) / max / end: fds {bf}/{max_fds}/{ef}, threads {bt}/{max_threads}/{et}, VmRSS {br}/{max_rss}/{er} KiB"
    );
    for (c, h) in cs.iter().zip(&hs) {
        let st = c.stats().unwrap();
        assert_eq!(st.state, State::Connected);
        assert_eq!(st.resets as usize, rounds, "{st:?}");
        assert_eq!(st.connects as usize, rounds + 1, "{st:?}");
        assert_eq!(h.resets.load(SeqCst), rounds);
    }
    assert_eq!((max_fds.max(ef), ef), (bf, bf), "descriptors are not flat");
    assert_eq!((max_threads.max(et), et), (bt, bt), "threads are not flat");
    assert!(
        max_rss.max(er) < br + 8 * 1024,
        "VmRSS grew from {br} to {} KiB",
        max_rss.max(er)
    );
    for c in &cs {
        c.disconnect().unwrap();
    }
    connman::shutdown().unwrap();
    for h in &hs {
        assert_eq!(h.violations.load(SeqCst), 0, "callback order broken");
        assert_eq!(h.closes.load(SeqCst), 1);
    }
    assert!(threads_named("connman-").is_empty());
}

#[test]
fn reset_reconnect_cycles_ci() {
    let _s = serial();
    soak(30, 200, Fault::Drop);
}

#[test]
fn listener_stop_start_cycles_ci() {
    let _s = serial();
    soak(30, 40, Fault::StopStart);
}

#[test]
#[ignore = "soak: 100,000 cycles; run with --ignored (seconds in release, about a minute in debug)"]
fn reset_reconnect_cycles_100k() {
    let _s = serial();
    // CONNMAN_SOAK=CONNECTIONS,DROPS for another size.
    let size = std::env::var("CONNMAN_SOAK").ok().and_then(|v| {
        let (c, r) = v.split_once(',')?;
        Some((c.trim().parse().ok()?, r.trim().parse().ok()?))
    });
    let (conns, rounds) = size.unwrap_or((100, 1000));
    soak(conns, rounds, Fault::Drop);
}

#[test]
#[ignore = "soak: 100 connections x 300 listener stop/start rounds; run with --ignored"]
fn listener_stop_start_cycles_long() {
    let _s = serial();
    soak(100, 300, Fault::StopStart);
}
