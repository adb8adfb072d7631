//! The replicated log on disk: the group's journal.
//!
//! With replication the log openraft keeps *is* the journal: there is no
//! second one (the engine runs without its own). It is one append-only
//! file, `raft-log`, of framed records, each `u32` length (little endian),
//! `u32` CRC-32 of the body, then the body: a kind byte and a postcard
//! value.
//!
//! | kind | body | meaning |
//! |---|---|---|
//! | 1 | an entry | appended |
//! | 2 | `u64` index | every entry from this index on is gone (a conflict) |
//! | 3 | a log id | every entry up to this one is gone (a snapshot covers it) |
//! | 4 | an optional log id | the commit index, as last saved |
//!
//! The vote lives in its own small file, `raft-vote`, replaced whole
//! (written, fsynced, renamed, directory fsynced): a node must never vote
//! twice in a term, so the vote is on disk before openraft is told, under
//! every fsync policy.
//!
//! Entries are acknowledged to openraft (and so count towards a majority)
//! once written to the file under `--fsync no` or `everysec` (in the page
//! cache: they survive a crash of the process, not of the machine), and
//! once fsynced under `always` (they survive both). `everysec` fsyncs in
//! the background once a second.
//!
//! At start the file is read back; a torn last record (a crash in the
//! middle of a write) is cut off. When purges have left the file more
//! than twice as large as what it still holds, it is rewritten (to a
//! temporary file, fsynced, renamed).
//!
//! All entries not yet purged are also kept in memory, where openraft
//! reads them from; snapshots purge them (see `state_machine.rs`).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{RaftLogId, RaftLogReader, StorageError, StorageIOError, Vote};
use parking_lot::Mutex;
use sessiond::FsyncPolicy;
use tracing::warn;

use super::types::{Entry, LogId, TypeConfig};

const APPENDED: u8 = 1;
const TRUNCATED: u8 = 2;
const PURGED: u8 = 3;
const COMMITTED: u8 = 4;

/// The log, shared by openraft's storage task and its readers.
#[derive(Clone)]
pub(crate) struct LogStore {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    entries: BTreeMap<u64, Entry>,
    last_purged: Option<LogId>,
    committed: Option<LogId>,
    vote: Option<Vote<u64>>,
    /// `None`: an in-memory group (no `--data-dir`).
    disk: Option<Disk>,
}

struct Disk {
    dir: PathBuf,
    file: Arc<Mutex<File>>,
    /// The file's length.
    len: u64,
    /// Bytes of records that still matter (entries held, the latest purge
    /// and commit), to decide when to rewrite.
    live: u64,
    fsync: FsyncPolicy,
    /// Written since the last fsync (for `everysec`).
    dirty: Arc<std::sync::atomic::AtomicBool>,
}

fn io_err(e: impl std::error::Error + 'static) -> StorageError<u64> {
    StorageIOError::write_logs(&e).into()
}

impl LogStore {
    /// A log in memory only.
    pub(crate) fn in_memory() -> LogStore {
        LogStore {
            inner: Arc::new(Mutex::new(Inner {
                entries: BTreeMap::new(),
                last_purged: None,
                committed: None,
                vote: None,
                disk: None,
            })),
        }
    }

    /// The log in `dir` (created if missing), read back.
    pub(crate) fn open(dir: &Path, fsync: FsyncPolicy) -> io::Result<LogStore> {
        fs::create_dir_all(dir)?;
        let path = dir.join("raft-log");
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut inner = Inner {
            entries: BTreeMap::new(),
            last_purged: None,
            committed: None,
            vote: read_vote(dir)?,
            disk: None,
        };
        let mut at = 0;
        while let Some((kind, body, next)) = next_record(&bytes, at) {
            inner.replay(kind, body).map_err(|what| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: offset {at}: {what}", path.display()),
                )
            })?;
            at = next;
        }
        if at < bytes.len() {
            warn!(
                file = %path.display(),
                cut = bytes.len() - at,
                "the replicated log ends in a torn record (a crash in the middle of a write); cut"
            );
        }
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&path)?;
        file.set_len(at as u64)?;
        let mut file = file;
        io::Seek::seek(&mut file, io::SeekFrom::End(0))?;
        let dirty = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let file = Arc::new(Mutex::new(file));
        if fsync == FsyncPolicy::EverySec {
            spawn_everysec(Arc::downgrade(&file), dirty.clone());
        }
        inner.disk = Some(Disk {
            dir: dir.to_path_buf(),
            file,
            len: at as u64,
            live: at as u64,
            fsync,
            dirty,
        });
        Ok(LogStore {
            inner: Arc::new(Mutex::new(inner)),
        })
    }
}

impl Inner {
    fn replay(&mut self, kind: u8, body: &[u8]) -> Result<(), String> {
        let decode_err = |e: postcard::Error| e.to_string();
        match kind {
            APPENDED => {
                let entry: Entry = postcard::from_bytes(body).map_err(decode_err)?;
                self.entries.insert(entry.log_id.index, entry);
            }
            TRUNCATED => {
                let index: u64 = postcard::from_bytes(body).map_err(decode_err)?;
                self.entries.split_off(&index);
            }
            PURGED => {
                let log_id: LogId = postcard::from_bytes(body).map_err(decode_err)?;
                self.purge_in_memory(log_id);
            }
            COMMITTED => self.committed = postcard::from_bytes(body).map_err(decode_err)?,
            other => return Err(format!("unknown record kind {other}")),
        }
        Ok(())
    }

    fn purge_in_memory(&mut self, log_id: LogId) {
        let keep = self.entries.split_off(&(log_id.index + 1));
        self.entries = keep;
        if self.last_purged < Some(log_id) {
            self.last_purged = Some(log_id);
        }
    }

    /// Appends records; fsyncs under `always`.
    fn write(&mut self, records: &[u8], sync: bool) -> io::Result<()> {
        let Some(disk) = &mut self.disk else {
            return Ok(());
        };
        let mut file = disk.file.lock();
        file.write_all(records)?;
        if sync || disk.fsync == FsyncPolicy::Always {
            file.sync_data()?;
        } else {
            disk.dirty.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        disk.len += records.len() as u64;
        disk.live += records.len() as u64;
        Ok(())
    }

    /// Rewrites the file with only what it still needs, when purges have
    /// left it more than twice that.
    fn maybe_rewrite(&mut self) -> io::Result<()> {
        let Some(disk) = &self.disk else {
            return Ok(());
        };
        if disk.len < 4 << 20 || disk.len < 2 * disk.live {
            return Ok(());
        }
        let mut out = Vec::new();
        if let Some(purged) = self.last_purged {
            record(&mut out, PURGED, &purged);
        }
        for entry in self.entries.values() {
            record(&mut out, APPENDED, entry);
        }
        record(&mut out, COMMITTED, &self.committed);
        let tmp = disk.dir.join("raft-log.tmp");
        let path = disk.dir.join("raft-log");
        {
            let mut file = File::create(&tmp)?;
            file.write_all(&out)?;
            file.sync_all()?;
        }
        let mut file = disk.file.lock();
        fs::rename(&tmp, &path)?;
        sync_dir(&disk.dir)?;
        let mut reopened = OpenOptions::new().append(true).open(&path)?;
        io::Seek::seek(&mut reopened, io::SeekFrom::End(0))?;
        *file = reopened;
        drop(file);
        let disk = self.disk.as_mut().expect("checked above");
        disk.len = out.len() as u64;
        disk.live = out.len() as u64;
        Ok(())
    }
}

/// Appends one framed record.
fn record(out: &mut Vec<u8>, kind: u8, value: &impl serde::Serialize) {
    let start = out.len();
    out.extend_from_slice(&[0; 8]);
    out.push(kind);
    let out_vec = std::mem::take(out);
    let mut out_vec = postcard::to_extend(value, out_vec).expect("log records always encode");
    let body_len = out_vec.len() - start - 8;
    let crc = crc32fast::hash(&out_vec[start + 8..]);
    out_vec[start..start + 4].copy_from_slice(&(body_len as u32).to_le_bytes());
    out_vec[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    *out = out_vec;
}

/// The record at `at`: its kind, its value's bytes and where the next one
/// starts; `None` at the end or at a torn or damaged record.
fn next_record(bytes: &[u8], at: usize) -> Option<(u8, &[u8], usize)> {
    let header = bytes.get(at..at + 8)?;
    let len = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().ok()?);
    let body = bytes.get(at + 8..at + 8 + len)?;
    if len == 0 || crc32fast::hash(body) != crc {
        return None;
    }
    Some((body[0], &body[1..], at + 8 + len))
}

fn read_vote(dir: &Path) -> io::Result<Option<Vote<u64>>> {
    match fs::read(dir.join("raft-vote")) {
        Ok(bytes) => match next_record(&bytes, 0) {
            Some((_, body, _)) => postcard::from_bytes(body)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "raft-vote is damaged",
            )),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn write_vote(dir: &Path, vote: &Vote<u64>) -> io::Result<()> {
    let mut out = Vec::new();
    record(&mut out, 0, vote);
    let tmp = dir.join("raft-vote.tmp");
    {
        let mut file = File::create(&tmp)?;
        file.write_all(&out)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, dir.join("raft-vote"))?;
    sync_dir(dir)
}

/// Makes a rename in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// `everysec`: one fsync a second when something was written.
fn spawn_everysec(file: std::sync::Weak<Mutex<File>>, dirty: Arc<std::sync::atomic::AtomicBool>) {
    let _ = std::thread::Builder::new()
        .name("sessiond-raft-fsync".into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(1));
                let Some(file) = file.upgrade() else { return };
                if dirty.swap(false, std::sync::atomic::Ordering::Relaxed)
                    && let Err(e) = file.lock().sync_data()
                {
                    warn!(error = %e, "fsync of the replicated log failed");
                    dirty.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
        });
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError<u64>> {
        let inner = self.inner.lock();
        Ok(inner.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<u64>> {
        let inner = self.inner.lock();
        let last = inner
            .entries
            .values()
            .next_back()
            .map(|e| *e.get_log_id())
            .or(inner.last_purged);
        Ok(LogState {
            last_purged_log_id: inner.last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError<u64>> {
        let mut inner = self.inner.lock();
        if let Some(disk) = &inner.disk {
            write_vote(&disk.dir, vote).map_err(|e| StorageIOError::write_vote(&e))?;
        }
        inner.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError<u64>> {
        Ok(self.inner.lock().vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError<u64>> {
        let mut inner = self.inner.lock();
        inner.committed = committed;
        if inner.disk.is_some() {
            let mut out = Vec::new();
            record(&mut out, COMMITTED, &committed);
            // A hint for the next start (how far to re-apply at once), not
            // a promise: never fsynced on its own.
            inner.write(&out, false).map_err(io_err)?;
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError<u64>> {
        Ok(self.inner.lock().committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<u64>>
    where
        I: IntoIterator<Item = Entry> + Send,
    {
        let mut inner = self.inner.lock();
        let mut out = Vec::new();
        let on_disk = inner.disk.is_some();
        for entry in entries {
            if on_disk {
                record(&mut out, APPENDED, &entry);
            }
            inner.entries.insert(entry.log_id.index, entry);
        }
        let written = inner.write(&out, false);
        drop(inner);
        match written {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(io::Error::new(e.kind(), e.to_string())));
                Err(io_err(e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError<u64>> {
        let mut inner = self.inner.lock();
        if inner.disk.is_some() {
            let mut out = Vec::new();
            record(&mut out, TRUNCATED, &log_id.index);
            inner.write(&out, true).map_err(io_err)?;
        }
        inner.entries.split_off(&log_id.index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError<u64>> {
        let mut inner = self.inner.lock();
        let before = inner.entries.len();
        inner.purge_in_memory(log_id);
        if inner.disk.is_some() {
            let mut out = Vec::new();
            record(&mut out, PURGED, &log_id);
            inner.write(&out, false).map_err(io_err)?;
            let gone = before - inner.entries.len();
            if let Some(disk) = &mut inner.disk {
                // A rough share: purged entries no longer count as live.
                let average = disk.live / (before as u64 + 1).max(1);
                disk.live = disk.live.saturating_sub(average * gone as u64);
            }
            inner.maybe_rewrite().map_err(io_err)?;
        }
        Ok(())
    }
}
