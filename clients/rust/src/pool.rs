//! The pool: a fixed number of connection slots, each kept open by a
//! background task that reconnects with backoff, and the choice of a slot
//! for each request.
//!
//! A slot's queue outlives its connections: requests that were queued but
//! not yet written when a connection broke are written on the next one
//! (they were never sent, so this is not a retry). Requests already
//! written fail with [`ClientError::ConnectionLost`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sessiond_protocol::wire::Reply;
use tokio::sync::{Notify, mpsc, oneshot, watch};

use crate::ClientError;
use crate::config::Backoff;
use crate::connection::{self, Command, ConnectParams, Ended, Established};

/// Requests queued per slot before callers wait for room (their timeout
/// still runs).
const QUEUE_DEPTH: usize = 4096;

/// How long a connection must have lasted for the reconnection backoff to
/// start over.
const STABLE_CONNECTION: Duration = Duration::from_secs(1);

/// What callers and a slot's task share.
struct SlotState {
    /// Whether the slot has a live connection now.
    healthy: AtomicBool,
    /// Requests dispatched to the slot and not yet answered: the load.
    load: AtomicUsize,
}

struct Slot {
    state: Arc<SlotState>,
    queue: mpsc::Sender<Command>,
}

/// A fixed set of connections to one server.
pub(crate) struct Pool {
    slots: Vec<Slot>,
    /// Signalled whenever a slot becomes healthy, to wake requests that
    /// found none.
    became_healthy: Arc<Notify>,
    /// Round-robin start for the least-loaded search, so that ties spread.
    next: AtomicUsize,
    /// Dropped with the pool, which stops the slot tasks even while they
    /// are waiting to reconnect.
    _shutdown: watch::Sender<()>,
}

impl Pool {
    /// Opens `size` connections at once. Succeeds if at least one opens;
    /// slots that failed keep trying in the background. Fails with the
    /// first error if none opens, since then the configuration or the
    /// server is most likely wrong (bad token, TLS, BUSY, …).
    pub(crate) async fn connect(
        params: ConnectParams,
        size: usize,
        backoff: Backoff,
    ) -> Result<Pool, ClientError> {
        let params = Arc::new(params);
        let attempts = (0..size).map(|_| {
            let params = Arc::clone(&params);
            tokio::spawn(async move { connection::open(&params).await })
        });
        let mut opened = Vec::with_capacity(size);
        for attempt in attempts.collect::<Vec<_>>() {
            opened.push(attempt.await.unwrap_or_else(|e| {
                Err(ClientError::Protocol(format!("connect task failed: {e}")))
            }));
        }
        if opened.iter().all(Result::is_err) {
            let first = opened.into_iter().find_map(Result::err);
            return Err(first.expect("the pool has at least one slot"));
        }

        let became_healthy = Arc::new(Notify::new());
        let (shutdown, shutdown_rx) = watch::channel(());
        let slots = opened
            .into_iter()
            .map(|first| {
                let state = Arc::new(SlotState {
                    healthy: AtomicBool::new(first.is_ok()),
                    load: AtomicUsize::new(0),
                });
                let (queue, rx) = mpsc::channel(QUEUE_DEPTH);
                tokio::spawn(keep_open(
                    SlotTask {
                        state: Arc::clone(&state),
                        params: Arc::clone(&params),
                        backoff,
                        became_healthy: Arc::clone(&became_healthy),
                        shutdown: shutdown_rx.clone(),
                    },
                    rx,
                    first.ok(),
                ));
                Slot { state, queue }
            })
            .collect();
        Ok(Pool {
            slots,
            became_healthy,
            next: AtomicUsize::new(0),
            _shutdown: shutdown,
        })
    }

    /// Sends one encoded request and waits for its reply. The caller
    /// bounds the wait with its timeout.
    pub(crate) async fn call(&self, frame: Bytes) -> Result<Reply, ClientError> {
        let slot = self.pick().await;
        let _load = LoadGuard::new(&slot.state);
        let (reply, answer) = oneshot::channel();
        slot.queue
            .send(Command { frame, reply })
            .await
            .map_err(|_| ClientError::ConnectionLost)?;
        // A dropped sender means the slot's task is gone with its
        // connection.
        answer.await.unwrap_or(Err(ClientError::ConnectionLost))
    }

    /// The least-loaded healthy slot; waits for one if none is healthy.
    async fn pick(&self) -> &Slot {
        loop {
            // Register for the wake-up before looking, so that a slot that
            // becomes healthy in between is not missed.
            let woken = self.became_healthy.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if let Some(slot) = self.least_loaded_healthy() {
                return slot;
            }
            woken.await;
        }
    }

    fn least_loaded_healthy(&self) -> Option<&Slot> {
        let n = self.slots.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        (0..n)
            .map(|i| &self.slots[(start + i) % n])
            .filter(|slot| slot.state.healthy.load(Ordering::Acquire))
            .min_by_key(|slot| slot.state.load.load(Ordering::Relaxed))
    }

    /// How many slots have a live connection now.
    pub(crate) fn healthy_connections(&self) -> usize {
        self.slots
            .iter()
            .filter(|slot| slot.state.healthy.load(Ordering::Acquire))
            .count()
    }
}

/// Counts a request against its slot's load for as long as it waits.
struct LoadGuard<'a>(&'a SlotState);

impl<'a> LoadGuard<'a> {
    fn new(state: &'a SlotState) -> Self {
        state.load.fetch_add(1, Ordering::Relaxed);
        LoadGuard(state)
    }
}

impl Drop for LoadGuard<'_> {
    fn drop(&mut self) {
        self.0.load.fetch_sub(1, Ordering::Relaxed);
    }
}

struct SlotTask {
    state: Arc<SlotState>,
    params: Arc<ConnectParams>,
    backoff: Backoff,
    became_healthy: Arc<Notify>,
    shutdown: watch::Receiver<()>,
}

/// A slot's life: serve the connection until it breaks, then reconnect
/// with backoff (handshake and `AUTH` again), until the client is dropped.
async fn keep_open(
    mut task: SlotTask,
    mut queue: mpsc::Receiver<Command>,
    mut conn: Option<Established>,
) {
    let mut attempt = 0u32;
    loop {
        let established = match conn.take() {
            Some(established) => established,
            None => {
                let delay = task.backoff.jittered(attempt);
                attempt = attempt.saturating_add(1);
                let opened = tokio::select! {
                    // `changed` fails once the pool is dropped.
                    _ = task.shutdown.changed() => return,
                    opened = async {
                        tokio::time::sleep(delay).await;
                        connection::open(&task.params).await
                    } => opened,
                };
                match opened {
                    Ok(established) => established,
                    Err(_) => continue,
                }
            }
        };
        task.state.healthy.store(true, Ordering::Release);
        task.became_healthy.notify_waiters();
        let opened_at = Instant::now();
        let ended = connection::serve(established, &mut queue).await;
        task.state.healthy.store(false, Ordering::Release);
        match ended {
            Ended::Shutdown => return,
            Ended::Broken => {}
        }
        // The backoff starts over only after a connection that lasted: a
        // server that accepts and at once drops connections is retried
        // ever more slowly, not every `min`.
        if opened_at.elapsed() >= STABLE_CONNECTION {
            attempt = 0;
        }
    }
}
