//! Metric 2: receive throughput of one connection from a server blasting data, against
//! a raw recv loop.

use crate::baseline;
use crate::report::{joined, median, ratio, Table};
use crate::server;
use crate::support::{shutdown_bounded, Signal, R};
use crate::system::{describe, place, Placement};
use crate::Cfg;
use crate::RAW_BUF;
use connman::{Conn, Handler, Options};
use std::os::fd::RawFd;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
pub(crate) struct CountState {
    up: Signal,
    closed: Signal,
    bytes: AtomicU64,
    calls: AtomicU64,
}

pub(crate) struct CountH(Arc<CountState>);

impl Handler for CountH {
    fn on_connect(&self, _c: Conn, _fd: RawFd) {
        self.0.up.set();
    }
    fn on_data(&self, _c: Conn, d: &[u8]) {
        self.0.bytes.fetch_add(d.len() as u64, Relaxed);
        self.0.calls.fetch_add(1, Relaxed);
    }
    fn on_close(&self, _c: Conn) {
        self.0.closed.set();
    }
}

/// (bytes/s, mean bytes per on_data) over one window on a fresh connection.
pub(crate) fn connman_blast_round(cfg: &Cfg, port: u16) -> R<(f64, f64)> {
    let st = Arc::new(CountState::default());
    let conn = connman::connect(
        port,
        "127.0.0.1",
        Arc::new(CountH(st.clone())),
        &Options::default(),
    )
    .map_err(|e| format!("connect: {e:?}"))?;
    if !st.up.wait(Duration::from_secs(5)) {
        return Err("blast connection not up".into());
    }
    std::thread::sleep(cfg.blast_warmup);
    let (b0, c0, t0) = (
        st.bytes.load(Relaxed),
        st.calls.load(Relaxed),
        Instant::now(),
    );
    std::thread::sleep(cfg.blast_window);
    let (b1, c1, el) = (st.bytes.load(Relaxed), st.calls.load(Relaxed), t0.elapsed());
    let _ = conn.disconnect();
    if !st.closed.wait(Duration::from_secs(5)) {
        return Err("blast connection did not close".into());
    }
    Ok((
        (b1 - b0) as f64 / el.as_secs_f64(),
        (b1 - b0) as f64 / (c1 - c0).max(1) as f64,
    ))
}

/// (connman, raw, raw shaped like the reactor, bytes per on_data) per round, with
/// the rounds alternating A/B, B/A.
#[derive(Default)]
struct Rounds {
    a: Vec<f64>,
    b: Vec<f64>,
    c: Vec<f64>,
    chunk: Vec<f64>,
}

fn blast_rounds(cfg: &Cfg, rounds: usize) -> R<Rounds> {
    let srv = server::spawn("blast", 0)?;
    let mut buf = vec![0u8; RAW_BUF];
    let mut out = Rounds::default();
    let mut raw = |like_connman| {
        baseline::blast_round(
            srv.port,
            cfg.blast_warmup,
            cfg.blast_window,
            &mut buf,
            like_connman,
        )
    };
    for r in 0..rounds {
        let run_a = |out: &mut Rounds| -> R<()> {
            let (x, k) = connman_blast_round(cfg, srv.port)?;
            out.a.push(x);
            out.chunk.push(k);
            Ok(())
        };
        if r % 2 == 0 {
            run_a(&mut out)?;
            out.b.push(raw(false)?);
            out.c.push(raw(true)?);
        } else {
            out.c.push(raw(true)?);
            out.b.push(raw(false)?);
            run_a(&mut out)?;
        }
    }
    Ok(out)
}

pub(crate) fn metric_blast(cfg: &Cfg, t: &mut Table) -> R<()> {
    println!("[2] receive throughput, blast server: fixed placement, then unpinned");
    let pinned = blast_rounds(cfg, cfg.rounds)?;
    // Unpinned: a fresh runtime whose thread may run anywhere, a fresh server too.
    shutdown_bounded()?;
    let free = place(Placement::Free);
    let unpinned = blast_rounds(cfg, cfg.rounds);
    shutdown_bounded()?;
    place(Placement::Pinned);
    let unpinned = unpinned?;
    let gbs = |v: &[f64]| joined(v, 1e9, 2);
    let gb = |x: f64| format!("{:.2} GB/s", x / 1e9);
    for (label, r) in [("pinned", &pinned), ("unpinned", &unpinned)] {
        println!(
            "  per round, {label} (GB/s): connman {}; raw {}; raw epoll-structured {}",
            gbs(&r.a),
            gbs(&r.b),
            gbs(&r.c)
        );
        t.series(format!("throughput_{label}_connman"), r.a.clone());
        t.series(format!("throughput_{label}_raw"), r.b.clone());
    }
    let (ma, mb, mc) = (median(&pinned.a), median(&pinned.b), median(&pinned.c));
    t.row(
        "2 receive throughput, 1 connection, blast server, fixed placement (median of rounds)",
        gb(ma),
        gb(mb),
        ratio(ma, mb),
        "≥ 0.97",
        Some(ma / mb >= 0.97),
    )
    .key("16.1")
    .val("connman_bps", ma)
    .val("raw_bps", mb);
    // Unpinned: the median, and the spread of the per-round ratios (round i of
    // connman against round i of raw, which ran right next to it).
    let (ua, ub) = (median(&unpinned.a), median(&unpinned.b));
    let per: Vec<f64> = unpinned
        .a
        .iter()
        .zip(&unpinned.b)
        .map(|(a, b)| a / b)
        .collect();
    let (lo, hi) = (min(&per), max(&per));
    t.row(
        &format!(
            "2 receive throughput, {} (median of rounds; per-round ratio min-max)",
            describe(free)
        ),
        format!(
            "{} ({}-{})",
            gb(ua),
            gb(min(&unpinned.a)),
            gb(max(&unpinned.a))
        ),
        format!(
            "{} ({}-{})",
            gb(ub),
            gb(min(&unpinned.b)),
            gb(max(&unpinned.b))
        ),
        format!("{} ({lo:.2}-{hi:.2})", ratio(ua, ub)),
        "-",
        None,
    )
    .val("connman_bps", ua)
    .val("raw_bps", ub)
    .val("ratio_min", lo)
    .val("ratio_max", hi);
    t.note(format!(
        "2: {} rounds x {:.1} s window after {:.1} s warm-up per placement, fresh connection per round, A/B then B/A; raw = recv until EAGAIN then poll, {} KiB buffer (connman's READ_BUF); connman got {:.0} B per on_data; diagnostic: a raw loop structured like the reactor (epoll_wait, one recv per wake-up) did {} ({:.3} of raw)",
        cfg.rounds,
        cfg.blast_window.as_secs_f64(),
        cfg.blast_warmup.as_secs_f64(),
        RAW_BUF / 1024,
        median(&pinned.chunk),
        gb(mc),
        mc / mb
    ));
    Ok(())
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}
