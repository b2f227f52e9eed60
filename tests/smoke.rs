use connman::{Conn, Handler, Options};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Rec(Mutex<Vec<String>>);
impl Handler for Rec {
    fn on_connect(&self, c: Conn, fd: i32) { self.0.lock().unwrap().push(format!("connect {fd}")); c.send(b"ping").unwrap(); }
    fn on_reset(&self, _c: Conn) { self.0.lock().unwrap().push("reset".into()); }
    fn on_reconnect(&self, _c: Conn, fd: i32) { self.0.lock().unwrap().push(format!("reconnect {fd}")); }
    fn on_data(&self, _c: Conn, d: &[u8]) { self.0.lock().unwrap().push(format!("data {}", String::from_utf8_lossy(d))); }
    fn on_close(&self, _c: Conn) { self.0.lock().unwrap().push("close".into()); }
}

#[test]
fn smoke() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = Arc::new(Rec::default());
    let c = connman::connect(port, "127.0.0.1", h.clone(), &Options::default()).unwrap();
    let (mut s, _) = l.accept().unwrap();
    let mut b = [0u8; 4];
    s.read_exact(&mut b).unwrap();
    s.write_all(b"pong").unwrap();
    drop(s);
    let (mut s2, _) = l.accept().unwrap();
    s2.write_all(b"again").unwrap();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) && !h.0.lock().unwrap().iter().any(|x| x == "data again") { std::thread::sleep(Duration::from_millis(5)); }
    c.disconnect().unwrap();
    connman::shutdown().unwrap();
    println!("{:?}", h.0.lock().unwrap());
}
