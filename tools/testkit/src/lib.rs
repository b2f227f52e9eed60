//! connman's test kit: what the integration tests (`tests/`), the benchmark
//! (`benches/connman_bench`) and the test server (`tools/flaky-echo`) share, written
//! once. It does not depend on the library.
//!
//! - [`sys`]: socket system calls (errno, options, addresses, listeners, connects,
//!   poll, descriptor flags, limits);
//! - [`epoll`]: a minimal epoll wrapper;
//! - [`rng`]: a small seeded PRNG;
//! - [`flaky`]: the flaky-echo server as a child process (built on demand);
//! - [`cargo`]: building a workspace binary from a test;
//! - [`Blackhole`]: a listener whose connects never complete;
//! - [`procfs`]: descriptors, threads and memory of this process;
//! - [`wait_for`]: polling a condition with a deadline.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod cargo;
pub mod epoll;
pub mod flaky;
pub mod procfs;
pub mod rng;
pub mod sys;

mod blackhole;

pub use blackhole::Blackhole;
pub use flaky::FlakyEcho;

use std::time::{Duration, Instant};

/// Polls `cond` until it holds or `limit` passes; returns whether it held. Naps
/// start at 50 µs and grow to 2 ms, so a quick condition is seen quickly.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    let mut nap = Duration::from_micros(50);
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(2));
    }
}
