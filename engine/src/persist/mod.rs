//! Persistence: a store that survives restarts and crashes.
//!
//! With a data directory, every mutation is also written as a record to an
//! append-only log (`journal.rs`), which a background snapshot compacts
//! when it outgrows the live data (`snapshot.rs`); at start the store is
//! rebuilt from the newest snapshot and the logs after it
//! (`recovery.rs`). The bytes are specified in protocol/PERSISTENCE.md and
//! written and read by `format.rs` alone.
//!
//! Sliding expiry does not turn reads into disk writes: a touch is logged
//! only when it moves a session's `last seen` into a new slack interval
//! (1% of its idle timeout, at least 1 s and at most 60 s), so after a
//! restart a session's `last seen` is at most one slack early, never late.
//! An idle session does not come back; an active one can lose at most that
//! slack of its idle time.

mod files;
mod format;
mod journal;
mod recovery;
mod snapshot;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use sessiond_protocol::StoreError;

pub(crate) use format::{Entry, with_key_entry};
pub(crate) use journal::Journal;

/// When the log is forced to disk (see `journal.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// Before a write is acknowledged; concurrent writers share an fsync.
    Always,
    /// Once a second: a lost machine loses at most about a second of
    /// writes, a killed process next to nothing.
    #[default]
    EverySec,
    /// Never explicitly; the kernel writes back when it likes.
    No,
}

/// Where and how a store persists. Start from [`PersistConfig::new`].
#[derive(Clone)]
pub struct PersistConfig {
    /// The data directory; created if missing.
    pub dir: PathBuf,
    /// When the log is forced to disk. Default `everysec`.
    pub fsync: FsyncPolicy,
    /// Under `always`, whether each call of the store waits until its
    /// write is on disk (the default, for embedded use). The daemon turns
    /// this off and waits once per batch of requests with
    /// [`crate::Store::durability`], so no runtime thread blocks.
    pub acknowledge_in_call: bool,
    /// Compact when the log since the last snapshot is this many times the
    /// live data. Default 2.
    pub compact_ratio: u64,
    /// …and at least this many bytes. Default 64 MiB.
    pub compact_min_bytes: u64,
    /// Start in spite of damage in the middle of a file, keeping everything
    /// before it (see `recovery.rs`). Default off: damage refuses to start.
    pub repair: bool,
    /// Called every 250,000 records while loading, for progress logs.
    pub progress: Option<OnProgress>,
}

impl PersistConfig {
    /// Defaults for a directory.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        PersistConfig {
            dir: dir.into(),
            fsync: FsyncPolicy::default(),
            acknowledge_in_call: true,
            compact_ratio: 2,
            compact_min_bytes: 64 << 20,
            repair: false,
            progress: None,
        }
    }
}

impl std::fmt::Debug for PersistConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistConfig")
            .field("dir", &self.dir)
            .field("fsync", &self.fsync)
            .field("acknowledge_in_call", &self.acknowledge_in_call)
            .field("compact_ratio", &self.compact_ratio)
            .field("compact_min_bytes", &self.compact_min_bytes)
            .field("repair", &self.repair)
            .finish_non_exhaustive()
    }
}

/// A callback for load progress (see [`PersistConfig::progress`]).
pub type OnProgress = Arc<dyn Fn(&LoadProgress) + Send + Sync>;

/// How far a load has got.
#[derive(Debug, Clone)]
pub struct LoadProgress {
    /// Records applied so far.
    pub records: u64,
    /// Since the load began.
    pub elapsed: Duration,
}

/// What a store found in its data directory when it opened.
#[derive(Debug, Clone, Default)]
pub struct RecoveryReport {
    /// Files read, in order.
    pub files: Vec<PathBuf>,
    /// Records applied.
    pub records: u64,
    /// Live sessions after the load (expired ones dropped).
    pub sessions: u64,
    /// Live keys after the load.
    pub keys: u64,
    /// Things fixed on the way that lost nothing acknowledged under
    /// `always` (a torn last record).
    pub warnings: Vec<String>,
    /// What `repair` dropped.
    pub dropped: Vec<String>,
    /// How long the load took.
    pub duration: Duration,
}

/// The state of a store's data directory (see [`crate::Store::persistence`]).
#[derive(Debug, Clone)]
pub struct PersistStats {
    /// The fsync policy.
    pub fsync: FsyncPolicy,
    /// Bytes of log written since the newest snapshot.
    pub log_bytes: u64,
    /// Compactions finished since the store opened.
    pub compactions: u64,
    /// Bytes appended but not yet fsynced.
    pub unsynced_bytes: u64,
    /// Whether writes are refused now (a full disk), and why.
    pub refusing_writes: Option<String>,
}

/// What a compaction did (see [`crate::Store::compact`]).
#[derive(Debug, Clone, Default)]
pub struct CompactionReport {
    /// Size of the snapshot written.
    pub bytes: u64,
    /// Sessions and keys in it.
    pub records: u64,
    /// From the start of the copy to the old files' removal.
    pub duration: Duration,
    /// The longest any shard's lock was held while it was copied: the most
    /// a request waited on the compaction.
    pub longest_lock_hold: Duration,
}

/// Why a store could not open its data directory.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// A file could not be read, written or created.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A file is not what sessiond wrote: refused, so that nothing after
    /// the damage is silently lost. `repair` starts anyway.
    #[error(
        "{}: damaged at offset {offset}: {what}; start with repair (--repair) to keep \
         everything before it and drop the rest",
        path.display()
    )]
    Damaged {
        /// The file.
        path: PathBuf,
        /// Where the damage starts.
        offset: u64,
        /// What is wrong there.
        what: String,
    },
}

impl PersistError {
    /// An I/O error at `path`, for `map_err`.
    pub(crate) fn at(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> PersistError {
        let path = path.to_path_buf();
        move |source| PersistError::Io { path, source }
    }
}

/// A daemon's handle for waiting until writes are durable, under `always`
/// with [`PersistConfig::acknowledge_in_call`] off. Cheap to clone.
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

pub(crate) use files::lock as lock_dir;
pub(crate) use journal::start as start_journal;
pub(crate) use recovery::recover;
