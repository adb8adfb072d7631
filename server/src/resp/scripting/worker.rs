//! The scripting thread: it owns the Lua state (which never leaves it)
//! and runs the jobs connections send it, one at a time.
//!
//! The thread starts on the first job and holds its server weakly; it
//! ends when the server (and so the sending side of its queue) is
//! dropped. The cache of bodies is shared under a mutex so that SCRIPT
//! EXISTS, a leader's EVALSHA lookup and the callers' own Lua states
//! (`eval_here`) need no trip to the thread; that mutex is a leaf, never
//! held while anything else is locked.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock, Weak};

use bytes::Bytes;
use parking_lot::Mutex;
use tracing::warn;

use super::cache::Cache;
use super::vm::Vm;
use super::{Request, RunState};
use crate::Shared;
use crate::resp::errors::RespError;
use crate::resp::reply::Value;
use crate::resp::spec::Reply;

/// A question for the thread other than a script.
pub(super) enum Ask {
    Load(Bytes),
    Exists(Vec<Bytes>),
    Flush,
}

/// Where an answer goes.
enum Answer {
    Async(tokio::sync::oneshot::Sender<Reply>),
    Blocking(mpsc::Sender<Reply>),
}

impl Answer {
    fn send(self, reply: Reply) {
        let _ = match self {
            Answer::Async(tx) => tx.send(reply).map_err(drop),
            Answer::Blocking(tx) => tx.send(reply).map_err(drop),
        };
    }
}

enum Job {
    Eval(Request, Answer),
    Ask(Ask, Answer),
}

/// The thread's handle, in [`super::Scripts`].
#[derive(Default)]
pub(super) struct Handle {
    server: OnceLock<(Weak<Shared>, Arc<RunState>)>,
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    cache: Arc<Mutex<Cache>>,
    /// Bumped by SCRIPT FLUSH: the callers' own Lua states start afresh.
    generation: Arc<AtomicU64>,
}

thread_local! {
    /// This thread's Lua state for scripts run under a held gate, and the
    /// flush generation it was made in.
    static HERE: RefCell<Option<(u64, Vm)>> = const { RefCell::new(None) };
}

fn gone() -> RespError {
    RespError::other("the scripting thread is not running")
}

impl Handle {
    pub(super) fn attach(&self, shared: Weak<Shared>, run: Arc<RunState>) {
        let _ = self.server.set((shared, run));
    }

    fn send(&self, job: Job) -> Result<(), RespError> {
        let mut queue = self.queue.lock();
        if queue.is_none() {
            let (shared, run) = self.server.get().ok_or_else(gone)?.clone();
            let (tx, rx) = mpsc::channel();
            let cache = self.cache.clone();
            let generation = self.generation.clone();
            std::thread::Builder::new()
                .name("sessiond-lua".into())
                .spawn(move || serve(rx, shared, run, cache, generation))
                .map_err(|e| RespError::other(format!("cannot start the scripting thread: {e}")))?;
            *queue = Some(tx);
        }
        let tx = queue.as_ref().ok_or_else(gone)?;
        tx.send(job).map_err(|_| gone())
    }

    pub(super) async fn eval_async(&self, request: Request) -> Reply {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Job::Eval(request, Answer::Async(tx)))?;
        rx.await.map_err(|_| gone())?
    }

    /// A script whose caller holds the gate (EXEC, the replicated log)
    /// runs on the caller's thread, in a Lua state of that thread's: sent
    /// to the scripting thread, it could wait there behind a script that
    /// waits for the very gate this caller holds.
    pub(super) fn eval_here(&self, shared: &Shared, request: Request) -> Reply {
        let (_, run) = self.server.get().ok_or_else(gone)?;
        let generation = self.generation.load(Ordering::SeqCst);
        HERE.with(|here| {
            let mut here = here.borrow_mut();
            if here.as_ref().map(|(g, _)| *g) != Some(generation) {
                let vm = Vm::new(run.clone())
                    .map_err(|e| RespError::other(format!("cannot create a Lua state: {e}")))?;
                *here = Some((generation, vm));
            }
            let (_, vm) = here.as_mut().ok_or_else(gone)?;
            vm.eval(shared, &self.cache, request)
        })
    }

    pub(super) fn ask(&self, ask: Ask) -> Reply {
        if let Ask::Exists(shas) = &ask {
            // No trip to the thread: the cache answers.
            let cache = self.cache.lock();
            let found = shas
                .iter()
                .map(|sha| {
                    let sha = String::from_utf8_lossy(sha);
                    Value::Integer(i64::from(cache.contains(&sha)))
                })
                .collect();
            return Ok(Value::Array(found));
        }
        let (tx, rx) = mpsc::channel();
        self.send(Job::Ask(ask, Answer::Blocking(tx)))?;
        rx.recv().map_err(|_| gone())?
    }

    pub(super) fn body_of(&self, sha: &[u8]) -> Option<Bytes> {
        let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
        self.cache.lock().get(&sha).map(|entry| entry.body.clone())
    }
}

/// The thread's loop.
fn serve(
    jobs: mpsc::Receiver<Job>,
    shared: Weak<Shared>,
    run: Arc<RunState>,
    cache: Arc<Mutex<Cache>>,
    generation: Arc<AtomicU64>,
) {
    let mut vm: Option<Vm> = None;
    while let Ok(job) = jobs.recv() {
        let Some(shared) = shared.upgrade() else {
            break;
        };
        if vm.is_none() {
            match Vm::new(run.clone()) {
                Ok(fresh) => vm = Some(fresh),
                Err(e) => warn!(error = %e, "cannot create the Lua state"),
            }
        }
        let Some(state) = vm.as_mut() else {
            let (Job::Eval(_, answer) | Job::Ask(_, answer)) = job;
            answer.send(Err(RespError::other("the Lua state could not be created")));
            continue;
        };
        match job {
            Job::Eval(request, answer) => {
                answer.send(state.eval(&shared, &cache, request));
            }
            Job::Ask(Ask::Load(body), answer) => {
                answer.send(state.load(&cache, body, true).map(Value::text));
            }
            Job::Ask(Ask::Flush, answer) => {
                cache.lock().clear();
                generation.fetch_add(1, Ordering::SeqCst);
                vm = None;
                answer.send(Ok(Value::Simple("OK")));
            }
            Job::Ask(Ask::Exists(_), answer) => answer.send(Ok(Value::Array(Vec::new()))),
        }
    }
}
