//! Metric 1: echo round trip of 64 bytes, callback-driven: the next ping is written
//! from inside on_data (to the raw descriptor, or with `conn.send`), with connman on
//! its own thread and embedded (the bench's poll loop dispatching on this thread),
//! against the same loop on raw sockets.

use crate::alloc::ALLOCS;
use crate::baseline;
use crate::report::{joined, median, pct, ratio, sorted, us, Table};
use crate::server;
use crate::support::{now_ns, Drive, Mode, Signal, R};
use crate::Cfg;
use crate::RAW_BUF;
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
pub(crate) fn connect(
    drive: &Drive,
    port: u16,
    opts: &Options,
    what: &str,
) -> R<(Conn, Arc<EchoState>)> {
    let st = Arc::new(EchoState::default());
    let conn = connman::connect(port, "127.0.0.1", Arc::new(EchoH(st.clone())), opts)
        .map_err(|e| format!("{what} connect: {e:?}"))?;
    if !drive.wait(&st.up, Duration::from_secs(5)) {
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
    drive: &Drive,
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
    if !drive.wait(&st.fin, Duration::from_secs(30)) {
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

/// Round-trip samples and round means of one connman mode.
#[derive(Default)]
struct ModeRuns {
    fd: Vec<u32>,
    send: Vec<u32>,
    fd_means: Vec<f64>,
    send_means: Vec<f64>,
    allocs: u64,
}

/// One round of a connman mode: a fresh connection, a warm-up, `n` pings written
/// to the fd and `n` by conn.send, then disconnect.
fn connman_round(mode: Mode, port: u16, n: u64, out: &mut ModeRuns) -> R<()> {
    let drive = mode.enter()?;
    let what = format!("echo ({})", mode.name());
    let (conn, st) = connect(&drive, port, &Options::default(), &what)?;
    let mut scratch = Vec::with_capacity(n as usize);
    st.rtts.lock().unwrap().reserve(n as usize);
    connman_echo_round(&drive, conn, &st, n / 10 + 1, false, &mut scratch)?;
    let al = ALLOCS.load(Relaxed);
    out.fd_means.push(connman_echo_round(
        &drive,
        conn,
        &st,
        n,
        false,
        &mut out.fd,
    )?);
    out.send_means.push(connman_echo_round(
        &drive,
        conn,
        &st,
        n,
        true,
        &mut out.send,
    )?);
    out.allocs += ALLOCS.load(Relaxed) - al;
    let _ = conn.disconnect();
    if !drive.wait(&st.closed, Duration::from_secs(5)) {
        return Err(format!("{what}: no on_close"));
    }
    Ok(())
}

pub(crate) fn metric_echo(cfg: &Cfg, t: &mut Table) -> R<()> {
    println!("[1] echo round trip, {MSG} B, callback-driven: own thread, embedded, raw");
    let srv = server::spawn("echo", 0)?;
    let raw = baseline::connect(srv.port, true)?;
    let fd = raw.as_raw_fd();
    let ep = Epoll::new().map_err(|e| format!("epoll: {e}"))?;
    ep.add(fd, epoll::IN, 1)
        .map_err(|e| format!("epoll_ctl: {e}"))?;
    let mut buf = vec![0u8; RAW_BUF];
    let n = cfg.echo_n;
    let total = cfg.rounds * n as usize;
    let (mut own, mut emb) = (ModeRuns::default(), ModeRuns::default());
    for m in [&mut own, &mut emb] {
        m.fd.reserve(total);
        m.send.reserve(total);
    }
    let mut s_raw = Vec::with_capacity(2 * total + n as usize);
    baseline::echo_round(fd, &ep, &mut buf, &PING, n / 10 + 1, &mut s_raw)?;
    s_raw.clear();
    let mut b = vec![];
    // Rounds rotate the order: own, embedded, raw; then raw, embedded, own.
    for r in 0..cfg.rounds {
        let order: [u8; 3] = if r % 2 == 0 { [0, 1, 2] } else { [2, 1, 0] };
        for v in order {
            match v {
                0 => connman_round(Mode::Threads(1), srv.port, n, &mut own)?,
                1 => connman_round(Mode::Embedded, srv.port, n, &mut emb)?,
                _ => {
                    for _ in 0..2 {
                        b.push(baseline::echo_round(
                            fd, &ep, &mut buf, &PING, n, &mut s_raw,
                        )?);
                    }
                }
            }
        }
    }
    crate::support::shutdown_bounded()?;
    drop(raw);
    let usv = |v: &[f64]| joined(v, 1e3, 1);
    println!(
        "  round means (µs): own fd {}; own send {}; embedded fd {}; embedded send {}; raw {}",
        usv(&own.fd_means),
        usv(&own.send_means),
        usv(&emb.fd_means),
        usv(&emb.send_means),
        usv(&b)
    );
    let f = |v: &[u32]| sorted(v.iter().map(|&x| x as f64).collect());
    let s_raw = f(&s_raw);
    let mb = pct(&s_raw, 50.0);
    let p99 = |v: &[f64]| us(pct(v, 99.0));
    let raw_s = format!("{} ({})", us(mb), p99(&s_raw));
    let mut medians = vec![];
    for (m, runs, key, lim) in [
        ("own thread", &own, "16.2", 1.03),
        ("embedded", &emb, "16.2e", 1.0),
    ] {
        for (how, s) in [
            ("written to the raw fd", &runs.fd),
            ("by conn.send", &runs.send),
        ] {
            let s = f(s);
            let med = pct(&s, 50.0);
            medians.push(med);
            t.row(
                &format!("1 echo RTT 64 B, {m}, next ping {how} in on_data (median; p99)"),
                format!("{} ({})", us(med), p99(&s)),
                raw_s.clone(),
                ratio(med, mb),
                &format!("≤ {lim:.2}"),
                Some(med / mb <= lim),
            )
            .key(key)
            .val("connman_ns", med)
            .val("raw_ns", mb)
            .val("connman_p99_ns", pct(&s, 99.0))
            .val("raw_p99_ns", pct(&s_raw, 99.0));
        }
    }
    // Embedded against own thread, fd and send variants.
    let (e_vs_o_fd, e_vs_o_send) = (medians[2] / medians[0], medians[3] / medians[1]);
    t.row(
        "1 echo RTT: embedded / own thread (fd; send)",
        format!("{}; {}", us(medians[2]), us(medians[3])),
        format!("{}; {}", us(medians[0]), us(medians[1])),
        format!("{e_vs_o_fd:.3}; {e_vs_o_send:.3}"),
        "≤ 1.0",
        Some(e_vs_o_fd <= 1.0 && e_vs_o_send <= 1.0),
    )
    .key("12.1")
    .val("fd_ratio", e_vs_o_fd)
    .val("send_ratio", e_vs_o_send);
    t.note(format!(
        "1: {} rounds x {n} round trips per variant, order rotated each round (own, embedded, raw / raw, embedded, own), a fresh connection per connman round, every round trip timed; median of round means: own fd {} / send {}, embedded fd {} / send {}, raw {}; raw = own epoll loop on one thread (one recv per wake-up, as the reactor), TCP_NODELAY like connman; {:.3} allocations per own-thread round trip",
        cfg.rounds,
        us(median(&own.fd_means)),
        us(median(&own.send_means)),
        us(median(&emb.fd_means)),
        us(median(&emb.send_means)),
        us(median(&b)),
        own.allocs as f64 / (2 * total) as f64
    ));
    Ok(())
}
