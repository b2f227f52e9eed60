//! Metric 1: echo round trip of 64 bytes, callback-driven: the next ping is written
//! from inside on_data (to the raw descriptor, or with `conn.send`), against the
//! same loop on raw sockets.

use crate::alloc::ALLOCS;
use crate::baseline;
use crate::report::{joined, median, pct, ratio, sorted, us, Table};
use crate::server;
use crate::support::{now_ns, Signal, R};
use crate::Cfg;
use connman::{Conn, Handler, Options};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::epoll::{self, Epoll};

pub(crate) const MSG: usize = 64;
pub(crate) static PING: [u8; MSG] = [b'p'; MSG];

#[derive(Default)]
pub(crate) struct EchoState {
    fd: AtomicI32,
    pub(crate) up: Signal,
    pub(crate) closed: Signal,
    pending: AtomicUsize,
    done: AtomicU64,
    target: AtomicU64,
    via_send: AtomicBool,
    fin: Signal,
    failed: AtomicU64,
    resets: AtomicU64,
    /// When the ping in flight was written (now_ns).
    sent_ns: AtomicU64,
    /// Round-trip samples (ns) of the current round; capacity reserved up front.
    rtts: Mutex<Vec<u32>>,
}

pub(crate) struct EchoH(pub(crate) Arc<EchoState>);

/// A connection to 127.0.0.1:`port` with an [`EchoH`] handler, once it is up.
pub(crate) fn connect(port: u16, opts: &Options, what: &str) -> R<(Conn, Arc<EchoState>)> {
    let st = Arc::new(EchoState::default());
    let conn = connman::connect(port, "127.0.0.1", Arc::new(EchoH(st.clone())), opts)
        .map_err(|e| format!("{what} connect: {e:?}"))?;
    if !st.up.wait(Duration::from_secs(5)) {
        return Err(format!("{what} connection not up"));
    }
    Ok((conn, st))
}

impl Handler for EchoH {
    fn on_connect(&self, _c: Conn, fd: RawFd) {
        self.0.fd.store(fd, Relaxed);
        self.0.up.set();
    }
    fn on_reset(&self, _c: Conn) {
        self.0.resets.fetch_add(1, Relaxed);
    }
    fn on_data(&self, c: Conn, d: &[u8]) {
        let s = &*self.0;
        let mut got = s.pending.load(Relaxed) + d.len();
        let target = s.target.load(Relaxed);
        while got >= MSG {
            got -= MSG;
            let now = now_ns();
            if let Ok(mut v) = s.rtts.lock() {
                v.push(now.saturating_sub(s.sent_ns.load(Relaxed)) as u32);
            }
            let n = s.done.fetch_add(1, Relaxed) + 1;
            if n < target {
                s.sent_ns.store(now, Relaxed);
                let ok = if s.via_send.load(Relaxed) {
                    c.send(&PING).is_ok()
                } else {
                    matches!(baseline::send(s.fd.load(Relaxed), &PING), Ok(MSG))
                };
                if !ok {
                    s.failed.fetch_add(1, Relaxed);
                    s.fin.set();
                }
            } else if n == target {
                s.fin.set();
            }
        }
        s.pending.store(got, Relaxed);
    }
    fn on_close(&self, _c: Conn) {
        self.0.closed.set();
    }
}

/// Mean round trip (ns) of `n` callback-driven pings through connman.
pub(crate) fn connman_echo_round(
    conn: Conn,
    st: &EchoState,
    n: u64,
    via_send: bool,
    samples: &mut Vec<u32>,
) -> R<f64> {
    {
        let mut v = st.rtts.lock().unwrap();
        v.clear();
        v.reserve(n as usize);
    }
    st.via_send.store(via_send, Relaxed);
    st.pending.store(0, Relaxed);
    st.done.store(0, Relaxed);
    st.target.store(n, Relaxed);
    st.fin.clear();
    let t0 = Instant::now();
    st.sent_ns.store(now_ns(), Relaxed);
    let ok = if via_send {
        conn.send(&PING).is_ok()
    } else {
        matches!(baseline::send(st.fd.load(Relaxed), &PING), Ok(MSG))
    };
    if !ok {
        return Err("first ping failed".into());
    }
    if !st.fin.wait(Duration::from_secs(30)) {
        return Err(format!(
            "echo round timed out after {} of {n}",
            st.done.load(Relaxed)
        ));
    }
    let el = t0.elapsed();
    if st.failed.load(Relaxed) > 0 || st.done.load(Relaxed) != n {
        return Err("echo round failed (send error or extra data)".into());
    }
    samples.extend(st.rtts.lock().unwrap().drain(..));
    Ok(el.as_nanos() as f64 / n as f64)
}

pub(crate) fn metric_echo(cfg: &Cfg, t: &mut Table) -> R<()> {
    println!("[1] echo round trip, {MSG} B, callback-driven");
    let srv = server::spawn("echo", 0)?;
    let (conn, st) = connect(srv.port, &Options::default(), "echo")?;
    let raw = baseline::connect(srv.port, true)?;
    let fd = raw.as_raw_fd();
    let ep = Epoll::new().map_err(|e| format!("epoll: {e}"))?;
    ep.add(fd, epoll::IN, 1)
        .map_err(|e| format!("epoll_ctl: {e}"))?;
    let mut buf = vec![0u8; 256 * 1024]; // connman's read buffer size
    let n = cfg.echo_n;
    let total = cfg.rounds * n as usize;
    // Every buffer is sized up front, so the allocation count below is the library's.
    st.rtts.lock().unwrap().reserve(n as usize);
    let (mut s_fd, mut s_send, mut s_raw) = (
        Vec::with_capacity(total + n as usize),
        Vec::with_capacity(total),
        Vec::with_capacity(2 * total + n as usize),
    );
    // Warm-up of both paths (samples dropped).
    connman_echo_round(conn, &st, n / 10 + 1, false, &mut s_fd)?;
    baseline::echo_round(fd, &ep, &mut buf, &PING, n / 10 + 1, &mut s_raw)?;
    s_fd.clear();
    s_raw.clear();
    let (mut a_fd, mut a_send, mut b) = (vec![], vec![], vec![]);
    let mut allocs = 0u64;
    for r in 0..cfg.rounds {
        let mut run_a = || -> R<()> {
            let al = ALLOCS.load(Relaxed);
            a_fd.push(connman_echo_round(conn, &st, n, false, &mut s_fd)?);
            a_send.push(connman_echo_round(conn, &st, n, true, &mut s_send)?);
            allocs += ALLOCS.load(Relaxed) - al;
            Ok(())
        };
        if r % 2 == 0 {
            run_a()?;
            b.push(baseline::echo_round(
                fd, &ep, &mut buf, &PING, n, &mut s_raw,
            )?);
            b.push(baseline::echo_round(
                fd, &ep, &mut buf, &PING, n, &mut s_raw,
            )?);
        } else {
            b.push(baseline::echo_round(
                fd, &ep, &mut buf, &PING, n, &mut s_raw,
            )?);
            b.push(baseline::echo_round(
                fd, &ep, &mut buf, &PING, n, &mut s_raw,
            )?);
            run_a()?;
        }
    }
    drop(raw);
    let _ = conn.disconnect();
    st.closed.wait(Duration::from_secs(5));
    let usv = |v: &[f64]| joined(v, 1e3, 1);
    println!(
        "  round means (µs): connman fd {}; connman send {}; raw {}",
        usv(&a_fd),
        usv(&a_send),
        usv(&b)
    );
    let f = |v: &[u32]| sorted(v.iter().map(|&x| x as f64).collect());
    let (s_fd, s_send, s_raw) = (f(&s_fd), f(&s_send), f(&s_raw));
    let (mfd, msend, mb) = (pct(&s_fd, 50.0), pct(&s_send, 50.0), pct(&s_raw, 50.0));
    let p99 = |v: &[f64]| us(pct(v, 99.0));
    t.row(
        "1a echo RTT 64 B, next ping written to the raw fd in on_data (median round trip; p99)",
        format!("{} ({})", us(mfd), p99(&s_fd)),
        format!("{} ({})", us(mb), p99(&s_raw)),
        ratio(mfd, mb),
        "≤ 1.05",
        Some(mfd / mb <= 1.05),
    );
    t.row(
        "1b echo RTT 64 B, next ping by conn.send in on_data (median round trip; p99)",
        format!("{} ({})", us(msend), p99(&s_send)),
        format!("{} ({})", us(mb), p99(&s_raw)),
        ratio(msend, mb),
        "≤ 1.05",
        Some(msend / mb <= 1.05),
    );
    t.note(format!(
        "1: {} rounds x {n} round trips per variant, alternating connman/raw, every round trip timed; median of round means: connman fd {} / send {} vs raw {}; raw = own epoll loop on one thread (one recv per wake-up, as the reactor), TCP_NODELAY like connman; {:.3} allocations per connman round trip",
        cfg.rounds,
        us(median(&a_fd)),
        us(median(&a_send)),
        us(median(&b)),
        allocs as f64 / (2 * total) as f64
    ));
    Ok(())
}
