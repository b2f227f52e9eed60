//! Exponential backoff with jitter, as in the original: 10 ms, doubled after each
//! failure, capped (128 s by default), reset by a healthy connection.

use std::time::Duration;

/// Backoff state of one connection.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            current: initial,
        }
    }

    /// Back to the initial delay (after a healthy connection).
    pub fn reset(&mut self) {
        self.current = self.initial;
    }

    /// The delay before the next retry, then doubles the base (up to the cap).
    /// The delay is drawn uniformly from [base/2, base] so that many clients that
    /// failed together do not retry in lockstep.
    pub fn next_delay(&mut self, rng: &mut Rng) -> Duration {
        let base = self.current;
        self.current = (self.current * 2).min(self.max);
        let half = base / 2;
        let span = (base - half).as_micros() as u64;
        half + Duration::from_micros(rng.below(span + 1))
    }

    #[cfg(test)]
    pub fn current(&self) -> Duration {
        self.current
    }
}

/// A small xorshift generator: jitter needs spread, not cryptographic quality.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub fn seeded(seed: u64) -> Self {
        Rng(seed | 1)
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

    #[test]
    fn doubles_caps_and_resets_with_jitter_in_range() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_millis(100));
        let mut rng = Rng::seeded(42);
        let mut base = 10u64;
        for _ in 0..10 {
            let d = b.next_delay(&mut rng);
            assert!(d >= Duration::from_millis(base / 2) && d <= Duration::from_millis(base));
            base = (base * 2).min(100);
        }
        assert_eq!(b.current(), Duration::from_millis(100));
        b.reset();
        assert_eq!(b.current(), Duration::from_millis(10));
    }

    #[test]
    fn jitter_spreads() {
        let mut rng = Rng::seeded(7);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100 {
            let mut b = Backoff::new(Duration::from_millis(1000), Duration::from_millis(1000));
            seen.insert(b.next_delay(&mut rng));
        }
        assert!(
            seen.len() > 50,
            "jitter should spread delays, got {}",
            seen.len()
        );
    }
}
