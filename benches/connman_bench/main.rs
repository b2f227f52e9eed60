//! connman against a raw-socket baseline, in one program and one run.
//!
//! `cargo bench --bench connman_bench` runs the full set (about two minutes);
//! `cargo bench --bench connman_bench -- --quick` (or `CONNMAN_BENCH_QUICK=1`) is the
//! smoke mode CI uses (small counts, well under 20 s). Run without cargo's `--bench`
//! argument (e.g. by `cargo test --benches`) it also runs quick.
//! Flags after `--`: `--only 1,3` runs only some metrics; `--strict` exits 1 when a
//! target is missed; `--no-pin` (or `CONNMAN_BENCH_NO_PIN=1`) leaves CPU placement to
//! the scheduler. `CONNMAN_BENCH_CONNS=N` changes the scale metric's count;
//! `CONNMAN_BENCH_DEBUG=1` adds socket-state and `nstat` dumps around the restart.
//!
//! The echo server is the project's `flaky-echo` binary, run as a separate process so
//! that this process's CPU time is the client's own. It is found through `FLAKY_ECHO`
//! (a path), else cargo's `CARGO_BIN_EXE_flaky-echo`, else next to the bench
//! executable's target dir (target/release/flaky-echo). With two or more CPUs the
//! server is pinned to CPU 0 and this process to the others, so that every run
//! measures the same cross-CPU case.
//!
//! Every metric alternates connman rounds and baseline rounds (A/B, then B/A).
//! Every wait has a deadline, and a watchdog ends the process if the whole run
//! overruns, so the bench never hangs. The background CPU load of other processes is
//! sampled before and after the run and printed with the table.

use connman::{Conn, Handler, Options};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, AtomicUsize};
use std::sync::{mpsc, Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// A counting global allocator: live bytes and number of allocations.

struct Counting;
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to the system allocator unchanged and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(l.size() as i64, Relaxed);
            ALLOCS.fetch_add(1, Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(l.size() as i64, Relaxed);
            ALLOCS.fetch_add(1, Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(p, l) };
        LIVE_BYTES.fetch_sub(l.size() as i64, Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // SAFETY: same contract as ours.
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            LIVE_BYTES.fetch_add(new as i64 - l.size() as i64, Relaxed);
            ALLOCS.fetch_add(1, Relaxed);
        }
        q
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

// ---------------------------------------------------------------------------
// Configuration, clock, small helpers.

struct Cfg {
    quick: bool,
    rounds: usize,
    echo_n: u64,
    blast_warmup: Duration,
    blast_window: Duration,
    drops: usize,
    scale_n: usize,
    scale_rounds: usize,
    idle_short: Duration,
    idle_long: Duration,
    down_for: Duration,
    send_n: usize,
    only: Vec<u32>,
    strict: bool,
    pin: bool,
    /// RLIMIT_NOFILE after raising it.
    nofile: u64,
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
                only,
                strict,
                pin,
                nofile: 0,
            }
        }
    }
    /// `CONNMAN_BENCH_CONNS=N` overrides the scale metric's connection count.
    fn with_overrides(mut self) -> Cfg {
        if let Some(n) = std::env::var("CONNMAN_BENCH_CONNS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            self.scale_n = n;
        }
        self
    }
    fn want(&self, m: u32) -> bool {
        self.only.is_empty() || self.only.contains(&m)
    }
}

static BASE: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since the bench started (cheap enough for callbacks).
fn now_ns() -> u64 {
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

type R<T> = Result<T, String>;

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn os_err(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

/// Polls `cond` until it holds or `timeout` passes.
fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    let mut nap = Duration::from_micros(50);
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(2));
    }
}

/// A one-shot flag a thread can wait on with a timeout.
#[derive(Default)]
struct Signal {
    m: Mutex<bool>,
    c: Condvar,
}

impl Signal {
    fn set(&self) {
        *self.m.lock().unwrap() = true;
        self.c.notify_all();
    }
    fn clear(&self) {
        *self.m.lock().unwrap() = false;
    }
    fn wait(&self, timeout: Duration) -> bool {
        let g = self.m.lock().unwrap();
        let (g, _) = self.c.wait_timeout_while(g, timeout, |set| !*set).unwrap();
        *g
    }
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v
}

/// Percentile (0..=100) of sorted data, nearest rank.
fn pct(s: &[f64], p: f64) -> f64 {
    if s.is_empty() {
        return f64::NAN;
    }
    let k = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[k.clamp(1, s.len()) - 1]
}

/// The median (mean of the middle two for an even count).
fn median(v: &[f64]) -> f64 {
    let s = sorted(v.to_vec());
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

// ---------------------------------------------------------------------------
// Raw sockets (the baseline) and /proc readers.

fn loopback(port: u16) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain old data.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_port = port.to_be();
    sa.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
    sa
}

fn raw_socket() -> R<RawFd> {
    // SAFETY: plain system call.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        Err(os_err("socket"))
    } else {
        Ok(fd)
    }
}

fn close(fd: RawFd) {
    // SAFETY: closing a descriptor we own.
    unsafe { libc::close(fd) };
}

fn set_opt(fd: RawFd, level: i32, name: i32, v: i32) {
    // SAFETY: pointer and length describe a live i32.
    unsafe { libc::setsockopt(fd, level, name, (&v as *const i32).cast(), 4) };
}

/// Starts a nonblocking connect; Ok whether it finished or is in progress.
fn raw_connect_start(fd: RawFd, port: u16) -> R<()> {
    let sa = loopback(port);
    // SAFETY: sa is a live sockaddr_in of the given size.
    let r = unsafe {
        libc::connect(
            fd,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as u32,
        )
    };
    if r == 0 || errno() == libc::EINPROGRESS {
        Ok(())
    } else {
        Err(os_err("connect"))
    }
}

fn so_error(fd: RawFd) -> i32 {
    let mut e: i32 = 0;
    let mut len = 4u32;
    // SAFETY: e and len are live locals.
    unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut e as *mut i32).cast(),
            &mut len,
        )
    };
    e
}

fn poll_fd(fd: RawFd, events: i16, timeout_ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one live pollfd.
    unsafe { libc::poll(&mut p, 1, timeout_ms) > 0 }
}

/// A connected nonblocking raw socket (TCP_NODELAY when asked, as connman's default).
fn raw_connect(port: u16, nodelay: bool) -> R<RawFd> {
    let fd = raw_socket()?;
    if nodelay {
        set_opt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
    }
    raw_connect_start(fd, port)?;
    if !poll_fd(fd, libc::POLLOUT, 5_000) || so_error(fd) != 0 {
        close(fd);
        return Err(format!("raw connect to {port} failed"));
    }
    Ok(fd)
}

fn raw_send(fd: RawFd, b: &[u8]) -> isize {
    // SAFETY: b is a live slice.
    unsafe {
        libc::send(
            fd,
            b.as_ptr().cast(),
            b.len(),
            libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
        )
    }
}

fn raw_recv(fd: RawFd, b: &mut [u8], flags: i32) -> isize {
    // SAFETY: b is a live, writable slice.
    unsafe { libc::recv(fd, b.as_mut_ptr().cast(), b.len(), flags) }
}

struct Epoll(RawFd);

impl Epoll {
    fn new() -> R<Epoll> {
        // SAFETY: plain system call.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            Err(os_err("epoll_create1"))
        } else {
            Ok(Epoll(fd))
        }
    }
    fn add(&self, fd: RawFd, events: u32, token: u64) -> R<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: ev is a live epoll_event.
        if unsafe { libc::epoll_ctl(self.0, libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
            return Err(os_err("epoll_ctl"));
        }
        Ok(())
    }
    fn wait(&self, evs: &mut [libc::epoll_event], timeout_ms: i32) -> usize {
        // SAFETY: evs is a live, writable array.
        let n = unsafe { libc::epoll_wait(self.0, evs.as_mut_ptr(), evs.len() as i32, timeout_ms) };
        n.max(0) as usize
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        close(self.0);
    }
}

fn raise_nofile() -> u64 {
    // SAFETY: rlimit is plain old data; get/setrlimit take live pointers.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_cur = r.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        r.rlim_cur as u64
    }
}

/// TcpExt counters of /proc/net/netstat (this network namespace).
fn netstat(names: &[&str]) -> Vec<u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = vec![0; names.len()];
    for w in lines.windows(2) {
        if w[0].starts_with("TcpExt:") && w[1].starts_with("TcpExt:") {
            let keys: Vec<&str> = w[0].split_whitespace().collect();
            let vals: Vec<&str> = w[1].split_whitespace().collect();
            for (i, n) in names.iter().enumerate() {
                if let Some(k) = keys.iter().position(|k| k == n) {
                    out[i] = vals.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
                }
            }
        }
    }
    out
}

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    // SAFETY: plain libc query.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
}

/// The tid of the thread named `name` in this process.
fn thread_tid(name: &str) -> Option<u32> {
    for e in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if comm.trim() == name {
            return e.file_name().to_str()?.parse().ok();
        }
    }
    None
}

/// (on-CPU ns, voluntary + involuntary context switches) of one thread.
fn thread_cpu(tid: u32) -> (u64, u64) {
    let base = format!("/proc/self/task/{tid}");
    let ns = std::fs::read_to_string(format!("{base}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
        .unwrap_or(0);
    let st = std::fs::read_to_string(format!("{base}/status")).unwrap_or_default();
    let sw: u64 = st
        .lines()
        .filter(|l| {
            l.starts_with("voluntary_ctxt_switches") || l.starts_with("nonvoluntary_ctxt_switches")
        })
        .filter_map(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|x| x.parse::<u64>().ok())
        })
        .sum();
    (ns, sw)
}

/// User + system CPU of the whole process.
fn process_cpu() -> Duration {
    // SAFETY: rusage is plain old data; getrusage writes it.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// A CPU set of the given CPUs.
fn cpu_set(cpus: impl IntoIterator<Item = usize>) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is plain old data; CPU_SET only writes inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        set
    }
}

/// Pins the calling thread (and the threads it starts later) to `set`.
fn pin_self(set: &libc::cpu_set_t) -> bool {
    // SAFETY: set is a live cpu_set_t of the size given.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) == 0 }
}

/// CPU placement: the server on CPU 0, this process (its reactor thread included)
/// on the others, so every run measures the same cross-CPU case instead of
/// whatever the scheduler picked (same-CPU and cross-CPU round trips differ by 10x
/// on a small VM).
static SERVER_CPUS: OnceLock<Option<libc::cpu_set_t>> = OnceLock::new();

// ---------------------------------------------------------------------------
// The flaky-echo server, a separate process driven through its stdin.

fn server_path() -> PathBuf {
    testkit::flaky::binary().to_path_buf()
}

struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    port: u16,
    /// When its `LISTENING` line was read.
    listening_at: Instant,
}

impl Server {
    fn spawn(mode: &str, port: u16) -> R<Server> {
        let path = server_path();
        let mut cmd = Command::new(&path);
        if let Some(Some(set)) = SERVER_CPUS.get() {
            let set = *set;
            // SAFETY: the closure makes one async-signal-safe system call.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                    pin_self(&set);
                    Ok(())
                });
            }
        }
        let mut child = cmd
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--mode",
                mode,
                "--quiet",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if std::env::var_os("CONNMAN_BENCH_DEBUG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start {} ({e}); build it: cargo build --release --bin flaky-echo",
                    path.display()
                )
            })?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        let mut s = Server {
            child,
            stdin,
            lines: rx,
            port: 0,
            listening_at: Instant::now(),
        };
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match s.lines.recv_timeout(left) {
                Ok(l) => {
                    if let Some(p) = l.strip_prefix("LISTENING ") {
                        s.listening_at = Instant::now();
                        s.port = p.trim().parse().map_err(|_| format!("bad line {l:?}"))?;
                        return Ok(s);
                    }
                }
                Err(_) => {
                    return Err(format!(
                        "flaky-echo --mode {mode} --port {port}: no LISTENING line"
                    ))
                }
            }
        }
    }

    /// Starts on a given port, retrying briefly while the port is still taken.
    fn spawn_on(mode: &str, port: u16) -> R<Server> {
        let mut last = String::new();
        for i in 0..50 {
            match Server::spawn(mode, port) {
                Ok(s) => {
                    if i > 0 {
                        println!("  server on port {port} started after {i} failed tries ({last})");
                    }
                    return Ok(s);
                }
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(last)
    }

    /// Sends one command and waits for its `OK` answer.
    fn cmd(&mut self, c: &str) -> R<String> {
        let stdin = self.stdin.as_mut().ok_or("server stdin closed")?;
        writeln!(stdin, "{c}")
            .and_then(|_| stdin.flush())
            .map_err(|e| format!("server stdin: {e}"))?;
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with("OK") => return Ok(l),
                Ok(l) if l.starts_with("ERR") => return Err(format!("server: {l}")),
                Ok(_) => {}
                Err(_) => return Err(format!("server did not answer {c:?}")),
            }
        }
    }

    /// SIGKILL and reap.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stdin.take(); // EOF: it exits by itself
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// The results table.

struct Row {
    metric: String,
    connman: String,
    baseline: String,
    ratio: String,
    target: String,
    met: Option<bool>,
}

#[derive(Default)]
struct Table {
    rows: Vec<Row>,
    notes: Vec<String>,
}

impl Table {
    fn row(
        &mut self,
        metric: &str,
        connman: String,
        baseline: String,
        ratio: String,
        target: &str,
        met: Option<bool>,
    ) {
        println!("  -> {metric}: connman {connman} | baseline {baseline} | ratio {ratio}");
        self.rows.push(Row {
            metric: metric.into(),
            connman,
            baseline,
            ratio,
            target: target.into(),
            met,
        });
    }
    fn note(&mut self, s: String) {
        println!("  note: {s}");
        self.notes.push(s);
    }
    fn print(&self) {
        println!();
        println!("| metric | connman | baseline | ratio | target | met |");
        println!("|---|---|---|---|---|---|");
        for r in &self.rows {
            let met = match r.met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            };
            println!(
                "| {} | {} | {} | {} | {} | {} |",
                r.metric, r.connman, r.baseline, r.ratio, r.target, met
            );
        }
        println!();
        println!("Notes:");
        for n in &self.notes {
            println!("- {n}");
        }
    }
}

fn us(d: f64) -> String {
    format!("{:.1} µs", d / 1e3)
}

fn ratio(a: f64, b: f64) -> String {
    format!("{:.3}", a / b)
}

// ---------------------------------------------------------------------------
// Metric 1: echo round trip, 64 bytes, callback-driven.

const MSG: usize = 64;
static PING: [u8; MSG] = [b'p'; MSG];

#[derive(Default)]
struct EchoState {
    fd: AtomicI32,
    up: Signal,
    closed: Signal,
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

struct EchoH(Arc<EchoState>);

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
                    raw_send(s.fd.load(Relaxed), &PING) == MSG as isize
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
fn connman_echo_round(
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
        raw_send(st.fd.load(Relaxed), &PING) == MSG as isize
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

/// The same through a minimal raw epoll loop on this thread: one recv per readiness
/// event (again while the buffer fills, as connman does), the next ping sent as soon
/// as a whole reply is in.
fn raw_echo_round(fd: RawFd, ep: &Epoll, buf: &mut [u8], n: u64, samples: &mut Vec<u32>) -> R<f64> {
    let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 8];
    let end = Instant::now() + Duration::from_secs(30);
    samples.reserve(n as usize);
    let t0 = Instant::now();
    let mut sent = now_ns();
    if raw_send(fd, &PING) != MSG as isize {
        return Err("raw first ping failed".into());
    }
    let (mut done, mut pending) = (0u64, 0usize);
    while done < n {
        if ep.wait(&mut evs, 100) == 0 {
            if Instant::now() > end {
                return Err("raw echo timed out".into());
            }
            continue;
        }
        loop {
            let r = raw_recv(fd, buf, libc::MSG_DONTWAIT);
            if r == 0 {
                return Err("raw echo: EOF".into());
            }
            if r < 0 {
                if errno() == libc::EAGAIN {
                    break;
                }
                return Err(os_err("raw echo recv"));
            }
            pending += r as usize;
            while pending >= MSG {
                pending -= MSG;
                done += 1;
                let now = now_ns();
                samples.push(now.saturating_sub(sent) as u32);
                sent = now;
                if done < n && raw_send(fd, &PING) != MSG as isize {
                    return Err(os_err("raw echo send"));
                }
            }
            if (r as usize) < buf.len() {
                break;
            }
        }
    }
    Ok(t0.elapsed().as_nanos() as f64 / n as f64)
}

fn metric_echo(cfg: &Cfg, t: &mut Table) -> R<()> {
    println!("[1] echo round trip, {MSG} B, callback-driven");
    let srv = Server::spawn("echo", 0)?;
    let st = Arc::new(EchoState::default());
    let conn = connman::connect(
        srv.port,
        "127.0.0.1",
        Arc::new(EchoH(st.clone())),
        &Options::default(),
    )
    .map_err(|e| format!("connect: {e:?}"))?;
    if !st.up.wait(Duration::from_secs(5)) {
        return Err("connman echo connection not up".into());
    }
    let fd = raw_connect(srv.port, true)?;
    let ep = Epoll::new()?;
    ep.add(fd, libc::EPOLLIN as u32, 1)?;
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
    raw_echo_round(fd, &ep, &mut buf, n / 10 + 1, &mut s_raw)?;
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
            b.push(raw_echo_round(fd, &ep, &mut buf, n, &mut s_raw)?);
            b.push(raw_echo_round(fd, &ep, &mut buf, n, &mut s_raw)?);
        } else {
            b.push(raw_echo_round(fd, &ep, &mut buf, n, &mut s_raw)?);
            b.push(raw_echo_round(fd, &ep, &mut buf, n, &mut s_raw)?);
            run_a()?;
        }
    }
    close(fd);
    let _ = conn.disconnect();
    st.closed.wait(Duration::from_secs(5));
    let usv = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{:.1}", x / 1e3))
            .collect::<Vec<_>>()
            .join(" ")
    };
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

// ---------------------------------------------------------------------------
// Metric 2: receive throughput from a blasting server.

#[derive(Default)]
struct CountState {
    up: Signal,
    closed: Signal,
    bytes: AtomicU64,
    calls: AtomicU64,
}

struct CountH(Arc<CountState>);

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
fn connman_blast_round(cfg: &Cfg, port: u16) -> R<(f64, f64)> {
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

/// Raw: a plain blocking recv loop with the same 256 KiB buffer.
/// Raw receive loop with the same 256 KiB buffer. `like_connman` = false: recv until
/// EAGAIN, then poll (the baseline). true (a diagnostic): epoll_wait, then one recv
/// per wake-up unless it filled the buffer, which is the reactor's loop structure.
fn raw_blast_round(cfg: &Cfg, port: u16, buf: &mut [u8], like_connman: bool) -> R<f64> {
    let fd = raw_connect(port, true)?;
    let ep = Epoll::new()?;
    ep.add(fd, libc::EPOLLIN as u32, 1)?;
    let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 4];
    let mut total = 0u64;
    let start = Instant::now();
    let mut t0 = None;
    let res = loop {
        let now = Instant::now();
        if t0.is_none() && now >= start + cfg.blast_warmup {
            t0 = Some((now, total));
        }
        if let Some((t, b)) = t0 {
            if now >= t + cfg.blast_window {
                break Ok((total - b) as f64 / now.duration_since(t).as_secs_f64());
            }
        }
        if like_connman {
            ep.wait(&mut evs, 100);
        }
        let r = raw_recv(fd, buf, 0);
        if r > 0 {
            total += r as u64;
        } else if r == 0 {
            break Err("blast: EOF".to_string());
        } else if errno() == libc::EAGAIN {
            if !like_connman {
                poll_fd(fd, libc::POLLIN, 100);
            }
        } else {
            break Err(os_err("blast recv"));
        }
    };
    close(fd);
    res
}

fn metric_blast(cfg: &Cfg, t: &mut Table) -> R<()> {
    println!("[2] receive throughput, blast server");
    let srv = Server::spawn("blast", 0)?;
    let mut buf = vec![0u8; 256 * 1024];
    let (mut a, mut b, mut c, mut chunk) = (vec![], vec![], vec![], vec![]);
    let rounds = cfg.rounds;
    for r in 0..rounds {
        let mut run_a = || -> R<()> {
            let (x, k) = connman_blast_round(cfg, srv.port)?;
            a.push(x);
            chunk.push(k);
            Ok(())
        };
        if r % 2 == 0 {
            run_a()?;
            b.push(raw_blast_round(cfg, srv.port, &mut buf, false)?);
            c.push(raw_blast_round(cfg, srv.port, &mut buf, true)?);
        } else {
            c.push(raw_blast_round(cfg, srv.port, &mut buf, true)?);
            b.push(raw_blast_round(cfg, srv.port, &mut buf, false)?);
            run_a()?;
        }
    }
    let gbs = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{:.2}", x / 1e9))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "  per round (GB/s): connman {}; raw {}; raw epoll-structured {}",
        gbs(&a),
        gbs(&b),
        gbs(&c)
    );
    let (ma, mb, mc) = (median(&a), median(&b), median(&c));
    let gb = |x: f64| format!("{:.2} GB/s", x / 1e9);
    t.row(
        "2 receive throughput, 1 connection, blast server (median of rounds)",
        gb(ma),
        gb(mb),
        ratio(ma, mb),
        "≥ 0.95",
        Some(ma / mb >= 0.95),
    );
    t.note(format!(
        "2: {rounds} rounds x {:.1} s window after {:.1} s warm-up, fresh connection per round; raw = recv until EAGAIN then poll, 256 KiB buffer (connman's READ_BUF); connman got {:.0} B per on_data; diagnostic: a raw loop structured like the reactor (epoll_wait, one recv per wake-up) did {} ({:.3} of raw)",
        cfg.blast_window.as_secs_f64(),
        cfg.blast_warmup.as_secs_f64(),
        median(&chunk),
        gb(mc),
        mc / mb
    ));
    Ok(())
}

// ---------------------------------------------------------------------------
// Metric 3: recovery after a drop (server keeps listening).

#[derive(Default)]
struct DropState {
    up: Signal,
    closed: Signal,
    reset_ns: AtomicU64,
    reco_ns: AtomicU64,
    reconnects: AtomicU64,
}

struct DropH(Arc<DropState>);

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

/// One raw handshake: socket(), nonblocking connect, wait until writable (ns).
fn raw_handshake(port: u16) -> R<f64> {
    let t0 = Instant::now();
    let fd = raw_socket()?;
    raw_connect_start(fd, port)?;
    let ok = poll_fd(fd, libc::POLLOUT, 2_000) && so_error(fd) == 0;
    let el = t0.elapsed();
    close(fd);
    if !ok {
        return Err("raw handshake failed".into());
    }
    Ok(el.as_nanos() as f64)
}

/// healthy_after for metric 3.
const HEALTHY_AFTER: Duration = Duration::from_millis(1);

fn metric_recovery(cfg: &Cfg, t: &mut Table) -> R<()> {
    println!("[3] recovery after a server-side drop");
    let mut srv = Server::spawn("echo", 0)?;
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
            raw.push(raw_handshake(port)?);
        } else {
            raw.push(raw_handshake(port)?);
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

// ---------------------------------------------------------------------------
// Metric 4: scale, memory, restart storm, idle CPU.

struct ScaleState {
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

struct ScaleH {
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
struct Storm {
    /// Which options the connections had.
    label: String,
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
struct ScaleOut {
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
    idle: Vec<(f64, f64, u64, f64)>, // (window s, reactor CPU ms, reactor wakeups, process CPU ms)
    failures: Vec<String>,
}

fn overflows() -> u64 {
    netstat(&["ListenOverflows", "ListenDrops"])[0]
}

fn idle_window(win: Duration) -> R<(f64, f64, u64, f64)> {
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

fn connman_scale_round(cfg: &Cfg, srv: &mut Server, round: usize, out: &mut ScaleOut) -> R<()> {
    let n = cfg.scale_n;
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
    // The second connman round of a full run shows what a lower backoff ceiling
    // does to the restart storm (everything else is the same with any ceiling).
    let capped = !cfg.quick && round == 1;
    let opts = if capped {
        Options {
            backoff_max: STORM_CAP,
            ..Options::default()
        }
    } else {
        Options::default()
    };
    let mut storm = Storm {
        label: if capped {
            format!("backoff_max = {} ms", STORM_CAP.as_millis())
        } else {
            "default options".into()
        },
        ..Storm::default()
    };
    // One warm connection first, so the runtime (reactor thread, its 256 KiB read
    // buffer, registry tables) exists before the snapshot and is not charged to the n.
    let warm = Arc::new(EchoState::default());
    connman::connect(srv.port, "127.0.0.1", Arc::new(EchoH(warm.clone())), &opts)
        .map_err(|e| format!("warm connect: {e:?}"))?;
    if !warm.up.wait(Duration::from_secs(5)) {
        return Err("warm connection not up".into());
    }
    let ov0 = overflows();
    let (live0, allocs0, rss0) = (LIVE_BYTES.load(Relaxed), ALLOCS.load(Relaxed), rss_bytes());
    let cpu0 = process_cpu();
    let t0 = now_ns();
    for h in handlers {
        conns.push(
            connman::connect(srv.port, "127.0.0.1", h, &opts)
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
    out.open_cpu_us
        .push((process_cpu() - cpu0).as_secs_f64() * 1e6 / n as f64);
    out.open_ms.push(open);
    let conn_times = sorted(
        st.connect_ns
            .iter()
            .map(|x| x.load(Relaxed).saturating_sub(t0) as f64 / 1e6)
            .collect(),
    );
    out.open99_ms.push(pct(&conn_times, 99.0));
    println!("  connman round {round}: {n} connected in {open:.1} ms");
    out.overflow_open += overflows() - ov0;
    std::thread::sleep(Duration::from_millis(100)); // let transient buffers go
    let live1 = LIVE_BYTES.load(Relaxed);
    out.bytes_per_conn.push((live1 - live0) as f64 / n as f64);
    out.allocs_per_conn
        .push((ALLOCS.load(Relaxed) - allocs0) as f64 / n as f64);
    out.rss_per_conn
        .push((rss_bytes() as f64 - rss0 as f64) / n as f64);

    // Idle: a short window right away, and (first round, full run) a long one that
    // spans the moment the first connects' 10 s connect timeouts come due.
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
    out.bytes_per_conn_late
        .push((LIVE_BYTES.load(Relaxed) - live0) as f64 / n as f64);

    // Restart storm: kill the server, start a new one on the same port after ~1 s.
    let attempts0: u64 = conns
        .iter()
        .filter_map(|c| c.stats().ok())
        .map(|s| s.attempts)
        .sum();
    let ov1 = overflows();
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
    *srv = Server::spawn_on("echo", port)?;
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
    storm.overflows = overflows() - ov1;
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

/// CONNMAN_BENCH_DEBUG: socket states on `port` (ss), self-connections included.
fn debug_sockets(port: u16, when: &str) {
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

fn raw_scale_round(cfg: &Cfg, port: u16, out: &mut ScaleOut) -> R<()> {
    let n = cfg.scale_n;
    let ep = Epoll::new()?;
    let mut fds = Vec::with_capacity(n);
    let mut evs = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let debug = std::env::var_os("CONNMAN_BENCH_DEBUG").is_some();
    if debug {
        let _ = Command::new("nstat").arg("-n").status();
    }
    let ov0 = overflows();
    let cpu0 = process_cpu();
    let t0 = Instant::now();
    let mut done_ms = Vec::with_capacity(n);
    let mut res = Ok(());
    for i in 0..n {
        let fd = match raw_socket() {
            Ok(fd) => fd,
            Err(e) => {
                res = Err(e);
                break;
            }
        };
        fds.push(fd);
        if let Err(e) =
            raw_connect_start(fd, port).and_then(|_| ep.add(fd, libc::EPOLLOUT as u32, i as u64))
        {
            res = Err(e);
            break;
        }
    }
    let mut up = 0;
    let end = Instant::now() + Duration::from_secs(60);
    while res.is_ok() && up < n {
        let k = ep.wait(&mut evs, 100);
        for ev in &evs[..k] {
            let fd = fds[ev.u64 as usize];
            if so_error(fd) != 0 || ev.events & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0 {
                res = Err("raw connect failed".into());
            }
            // Done with it: stop reporting writability.
            let mut dummy = libc::epoll_event { events: 0, u64: 0 };
            // SAFETY: live epoll_event.
            unsafe { libc::epoll_ctl(ep.0, libc::EPOLL_CTL_DEL, fd, &mut dummy) };
            up += 1;
            done_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        if Instant::now() > end {
            res = Err(format!("raw: only {up} of {n} connected in 60 s"));
        }
    }
    let el = t0.elapsed().as_secs_f64() * 1e3;
    let cpu = (process_cpu() - cpu0).as_secs_f64() * 1e6 / n as f64;
    out.raw_overflow += overflows() - ov0;
    if debug {
        let _ = Command::new("nstat").status();
    }
    for fd in fds {
        close(fd);
    }
    res?;
    println!("  raw round: {n} connected in {el:.1} ms");
    out.raw_open_ms.push(el);
    out.raw_open_cpu_us.push(cpu);
    out.raw_open99_ms.push(pct(&done_ms, 99.0));
    Ok(())
}

fn shutdown_bounded() -> R<()> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(connman::shutdown());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("shutdown: {e:?}")),
        Err(_) => Err("connman::shutdown did not return within 30 s".into()),
    }
}

/// backoff_max of the second connman round's restart storm (full run).
const STORM_CAP: Duration = Duration::from_millis(500);

fn metric_scale(cfg: &Cfg, t: &mut Table) -> R<()> {
    let nofile = cfg.nofile;
    let n = cfg.scale_n;
    println!("[4] scale: {n} connections");
    if (nofile as usize) < 2 * n + 64 {
        t.note(format!("4: RLIMIT_NOFILE is {nofile}; connman may hold 2 descriptors per connection while connecting (placeholder + attempt socket), so {n} connections may hit EMFILE"));
    }
    let mut out = ScaleOut::default();
    // A B B A ... Every round gets a fresh server on a fresh port: the TIME_WAIT
    // sockets an earlier round left towards its port would otherwise make connect()
    // search long for a usable local port and skew the later rounds.
    for r in 0..cfg.scale_rounds {
        let a_first = r % 2 == 0;
        if a_first {
            connman_scale_round(cfg, &mut Server::spawn("echo", 0)?, r, &mut out)?;
        }
        let raw_srv = Server::spawn("echo", 0)?;
        raw_scale_round(cfg, raw_srv.port, &mut out)?;
        drop(raw_srv);
        if !a_first {
            connman_scale_round(cfg, &mut Server::spawn("echo", 0)?, r, &mut out)?;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let (a, b) = (median(&out.open_ms), median(&out.raw_open_ms));
    let ms = |x: f64| format!("{x:.1} ms");
    t.row(
        &format!("4 open {n} connections until all on_connect (vs raw nonblocking connects)"),
        ms(a),
        ms(b),
        ratio(a, b),
        "≤ 1.3",
        Some(a / b <= 1.3),
    );
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
    );
    let bpc = median(&out.bytes_per_conn);
    t.row(
        "4 user-space memory per connection (live heap bytes, counting allocator)",
        format!("{bpc:.0} B ({:.1} allocs)", median(&out.allocs_per_conn)),
        "-".into(),
        "-".into(),
        "≤ 1024 B",
        Some(bpc <= 1024.0),
    );
    t.row(
        "4 memory per connection after 10+ s idle / RSS delta per connection",
        format!(
            "{:.0} B heap / {:.0} B RSS",
            median(&out.bytes_per_conn_late),
            median(&out.rss_per_conn)
        ),
        "-".into(),
        "-".into(),
        "-",
        None,
    );
    for st in &out.storms {
        t.row(
            &format!(
                "4 restart storm, {}: all {n} up again, from the new server's LISTENING (p50; p99)",
                st.label
            ),
            format!("{:.1} ms ({:.1}; {:.1})", st.all_ms, st.p50_ms, st.p99_ms),
            "-".into(),
            "-".into(),
            "≤ 500 ms",
            Some(st.all_ms <= 500.0),
        );
        t.row(
            &format!(
                "4 restart storm, {}: ListenOverflows (network-namespace-wide counter)",
                st.label
            ),
            format!("{}", st.overflows),
            "-".into(),
            "-".into(),
            "0",
            Some(st.overflows == 0),
        );
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
                st.label, st.eof_ms, st.attempts_per_conn, st.extra_resets
            )
        })
        .collect();
    t.note(format!(
        "4: default options unless said; {} connman and {} raw rounds (A B B A), each on a fresh server and port; memory excludes the handlers (made before the snapshot) and the runtime (a warm connection opened first); idle = the reactor thread's on-CPU time (schedstat) and context switches; the restart kills the server with SIGKILL and starts a new one on the same port {:.1} s later ({}). A dying server's listener still completes handshakes while the kernel closes its sockets, so some connections come up and are reset once more (not a connman bug)",
        out.open_ms.len(),
        out.raw_open_ms.len(),
        cfg.down_for.as_secs_f64(),
        storms.join("; ")
    ));
    for f in &out.failures {
        t.note(format!("4 FAILURE: {f}"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Metric 5: conn.send of 64 B messages vs raw send(), server in sink mode.

/// Bytes the kernel still holds in `fd`'s send queue (unsent or unacknowledged).
fn outq(fd: RawFd) -> i32 {
    let mut n: libc::c_int = 0;
    // SAFETY: TIOCOUTQ writes one int through a live pointer.
    unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut n) };
    n
}

/// Messages per timed burst: small enough that the socket buffers never fill, so
/// both sides measure the direct path (one send(2) per call), not backpressure.
const SEND_BURST: usize = 256;

/// Times `n` calls of `send_one` in bursts of [`SEND_BURST`]; between bursts (not
/// timed) waits until `drained` says the kernel and any queue are empty.
fn timed_bursts(
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

fn metric_send(cfg: &Cfg, t: &mut Table) -> R<()> {
    println!("[5] send 64 B: conn.send vs raw send()");
    let srv = Server::spawn("sink", 0)?;
    let st = Arc::new(EchoState::default());
    let conn = connman::connect(
        srv.port,
        "127.0.0.1",
        Arc::new(EchoH(st.clone())),
        &Options::default(),
    )
    .map_err(|e| format!("connect: {e:?}"))?;
    if !st.up.wait(Duration::from_secs(5)) {
        return Err("send connection not up".into());
    }
    let cfd = conn.fd().map_err(|e| format!("{e:?}"))?;
    let fd = raw_connect(srv.port, true)?;
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
            || loop {
                let r = raw_send(fd, &PING);
                if r == MSG as isize {
                    return Ok(());
                }
                if r < 0 && errno() == libc::EAGAIN {
                    eagain += 1;
                    poll_fd(fd, libc::POLLOUT, 100);
                    continue;
                }
                return Err(os_err("raw send"));
            },
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
    close(fd);
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

// ---------------------------------------------------------------------------

type Metric = fn(&Cfg, &mut Table) -> R<()>;

/// (busy, total) jiffies of all CPUs, from /proc/stat.
fn cpu_jiffies() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = s
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// Share of all CPUs busy over `d` while this process does nothing: other load.
fn background_load(d: Duration) -> f64 {
    let (b0, t0) = cpu_jiffies();
    std::thread::sleep(d);
    let (b1, t1) = cpu_jiffies();
    (b1 - b0) as f64 / (t1 - t0).max(1) as f64
}

fn online_cpus() -> usize {
    // SAFETY: plain libc query.
    (unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }).max(1) as usize
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let ncpu = online_cpus();
    format!("{ncpu} CPUs, {cpu}, Linux {}", kernel.trim())
}

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
    let nofile = raise_nofile();
    cfg.nofile = nofile;
    let cfg = cfg;
    let ncpu = online_cpus();
    let placement = if cfg.pin && ncpu >= 2 && pin_self(&cpu_set(1..ncpu)) {
        SERVER_CPUS.get_or_init(|| Some(cpu_set([0])));
        format!(
            "server pinned to CPU 0, bench process (reactor included) to CPUs 1-{}",
            ncpu - 1
        )
    } else {
        SERVER_CPUS.get_or_init(|| None);
        "no CPU pinning".to_string()
    };
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
        server_path().display()
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
    let metrics: [(u32, Metric); 5] = [
        (1, metric_echo),
        (2, metric_blast),
        (3, metric_recovery),
        (4, metric_scale),
        (5, metric_send),
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
