//! The server: one epoll loop over the listener, the clients, stdin (commands)
//! and a signalfd, with a timer heap for drops, up/down cycles and retries.

use crate::config::{Config, Mode};
use crate::{exit, on_signal, reply, signal_fd, write_port_file};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt::Display;
use std::io;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};
use testkit::epoll::{self, Epoll, ERR as EV_ERR, HUP as EV_HUP, IN as EV_IN, OUT as EV_OUT};
use testkit::rng::Rng;
use testkit::sys;

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
            match sys::send(fd, &self.out[self.out_pos..], 0) {
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
            match sys::send(fd, &pattern[start..start + BLAST_CHUNK], 0) {
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

pub(crate) struct Server {
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
    pub(crate) fn new(cfg: Config) -> io::Result<Server> {
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
            rng: cfg.seed.map_or_else(Rng::from_time, Rng::new),
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
            let (fd, port) = match &self.cfg.unix {
                Some(path) => (sys::listen_unix(path, self.cfg.backlog)?, 0),
                None => {
                    let fd = sys::listen(self.addr, self.cfg.backlog)?;
                    let port = sys::local_addr(fd.as_raw_fd())?.port();
                    (fd, port)
                }
            };
            self.epoll.add(fd.as_raw_fd(), EV_IN, TOKEN_LISTENER)?;
            self.addr.set_port(port);
            self.listener = Some(fd);
            self.listener_gen += 1;
        }
        Ok(self.addr.port())
    }

    /// Close the listening socket (closing also removes it from epoll); a Unix
    /// socket's file goes too, as when its server exits.
    fn stop_listening(&mut self) {
        self.listener = None;
        if let Some(path) = self.cfg.unix.as_deref().filter(|p| !p.starts_with('@')) {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Accept until EAGAIN.  On descriptor exhaustion, stop watching the
    /// listener and retry after a short back-off instead of spinning.
    fn accept_ready(&mut self) {
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            let lfd = listener.as_raw_fd();
            match sys::accept(lfd) {
                Ok((fd, peer)) => {
                    if self.accept_paused {
                        self.accept_paused = false;
                        note!("accepting again");
                    }
                    self.add_conn(fd, peer);
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
        let _ = sys::setsockopt(raw, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1 as libc::c_int);

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
                    match sys::recv(fd, &mut self.read_buf, 0) {
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
                let _ = sys::setsockopt(fd, libc::SOL_SOCKET, libc::SO_LINGER, linger);
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
            match sys::recv(fd, &mut self.read_buf, 0) {
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
            let why = match sys::so_error(conn.fd.as_raw_fd()) {
                0 => "hangup".to_string(),
                e => format!("error: {}", io::Error::from_raw_os_error(e)),
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
        let n = match sys::cvt_size(n) {
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

    pub(crate) fn run(&mut self) -> io::Result<()> {
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

        let mut events = vec![epoll::NO_EVENT; MAX_EVENTS];
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
            sys::set_nonblocking(libc::STDIN_FILENO, true);
        }
        if let Err(e) = self.epoll.add(libc::STDIN_FILENO, EV_IN, TOKEN_STDIN) {
            if e.raw_os_error() != Some(libc::EPERM) {
                note!("cannot watch stdin ({e}); treating it as closed");
            }
            // Blocking reads from here on, so a read never returns EAGAIN.
            sys::set_nonblocking(libc::STDIN_FILENO, false);
            loop {
                self.stdin_ready(); // exits at EOF
            }
        }
    }
}
