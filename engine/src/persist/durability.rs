//! The daemon's way to wait for durability per batch of requests, without
//! blocking a runtime thread (see `journal.rs`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use sessiond_protocol::StoreError;

use super::config::FsyncPolicy;
use super::journal::Journal;

/// A daemon's handle for waiting until writes are durable, under `always`
/// with [`crate::PersistConfig::acknowledge_in_call`] off. Cheap to clone.
#[derive(Clone)]
pub struct Durability {
    journal: Arc<Journal>,
}

impl Durability {
    pub(crate) fn new(journal: Arc<Journal>) -> Self {
        Durability { journal }
    }

    /// The log position of the newest record: take it before and after a
    /// batch of requests; if it moved, await [`Durability::synced`] before
    /// answering.
    pub fn position(&self) -> u64 {
        self.journal.appended()
    }

    /// Whether acknowledgements wait for the disk (fsync `always`).
    pub fn waits(&self) -> bool {
        self.journal.policy() == FsyncPolicy::Always
    }

    /// Resolves once position `at` is on disk, or with the error that
    /// keeps it from getting there. Runtime-agnostic: the flusher thread
    /// wakes it.
    pub fn synced(&self, at: u64) -> Synced {
        Synced {
            journal: Arc::clone(&self.journal),
            at,
        }
    }
}

impl std::fmt::Debug for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Durability")
            .field("position", &self.position())
            .finish()
    }
}

/// The future of [`Durability::synced`].
pub struct Synced {
    journal: Arc<Journal>,
    at: u64,
}

impl Future for Synced {
    type Output = Result<(), StoreError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.journal.poll_durable(self.at, cx)
    }
}
