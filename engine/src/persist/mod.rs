//! Persistence: a store that survives restarts and crashes.
//!
//! With a data directory, every mutation is also written as a record to an
//! append-only log (`journal.rs`), which a background snapshot compacts
//! when it outgrows the live data (`snapshot.rs`); at start the store is
//! rebuilt from the newest snapshot and the logs after it
//! (`recovery.rs`). The bytes are specified in protocol/PERSISTENCE.md and
//! written and read by `format.rs` alone; `files.rs` names the files and
//! creates them crash-safely. The settings and reports a caller sees are
//! in `config.rs` and `reports.rs`, the daemon's per-batch wait for the
//! disk in `durability.rs`.
//!
//! This module knows nothing of the store's types: recovery writes into
//! whatever implements [`Restore`], compaction reads whatever implements
//! [`Source`] (the store does both, in `on_disk.rs`), so the store may use
//! this module without this module using it back.
//!
//! Sliding expiry does not turn reads into disk writes: a touch is logged
//! only when it moves a session's `last seen` into a new slack interval
//! (1% of its idle timeout, at least 1 s and at most 60 s), so after a
//! restart a session's `last seen` is at most one slack early, never late.
//! An idle session does not come back; an active one can lose at most that
//! slack of its idle time.

mod config;
mod durability;
mod files;
mod format;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod journal;
mod recovery;
mod reports;
mod snapshot;

pub use config::{FsyncPolicy, LoadProgress, OnProgress, PersistConfig};
pub use durability::{Durability, Synced};
pub use reports::{CompactionReport, PersistError, PersistStats, RecoveryReport};

pub(crate) use files::lock as lock_dir;
pub(crate) use format::{Entry, pack_bodies, with_key_entry};
pub(crate) use journal::{Journal, start as start_journal};
pub(crate) use recovery::{Restore, load_snapshot_bytes, recover};
pub(crate) use snapshot::{Source, write_to as write_snapshot_to};
