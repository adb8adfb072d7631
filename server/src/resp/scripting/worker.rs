//! The scripting thread: it owns the Lua state (which never leaves it)
//! and runs the jobs connections send it, one at a time.
//!
//! The thread starts on the first job and holds its server weakly; it
//! ends when the server (and so the sending side of its queue) is
//! dropped. The cache of bodies is shared under a mutex so that SCRIPT
//! LOAD, EXISTS and FLUSH, a leader's EVALSHA lookup and the callers' own
//! Lua states (`eval_here`) need no trip to the thread, which may be
//! waiting for a gate their caller holds; that mutex is a leaf, never
//! held while anything else is locked. A flush bumps a generation that
//! retires every Lua state, the thread's and the callers'.

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

/// The SCRIPT subcommands that reach the cache.
pub(super) enum Ask {
    Load(Bytes),
    Exists(Vec<Bytes>),
    Flush,
}

/// Where a reply goes: the awaiting connection.
struct Answer(tokio::sync::oneshot::Sender<Reply>);

impl Answer {
    fn send(self, reply: Reply) {
        let _ = self.0.send(reply);
    }
}

/// A script for the scripting thread, and where its reply goes.
struct Job(Request, Answer);

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
        self.send(Job(request, Answer(tx)))?;
        rx.await.map_err(|_| gone())?
    }

    /// A script whose caller holds the gate (EXEC, the replicated log)
    /// runs on the caller's thread, in a Lua state of that thread's: sent
    /// to the scripting thread, it could wait there behind a script that
    /// waits for the very gate this caller holds.
    pub(super) fn eval_here(&self, shared: &Shared, request: Request) -> Reply {
        self.here(|vm| vm.eval(shared, &self.cache, request))
    }

    /// Runs `f` on this thread's own Lua state, made afresh after a
    /// flush.
    fn here(&self, f: impl FnOnce(&mut Vm) -> Reply) -> Reply {
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
            f(vm)
        })
    }

    /// SCRIPT LOAD, EXISTS and FLUSH, on the caller's thread: none waits
    /// for the scripting thread (which may be waiting for the gate the
    /// caller holds). LOAD compiles in the caller's own Lua state, and the
    /// scripting thread compiles the body from the cache when it first
    /// runs it; FLUSH empties the cache and retires every Lua state.
    pub(super) fn ask(&self, ask: Ask) -> Reply {
        match ask {
            Ask::Exists(shas) => {
                let cache = self.cache.lock();
                let found = shas
                    .iter()
                    .map(|sha| {
                        let sha = String::from_utf8_lossy(sha);
                        Value::Integer(i64::from(cache.contains(&sha)))
                    })
                    .collect();
                Ok(Value::Array(found))
            }
            Ask::Flush => {
                self.cache.lock().clear();
                self.generation.fetch_add(1, Ordering::SeqCst);
                Ok(Value::Simple("OK"))
            }
            Ask::Load(body) => self.here(|vm| vm.load(&self.cache, body, true).map(Value::text)),
        }
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
    let mut vm: Option<(u64, Vm)> = None;
    while let Ok(Job(request, answer)) = jobs.recv() {
        let Some(shared) = shared.upgrade() else {
            break;
        };
        let now = generation.load(Ordering::SeqCst);
        if vm.as_ref().map(|(g, _)| *g) != Some(now) {
            match Vm::new(run.clone()) {
                Ok(fresh) => vm = Some((now, fresh)),
                Err(e) => {
                    warn!(error = %e, "cannot create the Lua state");
                    vm = None;
                }
            }
        }
        let reply = match vm.as_mut() {
            Some((_, state)) => state.eval(&shared, &cache, request),
            None => Err(RespError::other("the Lua state could not be created")),
        };
        answer.send(reply);
    }
}
