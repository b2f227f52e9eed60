//! Pools: named groups of connections whose handlers a factory makes, as in the
//! original's `createPool(name, factory)`.

use super::{open, prepare};
use crate::conn::{Conn, Member};
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::handler::Handler;
use crate::options::Options;
use crate::pool::{Factory, Pool, PoolShared, MAX_POOL_NAME};
use crate::registry;
use crate::runtime::{self, Runtime};
use crate::stats::PoolStats;
use std::cell::RefCell;
use std::os::fd::RawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

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

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_POOL_NAME || name.contains('\0') {
        return Err(Error::invalid(format_args!(
            "pool name must be 1 to {MAX_POOL_NAME} bytes without NUL, got {} bytes",
            name.len()
        )));
    }
    Ok(())
}

/// Creates a pool; the name must be new (else [`Error::Exists`]), 1 to 255 bytes.
pub fn create_pool(name: &str, factory: Factory) -> Result<Pool> {
    crate::fork::check()?;
    let _admitted = runtime::admit()?;
    check_name(name)?;
    let p = Arc::new(PoolShared::new(registry::next_id(), name, factory));
    let id = p.id;
    registry::insert_pool_if_free(p)?;
    Ok(Pool::from_id(id))
}

/// Finds a pool by name (until its name is released, see [`Pool::disconnect`]).
pub fn find_pool(name: &str) -> Result<Pool> {
    check_name(name)?;
    registry::pool_by_name(name).map(Pool::from_id)
}

/// Disconnects every member of `p`; the pool then takes no new members.
pub(super) fn disconnect(p: &PoolShared) -> Result<()> {
    if in_factory_of(p.id) {
        return Err(Error::InCallback);
    }
    // Taking the factory lock waits for an add in progress to finish.
    let first = {
        let _adds = p.factory.lock();
        p.mark_closing()
    };
    if !first {
        return Err(Error::Closed);
    }
    p.disconnect_members();
    Ok(())
}

impl Pool {
    fn shared(self) -> Result<Arc<PoolShared>> {
        registry::pool(self.id())
    }

    /// Adds a member connected to `host:port`: checks the arguments and resolves
    /// the host, then calls the factory with the new index, then opens the
    /// connection. Returns the index.
    pub fn add(self, port: u16, host: &str, options: &Options) -> Result<usize> {
        self.shared()?;
        self.add_endpoint(Endpoint::tcp(host, port)?, options)
    }

    /// Adds a member connected to the Unix socket at `path` (as [`Pool::add`]).
    pub fn add_unix(self, path: &str, options: &Options) -> Result<usize> {
        self.shared()?;
        self.add_endpoint(Endpoint::unix(path)?, options)
    }

    fn add_endpoint(self, endpoint: Endpoint, options: &Options) -> Result<usize> {
        let p = self.shared()?;
        let _admitted = runtime::admit()?;
        if p.is_closing() {
            return Err(Error::Closed);
        }
        if in_factory_of(p.id) {
            return Err(Error::InCallback.because(format_args!(
                "connman_pool_add called from pool {:?}'s own factory",
                p.name
            )));
        }
        let prepared = prepare(endpoint, options)?;
        // Start the runtime before the factory runs, so that once a handler exists
        // nothing but running out of resources can fail.
        Runtime::get_or_start()?;
        let mut factory = p.factory.lock();
        if p.is_closing() {
            return Err(Error::Closed);
        }
        let index = p.members.read().len();
        IN_FACTORY.with(|f| f.borrow_mut().push(p.id));
        let made = catch_unwind(AssertUnwindSafe(|| (*factory)(index)));
        IN_FACTORY.with(|f| f.borrow_mut().pop());
        let handler = match made {
            Ok(Ok(h)) => h,
            Ok(Err(_)) => {
                return Err(Error::Factory.because(format_args!(
                    "pool {:?}'s factory refused member {index}",
                    p.name
                )))
            }
            Err(_) => {
                return Err(Error::Panic.because(format_args!(
                    "pool {:?}'s factory panicked for member {index}",
                    p.name
                )))
            }
        };
        let mut members = p.members.write();
        let member = Member {
            pool: Arc::downgrade(&p),
            index,
        };
        members.push(open(prepared, handler, Some(member))?);
        Ok(index)
    }

    /// Number of members ever added (closed ones included: indexes are stable).
    pub fn size(self) -> Result<usize> {
        Ok(self.shared()?.members.read().len())
    }

    /// Member `index`'s stable descriptor (what its on_connect got).
    pub fn connection_fd(self, index: usize) -> Result<RawFd> {
        let m = self.shared()?.member(index)?;
        if m.is_closed() {
            return Err(Error::Closed);
        }
        Ok(m.fd)
    }

    /// Member `index`'s handler, as the factory made it.
    pub fn handler(self, index: usize) -> Result<Arc<dyn Handler>> {
        let m = self.shared()?.member(index)?;
        if m.is_closed() {
            return Err(Error::Closed);
        }
        let h = m.handler.lock().clone();
        h.ok_or(Error::Closed)
    }

    /// Member `index`'s connection handle.
    pub fn conn(self, index: usize) -> Result<Conn> {
        Ok(self.shared()?.member(index)?.conn())
    }

    /// Round robin over the members connected right now (in index order);
    /// [`Error::NotConnected`] when none is. Constant time, lock-free but for a
    /// shared read lock; safe from any number of threads.
    pub fn next(self) -> Result<Conn> {
        self.shared()?.next()
    }

    /// Members, connected members, closed members.
    pub fn stats(self) -> Result<PoolStats> {
        Ok(self.shared()?.stats())
    }

    /// Disconnects every member. The pool can take no new members; its name stays
    /// taken (and [`find_pool`] finds it) until every member's on_close has run,
    /// then the name is free for a new pool and this handle is stale.
    pub fn disconnect(self) -> Result<()> {
        disconnect(&*self.shared()?)
    }
}
