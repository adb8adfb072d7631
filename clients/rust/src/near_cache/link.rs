//! The near cache's two background tasks: the invalidation connection,
//! and the flusher that carries the touches of served sessions to the
//! server.
//!
//! The invalidation connection is the cache's own, never one of the
//! request pool's, and it is opened here rather than through the pool:
//! the pool reconnects silently, and a connection the server never saw
//! register must not renew the lease. So each connection is registered
//! here, its end is seen here, and each end resets the table before the
//! next registration (docs/events.md, "Near cache", steps 1, 2 and 5).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sessiond_protocol::wire::{CacheMode, MAX_EVENTS_READ, Reply, Request, ServerError};
use sessiond_protocol::{Event, EventKind, SessionId, StoreError};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use super::Shared;
use crate::client::encode;
use crate::connection::{self, Command};
use crate::error::unexpected;
use crate::pool::STABLE_CONNECTION;
use crate::{ClientError, SessionStore};

/// How often served sessions' touches go to the server: at most once a
/// second each, whatever the number of hits.
pub(super) const TOUCH_EVERY: Duration = Duration::from_secs(1);

/// Keeps the invalidation connection up for as long as the cache lives.
/// `ready` hears how the first registration went.
pub(super) async fn invalidations(
    shared: Arc<Shared>,
    mode: CacheMode,
    ready: oneshot::Sender<Result<(), ClientError>>,
) {
    let mut ready = Some(ready);
    // As the pool reconnects: the client's backoff, started over only
    // after a link that lasted.
    let backoff = shared.client.reconnect_backoff();
    let mut attempt = 0u32;
    loop {
        let started = Instant::now();
        let error = follow(&shared, mode, &mut ready).await;
        // Whatever ended it, nothing kept may be served any more.
        shared.entries().reset();
        if let Some(ready) = ready.take() {
            let _ = ready.send(Err(error));
            return;
        }
        if started.elapsed() >= STABLE_CONNECTION {
            attempt = 0;
        }
        tokio::time::sleep(backoff.jittered(attempt)).await;
        attempt = attempt.saturating_add(1);
    }
}

/// One registered connection, until it fails: registers, then reads the
/// events and applies them, renewing the lease with each answer.
async fn follow(
    shared: &Shared,
    mode: CacheMode,
    ready: &mut Option<oneshot::Sender<Result<(), ClientError>>>,
) -> ClientError {
    let link = match Link::open(shared).await {
        Ok(link) => link,
        Err(error) => return error,
    };
    let timeout = shared.client.request_timeout();
    let sent = Instant::now();
    let (head, bound) = match link.call(Request::CacheRegister { mode }, timeout).await {
        Ok(Reply::Cache { head, bound }) => (head, bound),
        Ok(other) => return unexpected("CACHE_REGISTER", "CACHE", &other),
        Err(error) => return error,
    };
    shared.entries().registered(sent + bound);
    if let Some(ready) = ready.take() {
        let _ = ready.send(Ok(()));
    }
    let mut after = head;
    loop {
        // A third of the bound, not half: the lease that covers this
        // wait was renewed by the previous answer, from the previous
        // read's send; at half it would lapse for a round trip or two at
        // the end of every idle wait.
        let wait = bound / 3;
        let request = Request::EventsRead {
            after,
            max: MAX_EVENTS_READ,
            timeout: wait,
        };
        let sent = Instant::now();
        // No answer within the bound: the lease has run out anyway, and
        // the server will cut this connection off; start again.
        match link.call(request, bound).await {
            Ok(Reply::Events(events)) => {
                let mut entries = shared.entries();
                if let Some(last) = events.last() {
                    after = last.seq;
                    let changed: Vec<SessionId> = events.iter().flat_map(invalidated).collect();
                    if !changed.is_empty() {
                        entries.invalidate(changed);
                    }
                }
                entries.renew(sent + bound);
            }
            Err(ClientError::Server(ServerError::EventsGap { oldest_kept, .. })) => {
                // Missed events: whatever is kept may be stale.
                let mut entries = shared.entries();
                entries.reset();
                entries.renew(sent + bound);
                after = oldest_kept.saturating_sub(1);
            }
            Ok(other) => return unexpected("EVENTS_READ", "EVENTS", &other),
            Err(error) => return error,
        }
    }
}

/// The ids an event makes stale: a rotation's both, an update's or end's
/// one; a creation none (no cache can hold an id not yet made).
fn invalidated(event: &Event) -> impl Iterator<Item = SessionId> {
    let (first, second) = match &event.kind {
        EventKind::Created => (None, None),
        EventKind::Rotated { new_id } => (Some(event.id), Some(*new_id)),
        EventKind::Updated | EventKind::Ended { .. } => (Some(event.id), None),
    };
    first.into_iter().chain(second)
}

/// The invalidation connection: requests go to the task that serves it;
/// when the connection ends, every call fails from then on.
struct Link {
    queue: mpsc::Sender<Command>,
    serving: tokio::task::JoinHandle<()>,
}

impl Link {
    async fn open(shared: &Shared) -> Result<Link, ClientError> {
        let params = shared.client.connect_params();
        let established = connection::open(&params).await?;
        let (queue, mut requests) = mpsc::channel(2);
        let serving = tokio::spawn(async move {
            connection::serve(established, &mut requests, || {}).await;
        });
        Ok(Link { queue, serving })
    }

    /// One request and its answer, within `wait`.
    async fn call(&self, request: Request, wait: Duration) -> Result<Reply, ClientError> {
        let (reply, answer) = oneshot::channel();
        let frame = encode(&request);
        self.queue
            .send(Command { frame, reply })
            .await
            .map_err(|_| ClientError::ConnectionLost)?;
        match tokio::time::timeout(wait, answer).await {
            Err(_) => Err(ClientError::Timeout),
            Ok(Err(_)) => Err(ClientError::ConnectionLost),
            Ok(Ok(reply)) => reply,
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.serving.abort();
    }
}

/// Sends, once a second, one TOUCH for each session served from the
/// cache since the last round (which slides on use), and takes each
/// answer's deadline into the entry.
pub(super) async fn touches(shared: Arc<Shared>) {
    let mut every = tokio::time::interval(TOUCH_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let ids = shared.entries().take_touches();
        let mut sent = JoinSet::new();
        for id in ids {
            let client = shared.client.clone();
            sent.spawn(async move { (id, client.touch(&id).await) });
        }
        while let Some(done) = sent.join_next().await {
            let Ok((id, outcome)) = done else { continue };
            match outcome {
                Ok(expires_at) => shared.entries().touched(&id, expires_at),
                Err(ClientError::Store(StoreError::NotFound)) => {
                    shared.entries().invalidate([id]);
                }
                // Not slid this round; the next hit asks again.
                Err(_) => {}
            }
        }
    }
}
