//! How a store persists: the settings of its data directory, and what the
//! load-progress callback among them is told.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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
