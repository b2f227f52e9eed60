//! The SPEC's guarantees with the library on one I/O thread (the default).

mod common;
mod guarantees;

use guarantees::Mode;

guarantee_tests!(Mode::Threads(1));
