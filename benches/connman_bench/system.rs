//! The machine and this process, from /proc and libc: CPU time, memory, TCP
//! counters, CPU placement, background load.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

/// TcpExt counters of /proc/net/netstat (this network namespace).
pub(crate) fn netstat(names: &[&str]) -> Vec<u64> {
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

/// ListenOverflows of /proc/net/netstat: SYNs a full accept queue dropped.
pub(crate) fn listen_overflows() -> u64 {
    netstat(&["ListenOverflows", "ListenDrops"])[0]
}

pub(crate) fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    // SAFETY: plain libc query.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
}

/// The tid of the (first) thread whose name starts with `name` in this process.
pub(crate) fn thread_tid(name: &str) -> Option<u32> {
    testkit::procfs::threads_named(name).first()?.parse().ok()
}

/// (on-CPU ns, voluntary + involuntary context switches) of one thread.
pub(crate) fn thread_cpu(tid: u32) -> (u64, u64) {
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
pub(crate) fn process_cpu() -> Duration {
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
pub(crate) fn cpu_set(cpus: impl IntoIterator<Item = usize>) -> libc::cpu_set_t {
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
pub(crate) fn pin_self(set: &libc::cpu_set_t) -> bool {
    // SAFETY: set is a live cpu_set_t of the size given.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) == 0 }
}

/// Where the server and this process run. `Pinned` (the default for ratio
/// figures): the server on CPU 0, this process (every connman loop thread it
/// starts included) on the others, so every run measures the same cross-CPU case
/// instead of whatever the scheduler picked (same-CPU and cross-CPU round trips
/// differ by 10x on a small VM). `Free`: both may run anywhere.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Placement {
    Pinned,
    Free,
}

/// The placement new servers get (None until [`place`] is called).
static SERVER_CPUS: Mutex<Option<libc::cpu_set_t>> = Mutex::new(None);
/// Pinning is possible and wanted (two CPUs or more, no `--no-pin`).
static CAN_PIN: AtomicBool = AtomicBool::new(false);

pub(crate) fn init_placement(want_pin: bool) -> Placement {
    CAN_PIN.store(want_pin && online_cpus() >= 2, Relaxed);
    place(Placement::Pinned)
}

/// Sets the placement of this thread (and the threads it starts later, such as
/// a connman runtime started after this) and of servers spawned from now on.
/// Returns the placement in force (Free when pinning is off).
pub(crate) fn place(p: Placement) -> Placement {
    let n = online_cpus();
    let p = if CAN_PIN.load(Relaxed) {
        p
    } else {
        Placement::Free
    };
    let (me, server) = match p {
        Placement::Pinned => (cpu_set(1..n), Some(cpu_set([0]))),
        Placement::Free => (cpu_set(0..n), None),
    };
    pin_self(&me);
    *SERVER_CPUS.lock().unwrap() = server;
    p
}

/// The CPUs a new server is pinned to (None: anywhere).
pub(crate) fn server_cpus() -> Option<libc::cpu_set_t> {
    *SERVER_CPUS.lock().unwrap()
}

pub(crate) fn describe(p: Placement) -> String {
    match p {
        Placement::Pinned => format!(
            "server pinned to CPU 0, bench process (connman threads included) to CPUs 1-{}",
            online_cpus() - 1
        ),
        Placement::Free => "no CPU pinning".to_string(),
    }
}

/// (busy, total) jiffies of all CPUs, from /proc/stat.
pub(crate) fn cpu_jiffies() -> (u64, u64) {
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
pub(crate) fn background_load(d: Duration) -> f64 {
    let (b0, t0) = cpu_jiffies();
    std::thread::sleep(d);
    let (b1, t1) = cpu_jiffies();
    (b1 - b0) as f64 / (t1 - t0).max(1) as f64
}

pub(crate) fn online_cpus() -> usize {
    // SAFETY: plain libc query.
    (unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }).max(1) as usize
}

pub(crate) fn machine() -> String {
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
