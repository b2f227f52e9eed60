//! Per-connection options and their validation.

use crate::error::{Error, Result};
use std::time::Duration;

/// Options of one connection. [`Options::default`] gives the documented defaults.
///
/// Socket options set by the application directly on the descriptor are lost when a
/// reconnect replaces the socket; set them here, or again in `on_reconnect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// First retry delay after a failed attempt (default 10 ms, like the original).
    pub backoff_initial: Duration,
    /// Ceiling of the doubling backoff (default 128 s).
    pub backoff_max: Duration,
    /// How long one connect attempt may take before it counts as failed (default 10 s).
    pub connect_timeout: Duration,
    /// Reset the connection when nothing was received for this long (None = off, default).
    pub idle_timeout: Option<Duration>,
    /// A connection that drops before it was up this long counts as a failed attempt
    /// (backoff keeps growing); one that lived longer is healthy and is retried at
    /// once (default 1 s; at least 1 ms: zero would let a server that accepts and
    /// closes at once drive a hot reconnect loop).
    pub healthy_after: Duration,
    /// Bytes `send` may hold queued per connection (default 1 MiB).
    pub send_queue_limit: usize,
    /// TCP keepalive: idle time before the first probe (None = keepalive off;
    /// default 30 s). Rounded up to whole seconds.
    pub keepalive_idle: Option<Duration>,
    /// TCP keepalive: time between probes (default 10 s). Rounded up to whole seconds.
    pub keepalive_interval: Duration,
    /// TCP keepalive: unanswered probes before the connection is dropped (default 3).
    /// Linux ignores the count while `user_timeout` is set: the connection then ends
    /// once `user_timeout` has passed without an answer.
    pub keepalive_count: u32,
    /// TCP_USER_TIMEOUT: how long sent data may stay unacknowledged before the
    /// connection is dropped (None = the system's default; default 60 s; at most
    /// 2147483647 ms).
    pub user_timeout: Option<Duration>,
    /// TCP_NODELAY (default true).
    pub nodelay: bool,
    /// While a connection that was healthy is being re-established (for
    /// `recovery_window` after it dropped), retries are at most this far apart
    /// (jittered to [cap/2, cap]), so a restarted server is found again within a
    /// fraction of a second instead of after a long doubled backoff (None = off;
    /// default 250 ms). Outside that window, and after a flap (a connection that
    /// died within `healthy_after`), the normal backoff applies.
    pub recovery_backoff_max: Option<Duration>,
    /// How long after a healthy connection dropped `recovery_backoff_max` applies
    /// (default 10 s).
    pub recovery_window: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            backoff_initial: Duration::from_millis(10),
            backoff_max: Duration::from_millis(128_000),
            connect_timeout: Duration::from_millis(10_000),
            idle_timeout: None,
            healthy_after: Duration::from_millis(1_000),
            send_queue_limit: 1 << 20,
            keepalive_idle: Some(Duration::from_secs(30)),
            keepalive_interval: Duration::from_secs(10),
            keepalive_count: 3,
            user_timeout: Some(Duration::from_secs(60)),
            nodelay: true,
            recovery_backoff_max: Some(Duration::from_millis(250)),
            recovery_window: Duration::from_secs(10),
        }
    }
}

/// Largest value the kernel takes for TCP_KEEPIDLE / TCP_KEEPINTVL, in seconds.
const MAX_KEEPALIVE_SECS: u64 = 32_767;
/// Largest send queue a connection may ask for.
pub const MAX_SEND_QUEUE: usize = 1 << 30;
/// Longest delay any option may ask for (about 49 days, what a u32 of ms holds).
const MAX_DELAY: Duration = Duration::from_millis(u32::MAX as u64);

impl Options {
    /// Checks every field; `Err(InvalidArgument)` names nothing but is documented per field.
    pub fn validate(&self) -> Result<()> {
        let ok = !self.backoff_initial.is_zero()
            && self.backoff_max >= self.backoff_initial
            && self.backoff_max <= MAX_DELAY
            && !self.connect_timeout.is_zero()
            && self.connect_timeout <= MAX_DELAY
            && self
                .idle_timeout
                .is_none_or(|d| !d.is_zero() && d <= MAX_DELAY)
            && !self.healthy_after.is_zero()
            && self.healthy_after <= MAX_DELAY
            && self.send_queue_limit > 0
            && self.send_queue_limit <= MAX_SEND_QUEUE
            && self
                .keepalive_idle
                .is_none_or(|d| !d.is_zero() && secs_up(d) <= MAX_KEEPALIVE_SECS)
            && (self.keepalive_idle.is_none()
                || (!self.keepalive_interval.is_zero()
                    && secs_up(self.keepalive_interval) <= MAX_KEEPALIVE_SECS
                    && (1..=127).contains(&self.keepalive_count)))
            && self
                .user_timeout
                .is_none_or(|d| d.as_millis() <= i32::MAX as u128)
            && self
                .recovery_backoff_max
                .is_none_or(|d| !d.is_zero() && d <= MAX_DELAY)
            && self.recovery_window <= MAX_DELAY;
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidArgument)
        }
    }
}

/// Whole seconds, rounded up.
pub(crate) fn secs_up(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000) as u64
}
