//! When to retry: exponential backoff with jitter, as in the original (10 ms,
//! doubled after each failure, capped, by default at 128 s, reset by a healthy
//! connection), plus the recovery window: shortly after a healthy connection
//! dropped, the server is probably restarting, so retries stay close together.

use std::time::{Duration, Instant};

/// The retry policy of one connection, from its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    pub initial: Duration,
    pub max: Duration,
    /// Recovery cap and window: for `window` after a healthy connection dropped,
    /// retries after failed attempts are at most `cap` apart (None: off).
    pub recovery: Option<(Duration, Duration)>,
}

/// Backoff state of one connection.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    policy: Policy,
    current: Duration,
    /// When a healthy connection last dropped (starts the recovery window).
    healthy_drop: Option<Instant>,
}

/// Why a retry is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Every address was tried and failed (refused, timed out, unresolvable).
    Attempts,
    /// The connection came up and died within `healthy_after`: a server that
    /// accepts and closes must not get a hot loop, so the recovery cap never
    /// applies after a flap (guarantee 9).
    Flap,
}

impl Backoff {
    pub fn new(policy: Policy) -> Self {
        Backoff {
            policy,
            current: policy.initial,
            healthy_drop: None,
        }
    }

    /// A connection that was up long enough dropped: the backoff starts over and
    /// the recovery window opens.
    pub fn healthy_drop(&mut self, now: Instant) {
        self.current = self.policy.initial;
        self.healthy_drop = Some(now);
    }

    /// The delay before the next retry, then doubles the base (up to the cap).
    /// Each delay is drawn uniformly from [base/2, base] so that many clients that
    /// failed together do not retry in lockstep.
    pub fn next_delay(&mut self, why: Failure, now: Instant, rng: &mut Rng) -> Duration {
        let base = self.current;
        self.current = (self.current * 2).min(self.policy.max);
        let mut delay = jittered(base, rng);
        if let (Some(at), Some((cap, window)), Failure::Attempts) =
            (self.healthy_drop, self.policy.recovery, why)
        {
            if delay > cap && now.saturating_duration_since(at) < window {
                delay = jittered(cap, rng);
            }
        }
        delay
    }

    #[cfg(test)]
    pub fn current(&self) -> Duration {
        self.current
    }
}

/// Uniform in [d/2, d].
fn jittered(d: Duration, rng: &mut Rng) -> Duration {
    let half = d / 2;
    let span = (d - half).as_micros() as u64;
    half + Duration::from_micros(rng.below(span + 1))
}

/// A small xorshift generator: jitter needs spread, not cryptographic quality.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub fn seeded(seed: u64) -> Self {
        Rng(seed | 1)
    }

    /// Seeded from the clock and the process id.
    pub fn from_entropy() -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Rng::seeded(t ^ (std::process::id() as u64) << 32)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform-enough value in 0..n (0 when n is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn policy(recovery: Option<(Duration, Duration)>) -> Policy {
        Policy {
            initial: 10 * MS,
            max: 100 * MS,
            recovery,
        }
    }

    #[test]
    fn doubles_caps_and_resets_with_jitter_in_range() {
        let mut b = Backoff::new(policy(None));
        let mut rng = Rng::seeded(42);
        let now = Instant::now();
        let mut base = 10u64;
        for _ in 0..10 {
            let d = b.next_delay(Failure::Attempts, now, &mut rng);
            assert!(d >= MS * (base / 2) as u32 && d <= MS * base as u32);
            base = (base * 2).min(100);
        }
        assert_eq!(b.current(), 100 * MS);
        b.healthy_drop(now);
        assert_eq!(b.current(), 10 * MS);
    }

    #[test]
    fn jitter_spreads() {
        let mut rng = Rng::seeded(7);
        let mut seen = std::collections::HashSet::new();
        let p = Policy {
            initial: 1000 * MS,
            max: 1000 * MS,
            recovery: None,
        };
        for _ in 0..100 {
            let mut b = Backoff::new(p);
            seen.insert(b.next_delay(Failure::Attempts, Instant::now(), &mut rng));
        }
        assert!(
            seen.len() > 50,
            "jitter should spread delays, got {}",
            seen.len()
        );
    }

    #[test]
    fn recovery_cap_applies_in_the_window_after_a_healthy_drop_only() {
        let cap = 20 * MS;
        let window = 1000 * MS;
        let mut rng = Rng::seeded(3);
        let t0 = Instant::now();
        let mut b = Backoff::new(policy(Some((cap, window))));
        // Before any healthy drop: the normal doubling.
        for _ in 0..4 {
            b.next_delay(Failure::Attempts, t0, &mut rng);
        }
        assert!(b.next_delay(Failure::Attempts, t0, &mut rng) > cap);
        // In the window: capped, however long the doubled base has grown.
        b.healthy_drop(t0);
        for _ in 0..8 {
            let d = b.next_delay(Failure::Attempts, t0 + 500 * MS, &mut rng);
            assert!(d <= cap, "{d:?}");
        }
        // A flap is never capped (no hot loop against accept-and-close).
        assert!(b.next_delay(Failure::Flap, t0 + 500 * MS, &mut rng) > cap);
        // After the window: the normal backoff again.
        assert!(b.next_delay(Failure::Attempts, t0 + window, &mut rng) > cap);
    }
}
