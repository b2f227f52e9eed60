//! The README's Rust quick start, kept here so that it is compiled (and linted) by CI.
//! Run: `cargo run --example quickstart` (it expects a server on 127.0.0.1:7000,
//! e.g. `target/debug/flaky-echo --port 7000`; without one it keeps retrying until
//! it disconnects at the end).

use connman::{Conn, Handler, Options};
use std::sync::Arc;

struct Printer;
impl Handler for Printer {
    fn on_connect(&self, conn: Conn, _fd: i32) {
        let _ = conn.send(b"hello\n");
    }
    fn on_data(&self, _conn: Conn, data: &[u8]) {
        print!("{}", String::from_utf8_lossy(data));
    }
    fn on_reset(&self, _conn: Conn) {
        println!("dropped");
    }
    fn on_reconnect(&self, _conn: Conn, fd: i32) {
        println!("back on fd {fd}");
    }
}

fn main() -> connman::Result<()> {
    let conn = connman::connect(7000, "localhost", Arc::new(Printer), &Options::default())?;
    // ...
    conn.disconnect()?;
    connman::shutdown()
}
