//! Name resolution off the event loops: a few resolver threads take lookups from a
//! channel and hand each result to the reply the loop gave, so a slow DNS server
//! stalls only the connections that wait for it. Numeric addresses and Unix paths
//! never get here. Threads start on the first lookup, not before.

use crate::endpoint::Endpoint;
use crate::sys::Addr;
use crossbeam_channel::{unbounded, Receiver, Sender};
use parking_lot::Mutex;
use std::thread::JoinHandle;

/// Resolver threads started at most.
const THREADS: usize = 4;

/// What to do with a lookup's result (the addresses, or getaddrinfo's EAI_* code).
pub(crate) type Reply = Box<dyn FnOnce(Result<Vec<Addr>, i32>) + Send>;

struct Job {
    endpoint: Endpoint,
    reply: Reply,
}

#[derive(Default)]
pub(crate) struct Resolver {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    tx: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
    stopped: bool,
}

impl Resolver {
    /// Queues a lookup; `reply` gets its result on a resolver thread (or, when no
    /// thread can be started, on this one). After [`Resolver::stop`] it is dropped.
    pub fn submit(&self, endpoint: Endpoint, reply: Reply) {
        let mut inner = self.inner.lock();
        if inner.stopped {
            return;
        }
        if inner.tx.is_none() {
            let (tx, rx) = unbounded::<Job>();
            for i in 0..THREADS {
                let rx: Receiver<Job> = rx.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("connman-resolve-{i}"))
                    .spawn(move || {
                        for job in rx {
                            (job.reply)(job.endpoint.resolve());
                        }
                    });
                if let Ok(h) = spawned {
                    inner.threads.push(h);
                }
            }
            inner.tx = Some(tx);
        }
        let job = Job { endpoint, reply };
        let job = match &inner.tx {
            Some(tx) if !inner.threads.is_empty() => match tx.send(job) {
                Ok(()) => return,
                Err(e) => e.0,
            },
            _ => job,
        };
        drop(inner);
        // No thread could be started: resolve inline rather than lose the attempt.
        (job.reply)(job.endpoint.resolve());
    }

    /// Stops the threads (after their current lookup) and joins them.
    pub fn stop(&self) {
        let (tx, threads) = {
            let mut inner = self.inner.lock();
            inner.stopped = true;
            (inner.tx.take(), std::mem::take(&mut inner.threads))
        };
        drop(tx);
        for t in threads {
            let _ = t.join();
        }
    }
}
