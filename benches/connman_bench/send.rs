//! Metric 5: `conn.send` of 64-byte messages against raw `send()`, the server
//! sinking everything.

use crate::alloc::ALLOCS;
use crate::baseline;
use crate::echo::{self, PING};
use crate::report::{median, ratio, Table};
use crate::server;
use crate::support::{wait_for, Drive, R};
use crate::Cfg;
use connman::Options;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// Bytes the kernel still holds in `fd`'s send queue (unsent or unacknowledged).
pub(crate) fn outq(fd: RawFd) -> i32 {
    let mut n: libc::c_int = 0;
    // SAFETY: TIOCOUTQ writes one int through a live pointer.
    unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut n) };
    n
}

/// Messages per timed burst: small enough that the socket buffers never fill, so
/// both sides measure the direct path (one send(2) per call), not backpressure.
pub(crate) const SEND_BURST: usize = 256;

/// Times `n` calls of `send_one` in bursts of [`SEND_BURST`]; between bursts (not
/// timed) waits until `drained` says the kernel and any queue are empty.
pub(crate) fn timed_bursts(
    n: usize,
    mut send_one: impl FnMut() -> R<()>,
    mut drained: impl FnMut() -> bool,
) -> R<f64> {
    let mut timed = Duration::ZERO;
    let mut done = 0;
    while done < n {
        let k = SEND_BURST.min(n - done);
        let t0 = Instant::now();
        for _ in 0..k {
            send_one()?;
        }
        timed += t0.elapsed();
        done += k;
        if !wait_for(Duration::from_secs(10), &mut drained) {
            return Err("send queue did not drain within 10 s".into());
        }
    }
    Ok(timed.as_nanos() as f64 / n as f64)
}

pub(crate) fn metric_send(cfg: &Cfg, t: &mut Table) -> R<()> {
    println!("[5] send 64 B: conn.send vs raw send()");
    let srv = server::spawn("sink", 0)?;
    let (conn, st) = echo::connect(&Drive::Own, srv.port, &Options::default(), "send")?;
    let cfd = conn.fd().map_err(|e| format!("{e:?}"))?;
    let raw = baseline::connect(srv.port, true)?;
    let fd = raw.as_raw_fd();
    let n = cfg.send_n;
    let (mut would_block, mut eagain) = (0u64, 0u64);
    let mut a_round = || {
        timed_bursts(
            n,
            || loop {
                match conn.send(&PING) {
                    Ok(()) => return Ok(()),
                    Err(connman::Error::WouldBlock) => {
                        would_block += 1;
                        std::thread::sleep(Duration::from_micros(50));
                    }
                    Err(e) => return Err(format!("conn.send: {e:?}")),
                }
            },
            || outq(cfd) == 0 && conn.stats().is_ok_and(|s| s.send_queue_bytes == 0),
        )
    };
    let mut b_round = || {
        timed_bursts(
            n,
            || baseline::send_one(fd, &PING, &mut eagain),
            || outq(fd) == 0,
        )
    };
    let (mut a, mut b) = (vec![], vec![]);
    let al0 = ALLOCS.load(Relaxed);
    for r in 0..cfg.rounds {
        if r % 2 == 0 {
            a.push(a_round()?);
            b.push(b_round()?);
        } else {
            b.push(b_round()?);
            a.push(a_round()?);
        }
    }
    let allocs = ALLOCS.load(Relaxed) - al0;
    drop(raw);
    let _ = conn.disconnect();
    st.closed.wait(Duration::from_secs(5));
    println!("  per round (ns): connman {a:.0?}; raw {b:.0?}");
    let (ma, mb) = (median(&a), median(&b));
    let ns = |x: f64| format!("{x:.0} ns");
    t.row(
        "5 send 64 B per call, server sinking (median of rounds)",
        ns(ma),
        ns(mb),
        ratio(ma, mb),
        "≤ 1.05",
        Some(ma / mb <= 1.05),
    );
    t.note(format!(
        "5: {} rounds x {n} sends from the main thread, alternating, timed in bursts of {SEND_BURST} with the socket drained (TIOCOUTQ = 0) between bursts, so both take the direct path; raw = send(MSG_NOSIGNAL|MSG_DONTWAIT) on a TCP_NODELAY socket; {would_block} WouldBlock (connman) / {eagain} EAGAIN (raw); {:.3} allocations per send",
        cfg.rounds,
        allocs as f64 / (2 * cfg.rounds * n) as f64,
    ));
    Ok(())
}
