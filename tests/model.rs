//! Model-based tests: random sequences of API calls and server faults, checked
//! against a model of the SPEC after every step.
//!
//! Steps: connect, send, disconnect (twice), pool add / next / disconnect, and the
//! server's drop, rst, stop and start. After each step the system is let settle
//! (every wait has a deadline) and then held to the model:
//! - each connection's callbacks so far are a valid prefix of the contract
//!   (`Recorder::contract_violation`), with exactly one on_close once closed;
//! - states from `stats` (CONNECTED while the server listens, RECONNECTING or
//!   CONNECTING while it does not), `connects` and `resets` equal to the callbacks
//!   seen, one on_reset + on_reconnect per drop;
//! - error codes: NOT_CONNECTED while down, CLOSED for a second disconnect,
//!   NOT_FOUND for stale handles and released pools, round robin over the members;
//! - lookups: `get_connection` finds the newest live single connection,
//!   `conn_from_fd` finds each live one by its descriptor.

mod common;

use common::*;
use connman::{Conn, Error, Handler, Options, Pool, State};
use proptest::prelude::*;
use proptest::test_runner::Config;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
enum Op {
    Connect,
    Send(usize),
    Disconnect(usize),
    PoolAdd,
    PoolNext(usize),
    PoolMemberDisconnect(usize),
    PoolDisconnect,
    Drop,
    Rst,
    Stop,
    Start,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Connect),
        3 => (0..8usize).prop_map(Op::Send),
        2 => (0..8usize).prop_map(Op::Disconnect),
        2 => Just(Op::PoolAdd),
        2 => (1..6usize).prop_map(Op::PoolNext),
        1 => (0..4usize).prop_map(Op::PoolMemberDisconnect),
        1 => Just(Op::PoolDisconnect),
        2 => Just(Op::Drop),
        1 => Just(Op::Rst),
        2 => Just(Op::Stop),
        2 => Just(Op::Start),
    ]
}

fn opts() -> Options {
    Options {
        healthy_after: Duration::from_millis(1),
        backoff_initial: Duration::from_millis(5),
        backoff_max: Duration::from_millis(40),
        ..Options::default()
    }
}

/// One connection as the model sees it.
struct Tracked {
    c: Conn,
    rec: Arc<Recorder>,
    closed: bool,
    /// on_connect + on_reconnect calls expected so far.
    ups: usize,
}

impl Tracked {
    fn seen_ups(&self) -> usize {
        self.rec.count(|e| is_connect(e) || is_reconnect(e))
    }
}

struct PoolModel {
    p: Pool,
    name: String,
    members: Vec<Tracked>,
    disconnected: bool,
}

struct Model {
    srv: Server,
    listening: bool,
    singles: Vec<Tracked>,
    pool: Option<PoolModel>,
    pools_made: usize,
    sent: usize,
    made: Arc<Mutex<Vec<Arc<Recorder>>>>,
}

fn factory(made: Arc<Mutex<Vec<Arc<Recorder>>>>) -> connman::Factory {
    Box::new(move |_index| {
        let r = Recorder::new();
        made.lock().unwrap().push(r.clone());
        Ok(r as Arc<dyn Handler>)
    })
}

impl Model {
    fn new() -> Model {
        Model {
            srv: Server::echo(),
            listening: true,
            singles: Vec::new(),
            pool: None,
            pools_made: 0,
            sent: 0,
            made: Arc::default(),
        }
    }

    fn live_mut(&mut self) -> impl Iterator<Item = &mut Tracked> {
        let members = self.pool.iter_mut().flat_map(|p| p.members.iter_mut());
        self.singles.iter_mut().chain(members).filter(|t| !t.closed)
    }

    fn all(&self) -> impl Iterator<Item = &Tracked> {
        let members = self.pool.iter().flat_map(|p| p.members.iter());
        self.singles.iter().chain(members)
    }

    /// Waits until a new connection is where the model says it is.
    fn settle_new(&self, t: &Tracked) {
        if self.listening {
            assert!(
                t.rec.wait(|e| e.iter().any(is_connect)),
                "no on_connect: {:?}",
                t.c.stats()
            );
        } else {
            assert!(wait_stats(t.c, |s| s.attempts >= 1));
        }
    }

    /// Every live connection goes up once more (after a drop or a restart).
    fn settle_up(&mut self) {
        for t in self.live_mut() {
            t.ups += 1;
            let want = t.ups;
            assert!(
                t.rec.wait(|e| e
                    .iter()
                    .filter(|x| is_connect(x) || is_reconnect(x))
                    .count()
                    == want),
                "expected {want} ups: {:?} {:?}",
                t.rec.events(),
                t.c.stats()
            );
        }
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Connect => {
                let rec = Recorder::new();
                let c = connman::connect(self.srv.port, "127.0.0.1", rec.clone(), &opts())
                    .expect("connect");
                let t = Tracked {
                    c,
                    rec,
                    closed: false,
                    ups: usize::from(self.listening),
                };
                self.settle_new(&t);
                self.singles.push(t);
            }
            Op::Send(i) => {
                if self.singles.is_empty() {
                    return;
                }
                self.sent += 1;
                let msg = format!("<{}>", self.sent);
                let listening = self.listening;
                let t = &self.singles[i % self.singles.len()];
                let r = t.c.send(msg.as_bytes());
                match (t.closed, listening) {
                    (true, _) => assert_eq!(r, Err(Error::NotFound)),
                    (false, false) => assert_eq!(r, Err(Error::NotConnected)),
                    (false, true) => {
                        assert_eq!(r, Ok(()));
                        assert!(
                            wait_until(|| t.rec.received().ends_with(msg.as_bytes())),
                            "echo of {msg}"
                        );
                    }
                }
            }
            Op::Disconnect(i) => {
                if self.singles.is_empty() {
                    return;
                }
                let n = self.singles.len();
                let t = &mut self.singles[i % n];
                if t.closed {
                    assert_eq!(t.c.disconnect(), Err(Error::NotFound));
                    return;
                }
                assert_eq!(t.c.disconnect(), Ok(()));
                // At once, before on_close: closing.
                let sent = t.c.send(b"late");
                assert!(
                    matches!(sent, Err(Error::Closed) | Err(Error::NotFound)),
                    "send after disconnect: {sent:?}"
                );
                if let Ok(st) = t.c.stats() {
                    assert!(matches!(st.state, State::Closing | State::Closed), "{st:?}");
                }
                let again = t.c.disconnect();
                assert!(
                    matches!(again, Err(Error::Closed) | Err(Error::NotFound)),
                    "second disconnect: {again:?}"
                );
                assert!(t.rec.wait(|e| e.last() == Some(&Ev::Close)));
                assert!(wait_until(|| t.c.stats() == Err(Error::NotFound)));
                t.closed = true;
            }
            Op::PoolAdd => {
                if self.pool.as_ref().is_none_or(|p| p.disconnected) {
                    if let Some(old) = &self.pool {
                        // A released pool: stale handle.
                        assert_eq!(
                            old.p.add(self.srv.port, "127.0.0.1", &opts()),
                            Err(Error::NotFound)
                        );
                    }
                    self.pools_made += 1;
                    let name = format!("model-{}", self.pools_made);
                    self.made.lock().unwrap().clear();
                    let p = connman::create_pool(&name, factory(self.made.clone())).unwrap();
                    assert_eq!(
                        connman::create_pool(&name, factory(Arc::default())).map(|_| ()),
                        Err(Error::Exists)
                    );
                    let old = self.pool.replace(PoolModel {
                        p,
                        name,
                        members: Vec::new(),
                        disconnected: false,
                    });
                    // Keep the old pool's members for the final checks.
                    if let Some(old) = old {
                        self.singles.extend(old.members);
                    }
                }
                let port = self.srv.port;
                let listening = self.listening;
                let pool = self.pool.as_mut().unwrap();
                let index = pool.p.add(port, "127.0.0.1", &opts()).expect("pool add");
                assert_eq!(index, pool.members.len(), "indexes are dense");
                let rec = self.made.lock().unwrap()[index].clone();
                let t = Tracked {
                    c: pool.p.conn(index).unwrap(),
                    rec,
                    closed: false,
                    ups: usize::from(listening),
                };
                pool.members.push(t);
                let t = &self.pool.as_ref().unwrap().members[index];
                self.settle_new(t);
            }
            Op::PoolNext(k) => {
                let listening = self.listening;
                let Some(pool) = &self.pool else { return };
                if pool.disconnected {
                    assert_eq!(pool.p.next(), Err(Error::NotFound));
                    return;
                }
                let live: Vec<Conn> = pool
                    .members
                    .iter()
                    .filter(|t| !t.closed)
                    .map(|t| t.c)
                    .collect();
                if !listening || live.is_empty() {
                    assert_eq!(pool.p.next(), Err(Error::NotConnected));
                    return;
                }
                let got: Vec<Conn> = (0..k.max(live.len()))
                    .map(|_| pool.p.next().unwrap())
                    .collect();
                // Any len consecutive answers visit every member once.
                let window: HashSet<Conn> = got[..live.len()].iter().copied().collect();
                assert_eq!(window, live.iter().copied().collect::<HashSet<_>>());
            }
            Op::PoolMemberDisconnect(i) => {
                let listening = self.listening;
                let Some(pool) = &mut self.pool else { return };
                if pool.disconnected || pool.members.is_empty() {
                    return;
                }
                let n = pool.members.len();
                let others = pool
                    .members
                    .iter()
                    .filter(|t| !t.closed)
                    .count()
                    .saturating_sub(1);
                let t = &mut pool.members[i % n];
                if t.closed {
                    assert_eq!(t.c.disconnect(), Err(Error::NotFound));
                    return;
                }
                assert_eq!(t.c.disconnect(), Ok(()));
                // At once: round robin no longer hands it out.
                for _ in 0..2 * n {
                    match pool.p.next() {
                        Ok(c) => assert_ne!(c, t.c, "next gave a closing member"),
                        Err(e) => assert!(
                            e == Error::NotConnected && (!listening || others == 0),
                            "next: {e:?}"
                        ),
                    }
                }
                assert!(t.rec.wait(|e| e.last() == Some(&Ev::Close)));
                assert!(wait_until(|| t.c.stats() == Err(Error::NotFound)));
                t.closed = true;
                let closed = pool.members.iter().filter(|t| t.closed).count();
                assert!(wait_until(|| pool.p.stats().unwrap().closed == closed));
            }
            Op::PoolDisconnect => {
                let Some(pool) = &mut self.pool else { return };
                if pool.disconnected {
                    assert_eq!(pool.p.disconnect(), Err(Error::NotFound));
                    return;
                }
                assert_eq!(pool.p.disconnect(), Ok(()));
                // At once, before the members' on_close: the pool is disconnected.
                // (NOT_FOUND once every member closed already; the deterministic
                // check is pool_next_right_after_pool_disconnect_is_closed.)
                let next = pool.p.next();
                assert!(
                    matches!(next, Err(Error::Closed) | Err(Error::NotFound)),
                    "pool next right after pool disconnect: {next:?}"
                );
                let add = pool.p.add(self.srv.port, "127.0.0.1", &opts());
                assert!(
                    matches!(add, Err(Error::Closed) | Err(Error::NotFound)),
                    "pool add right after pool disconnect: {add:?}"
                );
                let again = pool.p.disconnect();
                assert!(
                    matches!(again, Err(Error::Closed) | Err(Error::NotFound)),
                    "second pool disconnect: {again:?}"
                );
                for t in &mut pool.members {
                    assert!(t.rec.wait(|e| e.last() == Some(&Ev::Close)));
                    t.closed = true;
                }
                let name = pool.name.clone();
                assert!(wait_until(
                    || connman::find_pool(&name) == Err(Error::NotFound)
                ));
                assert_eq!(pool.p.size(), Err(Error::NotFound));
                pool.disconnected = true;
            }
            Op::Drop | Op::Rst => {
                self.srv.cmd(if matches!(op, Op::Drop) {
                    "drop"
                } else {
                    "rst"
                });
                if self.listening {
                    self.settle_up();
                }
            }
            Op::Stop => {
                self.srv.cmd("stop");
                if self.listening {
                    self.listening = false;
                    for t in self.live_mut() {
                        assert!(t.rec.wait(|e| e.last() == Some(&Ev::Reset)));
                    }
                }
            }
            Op::Start => {
                self.srv.cmd("start");
                if !self.listening {
                    self.listening = true;
                    self.settle_up();
                }
            }
        }
    }

    /// The model's invariants, after the step settled.
    fn check(&self) {
        for t in self.all() {
            if let Some(v) = t.rec.contract_violation(t.closed) {
                panic!("{v}");
            }
            if t.closed {
                assert_eq!(t.c.stats(), Err(Error::NotFound));
                assert_eq!(t.c.fd(), Err(Error::NotFound));
                continue;
            }
            let st = t.c.stats().unwrap();
            let ev = t.rec.events();
            let ups = t.seen_ups();
            assert_eq!(ups, t.ups, "{ev:?}");
            assert_eq!(st.connects as usize, ups, "{st:?} {ev:?}");
            assert_eq!(
                st.resets as usize,
                t.rec.count(|e| *e == Ev::Reset),
                "{st:?}"
            );
            let want = match (self.listening, ups) {
                (true, _) => State::Connected,
                (false, 0) => State::Connecting,
                (false, _) => State::Reconnecting,
            };
            assert_eq!(st.state, want, "{st:?} {ev:?}");
            let fd = t.c.fd().unwrap();
            assert_eq!(connman::conn_from_fd(fd), Ok(t.c));
        }
        let newest = self.singles.iter().rev().find(|t| !t.closed).map(|t| t.c);
        assert_eq!(
            connman::get_connection(self.srv.port, "127.0.0.1").ok(),
            newest
        );
        if let Some(pool) = self.pool.as_ref().filter(|p| !p.disconnected) {
            let ps = pool.p.stats().unwrap();
            assert_eq!(ps.members, pool.members.len());
            let closed = pool.members.iter().filter(|t| t.closed).count();
            let up = if self.listening {
                pool.members.len() - closed
            } else {
                0
            };
            assert_eq!(ps.connected, up, "{ps:?}");
            assert_eq!(ps.closed, closed);
            assert_eq!(connman::find_pool(&pool.name), Ok(pool.p));
        }
    }

    fn finish(self) {
        connman::disconnect_all().unwrap();
        for t in self.all() {
            assert!(t.rec.wait(|e| e.contains(&Ev::Close)));
        }
        connman::shutdown().unwrap();
        for t in self.all() {
            t.rec.assert_contract();
        }
        assert_eq!(threads_named("connman-"), Vec::<String>::new());
    }
}

/// 64 cases by default; `CONNMAN_MODEL_CASES=N` for a longer hunt.
fn config() -> Config {
    let cases = std::env::var("CONNMAN_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    Config {
        cases,
        max_shrink_iters: 64,
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_api_and_fault_sequences_keep_the_contract(
        ops in proptest::collection::vec(op(), 1..=30)
    ) {
        let _s = serial();
        connman::shutdown().unwrap(); // a failed case may have left connections
        let mut m = Model::new();
        for (i, op) in ops.iter().enumerate() {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                m.step(op);
                m.check();
            }));
            if let Err(e) = r {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                let _ = connman::shutdown();
                panic!("step {i} {op:?} of {ops:?}: {msg}");
            }
        }
        m.finish();
    }
}

#[test]
fn pool_next_right_after_pool_disconnect_is_closed() {
    let _s = serial();
    let srv = Server::echo();
    let made = Arc::default();
    let p = connman::create_pool("next-after-disconnect", factory(Arc::clone(&made))).unwrap();
    p.add(srv.port, "127.0.0.1", &opts()).unwrap();
    assert!(wait_until(|| p.stats().unwrap().connected == 1));
    let blocker = ReactorBlocker::block();
    assert_eq!(p.disconnect(), Ok(()));
    let next = p.next();
    let add = p.add(srv.port, "127.0.0.1", &opts());
    drop(blocker);
    assert_eq!(add, Err(Error::Closed));
    assert_eq!(next, Err(Error::Closed), "pool next after pool disconnect");
    connman::shutdown().unwrap();
}

/// handler.rs: "After `on_close` returns the library drops its reference to the
/// handler." For single connections it does; pool members keep theirs until the
/// whole pool is released. Fix: docs/RELIABILITY.md, finding F2.
#[test]
fn handler_is_released_after_on_close() {
    let _s = serial();
    let srv = Server::echo();
    // A single connection.
    let rec = Recorder::new();
    let c = connman::connect(srv.port, "127.0.0.1", rec.clone(), &opts()).unwrap();
    assert!(rec.wait(|e| e.iter().any(is_connect)));
    c.disconnect().unwrap();
    assert!(rec.wait(|e| e.contains(&Ev::Close)));
    assert!(
        wait_until(|| Arc::strong_count(&rec) == 1),
        "single: the library still holds the handler after on_close"
    );
    // A pool member closed on its own while its pool lives on.
    let made: Arc<Mutex<Vec<Arc<Recorder>>>> = Arc::default();
    let p = connman::create_pool("release", factory(made.clone())).unwrap();
    p.add(srv.port, "127.0.0.1", &opts()).unwrap();
    p.add(srv.port, "127.0.0.1", &opts()).unwrap();
    let member = made.lock().unwrap()[0].clone();
    made.lock().unwrap().clear();
    assert!(member.wait(|e| e.iter().any(is_connect)));
    p.conn(0).unwrap().disconnect().unwrap();
    assert!(member.wait(|e| e.contains(&Ev::Close)));
    let held = !wait_for(Duration::from_secs(2), &mut || {
        Arc::strong_count(&member) == 1
    });
    connman::shutdown().unwrap();
    assert!(
        !held,
        "pool member: the library still holds the handler after on_close"
    );
}
