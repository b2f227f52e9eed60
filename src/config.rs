//! Library-wide configuration: how the runtime runs ([`crate::configure`]).

use crate::error::{Error, Result};

/// Most I/O threads a runtime may have.
pub const MAX_THREADS: u32 = 64;

/// How the library runs. [`Config::default`] gives one I/O thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Library I/O threads. 1 (the default): one thread runs every callback.
    /// N > 1: connections are spread over N threads; all callbacks of one
    /// connection run on one of them, serially. 0: embedded mode, no I/O thread:
    /// the application waits for [`crate::event_fd`] to be readable in its own
    /// loop and calls [`crate::dispatch`], which runs the callbacks on its thread.
    pub threads: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config { threads: 1 }
    }
}

impl Config {
    /// Checks every field; the error's message names the culprit.
    pub fn validate(&self) -> Result<()> {
        if self.threads > MAX_THREADS {
            return Err(Error::invalid(format_args!(
                "config.threads must be at most {MAX_THREADS}, got {}",
                self.threads
            )));
        }
        Ok(())
    }

    /// Embedded mode: the application's loop drives the library.
    pub fn embedded(&self) -> bool {
        self.threads == 0
    }
}
