//! Thin safe wrappers over the few system calls connman makes. Every `unsafe` block
//! of the core lives here; everything above works with plain descriptors and slices.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// errno of an io::Error (EIO when it carries none).
pub fn errno_of(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

/// Closes a descriptor, ignoring errors (there is nothing useful to do with them).
pub fn close(fd: RawFd) {
    if fd >= 0 {
        // SAFETY: closing an integer descriptor has no memory-safety preconditions.
        unsafe { libc::close(fd) };
    }
}

/// Longest Unix socket path (or abstract name after its leading NUL), in bytes.
pub const MAX_UNIX_PATH: usize = 107;

/// A Unix domain socket address: a filesystem path, or a name in the abstract
/// namespace (written with a leading `@`, stored with a leading NUL).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnixAddr {
    /// sun_path as the kernel gets it; `len` bytes of it are used.
    path: [u8; MAX_UNIX_PATH + 1],
    len: u8,
}

impl UnixAddr {
    /// Parses `@name` (abstract) or a path; None when empty, too long or with a NUL.
    pub fn parse(text: &str) -> Option<UnixAddr> {
        let b = text.as_bytes();
        if b.is_empty() || b.len() > MAX_UNIX_PATH + usize::from(b[0] == b'@') || b.contains(&0) {
            return None;
        }
        let mut path = [0u8; MAX_UNIX_PATH + 1];
        if b[0] == b'@' {
            // Abstract: a leading NUL, then the name (which may be empty).
            path[1..b.len()].copy_from_slice(&b[1..]);
            Some(UnixAddr {
                path,
                len: b.len() as u8,
            })
        } else {
            // A path: NUL-terminated within sun_path.
            path[..b.len()].copy_from_slice(b);
            Some(UnixAddr {
                path,
                len: b.len() as u8 + 1,
            })
        }
    }
}

impl std::fmt::Debug for UnixAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::fmt::Display for UnixAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let used = &self.path[..self.len as usize];
        match used.split_first() {
            Some((0, name)) => write!(f, "unix:@{}", String::from_utf8_lossy(name)),
            _ => write!(
                f,
                "unix:{}",
                String::from_utf8_lossy(used.strip_suffix(&[0]).unwrap_or(used))
            ),
        }
    }
}

/// An address connman connects to.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum Addr {
    Ip(SocketAddr),
    Unix(UnixAddr),
}

/// A socket address family (AF_INET, AF_INET6, AF_UNIX).
pub type Family = libc::c_int;

impl Addr {
    /// The socket family of the address, to tell whether a socket can connect to it.
    pub fn family(&self) -> Family {
        match self {
            Addr::Ip(SocketAddr::V4(_)) => libc::AF_INET,
            Addr::Ip(SocketAddr::V6(_)) => libc::AF_INET6,
            Addr::Unix(_) => libc::AF_UNIX,
        }
    }

    pub fn is_unix(&self) -> bool {
        matches!(self, Addr::Unix(_))
    }
}

impl std::fmt::Debug for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Addr::Ip(a) => write!(f, "{a}"),
            Addr::Unix(u) => write!(f, "{u}"),
        }
    }
}

/// A nonblocking, close-on-exec stream socket that can connect to `addr`.
pub fn socket_for(addr: &Addr) -> io::Result<RawFd> {
    // SAFETY: plain system call with integer arguments.
    cvt(unsafe {
        libc::socket(
            addr.family(),
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })
}

fn setsockopt_int(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: the pointer and length describe a live c_int on our stack.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            size_of::<i32>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Socket options applied to every new socket of a connection.
#[derive(Debug, Clone, Copy)]
pub struct SockOpts {
    pub nodelay: bool,
    pub keepalive: Option<(u32, u32, u32)>,
    pub user_timeout_ms: Option<u32>,
}

pub fn apply_sockopts(fd: RawFd, o: &SockOpts) -> io::Result<()> {
    if o.nodelay {
        setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
    }
    if let Some((idle, intvl, cnt)) = o.keepalive {
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)?;
        setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, idle as i32)?;
        setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, intvl as i32)?;
        setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, cnt as i32)?;
    }
    if let Some(ms) = o.user_timeout_ms {
        setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, ms as i32)?;
    }
    Ok(())
}

fn to_sockaddr(addr: &Addr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let len = match addr {
        Addr::Unix(u) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_un.
            let sun = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_un) };
            sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
            for (dst, src) in sun.sun_path.iter_mut().zip(&u.path[..u.len as usize]) {
                *dst = *src as libc::c_char;
            }
            std::mem::offset_of!(libc::sockaddr_un, sun_path) + u.len as usize
        }
        Addr::Ip(SocketAddr::V4(a)) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            size_of::<libc::sockaddr_in>()
        }
        Addr::Ip(SocketAddr::V6(a)) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_scope_id = a.scope_id();
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// Outcome of a nonblocking connect.
pub enum ConnectStart {
    Done,
    InProgress,
}

/// Starts a nonblocking connect. EAGAIN is a failure, not "in progress": for a Unix
/// socket it means the listener's backlog is full, for TCP that no local port is free.
pub fn connect(fd: RawFd, addr: &Addr) -> io::Result<ConnectStart> {
    let (storage, len) = to_sockaddr(addr);
    // SAFETY: storage holds a valid sockaddr of `len` bytes.
    let r = unsafe { libc::connect(fd, (&storage as *const libc::sockaddr_storage).cast(), len) };
    if r == 0 {
        return Ok(ConnectStart::Done);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINPROGRESS) | Some(libc::EINTR) => Ok(ConnectStart::InProgress),
        _ => Err(e),
    }
}

/// Whether a nonblocking connect in progress has finished, without waiting:
/// Some(0) connected, Some(errno) failed, None still in flight.
pub fn connect_outcome(fd: RawFd) -> Option<i32> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one live pollfd; a zero timeout never blocks.
    let r = unsafe { libc::poll(&mut p, 1, 0) };
    if r <= 0 {
        return None;
    }
    if p.revents & (libc::POLLERR | libc::POLLHUP) != 0 {
        return Some(match socket_error(fd) {
            0 => libc::ECONNREFUSED,
            e => e,
        });
    }
    (p.revents & libc::POLLOUT != 0).then_some(0)
}

/// The pending error of a socket (SO_ERROR), 0 if none.
pub fn socket_error(fd: RawFd) -> i32 {
    let mut err: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: err and len are live locals of the sizes given.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut err as *mut i32).cast(),
            &mut len,
        )
    };
    if r < 0 {
        errno_of(&io::Error::last_os_error())
    } else {
        err
    }
}

/// Atomically puts the socket `from` on descriptor number `to` (close-on-exec).
pub fn dup3_cloexec(from: RawFd, to: RawFd) -> io::Result<()> {
    loop {
        // SAFETY: plain system call with integer arguments.
        let r = unsafe { libc::dup3(from, to, libc::O_CLOEXEC) };
        if r >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EBUSY) && e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// Makes `fd` nonblocking (the application may have cleared the flag on a
/// descriptor it was handed).
pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl with integer arguments only.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    }
    Ok(())
}

/// What a descriptor refers to: (st_dev, st_ino) of its open file. Socket inode
/// numbers are not reused while the socket lives, so this tells whether a
/// descriptor number still holds the socket it held before. None: not open.
pub type FileId = (u64, u64);

pub fn file_id(fd: RawFd) -> Option<FileId> {
    // SAFETY: all-zero is a valid stat; fstat writes into the live local.
    let mut st: libc::stat = unsafe { zeroed() };
    // SAFETY: as above.
    let r = unsafe { libc::fstat(fd, &mut st) };
    (r == 0).then_some((st.st_dev, st.st_ino))
}

/// shutdown(SHUT_RDWR): the descriptor stays open (its number stays reserved) but
/// every write on it fails.
pub fn shutdown_both(fd: RawFd) {
    // SAFETY: plain system call with integer arguments.
    unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
}

/// send(2) with MSG_NOSIGNAL | MSG_DONTWAIT.
pub fn send(fd: RawFd, data: &[u8]) -> io::Result<usize> {
    loop {
        // SAFETY: data is a live slice of data.len() bytes.
        let r = unsafe {
            libc::send(
                fd,
                data.as_ptr().cast(),
                data.len(),
                libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
            )
        };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// recv(2) without blocking. Ok(0) is end of stream.
pub fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: buf is a live, writable slice of buf.len() bytes.
        let r = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

// ---- epoll and eventfd ----

pub const EV_IN: u32 = libc::EPOLLIN as u32;
pub const EV_OUT: u32 = libc::EPOLLOUT as u32;
pub const EV_RDHUP: u32 = libc::EPOLLRDHUP as u32;
pub const EV_ERR: u32 = libc::EPOLLERR as u32;
pub const EV_HUP: u32 = libc::EPOLLHUP as u32;

pub fn epoll_create() -> io::Result<RawFd> {
    // SAFETY: plain system call.
    cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })
}

fn epoll_ctl(ep: RawFd, op: i32, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: token };
    // SAFETY: ev is a live epoll_event; the kernel copies it.
    cvt(unsafe { libc::epoll_ctl(ep, op, fd, &mut ev) }).map(drop)
}

pub fn epoll_add(ep: RawFd, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
    epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, events, token)
}

pub fn epoll_mod(ep: RawFd, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
    epoll_ctl(ep, libc::EPOLL_CTL_MOD, fd, events, token)
}

pub fn epoll_del(ep: RawFd, fd: RawFd) {
    let _ = epoll_ctl(ep, libc::EPOLL_CTL_DEL, fd, 0, 0);
}

/// One readiness event: (events, token).
pub type Event = libc::epoll_event;

pub fn new_events(n: usize) -> Vec<Event> {
    vec![libc::epoll_event { events: 0, u64: 0 }; n]
}

pub fn event_parts(ev: &Event) -> (u32, u64) {
    (ev.events, ev.u64)
}

/// Waits for events; `timeout_ms` -1 waits forever. EINTR returns 0 events.
pub fn epoll_wait(ep: RawFd, events: &mut [Event], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: events is a live, writable array of events.len() epoll_event.
    let r = unsafe {
        libc::epoll_wait(
            ep,
            events.as_mut_ptr(),
            events.len().min(i32::MAX as usize) as i32,
            timeout_ms,
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINTR) {
            return Ok(0);
        }
        return Err(e);
    }
    Ok(r as usize)
}

/// A nonblocking, close-on-exec CLOCK_MONOTONIC timerfd, disarmed.
pub fn timerfd() -> io::Result<RawFd> {
    // SAFETY: plain system call with integer arguments.
    cvt(unsafe {
        libc::timerfd_create(
            libc::CLOCK_MONOTONIC,
            libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
        )
    })
}

/// Arms `fd` to fire once after `after` (None: disarms it). A zero delay fires at
/// once (the kernel would read an all-zero value as "disarm").
pub fn timerfd_set(fd: RawFd, after: Option<std::time::Duration>) {
    // SAFETY: itimerspec is plain old data; all-zero disarms.
    let mut spec: libc::itimerspec = unsafe { zeroed() };
    if let Some(d) = after {
        let d = d.max(std::time::Duration::from_nanos(1));
        spec.it_value.tv_sec = d.as_secs().min(i64::MAX as u64) as libc::time_t;
        spec.it_value.tv_nsec = d.subsec_nanos() as libc::c_long;
    }
    // SAFETY: spec is a live itimerspec; the old value is not asked for.
    unsafe { libc::timerfd_settime(fd, 0, &spec, std::ptr::null_mut()) };
}

/// Reads (and so clears) a timerfd's expiration count.
pub fn timerfd_clear(fd: RawFd) {
    eventfd_drain(fd);
}

pub fn eventfd() -> io::Result<RawFd> {
    // SAFETY: plain system call.
    cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })
}

pub fn eventfd_signal(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live u64.
    unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
}

pub fn eventfd_drain(fd: RawFd) {
    let mut v: u64 = 0;
    // SAFETY: reads at most 8 bytes into a live u64.
    unsafe { libc::read(fd, (&mut v as *mut u64).cast(), 8) };
}

// ---- name resolution ----

/// Resolves `host` for TCP with getaddrinfo. Err carries the EAI_* code
/// (for EAI_SYSTEM, the errno is folded in as a negative EAI code is not enough:
/// the caller gets EAI_SYSTEM).
pub fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, i32> {
    let c_host = std::ffi::CString::new(host).map_err(|_| libc::EAI_NONAME)?;
    // SAFETY: addrinfo is plain old data; all-zero is a valid value.
    let mut hints: libc::addrinfo = unsafe { zeroed() };
    hints.ai_family = libc::AF_UNSPEC;
    hints.ai_socktype = libc::SOCK_STREAM;
    hints.ai_protocol = libc::IPPROTO_TCP;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: c_host is a NUL-terminated string, hints a live addrinfo, res an out pointer.
    let rc = unsafe { libc::getaddrinfo(c_host.as_ptr(), std::ptr::null(), &hints, &mut res) };
    if rc != 0 {
        return Err(rc);
    }
    let mut out: Vec<SocketAddr> = Vec::new();
    let mut cur = res;
    while !cur.is_null() {
        // SAFETY: cur is a node of the list getaddrinfo returned and we have not freed.
        let ai = unsafe { &*cur };
        let addr = if ai.ai_family == libc::AF_INET && !ai.ai_addr.is_null() {
            // SAFETY: for AF_INET, ai_addr points at a sockaddr_in.
            let sin = unsafe { &*(ai.ai_addr as *const libc::sockaddr_in) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()),
                port,
            )))
        } else if ai.ai_family == libc::AF_INET6 && !ai.ai_addr.is_null() {
            // SAFETY: for AF_INET6, ai_addr points at a sockaddr_in6.
            let sin6 = unsafe { &*(ai.ai_addr as *const libc::sockaddr_in6) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                port,
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        } else {
            None
        };
        if let Some(a) = addr {
            if !out.contains(&a) {
                out.push(a);
            }
        }
        cur = ai.ai_next;
    }
    // SAFETY: res came from a successful getaddrinfo and is freed once.
    unsafe { libc::freeaddrinfo(res) };
    if out.is_empty() {
        return Err(libc::EAI_NONAME);
    }
    Ok(out)
}

/// A numeric address, without asking the resolver.
pub fn parse_numeric(host: &str, port: u16) -> Option<SocketAddr> {
    let h = host
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(host);
    h.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, port))
}

/// getaddrinfo's description of an EAI_* code ("Name or service not known").
pub fn resolve_error_text(code: i32) -> String {
    // SAFETY: gai_strerror returns a pointer to a static NUL-terminated string.
    let p = unsafe { libc::gai_strerror(code) };
    if p.is_null() {
        return format!("resolver error {code}");
    }
    // SAFETY: non-NULL static string, as above.
    unsafe { std::ffi::CStr::from_ptr(p) }
        .to_string_lossy()
        .into_owned()
}

/// strerror's text for an errno ("Connection refused").
pub fn errno_text(errno: i32) -> String {
    let e = io::Error::from_raw_os_error(errno);
    let s = e.to_string();
    // io::Error's Display appends " (os error N)"; keep the text only.
    match s.rfind(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}
