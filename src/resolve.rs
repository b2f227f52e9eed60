//! Name resolution off the reactor thread: a few resolver threads take jobs from a
//! channel and post the results back to the reactor, so a slow DNS server stalls
//! only the connections that wait for it. Numeric addresses never get here.

use crate::runtime::{Cmd, RuntimeShared};
use crossbeam_channel::{unbounded, Receiver, Sender};
use parking_lot::Mutex;
use std::sync::Weak;
use std::thread::JoinHandle;

/// Resolver threads started at most (lazily, on the first name to resolve).
const THREADS: usize = 4;

pub(crate) struct Job {
    pub id: u64,
    pub gen: u64,
    pub host: String,
    pub port: u16,
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
    /// Queues a lookup; its result reaches the reactor as `Cmd::Resolved`.
    pub fn submit(&self, job: Job, rt: Weak<RuntimeShared>) {
        let mut inner = self.inner.lock();
        if inner.stopped {
            return;
        }
        if inner.tx.is_none() {
            let (tx, rx) = unbounded::<Job>();
            for i in 0..THREADS {
                let rx: Receiver<Job> = rx.clone();
                let rt = rt.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("connman-resolve-{i}"))
                    .spawn(move || worker(rx, rt));
                if let Ok(h) = spawned {
                    inner.threads.push(h);
                }
            }
            inner.tx = Some(tx);
        }
        if let Some(tx) = &inner.tx {
            if !inner.threads.is_empty() {
                let _ = tx.send(job);
                return;
            }
        }
        drop(inner);
        // No thread could be started: resolve inline rather than lose the attempt.
        resolve_and_post(job, &rt);
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

fn worker(rx: Receiver<Job>, rt: Weak<RuntimeShared>) {
    for job in rx {
        resolve_and_post(job, &rt);
    }
}

fn resolve_and_post(job: Job, rt: &Weak<RuntimeShared>) {
    let result = crate::sys::resolve(&job.host, job.port);
    if let Some(rt) = rt.upgrade() {
        rt.post(Cmd::Resolved {
            id: job.id,
            gen: job.gen,
            result,
        });
    }
}
