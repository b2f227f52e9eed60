//! Connect slots: how many connects may be in flight at once to one destination.
//!
//! A storm of reconnects (a server restart seen by thousands of connections) must
//! reach the server's accept queue at the rate it completes handshakes, not all at
//! once, or the queue overflows and SYNs are dropped. The limit is per destination
//! address, not global: a destination that never answers (a dead host, a full
//! backlog) holds only its own slots, so connections elsewhere never wait for it.
//! Connects beyond the limit wait in a FIFO queue of their destination.

use crate::sys::Addr;
use std::collections::{HashMap, VecDeque};

/// Connects in flight at once per destination address.
pub(crate) const PER_DESTINATION: usize = 256;

#[derive(Default)]
struct Destination {
    in_flight: usize,
    /// (connection id, generation) waiting for a slot, oldest first.
    waiting: VecDeque<(u64, u64)>,
}

#[derive(Default)]
pub(crate) struct ConnectSlots {
    dests: HashMap<Addr, Destination>,
    /// Destinations that had a slot freed while connections waited.
    freed: Vec<Addr>,
    /// Slots of connects that finished this loop turn, freed at its end.
    after_turn: Vec<Addr>,
}

impl ConnectSlots {
    /// Takes a slot for a connect to `addr`, unless none is free or others already
    /// wait for one (FIFO); then queues (`id`, `gen`) and returns false.
    /// `admitted`: the caller is the waiter [`ConnectSlots::next_admitted`] handed
    /// out, which may take a free slot ahead of the queue it just left.
    pub fn take(&mut self, addr: Addr, id: u64, gen: u64, admitted: bool) -> bool {
        let d = self.dests.entry(addr).or_default();
        if d.in_flight < PER_DESTINATION && (admitted || d.waiting.is_empty()) {
            d.in_flight += 1;
            true
        } else {
            d.waiting.push_back((id, gen));
            false
        }
    }

    /// A connect to `addr` finished (connected, failed, timed out or abandoned).
    pub fn release(&mut self, addr: Addr) {
        let Some(d) = self.dests.get_mut(&addr) else {
            return;
        };
        d.in_flight = d.in_flight.saturating_sub(1);
        if !d.waiting.is_empty() {
            self.freed.push(addr);
        } else if d.in_flight == 0 {
            self.dests.remove(&addr);
        }
    }

    /// Like [`ConnectSlots::release`], at the end of the loop's turn
    /// ([`ConnectSlots::end_turn`]).
    pub fn release_after_turn(&mut self, addr: Addr) {
        self.after_turn.push(addr);
    }

    /// The loop's turn ends: frees the slots held to its end. True when a waiter
    /// may now be admitted (the loop must not sleep before it is).
    pub fn end_turn(&mut self) -> bool {
        for addr in std::mem::take(&mut self.after_turn) {
            self.release(addr);
        }
        !self.freed.is_empty()
    }

    /// The next waiter that may now take a slot: (destination, id, generation). The
    /// caller checks that the waiter still waits (its generation is current) and,
    /// if so, takes the slot with `take(.., admitted = true)`.
    pub fn next_admitted(&mut self) -> Option<(Addr, u64, u64)> {
        while let Some(&addr) = self.freed.last() {
            match self.dests.get_mut(&addr) {
                Some(d) if d.in_flight < PER_DESTINATION => {
                    if let Some((id, gen)) = d.waiting.pop_front() {
                        return Some((addr, id, gen));
                    }
                    if d.in_flight == 0 {
                        self.dests.remove(&addr);
                    }
                    self.freed.pop();
                }
                _ => {
                    self.freed.pop();
                }
            }
        }
        None
    }

    /// Destinations with a connect in flight or a waiter (for tests).
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.dests.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(port: u16) -> Addr {
        Addr::Ip(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
    }

    #[test]
    fn a_full_destination_does_not_hold_up_another() {
        let mut s = ConnectSlots::default();
        for i in 0..PER_DESTINATION as u64 {
            assert!(s.take(a(1), i, 0, false));
        }
        assert!(!s.take(a(1), 1000, 7, false), "full: queued");
        assert!(s.take(a(2), 2000, 0, false), "another destination is free");
        assert_eq!(s.next_admitted(), None, "nothing freed yet");
        s.release(a(1));
        assert_eq!(s.next_admitted(), Some((a(1), 1000, 7)));
        assert!(s.take(a(1), 1000, 7, true));
        assert_eq!(s.next_admitted(), None);
    }

    #[test]
    fn waiters_are_admitted_in_order_and_entries_are_dropped_when_idle() {
        let mut s = ConnectSlots::default();
        for i in 0..PER_DESTINATION as u64 {
            assert!(s.take(a(1), i, 0, false));
        }
        for w in 0..3 {
            assert!(!s.take(a(1), 500 + w, 0, false));
        }
        // A newcomer does not overtake the queue even when a slot is free.
        s.release(a(1));
        assert!(!s.take(a(1), 999, 0, false));
        assert_eq!(s.next_admitted().map(|x| x.1), Some(500));
        assert!(s.take(a(1), 500, 0, true));
        for _ in 0..PER_DESTINATION {
            s.release(a(1));
        }
        let mut order = Vec::new();
        while let Some((addr, id, gen)) = s.next_admitted() {
            assert!(s.take(addr, id, gen, true));
            order.push(id);
        }
        assert_eq!(order, vec![501, 502, 999]);
        for _ in 0..3 {
            s.release(a(1));
        }
        assert_eq!(s.next_admitted(), None);
        assert_eq!(s.tracked(), 0, "no entry is kept for an idle destination");
    }
}
