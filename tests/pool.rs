//! Pools: factory, stable indexes, round robin, disconnect, against the flaky server.

mod common;

use common::*;
use connman::{Error, Handler, Options, Pool};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

fn factory(made: Arc<Mutex<Vec<Arc<Recorder>>>>) -> connman::Factory {
    Box::new(move |index| {
        let r = Recorder::new();
        let mut m = made.lock().unwrap();
        assert_eq!(index, m.len(), "factory called with the next index");
        m.push(r.clone());
        Ok(r as Arc<dyn Handler>)
    })
}

#[test]
fn pool_members_round_robin_and_disconnect() {
    let _s = serial();
    let mut srv = Server::echo();
    let made = Arc::new(Mutex::new(Vec::new()));
    let pool = connman::create_pool("rr", factory(made.clone())).unwrap();
    assert_eq!(
        connman::create_pool("rr", factory(Arc::new(Mutex::new(Vec::new())))).map(|_| ()),
        Err(Error::Exists)
    );
    assert_eq!(connman::find_pool("rr").unwrap(), pool);
    for i in 0..4 {
        let host = if i % 2 == 0 { "127.0.0.1" } else { "localhost" };
        assert_eq!(pool.add(srv.port, host, &Options::default()).unwrap(), i);
    }
    assert_eq!(pool.size().unwrap(), 4);
    let recs = made.lock().unwrap().clone();
    assert!(wait_until(|| pool.stats().unwrap().connected == 4));
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r.events()[0], Ev::Connect(pool.connection_fd(i).unwrap()));
        let h: Arc<dyn std::any::Any + Send + Sync> = pool.handler(i).unwrap();
        assert!(Arc::ptr_eq(&h.downcast::<Recorder>().unwrap(), r));
        assert_eq!(
            pool.conn(i).unwrap().fd().unwrap(),
            pool.connection_fd(i).unwrap()
        );
    }
    assert_eq!(pool.connection_fd(4), Err(Error::NotFound));
    // Round robin in index order, each member once per cycle.
    let first: Vec<_> = (0..4).map(|_| pool.next().unwrap()).collect();
    let second: Vec<_> = (0..4).map(|_| pool.next().unwrap()).collect();
    assert_eq!(first, second);
    assert_eq!(first.iter().collect::<HashSet<_>>().len(), 4);
    let by_index: Vec<_> = (0..4).map(|i| pool.conn(i).unwrap()).collect();
    let start = by_index.iter().position(|c| *c == first[0]).unwrap();
    for k in 0..4 {
        assert_eq!(first[k], by_index[(start + k) % 4]);
    }
    // All down: next says so; back up: next works again.
    srv.cmd("stop");
    assert!(wait_until(|| pool.stats().unwrap().connected == 0));
    assert_eq!(pool.next(), Err(Error::NotConnected));
    srv.cmd("start");
    assert!(wait_until(|| pool.stats().unwrap().connected == 4));
    assert!(pool.next().is_ok());
    // Disconnect: every member closed exactly once; then the name is free.
    pool.disconnect().unwrap();
    // Closed while members close; NotFound once all did (it may be that fast).
    assert!(matches!(
        pool.disconnect(),
        Err(Error::Closed) | Err(Error::NotFound)
    ));
    assert!(matches!(
        pool.add(srv.port, "127.0.0.1", &Options::default()),
        Err(Error::Closed) | Err(Error::NotFound)
    ));
    assert!(wait_until(|| recs
        .iter()
        .all(|r| r.count(|e| *e == Ev::Close) == 1)));
    for r in &recs {
        r.assert_contract();
    }
    assert!(wait_until(
        || connman::find_pool("rr") == Err(Error::NotFound)
    ));
    assert_eq!(pool.size(), Err(Error::NotFound));
    let again = connman::create_pool("rr", factory(Arc::new(Mutex::new(Vec::new())))).unwrap();
    assert_ne!(again, pool);
    connman::shutdown().unwrap();
}

#[test]
fn factory_refusal_adds_nothing() {
    let _s = serial();
    let srv = Server::echo();
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    let pool = connman::create_pool(
        "refuse",
        Box::new(move |i| {
            c2.fetch_add(1, SeqCst);
            if i == 0 && c2.load(SeqCst) == 1 {
                Err(Error::Factory)
            } else {
                Ok(Recorder::new() as Arc<dyn Handler>)
            }
        }),
    )
    .unwrap();
    assert_eq!(
        pool.add(srv.port, "127.0.0.1", &Options::default()),
        Err(Error::Factory)
    );
    assert_eq!(pool.size().unwrap(), 0);
    // Bad arguments are refused before the factory is asked.
    assert_eq!(
        pool.add(0, "127.0.0.1", &Options::default()),
        Err(Error::InvalidArgument)
    );
    assert_eq!(
        pool.add(srv.port, "no-such-host.invalid", &Options::default()),
        Err(Error::Resolve)
    );
    assert_eq!(calls.load(SeqCst), 1);
    assert_eq!(
        pool.add(srv.port, "127.0.0.1", &Options::default())
            .unwrap(),
        0
    );
    assert_eq!(
        connman::create_pool("", Box::new(|_| Err(Error::Factory))).map(|_| ()),
        Err(Error::InvalidArgument)
    );
    assert_eq!(Pool::from_id(0).size(), Err(Error::NotFound));
    connman::shutdown().unwrap();
    assert_eq!(connman::find_pool("refuse"), Err(Error::NotFound));
}

#[test]
fn concurrent_add_and_next() {
    let _s = serial();
    let srv = Server::echo();
    let made = Arc::new(Mutex::new(Vec::new()));
    let pool = connman::create_pool("busy", factory(made.clone())).unwrap();
    let port = srv.port;
    let adders: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                (0..10)
                    .map(|_| pool.add(port, "127.0.0.1", &Options::default()).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let nexters: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut ok = 0;
                for _ in 0..20_000 {
                    match pool.next() {
                        Ok(c) => {
                            assert!(c.id() != 0);
                            ok += 1;
                        }
                        Err(Error::NotConnected) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                ok
            })
        })
        .collect();
    let mut indexes: Vec<usize> = adders.into_iter().flat_map(|t| t.join().unwrap()).collect();
    for t in nexters {
        t.join().unwrap();
    }
    indexes.sort();
    assert_eq!(
        indexes,
        (0..40).collect::<Vec<_>>(),
        "indexes unique and dense"
    );
    assert!(wait_until(|| pool.stats().unwrap().connected == 40));
    connman::disconnect_all().unwrap();
    let recs = made.lock().unwrap().clone();
    assert!(wait_until(|| recs
        .iter()
        .all(|r| r.count(|e| *e == Ev::Close) == 1)));
    assert!(wait_until(|| connman::find_pool("busy").is_err()));
    connman::shutdown().unwrap();
}

#[test]
fn disconnect_all_closes_singles_and_pools() {
    let _s = serial();
    let srv = Server::echo();
    let made = Arc::new(Mutex::new(Vec::new()));
    let pool = connman::create_pool("all", factory(made.clone())).unwrap();
    pool.add(srv.port, "127.0.0.1", &Options::default())
        .unwrap();
    pool.add(srv.port, "127.0.0.1", &Options::default())
        .unwrap();
    let single = Recorder::new();
    connman::connect(srv.port, "127.0.0.1", single.clone(), &Options::default()).unwrap();
    assert!(wait_until(
        || pool.stats().unwrap().connected == 2 && single.count(is_connect) == 1
    ));
    connman::disconnect_all().unwrap();
    let mut all = made.lock().unwrap().clone();
    all.push(single);
    assert!(wait_until(|| all
        .iter()
        .all(|r| r.count(|e| *e == Ev::Close) == 1)));
    for r in &all {
        r.assert_contract();
    }
    connman::shutdown().unwrap();
}

#[test]
fn factories_may_not_reenter_their_own_pool() {
    let _s = serial();
    let srv = Server::echo();
    let port = srv.port;
    let b = connman::create_pool(
        "inner",
        Box::new(|_| Ok(Recorder::new() as Arc<dyn Handler>)),
    )
    .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let a = connman::create_pool(
        "outer",
        Box::new(move |_| {
            // Adding to another pool from a factory works...
            let mut s = seen2.lock().unwrap();
            s.push(b.add(port, "127.0.0.1", &Options::default()).map(|_| ()));
            // ...re-entering this pool, or shutting down, is refused (no deadlock).
            let me = connman::find_pool("outer").unwrap();
            s.push(me.add(port, "127.0.0.1", &Options::default()).map(|_| ()));
            s.push(me.disconnect());
            s.push(connman::shutdown());
            Ok(Recorder::new() as Arc<dyn Handler>)
        }),
    )
    .unwrap();
    assert_eq!(a.add(port, "127.0.0.1", &Options::default()).unwrap(), 0);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            Ok(()),
            Err(Error::InCallback),
            Err(Error::InCallback),
            Err(Error::InCallback)
        ]
    );
    assert_eq!(b.size().unwrap(), 1);
    connman::shutdown().unwrap();
}

#[test]
fn next_skips_closing_members_and_closed_pools() {
    let _s = serial();
    let srv = Server::echo();
    let made = Arc::new(Mutex::new(Vec::new()));
    let pool = connman::create_pool("closing", factory(made.clone())).unwrap();
    pool.add(srv.port, "127.0.0.1", &Options::default())
        .unwrap();
    pool.add(srv.port, "127.0.0.1", &Options::default())
        .unwrap();
    assert!(wait_until(|| pool.stats().unwrap().connected == 2));
    let first = pool.conn(0).unwrap();
    first.disconnect().unwrap();
    for _ in 0..10 {
        assert_eq!(pool.next().unwrap(), pool.conn(1).unwrap());
    }
    pool.disconnect().unwrap();
    assert!(matches!(
        pool.next(),
        Err(Error::Closed) | Err(Error::NotFound)
    ));
    connman::shutdown().unwrap();
}
