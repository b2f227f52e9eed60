use crate::sys;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

/// A loopback listener that never accepts and whose accept queue is full, so that
/// further SYNs are dropped: connects to it stay in flight until they time out.
pub struct Blackhole {
    // Dropped in this order: the fillers' connections, then the listener.
    fillers: Vec<TcpStream>,
    fd: OwnedFd,
    pub port: u16,
}

impl Blackhole {
    pub fn new() -> Blackhole {
        let fd = sys::listen(SocketAddr::from(([127, 0, 0, 1], 0)), 0).expect("blackhole listener");
        let port = sys::local_addr(fd.as_raw_fd())
            .expect("blackhole address")
            .port();
        let mut fillers = Vec::new();
        // Fill the accept queue (backlog 0 still admits one or two).
        for _ in 0..4 {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(s) => fillers.push(s),
                Err(_) => break,
            }
        }
        Blackhole { fd, fillers, port }
    }

    /// Accepts (and closes) everything waiting in the accept queue, so that the next
    /// SYN that arrives completes a handshake again (once).
    pub fn drain(&mut self) {
        self.fillers.clear();
        while sys::accept(self.fd.as_raw_fd()).is_ok() {}
    }
}

impl Default for Blackhole {
    fn default() -> Self {
        Blackhole::new()
    }
}
