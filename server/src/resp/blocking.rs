//! XREAD BLOCK: a connection waiting for session events without holding
//! its thread.
//!
//! A read that finds nothing is parked on its connection (`Client::
//! blocked`) and the command answers nothing yet; the connection stops
//! reading requests (what the client pipelines behind waits in its input
//! buffer, within its cap, as on Redis), and the driver waits for a push
//! (`Answer::pushed`: here, new events or the deadline), for the client
//! to close, for CLIENT KILL or for shutdown, serving the thread's other
//! connections meanwhile. On each wake-up the read is retried; its answer
//! is the entries, or the null array once its time is up.
//!
//! The store's one event listener (`event_wake.rs`, shared with the
//! native face's EVENTS_READ) wakes every parked read when events are
//! appended; it arms its wake-up before it checks the newest sequence, so
//! an event appended in between is never missed.

use std::time::{Duration, Instant};

use super::client::Client;
use super::cmd::stream_groups::{self, GroupRead};
use super::cmd::streams::{self, ReadRequest};
use super::reply::Value;
use super::spec::Reply;

/// What a parked read reads.
pub(crate) enum Parked {
    /// XREAD.
    Read(ReadRequest),
    /// XREADGROUP of new events.
    Group(GroupRead),
}

impl Parked {
    /// Its answer now, if it has one.
    fn now(&self, client: &Client<'_>) -> Option<Reply> {
        match self {
            Parked::Read(request) => streams::read_now(client, request).map(Ok),
            Parked::Group(read) => stream_groups::group_read_now(client, read),
        }
    }

    fn block(&self) -> Option<Option<Duration>> {
        match self {
            Parked::Read(request) => request.block(),
            Parked::Group(read) => read.block(),
        }
    }
}

/// A parked read.
pub(crate) struct Blocked {
    request: Parked,
    /// When it answers null; `None` for `BLOCK 0`.
    deadline: Option<Instant>,
    /// The newest sequence it has looked past.
    seen: u64,
}

/// Runs an XREAD or XREADGROUP from the connection: the entries there
/// are now; else, with BLOCK, parks it (answering `Value::Silent` for
/// now) or, without, the null array.
pub(crate) fn read(client: &mut Client<'_>, request: Parked) -> Reply {
    if let Some(found) = request.now(client) {
        return found;
    }
    let Some(block) = request.block() else {
        return Ok(Value::NullArray);
    };
    let seen = streams::newest(client);
    client.blocked = Some(Blocked {
        deadline: block.map(|wait: Duration| Instant::now() + wait),
        request,
        seen,
    });
    Ok(Value::Silent)
}

/// Retries the parked read: its answer once it has one (entries, or the
/// null array at its deadline), `None` while it still waits.
pub(crate) fn retry(client: &mut Client<'_>) -> Option<Value> {
    let blocked = client.blocked.as_ref()?;
    let newest = streams::newest(client);
    if newest > blocked.seen
        && let Some(found) = blocked.request.now(client)
    {
        client.blocked = None;
        return Some(found.unwrap_or_else(Value::from));
    }
    let expired = blocked.deadline.is_some_and(|d| Instant::now() >= d);
    match (expired, client.blocked.as_mut()) {
        (true, _) => {
            client.blocked = None;
            Some(Value::NullArray)
        }
        (false, Some(blocked)) => {
            blocked.seen = newest;
            None
        }
        (false, None) => None,
    }
}

/// Resolves when the parked read should be retried: events appended past
/// what it has seen, or its deadline. Never, with nothing parked.
pub(crate) async fn woken(client: &Client<'_>) {
    let Some(blocked) = &client.blocked else {
        return std::future::pending().await;
    };
    let deadline = blocked.deadline.map(tokio::time::Instant::from_std);
    client.shared.event_wake.after(blocked.seen, deadline).await;
}
