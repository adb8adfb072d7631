//! The state machine: the node's `Store`, fed the committed log.
//!
//! Applying an entry runs each of its writes through the face that
//! received it (`commands::execute`, or the RESP command's handler) inside
//! [`sessiond::Store::replay`], at the entry's time and with its drawn ids,
//! so every node computes the same result the leader returns to the
//! client. Touches in the entry are applied first.
//!
//! Snapshots are the engine's snapshot format (PERSISTENCE.md), copied
//! between two entries, so a snapshot is exactly the state after its last
//! log id (the log holds requests, and requests are not idempotent the way
//! the engine's own journal records are). The copy runs on the state
//! machine's task: applying waits for it, about a microsecond per session.
//! With a data directory the newest snapshot is kept as
//! `raft-snapshot-<id>` (the engine's bytes) and `raft-snapshot.meta`
//! (openraft's metadata, postcard, naming the id); a node starts from it
//! and re-applies the log after it.

use std::io::{self, Cursor};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, EntryPayload, RaftSnapshotBuilder, SnapshotMeta, StorageError, StorageIOError,
    StoredMembership,
};
use parking_lot::Mutex;
use sessiond_protocol::SessionId;
use sessiond_protocol::wire::codec;
use tracing::info;

use super::log_store::sync_dir;
use super::types::{Applied, Batch, Entry, LogId, Op, OpReply, TypeConfig};
use crate::{Shared, commands, resp};

type Meta = SnapshotMeta<u64, BasicNode>;

/// How far this node has applied, for the read gate and the group view.
#[derive(Default)]
pub(crate) struct Progress {
    /// The last applied index.
    pub index: AtomicU64,
    /// The term of the last applied entry.
    pub term: AtomicU64,
}

/// The newest snapshot, shared with the builder task.
#[derive(Default)]
struct Current {
    meta: Option<Meta>,
    /// Its bytes, when there is no data directory to keep them in.
    bytes: Option<Arc<Vec<u8>>>,
}

/// The store as openraft's state machine.
pub(crate) struct StateMachine {
    shared: Arc<Shared>,
    dir: Option<PathBuf>,
    applied: Option<LogId>,
    membership: StoredMembership<u64, BasicNode>,
    /// Time in the log never runs backwards: each batch runs at the later
    /// of its stamp and the previous batch's (a new leader's clock may be
    /// behind the old one's).
    floor_ms: u64,
    progress: Arc<Progress>,
    current: Arc<Mutex<Current>>,
}

fn read_err(e: impl std::error::Error + 'static) -> StorageError<u64> {
    StorageIOError::read_snapshot(None, &e).into()
}

fn write_err(e: impl std::error::Error + 'static) -> StorageError<u64> {
    StorageIOError::write_snapshot(None, &e).into()
}

impl StateMachine {
    /// The state machine over `shared.store`, loaded from the newest
    /// snapshot in `dir` if there is one.
    pub(crate) fn open(
        shared: Arc<Shared>,
        dir: Option<PathBuf>,
        progress: Arc<Progress>,
    ) -> io::Result<StateMachine> {
        let mut sm = StateMachine {
            shared,
            dir,
            applied: None,
            membership: StoredMembership::default(),
            floor_ms: 0,
            progress,
            current: Arc::default(),
        };
        if let Some(dir) = &sm.dir {
            let meta_path = dir.join("raft-snapshot.meta");
            if meta_path.exists() {
                let meta: Meta = postcard::from_bytes(&std::fs::read(&meta_path)?)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let bytes = std::fs::read(data_path(dir, &meta))?;
                let records = sm
                    .shared
                    .store
                    .load_snapshot(&bytes)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                info!(records, last = %meta.snapshot_id, "loaded the replicated snapshot");
                sm.adopt(&meta);
                sm.current.lock().meta = Some(meta);
            }
        }
        Ok(sm)
    }

    /// Takes a snapshot's position as this machine's.
    fn adopt(&mut self, meta: &Meta) {
        self.applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.floor_ms = floor_of(&meta.snapshot_id);
        self.report();
    }

    fn report(&self) {
        if let Some(applied) = self.applied {
            self.progress.index.store(applied.index, Ordering::Release);
            self.progress
                .term
                .store(applied.leader_id.term, Ordering::Release);
        }
    }

    /// Runs one batch's writes.
    fn run(&mut self, batch: Batch) -> Applied {
        let at = batch.at_ms.max(self.floor_ms);
        self.floor_ms = at;
        let store = &self.shared.store;
        let touches: Vec<(SessionId, u32)> = batch
            .touches
            .iter()
            .map(|(id, seen)| (SessionId::from_bytes(*id), *seen))
            .collect();
        store.apply_touches(&touches);
        let replies = batch
            .ops
            .into_iter()
            .map(|op| match op {
                Op::Native { body, ids } => {
                    let ids = to_ids(&ids);
                    OpReply::Native(store.replay(at, &ids, || {
                        codec::decode_request(&body).and_then(|request| {
                            commands::execute(store, &self.shared.stats, request)
                        })
                    }))
                }
                Op::Resp { args, ids } => OpReply::Resp(self.resp(at, &args, &ids)),
                Op::Transaction { commands } => {
                    // No other client's command runs on this node until
                    // the whole queue has (`gate.rs`).
                    let _alone = self.shared.gate.exclusive();
                    OpReply::Transaction(
                        commands
                            .into_iter()
                            .map(|op| match op {
                                Op::Resp { args, ids } => self.resp(at, &args, &ids),
                                _ => Err(resp::RespError::other(
                                    "only Redis commands are queued in a transaction",
                                )),
                            })
                            .collect(),
                    )
                }
            })
            .collect();
        Applied(replies)
    }

    /// Runs one Redis command of the log as of `at`.
    fn resp(&self, at: u64, args: &[bytes::Bytes], ids: &[[u8; 16]]) -> resp::RespReply {
        let ids = to_ids(ids);
        self.shared
            .store
            .replay(at, &ids, || resp::apply_write(&self.shared, args))
    }

    /// Writes the snapshot's files, replacing the previous ones. The
    /// bytes go under a name carrying the snapshot's id, and the renamed
    /// metadata is what makes them current: a crash at any point leaves
    /// metadata and bytes that belong together.
    fn persist(dir: &std::path::Path, meta: &Meta, bytes: &[u8]) -> io::Result<()> {
        let data = data_path(dir, meta);
        let tmp = dir.join("raft-snapshot.tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &data)?;
        let meta_bytes = postcard::to_allocvec(meta)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        let meta_tmp = dir.join("raft-snapshot.meta.tmp");
        std::fs::write(&meta_tmp, meta_bytes)?;
        std::fs::File::open(&meta_tmp)?.sync_all()?;
        std::fs::rename(&meta_tmp, dir.join("raft-snapshot.meta"))?;
        sync_dir(dir)?;
        for old in std::fs::read_dir(dir)?.flatten() {
            let path = old.path();
            let name = old.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("raft-snapshot-") && path != data {
                let _ = std::fs::remove_file(path);
            }
        }
        Ok(())
    }
}

/// Where a snapshot's bytes are kept.
fn data_path(dir: &std::path::Path, meta: &Meta) -> PathBuf {
    dir.join(format!("raft-snapshot-{}", meta.snapshot_id))
}

fn to_ids(ids: &[[u8; 16]]) -> Vec<SessionId> {
    ids.iter().map(|id| SessionId::from_bytes(*id)).collect()
}

/// A snapshot's id is `term-index-floor`: the floor (the log's time)
/// travels with it.
fn snapshot_id(applied: Option<LogId>, floor_ms: u64) -> String {
    match applied {
        Some(id) => format!("{}-{}-{floor_ms}", id.leader_id.term, id.index),
        None => format!("0-0-{floor_ms}"),
    }
}

fn floor_of(snapshot_id: &str) -> u64 {
    snapshot_id
        .rsplit('-')
        .next()
        .and_then(|f| f.parse().ok())
        .unwrap_or(0)
}

/// A snapshot copied and waiting to be kept.
pub(crate) struct Builder {
    meta: Meta,
    bytes: Vec<u8>,
    dir: Option<PathBuf>,
    current: Arc<Mutex<Current>>,
}

impl RaftSnapshotBuilder<TypeConfig> for Builder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<u64>> {
        let bytes = std::mem::take(&mut self.bytes);
        let mut current = self.current.lock();
        match &self.dir {
            Some(dir) => {
                StateMachine::persist(dir, &self.meta, &bytes).map_err(write_err)?;
                current.bytes = None;
            }
            None => current.bytes = Some(Arc::new(bytes.clone())),
        }
        current.meta = Some(self.meta.clone());
        info!(id = %self.meta.snapshot_id, bytes = bytes.len(), "replicated snapshot taken");
        Ok(Snapshot {
            meta: self.meta.clone(),
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Builder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId>, StoredMembership<u64, BasicNode>), StorageError<u64>> {
        Ok((self.applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, StorageError<u64>>
    where
        I: IntoIterator<Item = Entry> + Send,
    {
        let mut replies = Vec::new();
        for entry in entries {
            self.applied = Some(entry.log_id);
            replies.push(match entry.payload {
                EntryPayload::Blank => Applied::default(),
                EntryPayload::Normal(batch) => self.run(batch),
                EntryPayload::Membership(membership) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), membership);
                    Applied::default()
                }
            });
        }
        self.report();
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Builder {
        // Copied here, between two applies, so it is exactly the state
        // after `applied`.
        let mut bytes = Vec::new();
        if let Err(e) = self.shared.store.write_snapshot(&mut bytes) {
            // Writing to memory does not fail; if it did, the snapshot
            // would fail to load and say so.
            tracing::error!(error = %e, "copying the store for a snapshot");
        }
        Builder {
            meta: Meta {
                last_log_id: self.applied,
                last_membership: self.membership.clone(),
                snapshot_id: snapshot_id(self.applied, self.floor_ms),
            },
            bytes,
            dir: self.dir.clone(),
            current: self.current.clone(),
        }
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<u64>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<u64>> {
        let bytes = snapshot.into_inner();
        let records = self
            .shared
            .store
            .load_snapshot(&bytes)
            .map_err(|e| read_err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())))?;
        info!(records, id = %meta.snapshot_id, "installed a snapshot from the leader");
        let mut current = self.current.lock();
        match &self.dir {
            Some(dir) => StateMachine::persist(dir, meta, &bytes).map_err(write_err)?,
            None => current.bytes = Some(Arc::new(bytes)),
        }
        current.meta = Some(meta.clone());
        drop(current);
        self.adopt(meta);
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<u64>> {
        let current = self.current.lock();
        let Some(meta) = current.meta.clone() else {
            return Ok(None);
        };
        let bytes = match (&self.dir, &current.bytes) {
            (_, Some(bytes)) => bytes.as_ref().clone(),
            (Some(dir), None) => std::fs::read(data_path(dir, &meta)).map_err(read_err)?,
            (None, None) => return Ok(None),
        };
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}
