//! connman against a raw-socket baseline, in one program and one run.
//!
//! `cargo bench --bench connman_bench` runs the full set (a few minutes) and writes
//! `docs/bench/results.json`; `cargo bench --bench connman_bench -- --quick` (or
//! `CONNMAN_BENCH_QUICK=1`) is the smoke mode CI uses (small counts, well under 30 s;
//! its JSON goes to `target/connman_bench/results-quick.json`). Run without cargo's
//! `--bench` argument (e.g. by `cargo test --benches`) it also runs quick.
//! Flags after `--`: `--only 1,3` runs only some metrics; `--strict` exits 1 when a
//! target is missed; `--no-pin` (or `CONNMAN_BENCH_NO_PIN=1`) leaves CPU placement to
//! the scheduler; `--json PATH` writes the JSON elsewhere. `CONNMAN_BENCH_CONNS=N`
//! changes the scale metric's count; `CONNMAN_BENCH_DEBUG=1` adds socket-state and
//! `nstat` dumps around the restart.
//!
//! The echo server is the project's `flaky-echo` (tools/flaky-echo), run as a
//! separate process so that this process's CPU time is the client's own: `FLAKY_ECHO`
//! (a path), else built by `cargo build --release -p flaky-echo` on the first run.
//! With two or more CPUs the server is pinned to CPU 0 and this process to the
//! others, so that every run measures the same cross-CPU case; the throughput
//! metric also runs unpinned (reported with its spread), and the threads metric
//! runs unpinned only (it needs both CPUs for the client).
//!
//! Every metric alternates connman rounds and baseline rounds (A/B, then B/A).
//! Every wait has a deadline, and a watchdog ends the process if the whole run
//! overruns, so the bench never hangs. The background CPU load of other processes is
//! sampled before and after the run and printed with the table.
//!
//! Files: one per metric family (`echo.rs` 1, `throughput.rs` 2, `recovery.rs` 3,
//! `scale.rs` 4, `send.rs` 5, `threads.rs` 6), `baseline.rs` (the raw-socket side of
//! each), and `alloc.rs` (counting allocator), `report.rs` (statistics, the table),
//! `results.rs` (the targets, the JSON), `server.rs` (the echo server process),
//! `support.rs` (clock, waits, library modes), `system.rs` (/proc, CPU placement).
//! Results and their analysis: docs/BENCHMARKS.md; the picture:
//! `python3 tools/plot_bench.py`.

#![deny(unsafe_op_in_unsafe_fn)]

mod alloc;
mod baseline;
mod echo;
mod recovery;
mod report;
mod results;
mod scale;
mod send;
mod server;
mod support;
mod system;
mod threads;
mod throughput;

use report::{Row, Table};
use std::time::{Duration, Instant};
use support::{shutdown_bounded, BASE, R};
use system::{background_load, describe, init_placement, machine, online_cpus};

/// The raw clients' read buffer: the size of connman's (`READ_BUF` in
/// src/runtime/reactor.rs), so both read in the same chunks.
pub(crate) const RAW_BUF: usize = 128 * 1024;

pub(crate) struct Cfg {
    pub(crate) quick: bool,
    pub(crate) rounds: usize,
    pub(crate) echo_n: u64,
    pub(crate) blast_warmup: Duration,
    pub(crate) blast_window: Duration,
    pub(crate) drops: usize,
    pub(crate) scale_n: usize,
    pub(crate) scale_rounds: usize,
    pub(crate) idle_short: Duration,
    pub(crate) idle_long: Duration,
    pub(crate) down_for: Duration,
    pub(crate) send_n: usize,
    /// Storm-only round near the descriptor limit (0: none).
    pub(crate) storm_big_n: usize,
    /// Metric 6: connections, rounds per thread count.
    pub(crate) work_conns: usize,
    pub(crate) work_rounds: usize,
    pub(crate) json: std::path::PathBuf,
    pub(crate) only: Vec<u32>,
    pub(crate) strict: bool,
    pub(crate) pin: bool,
    /// RLIMIT_NOFILE after raising it.
    pub(crate) nofile: u64,
}

impl Cfg {
    fn from_env() -> Cfg {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let env_quick =
            std::env::var("CONNMAN_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        // cargo bench passes --bench; anything else running us (cargo test) gets quick.
        let quick = env_quick
            || args.iter().any(|a| a == "--quick")
            || !args.iter().any(|a| a == "--bench");
        let only = args
            .iter()
            .position(|a| a == "--only")
            .and_then(|i| args.get(i + 1))
            .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
            .unwrap_or_default();
        let strict = args.iter().any(|a| a == "--strict");
        let json = args
            .iter()
            .position(|a| a == "--json")
            .and_then(|i| args.get(i + 1))
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
                if quick {
                    root.join("target/connman_bench/results-quick.json")
                } else {
                    root.join("docs/bench/results.json")
                }
            });
        let pin = !args.iter().any(|a| a == "--no-pin")
            && std::env::var_os("CONNMAN_BENCH_NO_PIN").is_none();
        if quick {
            Cfg {
                quick,
                rounds: 2,
                echo_n: 300,
                blast_warmup: Duration::from_millis(50),
                blast_window: Duration::from_millis(250),
                drops: 30,
                scale_n: 200,
                scale_rounds: 1,
                idle_short: Duration::from_millis(300),
                idle_long: Duration::ZERO,
                down_for: Duration::from_millis(500),
                send_n: 5_000,
                storm_big_n: 380,
                work_conns: 100,
                work_rounds: 1,
                json,
                only,
                strict,
                pin,
                nofile: 0,
            }
        } else {
            Cfg {
                quick,
                rounds: 10,
                echo_n: 3_000,
                blast_warmup: Duration::from_millis(200),
                blast_window: Duration::from_millis(1_000),
                drops: 200,
                scale_n: 10_000,
                scale_rounds: 2,
                idle_short: Duration::from_secs(3),
                // Covers the default 10 s connect timeout of the first connects.
                idle_long: Duration::from_secs(9),
                down_for: Duration::from_secs(1),
                send_n: 200_000,
                storm_big_n: 19_000,
                work_conns: 1_000,
                work_rounds: 3,
                json,
                only,
                strict,
                pin,
                nofile: 0,
            }
        }
    }
    /// `CONNMAN_BENCH_CONNS=N` overrides the scale metric's connection count,
    /// `CONNMAN_BENCH_SCALE_ROUNDS` its rounds, `CONNMAN_BENCH_STORM_N` the count
    /// of its storm-only round (0: none).
    fn with_overrides(mut self) -> Cfg {
        let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse().ok());
        if let Some(n) = env("CONNMAN_BENCH_CONNS") {
            self.scale_n = n;
        }
        if let Some(n) = env("CONNMAN_BENCH_SCALE_ROUNDS") {
            self.scale_rounds = n;
        }
        if let Some(n) = env("CONNMAN_BENCH_STORM_N") {
            self.storm_big_n = n;
        }
        self
    }
    fn want(&self, m: u32) -> bool {
        self.only.is_empty() || self.only.contains(&m)
    }
}

type Metric = fn(&Cfg, &mut Table) -> R<()>;

fn main() {
    BASE.get_or_init(Instant::now);
    let mut cfg = Cfg::from_env().with_overrides();
    // The watchdog: never hang, whatever happens.
    let limit = if cfg.quick {
        Duration::from_secs(90)
    } else {
        Duration::from_secs(20 * 60)
    };
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("connman_bench: watchdog: run exceeded {limit:?}, aborting");
        std::process::exit(3);
    });
    let nofile = testkit::sys::raise_nofile_limit();
    cfg.nofile = nofile;
    let cfg = cfg;
    let ncpu = online_cpus();
    let placement = describe(init_placement(cfg.pin));
    let sysctl = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "?".into())
    };
    println!(
        "connman_bench ({} mode): {}; {placement}; RLIMIT_NOFILE {nofile}; somaxconn {}; tcp_max_syn_backlog {}; server {}",
        if cfg.quick { "quick" } else { "full" },
        machine(),
        sysctl("/proc/sys/net/core/somaxconn"),
        sysctl("/proc/sys/net/ipv4/tcp_max_syn_backlog"),
        testkit::flaky::binary().display()
    );
    let load0 = background_load(Duration::from_millis(if cfg.quick { 200 } else { 1000 }));
    println!(
        "background CPU load before the run: {:.0}% of {ncpu} CPUs",
        load0 * 100.0
    );
    let started = Instant::now();
    let mut t = Table::default();
    t.note(format!("placement: {placement}"));
    let mut errors = vec![];
    let metrics: [(u32, Metric); 6] = [
        (1, echo::metric_echo),
        (2, throughput::metric_blast),
        (3, recovery::metric_recovery),
        (4, scale::metric_scale),
        (5, send::metric_send),
        (6, threads::metric_threads),
    ];
    for (m, f) in metrics {
        if !cfg.want(m) {
            continue;
        }
        if let Err(e) = f(&cfg, &mut t) {
            eprintln!("metric {m} failed: {e}");
            errors.push(format!("metric {m}: {e}"));
        }
        if let Err(e) = shutdown_bounded() {
            errors.push(e);
        }
    }
    let took = started.elapsed();
    let load1 = background_load(Duration::from_millis(if cfg.quick { 200 } else { 1000 }));
    t.note(format!(
        "background CPU load (other processes) just before / after the run: {:.0}% / {:.0}% of {ncpu} CPUs{}",
        load0 * 100.0,
        load1 * 100.0,
        if load0.max(load1) > 0.1 { " -- the machine was busy: treat the ratios with care" } else { "" }
    ));
    t.print();
    results::print_targets(&t, cfg.quick);
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let meta = [
        (
            "date",
            results::command_out("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        ),
        (
            "commit",
            results::command_out(
                "git",
                &[
                    "-C",
                    env!("CARGO_MANIFEST_DIR"),
                    "describe",
                    "--always",
                    "--dirty",
                ],
            ),
        ),
        ("mode", if cfg.quick { "quick" } else { "full" }.to_string()),
        ("machine", machine()),
        ("kernel", results::command_out("uname", &["-r"])),
        ("placement", placement.clone()),
        ("background_load_before", format!("{:.3}", load0)),
        ("background_load_after", format!("{:.3}", load1)),
        ("loadavg_after", loadavg.trim().to_string()),
        (
            "run_seconds",
            format!("{:.1}", started.elapsed().as_secs_f64()),
        ),
    ];
    let json = results::to_json(&t, &meta);
    match cfg.json.parent().map(std::fs::create_dir_all) {
        Some(Err(e)) => errors.push(format!("json: {e}")),
        _ => match std::fs::write(&cfg.json, json) {
            Ok(()) => println!("results: {}", cfg.json.display()),
            Err(e) => errors.push(format!("json {}: {e}", cfg.json.display())),
        },
    }
    println!();
    println!("run took {:.1} s", took.as_secs_f64());
    let missed: Vec<&Row> = t.rows.iter().filter(|r| r.met == Some(false)).collect();
    if !missed.is_empty() {
        println!("missed targets: {}", missed.len());
    }
    if !errors.is_empty() {
        for e in &errors {
            eprintln!("ERROR: {e}");
        }
        std::process::exit(1);
    }
    if cfg.strict && !missed.is_empty() {
        std::process::exit(1);
    }
}
