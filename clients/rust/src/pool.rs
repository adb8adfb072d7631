//! The pool: a fixed number of connection slots, each kept open by a
//! background task that reconnects with backoff, and the choice of a slot
//! for each request.
//!
//! A request goes to a slot with a live connection, never to one that is
//! reconnecting: with no live connection the pool hands the request back
//! as [`NotSent`], and so does a slot whose connection broke with requests
//! still queued, so that the client can send them elsewhere (another node,
//! or the same one once it is back) instead of waiting for this slot's
//! backoff. Requests already written fail with
//! [`ClientError::ConnectionLost`].
//!
//! A pool serves one server. When the client moves to another node of a
//! replication group it opens a new pool and retires the old one: requests
//! the old one still holds unsent come back as [`NotSent`], so that the
//! client can send them to the new node, and its connections close once
//! the requests they carry are answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sessiond_protocol::wire::Reply;
use tokio::sync::{mpsc, oneshot, watch};

use crate::ClientError;
use crate::config::Backoff;
use crate::connection::{self, Command, ConnectParams, Ended, Established};

/// Requests queued per slot before callers wait for room (their timeout
/// still runs).
const QUEUE_DEPTH: usize = 4096;

/// How long a connection must have lasted for the reconnection backoff to
/// start over.
pub(crate) const STABLE_CONNECTION: Duration = Duration::from_secs(1);

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

/// A request that never left the client: no connection took it before
/// its pool was retired or its slot's task ended. Sending it elsewhere is
/// safe whatever it does.
#[derive(Debug)]
pub(crate) struct NotSent;

/// A fixed set of connections to one server.
pub(crate) struct Pool {
    /// The server's `host:port`.
    address: String,
    slots: Vec<Slot>,
    /// Set once the client has moved to another server: no new request
    /// waits here for a connection.
    retired: AtomicBool,
    /// Round-robin start for the least-loaded search, so that ties spread.
    next: AtomicUsize,
    /// Dropped with the pool, which stops the slot tasks even while they
    /// are waiting to reconnect.
    shutdown: watch::Sender<()>,
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
        let address = params.address.clone();
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
                        shutdown: shutdown_rx.clone(),
                    },
                    rx,
                    first.ok(),
                ));
                Slot { state, queue }
            })
            .collect();
        Ok(Pool {
            address,
            slots,
            retired: AtomicBool::new(false),
            next: AtomicUsize::new(0),
            shutdown,
        })
    }

    /// The server this pool connects to.
    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    /// Sends one encoded request and waits for its reply. The caller
    /// bounds the wait with its timeout.
    ///
    /// # Errors
    /// [`NotSent`] when the request never reached a connection; otherwise
    /// the reply or the error it came back with.
    pub(crate) async fn call(&self, frame: Bytes) -> Result<Result<Reply, ClientError>, NotSent> {
        let slot = self.pick().ok_or(NotSent)?;
        let _load = LoadGuard::new(&slot.state);
        let (reply, answer) = oneshot::channel();
        slot.queue
            .send(Command { frame, reply })
            .await
            .map_err(|_| NotSent)?;
        // A request that was written is always answered, if only with
        // ConnectionLost; a reply slot dropped unanswered was never
        // written (its slot's task ended with the request still queued).
        answer.await.map_err(|_| NotSent)
    }

    /// The least-loaded healthy slot; `None` if there is none, or once
    /// the pool is retired.
    fn pick(&self) -> Option<&Slot> {
        if self.retired.load(Ordering::Acquire) {
            return None;
        }
        self.least_loaded_healthy()
    }

    /// Stops the pool taking requests: requests queued on a slot that is
    /// reconnecting come back [`NotSent`]; live connections finish what
    /// they carry and close when the last caller lets go of the pool.
    pub(crate) fn retire(&self) {
        self.retired.store(true, Ordering::Release);
        // Wakes the slot tasks that wait to reconnect; they end, dropping
        // their queues.
        let _ = self.shutdown.send(());
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
                // Requests that came while the connection broke go back to
                // their callers unsent rather than wait out the backoff.
                while let Ok(command) = queue.try_recv() {
                    drop(command);
                }
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
        let opened_at = Instant::now();
        // The slot stops looking healthy before its in-flight requests hear
        // of the loss, so that their retries go elsewhere.
        let ended = connection::serve(established, &mut queue, || {
            task.state.healthy.store(false, Ordering::Release);
        })
        .await;
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
