//! `flaky-echo`: a deliberately unreliable TCP echo server used as a test peer.
//!
//! The Rust integration tests, the C examples, the Python tests and the
//! benchmarks all talk to this one binary.  It is a single-threaded,
//! nonblocking, epoll-driven server on loopback that can hold 10,000+
//! connections, and it can misbehave on purpose: drop connections after a
//! delay (FIN or RST), go up and down on a schedule, stop reading, stay
//! silent, or blast data as fast as the client takes it.
//!
//! Startup: after listening it prints `LISTENING <port>` on stdout.
//! Control: one command per line on stdin (`drop`, `rst`, `stop`, `start`,
//! `mode MODE`, `stats`, `quit`), each answered with one `OK ...` or
//! `ERR ...` line on stdout.  EOF on stdin ends the process unless
//! `--ignore-stdin` is given, so it never outlives the test that spawned it.

#![deny(unsafe_op_in_unsafe_fn)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt::Display;
use std::io::{self, Write};
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Per-connection cap on queued echo output; reading pauses above it.
const OUT_BOUND: usize = 4 << 20;
/// Size of one `recv` into the shared read buffer.
const READ_CHUNK: usize = 64 << 10;
/// Bytes moved per connection per readiness event, so one busy client
/// cannot starve the others (epoll is level-triggered: we come back).
const EVENT_BUDGET: usize = 1 << 20;
/// Length of one blast `send`; the pattern buffer is this plus one period.
const BLAST_CHUNK: usize = 64 << 10;
/// Period of the blast byte pattern (byte `i` of the stream is `i % 256`).
const BLAST_PERIOD: usize = 256;
/// Most unread bytes discarded before a FIN close (see `close_conn`).
const FIN_DRAIN_LIMIT: usize = 16 << 20;
/// Pause before accepting again after running out of descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Pause before retrying a failed re-listen in the up/down cycle.
const RELISTEN_RETRY: Duration = Duration::from_millis(200);
/// Longest accepted stdin command line.
const MAX_STDIN_LINE: usize = 4096;
/// Events fetched per `epoll_wait`.
const MAX_EVENTS: usize = 1024;

/// epoll tokens; connection tokens are their ids, counted up from 1.
const TOKEN_LISTENER: u64 = u64::MAX;
const TOKEN_STDIN: u64 = u64::MAX - 1;
const TOKEN_SIGNAL: u64 = u64::MAX - 2;

const EV_IN: u32 = libc::EPOLLIN as u32;
const EV_OUT: u32 = libc::EPOLLOUT as u32;
const EV_ERR: u32 = libc::EPOLLERR as u32;
const EV_HUP: u32 = libc::EPOLLHUP as u32;

const USAGE: &str = "\
usage: flaky-echo [OPTIONS]

A deliberately unreliable TCP echo server for tests and benchmarks.
Prints `LISTENING <port>` on stdout once listening.

options:
  --host ADDR            address to bind (default 127.0.0.1; ::1 works)
  --port N               port to bind (default 0 = ephemeral)
  --port-file PATH       also write the port (decimal + newline) to PATH
  --greeting TEXT        send TEXT on accept (\\r \\n \\t \\\\ are translated)
  --mode MODE            echo | close | silent | sink | blast | noread
                         (default echo)
  --drop-after-ms N      close each connection N ms after accept (0 = never)
  --drop-jitter-ms J     add a uniform random 0..=J ms per connection
  --seed S               seed for the jitter PRNG (default: time and pid)
  --rst                  drop connections with RST instead of FIN
  --up-ms N              cycle: listen for N ms ...
  --down-ms M            ... then close listener and clients for M ms
  --lifetime-ms N        exit after N ms (0 = no limit)
  --backlog N            listen backlog (default 8192)
  --ignore-stdin         do not read commands; do not exit on stdin EOF
  --quiet                do not log per-connection events to stderr
  --help                 show this text

stdin commands (answered `OK <command>` or `ERR <message>` on stdout):
  drop | rst | stop | start | mode MODE | stats | quit
";

/// Log one line to stderr.  Errors are ignored: logging must never kill
/// the server (stderr may be a closed pipe).
macro_rules! note {
    ($($arg:tt)*) => {{
        let _ = writeln!(io::stderr().lock(), "flaky-echo: {}", format_args!($($arg)*));
    }};
}

/// What the server does with its clients.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// Echo every byte back, exactly and in order.
    Echo,
    /// Accept and close at once.
    Close,
    /// Never read, never write: a stuck peer.
    Silent,
    /// Read and discard.
    Sink,
    /// Ignore (read and discard) input, write a repeating byte pattern.
    Blast,
    /// Never read (so the client's writes eventually block); queued echo
    /// output is still flushed.
    NoRead,
}

impl Mode {
    fn parse(s: &str) -> Option<Mode> {
        Some(match s {
            "echo" => Mode::Echo,
            "close" => Mode::Close,
            "silent" => Mode::Silent,
            "sink" => Mode::Sink,
            "blast" => Mode::Blast,
            "noread" => Mode::NoRead,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Echo => "echo",
            Mode::Close => "close",
            Mode::Silent => "silent",
            Mode::Sink => "sink",
            Mode::Blast => "blast",
            Mode::NoRead => "noread",
        }
    }

    /// Whether queued output is written in this mode.
    fn writes(self) -> bool {
        self != Mode::Silent
    }

    /// Whether the server reads from clients in this mode.
    fn reads(self) -> bool {
        matches!(self, Mode::Echo | Mode::Sink | Mode::Blast)
    }
}

/// Command-line configuration.
struct Config {
    host: IpAddr,
    port: u16,
    port_file: Option<String>,
    greeting: Vec<u8>,
    mode: Mode,
    drop_after_ms: u64,
    drop_jitter_ms: u64,
    seed: Option<u64>,
    rst: bool,
    up_ms: u64,
    down_ms: u64,
    lifetime_ms: u64,
    backlog: i32,
    ignore_stdin: bool,
    quiet: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            port_file: None,
            greeting: Vec::new(),
            mode: Mode::Echo,
            drop_after_ms: 0,
            drop_jitter_ms: 0,
            seed: None,
            rst: false,
            up_ms: 0,
            down_ms: 0,
            lifetime_ms: 0,
            backlog: 8192,
            ignore_stdin: false,
            quiet: false,
        }
    }
}

/// Translate `\r`, `\n`, `\t` and `\\` typed as backslash escapes.
fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'\\') => out.push(b'\\'),
            Some(other) => out.extend_from_slice(&[b'\\', other]),
            None => out.push(b'\\'),
        }
    }
    out
}

fn parse_host(s: &str) -> Result<IpAddr, String> {
    let s = s.trim_start_matches('[').trim_end_matches(']');
    if s == "localhost" {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    s.parse().map_err(|_| format!("bad --host {s:?}"))
}

fn parse_num<T: std::str::FromStr>(opt: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("bad value {value:?} for {opt}"))
}

/// Options that take a value.
const VALUE_OPTIONS: &[&str] = &[
    "--host",
    "--port",
    "--port-file",
    "--greeting",
    "--mode",
    "--drop-after-ms",
    "--drop-jitter-ms",
    "--seed",
    "--up-ms",
    "--down-ms",
    "--lifetime-ms",
    "--backlog",
];

/// Parse the command line.  `Ok(None)` means `--help` was printed.
fn parse_args(args: impl Iterator<Item = String>) -> Result<Option<Config>, String> {
    let mut cfg = Config::default();
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        // Accept both `--opt value` and `--opt=value`.
        let (opt, inline) = match arg.split_once('=') {
            Some((o, v)) if o.starts_with("--") => (o.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        match opt.as_str() {
            "--help" | "-h" => {
                print!("{USAGE}");
                return Ok(None);
            }
            "--rst" => cfg.rst = true,
            "--quiet" => cfg.quiet = true,
            "--ignore-stdin" => cfg.ignore_stdin = true,
            _ if !VALUE_OPTIONS.contains(&opt.as_str()) => {
                return Err(format!("unknown option {opt}"));
            }
            _ => {
                let value = match inline {
                    Some(v) => v,
                    None => args.next().ok_or_else(|| format!("{opt} needs a value"))?,
                };
                let v = value.as_str();
                match opt.as_str() {
                    "--host" => cfg.host = parse_host(v)?,
                    "--port" => cfg.port = parse_num(&opt, v)?,
                    "--port-file" => cfg.port_file = Some(value.clone()),
                    "--greeting" => cfg.greeting = unescape(v),
                    "--mode" => {
                        cfg.mode = Mode::parse(v).ok_or_else(|| format!("unknown mode {v:?}"))?
                    }
                    "--drop-after-ms" => cfg.drop_after_ms = parse_num(&opt, v)?,
                    "--drop-jitter-ms" => cfg.drop_jitter_ms = parse_num(&opt, v)?,
                    "--seed" => cfg.seed = Some(parse_num(&opt, v)?),
                    "--up-ms" => cfg.up_ms = parse_num(&opt, v)?,
                    "--down-ms" => cfg.down_ms = parse_num(&opt, v)?,
                    "--lifetime-ms" => cfg.lifetime_ms = parse_num(&opt, v)?,
                    "--backlog" => cfg.backlog = parse_num(&opt, v)?,
                    _ => return Err(format!("unknown option {opt}")),
                }
            }
        }
    }
    Ok(Some(cfg))
}

// ---------------------------------------------------------------------------
// Thin wrappers over the libc calls we need.
// ---------------------------------------------------------------------------

/// Turn a `-1` return into the current `errno`.
fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Like `cvt` for calls returning `ssize_t`.
fn cvt_size(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// Take ownership of a descriptor a syscall just returned.
fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: every caller passes a freshly created descriptor that nothing
    // else owns or will close.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn setsockopt<T: Copy>(fd: RawFd, level: libc::c_int, name: libc::c_int, val: T) -> io::Result<()> {
    // SAFETY: `val` lives across the call and we pass its exact size; the
    // kernel only reads from the pointer.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&val as *const T).cast(),
            mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Fetch and clear the pending error of a socket.
fn socket_error(fd: RawFd) -> io::Error {
    let mut err: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `err` and `len` are valid for writes and `len` holds the size
    // of `err`.
    let ret = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut err as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if ret == -1 {
        io::Error::last_os_error()
    } else {
        io::Error::from_raw_os_error(err)
    }
}

/// `send` with `MSG_NOSIGNAL`, so a dead peer gives EPIPE, not SIGPIPE.
fn send(fd: RawFd, data: &[u8]) -> io::Result<usize> {
    // SAFETY: the pointer and length describe the live slice `data`.
    cvt_size(unsafe { libc::send(fd, data.as_ptr().cast(), data.len(), libc::MSG_NOSIGNAL) })
}

fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the pointer and length describe the live, writable slice `buf`.
    cvt_size(unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) })
}

/// Encode a socket address for `bind`.
fn to_raw_addr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all zeroes is valid.
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large enough and suitably aligned
            // for any socket address type, including sockaddr_in.
            let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_scope_id = a.scope_id();
            mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// Decode a socket address filled in by `accept4` or `getsockname`.
fn from_raw_addr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match storage.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { &*(storage as *const _ as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 = unsafe { &*(storage as *const _ as *const libc::sockaddr_in6) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Create a nonblocking, close-on-exec listening socket with SO_REUSEADDR
/// (so the same port can be taken again after a `stop`).
fn open_listener(addr: SocketAddr, backlog: i32) -> io::Result<OwnedFd> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    let flags = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: plain syscall without pointer arguments.
    let fd = owned(cvt(unsafe { libc::socket(domain, flags, 0) })?);
    setsockopt(
        fd.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_REUSEADDR,
        1 as libc::c_int,
    )?;
    let (raw, len) = to_raw_addr(&addr);
    // SAFETY: `raw` holds a valid socket address of `len` bytes.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw as *const libc::sockaddr_storage).cast(),
            len,
        )
    })?;
    // SAFETY: plain syscall without pointer arguments.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) })?;
    Ok(fd)
}

fn local_port(fd: RawFd) -> io::Result<u16> {
    // SAFETY: sockaddr_storage is plain old data; all zeroes is valid.
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `storage` is writable for `len` bytes.
    cvt(unsafe {
        libc::getsockname(
            fd,
            (&mut storage as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    })?;
    from_raw_addr(&storage)
        .map(|a| a.port())
        .ok_or_else(|| io::Error::other("unknown address family"))
}

/// A minimal epoll instance (level-triggered).
struct Epoll(OwnedFd);

impl Epoll {
    fn new() -> io::Result<Epoll> {
        // SAFETY: plain syscall without pointer arguments.
        Ok(Epoll(owned(cvt(unsafe {
            libc::epoll_create1(libc::EPOLL_CLOEXEC)
        })?)))
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call.
        cvt(unsafe { libc::epoll_ctl(self.0.as_raw_fd(), op, fd, &mut ev) }).map(drop)
    }

    fn add(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, events, token)
    }

    fn modify(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, events, token)
    }

    /// Wait for events; `timeout_ms` of -1 waits forever.
    fn wait(&self, events: &mut [libc::epoll_event], timeout_ms: i32) -> io::Result<usize> {
        let max = events.len().min(i32::MAX as usize) as libc::c_int;
        // SAFETY: `events` is writable for `max` entries.
        let n =
            unsafe { libc::epoll_wait(self.0.as_raw_fd(), events.as_mut_ptr(), max, timeout_ms) };
        cvt(n).map(|n| n as usize)
    }
}

/// xorshift64* PRNG: plenty for drop jitter, no dependency needed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-enough value in `0..=max`.
    fn up_to(&mut self, max: u64) -> u64 {
        match max.checked_add(1) {
            Some(n) => self.next() % n,
            None => self.next(),
        }
    }
}

// ---------------------------------------------------------------------------
// Process setup.
// ---------------------------------------------------------------------------

/// Make sure descriptors 0, 1 and 2 are open, so no socket lands on them
/// and gets mistaken for stdin/stdout.
fn ensure_std_fds() {
    for fd in 0..=2 {
        // SAFETY: F_GETFD only queries the descriptor.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            // SAFETY: the path is a valid NUL-terminated string.  The
            // lowest free descriptor is `fd`, so it is reused; leaking it
            // is intended.
            unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        }
    }
}

/// Raise the soft RLIMIT_NOFILE to the hard limit so 10,000+ clients fit.
/// Returns the resulting soft limit.
fn raise_nofile_limit() -> libc::rlim_t {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is writable.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    // An infinite hard limit cannot be used as a soft limit for files;
    // try the hard limit, then the usual kernel maximum (fs.nr_open).
    for want in [lim.rlim_max, 1 << 20] {
        if want <= lim.rlim_cur || want == libc::RLIM_INFINITY {
            continue;
        }
        let new = libc::rlimit {
            rlim_cur: want,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: `new` is a valid rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } == 0 {
            return want;
        }
    }
    lim.rlim_cur
}

/// Block SIGINT and SIGTERM and return a signalfd that reports them, so
/// they arrive through epoll with no race and no handler.
fn signal_fd() -> io::Result<OwnedFd> {
    // SAFETY: sigset_t is plain old data; it is initialised by sigemptyset.
    let mut set: libc::sigset_t = unsafe { mem::zeroed() };
    // SAFETY: `set` is a valid, writable sigset_t; a null old-set pointer
    // is allowed by sigprocmask.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        cvt(libc::sigprocmask(
            libc::SIG_BLOCK,
            &set,
            std::ptr::null_mut(),
        ))?;
    }
    let flags = libc::SFD_NONBLOCK | libc::SFD_CLOEXEC;
    // SAFETY: `set` is a valid sigset_t.
    Ok(owned(cvt(unsafe { libc::signalfd(-1, &set, flags) })?))
}

/// Write the port to `path` atomically: temporary file, then rename.
fn write_port_file(path: &str, port: u16) -> io::Result<()> {
    let tmp = format!("{path}.tmp.{}", process::id());
    std::fs::write(&tmp, format!("{port}\n"))?;
    std::fs::rename(&tmp, path)
}

/// Set or clear O_NONBLOCK on a descriptor (best effort).
fn set_nonblocking(fd: RawFd, on: bool) {
    // SAFETY: F_GETFL/F_SETFL only query and change the descriptor's flags.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags != -1 {
            let flags = if on {
                flags | libc::O_NONBLOCK
            } else {
                flags & !libc::O_NONBLOCK
            };
            libc::fcntl(fd, libc::F_SETFL, flags);
        }
    }
}

// ---------------------------------------------------------------------------
// The server.
// ---------------------------------------------------------------------------

/// How to end a connection.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CloseHow {
    /// Orderly close: unread input is discarded first so the kernel sends
    /// FIN rather than RST.
    Fin,
    /// Abortive close: SO_LINGER {1, 0} then close, which sends RST.
    Rst,
    /// Just close (the connection is already finished or broken).
    Plain,
}

impl CloseHow {
    fn label(self) -> &'static str {
        match self {
            CloseHow::Rst => "RST",
            CloseHow::Fin | CloseHow::Plain => "FIN",
        }
    }
}

/// Things scheduled in the timer heap.  Entries are never removed early:
/// a stale one (closed connection, old listener) is ignored when it fires.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Timer {
    /// Drop this connection (`--drop-after-ms`).
    Drop(u64),
    /// Next up/down cycle transition.
    Cycle,
    /// Resume accepting on the listener of this generation after EMFILE.
    AcceptRetry(u64),
    /// `--lifetime-ms` ran out.
    Lifetime,
}

/// One client connection.
struct Conn {
    fd: OwnedFd,
    /// Queued output (echo data, greeting remainder); `out[out_pos..]` is
    /// still to be sent.
    out: Vec<u8>,
    out_pos: usize,
    /// Position in the blast pattern, so the blasted stream is continuous.
    blast_pos: usize,
    /// The client sent EOF; close once the queued output is flushed.
    eof: bool,
    /// Event mask currently registered with epoll.
    interest: u32,
}

impl Conn {
    fn pending(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Send queued output until it is gone or the socket is full.
    fn flush(&mut self, bytes_out: &mut u64) -> io::Result<()> {
        let fd = self.fd.as_raw_fd();
        while self.out_pos < self.out.len() {
            match send(fd, &self.out[self.out_pos..]) {
                Ok(n) => {
                    self.out_pos += n;
                    *bytes_out += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
            // Give back memory after a burst so idle connections stay cheap.
            if self.out.capacity() > READ_CHUNK {
                self.out = Vec::new();
            }
        } else if self.out_pos >= self.out.len() / 2 {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
        Ok(())
    }

    /// Blast the byte pattern until the socket is full or the budget is
    /// spent.  Queued output goes first, so nothing is interleaved.
    fn blast(&mut self, pattern: &[u8], bytes_out: &mut u64) -> io::Result<()> {
        let fd = self.fd.as_raw_fd();
        let mut budget = EVENT_BUDGET;
        while self.pending() == 0 && budget > 0 {
            let start = self.blast_pos % BLAST_PERIOD;
            match send(fd, &pattern[start..start + BLAST_CHUNK]) {
                Ok(n) => {
                    self.blast_pos = (start + n) % BLAST_PERIOD;
                    *bytes_out += n as u64;
                    budget = budget.saturating_sub(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Event mask a connection needs in the given mode.
fn interest_for(mode: Mode, conn: &Conn) -> u32 {
    let mut ev = 0;
    let pending = conn.pending();
    let may_read = mode.reads() && !conn.eof;
    // Echo stops reading while its queued output is over the bound; the
    // client's writes then block, which is the backpressure we want.
    if may_read && !(mode == Mode::Echo && pending >= OUT_BOUND) {
        ev |= EV_IN;
    }
    if mode.writes() && (pending > 0 || mode == Mode::Blast) {
        ev |= EV_OUT;
    }
    ev
}

/// Result of handling a readiness event on a connection.
enum Outcome {
    Open,
    Eof,
    Failed(io::Error),
}

struct Server {
    cfg: Config,
    mode: Mode,
    epoll: Epoll,
    /// Reports SIGINT and SIGTERM (blocked) through epoll.
    signals: OwnedFd,
    /// Address to listen on; the port is fixed after the first bind.
    addr: SocketAddr,
    listener: Option<OwnedFd>,
    /// Bumped on every (re)listen, so stale AcceptRetry timers are ignored.
    listener_gen: u64,
    /// Accepting failed (e.g. EMFILE) and is being retried on a timer.
    accept_paused: bool,
    /// Whether the up/down cycle is in its "up" phase.
    cycle_up: bool,
    conns: HashMap<u64, Conn>,
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    rng: Rng,
    accepted: u64,
    bytes_in: u64,
    bytes_out: u64,
    read_buf: Vec<u8>,
    /// Blast source: `BLAST_CHUNK + BLAST_PERIOD` bytes of 0, 1, .., 255, 0, ..
    pattern: Vec<u8>,
    stdin_buf: Vec<u8>,
}

impl Server {
    fn new(cfg: Config) -> io::Result<Server> {
        let seed = cfg.seed.unwrap_or_else(|| {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            nanos ^ (u64::from(process::id()) << 32)
        });
        // Block SIGINT/SIGTERM before anything is announced, so a signal
        // sent right after `LISTENING` is already handled by the signalfd.
        let signals = signal_fd()?;
        let epoll = Epoll::new()?;
        epoll.add(signals.as_raw_fd(), EV_IN, TOKEN_SIGNAL)?;
        Ok(Server {
            mode: cfg.mode,
            epoll,
            signals,
            addr: SocketAddr::new(cfg.host, cfg.port),
            listener: None,
            listener_gen: 0,
            accept_paused: false,
            cycle_up: true,
            conns: HashMap::new(),
            timers: BinaryHeap::new(),
            rng: Rng::new(seed),
            accepted: 0,
            bytes_in: 0,
            bytes_out: 0,
            read_buf: vec![0; READ_CHUNK],
            pattern: (0..BLAST_CHUNK + BLAST_PERIOD).map(|i| i as u8).collect(),
            stdin_buf: Vec::new(),
            cfg,
        })
    }

    /// Log a per-connection event unless `--quiet`.
    fn conn_note(&self, args: std::fmt::Arguments<'_>) {
        if !self.cfg.quiet {
            note!("{args}");
        }
    }

    fn schedule(&mut self, after: Duration, timer: Timer) {
        self.timers.push(Reverse((Instant::now() + after, timer)));
    }

    /// Milliseconds until the nearest timer (rounded up so we never wake
    /// early and spin), or -1 when nothing is scheduled.
    fn wait_timeout_ms(&self) -> i32 {
        let Some(Reverse((deadline, _))) = self.timers.peek() else {
            return -1;
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = left.as_nanos().div_ceil(1_000_000);
        ms.min(i32::MAX as u128) as i32
    }

    // --- listening ------------------------------------------------------

    /// Listen on the configured address (same port as before, if any).
    /// Returns the port; a no-op if already listening.
    fn start_listening(&mut self) -> io::Result<u16> {
        if self.listener.is_none() {
            let fd = open_listener(self.addr, self.cfg.backlog)?;
            let port = local_port(fd.as_raw_fd())?;
            self.epoll.add(fd.as_raw_fd(), EV_IN, TOKEN_LISTENER)?;
            self.addr.set_port(port);
            self.listener = Some(fd);
            self.listener_gen += 1;
        }
        Ok(self.addr.port())
    }

    /// Close the listening socket (closing also removes it from epoll).
    fn stop_listening(&mut self) {
        self.listener = None;
    }

    /// Accept until EAGAIN.  On descriptor exhaustion, stop watching the
    /// listener and retry after a short back-off instead of spinning.
    fn accept_ready(&mut self) {
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            let lfd = listener.as_raw_fd();
            // SAFETY: sockaddr_storage is plain old data; all zeroes is valid.
            let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
            let mut len = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
            // SAFETY: `storage` is writable for `len` bytes.
            let ret = unsafe {
                libc::accept4(
                    lfd,
                    (&mut storage as *mut libc::sockaddr_storage).cast(),
                    &mut len,
                    flags,
                )
            };
            match cvt(ret) {
                Ok(fd) => {
                    if self.accept_paused {
                        self.accept_paused = false;
                        note!("accepting again");
                    }
                    self.add_conn(owned(fd), from_raw_addr(&storage));
                }
                Err(e) => match e.raw_os_error().unwrap_or(0) {
                    libc::EAGAIN => return,
                    // The connection died in the queue, or a signal: next.
                    libc::EINTR | libc::ECONNABORTED | libc::EPROTO | libc::EPERM => {}
                    // Out of descriptors or memory (and anything unknown):
                    // back off, since level-triggered epoll would spin.
                    _ => {
                        // Log once per streak, not on every retry.
                        if !self.accept_paused {
                            self.accept_paused = true;
                            note!(
                                "accept failed: {e}; retrying every {} ms",
                                ACCEPT_BACKOFF.as_millis()
                            );
                        }
                        if let Err(e) = self.epoll.modify(lfd, 0, TOKEN_LISTENER) {
                            note!("epoll modify listener: {e}");
                        }
                        self.schedule(ACCEPT_BACKOFF, Timer::AcceptRetry(self.listener_gen));
                        return;
                    }
                },
            }
        }
    }

    fn add_conn(&mut self, fd: OwnedFd, peer: Option<SocketAddr>) {
        self.accepted += 1;
        let id = self.accepted;
        match peer {
            Some(p) => self.conn_note(format_args!("accept #{id} from {p}")),
            None => self.conn_note(format_args!("accept #{id}")),
        }
        let raw = fd.as_raw_fd();
        // Echo traffic is small request/response: do not wait for Nagle.
        let _ = setsockopt(raw, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1 as libc::c_int);

        let mut conn = Conn {
            fd,
            out: Vec::new(),
            out_pos: 0,
            blast_pos: 0,
            eof: false,
            interest: 0,
        };
        // The greeting goes out at once in every mode; a fresh socket has
        // room for it, anything left over is queued.
        if !self.cfg.greeting.is_empty() {
            conn.out.extend_from_slice(&self.cfg.greeting);
            if let Err(e) = conn.flush(&mut self.bytes_out) {
                self.conn_note(format_args!("close #{id} (error: {e})"));
                return;
            }
        }
        if self.mode == Mode::Close {
            self.conns.insert(id, conn);
            self.close_conn(id, CloseHow::Fin, "close", "mode close");
            return;
        }
        conn.interest = interest_for(self.mode, &conn);
        if let Err(e) = self.epoll.add(raw, conn.interest, id) {
            self.conn_note(format_args!("close #{id} (epoll: {e})"));
            return;
        }
        self.conns.insert(id, conn);
        if self.cfg.drop_after_ms > 0 {
            let ms = self.cfg.drop_after_ms + self.rng.up_to(self.cfg.drop_jitter_ms);
            self.schedule(Duration::from_millis(ms), Timer::Drop(id));
        }
    }

    // --- connections ----------------------------------------------------

    /// Close a connection and log `<verb> #<id> (<why>)`.
    fn close_conn(&mut self, id: u64, how: CloseHow, verb: &str, why: impl Display) {
        let Some(conn) = self.conns.remove(&id) else {
            return;
        };
        let fd = conn.fd.as_raw_fd();
        match how {
            CloseHow::Fin => {
                // Linux answers close() with RST when unread input remains,
                // so discard it first (bounded) to get a clean FIN.
                let mut drained = 0;
                while drained < FIN_DRAIN_LIMIT {
                    match recv(fd, &mut self.read_buf) {
                        Ok(n) if n > 0 => drained += n,
                        _ => break,
                    }
                }
            }
            CloseHow::Rst => {
                let linger = libc::linger {
                    l_onoff: 1,
                    l_linger: 0,
                };
                let _ = setsockopt(fd, libc::SOL_SOCKET, libc::SO_LINGER, linger);
            }
            CloseHow::Plain => {}
        }
        // Dropping the OwnedFd closes it, which also removes it from epoll.
        drop(conn);
        self.conn_note(format_args!("{verb} #{id} ({why})"));
    }

    /// Close every client, e.g. for `drop`, `rst`, `stop` or a down phase.
    fn close_all(&mut self, how: CloseHow) {
        let mut ids: Vec<u64> = self.conns.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.close_conn(id, how, "drop", how.label());
        }
    }

    /// Read what the mode allows; echo mode queues and sends it back.
    fn conn_read(&mut self, id: u64) -> Outcome {
        let Some(conn) = self.conns.get_mut(&id) else {
            return Outcome::Open;
        };
        let fd = conn.fd.as_raw_fd();
        let mut budget = EVENT_BUDGET;
        while budget > 0 {
            if self.mode == Mode::Echo && conn.pending() >= OUT_BOUND {
                break;
            }
            match recv(fd, &mut self.read_buf) {
                Ok(0) => return Outcome::Eof,
                Ok(n) => {
                    self.bytes_in += n as u64;
                    budget = budget.saturating_sub(n);
                    if self.mode == Mode::Echo {
                        conn.out.extend_from_slice(&self.read_buf[..n]);
                        if let Err(e) = conn.flush(&mut self.bytes_out) {
                            return Outcome::Failed(e);
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Outcome::Failed(e),
            }
        }
        Outcome::Open
    }

    /// Flush queued output, then blast if in blast mode.
    fn conn_write(&mut self, id: u64) -> Outcome {
        let Some(conn) = self.conns.get_mut(&id) else {
            return Outcome::Open;
        };
        if !self.mode.writes() {
            return Outcome::Open;
        }
        let mut result = conn.flush(&mut self.bytes_out);
        if result.is_ok() && self.mode == Mode::Blast {
            result = conn.blast(&self.pattern, &mut self.bytes_out);
        }
        match result {
            Ok(()) => Outcome::Open,
            Err(e) => Outcome::Failed(e),
        }
    }

    fn conn_event(&mut self, id: u64, events: u32) {
        let Some(conn) = self.conns.get(&id) else {
            return; // closed earlier in this batch
        };
        if events & (EV_ERR | EV_HUP) != 0 {
            let err = socket_error(conn.fd.as_raw_fd());
            let why = if err.raw_os_error() == Some(0) {
                "hangup".to_string()
            } else {
                format!("error: {err}")
            };
            self.close_conn(id, CloseHow::Plain, "close", why);
            return;
        }
        if events & EV_IN != 0 && self.mode.reads() {
            match self.conn_read(id) {
                Outcome::Open => {}
                Outcome::Failed(e) => {
                    return self.close_conn(
                        id,
                        CloseHow::Plain,
                        "close",
                        format_args!("error: {e}"),
                    );
                }
                Outcome::Eof => {
                    // Finish sending queued echo output before closing.
                    let conn = self.conns.get_mut(&id).expect("connection exists");
                    if conn.pending() == 0 || self.mode == Mode::Blast {
                        return self.close_conn(id, CloseHow::Plain, "close", "eof");
                    }
                    conn.eof = true;
                }
            }
        }
        if events & EV_OUT != 0 {
            if let Outcome::Failed(e) = self.conn_write(id) {
                return self.close_conn(id, CloseHow::Plain, "close", format_args!("error: {e}"));
            }
        }
        self.sync_interest(id);
    }

    /// Re-register a connection with the events its state now needs, and
    /// close it if the client is gone and its output is flushed.
    fn sync_interest(&mut self, id: u64) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if conn.eof && conn.pending() == 0 {
            return self.close_conn(id, CloseHow::Plain, "close", "eof");
        }
        let want = interest_for(self.mode, conn);
        if want != conn.interest {
            match self.epoll.modify(conn.fd.as_raw_fd(), want, id) {
                Ok(()) => conn.interest = want,
                Err(e) => self.close_conn(id, CloseHow::Plain, "close", format_args!("epoll: {e}")),
            }
        }
    }

    /// Switch mode for new and existing connections.  `close` closes the
    /// existing ones (FIN), as if they had just been accepted.
    fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
        if mode == Mode::Close {
            return self.close_all(CloseHow::Fin);
        }
        let ids: Vec<u64> = self.conns.keys().copied().collect();
        for id in ids {
            self.sync_interest(id);
        }
    }

    // --- timers ---------------------------------------------------------

    fn run_timers(&mut self) {
        let now = Instant::now();
        while let Some(&Reverse((deadline, timer))) = self.timers.peek() {
            if deadline > now {
                break;
            }
            self.timers.pop();
            match timer {
                Timer::Drop(id) => {
                    let how = if self.cfg.rst {
                        CloseHow::Rst
                    } else {
                        CloseHow::Fin
                    };
                    self.close_conn(id, how, "drop", how.label());
                }
                Timer::Cycle => self.cycle(),
                Timer::AcceptRetry(gen) => {
                    if let Some(l) = &self.listener {
                        if gen == self.listener_gen {
                            if let Err(e) = self.epoll.modify(l.as_raw_fd(), EV_IN, TOKEN_LISTENER)
                            {
                                note!("epoll modify listener: {e}");
                            }
                        }
                    }
                }
                Timer::Lifetime => {
                    note!("lifetime of {} ms over, exiting", self.cfg.lifetime_ms);
                    exit(0);
                }
            }
        }
    }

    /// One up/down transition.
    fn cycle(&mut self) {
        if self.cycle_up {
            note!("down for {} ms", self.cfg.down_ms);
            self.stop_listening();
            self.close_all(if self.cfg.rst {
                CloseHow::Rst
            } else {
                CloseHow::Fin
            });
            self.cycle_up = false;
            self.schedule(Duration::from_millis(self.cfg.down_ms), Timer::Cycle);
        } else {
            match self.start_listening() {
                Ok(port) => {
                    note!("up on port {port}");
                    self.cycle_up = true;
                    self.schedule(Duration::from_millis(self.cfg.up_ms), Timer::Cycle);
                }
                Err(e) => {
                    note!("relisten on {} failed: {e}; retrying", self.addr);
                    self.schedule(RELISTEN_RETRY, Timer::Cycle);
                }
            }
        }
    }

    // --- stdin control ----------------------------------------------------

    /// Read what stdin has (one read: epoll said it is readable, so this
    /// does not block even on a terminal) and run complete lines.
    fn stdin_ready(&mut self) {
        let mut chunk = [0u8; 4096];
        // SAFETY: `chunk` is writable for its full length.
        let n = unsafe { libc::read(libc::STDIN_FILENO, chunk.as_mut_ptr().cast(), chunk.len()) };
        let n = match cvt_size(n) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                return;
            }
            Err(_) => 0, // unreadable stdin counts as EOF
        };
        if n == 0 {
            // A last line without newline still counts.
            let rest = mem::take(&mut self.stdin_buf);
            self.command(&String::from_utf8_lossy(&rest));
            note!("stdin closed, exiting");
            exit(0);
        }
        self.stdin_buf.extend_from_slice(&chunk[..n]);
        while let Some(pos) = self.stdin_buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.stdin_buf.drain(..=pos).collect();
            self.command(&String::from_utf8_lossy(&line));
        }
        if self.stdin_buf.len() > MAX_STDIN_LINE {
            self.stdin_buf.clear();
            reply("ERR line too long");
        }
    }

    /// Run one control command and answer it on stdout.
    fn command(&mut self, line: &str) {
        let words: Vec<&str> = line.split_whitespace().collect();
        // Connections the kernel has completed but we have not accepted yet
        // are already "current" to the client: take them in first, so that
        // `drop`, `stop`, `mode` and `stats` see every connection made.
        if matches!(
            words.as_slice(),
            ["drop" | "rst" | "stop" | "stats" | "mode", ..]
        ) {
            self.accept_ready();
        }
        match words.as_slice() {
            [] => {}
            ["drop"] => {
                self.close_all(CloseHow::Fin);
                reply("OK drop");
            }
            ["rst"] => {
                self.close_all(CloseHow::Rst);
                reply("OK rst");
            }
            ["stop"] => {
                self.stop_listening();
                self.close_all(CloseHow::Fin);
                note!("stopped listening");
                reply("OK stop");
            }
            ["start"] => {
                let was_listening = self.listener.is_some();
                match self.start_listening() {
                    Ok(port) => {
                        if !was_listening {
                            note!("up on port {port}");
                        }
                        reply(&format!("OK start {port}"));
                    }
                    Err(e) => reply(&format!("ERR start: {e}")),
                }
            }
            ["mode", name] => match Mode::parse(name) {
                Some(mode) => {
                    self.set_mode(mode);
                    reply(&format!("OK mode {}", mode.name()));
                }
                None => reply(&format!("ERR unknown mode: {name}")),
            },
            ["stats"] => reply(&format!(
                "OK stats accepted={} active={} bytes_in={} bytes_out={} listening={}",
                self.accepted,
                self.conns.len(),
                self.bytes_in,
                self.bytes_out,
                u8::from(self.listener.is_some()),
            )),
            ["quit"] => {
                reply("OK quit");
                exit(0);
            }
            _ => reply(&format!("ERR unknown command: {}", words.join(" "))),
        }
    }

    // --- main loop --------------------------------------------------------

    fn run(&mut self) -> io::Result<()> {
        let port = self.start_listening()?;
        if let Some(path) = &self.cfg.port_file {
            write_port_file(path, port)
                .map_err(|e| io::Error::new(e.kind(), format!("port file {path}: {e}")))?;
        }
        reply(&format!("LISTENING {port}"));
        note!("up on port {port} (mode {})", self.mode.name());

        if self.cfg.up_ms > 0 {
            self.schedule(Duration::from_millis(self.cfg.up_ms), Timer::Cycle);
        }
        if self.cfg.lifetime_ms > 0 {
            self.schedule(Duration::from_millis(self.cfg.lifetime_ms), Timer::Lifetime);
        }
        if !self.cfg.ignore_stdin {
            self.watch_stdin();
        }

        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS];
        loop {
            let n = match self.epoll.wait(&mut events, self.wait_timeout_ms()) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
                Err(e) => return Err(e),
            };
            for ev in &events[..n] {
                let (token, flags) = (ev.u64, ev.events);
                match token {
                    TOKEN_LISTENER => self.accept_ready(),
                    TOKEN_STDIN => self.stdin_ready(),
                    TOKEN_SIGNAL => on_signal(&self.signals),
                    id => self.conn_event(id, flags),
                }
            }
            self.run_timers();
        }
    }

    /// Register stdin with epoll.  Regular files and /dev/null cannot be
    /// polled (EPERM); they never block, so they are read to EOF now.
    fn watch_stdin(&mut self) {
        // SAFETY: isatty only queries the descriptor.
        let tty = unsafe { libc::isatty(libc::STDIN_FILENO) } == 1;
        // Nonblocking reads for pipes.  A terminal's file description is
        // shared with the shell, so it is left alone; there a single read
        // per readiness event cannot block either.
        if !tty {
            set_nonblocking(libc::STDIN_FILENO, true);
        }
        if let Err(e) = self.epoll.add(libc::STDIN_FILENO, EV_IN, TOKEN_STDIN) {
            if e.raw_os_error() != Some(libc::EPERM) {
                note!("cannot watch stdin ({e}); treating it as closed");
            }
            // Blocking reads from here on, so a read never returns EAGAIN.
            set_nonblocking(libc::STDIN_FILENO, false);
            loop {
                self.stdin_ready(); // exits at EOF
            }
        }
    }
}

/// SIGINT or SIGTERM arrived on the signalfd: exit cleanly.
fn on_signal(signals: &OwnedFd) {
    // SAFETY: signalfd_siginfo is plain old data; all zeroes is valid.
    let mut info: libc::signalfd_siginfo = unsafe { mem::zeroed() };
    let size = mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: `info` is writable for `size` bytes.
    let got = unsafe {
        libc::read(
            signals.as_raw_fd(),
            (&mut info as *mut libc::signalfd_siginfo).cast(),
            size,
        )
    };
    if got == size as isize {
        note!("exiting on signal {}", info.ssi_signo);
        exit(0);
    }
}

/// Print one protocol line on stdout and flush it.
fn reply(line: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn exit(code: i32) -> ! {
    let _ = io::stdout().flush();
    process::exit(code)
}

fn main() {
    let cfg = match parse_args(std::env::args().skip(1)) {
        Ok(Some(cfg)) => cfg,
        Ok(None) => return,
        Err(msg) => {
            note!("{msg}");
            eprint!("{USAGE}");
            process::exit(2);
        }
    };
    ensure_std_fds();
    // SAFETY: setting SIGPIPE to SIG_IGN installs no handler code.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let limit = raise_nofile_limit();
    if !cfg.quiet {
        note!("descriptor limit {limit}");
    }
    let result = Server::new(cfg).and_then(|mut server| server.run());
    if let Err(e) = result {
        note!("fatal: {e}");
        process::exit(1);
    }
}
