//! What every thread shares with one event loop: its epoll instance, the channel
//! and eventfd through which other threads reach it, and (in embedded mode) the
//! timerfd that makes its descriptor readable when a timer is due.

use crate::conn::{ConnShared, Driver};
use crate::error::Result;
use crate::sys::{self, Addr};
use crossbeam_channel::{unbounded, Receiver, Sender};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// Messages to a loop.
pub(crate) enum Cmd {
    /// A new connection, with the addresses of its first attempt when known.
    Start(Arc<ConnShared>, Option<Vec<Addr>>),
    /// The application asked to disconnect this connection.
    Close(u64),
    /// A resolver thread finished a lookup.
    Resolved {
        id: u64,
        gen: u64,
        result: std::result::Result<Vec<Addr>, i32>,
    },
    /// Close everything: the runtime is shutting down.
    Shutdown,
}

/// epoll token of the wake-up eventfd; connection tokens are `id << 1 | attempt`
/// with ids from 1, so tokens 0 and 1 are free.
pub(crate) const WAKE_TOKEN: u64 = 0;
/// epoll token of the timerfd (embedded mode).
pub(crate) const TIMER_TOKEN: u64 = 1;

pub(crate) struct LoopShared {
    pub epfd: RawFd,
    wakefd: RawFd,
    /// Embedded mode: armed to the earliest due timer; -1 when the loop has a thread
    /// of its own (it sleeps in epoll_wait with a timeout instead).
    pub timerfd: RawFd,
    tx: Sender<Cmd>,
    wake_pending: AtomicBool,
    /// False once shutdown began: callbacks of this loop may create nothing new.
    pub accepting: AtomicBool,
    /// Connections this loop drives (new ones go to the least loaded loop).
    pub load: AtomicUsize,
}

impl LoopShared {
    /// A new loop's shared part and the receiving end of its channel.
    pub fn new(embedded: bool) -> Result<(Arc<LoopShared>, Receiver<Cmd>)> {
        let epfd = sys::epoll_create()?;
        let close_all = |fds: &[RawFd]| fds.iter().for_each(|&fd| sys::close(fd));
        let wakefd = sys::eventfd().inspect_err(|_| close_all(&[epfd]))?;
        let timerfd = if embedded {
            sys::timerfd().inspect_err(|_| close_all(&[epfd, wakefd]))?
        } else {
            -1
        };
        let (tx, rx) = unbounded();
        let shared = Arc::new(LoopShared {
            epfd,
            wakefd,
            timerfd,
            tx,
            wake_pending: AtomicBool::new(false),
            accepting: AtomicBool::new(true),
            load: AtomicUsize::new(0),
        });
        sys::epoll_add(epfd, wakefd, sys::EV_IN, WAKE_TOKEN)?;
        if timerfd >= 0 {
            sys::epoll_add(epfd, timerfd, sys::EV_IN, TIMER_TOKEN)?;
        }
        Ok((shared, rx))
    }

    /// Sends a command and wakes the loop (one eventfd write per batch).
    pub fn post(&self, cmd: Cmd) {
        if self.tx.send(cmd).is_ok() && !self.wake_pending.swap(true, Ordering::AcqRel) {
            sys::eventfd_signal(self.wakefd);
        }
    }

    /// Called by the loop when the eventfd fired, before it drains the channel.
    /// Drain first, then clear the flag: a post landing in between either sees the
    /// flag still set (and its command is drained next, as the loop reads the
    /// channel after this) or signals again after the clear; none is lost.
    pub fn woken(&self) {
        sys::eventfd_drain(self.wakefd);
        self.wake_pending.store(false, Ordering::Release);
    }

    pub fn is_accepting(&self) -> bool {
        self.accepting.load(Ordering::SeqCst)
    }
}

impl Driver for LoopShared {
    fn epfd(&self) -> RawFd {
        self.epfd
    }

    fn post_close(&self, id: u64) {
        self.post(Cmd::Close(id));
    }
}

impl Drop for LoopShared {
    fn drop(&mut self) {
        sys::close(self.timerfd);
        sys::close(self.wakefd);
        sys::close(self.epfd);
    }
}
