//! The SPEC's guarantees with the library on two I/O threads.

mod common;
mod guarantees;

use guarantees::Mode;

guarantee_tests!(Mode::Threads(2));
