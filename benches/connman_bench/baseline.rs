//! The raw-socket baselines: for each metric, the same work done with plain
//! nonblocking sockets and epoll on this thread, no library. Socket calls come from
//! the shared `testkit::sys` (the ones flaky-echo and the tests use).

use crate::report::pct;
use crate::support::{now_ns, R};
use crate::system::{listen_overflows, process_cpu};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};
use testkit::epoll::{self, Epoll};
use testkit::sys;

/// 127.0.0.1:`port`.
pub(crate) fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn err(what: &str, e: io::Error) -> String {
    format!("{what}: {e}")
}

/// The socket options connman sets on every TCP socket by default (TCP_NODELAY,
/// keepalive idle / interval / count, TCP_USER_TIMEOUT), set the same way.
pub(crate) fn connman_sockopts(fd: RawFd) -> R<()> {
    let o = connman::Options::default();
    let secs = |d: Duration| d.as_secs().max(1) as i32;
    let set =
        |level, name, v: i32| sys::setsockopt(fd, level, name, v).map_err(|e| err("setsockopt", e));
    if o.nodelay {
        set(libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
    }
    if let Some(idle) = o.keepalive_idle {
        set(libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)?;
        set(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, secs(idle))?;
        set(
            libc::IPPROTO_TCP,
            libc::TCP_KEEPINTVL,
            secs(o.keepalive_interval),
        )?;
        set(
            libc::IPPROTO_TCP,
            libc::TCP_KEEPCNT,
            o.keepalive_count as i32,
        )?;
    }
    if let Some(t) = o.user_timeout {
        set(
            libc::IPPROTO_TCP,
            libc::TCP_USER_TIMEOUT,
            t.as_millis() as i32,
        )?;
    }
    Ok(())
}

/// A nonblocking socket with a connect to 127.0.0.1:`port` started; with
/// connman's socket options first when `like_connman`.
pub(crate) fn connect_start(port: u16, like_connman: bool) -> R<OwnedFd> {
    let fd = sys::tcp_socket(&loopback(port)).map_err(|e| err("socket", e))?;
    if like_connman {
        connman_sockopts(fd.as_raw_fd())?;
    }
    sys::connect_start(fd.as_raw_fd(), &loopback(port)).map_err(|e| err("connect", e))?;
    Ok(fd)
}

/// A connected nonblocking raw socket (TCP_NODELAY when asked, as connman's default).
pub(crate) fn connect(port: u16, nodelay: bool) -> R<OwnedFd> {
    let fd = sys::tcp_socket(&loopback(port)).map_err(|e| err("socket", e))?;
    if nodelay {
        let _ = sys::setsockopt(fd.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_NODELAY, 1i32);
    }
    sys::connect_start(fd.as_raw_fd(), &loopback(port)).map_err(|e| err("connect", e))?;
    if !sys::poll_fd(fd.as_raw_fd(), libc::POLLOUT, 5_000) || sys::so_error(fd.as_raw_fd()) != 0 {
        return Err(format!("raw connect to {port} failed"));
    }
    Ok(fd)
}

/// One nonblocking `send` (MSG_NOSIGNAL | MSG_DONTWAIT).
#[inline]
pub(crate) fn send(fd: RawFd, b: &[u8]) -> io::Result<usize> {
    sys::send(fd, b, libc::MSG_DONTWAIT)
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// Metric 1: mean round trip (ns) of `n` pings of `ping` through a minimal epoll
/// loop on this thread: one recv per readiness event (again while the buffer
/// fills, as connman does), the next ping sent as soon as a whole reply is in.
pub(crate) fn echo_round(
    fd: RawFd,
    ep: &Epoll,
    buf: &mut [u8],
    ping: &[u8],
    n: u64,
    samples: &mut Vec<u32>,
) -> R<f64> {
    let msg = ping.len();
    let mut evs = [epoll::NO_EVENT; 8];
    let end = Instant::now() + Duration::from_secs(30);
    samples.reserve(n as usize);
    let t0 = Instant::now();
    let mut sent = now_ns();
    if !matches!(send(fd, ping), Ok(k) if k == msg) {
        return Err("raw first ping failed".into());
    }
    let (mut done, mut pending) = (0u64, 0usize);
    while done < n {
        if ep.wait(&mut evs, 100).unwrap_or(0) == 0 {
            if Instant::now() > end {
                return Err("raw echo timed out".into());
            }
            continue;
        }
        loop {
            let r = match sys::recv(fd, buf, libc::MSG_DONTWAIT) {
                Ok(0) => return Err("raw echo: EOF".into()),
                Ok(r) => r,
                Err(e) if would_block(&e) => break,
                Err(e) => return Err(err("raw echo recv", e)),
            };
            pending += r;
            while pending >= msg {
                pending -= msg;
                done += 1;
                let now = now_ns();
                samples.push(now.saturating_sub(sent) as u32);
                sent = now;
                if done < n {
                    match send(fd, ping) {
                        Ok(k) if k == msg => {}
                        Ok(_) => return Err("raw echo send: partial".into()),
                        Err(e) => return Err(err("raw echo send", e)),
                    }
                }
            }
            if r < buf.len() {
                break;
            }
        }
    }
    Ok(t0.elapsed().as_nanos() as f64 / n as f64)
}

/// Metric 2: bytes/s received over `window` after `warmup`, into `buf` (the size
/// of connman's read buffer). `like_connman` = false: recv until EAGAIN, then poll (the
/// baseline). true (a diagnostic): epoll_wait, then one recv per wake-up unless it
/// filled the buffer, which is the reactor's loop structure.
pub(crate) fn blast_round(
    port: u16,
    warmup: Duration,
    window: Duration,
    buf: &mut [u8],
    like_connman: bool,
) -> R<f64> {
    let fd = connect(port, true)?;
    let fd = fd.as_raw_fd();
    let ep = Epoll::new().map_err(|e| err("epoll", e))?;
    ep.add(fd, epoll::IN, 1).map_err(|e| err("epoll_ctl", e))?;
    let mut evs = [epoll::NO_EVENT; 4];
    let mut total = 0u64;
    let start = Instant::now();
    let mut t0 = None;
    loop {
        let now = Instant::now();
        if t0.is_none() && now >= start + warmup {
            t0 = Some((now, total));
        }
        if let Some((t, b)) = t0 {
            if now >= t + window {
                return Ok((total - b) as f64 / now.duration_since(t).as_secs_f64());
            }
        }
        if like_connman {
            let _ = ep.wait(&mut evs, 100);
        }
        match sys::recv(fd, buf, 0) {
            Ok(0) => return Err("blast: EOF".to_string()),
            Ok(r) => total += r as u64,
            Err(e) if would_block(&e) => {
                if !like_connman {
                    sys::poll_fd(fd, libc::POLLIN, 100);
                }
            }
            Err(e) => return Err(err("blast recv", e)),
        }
    }
}

/// Metric 3: one handshake: socket(), nonblocking connect, wait until writable (ns).
pub(crate) fn handshake(port: u16) -> R<f64> {
    let t0 = Instant::now();
    let fd = connect_start(port, false)?;
    let ok =
        sys::poll_fd(fd.as_raw_fd(), libc::POLLOUT, 2_000) && sys::so_error(fd.as_raw_fd()) == 0;
    let el = t0.elapsed();
    if !ok {
        return Err("raw handshake failed".into());
    }
    Ok(el.as_nanos() as f64)
}

/// Metric 3, like with like: a raw client's whole reconnect after the server
/// dropped it, in the conditions connman meets (the connection up for
/// `up_for`, then the server's `drop` command): from the EOF (as an epoll loop
/// sees it) to the new socket writable: close, socket(), nonblocking connect,
/// poll (ns). `fd` is the connection; returns the new one.
pub(crate) fn reconnect(
    srv: &mut testkit::FlakyEcho,
    fd: OwnedFd,
    up_for: Duration,
) -> R<(f64, OwnedFd)> {
    let ep = Epoll::new().map_err(|e| err("epoll", e))?;
    ep.add(fd.as_raw_fd(), epoll::IN, 1)
        .map_err(|e| err("epoll_ctl", e))?;
    std::thread::sleep(up_for);
    srv.cmd("drop")?;
    let mut evs = [epoll::NO_EVENT; 1];
    let mut buf = [0u8; 64];
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        if ep.wait(&mut evs, 100).unwrap_or(0) > 0
            && matches!(
                sys::recv(fd.as_raw_fd(), &mut buf, libc::MSG_DONTWAIT),
                Ok(0)
            )
        {
            break;
        }
        if Instant::now() > end {
            return Err("raw reconnect: no EOF within 5 s".into());
        }
    }
    let t0 = Instant::now();
    drop(fd);
    let port = srv.port;
    let fd = connect_start(port, false)?;
    let ok =
        sys::poll_fd(fd.as_raw_fd(), libc::POLLOUT, 2_000) && sys::so_error(fd.as_raw_fd()) == 0;
    let el = t0.elapsed();
    if !ok {
        return Err("raw reconnect failed".into());
    }
    Ok((el.as_nanos() as f64, fd))
}

/// What one raw round of metric 4 measured.
pub(crate) struct ScaleRound {
    /// Until all were connected.
    pub(crate) open_ms: f64,
    /// Until 99% were connected.
    pub(crate) open99_ms: f64,
    /// Process CPU (user + system) per connection, µs.
    pub(crate) cpu_us: f64,
    /// ListenOverflows during the opens.
    pub(crate) overflows: u64,
}

/// Metric 4: `n` nonblocking connects at once, on one epoll, until all are up,
/// each socket with connman's default socket options (like with like).
pub(crate) fn scale_round(n: usize, port: u16, debug: bool) -> R<ScaleRound> {
    let ep = Epoll::new().map_err(|e| err("epoll", e))?;
    let mut fds = Vec::with_capacity(n);
    let mut evs = vec![epoll::NO_EVENT; 1024];
    if debug {
        let _ = std::process::Command::new("nstat").arg("-n").status();
    }
    let ov0 = listen_overflows();
    let cpu0 = process_cpu();
    let t0 = Instant::now();
    let mut done_ms = Vec::with_capacity(n);
    let mut res = Ok(());
    for i in 0..n {
        match connect_start(port, true) {
            Ok(fd) => {
                let added = ep.add(fd.as_raw_fd(), epoll::OUT, i as u64);
                fds.push(fd);
                if let Err(e) = added {
                    res = Err(err("epoll_ctl", e));
                    break;
                }
            }
            Err(e) => {
                res = Err(e);
                break;
            }
        }
    }
    let mut up = 0;
    let end = Instant::now() + Duration::from_secs(60);
    while res.is_ok() && up < n {
        let k = ep.wait(&mut evs, 100).unwrap_or(0);
        for ev in &evs[..k] {
            let fd = fds[ev.u64 as usize].as_raw_fd();
            if sys::so_error(fd) != 0 || ev.events & (epoll::ERR | epoll::HUP) != 0 {
                res = Err("raw connect failed".into());
            }
            // Done with it: stop reporting writability.
            let _ = ep.delete(fd);
            up += 1;
            done_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        if Instant::now() > end {
            res = Err(format!("raw: only {up} of {n} connected in 60 s"));
        }
    }
    let open_ms = t0.elapsed().as_secs_f64() * 1e3;
    let cpu_us = (process_cpu() - cpu0).as_secs_f64() * 1e6 / n as f64;
    let overflows = listen_overflows() - ov0;
    if debug {
        let _ = std::process::Command::new("nstat").status();
    }
    drop(fds);
    res?;
    println!("  raw round: {n} connected in {open_ms:.1} ms");
    Ok(ScaleRound {
        open_ms,
        open99_ms: pct(&done_ms, 99.0),
        cpu_us,
        overflows,
    })
}

/// Metric 5: one `send` of `msg`, waiting (poll) while the socket is full; counts
/// the EAGAIN answers in `eagain`.
pub(crate) fn send_one(fd: RawFd, msg: &[u8], eagain: &mut u64) -> R<()> {
    loop {
        match send(fd, msg) {
            Ok(k) if k == msg.len() => return Ok(()),
            Ok(_) => return Err("raw send: partial".into()),
            Err(e) if would_block(&e) => {
                *eagain += 1;
                sys::poll_fd(fd, libc::POLLOUT, 100);
            }
            Err(e) => return Err(err("raw send", e)),
        }
    }
}
