//! Named pools of connections built from a handler factory, as in the original's
//! `createPool(name, factory)`.

use crate::connection::{Conn, ConnShared, Prepared};
use crate::error::{Error, Result};
use crate::handler::Handler;
use crate::options::Options;
use crate::registry;
use crate::stats::PoolStats;
use parking_lot::{Mutex, RwLock};
use std::cell::RefCell;
use std::os::fd::RawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
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

pub(crate) struct PoolShared {
    pub id: u64,
    pub name: String,
    /// Also serializes adds, so indexes are handed out in order.
    factory: Mutex<Factory>,
    members: RwLock<Vec<Arc<ConnShared>>>,
    /// Members connected now, as (index, connection id), sorted by index.
    up: RwLock<Vec<(usize, u64)>>,
    rr: AtomicUsize,
    closing: AtomicBool,
    closed_members: AtomicUsize,
}

thread_local! {
    /// The pools whose factories are running on this thread, innermost last.
    static IN_FACTORY: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// True when the factory of pool `id` is running on this thread.
fn in_factory_of(id: u64) -> bool {
    IN_FACTORY.with(|f| f.borrow().contains(&id))
}

/// True when any pool's factory is running on this thread.
pub(crate) fn in_any_factory() -> bool {
    IN_FACTORY.with(|f| !f.borrow().is_empty())
}

/// Creates a pool; the name must be new (else [`Error::Exists`]), 1 to 255 bytes.
pub fn create_pool(name: &str, factory: Factory) -> Result<Pool> {
    crate::fork::check()?;
    let _admitted = crate::runtime::admit()?;
    if name.is_empty() || name.len() > MAX_POOL_NAME || name.contains('\0') {
        return Err(Error::InvalidArgument);
    }
    let p = Arc::new(PoolShared {
        id: registry::next_id(),
        name: name.to_owned(),
        factory: Mutex::new(factory),
        members: RwLock::new(Vec::new()),
        up: RwLock::new(Vec::new()),
        rr: AtomicUsize::new(0),
        closing: AtomicBool::new(false),
        closed_members: AtomicUsize::new(0),
    });
    let id = p.id;
    registry::insert_pool_if_free(p)?;
    Ok(Pool { id })
}

/// Finds a pool by name (until its name is released, see [`Pool::disconnect`]).
pub fn find_pool(name: &str) -> Result<Pool> {
    if name.is_empty() {
        return Err(Error::InvalidArgument);
    }
    registry::pool_by_name(name).map(|id| Pool { id })
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

    fn shared(self) -> Result<Arc<PoolShared>> {
        registry::pool(self.id)
    }

    /// Adds a member: checks the arguments and resolves the host, then calls the
    /// factory with the new index, then opens the connection. Returns the index.
    pub fn add(self, port: u16, host: &str, options: &Options) -> Result<usize> {
        let p = self.shared()?;
        let _admitted = crate::runtime::admit()?;
        if p.closing.load(SeqCst) {
            return Err(Error::Closed);
        }
        if in_factory_of(p.id) {
            return Err(Error::InCallback);
        }
        let prepared = Prepared::new(port, host, options)?;
        // Start the library thread before the factory runs, so that once a handler
        // exists nothing but a concurrent shutdown racing this call can fail.
        crate::runtime::get_or_start()?;
        let mut factory = p.factory.lock();
        if p.closing.load(SeqCst) {
            return Err(Error::Closed);
        }
        let index = p.members.read().len();
        IN_FACTORY.with(|f| f.borrow_mut().push(p.id));
        let made = catch_unwind(AssertUnwindSafe(|| (*factory)(index)));
        IN_FACTORY.with(|f| f.borrow_mut().pop());
        let handler = match made {
            Ok(Ok(h)) => h,
            Ok(Err(_)) => return Err(Error::Factory),
            Err(_) => return Err(Error::Panic),
        };
        let mut members = p.members.write();
        let sh = prepared.start(handler, Some((Arc::downgrade(&p), index)))?;
        members.push(sh);
        Ok(index)
    }

    /// Number of members ever added (closed ones included: indexes are stable).
    pub fn size(self) -> Result<usize> {
        Ok(self.shared()?.members.read().len())
    }

    fn member(self, index: usize) -> Result<Arc<ConnShared>> {
        self.shared()?
            .members
            .read()
            .get(index)
            .cloned()
            .ok_or(Error::NotFound)
    }

    /// Member `index`'s stable descriptor (what its on_connect got).
    pub fn connection_fd(self, index: usize) -> Result<RawFd> {
        let m = self.member(index)?;
        if m.is_closed() {
            return Err(Error::Closed);
        }
        Ok(m.fd)
    }

    /// Member `index`'s handler, as the factory made it.
    pub fn handler(self, index: usize) -> Result<Arc<dyn Handler>> {
        let m = self.member(index)?;
        if m.is_closed() {
            return Err(Error::Closed);
        }
        let h = m.handler.lock().clone();
        h.ok_or(Error::Closed)
    }

    /// Member `index`'s connection handle.
    pub fn conn(self, index: usize) -> Result<Conn> {
        Ok(self.member(index)?.conn())
    }

    /// Round robin over the members connected right now (in index order);
    /// [`Error::NotConnected`] when none is. Constant time, lock-free but for a
    /// shared read lock; safe from any number of threads.
    pub fn next(self) -> Result<Conn> {
        let p = self.shared()?;
        if p.closing.load(SeqCst) {
            return Err(Error::Closed);
        }
        let up = p.up.read();
        if up.is_empty() {
            return Err(Error::NotConnected);
        }
        let k = p.rr.fetch_add(1, Relaxed) % up.len();
        Ok(Conn::from_id(up[k].1))
    }

    /// Members, connected members, closed members.
    pub fn stats(self) -> Result<PoolStats> {
        let p = self.shared()?;
        let members = p.members.read().len();
        let connected = p.up.read().len();
        Ok(PoolStats {
            members,
            connected,
            closed: p.closed_members.load(SeqCst),
        })
    }

    /// Disconnects every member. The pool can take no new members; its name stays
    /// taken (and [`find_pool`] finds it) until every member's on_close has run,
    /// then the name is free for a new pool and this handle is stale.
    pub fn disconnect(self) -> Result<()> {
        self.shared()?.disconnect()
    }
}

impl PoolShared {
    pub(crate) fn mark_closing(&self) -> bool {
        !self.closing.swap(true, SeqCst)
    }

    pub(crate) fn disconnect(&self) -> Result<()> {
        if in_factory_of(self.id) {
            return Err(Error::InCallback);
        }
        // Taking the factory lock waits for an add in progress to finish.
        let first = {
            let _adds = self.factory.lock();
            self.mark_closing()
        };
        if !first {
            return Err(Error::Closed);
        }
        let members: Vec<Arc<ConnShared>> = self.members.read().clone();
        for m in &members {
            let _ = m.request_disconnect();
        }
        self.release_if_done();
        Ok(())
    }

    /// Called by the reactor after a member's on_close.
    pub(crate) fn member_closed(&self) {
        self.closed_members.fetch_add(1, SeqCst);
        self.release_if_done();
    }

    fn release_if_done(&self) {
        if self.closing.load(SeqCst)
            && self.closed_members.load(SeqCst) >= self.members.read().len()
        {
            registry::remove_pool(self.id);
        }
    }

    /// Called by the reactor when member `index` goes up or down.
    pub(crate) fn set_connected(&self, index: usize, conn: u64, connected: bool) {
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
