//! Metric 6 (issue 12): many connections whose callbacks do real work, on 1 and on
//! 2 connman threads. The load is generated before it is needed: the server greets
//! every connection with 64 KiB at accept and then only reads (`--greeting`, mode
//! `sink`), so while the client works the server does nothing and the comparison
//! is about the client alone (a server that streamed data would compete for the
//! same two CPUs). Each 256-byte record costs a fixed amount of CPU in on_data
//! (a hash, about 3 µs); the figure is records handled per second, from the first
//! on_data to the last record. Nothing is pinned: both connman threads may use
//! both CPUs.

use crate::report::{joined, median, ratio, Table};
use crate::server;
use crate::support::{now_ns, wait_for, Mode, R};
use crate::system::{place, Placement};
use crate::Cfg;
use connman::{Conn, Handler, Options};
use std::hint::black_box;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes per record.
pub(crate) const REC: usize = 256;

#[derive(Default)]
struct WorkState {
    up: AtomicUsize,
    closed: AtomicUsize,
    records: AtomicU64,
    /// now_ns of the first and of the latest on_data.
    first_ns: AtomicU64,
    last_ns: AtomicU64,
    /// Keeps the work from being optimised away.
    sink: AtomicU64,
}

struct WorkH {
    st: Arc<WorkState>,
    /// Bytes of a record begun in an earlier on_data.
    pending: AtomicUsize,
    rounds: u32,
}

/// The work per record: `rounds` passes of FNV-1a over it.
fn work(rec: &[u8], rounds: u32) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for _ in 0..rounds {
        for &b in rec {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

impl Handler for WorkH {
    fn on_connect(&self, _c: Conn, _fd: RawFd) {
        self.st.up.fetch_add(1, Relaxed);
    }
    fn on_data(&self, _c: Conn, d: &[u8]) {
        let _ = self
            .st
            .first_ns
            .compare_exchange(0, now_ns(), Relaxed, Relaxed);
        let got = self.pending.load(Relaxed) + d.len();
        let k = got / REC;
        self.pending.store(got % REC, Relaxed);
        let mut h = 0;
        for i in 0..k {
            let at = (i * REC) % d.len().max(1);
            let rec = &d[at..d.len().min(at + REC)];
            h ^= work(black_box(rec), self.rounds);
        }
        self.st.sink.fetch_xor(h, Relaxed);
        self.st.records.fetch_add(k as u64, Relaxed);
        self.st.last_ns.fetch_max(now_ns(), Relaxed);
    }
    fn on_close(&self, _c: Conn) {
        self.st.closed.fetch_add(1, Relaxed);
    }
}

/// Passes of `work` that take about `target` per record on this machine.
fn calibrate(target: Duration) -> (u32, f64) {
    let rec = [7u8; REC];
    let per = |rounds: u32| {
        let t0 = Instant::now();
        for _ in 0..2_000 {
            black_box(work(black_box(&rec), rounds));
        }
        t0.elapsed().as_secs_f64() / 2_000.0
    };
    let one = (0..5).map(|_| per(1)).fold(f64::INFINITY, f64::min);
    let rounds = ((target.as_secs_f64() / one).round() as u32).max(1);
    (rounds, per(rounds))
}

/// Greeting bytes per connection (one argument; the kernel takes up to 128 KiB).
const GREETING: usize = 64 * 1024;

/// Records per second from the first on_data to the last record, and the
/// server's CPU share over that time.
fn round(mode: Mode, n: usize, port: u16, server_pid: i32, rounds: u32) -> R<(f64, f64)> {
    mode.enter()?;
    let st = Arc::new(WorkState::default());
    let want = (n * GREETING / REC) as u64;
    let s0 = proc_cpu(server_pid);
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let h = Arc::new(WorkH {
            st: st.clone(),
            pending: AtomicUsize::new(0),
            rounds,
        });
        conns.push(
            connman::connect(port, "127.0.0.1", h, &Options::default())
                .map_err(|e| format!("connect: {e:?}"))?,
        );
    }
    let done = wait_for(Duration::from_secs(60), || st.records.load(Relaxed) >= want);
    let s1 = proc_cpu(server_pid);
    crate::support::shutdown_bounded()?;
    if !done {
        return Err(format!(
            "{} of {want} records in 60 s",
            st.records.load(Relaxed)
        ));
    }
    if st.closed.load(Relaxed) != n {
        return Err(format!("{} of {n} on_close", st.closed.load(Relaxed)));
    }
    let secs = (st.last_ns.load(Relaxed) - st.first_ns.load(Relaxed)) as f64 / 1e9;
    Ok((want as f64 / secs, (s1 - s0) / secs))
}

/// CPU seconds (user + system) of process `pid` so far, from /proc.
fn proc_cpu(pid: i32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name is in parentheses and may hold spaces: split after it.
    // After it, field 3 (the state) comes first, so utime (14) is at 11.
    let rest = s.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // SAFETY: plain libc query.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    f.get(11).zip(f.get(12)).map_or(0.0, |(u, s)| (u + s) / hz)
}

pub(crate) fn metric_threads(cfg: &Cfg, t: &mut Table) -> R<()> {
    let n = cfg.work_conns;
    let (rounds, per_rec) = calibrate(Duration::from_micros(3));
    println!(
        "[6] {n} connections, {:.2} µs of work per {REC}-byte record: 1 vs 2 threads",
        per_rec * 1e6
    );
    crate::support::shutdown_bounded()?;
    let placed = place(Placement::Free);
    let res = (|| -> R<_> {
        let greeting = "x".repeat(GREETING);
        let srv = server::spawn_with("sink", 0, &["--greeting", &greeting])?;
        let (mut one, mut two, mut srv_cpu) = (vec![], vec![], vec![]);
        for r in 0..cfg.work_rounds {
            let order = if r % 2 == 0 { [1, 2] } else { [2, 1] };
            for th in order {
                let (x, s) = round(Mode::Threads(th), n, srv.port, srv.pid(), rounds)?;
                println!(
                    "  {th} thread(s): {:.0} records/s, server {:.0}% of a CPU",
                    x,
                    s * 100.0
                );
                srv_cpu.push(s);
                if th == 1 {
                    one.push(x)
                } else {
                    two.push(x)
                }
            }
        }
        Ok((one, two, srv_cpu))
    })();
    place(Placement::Pinned);
    let (one, two, srv_cpu) = res?;
    let (m1, m2) = (median(&one), median(&two));
    let k = |x: f64| format!("{:.0} k records/s", x / 1e3);
    t.row(
        &format!(
            "6 {n} connections, {:.1} µs of work per record: 2 threads vs 1 (median of rounds)",
            per_rec * 1e6
        ),
        k(m2),
        k(m1),
        ratio(m2, m1),
        "≥ 1.7",
        Some(m2 / m1 >= 1.7),
    )
    .key("12.3")
    .val("two_threads_rps", m2)
    .val("one_thread_rps", m1);
    t.note(format!(
        "6: {} rounds per thread count (1, 2 / 2, 1), a fresh runtime and {n} fresh connections per round, each greeted with {} KiB ({} records in all); placement: {placed:?} (nothing pinned); records/s per round: 1 thread {}, 2 threads {} (k); the server used {:.0}% of one CPU (median over rounds)",
        cfg.work_rounds,
        GREETING / 1024,
        n * GREETING / REC,
        joined(&one, 1e3, 0),
        joined(&two, 1e3, 0),
        median(&srv_cpu) * 100.0
    ));
    Ok(())
}
