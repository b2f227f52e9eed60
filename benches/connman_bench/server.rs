//! The echo server: the project's flaky-echo, a separate process (so that this
//! process's CPU time is the client's own), pinned to CPU 0 when the bench pins.

use crate::support::R;
use crate::system::{pin_self, server_cpus};
use std::time::Duration;
use testkit::FlakyEcho;

/// Starts `flaky-echo --mode MODE --port PORT` (0: any free port).
pub(crate) fn spawn(mode: &str, port: u16) -> R<FlakyEcho> {
    spawn_with(mode, port, &[])
}

/// [`spawn`] with more arguments.
pub(crate) fn spawn_with(mode: &str, port: u16, extra: &[&str]) -> R<FlakyEcho> {
    let mut cmd = FlakyEcho::command();
    if let Some(set) = server_cpus() {
        // SAFETY: the closure makes one async-signal-safe system call.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                pin_self(&set);
                Ok(())
            });
        }
    }
    cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--mode", mode, "--quiet"])
        .args(extra);
    let show_log = testkit::flaky::verbose() || std::env::var_os("CONNMAN_BENCH_DEBUG").is_some();
    FlakyEcho::spawn(cmd, show_log)
}

/// Starts on a given port (with more arguments), retrying briefly while the port
/// is still taken.
pub(crate) fn spawn_on(mode: &str, port: u16, extra: &[&str]) -> R<FlakyEcho> {
    let mut last = String::new();
    for i in 0..50 {
        match spawn_with(mode, port, extra) {
            Ok(s) => {
                if i > 0 {
                    println!("  server on port {port} started after {i} failed tries ({last})");
                }
                return Ok(s);
            }
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(last)
}
