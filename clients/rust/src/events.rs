//! The session event log over the native protocol (docs/events.md):
//! reading it from a seq, waiting for the next event, and the deletes
//! whose `ended` events carry a note.

use std::time::Duration;

use sessiond_protocol::wire::{MAX_EVENTS_WAIT, Reply, Request};
use sessiond_protocol::{Event, SessionId};

use crate::error::unexpected;
use crate::{Client, ClientError};

impl Client {
    /// The session events after seq `after` (the last one handled; 0 at
    /// first), oldest first, at most `max` (the server gives at most
    /// 1 000). When none is there yet, the server waits up to `timeout`
    /// (at most 60 s; zero: answer at once) for one, and answers an empty
    /// list if none comes. Resuming after the last seq returned gets every
    /// event exactly once, in order:
    ///
    /// A waiting read holds its connection until it is answered (answers
    /// on a connection stay in order): give a waiting reader a client of
    /// its own, not the one the request path shares.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use sessiond_client::protocol::wire::ServerError;
    /// use sessiond_client::{Client, ClientConfig, ClientError};
    ///
    /// async fn follow(addr: &str) -> Result<(), ClientError> {
    ///     let reader = Client::connect(ClientConfig::new(addr)).await?;
    ///     let mut after = 0;
    ///     loop {
    ///         match reader.read_events(after, 100, Duration::from_secs(30)).await {
    ///             Ok(events) => {
    ///                 for event in events {
    ///                     println!("{} {} {}", event.seq, event.kind.name(), event.id);
    ///                     after = event.seq;
    ///                 }
    ///             }
    ///             Err(ClientError::Server(ServerError::EventsGap { oldest_kept, .. })) => {
    ///                 // Missed some: drop what depends on them, then go on.
    ///                 after = oldest_kept - 1;
    ///             }
    ///             Err(e) => return Err(e),
    ///         }
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    /// As [`Client::request`]; when retention has dropped events after
    /// `after`, [`ClientError::Server`] with
    /// [`ServerError::EventsGap`](sessiond_protocol::wire::ServerError::EventsGap),
    /// which carries the oldest seq kept.
    pub async fn read_events(
        &self,
        after: u64,
        max: u32,
        timeout: Duration,
    ) -> Result<Vec<Event>, ClientError> {
        let timeout = timeout.min(MAX_EVENTS_WAIT);
        let request = Request::EventsRead {
            after,
            max,
            timeout,
        };
        match self.request_waiting(request, timeout).await? {
            Reply::Events(events) => Ok(events),
            other => Err(unexpected("EVENTS_READ", "EVENTS", &other)),
        }
    }

    /// Deletes a session, as `delete` does, with a note its `ended` event
    /// repeats ("logout", "revoke"; at most 256 bytes). Says whether a
    /// live session was there.
    ///
    /// # Errors
    /// As [`Client::request`]; a note over 256 bytes is refused with
    /// [`StoreError::TooLarge`](sessiond_protocol::StoreError::TooLarge)
    /// before it is sent.
    pub async fn delete_with_note(&self, id: &SessionId, note: &[u8]) -> Result<bool, ClientError> {
        let request = Request::DeleteNoted {
            id: *id,
            note: note.to_vec(),
        };
        match self.request(request).await? {
            Reply::Bool(live) => Ok(live),
            other => Err(unexpected("DELETE_NOTED", "BOOL", &other)),
        }
    }

    /// Deletes an owner's sessions but `keep`, as `delete_owner` does,
    /// with a note each `ended` event repeats ("kick"). Returns how many
    /// live sessions ended.
    ///
    /// # Errors
    /// As [`Client::delete_with_note`].
    pub async fn delete_owner_with_note(
        &self,
        owner: &[u8],
        keep: Option<&SessionId>,
        note: &[u8],
    ) -> Result<usize, ClientError> {
        let request = Request::DeleteOwnerNoted {
            owner: owner.to_vec(),
            keep: keep.copied(),
            note: note.to_vec(),
        };
        match self.request(request).await? {
            Reply::Count(n) => Ok(n as usize),
            other => Err(unexpected("DELETE_OWNER_NOTED", "COUNT", &other)),
        }
    }
}

/// The event log for code written against both stores. The request path's
/// client waits here like any reader: a long `wait` holds one of its
/// connections (see [`Client::read_events`]).
impl sessiond_protocol::SessionEvents for Client {
    async fn next_events(
        &self,
        after: u64,
        max: u32,
        wait: Duration,
    ) -> Result<sessiond_protocol::EventRead, ClientError> {
        use sessiond_protocol::EventRead;
        use sessiond_protocol::wire::ServerError;
        match self.read_events(after, max, wait).await {
            Ok(events) => Ok(EventRead::Events(events)),
            Err(ClientError::Server(ServerError::EventsGap { oldest_kept, .. })) => {
                Ok(EventRead::Gap { oldest_kept })
            }
            Err(e) => Err(e),
        }
    }
}
