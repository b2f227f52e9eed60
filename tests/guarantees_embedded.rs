//! The SPEC's guarantees with the library in embedded mode, driven by the test's own poll loop.

mod common;
mod guarantees;

use guarantees::Mode;

guarantee_tests!(Mode::Embedded);
