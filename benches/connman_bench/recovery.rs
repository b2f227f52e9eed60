//! Metric 3: recovery after the server drops a connection (and keeps listening):
//! on_reset to on_reconnect, against one raw handshake.

use crate::baseline;
use crate::report::{pct, ratio, sorted, us, Table};
use crate::server;
use crate::support::{now_ns, wait_for, Signal, R};
use crate::Cfg;
use connman::{Conn, Handler, Options};
use std::os::fd::RawFd;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

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

pub(crate) fn metric_recovery(cfg: &Cfg, t: &mut Table) -> R<()> {
    println!("[3] recovery after a server-side drop");
    let mut srv = server::spawn("echo", 0)?;
    let st = Arc::new(DropState::default());
    let opts = Options {
        // The smallest the library takes (zero is refused: hot-loop guard).
        healthy_after: HEALTHY_AFTER,
        ..Options::default()
    };
    let conn = connman::connect(srv.port, "127.0.0.1", Arc::new(DropH(st.clone())), &opts)
        .map_err(|e| format!("connect: {e:?}"))?;
    if !st.up.wait(Duration::from_secs(5)) {
        return Err("recovery connection not up".into());
    }
    let (mut eof_to_up, mut cmd_to_up, mut raw) = (vec![], vec![], vec![]);
    let port = srv.port;
    for i in 0..cfg.drops {
        let mut drop_once = || -> R<()> {
            // Let the connection be up longer than healthy_after, so the drop
            // counts as one of a healthy connection (retried at once).
            std::thread::sleep(HEALTHY_AFTER * 2);
            let before = st.reconnects.load(Relaxed);
            let t_cmd = now_ns();
            srv.cmd("drop")?;
            if !wait_for(Duration::from_secs(5), || {
                st.reconnects.load(Relaxed) > before
            }) {
                return Err(format!("no on_reconnect within 5 s after drop {i}"));
            }
            let (rs, rc) = (st.reset_ns.load(Relaxed), st.reco_ns.load(Relaxed));
            eof_to_up.push(rc.saturating_sub(rs) as f64);
            cmd_to_up.push(rc.saturating_sub(t_cmd) as f64);
            Ok(())
        };
        if i % 2 == 0 {
            drop_once()?;
            raw.push(baseline::handshake(port)?);
        } else {
            raw.push(baseline::handshake(port)?);
            drop_once()?;
        }
    }
    let _ = conn.disconnect();
    st.closed.wait(Duration::from_secs(5));
    let (e, c, r) = (sorted(eof_to_up), sorted(cmd_to_up), sorted(raw));
    let (m, p99, rm) = (pct(&e, 50.0), pct(&e, 99.0), pct(&r, 50.0));
    t.row(
        "3 recovery on_reset → on_reconnect, median (vs raw handshake median)",
        us(m),
        us(rm),
        ratio(m, rm),
        "median ≤ 150 µs",
        Some(m <= 150_000.0),
    );
    t.row(
        "3 recovery on_reset → on_reconnect, p99 (vs raw handshake p99)",
        us(p99),
        us(pct(&r, 99.0)),
        ratio(p99, pct(&r, 99.0)),
        "-",
        None,
    );
    t.row(
        "3 recovery server `drop` command → on_reconnect, median",
        us(pct(&c, 50.0)),
        "-".into(),
        "-".into(),
        "-",
        None,
    );
    t.note(format!(
        "3: {} drops (server `drop` closes the connection, keeps listening); options healthy_after = 1 ms (the smallest accepted) and each drop comes >= 2 ms after the reconnect, so every drop is of a healthy connection and retried at once (with the default 1 s, a connection dropped sooner backs off 5-10 ms first); raw handshake = socket() + nonblocking connect + poll until writable",
        cfg.drops
    ));
    Ok(())
}
