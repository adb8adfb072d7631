//! The append-only log: where every mutation's record goes, and the thread
//! that puts it on disk.
//!
//! Writers never touch the file. A writer frames its record into a shared
//! in-memory buffer while it still holds the shard lock of what it changed
//! (so the log's order is the order in which the changes happened) and
//! goes on; that costs a copy, not a system call. One background thread,
//! the flusher, takes the whole buffer, writes it with one `write`, and
//! forces it to disk as the fsync policy says:
//!
//! - `always`: after every write, and a writer is acknowledged only once
//!   the flusher reports its record durable. Records that pile up while an
//!   fsync runs go out together in the next one: group commit, so fifty
//!   connections share one fsync instead of queueing for fifty.
//! - `everysec`: the buffer is written every few milliseconds (so a killed
//!   process loses next to nothing) and fsynced once a second (so a lost
//!   machine loses about a second). The fsync runs on a thread of its own,
//!   as Redis's does: on a busy disk one can take seconds, and writes must
//!   keep reaching the kernel meanwhile.
//! - `no`: written every few milliseconds, fsynced when the kernel likes.
//!
//! When a write fails (a full disk, a file-size limit), the flusher cuts
//! the file back to its last whole record, keeps what it could not write,
//! and retries; meanwhile the store refuses new writes with
//! [`StoreError::Persistence`] and reads go on. Once a retry succeeds,
//! writes resume. Nothing acknowledged is lost: it was on disk (or, for
//! `everysec`, in the kernel) before the failure, and the unwritten rest
//! was never acknowledged under `always`.
//!
//! When an **fsync** fails, or cutting a failed write back fails, the log
//! file can no longer be trusted: on Linux a failed fsync may have dropped
//! the dirty pages it was to write, and a later fsync that succeeds says
//! nothing about them ("fsyncgate"). So the flusher never marks that range
//! durable. Writes are refused, and the flusher rescues the store instead:
//! it starts a new log and writes a snapshot of the store (which holds
//! everything the untrusted log held, acknowledged or not); once the
//! snapshot and the new log are on disk, everything appended so far is
//! durable, the waiting writers are acknowledged and writes resume. If the
//! snapshot fails too, it retries, and writes stay refused meanwhile.
//!
//! While writes are refused, reads' touches are not logged (they would
//! pile up in memory without bound); the compaction that follows a
//! recovery writes every session's `last seen` as it then is.
//!
//! The flusher is also where compaction starts (see `snapshot.rs`),
//! because switching to a new log file must happen between two writes.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};
use sessiond_protocol::StoreError;

use super::config::{FsyncPolicy, PersistConfig};
use super::files::{self, LogFile};
use super::format::{Entry, frame};
use super::reports::{CompactionReport, PersistStats};
use super::snapshot::{self, Source};

/// How long the flusher waits for records before it writes what it has
/// under `everysec` and `no`: the most a killed process can lose.
const WRITE_TICK: Duration = Duration::from_millis(5);
/// Under `always`, how long the flusher lets a group of writers gather
/// before it writes and fsyncs, when the last group had more than one.
///
/// Without it, group commit degrades under many connections: an fsync
/// acknowledges fifty writers at once, their next writes arrive over the
/// following hundred microseconds or so, and a flusher that starts the
/// next fsync at the first of them leaves the rest for the one after,
/// so each fsync carries a handful of writes. A short wait (far below an
/// fsync's cost) lets them share one. A lone writer never waits.
const GATHER: Duration = Duration::from_micros(200);
/// ...unless this much is already waiting.
const GATHER_UNTIL_BYTES: usize = 256 * 1024;
/// How long the flusher sleeps before retrying a failed write.
const RETRY_AFTER: Duration = Duration::from_millis(100);

/// The log, shared by the store (which appends) and the flusher thread.
pub(crate) struct Journal {
    policy: FsyncPolicy,
    /// Whether the store's own calls wait for durability (embedded use),
    /// or leave that to the caller (the daemon waits per batch, without
    /// blocking a runtime thread).
    waits_in_call: bool,
    pending: Mutex<Pending>,
    /// Wakes the flusher: a record under `always`, a compaction request,
    /// shutdown.
    wake_flusher: Condvar,
    /// Bytes appended that are durable (fsynced), as a log position.
    durable: AtomicU64,
    durable_lock: Mutex<()>,
    durable_changed: Condvar,
    /// Async waiters for a position to become durable.
    wakers: Mutex<Vec<(u64, Waker)>>,
    /// Why writes are refused now, if they are.
    failure: Mutex<Option<String>>,
    failed: AtomicBool,
    /// The current log file may have lost what was written to it (an
    /// fsync or a truncation failed): only a rescue snapshot makes the
    /// store durable again.
    untrusted: AtomicBool,
    /// Compactions finished, and the last one's error, for
    /// [`crate::Store::compact`] to wait on.
    compactions: Mutex<(u64, Result<CompactionReport, String>)>,
    compaction_done: Condvar,
    flusher: Mutex<Option<JoinHandle<()>>>,
    /// Bytes of log since the newest snapshot, as the flusher last wrote.
    log_bytes: AtomicU64,
    /// A test's seam: see [`Journal::hold_next_upgrade`].
    #[cfg(test)]
    hold: HoldUpgrade,
    /// A test's seam: this many fsyncs of the log fail, and drop what
    /// was written since the last good one, as Linux may.
    #[cfg(test)]
    failing_fsyncs: std::sync::atomic::AtomicU32,
    /// The log file's length at its last good fsync (for the seam above).
    #[cfg(test)]
    synced_len: AtomicU64,
}

/// A test's seam into the flusher's one routine upgrade of the store.
#[cfg(test)]
#[derive(Default)]
struct HoldUpgrade {
    /// Asked for: hold the next upgrade.
    armed: AtomicBool,
    /// The flusher holds an upgrade now.
    holding: AtomicBool,
}

struct Pending {
    buffer: Vec<u8>,
    /// Total bytes ever appended: the log position of the newest record.
    appended: u64,
    compact_requested: bool,
    /// Records ever appended, to size groups under `always`.
    records: u64,
    stop: bool,
}

impl Journal {
    /// Appends one record; returns the log position just past it.
    pub(crate) fn append(&self, entry: &Entry<'_>) -> u64 {
        self.append_all(std::slice::from_ref(entry))
    }

    /// Appends records together, in order: nothing else comes between
    /// them, and the flusher takes them in one write. (A crash can still
    /// tear that write after any of them, so their order must be safe to
    /// stop at; see `rotate`.) Returns the log position just past the last.
    pub(crate) fn append_all(&self, entries: &[Entry<'_>]) -> u64 {
        let mut pending = self.pending.lock();
        let before = pending.buffer.len();
        for entry in entries {
            frame(&mut pending.buffer, |out| entry.encode(out));
        }
        pending.appended += (pending.buffer.len() - before) as u64;
        pending.records += entries.len() as u64;
        if self.policy == FsyncPolicy::Always {
            self.wake_flusher.notify_one();
        }
        pending.appended
    }

    /// The log position of the newest record.
    pub(crate) fn appended(&self) -> u64 {
        self.pending.lock().appended
    }

    /// The fsync policy.
    pub(crate) fn policy(&self) -> FsyncPolicy {
        self.policy
    }

    /// The figures of [`PersistStats`].
    pub(crate) fn stats(&self) -> PersistStats {
        let appended = self.appended();
        PersistStats {
            fsync: self.policy,
            log_bytes: self.log_bytes.load(Ordering::Relaxed),
            compactions: self.compactions.lock().0,
            unsynced_bytes: appended.saturating_sub(self.durable.load(Ordering::Acquire)),
            refusing_writes: self.failure.lock().clone(),
        }
    }

    /// `Err` while writes are refused (see the module documentation).
    pub(crate) fn check_writable(&self) -> Result<(), StoreError> {
        if !self.failed.load(Ordering::Acquire) {
            return Ok(());
        }
        let why = self.failure.lock().clone().unwrap_or_default();
        Err(StoreError::Persistence(why.into()))
    }

    /// Under `always` in embedded use: blocks until everything appended so
    /// far is durable. Otherwise returns at once.
    pub(crate) fn acknowledge(&self) -> Result<(), StoreError> {
        if self.policy != FsyncPolicy::Always || !self.waits_in_call {
            return Ok(());
        }
        self.wait_durable(self.appended())
    }

    /// Blocks until position `at` is durable, or writing has failed.
    pub(crate) fn wait_durable(&self, at: u64) -> Result<(), StoreError> {
        let mut guard = self.durable_lock.lock();
        loop {
            if self.durable.load(Ordering::Acquire) >= at {
                return Ok(());
            }
            self.check_writable()?;
            self.durable_changed.wait(&mut guard);
        }
    }

    /// Polls for position `at` to be durable (the daemon's wait; see
    /// [`crate::Durability`]).
    pub(crate) fn poll_durable(
        &self,
        at: u64,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), StoreError>> {
        if self.durable.load(Ordering::Acquire) >= at {
            return Poll::Ready(Ok(()));
        }
        if let Err(e) = self.check_writable() {
            return Poll::Ready(Err(e));
        }
        self.wakers.lock().push((at, cx.waker().clone()));
        // The flusher may have moved on between the check and the push.
        if self.durable.load(Ordering::Acquire) >= at || self.failed.load(Ordering::Acquire) {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    /// Asks for a compaction now and waits until one has finished; its
    /// error, if it failed (the old files are then still whole).
    pub(crate) fn compact(&self) -> Result<CompactionReport, String> {
        let mut done = self.compactions.lock();
        let target = done.0 + 1;
        {
            let mut pending = self.pending.lock();
            pending.compact_requested = true;
            self.wake_flusher.notify_one();
        }
        while done.0 < target {
            self.compaction_done.wait(&mut done);
        }
        done.1.clone()
    }

    /// Writes and fsyncs everything appended so far, then stops the
    /// flusher. Called when the store is dropped.
    pub(crate) fn shut_down(&self) {
        {
            let mut pending = self.pending.lock();
            pending.stop = true;
            self.wake_flusher.notify_one();
        }
        if let Some(handle) = self.flusher.lock().take() {
            let _ = handle.join();
        }
    }

    /// Makes the flusher, the next time it upgrades its handle on the
    /// store (to read its size), keep that strong reference until every
    /// other one is gone or shutdown has begun, and only then let go: the
    /// moment at which a last handle dropped elsewhere leaves the store's
    /// drop to the flusher.
    #[cfg(test)]
    pub(crate) fn hold_next_upgrade(&self) {
        self.hold.armed.store(true, Ordering::Release);
    }

    /// Whether the flusher holds the upgrade asked for.
    #[cfg(test)]
    pub(crate) fn holding_upgrade(&self) -> bool {
        self.hold.holding.load(Ordering::Acquire)
    }

    /// The flusher's side of [`Journal::hold_next_upgrade`].
    #[cfg(test)]
    fn hold_upgrade(&self, store: &Arc<dyn Source>) {
        if !self.hold.armed.swap(false, Ordering::AcqRel) {
            return;
        }
        self.hold.holding.store(true, Ordering::Release);
        while Arc::strong_count(store) > 1 && !self.pending.lock().stop {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.hold.holding.store(false, Ordering::Release);
    }

    fn set_durable(&self, at: u64) {
        if self.durable.load(Ordering::Acquire) >= at {
            return;
        }
        {
            let _guard = self.durable_lock.lock();
            self.durable.store(at, Ordering::Release);
            self.durable_changed.notify_all();
        }
        self.wakers.lock().retain(|(wanted, waker)| {
            let ready = *wanted <= at;
            if ready {
                waker.wake_by_ref();
            }
            !ready
        });
    }

    /// Forces a log file to disk (the one place the log is fsynced, so
    /// that tests can make it fail).
    fn sync(&self, file: &File) -> std::io::Result<()> {
        #[cfg(test)]
        if self
            .failing_fsyncs
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
        {
            // The dirty pages are gone, and the error says so once.
            let _ = file.set_len(self.synced_len.load(Ordering::Acquire));
            return Err(std::io::Error::other("injected fsync failure"));
        }
        file.sync_data()?;
        #[cfg(test)]
        self.synced_len
            .store(file.metadata()?.len(), Ordering::Release);
        Ok(())
    }

    /// Makes the next `n` fsyncs of the log fail (tests only).
    #[cfg(test)]
    pub(crate) fn fail_fsyncs(&self, n: u32) {
        self.failing_fsyncs.store(n, Ordering::Release);
    }

    /// The log file lost writes, or may have: refuse writes until a
    /// rescue snapshot is on disk (see the module documentation).
    fn distrust(&self, why: String) {
        self.untrusted.store(true, Ordering::Release);
        self.set_failure(Some(why));
    }

    /// Whether writes are refused now (reads' touches are then not
    /// logged).
    pub(crate) fn refusing(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    fn set_failure(&self, why: Option<String>) {
        let failed = why.is_some();
        *self.failure.lock() = why;
        self.failed.store(failed, Ordering::Release);
        if failed {
            let _guard = self.durable_lock.lock();
            self.durable_changed.notify_all();
            drop(_guard);
            for (_, waker) in self.wakers.lock().drain(..) {
                waker.wake();
            }
        }
    }
}

/// Starts the journal and its flusher, appending to `log`.
pub(crate) fn start(
    config: &PersistConfig,
    log: LogFile,
    snapshot_bytes: u64,
    store: Weak<dyn Source>,
) -> Arc<Journal> {
    let journal = Arc::new(Journal {
        policy: config.fsync,
        waits_in_call: config.acknowledge_in_call,
        pending: Mutex::new(Pending {
            buffer: Vec::with_capacity(64 * 1024),
            appended: 0,
            compact_requested: false,
            records: 0,
            stop: false,
        }),
        wake_flusher: Condvar::new(),
        durable: AtomicU64::new(0),
        durable_lock: Mutex::new(()),
        durable_changed: Condvar::new(),
        wakers: Mutex::new(Vec::new()),
        failure: Mutex::new(None),
        failed: AtomicBool::new(false),
        untrusted: AtomicBool::new(false),
        compactions: Mutex::new((0, Ok(CompactionReport::default()))),
        compaction_done: Condvar::new(),
        flusher: Mutex::new(None),
        log_bytes: AtomicU64::new(log.len),
        #[cfg(test)]
        hold: HoldUpgrade::default(),
        #[cfg(test)]
        failing_fsyncs: std::sync::atomic::AtomicU32::new(0),
        #[cfg(test)]
        synced_len: AtomicU64::new(log.len),
    });
    let mut flusher = Flusher {
        journal: Arc::clone(&journal),
        dir: config.dir.clone(),
        store,
        log_bytes: log.len,
        log,
        snapshot_bytes,
        compact_ratio: config.compact_ratio.max(1),
        compact_min_bytes: config.compact_min_bytes,
        backlog: Vec::new(),
        syncer: (config.fsync == FsyncPolicy::EverySec).then(|| Syncer::start(&journal)),
        written: 0,
        synced: 0,
        last_sync: Instant::now(),
        compaction: None,
        last_group: 0,
        records_taken: 0,
        compact_soon: false,
        rescuing: false,
    };
    let handle = std::thread::Builder::new()
        .name("sessiond-flusher".into())
        .spawn(move || flusher.run())
        .expect("spawn the flusher thread");
    *journal.flusher.lock() = Some(handle);
    journal
}

/// The thread that fsyncs for `everysec`, one job at a time: a handle on
/// the log and the position it covers.
struct Syncer {
    jobs: std::sync::mpsc::Sender<(File, u64)>,
    busy: Arc<AtomicBool>,
}

impl Syncer {
    fn start(journal: &Arc<Journal>) -> Syncer {
        let (jobs, queue) = std::sync::mpsc::channel::<(File, u64)>();
        let busy = Arc::new(AtomicBool::new(false));
        let (journal, idle) = (Arc::clone(journal), Arc::clone(&busy));
        std::thread::Builder::new()
            .name("sessiond-fsync".into())
            .spawn(move || {
                for (file, position) in queue {
                    match journal.sync(&file) {
                        // Not after a failure: that range stays untrusted
                        // until the rescue snapshot.
                        Ok(()) if !journal.untrusted.load(Ordering::Acquire) => {
                            journal.set_durable(position)
                        }
                        Ok(()) => {}
                        Err(e) => journal.distrust(format!("fsync: {e}")),
                    }
                    idle.store(false, Ordering::Release);
                }
            })
            .expect("spawn the fsync thread");
        Syncer { jobs, busy }
    }
}

/// The flusher thread's own state.
struct Flusher {
    journal: Arc<Journal>,
    dir: PathBuf,
    /// The store, for its size (when to compact) and its shards (what to
    /// copy); weak, so the flusher never keeps a dropped store alive.
    store: Weak<dyn Source>,
    log: LogFile,
    /// Bytes of log written since the newest snapshot.
    log_bytes: u64,
    snapshot_bytes: u64,
    compact_ratio: u64,
    compact_min_bytes: u64,
    /// Records taken from the buffer but not yet written (after a failure).
    backlog: Vec<u8>,
    /// The background fsync of `everysec`.
    syncer: Option<Syncer>,
    /// Log positions written to the file, and fsynced.
    written: u64,
    synced: u64,
    last_sync: Instant,
    compaction: Option<JoinHandle<Result<CompactionReport, String>>>,
    /// Records in the last group written, and all records taken so far.
    last_group: u64,
    records_taken: u64,
    /// Compact at the next chance (writes resumed after a refusal).
    compact_soon: bool,
    /// A rescue snapshot is being written (see `rescue`).
    rescuing: bool,
}

impl Flusher {
    fn run(&mut self) {
        let mut spare = Vec::with_capacity(64 * 1024);
        loop {
            let (end, stop, compact) = {
                let mut pending = self.journal.pending.lock();
                let idle = pending.buffer.is_empty() && !pending.stop && !pending.compact_requested;
                if idle {
                    let wait = match self.journal.policy {
                        FsyncPolicy::Always if self.backlog.is_empty() => {
                            Duration::from_millis(100)
                        }
                        _ => WRITE_TICK,
                    };
                    self.journal.wake_flusher.wait_for(&mut pending, wait);
                }
                let gather = self.journal.policy == FsyncPolicy::Always
                    && self.last_group > 1
                    && !pending.stop
                    && pending.buffer.len() < GATHER_UNTIL_BYTES;
                if gather {
                    // Let the rest of the group in (see GATHER).
                    MutexGuard::unlocked(&mut pending, || std::thread::sleep(GATHER));
                }
                self.last_group = pending.records - self.records_taken;
                self.records_taken = pending.records;
                std::mem::swap(&mut pending.buffer, &mut spare);
                let compact = std::mem::take(&mut pending.compact_requested);
                (pending.appended, pending.stop, compact)
            };
            if self.backlog.is_empty() {
                std::mem::swap(&mut self.backlog, &mut spare);
            } else {
                self.backlog.extend_from_slice(&spare);
                spare.clear();
            }
            if self.journal.untrusted.load(Ordering::Acquire) {
                if self.rescue(end) || stop {
                    return;
                }
                continue;
            }
            let wrote = self.write_backlog(end);
            if wrote {
                self.sync_by_policy(stop);
            } else if stop {
                // Shutting down with a write that keeps failing: nothing
                // more can be done, and what was acknowledged is on disk.
                return;
            } else {
                std::thread::sleep(RETRY_AFTER);
                continue;
            }
            self.finish_compaction();
            if stop {
                return;
            }
            if compact || std::mem::take(&mut self.compact_soon) || self.wants_compaction() {
                self.start_compaction();
            }
        }
    }

    /// Writes the backlog; false (and the failure recorded) if it failed.
    fn write_backlog(&mut self, end: u64) -> bool {
        if self.backlog.is_empty() {
            self.written = end;
            return true;
        }
        match self.log.file.write_all(&self.backlog) {
            Ok(()) => {
                self.log.len += self.backlog.len() as u64;
                self.log_bytes += self.backlog.len() as u64;
                self.journal
                    .log_bytes
                    .store(self.log_bytes, Ordering::Relaxed);
                self.backlog.clear();
                self.written = end;
                if self.journal.failed.load(Ordering::Acquire) {
                    self.journal.set_failure(None);
                    // Touches were not logged meanwhile: a snapshot writes
                    // them as they now are.
                    self.compact_soon = true;
                }
                true
            }
            Err(e) => {
                let path = files::log_path(&self.dir, self.log.generation);
                // Cut a partly written batch off, so the file ends on a
                // whole record and the retry appends after it. If even
                // that fails, the file may end in a torn record that later
                // appends would bury: only a rescue can go on.
                if let Err(cut) = self.log.file.set_len(self.log.len) {
                    self.journal.distrust(format!(
                        "writing {}: {e}; then cutting it back: {cut}",
                        path.display()
                    ));
                } else {
                    self.journal
                        .set_failure(Some(format!("writing {}: {e}", path.display())));
                }
                false
            }
        }
    }

    fn sync_by_policy(&mut self, stopping: bool) {
        if self.written == self.synced {
            return;
        }
        let due = match self.journal.policy {
            FsyncPolicy::Always => true,
            FsyncPolicy::EverySec => self.last_sync.elapsed() >= Duration::from_secs(1),
            FsyncPolicy::No => false,
        };
        if !(due || stopping) {
            if self.journal.policy == FsyncPolicy::No {
                // Written is as durable as this policy makes anything.
                self.journal.set_durable(self.written);
            }
            return;
        }
        if let Some(syncer) = self.syncer.as_ref().filter(|_| !stopping) {
            if !syncer.busy.swap(true, Ordering::AcqRel) {
                match self.log.file.try_clone() {
                    Ok(file) => {
                        let _ = syncer.jobs.send((file, self.written));
                        self.synced = self.written;
                        self.last_sync = Instant::now();
                    }
                    Err(_) => syncer.busy.store(false, Ordering::Release),
                }
            }
            return;
        }
        match self.journal.sync(&self.log.file) {
            Ok(()) => {
                self.synced = self.written;
                self.last_sync = Instant::now();
                self.journal.set_durable(self.synced);
            }
            Err(e) => self.journal.distrust(format!(
                "fsync of {}: {e}",
                files::log_path(&self.dir, self.log.generation).display()
            )),
        }
    }

    /// Makes the store durable again after the log file lost writes (or
    /// may have): a new log, and a snapshot of everything. Returns whether
    /// the flusher should stop (the store is gone). Until it succeeds,
    /// writes stay refused and nothing more is acknowledged.
    fn rescue(&mut self, end: u64) -> bool {
        if !self.rescuing {
            // The snapshot will hold what these records describe: the
            // store already has it.
            self.backlog.clear();
            self.written = end;
            if self.compaction.is_some() {
                // An ordinary compaction was under way: wait for it, then
                // take a snapshot of our own (it may have copied shards
                // before the records the bad log lost).
                self.wait_for_compaction();
            }
            let generation = self.log.generation + 1;
            let Some(store) = self.store.upgrade() else {
                return true;
            };
            match files::create_log(&self.dir, generation, true) {
                Ok(log) => {
                    self.log = log;
                    self.log_bytes = self.log.len;
                }
                Err(_) => {
                    std::thread::sleep(RETRY_AFTER);
                    return false;
                }
            }
            let dir = self.dir.clone();
            self.compaction = Some(
                std::thread::Builder::new()
                    .name("sessiond-snapshot".into())
                    .spawn(move || {
                        snapshot::write(&*store, &dir, generation).map_err(|e| e.to_string())
                    })
                    .expect("spawn the snapshot thread"),
            );
            self.rescuing = true;
            return false;
        }
        // Records appended since the rotation go to the new log.
        if !self.backlog.is_empty() {
            if let Err(e) = self.log.file.write_all(&self.backlog) {
                let _ = self.log.file.set_len(self.log.len);
                self.journal
                    .set_failure(Some(format!("writing the new log: {e}")));
                std::thread::sleep(RETRY_AFTER);
                return false;
            }
            self.log.len += self.backlog.len() as u64;
            self.log_bytes += self.backlog.len() as u64;
            self.backlog.clear();
        }
        self.written = end;
        if !self
            .compaction
            .as_ref()
            .is_some_and(JoinHandle::is_finished)
        {
            std::thread::sleep(WRITE_TICK);
            return false;
        }
        let handle = self.compaction.take().expect("checked above");
        let outcome = match handle.join() {
            Ok(outcome) => outcome,
            Err(_) => Err("the snapshot thread panicked".into()),
        };
        let durable = outcome
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|_| self.journal.sync(&self.log.file).map_err(|e| e.to_string()));
        match durable {
            Ok(()) => {
                if let Ok(report) = &outcome {
                    self.snapshot_bytes = report.bytes;
                }
                self.rescuing = false;
                self.synced = self.written;
                self.journal.untrusted.store(false, Ordering::Release);
                self.journal.set_durable(self.written);
                self.journal.set_failure(None);
                self.compaction_finished(outcome);
            }
            Err(e) => {
                // Try again from a fresh log: this one may be as bad.
                self.rescuing = false;
                self.journal.set_failure(Some(format!(
                    "rescuing the store after a failed fsync: {e}"
                )));
                std::thread::sleep(RETRY_AFTER);
            }
        }
        false
    }

    /// Waits for a running compaction to end, and reports it.
    fn wait_for_compaction(&mut self) {
        if let Some(handle) = self.compaction.take() {
            let outcome = match handle.join() {
                Ok(Ok(report)) => {
                    self.snapshot_bytes = report.bytes;
                    Ok(report)
                }
                Ok(Err(e)) => Err(format!("writing a snapshot: {e}")),
                Err(_) => Err("the snapshot thread panicked".into()),
            };
            self.compaction_finished(outcome);
        }
    }

    /// Whether the log has outgrown the live data by the set ratio.
    fn wants_compaction(&self) -> bool {
        if self.compaction.is_some() || self.log_bytes < self.compact_min_bytes {
            return false;
        }
        let live = match self.store.upgrade() {
            Some(store) => {
                #[cfg(test)]
                self.journal.hold_upgrade(&store);
                store.bytes_used().max(self.snapshot_bytes)
            }
            None => return false,
        };
        self.log_bytes > self.compact_ratio.saturating_mul(live)
    }

    /// Switches to a new log file and starts writing a snapshot of the
    /// store on another thread (see `snapshot.rs`).
    fn start_compaction(&mut self) {
        if self.compaction.is_some() {
            return;
        }
        let Some(store) = self.store.upgrade() else {
            return;
        };
        let generation = self.log.generation + 1;
        // Under `always` the old log is fsynced before the new one takes a
        // record (acknowledgements wait anyway). Under the other policies a
        // slow fsync here would hold back every write behind it, so the old
        // log goes to the fsync thread (or the kernel); a machine crash
        // before then can tear the old log's tail, which recovery cuts with
        // a warning, as those policies allow.
        let inline = self.journal.policy == FsyncPolicy::Always;
        // The new log's directory entry is made durable under every
        // policy: a machine crash must not lose the file that the newest
        // records are in.
        if inline && let Err(e) = self.journal.sync(&self.log.file) {
            self.journal.distrust(format!(
                "fsync of {}: {e}",
                files::log_path(&self.dir, self.log.generation).display()
            ));
            self.compaction_finished(Err(format!("fsync before log {generation}: {e}")));
            return;
        }
        let rotated = files::create_log(&self.dir, generation, true);
        match rotated {
            Ok(log) => {
                let old = std::mem::replace(&mut self.log, log);
                self.log_bytes = self.log.len;
                self.journal
                    .log_bytes
                    .store(self.log_bytes, Ordering::Relaxed);
                match (&self.syncer, inline) {
                    (_, true) => {
                        self.synced = self.written;
                        self.journal.set_durable(self.synced);
                    }
                    (Some(syncer), false) => {
                        syncer.busy.store(true, Ordering::Release);
                        let _ = syncer.jobs.send((old.file, self.written));
                        self.synced = self.written;
                    }
                    (None, false) => {}
                }
            }
            Err(e) => {
                // The current log is still whole and in use: only this
                // compaction is off.
                self.compaction_finished(Err(format!("starting log {generation}: {e}")));
                return;
            }
        }
        let dir = self.dir.clone();
        self.compaction = Some(
            std::thread::Builder::new()
                .name("sessiond-snapshot".into())
                .spawn(move || {
                    snapshot::write(&*store, &dir, generation).map_err(|e| e.to_string())
                })
                .expect("spawn the snapshot thread"),
        );
    }

    /// Collects a finished snapshot, if one is.
    fn finish_compaction(&mut self) {
        if !self
            .compaction
            .as_ref()
            .is_some_and(JoinHandle::is_finished)
        {
            return;
        }
        let handle = self.compaction.take().expect("checked above");
        // On failure the old snapshot and logs are still there and whole:
        // nothing is lost, and the next trigger tries again.
        let outcome = match handle.join() {
            Ok(Ok(report)) => {
                self.snapshot_bytes = report.bytes;
                Ok(report)
            }
            Ok(Err(e)) => Err(format!("writing a snapshot: {e}")),
            Err(_) => Err("the snapshot thread panicked".into()),
        };
        self.compaction_finished(outcome);
    }

    fn compaction_finished(&self, outcome: Result<CompactionReport, String>) {
        let mut done = self.journal.compactions.lock();
        *done = (done.0 + 1, outcome);
        self.journal.compaction_done.notify_all();
    }
}
