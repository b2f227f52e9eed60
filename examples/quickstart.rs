//! The README's Rust quick start. One connection to an echo server: hello on
//! connect (written to the raw descriptor), the echo printed, the reset and the
//! reconnect (same descriptor) when the server goes away and comes back, hello
//! again (with `Conn::send`). Then it disconnects.
//!
//! Run: `cargo run --example quickstart [PORT]` (default 7000, on 127.0.0.1) with
//! a server running, e.g. `target/release/flaky-echo --port 7000 --ignore-stdin &`
//! (`cargo build --release -p flaky-echo`); stop and start it to see a reconnect.

use connman::{Conn, Handler, Options};
use std::io::Write;
use std::mem::ManuallyDrop;
use std::net::TcpStream;
use std::os::fd::FromRawFd;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Prints every callback; tells main when an echo follows a reconnect.
struct Printer {
    reconnected: Mutex<bool>,
    done: Mutex<Sender<()>>,
}

impl Handler for Printer {
    fn on_connect(&self, _conn: Conn, fd: i32) {
        println!("on_connect: fd {fd}");
        // The descriptor is yours: write to it directly (ManuallyDrop: do not close it).
        // SAFETY: connman keeps `fd` open until on_close, and this does not close it.
        let stream = ManuallyDrop::new(unsafe { TcpStream::from_raw_fd(fd) });
        let _ = (&*stream).write_all(b"hello\n");
    }
    fn on_data(&self, _conn: Conn, data: &[u8]) {
        println!("echo: {}", String::from_utf8_lossy(data).trim_end());
        if *self.reconnected.lock().unwrap() {
            let _ = self.done.lock().unwrap().send(());
        }
    }
    fn on_reset(&self, _conn: Conn) {
        println!("on_reset: the connection dropped; connman reconnects by itself");
    }
    fn on_reconnect(&self, conn: Conn, fd: i32) {
        println!("on_reconnect: fd {fd} (the same descriptor)");
        *self.reconnected.lock().unwrap() = true;
        // Or let connman write it: queued, never blocks, never raises SIGPIPE.
        let _ = conn.send(b"hello again\n");
    }
    fn on_close(&self, _conn: Conn) {
        println!("on_close");
    }
}

fn main() -> connman::Result<()> {
    let port = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(7000);
    let (tx, rx) = channel();
    let handler = Arc::new(Printer {
        reconnected: Mutex::new(false),
        done: Mutex::new(tx),
    });
    let options = Options {
        backoff_max: Duration::from_secs(1), // retry at least every second
        ..Options::default()
    };
    println!("connecting to 127.0.0.1:{port}; stop and start the server to see a reconnect");
    let conn = connman::connect(port, "127.0.0.1", handler, &options)?;
    let ok = rx.recv_timeout(Duration::from_secs(120)).is_ok();
    conn.disconnect()?; // on_close follows
    connman::shutdown()?; // returns once every on_close has run
    println!("{}", if ok { "done" } else { "timed out" });
    std::process::exit(if ok { 0 } else { 1 })
}
