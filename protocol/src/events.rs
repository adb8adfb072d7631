//! Session lifecycle events, as the engine logs them and every face and
//! client reads them: what happened to which session, when, in which
//! order (see docs/events.md).
//!
//! They live here rather than in the engine because the native protocol
//! carries them (`EVENTS_READ`, SPEC.md) and the clients hand them to
//! applications: the engine, the daemon and every client agree on one
//! type.

use crate::{Labels, SessionId};

/// Longest note a caller may attach to a delete ("logout", "revoke",
/// "kick"), in bytes. A note is a short reason for people and audit
/// trails, not a payload: bounding it bounds every event.
pub const MAX_EVENT_NOTE: usize = 256;

/// One change in a session's life, with its place in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event's sequence number: 1 for the first event a store ever
    /// logged, one more for each after it; never reused, across restarts
    /// too. A reader resumes after the last one it handled.
    pub seq: u64,
    /// When it happened: the store's clock, in Unix milliseconds.
    pub at_ms: u64,
    /// What happened.
    pub kind: EventKind,
    /// The session's id (for a rotation, the old one).
    pub id: SessionId,
    /// The session's owner.
    pub owner: Vec<u8>,
    /// The session's labels when it happened.
    pub labels: Labels,
}

/// What happened to a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// It was created.
    Created,
    /// It was given a new id ([`Event::id`] is the old one, now dead).
    Rotated {
        /// The id it lives on under.
        new_id: SessionId,
    },
    /// Its data was replaced (an UPDATE). A touch is not an update: it
    /// changes no data and is no lifecycle change.
    Updated,
    /// It ended.
    Ended {
        /// Why.
        reason: EndReason,
        /// The note its deleter gave (at most [`MAX_EVENT_NOTE`] bytes),
        /// if any.
        note: Option<Vec<u8>>,
    },
}

impl EventKind {
    /// The kind's name on every face: `created`, `rotated`, `updated`,
    /// `ended`.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Rotated { .. } => "rotated",
            EventKind::Updated => "updated",
            EventKind::Ended { .. } => "ended",
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// Deleted by id (a logout), or by FLUSHALL.
    Deleted,
    /// Deleted with the rest of its owner's sessions (log out everywhere,
    /// an admin kick).
    OwnerDeleted,
    /// Ended to make room under its owner's session limit.
    LimitEvicted,
    /// Ended to make room under the store's memory limit.
    MemoryEvicted,
    /// Not seen for its idle timeout.
    IdleExpired,
    /// Reached its absolute lifetime.
    AbsoluteExpired,
}

impl EndReason {
    /// Every reason, in the order of their codes.
    pub const ALL: [EndReason; 6] = [
        EndReason::Deleted,
        EndReason::OwnerDeleted,
        EndReason::LimitEvicted,
        EndReason::MemoryEvicted,
        EndReason::IdleExpired,
        EndReason::AbsoluteExpired,
    ];

    /// The reason's name on every face (`deleted`, `owner_deleted`, …).
    pub fn name(self) -> &'static str {
        match self {
            EndReason::Deleted => "deleted",
            EndReason::OwnerDeleted => "owner_deleted",
            EndReason::LimitEvicted => "limit_evicted",
            EndReason::MemoryEvicted => "memory_evicted",
            EndReason::IdleExpired => "idle_expired",
            EndReason::AbsoluteExpired => "absolute_expired",
        }
    }

    /// The reason's code on the wire and on disk: 1 to 6.
    pub fn code(self) -> u8 {
        match self {
            EndReason::Deleted => 1,
            EndReason::OwnerDeleted => 2,
            EndReason::LimitEvicted => 3,
            EndReason::MemoryEvicted => 4,
            EndReason::IdleExpired => 5,
            EndReason::AbsoluteExpired => 6,
        }
    }

    /// The reason with this code, if there is one.
    pub fn from_code(code: u8) -> Option<EndReason> {
        EndReason::ALL.into_iter().find(|r| r.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_codes_round_trip_and_names_are_distinct() {
        let mut names = Vec::new();
        for reason in EndReason::ALL {
            assert_eq!(EndReason::from_code(reason.code()), Some(reason));
            names.push(reason.name());
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EndReason::ALL.len());
        assert_eq!(EndReason::from_code(0), None);
        assert_eq!(EndReason::from_code(7), None);
    }
}
