//! Recovery at start: the newest snapshot, then every log from its
//! generation on, replayed into an empty store.
//!
//! What can be wrong, and what happens:
//! - a log ends in a torn record (a crash in the middle of a write; for a
//!   log before the newest, a machine crash under `everysec` or `no` just
//!   after compaction moved to a new log): the record is cut off, with a
//!   warning in the report;
//! - anything else that is not a whole, checksummed record (damage in the
//!   middle of a log, a missing log, a damaged snapshot): recovery
//!   refuses, naming the file and the
//!   offset, unless `repair` is set. Repair keeps everything before the
//!   damage, cuts the file there, sets aside the logs after it (renamed
//!   `*.damaged`, never deleted) and reports what it dropped.
//!
//! Records are applied as they come, expired or not, and expired entries
//! are dropped at the end: a session may look expired in the record that
//! created it and be alive after a later touch.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use sessiond_protocol::SessionId;

use super::config::{LoadProgress, PersistConfig};
use super::files::{self, Listing, LogFile};
use super::format::{
    Entry, FILE_HEADER, FileKind, Framed, next_frame, read_file_header, unpack_fields,
    unpack_members,
};
use super::reports::{PersistError, RecoveryReport};
use crate::keys::{SetValue, Value};
use crate::record::SessionRecord;

/// Reports progress every this many records.
const PROGRESS_EVERY: u64 = 250_000;

/// Replay's way into a store: each record's result applied as it stands,
/// without limits, checks or logging (history already passed them). Each
/// call may find what it applies already there, since a fuzzy snapshot
/// and the log after it overlap (see `snapshot.rs`).
pub(crate) trait Restore {
    /// A session as a record states it, replacing any with its id prefix.
    fn restore_session(&self, record: SessionRecord);
    /// Moves a session's `last seen` forward, if the session is there.
    fn restore_touch(&self, id: &SessionId, last_seen: u32);
    /// Ends a session, if it is there.
    fn restore_end(&self, id: &SessionId);
    /// A key as a record states it (`deadline` `None`: no TTL).
    fn restore_key(&self, key: &[u8], value: Value<'_>, deadline: Option<u64>);
    /// Ends a key, if it is there.
    fn restore_key_end(&self, key: &[u8]);
    /// A session event as its record packs it, into the event log; one
    /// at or below a seq already restored is skipped.
    fn restore_event(&self, image: &[u8]) -> Result<(), &'static str>;
    /// The seq the next event gets, at least.
    fn restore_events_next(&self, next_seq: u64);
    /// A change to the event log's consumer groups, as its record packs it.
    fn restore_group(&self, change: &[u8]) -> Result<(), &'static str>;
    /// Drops what expired, once everything is applied.
    fn drop_expired(&self);
}

/// Loads the directory into `store`; returns the report and the log to
/// append to.
pub(crate) fn recover(
    store: &impl Restore,
    config: &PersistConfig,
) -> Result<(RecoveryReport, LogFile, u64), PersistError> {
    let dir = &config.dir;
    let started = Instant::now();
    let Listing {
        snapshots,
        logs,
        temporary,
    } = files::list(dir).map_err(PersistError::at(dir))?;
    for tmp in temporary {
        fs::remove_file(&tmp).map_err(PersistError::at(&tmp))?;
    }
    let mut replay = Replay {
        store,
        config,
        report: RecoveryReport::default(),
        started,
    };
    let base = snapshots.last().copied().unwrap_or(0);
    let mut snapshot_bytes = 0;
    if base > 0 {
        let path = files::snapshot_path(dir, base);
        snapshot_bytes = replay.snapshot(&path, base)?;
    }
    let logs: Vec<u64> = logs.into_iter().filter(|g| *g >= base.max(1)).collect();
    // A snapshot of generation g is written after log g is created, so log
    // g must be there; and logs follow each other without gaps.
    let expected_first = base.max(1);
    let mut next_expected = expected_first;
    let mut append_to: Option<(u64, u64)> = None;
    for (i, &generation) in logs.iter().enumerate() {
        let path = files::log_path(dir, generation);
        if generation != next_expected {
            let missing = files::log_path(dir, next_expected);
            replay.damage(&missing, 0, "this log is missing")?;
            set_aside(&logs[i..], dir, &mut replay.report)?;
            break;
        }
        let newest = i + 1 == logs.len();
        match replay.log(&path, generation, newest)? {
            LogEnd::Whole(len) => append_to = Some((generation, len)),
            LogEnd::Cut(len) => {
                append_to = Some((generation, len));
                set_aside(&logs[i + 1..], dir, &mut replay.report)?;
                break;
            }
        }
        next_expected = generation + 1;
    }
    let log = match append_to {
        Some((generation, len)) => files::reopen_log(dir, generation, len),
        None => files::create_log(dir, expected_first, true),
    }
    .map_err(PersistError::at(dir))?;
    if base > 0 {
        // A compaction that crashed after its rename left these behind.
        super::snapshot::remove_superseded(dir, base).map_err(PersistError::at(dir))?;
    }
    store.drop_expired();
    let mut report = replay.report;
    report.duration = started.elapsed();
    Ok((report, log, snapshot_bytes))
}

/// Loads a snapshot held in memory (one a replication peer sent, say)
/// into `store`, then drops what has expired; returns the records loaded.
pub(crate) fn load_snapshot_bytes(store: &impl Restore, bytes: &[u8]) -> Result<u64, PersistError> {
    let damaged = |offset: usize, what: &str| PersistError::Damaged {
        path: PathBuf::from("<snapshot received>"),
        offset: offset as u64,
        what: what.into(),
    };
    read_file_header(bytes, FileKind::Snapshot).map_err(|what| damaged(0, &what))?;
    let mut records = 0u64;
    read_snapshot(bytes, |entry| {
        records += 1;
        restore(store, entry)
    })
    .map_err(|(at, what)| damaged(at, what))?;
    store.drop_expired();
    Ok(records)
}

/// How a log's replay ended.
enum LogEnd {
    /// At its end: append after `len` bytes.
    Whole(u64),
    /// Cut at `len` (torn tail, or repaired damage): later logs are set
    /// aside.
    Cut(u64),
}

struct Replay<'a, S> {
    store: &'a S,
    config: &'a PersistConfig,
    report: RecoveryReport,
    started: Instant,
}

impl<S: Restore> Replay<'_, S> {
    fn snapshot(&mut self, path: &Path, generation: u64) -> Result<u64, PersistError> {
        let bytes = read(path)?;
        self.header(path, &bytes, FileKind::Snapshot, generation)?;
        read_snapshot(&bytes, |entry| self.apply(entry))
            .or_else(|(at, what)| self.fatal(path, at, what))?;
        self.report.files.push(path.to_path_buf());
        Ok(bytes.len() as u64)
    }

    fn log(&mut self, path: &Path, generation: u64, newest: bool) -> Result<LogEnd, PersistError> {
        let bytes = read(path)?;
        if bytes.len() < super::format::FILE_HEADER && newest {
            // Created, but the crash came before its header was on disk.
            self.report.warnings.push(format!(
                "{}: a log without a whole header (a crash as it was created); started again",
                path.display()
            ));
            fs::remove_file(path).map_err(PersistError::at(path))?;
            let log = files::create_log(&self.config.dir, generation, true)
                .map_err(PersistError::at(path))?;
            return Ok(LogEnd::Whole(log.len));
        }
        self.header(path, &bytes, FileKind::Log, generation)?;
        self.report.files.push(path.to_path_buf());
        match read_log(&bytes, |entry| self.apply(entry)) {
            LogRead::Whole(at) => Ok(LogEnd::Whole(at as u64)),
            // The newest log's tail, or (after a machine crash under
            // `everysec` or `no`) an older log's tail that was not yet
            // fsynced when the log moved on: cut, and go on.
            LogRead::Torn(at, what) => {
                self.report.warnings.push(format!(
                    "{}: cut {} bytes at offset {at}: {what} (a crash in the middle of a write)",
                    path.display(),
                    bytes.len() - at
                ));
                if !newest {
                    cut(path, at as u64)?;
                }
                Ok(LogEnd::Whole(at as u64))
            }
            LogRead::Damaged(at, what) => {
                self.damage(path, at, what).map(|()| LogEnd::Cut(at as u64))
            }
        }
    }

    fn header(
        &self,
        path: &Path,
        bytes: &[u8],
        kind: FileKind,
        generation: u64,
    ) -> Result<(), PersistError> {
        match read_file_header(bytes, kind) {
            Ok((_, g)) if g == generation => Ok(()),
            Ok((_, g)) => Err(PersistError::Damaged {
                path: path.to_path_buf(),
                offset: 0,
                what: format!("its header says generation {g}"),
            }),
            Err(what) => Err(PersistError::Damaged {
                path: path.to_path_buf(),
                offset: 0,
                what,
            }),
        }
    }

    /// Damage that `repair` can get past: with it, records what is
    /// dropped (the caller cuts the file at `offset`); without, refuses.
    fn damage(&mut self, path: &Path, offset: usize, what: &str) -> Result<(), PersistError> {
        if !self.config.repair {
            return self.fatal(path, offset, what);
        }
        let len = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        self.report.dropped.push(format!(
            "{}: dropped {} bytes from offset {offset}: {what}",
            path.display(),
            len.saturating_sub(offset as u64)
        ));
        if path.exists() {
            cut(path, offset as u64)?;
        }
        Ok(())
    }

    fn fatal<T>(&self, path: &Path, offset: usize, what: &str) -> Result<T, PersistError> {
        Err(PersistError::Damaged {
            path: path.to_path_buf(),
            offset: offset as u64,
            what: what.into(),
        })
    }

    fn apply(&mut self, entry: Entry<'_>) -> Result<(), &'static str> {
        restore(self.store, entry)?;
        self.report.records += 1;
        if self.report.records.is_multiple_of(PROGRESS_EVERY)
            && let Some(progress) = &self.config.progress
        {
            progress(&LoadProgress {
                records: self.report.records,
                elapsed: self.started.elapsed(),
            });
        }
        Ok(())
    }
}

/// How reading a log's records ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LogRead {
    /// At the end of the file, this long.
    Whole(usize),
    /// At a torn record at this offset: what a crash in the middle of a
    /// write leaves.
    Torn(usize, &'static str),
    /// At damage at this offset: bytes that are no record, or a record
    /// that does not decode or apply.
    Damaged(usize, &'static str),
}

/// Reads the records of a log whose header is checked, handing each to
/// `apply` in order: recovery's one reader of logs, on bytes, so that the
/// fuzz targets run this very code (see `fuzzing.rs`).
pub(super) fn read_log(
    bytes: &[u8],
    mut apply: impl FnMut(Entry<'_>) -> Result<(), &'static str>,
) -> LogRead {
    let mut at = FILE_HEADER;
    loop {
        match next_frame(bytes, at) {
            Framed::Record(body, next) => {
                if let Err(what) = Entry::decode(body).and_then(&mut apply) {
                    return LogRead::Damaged(at, what);
                }
                at = next;
            }
            Framed::End => return LogRead::Whole(at),
            Framed::Torn(what) => return LogRead::Torn(at, what),
            Framed::Damaged(what) => return LogRead::Damaged(at, what),
        }
    }
}

/// Reads the records of a snapshot whose header is checked, handing each
/// to `apply` in order; it must end in END with the right count, at the
/// very end of the file. Otherwise the offset of what is wrong, and what.
pub(super) fn read_snapshot(
    bytes: &[u8],
    mut apply: impl FnMut(Entry<'_>) -> Result<(), &'static str>,
) -> Result<(), (usize, &'static str)> {
    let mut at = FILE_HEADER;
    let mut records = 0u64;
    loop {
        match next_frame(bytes, at) {
            Framed::Record(body, next) => match Entry::decode(body) {
                Ok(Entry::End { records: n }) if n == records && next == bytes.len() => {
                    return Ok(());
                }
                Ok(Entry::End { .. }) => return Err((at, "the snapshot's count does not match")),
                Ok(entry) => {
                    apply(entry).map_err(|what| (at, what))?;
                    records += 1;
                    at = next;
                }
                Err(what) => return Err((at, what)),
            },
            Framed::End | Framed::Torn(_) => {
                return Err((at, "the snapshot ends before its last record"));
            }
            Framed::Damaged(what) => return Err((at, what)),
        }
    }
}

/// Applies one record to `store`, decoding what its frame left packed (a
/// session image, a set's members).
pub(super) fn restore(store: &impl Restore, entry: Entry<'_>) -> Result<(), &'static str> {
    match entry {
        Entry::Session(image) => store.restore_session(SessionRecord::from_image(image)?),
        Entry::Touch { id, last_seen } => {
            store.restore_touch(&SessionId::from_bytes(id), last_seen);
        }
        Entry::EndSession { id } => store.restore_end(&SessionId::from_bytes(id)),
        Entry::Str {
            key,
            deadline_ms,
            value,
        } => store.restore_key(key, Value::Str(value), deadline(deadline_ms)),
        Entry::Set {
            key,
            deadline_ms,
            members,
        } => {
            let mut set = SetValue::default();
            for member in unpack_members(members)? {
                set.insert(member);
            }
            store.restore_key(key, Value::Set(set), deadline(deadline_ms));
        }
        Entry::Hash {
            key,
            deadline_ms,
            fields,
        } => {
            let hash = unpack_fields(fields)?;
            store.restore_key(key, Value::Hash(hash), deadline(deadline_ms));
        }
        Entry::EndKey { key } => store.restore_key_end(key),
        Entry::End { .. } => return Err("a snapshot's end marker inside a log"),
        Entry::Event(image) => store.restore_event(image)?,
        Entry::EventsNext { next_seq } => store.restore_events_next(next_seq),
        Entry::Group(change) => store.restore_group(change)?,
        Entry::Batch(packed) => {
            for body in unpack_members(packed)? {
                match Entry::decode(body)? {
                    member @ (Entry::Str { .. }
                    | Entry::Set { .. }
                    | Entry::Hash { .. }
                    | Entry::EndKey { .. }
                    | Entry::Group(_)) => restore(store, member)?,
                    _ => {
                        return Err("a batch holds a record other than a key's or a group's");
                    }
                }
            }
        }
    }
    Ok(())
}

/// A key's deadline as records carry it: 0 for none.
fn deadline(ms: u64) -> Option<u64> {
    (ms != 0).then_some(ms)
}

/// Renames logs that come after a cut, so that they are kept for a person
/// to look at but never replayed out of order.
fn set_aside(logs: &[u64], dir: &Path, report: &mut RecoveryReport) -> Result<(), PersistError> {
    for &generation in logs {
        let path = files::log_path(dir, generation);
        let aside = PathBuf::from(format!("{}.damaged", path.display()));
        fs::rename(&path, &aside).map_err(PersistError::at(&path))?;
        report.dropped.push(format!(
            "{}: set aside as {} (it follows the damage)",
            path.display(),
            aside.display()
        ));
    }
    Ok(())
}

/// Truncates a file at `len`, durably.
fn cut(path: &Path, len: u64) -> Result<(), PersistError> {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(len).and_then(|()| f.sync_all()))
        .map_err(PersistError::at(path))
}

fn read(path: &Path) -> Result<Vec<u8>, PersistError> {
    fs::read(path).map_err(PersistError::at(path))
}
