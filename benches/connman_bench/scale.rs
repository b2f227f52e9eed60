//! Metric 4: scale: opening 10,000 connections (against as many raw nonblocking
//! connects), memory per connection, idle CPU, and a restart storm (the server is
//! killed and a new one listens on the same port a second later).

use crate::alloc::{ALLOCS, LIVE_BYTES};
use crate::baseline;
use crate::echo;
use crate::report::{median, pct, ratio, sorted, Table};
use crate::server;
use crate::support::{now_ns, shutdown_bounded, wait_for, Drive, BASE, R};
use crate::system::{listen_overflows, process_cpu, rss_bytes, thread_cpu, thread_tid};
use crate::Cfg;
use connman::{Conn, Handler, Options};
use std::os::fd::RawFd;
use std::process::Command;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::FlakyEcho;

pub(crate) struct ScaleState {
    n: usize,
    /// Connections up right now (on_connect/on_reconnect minus on_reset).
    up: AtomicUsize,
    /// When `up` last reached `n`.
    all_up_ns: AtomicU64,
    connected: AtomicUsize,
    resets: AtomicUsize,
    reconnects: AtomicUsize,
    closed: AtomicUsize,
    last_connect_ns: AtomicU64,
    /// When the n-th on_reset ran.
    all_reset_ns: AtomicU64,
    reco_ns: Vec<AtomicU64>,
    connect_ns: Vec<AtomicU64>,
}

pub(crate) struct ScaleH {
    idx: usize,
    st: Arc<ScaleState>,
}

impl Handler for ScaleH {
    fn on_connect(&self, _c: Conn, _fd: RawFd) {
        let t = now_ns();
        self.st.connect_ns[self.idx].store(t, Relaxed);
        self.st.last_connect_ns.fetch_max(t, Relaxed);
        self.st.connected.fetch_add(1, Relaxed);
        self.st.up.fetch_add(1, Relaxed);
    }
    fn on_reset(&self, _c: Conn) {
        if self.st.resets.fetch_add(1, Relaxed) + 1 == self.st.n {
            self.st.all_reset_ns.store(now_ns(), Relaxed);
        }
        self.st.up.fetch_sub(1, Relaxed);
    }
    fn on_reconnect(&self, _c: Conn, _fd: RawFd) {
        let t = now_ns();
        self.st.reco_ns[self.idx].store(t, Relaxed);
        self.st.reconnects.fetch_add(1, Relaxed);
        if self.st.up.fetch_add(1, Relaxed) + 1 == self.st.n {
            self.st.all_up_ns.store(t, Relaxed);
        }
    }
    fn on_close(&self, _c: Conn) {
        self.st.closed.fetch_add(1, Relaxed);
    }
}

/// One restart storm.
#[derive(Default)]
pub(crate) struct Storm {
    /// Connections.
    n: usize,
    /// From the new server's LISTENING until all were up again.
    all_ms: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// From the kill until every connection had seen on_reset.
    eof_ms: f64,
    attempts_per_conn: f64,
    /// Reconnects to the dying server that were reset again.
    extra_resets: usize,
    overflows: u64,
}

#[derive(Default)]
pub(crate) struct ScaleOut {
    open_ms: Vec<f64>,
    raw_open_ms: Vec<f64>,
    /// Time until 99% were connected.
    open99_ms: Vec<f64>,
    raw_open99_ms: Vec<f64>,
    /// Process CPU (user + system) per connection opened, µs.
    open_cpu_us: Vec<f64>,
    raw_open_cpu_us: Vec<f64>,
    bytes_per_conn: Vec<f64>,
    allocs_per_conn: Vec<f64>,
    rss_per_conn: Vec<f64>,
    bytes_per_conn_late: Vec<f64>,
    storms: Vec<Storm>,
    overflow_open: u64,
    raw_overflow: u64,
    /// The storm-only round near the descriptor limit: open time.
    big_open_ms: f64,
    idle: Vec<(f64, f64, u64, f64)>, // (window s, reactor CPU ms, reactor wakeups, process CPU ms)
    failures: Vec<String>,
}

pub(crate) fn idle_window(win: Duration) -> R<(f64, f64, u64, f64)> {
    let tid = thread_tid("connman-reactor").ok_or("reactor thread not found")?;
    let (c0, w0, p0) = {
        let (c, w) = thread_cpu(tid);
        (c, w, process_cpu())
    };
    std::thread::sleep(win);
    let (c1, w1) = thread_cpu(tid);
    let p1 = process_cpu();
    Ok((
        win.as_secs_f64(),
        (c1 - c0) as f64 / 1e6,
        w1 - w0,
        (p1 - p0).as_secs_f64() * 1e3,
    ))
}

/// One connman round with `n` connections: open, memory, idle (unless `big`),
/// restart storm, shutdown. `big`: the storm-only round near the descriptor limit.
pub(crate) fn connman_scale_round(
    cfg: &Cfg,
    srv: &mut FlakyEcho,
    n: usize,
    round: usize,
    big: bool,
    out: &mut ScaleOut,
) -> R<()> {
    // The big round spreads its connections over two loopback addresses (the
    // server listens on all): one client address has 28,232 ephemeral ports here
    // and the kernel's port search for one destination slows down sharply past
    // half of them (a raw client needs about 5 s to open 19,000 to one address).
    let hosts: &[&str] = if big {
        &["127.0.0.1", "127.0.0.2"]
    } else {
        &["127.0.0.1"]
    };
    let srv_args: &[&str] = if big { &["--host", "0.0.0.0"] } else { &[] };
    let st = Arc::new(ScaleState {
        n,
        up: AtomicUsize::new(0),
        all_up_ns: AtomicU64::new(0),
        connected: AtomicUsize::new(0),
        resets: AtomicUsize::new(0),
        reconnects: AtomicUsize::new(0),
        closed: AtomicUsize::new(0),
        last_connect_ns: AtomicU64::new(0),
        all_reset_ns: AtomicU64::new(0),
        reco_ns: (0..n).map(|_| AtomicU64::new(0)).collect(),
        connect_ns: (0..n).map(|_| AtomicU64::new(0)).collect(),
    });
    // The application's own memory is allocated before the snapshot.
    let handlers: Vec<Arc<dyn Handler>> = (0..n)
        .map(|idx| {
            Arc::new(ScaleH {
                idx,
                st: st.clone(),
            }) as Arc<dyn Handler>
        })
        .collect();
    let mut conns: Vec<Conn> = Vec::with_capacity(n);
    let opts = Options::default();
    let mut storm = Storm {
        n,
        ..Storm::default()
    };
    // One warm connection first, so the runtime (reactor thread, its read
    // buffer, registry tables) exists before the snapshot and is not charged to the n.
    echo::connect(&Drive::Own, srv.port, &opts, "warm")?;
    let ov0 = listen_overflows();
    let (live0, allocs0, rss0) = (LIVE_BYTES.load(Relaxed), ALLOCS.load(Relaxed), rss_bytes());
    let cpu0 = process_cpu();
    let t0 = now_ns();
    for (i, h) in handlers.into_iter().enumerate() {
        conns.push(
            connman::connect(srv.port, hosts[i % hosts.len()], h, &opts)
                .map_err(|e| format!("connect #{}: {e:?}", conns.len()))?,
        );
    }
    if !wait_for(Duration::from_secs(60), || st.connected.load(Relaxed) == n) {
        return Err(format!(
            "only {} of {n} connected within 60 s",
            st.connected.load(Relaxed)
        ));
    }
    let open = (st.last_connect_ns.load(Relaxed) - t0) as f64 / 1e6;
    let conn_times = sorted(
        st.connect_ns
            .iter()
            .map(|x| x.load(Relaxed).saturating_sub(t0) as f64 / 1e6)
            .collect(),
    );
    println!("  connman round {round}: {n} connected in {open:.1} ms");
    if big {
        out.big_open_ms = open;
    } else {
        out.open_cpu_us
            .push((process_cpu() - cpu0).as_secs_f64() * 1e6 / n as f64);
        out.open_ms.push(open);
        out.open99_ms.push(pct(&conn_times, 99.0));
        out.overflow_open += listen_overflows() - ov0;
    }
    std::thread::sleep(Duration::from_millis(100)); // let transient buffers go
    if !big {
        let live1 = LIVE_BYTES.load(Relaxed);
        out.bytes_per_conn.push((live1 - live0) as f64 / n as f64);
        out.allocs_per_conn
            .push((ALLOCS.load(Relaxed) - allocs0) as f64 / n as f64);
        idle_phase(cfg, round, out)?;
        out.bytes_per_conn_late
            .push((LIVE_BYTES.load(Relaxed) - live0) as f64 / n as f64);
        out.rss_per_conn
            .push((rss_bytes() as f64 - rss0 as f64) / n as f64);
    }

    // Restart storm: kill the server, start a new one on the same port after ~1 s.
    // Every connection must have been up longer than healthy_after first, or its
    // drop counts as a flap (normal doubling backoff, no recovery window).
    let up_for = Duration::from_nanos(now_ns().saturating_sub(st.last_connect_ns.load(Relaxed)));
    std::thread::sleep((opts.healthy_after + Duration::from_millis(200)).saturating_sub(up_for));
    let attempts0: u64 = conns
        .iter()
        .filter_map(|c| c.stats().ok())
        .map(|s| s.attempts)
        .sum();
    let ov1 = listen_overflows();
    let port = srv.port;
    if std::env::var_os("CONNMAN_BENCH_DEBUG").is_some() {
        let _ = Command::new("nstat").arg("-n").status();
    }
    let t_kill = now_ns();
    srv.kill();
    // >= : a connection may reconnect to the dying server (its listener still takes
    // handshakes while the kernel tears the process down) and be reset once more.
    if !wait_for(Duration::from_secs(10), || st.resets.load(Relaxed) >= n) {
        out.failures.push(format!(
            "storm: only {} of {n} saw the reset",
            st.resets.load(Relaxed)
        ));
    }
    storm.eof_ms = (st.all_reset_ns.load(Relaxed).saturating_sub(t_kill)) as f64 / 1e6;
    let wake = Duration::from_nanos(t_kill) + cfg.down_for;
    std::thread::sleep(wake.saturating_sub(Duration::from_nanos(now_ns())));
    debug_sockets(port, "before restart");
    *srv = server::spawn_on("echo", port, srv_args)?;
    let t_listen = srv
        .listening_at
        .duration_since(*BASE.get().unwrap())
        .as_nanos() as u64;
    let mut last_dbg = Instant::now();
    if !wait_for(Duration::from_secs(30), || {
        if last_dbg.elapsed() > Duration::from_millis(500) && st.up.load(Relaxed) < n {
            last_dbg = Instant::now();
            debug_sockets(port, &format!("{} up", st.up.load(Relaxed)));
        }
        st.up.load(Relaxed) == n
    }) {
        out.failures.push(format!(
            "storm: only {} of {n} up again within 30 s",
            st.up.load(Relaxed)
        ));
    }
    let times = sorted(
        st.reco_ns
            .iter()
            .map(|x| x.load(Relaxed))
            .filter(|&x| x > 0)
            .map(|x| x.saturating_sub(t_listen) as f64 / 1e6)
            .collect(),
    );
    let all = match st.all_up_ns.load(Relaxed) {
        0 => f64::NAN,
        t => t.saturating_sub(t_listen) as f64 / 1e6,
    };
    println!(
        "  storm: all {} back {:.1} ms after LISTENING (p50 {:.1}, p99 {:.1})",
        times.len(),
        all,
        pct(&times, 50.0),
        pct(&times, 99.0)
    );
    storm.all_ms = all;
    storm.p50_ms = pct(&times, 50.0);
    storm.p99_ms = pct(&times, 99.0);
    storm.overflows = listen_overflows() - ov1;
    let attempts1: u64 = conns
        .iter()
        .filter_map(|c| c.stats().ok())
        .map(|s| s.attempts)
        .sum();
    storm.attempts_per_conn = (attempts1 - attempts0) as f64 / n as f64;
    let never = st.reco_ns.iter().filter(|x| x.load(Relaxed) == 0).count();
    if never > 0 {
        out.failures.push(format!(
            "storm: {never} of {n} connections not back within 30 s"
        ));
    }
    storm.extra_resets = st.resets.load(Relaxed).saturating_sub(n);
    out.storms.push(storm);
    if std::env::var_os("CONNMAN_BENCH_DEBUG").is_some() {
        let _ = Command::new("nstat").status();
        let mut hist: std::collections::BTreeMap<String, usize> = Default::default();
        for (i, c) in conns.iter().enumerate() {
            if st.reco_ns[i].load(Relaxed) == 0 {
                let s = c
                    .stats()
                    .map(|s| {
                        format!(
                            "{:?} err {} fails {} resets {}",
                            s.state, s.last_error, s.consecutive_failures, s.resets
                        )
                    })
                    .unwrap_or_default();
                *hist.entry(s).or_default() += 1;
            }
        }
        println!("  not reconnected: {hist:?}");
    }

    // Tear down: every on_close, bounded.
    shutdown_bounded()?;
    if st.closed.load(Relaxed) != n {
        return Err(format!(
            "{} of {n} on_close after shutdown",
            st.closed.load(Relaxed)
        ));
    }
    Ok(())
}

/// Idle: a short window right away, and (first round, full run) a long one that
/// spans the moment the first connects' 10 s connect timeouts come due.
fn idle_phase(cfg: &Cfg, round: usize, out: &mut ScaleOut) -> R<()> {
    let w = idle_window(cfg.idle_short)?;
    println!(
        "  idle {:.0} s: reactor {:.2} ms CPU, {} wake-ups; process {:.2} ms",
        w.0, w.1, w.2, w.3
    );
    out.idle.push(w);
    if round == 0 && !cfg.idle_long.is_zero() {
        let w = idle_window(cfg.idle_long)?;
        println!(
            "  idle {:.0} s more: reactor {:.2} ms CPU, {} wake-ups; process {:.2} ms",
            w.0, w.1, w.2, w.3
        );
        out.idle.push(w);
    }

    Ok(())
}

/// CONNMAN_BENCH_DEBUG: socket states on `port` (ss), self-connections included.
pub(crate) fn debug_sockets(port: u16, when: &str) {
    if std::env::var_os("CONNMAN_BENCH_DEBUG").is_none() {
        return;
    }
    let out = Command::new("ss")
        .args(["-tan"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let p = format!(":{port}");
    let mut states: std::collections::BTreeMap<String, usize> = Default::default();
    let mut selfc = 0;
    for l in out.lines().skip(1) {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() >= 5 && (f[3].ends_with(&p) || f[4].ends_with(&p)) {
            *states
                .entry(format!(
                    "{}{}",
                    f[0],
                    if f[3].ends_with(&p) { "(srv)" } else { "" }
                ))
                .or_default() += 1;
            if f[3].ends_with(&p) && f[4].ends_with(&p) {
                selfc += 1;
            }
        }
    }
    println!("  sockets on {port} {when}: {states:?}, self-connected {selfc}");
}

pub(crate) fn metric_scale(cfg: &Cfg, t: &mut Table) -> R<()> {
    let nofile = cfg.nofile;
    let n = cfg.scale_n;
    println!(
        "[4] scale: {n} connections, then a storm of {}",
        cfg.storm_big_n
    );
    let mut out = ScaleOut::default();
    // A B B A ... Every round gets a fresh server on a fresh port: the TIME_WAIT
    // sockets an earlier round left towards its port would otherwise make connect()
    // search long for a usable local port and skew the later rounds.
    for r in 0..cfg.scale_rounds {
        let a_first = r % 2 == 0;
        if a_first {
            connman_scale_round(cfg, &mut server::spawn("echo", 0)?, n, r, false, &mut out)?;
        }
        let raw_srv = server::spawn("echo", 0)?;
        let debug = std::env::var_os("CONNMAN_BENCH_DEBUG").is_some();
        let raw = baseline::scale_round(n, raw_srv.port, debug)?;
        drop(raw_srv);
        out.raw_open_ms.push(raw.open_ms);
        out.raw_open_cpu_us.push(raw.cpu_us);
        out.raw_open99_ms.push(raw.open99_ms);
        out.raw_overflow += raw.overflows;
        if !a_first {
            connman_scale_round(cfg, &mut server::spawn("echo", 0)?, n, r, false, &mut out)?;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let big = cfg.storm_big_n;
    if big > 0 {
        if (nofile as usize) < big + 256 + 64 {
            t.note(format!("4: RLIMIT_NOFILE is {nofile}: {big} connections (one descriptor each, plus up to 256 attempt sockets in flight) may hit EMFILE"));
        }
        let r = cfg.scale_rounds;
        let mut srv = server::spawn_with("echo", 0, &["--host", "0.0.0.0"])?;
        connman_scale_round(cfg, &mut srv, big, r, true, &mut out)?;
    }
    let (a, b) = (median(&out.open_ms), median(&out.raw_open_ms));
    let ms = |x: f64| format!("{x:.1} ms");
    t.row(
        &format!("4 open {n} connections until all on_connect (vs raw nonblocking connects with the same socket options)"),
        ms(a),
        ms(b),
        ratio(a, b),
        "≤ 1.2",
        Some(a / b <= 1.2),
    )
    .key("16.6")
    .val("connman_ms", a)
    .val("raw_ms", b);
    let (a99, b99) = (median(&out.open99_ms), median(&out.raw_open99_ms));
    t.row(
        &format!("4 open {n}: time until 99% connected"),
        ms(a99),
        ms(b99),
        ratio(a99, b99),
        "-",
        None,
    );
    let (ac, bc) = (median(&out.open_cpu_us), median(&out.raw_open_cpu_us));
    t.row(
        &format!("4 open {n}: client CPU (user+sys, all threads) per connection"),
        format!("{ac:.1} µs"),
        format!("{bc:.1} µs"),
        ratio(ac, bc),
        "-",
        None,
    )
    .val("connman_us", ac)
    .val("raw_us", bc);
    let bpc = median(&out.bytes_per_conn);
    t.row(
        "4 user-space memory per connection (live heap bytes, counting allocator)",
        format!("{bpc:.0} B ({:.1} allocs)", median(&out.allocs_per_conn)),
        "-".into(),
        "-".into(),
        "-",
        None,
    )
    .val("heap_bytes", bpc);
    let rss = median(&out.rss_per_conn);
    t.row(
        &format!("4 RSS per idle connection ({n} connections, after the idle windows; heap then {:.0} B)", median(&out.bytes_per_conn_late)),
        format!("{rss:.0} B"),
        "-".into(),
        "-".into(),
        "≤ 768 B",
        Some(rss <= 768.0),
    )
    .key("16.5")
    .val("rss_bytes", rss);
    for st in &out.storms {
        let (key, lim) = if st.n == big {
            ("16.4b", 500.0)
        } else {
            ("16.4a", 250.0)
        };
        t.row(
            &format!(
                "4 restart storm, {} connections: all up again, from the new server's LISTENING (p50; p99)",
                st.n
            ),
            format!("{:.1} ms ({:.1}; {:.1})", st.all_ms, st.p50_ms, st.p99_ms),
            "-".into(),
            "-".into(),
            &format!("≤ {lim:.0} ms"),
            Some(st.all_ms <= lim),
        )
        .key(key)
        .val("all_ms", st.all_ms)
        .val("p50_ms", st.p50_ms)
        .val("p99_ms", st.p99_ms);
        t.row(
            &format!(
                "4 restart storm, {} connections: ListenOverflows (network-namespace-wide counter)",
                st.n
            ),
            format!("{}", st.overflows),
            "-".into(),
            "-".into(),
            "0",
            Some(st.overflows == 0),
        )
        .key(key)
        .val("overflows", st.overflows as f64);
    }
    t.row(
        "4 ListenOverflows during the opens (each overflow = a SYN retried after 1 s)",
        format!("{}", out.overflow_open),
        format!("{}", out.raw_overflow),
        "-".into(),
        "-",
        None,
    );
    let idle_cpu: f64 = out.idle.iter().map(|w| w.1).sum();
    let idle_secs: f64 = out.idle.iter().map(|w| w.0).sum();
    let wakeups: u64 = out.idle.iter().map(|w| w.2).sum();
    let detail: Vec<String> = out
        .idle
        .iter()
        .map(|w| format!("{:.1} s: {:.2} ms/{} wake-ups", w.0, w.1, w.2))
        .collect();
    t.row(
        &format!("4 idle reactor CPU with {n} connections"),
        format!(
            "{idle_cpu:.2} ms in {idle_secs:.1} s, {wakeups} wake-ups ({})",
            detail.join("; ")
        ),
        "-".into(),
        "-".into(),
        "0",
        Some(wakeups == 0),
    );
    let storms: Vec<String> = out
        .storms
        .iter()
        .map(|st| {
            format!(
                "{}: all on_reset {:.0} ms after the kill, {:.1} connect attempts per connection, {} reconnects to the dying server reset again",
                st.n, st.eof_ms, st.attempts_per_conn, st.extra_resets
            )
        })
        .collect();
    t.note(format!(
        "4: default options; {} connman and {} raw rounds (A B B A) of {n}, then one connman round of {big} (opened in {:.0} ms; half to 127.0.0.1, half to 127.0.0.2, the server on 0.0.0.0) for the storm only; each on a fresh server and port; the raw client sets connman's default socket options (nodelay, keepalive idle/interval/count, user timeout) on each socket; memory excludes the handlers (made before the snapshot) and the runtime (a warm connection opened first); RSS is measured after the idle windows; idle = the reactor thread's on-CPU time (schedstat) and context switches; the restart kills the server with SIGKILL and starts a new one on the same port {:.1} s later ({}). A dying server's listener still completes handshakes while the kernel closes its sockets, so some connections come up and are reset once more (not a connman bug)",
        out.open_ms.len(),
        out.raw_open_ms.len(),
        out.big_open_ms,
        cfg.down_for.as_secs_f64(),
        storms.join("; ")
    ));
    for f in &out.failures {
        t.note(format!("4 FAILURE: {f}"));
    }
    Ok(())
}
