//! The process-wide registry: handle ids to live objects. Handles are plain ids, so a
//! stale handle is a failed lookup (an error code), never a dangling pointer.
//!
//! Every lookup first checks that this is not a fork() child ([`crate::fork`]).
//!
//! Lock rule: the registry lock is only ever held for a lookup or an update, never
//! while taking another lock or calling out.

use crate::conn::ConnShared;
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::pool::PoolShared;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

/// Hashes the library's own integer keys (ids it issued, descriptor numbers) with
/// one multiplication: they are not attacker-chosen, so SipHash's flood protection
/// buys nothing here and costs about a third of `connman_send`'s instructions.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_i32(&mut self, n: i32) {
        self.write_u64(n as u32 as u64);
    }
}

pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

#[derive(Default)]
pub(crate) struct Registry {
    conns: IdMap<u64, Arc<ConnShared>>,
    by_fd: IdMap<RawFd, u64>,
    /// Single (non-pool) connections by endpoint (host as given), oldest first.
    by_endpoint: HashMap<Arc<Endpoint>, Vec<u64>>,
    pools: IdMap<u64, Arc<PoolShared>>,
    pool_names: HashMap<String, u64>,
}

static REGISTRY: LazyLock<RwLock<Registry>> = LazyLock::new(Default::default);
/// Ids for connections and pools; never reused, 0 is never issued.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// Registers a new connection. Returns the live connection whose stable
/// descriptor had the same number, if any: the kernel reused that number, so the
/// application closed that connection's descriptor (connman closes its own only
/// after unmapping it), and the caller gives that connection up.
pub(crate) fn insert_conn(sh: &Arc<ConnShared>) -> Option<Arc<ConnShared>> {
    let mut r = REGISTRY.write();
    r.conns.insert(sh.id, sh.clone());
    let displaced = r.by_fd.insert(sh.fd, sh.id);
    if sh.member.is_none() {
        r.by_endpoint
            .entry(sh.endpoint.clone())
            .or_default()
            .push(sh.id);
    }
    displaced
        .filter(|&old| old != sh.id)
        .and_then(|old| r.conns.get(&old).cloned())
}

pub(crate) fn conn(id: u64) -> Result<Arc<ConnShared>> {
    crate::fork::check()?;
    REGISTRY.read().conns.get(&id).cloned().ok_or_else(|| {
        Error::NotFound.because(format_args!(
            "connection {id} does not exist (closed, or never issued)"
        ))
    })
}

pub(crate) fn conn_by_fd(fd: RawFd) -> Result<u64> {
    crate::fork::check()?;
    REGISTRY.read().by_fd.get(&fd).copied().ok_or_else(|| {
        Error::NotFound.because(format_args!(
            "descriptor {fd} is not a connman connection's"
        ))
    })
}

pub(crate) fn conn_by_endpoint(endpoint: &Endpoint) -> Result<u64> {
    crate::fork::check()?;
    let r = REGISTRY.read();
    r.by_endpoint
        .get(endpoint)
        .and_then(|ids| ids.last().copied())
        .ok_or_else(|| Error::NotFound.because(format_args!("no live connection to {endpoint}")))
}

/// Forgets the descriptor and endpoint of a closing connection (before its fd closes,
/// so a reused descriptor number never maps to it). The id stays valid until
/// [`remove_conn`], so that calls from inside on_close still see the connection.
pub(crate) fn unmap_conn(sh: &ConnShared) {
    let mut r = REGISTRY.write();
    if r.by_fd.get(&sh.fd) == Some(&sh.id) {
        r.by_fd.remove(&sh.fd);
    }
    if let Some(ids) = r.by_endpoint.get_mut(&*sh.endpoint) {
        ids.retain(|&i| i != sh.id);
        if ids.is_empty() {
            r.by_endpoint.remove(&*sh.endpoint);
        }
    }
}

pub(crate) fn remove_conn(id: u64) {
    REGISTRY.write().conns.remove(&id);
}

pub(crate) fn all_conns() -> Vec<Arc<ConnShared>> {
    REGISTRY.read().conns.values().cloned().collect()
}

pub(crate) fn insert_pool_if_free(p: Arc<PoolShared>) -> Result<()> {
    let mut r = REGISTRY.write();
    if r.pool_names.contains_key(&p.name) {
        return Err(Error::Exists);
    }
    r.pool_names.insert(p.name.clone(), p.id);
    r.pools.insert(p.id, p);
    Ok(())
}

pub(crate) fn pool(id: u64) -> Result<Arc<PoolShared>> {
    crate::fork::check()?;
    REGISTRY.read().pools.get(&id).cloned().ok_or_else(|| {
        Error::NotFound.because(format_args!(
            "pool {id} does not exist (released, or never issued)"
        ))
    })
}

pub(crate) fn pool_by_name(name: &str) -> Result<u64> {
    crate::fork::check()?;
    REGISTRY
        .read()
        .pool_names
        .get(name)
        .copied()
        .ok_or_else(|| Error::NotFound.because(format_args!("no pool named {name:?}")))
}

pub(crate) fn remove_pool(id: u64) {
    let mut r = REGISTRY.write();
    if let Some(p) = r.pools.remove(&id) {
        if r.pool_names.get(&p.name) == Some(&id) {
            r.pool_names.remove(&p.name);
        }
    }
}

pub(crate) fn all_pools() -> Vec<Arc<PoolShared>> {
    REGISTRY.read().pools.values().cloned().collect()
}
