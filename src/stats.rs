//! Connection states and counters as the application sees them.

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering::Relaxed};

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// The first connect has not succeeded yet.
    Connecting,
    /// Up: the descriptor carries a live connection.
    Connected,
    /// Was up, dropped (on_reset ran), being re-established.
    Reconnecting,
    /// Disconnect was asked; on_close has not run yet.
    Closing,
    /// on_close ran or is running.
    Closed,
}

impl State {
    /// The C value (`CONNMAN_STATE_*`).
    pub const fn code(self) -> i32 {
        match self {
            State::Connecting => 0,
            State::Connected => 1,
            State::Reconnecting => 2,
            State::Closing => 3,
            State::Closed => 4,
        }
    }
}

/// A snapshot of one connection's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// The state at the time of the snapshot.
    pub state: State,
    /// Successful connects (the first one included).
    pub connects: u64,
    /// Established connections that dropped.
    pub resets: u64,
    /// Connect attempts (one per address tried).
    pub attempts: u64,
    /// Failed attempts since the last successful connect.
    pub consecutive_failures: u64,
    /// errno of the last failure (connect error, timeout, socket error), 0 if none.
    pub last_error: i32,
    /// getaddrinfo's EAI_* code of the last failed name resolution, 0 if none.
    pub last_resolve_error: i32,
    /// Bytes delivered to on_data.
    pub bytes_received: u64,
    /// Bytes `send` handed to the kernel.
    pub bytes_sent: u64,
    /// Bytes `send` accepted that were still queued at a reset and were discarded.
    pub bytes_discarded: u64,
    /// Bytes waiting in the send queue right now.
    pub send_queue_bytes: u64,
}

/// A snapshot of a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Members ever added (indexes 0..members).
    pub members: usize,
    /// Members connected right now.
    pub connected: usize,
    /// Members whose on_close has run.
    pub closed: usize,
}

/// Counters shared between the reactor (writer) and any reader thread.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub connects: AtomicU64,
    pub resets: AtomicU64,
    pub attempts: AtomicU64,
    pub consecutive_failures: AtomicU64,
    pub last_error: AtomicI32,
    pub last_resolve_error: AtomicI32,
    pub bytes_received: AtomicU64,
    pub bytes_discarded: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }
}
