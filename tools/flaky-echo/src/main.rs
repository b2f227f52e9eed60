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
//!
//! Files: `config.rs` (modes, options, `--help`), `server.rs` (the epoll loop,
//! clients, timers, commands), this one (process setup and `main`). The socket
//! helpers come from the shared `testkit` crate.

#![deny(unsafe_op_in_unsafe_fn)]

use std::io::{self, Write};
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process;
use testkit::sys;

/// Log one line to stderr.  Errors are ignored: logging must never kill
/// the server (stderr may be a closed pipe).
macro_rules! note {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = writeln!(::std::io::stderr().lock(), "flaky-echo: {}", format_args!($($arg)*));
    }};
}

// After `note!`, which they use.
mod config;
mod server;

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
        sys::cvt(libc::sigprocmask(
            libc::SIG_BLOCK,
            &set,
            std::ptr::null_mut(),
        ))?;
    }
    let flags = libc::SFD_NONBLOCK | libc::SFD_CLOEXEC;
    // SAFETY: `set` is a valid sigset_t.
    let fd = sys::cvt(unsafe { libc::signalfd(-1, &set, flags) })?;
    // SAFETY: signalfd just created this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Write the port to `path` atomically: temporary file, then rename.
fn write_port_file(path: &str, port: u16) -> io::Result<()> {
    let tmp = format!("{path}.tmp.{}", process::id());
    std::fs::write(&tmp, format!("{port}\n"))?;
    std::fs::rename(&tmp, path)
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
    let cfg = match config::parse_args(std::env::args().skip(1)) {
        Ok(Some(cfg)) => cfg,
        Ok(None) => return,
        Err(msg) => {
            note!("{msg}");
            eprint!("{}", config::USAGE);
            process::exit(2);
        }
    };
    ensure_std_fds();
    // SAFETY: setting SIGPIPE to SIG_IGN installs no handler code.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let limit = sys::raise_nofile_limit();
    if !cfg.quiet {
        note!("descriptor limit {limit}");
    }
    let result = server::Server::new(cfg).and_then(|mut server| server.run());
    if let Err(e) = result {
        note!("fatal: {e}");
        process::exit(1);
    }
}
