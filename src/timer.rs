//! An event loop's timer heap: deadlines for backoff, connect timeouts and idle checks.
//! Cancellation is lazy: each timer carries the generation of the connection phase
//! that armed it, and a timer whose generation is stale is ignored when it fires.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKind {
    /// Backoff elapsed: start the next connect round.
    Retry,
    /// The connect attempt in flight took too long.
    ConnectTimeout,
    /// Check whether the connection has been idle too long.
    Idle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Timer {
    pub when: Instant,
    pub conn: u64,
    pub gen: u64,
    pub kind: TimerKind,
}

#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<Timer>>,
}

impl Timers {
    pub fn push(&mut self, t: Timer) {
        self.heap.push(Reverse(t));
    }

    /// Milliseconds until the earliest deadline (rounded up), or -1 when none is set.
    pub fn timeout_ms(&self, now: Instant) -> i32 {
        match self.heap.peek() {
            None => -1,
            Some(Reverse(t)) => {
                let d = t.when.saturating_duration_since(now);
                d.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
            }
        }
    }

    /// The earliest deadline, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(t)| t.when)
    }

    /// Removes and returns the next timer due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        match self.heap.peek() {
            Some(Reverse(t)) if t.when <= now => self.heap.pop().map(|Reverse(t)| t),
            _ => None,
        }
    }

    /// Pops timers from the top while `live` says they are stale.
    pub fn prune_top(&mut self, mut live: impl FnMut(&Timer) -> bool) {
        while let Some(Reverse(t)) = self.heap.peek() {
            if live(t) {
                break;
            }
            self.heap.pop();
        }
    }

    /// Keeps only the timers `keep` approves.
    pub fn retain(&mut self, mut keep: impl FnMut(&Timer) -> bool) {
        self.heap.retain(|Reverse(t)| keep(t));
    }

    /// Gives back memory after a burst (10,000 connect timers, say) is gone.
    pub fn shrink(&mut self) {
        let (len, cap) = (self.heap.len(), self.heap.capacity());
        if cap > 1024 && len < cap / 4 {
            self.heap.shrink_to(len * 2);
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn earliest_first_and_no_timeout_when_empty() {
        let now = Instant::now();
        let mut t = Timers::default();
        assert_eq!(t.timeout_ms(now), -1);
        for (ms, id) in [(30, 3), (10, 1), (20, 2)] {
            t.push(Timer {
                when: now + Duration::from_millis(ms),
                conn: id,
                gen: 0,
                kind: TimerKind::Retry,
            });
        }
        assert_eq!(t.timeout_ms(now), 10);
        assert!(t.pop_due(now).is_none());
        let later = now + Duration::from_millis(25);
        assert_eq!(t.pop_due(later).map(|x| x.conn), Some(1));
        assert_eq!(t.pop_due(later).map(|x| x.conn), Some(2));
        assert!(t.pop_due(later).is_none());
        assert_eq!(t.len(), 1);
    }
}
