//! A named pool's shared state: its members, which of them are connected now (for
//! round robin), and when its name is released. The calls that make members (the
//! factory, the add) are in `api::pool`.

use crate::conn::{Conn, ConnShared};
use crate::error::{Error, Result};
use crate::handler::Handler;
use crate::registry;
use crate::stats::PoolStats;
use parking_lot::{Mutex, RwLock};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::Arc;

/// Makes the handler of pool member `index`; an `Err` refuses (nothing is added).
pub type Factory = Box<dyn FnMut(usize) -> Result<Arc<dyn Handler>> + Send>;

/// Longest pool name accepted, in bytes.
pub const MAX_POOL_NAME: usize = 255;

/// A handle to a named pool: a plain id; stale handles give [`Error::NotFound`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pool {
    id: u64,
}

impl Pool {
    /// Rebuilds a handle from [`Pool::id`].
    pub fn from_id(id: u64) -> Pool {
        Pool { id }
    }

    /// The handle's id (never 0).
    pub fn id(self) -> u64 {
        self.id
    }
}

pub(crate) struct PoolShared {
    pub id: u64,
    pub name: String,
    /// Also serializes adds, so indexes are handed out in order.
    pub factory: Mutex<Factory>,
    pub members: RwLock<Vec<Arc<ConnShared>>>,
    /// Members connected now, as (index, connection id), sorted by index.
    up: RwLock<Vec<(usize, u64)>>,
    rr: AtomicUsize,
    closing: AtomicBool,
    closed_members: AtomicUsize,
}

impl PoolShared {
    pub fn new(id: u64, name: &str, factory: Factory) -> PoolShared {
        PoolShared {
            id,
            name: name.to_owned(),
            factory: Mutex::new(factory),
            members: RwLock::new(Vec::new()),
            up: RwLock::new(Vec::new()),
            rr: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
            closed_members: AtomicUsize::new(0),
        }
    }

    pub fn is_closing(&self) -> bool {
        self.closing.load(SeqCst)
    }

    /// No member may be added from now on; true the first time.
    pub fn mark_closing(&self) -> bool {
        !self.closing.swap(true, SeqCst)
    }

    pub fn member(&self, index: usize) -> Result<Arc<ConnShared>> {
        self.members.read().get(index).cloned().ok_or_else(|| {
            Error::NotFound.because(format_args!(
                "pool {:?} has no member {index} (it has {})",
                self.name,
                self.members.read().len()
            ))
        })
    }

    /// Round robin over the members connected now, in index order.
    pub fn next(&self) -> Result<Conn> {
        if self.is_closing() {
            return Err(Error::Closed);
        }
        let up = self.up.read();
        if up.is_empty() {
            return Err(Error::NotConnected);
        }
        let k = self.rr.fetch_add(1, Relaxed) % up.len();
        Ok(Conn::from_id(up[k].1))
    }

    pub fn stats(&self) -> PoolStats {
        PoolStats {
            members: self.members.read().len(),
            connected: self.up.read().len(),
            closed: self.closed_members.load(SeqCst),
        }
    }

    /// Disconnects every member (the pool was marked closing first).
    pub fn disconnect_members(&self) {
        let members: Vec<Arc<ConnShared>> = self.members.read().clone();
        for m in &members {
            let _ = m.request_disconnect();
        }
        self.release_if_done();
    }

    /// A member's on_close has run.
    pub fn member_closed(&self) {
        self.closed_members.fetch_add(1, SeqCst);
        self.release_if_done();
    }

    /// Once closing and every member closed, the name is free and the handle stale.
    fn release_if_done(&self) {
        if self.is_closing() && self.closed_members.load(SeqCst) >= self.members.read().len() {
            registry::remove_pool(self.id);
        }
    }

    /// Member `index` went up or down (called by `ConnShared::publish` only).
    pub fn set_connected(&self, index: usize, conn: u64, connected: bool) {
        let mut up = self.up.write();
        match up.binary_search_by_key(&index, |&(i, _)| i) {
            Ok(pos) if !connected => {
                up.remove(pos);
            }
            Err(pos) if connected => up.insert(pos, (index, conn)),
            _ => {}
        }
    }
}
