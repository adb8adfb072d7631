//! What persistence reports: what a load found, the state of
//! the data directory, a compaction, and why a directory would not open.

use std::path::PathBuf;
use std::time::Duration;

use super::config::FsyncPolicy;

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
