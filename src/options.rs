//! Per-connection options and their validation.

use crate::backoff::Policy;
use crate::error::{Error, Result};
use std::time::Duration;

/// Options of one connection. [`Options::default`] gives the documented defaults.
///
/// Socket options set by the application directly on the descriptor are lost when a
/// reconnect replaces the socket; set them here, or again in `on_reconnect`. The TCP
/// options (keepalive, user timeout, nodelay) are ignored for Unix-socket connections.
///
/// Validation messages ([`crate::last_error_message`]) name the fields as the C
/// struct `connman_options` does (`backoff_initial_ms` is `backoff_initial`).
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
    /// Resolve the host name off the calling thread, always (default false). With
    /// false, `connect` resolves a name on the calling thread for the first attempt,
    /// so an unresolvable name fails there with [`Error::Resolve`]. With true,
    /// `connect` never waits for the resolver (what a thread running an event loop
    /// needs); an unresolvable name is retried with backoff like a refused connect,
    /// and [`crate::Stats::last_resolve_error`] says why.
    pub resolve_in_background: bool,
    /// Bytes `send` may queue while the connection is reconnecting (0 = off, the
    /// default: `send` then fails with [`Error::NotConnected`]). They are sent once
    /// it is back, after whatever the application sends inside `on_reconnect`
    /// (until that returns, a send from another thread is held too); beyond the
    /// bound `send` fails with [`Error::WouldBlock`], nothing of that call queued. At most [`MAX_SEND_QUEUE`].
    pub send_while_reconnecting: usize,
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
            resolve_in_background: false,
            send_while_reconnecting: 0,
        }
    }
}

/// Largest value the kernel takes for TCP_KEEPIDLE / TCP_KEEPINTVL, in seconds.
const MAX_KEEPALIVE_SECS: u64 = 32_767;
/// Largest send queue a connection may ask for.
pub const MAX_SEND_QUEUE: usize = 1 << 30;
/// Longest delay any option may ask for (about 49 days, what a u32 of ms holds).
const MAX_DELAY_MS: u128 = u32::MAX as u128;

/// A delay option: `name` in ms, between `min` ms and MAX_DELAY_MS.
fn delay(name: &str, d: Duration, min: u128) -> Result<()> {
    let ms = d.as_millis();
    if ms < min || d.is_zero() {
        return Err(Error::invalid(format_args!(
            "options.{name} must be at least {min}, got {ms}"
        )));
    }
    if ms > MAX_DELAY_MS {
        return Err(Error::invalid(format_args!(
            "options.{name} must be at most {MAX_DELAY_MS}, got {ms}"
        )));
    }
    Ok(())
}

fn bytes(name: &str, n: usize, min: usize) -> Result<()> {
    if n < min || n > MAX_SEND_QUEUE {
        return Err(Error::invalid(format_args!(
            "options.{name} must be {min} to {MAX_SEND_QUEUE}, got {n}"
        )));
    }
    Ok(())
}

fn keepalive_secs(name: &str, d: Duration) -> Result<()> {
    if d.is_zero() || secs_up(d) > MAX_KEEPALIVE_SECS {
        return Err(Error::invalid(format_args!(
            "options.{name} must be 1 to {}, got {}",
            MAX_KEEPALIVE_SECS * 1000,
            d.as_millis()
        )));
    }
    Ok(())
}

impl Options {
    /// Checks every field; the error's message ([`crate::last_error_message`])
    /// names the first field that is wrong, its value and the rule.
    pub fn validate(&self) -> Result<()> {
        delay("backoff_initial_ms", self.backoff_initial, 1)?;
        delay("backoff_max_ms", self.backoff_max, 1)?;
        if self.backoff_max < self.backoff_initial {
            return Err(Error::invalid(format_args!(
                "options.backoff_max_ms must be at least backoff_initial_ms ({}), got {}",
                self.backoff_initial.as_millis(),
                self.backoff_max.as_millis()
            )));
        }
        delay("connect_timeout_ms", self.connect_timeout, 1)?;
        if let Some(d) = self.idle_timeout {
            delay("idle_timeout_ms", d, 1)?;
        }
        delay("healthy_after_ms", self.healthy_after, 1)?;
        bytes("send_queue_limit", self.send_queue_limit, 1)?;
        if let Some(idle) = self.keepalive_idle {
            keepalive_secs("keepalive_idle_ms", idle)?;
            keepalive_secs("keepalive_interval_ms", self.keepalive_interval)?;
            if !(1..=127).contains(&self.keepalive_count) {
                return Err(Error::invalid(format_args!(
                    "options.keepalive_count must be 1 to 127, got {}",
                    self.keepalive_count
                )));
            }
        }
        if let Some(d) = self.user_timeout {
            if d.as_millis() > i32::MAX as u128 {
                return Err(Error::invalid(format_args!(
                    "options.user_timeout_ms must be at most {}, got {}",
                    i32::MAX,
                    d.as_millis()
                )));
            }
        }
        if let Some(d) = self.recovery_backoff_max {
            delay("recovery_backoff_max_ms", d, 1)?;
        }
        if self.recovery_window.as_millis() > MAX_DELAY_MS {
            return Err(Error::invalid(format_args!(
                "options.recovery_window_ms must be at most {MAX_DELAY_MS}, got {}",
                self.recovery_window.as_millis()
            )));
        }
        if self.send_while_reconnecting != 0 {
            bytes("send_while_reconnecting", self.send_while_reconnecting, 0)?;
        }
        Ok(())
    }

    /// The retry policy these options describe.
    pub(crate) fn policy(&self) -> Policy {
        Policy {
            initial: self.backoff_initial,
            max: self.backoff_max,
            recovery: self
                .recovery_backoff_max
                .map(|cap| (cap, self.recovery_window)),
        }
    }
}

/// Whole seconds, rounded up.
pub(crate) fn secs_up(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_fields_are_named() {
        assert_eq!(Options::default().validate(), Ok(()));
        type Case = (fn(&mut Options), &'static str);
        let cases: [Case; 6] = [
            (
                |o| o.backoff_initial = Duration::ZERO,
                "options.backoff_initial_ms must be at least 1, got 0",
            ),
            (
                |o| o.backoff_max = Duration::from_millis(5),
                "options.backoff_max_ms must be at least backoff_initial_ms (10), got 5",
            ),
            (
                |o| o.keepalive_count = 0,
                "options.keepalive_count must be 1 to 127, got 0",
            ),
            (
                |o| o.send_queue_limit = 0,
                "options.send_queue_limit must be 1 to 1073741824, got 0",
            ),
            (
                |o| o.connect_timeout = Duration::ZERO,
                "options.connect_timeout_ms must be at least 1, got 0",
            ),
            (
                |o| o.send_while_reconnecting = usize::MAX,
                "options.send_while_reconnecting must be 0 to 1073741824",
            ),
        ];
        for (f, want) in cases {
            let mut o = Options::default();
            f(&mut o);
            assert_eq!(o.validate(), Err(Error::InvalidArgument));
            let msg = crate::error::last_error_message();
            assert!(msg.starts_with(want), "{msg:?} should start with {want:?}");
        }
    }
}
