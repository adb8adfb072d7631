//! Compaction: writing the whole store as a snapshot, so that the logs
//! before it can go.
//!
//! The flusher first switches the log to a new generation `g`; every
//! record appended from then on goes to `log-g`. Then this thread copies
//! the store a chunk of 512 entries at a time (a shard's lock is held only
//! while one chunk is copied into a buffer, so no request waits on the
//! snapshot for more than that), writes `snapshot-g.tmp`, fsyncs it, renames it to
//! `snapshot-g.snap`, fsyncs the directory, and only then removes the
//! older snapshot and logs. A snapshot that fails before its rename
//! removes its `.tmp` (on a full disk, its blocks are what the log needs).
//!
//! The snapshot is fuzzy: a shard copied late holds changes that are also
//! in `log-g`. Replaying them again is harmless because every record
//! states a result (a session or key as it now is, an end, a touch that
//! only moves forward), never a step like "add one", so applying it twice
//! leaves what applying it once did. What matters is that no change is
//! missing: a change not yet in a shard when it was copied was appended
//! under that shard's lock after the switch, so it is in `log-g`.
//!
//! A crash at any point leaves a recoverable directory: before the
//! rename, recovery uses the old snapshot and every log from its
//! generation on (the new log included); after it, the new snapshot and
//! `log-g`; leftovers are removed at the next start.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use super::files;
use super::format::{Entry, FileKind, file_header, frame, with_key_entry};
use super::reports::CompactionReport;
use crate::keys::KeyShard;
use crate::sessions::SessionShard;
use crate::shard::Shard;

/// Entries copied per lock hold.
const CHUNK: usize = 512;

/// What compaction needs of a store: when to run (its size) and what to
/// copy (its shards, each locked a chunk at a time). Implemented by the
/// store; the flusher holds it weakly.
pub(crate) trait Source: Send + Sync {
    /// The store's accounted bytes, against which the log's growth is
    /// measured.
    fn bytes_used(&self) -> u64;
    /// The store's time: Unix seconds (as sessions keep it) and
    /// milliseconds (as keys do).
    fn now(&self) -> (u32, u64);
    /// The session shards.
    fn session_shards(&self) -> &[Shard<SessionShard>];
    /// The key shards.
    fn key_shards(&self) -> &[Shard<KeyShard>];
    /// The seq the store's next session event gets.
    fn events_next(&self) -> u64;
    /// Calls `each` on the packed kept events after seq `after`, at most
    /// `max`, under the event log's lock; returns the last seq visited
    /// (`after` if none).
    fn events_after(&self, after: u64, max: usize, each: &mut dyn FnMut(&[u8])) -> u64;
    /// The consumer groups, as the packed changes that rebuild them.
    fn groups_rebuilt(&self) -> Vec<Vec<u8>>;
}

/// Writes the snapshot of generation `generation` and removes what it
/// supersedes.
pub(crate) fn write(
    store: &dyn Source,
    dir: &Path,
    generation: u64,
) -> io::Result<CompactionReport> {
    let started = Instant::now();
    let tmp = files::snapshot_tmp_path(dir, generation);
    let mut report = match write_in_place(store, dir, &tmp, generation) {
        Ok(report) => report,
        Err(e) => {
            // A failed snapshot (a full disk, most likely) must not keep
            // its partial file until the next start: on a full disk those
            // are the very blocks the log needs to resume. Best effort:
            // if even this fails, recovery removes it at the next start.
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    files::sync_dir(dir)?;
    remove_superseded(dir, generation)?;
    report.duration = started.elapsed();
    Ok(report)
}

/// Writes the snapshot to `tmp`, fsyncs it and renames it into place.
fn write_in_place(
    store: &dyn Source,
    dir: &Path,
    tmp: &Path,
    generation: u64,
) -> io::Result<CompactionReport> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(tmp)?);
    let (records, longest_lock_hold) = write_to(store, &mut out, generation)?;
    let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()?;
    let size = file.metadata()?.len();
    drop(file);
    fs::rename(tmp, files::snapshot_path(dir, generation))?;
    Ok(CompactionReport {
        bytes: size,
        records,
        duration: Duration::ZERO,
        longest_lock_hold,
    })
}

/// Writes the snapshot format (header, every live entry, the end record)
/// to `out`; returns the records written and the longest lock hold.
pub(crate) fn write_to(
    store: &dyn Source,
    out: &mut dyn Write,
    generation: u64,
) -> io::Result<(u64, Duration)> {
    let mut longest_lock_hold = Duration::ZERO;
    out.write_all(&file_header(FileKind::Snapshot, generation))?;
    let (now_s, now_ms) = store.now();
    let mut records = 0u64;
    let mut buffer = Vec::new();
    for shard in store.session_shards() {
        // The ids present now, then their records a chunk at a time, so
        // that no lock is held for more than a chunk's copy. A session made
        // after this list was taken is in the new log; one ended before
        // its chunk is skipped, and its end is in the new log too.
        let prefixes: Vec<u64> = {
            let shard = shard.lock();
            let held = Instant::now();
            let prefixes = shard.records().map(|r| r.prefix()).collect();
            longest_lock_hold = longest_lock_hold.max(held.elapsed());
            prefixes
        };
        for chunk in prefixes.chunks(CHUNK) {
            {
                let shard = shard.lock();
                let held = Instant::now();
                for prefix in chunk {
                    let Some(record) = shard.by_prefix(*prefix) else {
                        continue;
                    };
                    if !record.is_expired(now_s) {
                        frame(&mut buffer, |b| Entry::Session(record.image()).encode(b));
                        records += 1;
                    }
                }
                longest_lock_hold = longest_lock_hold.max(held.elapsed());
            }
            out.write_all(&buffer)?;
            buffer.clear();
        }
    }
    for shard in store.key_shards() {
        // Keys by SCAN position, which stays put when the table grows or
        // shrinks between steps: a key present throughout is copied once.
        let mut from = Some(0);
        while let Some(position) = from {
            {
                let shard = shard.lock();
                let held = Instant::now();
                from = shard.scan(position, CHUNK, |entry| {
                    if entry.is_expired(now_ms) {
                        return;
                    }
                    with_key_entry(entry, |record| frame(&mut buffer, |b| record.encode(b)));
                    records += 1;
                });
                longest_lock_hold = longest_lock_hold.max(held.elapsed());
            }
            out.write_all(&buffer)?;
            buffer.clear();
        }
    }
    // The event window, after the switch like the rest: an event logged
    // since is in the new log too, and recovery skips the seqs it has.
    // The next seq is read first and written last: recovery restores it
    // after the events (it skips events below it), and it is at most one
    // past the newest event copied, or the seq after every event when
    // retention has dropped them all.
    let next_seq = store.events_next();
    let mut after = 0;
    loop {
        let last = store.events_after(after, CHUNK, &mut |image| {
            frame(&mut buffer, |b| Entry::Event(image).encode(b));
            records += 1;
        });
        out.write_all(&buffer)?;
        buffer.clear();
        if last == after {
            break;
        }
        after = last;
    }
    frame(&mut buffer, |b| Entry::EventsNext { next_seq }.encode(b));
    records += 1;
    // The groups after the events they point into.
    for change in store.groups_rebuilt() {
        frame(&mut buffer, |b| Entry::Group(&change).encode(b));
        records += 1;
    }
    frame(&mut buffer, |b| Entry::End { records }.encode(b));
    out.write_all(&buffer)?;
    Ok((records, longest_lock_hold))
}

/// Removes snapshots and logs older than `generation`'s snapshot.
pub(crate) fn remove_superseded(dir: &Path, generation: u64) -> io::Result<()> {
    let listing = files::list(dir)?;
    for old in listing.snapshots.into_iter().filter(|g| *g < generation) {
        fs::remove_file(files::snapshot_path(dir, old))?;
    }
    for old in listing.logs.into_iter().filter(|g| *g < generation) {
        fs::remove_file(files::log_path(dir, old))?;
    }
    files::sync_dir(dir)
}
