//! Metric 3: recovery after the server drops a connection (and keeps listening):
//! on_reset to on_reconnect, with connman on its own thread and embedded, against
//! one raw handshake.

use crate::baseline;
use crate::report::{pct, ratio, sorted, us, Table};
use crate::server;
use crate::support::{now_ns, Mode, Signal, R};
use crate::Cfg;
use connman::{Conn, Handler, Options};
use std::os::fd::RawFd;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use testkit::FlakyEcho;

#[derive(Default)]
pub(crate) struct DropState {
    up: Signal,
    closed: Signal,
    reset_ns: AtomicU64,
    reco_ns: AtomicU64,
    reconnects: AtomicU64,
}

pub(crate) struct DropH(Arc<DropState>);

impl Handler for DropH {
    fn on_connect(&self, _c: Conn, _fd: RawFd) {
        self.0.up.set();
    }
    fn on_reset(&self, _c: Conn) {
        self.0.reset_ns.store(now_ns(), Relaxed);
    }
    fn on_reconnect(&self, _c: Conn, _fd: RawFd) {
        self.0.reco_ns.store(now_ns(), Relaxed);
        self.0.reconnects.fetch_add(1, Relaxed);
    }
    fn on_close(&self, _c: Conn) {
        self.0.closed.set();
    }
}

/// healthy_after for metric 3.
pub(crate) const HEALTHY_AFTER: Duration = Duration::from_millis(1);

/// Samples (ns) of one connman mode.
#[derive(Default)]
struct Runs {
    eof_to_up: Vec<f64>,
    cmd_to_up: Vec<f64>,
}

/// `k` drops of a fresh connection in `mode`.
fn connman_round(mode: Mode, srv: &mut FlakyEcho, k: usize, out: &mut Runs) -> R<()> {
    let drive = mode.enter()?;
    let st = Arc::new(DropState::default());
    let opts = Options {
        // The smallest the library takes (zero is refused: hot-loop guard).
        healthy_after: HEALTHY_AFTER,
        ..Options::default()
    };
    let conn = connman::connect(srv.port, "127.0.0.1", Arc::new(DropH(st.clone())), &opts)
        .map_err(|e| format!("connect: {e:?}"))?;
    if !drive.wait(&st.up, Duration::from_secs(5)) {
        return Err("recovery connection not up".into());
    }
    for i in 0..k {
        // Let the connection be up longer than healthy_after, so the drop counts
        // as one of a healthy connection (retried at once).
        std::thread::sleep(HEALTHY_AFTER * 2);
        let before = st.reconnects.load(Relaxed);
        let t_cmd = now_ns();
        srv.cmd("drop")?;
        if !drive.until(Duration::from_secs(5), || {
            st.reconnects.load(Relaxed) > before
        }) {
            return Err(format!(
                "no on_reconnect within 5 s after drop {i} ({})",
                mode.name()
            ));
        }
        let (rs, rc) = (st.reset_ns.load(Relaxed), st.reco_ns.load(Relaxed));
        out.eof_to_up.push(rc.saturating_sub(rs) as f64);
        out.cmd_to_up.push(rc.saturating_sub(t_cmd) as f64);
    }
    let _ = conn.disconnect();
    drive.wait(&st.closed, Duration::from_secs(5));
    Ok(())
}

pub(crate) fn metric_recovery(cfg: &Cfg, t: &mut Table) -> R<()> {
    println!("[3] recovery after a server-side drop: own thread, embedded, raw handshake");
    let mut srv = server::spawn("echo", 0)?;
    let (mut own, mut emb, mut raw, mut rawre) = (Runs::default(), Runs::default(), vec![], vec![]);
    let port = srv.port;
    let per = cfg.drops.div_ceil(cfg.rounds);
    for r in 0..cfg.rounds {
        let order: [u8; 4] = if r % 2 == 0 {
            [0, 1, 2, 3]
        } else {
            [3, 2, 1, 0]
        };
        for v in order {
            match v {
                0 => connman_round(Mode::Threads(1), &mut srv, per, &mut own)?,
                1 => connman_round(Mode::Embedded, &mut srv, per, &mut emb)?,
                2 => {
                    for _ in 0..per {
                        raw.push(baseline::handshake(port)?);
                    }
                }
                _ => {
                    let mut fd = baseline::connect(port, false)?;
                    for _ in 0..per {
                        let (x, next) = baseline::reconnect(&mut srv, fd, HEALTHY_AFTER * 2)?;
                        rawre.push(x);
                        fd = next;
                    }
                }
            }
        }
    }
    crate::support::shutdown_bounded()?;
    let r = sorted(raw.clone());
    let (rm, r99) = (pct(&r, 50.0), pct(&r, 99.0));
    let mut p50s = vec![];
    for (m, runs) in [("own thread", &own), ("embedded", &emb)] {
        let e = sorted(runs.eof_to_up.clone());
        let (m50, m99) = (pct(&e, 50.0), pct(&e, 99.0));
        p50s.push(m50);
        let own_mode = m == "own thread";
        let row = t.row(
            &format!("3 drop: on_reset → on_reconnect, {m}, p50 (vs raw handshake p50)"),
            us(m50),
            us(rm),
            ratio(m50, rm),
            if own_mode { "≤ 2" } else { "-" },
            own_mode.then_some(m50 / rm <= 2.0),
        );
        row.val("connman_ns", m50).val("raw_ns", rm);
        if own_mode {
            row.key("16.3");
        }
        let row = t.row(
            &format!("3 drop: on_reset → on_reconnect, {m}, p99 (vs raw handshake p99)"),
            us(m99),
            us(r99),
            ratio(m99, r99),
            if own_mode { "≤ 3" } else { "-" },
            own_mode.then_some(m99 / r99 <= 3.0),
        );
        row.val("connman_ns", m99).val("raw_ns", r99);
        if own_mode {
            row.key("16.3");
        }
    }
    let rr = sorted(rawre.clone());
    t.row(
        "3 drop: on_reset → on_reconnect, own thread, p50 vs a raw client's reconnect after the same drop (EOF → close, socket, connect, writable)",
        us(p50s[0]),
        us(pct(&rr, 50.0)),
        ratio(p50s[0], pct(&rr, 50.0)),
        "-",
        None,
    )
    .val("connman_ns", p50s[0])
    .val("raw_reconnect_ns", pct(&rr, 50.0))
    .val("raw_reconnect_p99_ns", pct(&rr, 99.0));
    t.row(
        "3 drop → on_reconnect p50: embedded / own thread",
        us(p50s[1]),
        us(p50s[0]),
        ratio(p50s[1], p50s[0]),
        "≤ 1.0",
        Some(p50s[1] <= p50s[0]),
    )
    .key("12.2");
    let c = sorted(own.cmd_to_up.clone());
    t.row(
        "3 drop: server `drop` command → on_reconnect, own thread, p50",
        us(pct(&c, 50.0)),
        "-".into(),
        "-".into(),
        "-",
        None,
    );
    t.series("recovery_own_ns", own.eof_to_up);
    t.series("recovery_embedded_ns", emb.eof_to_up);
    t.series("raw_handshake_ns", raw);
    t.series("raw_reconnect_ns", rawre);
    t.note(format!(
        "3: {} rounds x {per} drops per variant, order rotated (own, embedded, raw / raw, embedded, own), a fresh connection per connman round (server `drop` closes the connection, keeps listening); options healthy_after = 1 ms (the smallest accepted) and each drop comes >= 2 ms after the reconnect, so every drop is of a healthy connection and retried at once; raw handshake = socket() + nonblocking connect + poll until writable. The Node.js original waits 20 ms before its first retry (about 21 ms)",
        cfg.rounds
    ));
    Ok(())
}
