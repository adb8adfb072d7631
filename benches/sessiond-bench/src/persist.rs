//! `--persist-only DIR`: the embedded store with a data directory, in the
//! three moments that matter for persistence.
//!
//! 1. Prefill through the log (fsync `everysec`): write throughput.
//! 2. Restart from the log alone: how long a load of the whole population
//!    takes when nothing has been compacted yet.
//! 3. Compaction while a reader hammers the store: how long it takes and
//!    the longest it held a shard lock (what a request could wait), next to
//!    the reader's own worst latency during it.
//! 4. Restart from the snapshot.
//!
//! The directory is emptied first and left behind for inspection.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use sessiond::{NewSession, PersistConfig, SessionId, Store, StoreConfig};

use crate::error::{Error, Result};
use crate::report;
use crate::workload::Plan;

/// Runs the four steps and prints what they measured.
pub fn run(plan: &Plan, dir: &Path, json: bool) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| Error::new(format!("{}: {e}", dir.display())))?;
    }
    let open = || {
        Store::open_with(StoreConfig::default(), PersistConfig::new(dir))
            .map_err(|e| Error::new(e.to_string()))
    };
    let (store, _) = open()?;
    let progress = report::progress_bar(plan.population, "prefill", json);
    let mut ids = Vec::with_capacity(plan.population as usize);
    let mut owner = String::new();
    let started = Instant::now();
    for i in 0..plan.population {
        owner.clear();
        owner.push_str("user:");
        owner.push_str(&(i % plan.owners).to_string());
        ids.push(store.create(NewSession::new(owner.as_bytes()).data(plan.payload.clone()))?);
        if i % 1024 == 0 {
            progress.set_position(i);
        }
    }
    let prefill = started.elapsed();
    progress.finish_and_clear();
    drop(store);
    let log_bytes = dir_bytes(dir);

    let (store, from_log) = open()?;
    let (compaction, reader) = compact_under_reads(&store, Arc::new(ids))?;
    drop(store);
    let snapshot_bytes = dir_bytes(dir);
    let (store, from_snapshot) = open()?;
    let sessions = store.stats().sessions;
    drop(store);

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "mode": "persist",
                "sessions": plan.population,
                "prefill_ops_per_sec": plan.population as f64 / prefill.as_secs_f64(),
                "log_bytes": log_bytes,
                "restart_from_log_ms": ms(from_log.duration),
                "compaction_ms": ms(compaction.duration),
                "snapshot_bytes": compaction.bytes,
                "longest_lock_hold_ms": ms(compaction.longest_lock_hold),
                "reader_ops_during_compaction": reader.len(),
                "reader_p999_us": reader.value_at_quantile(0.999),
                "reader_max_us": reader.max(),
                "dir_bytes_after_compaction": snapshot_bytes,
                "restart_from_snapshot_ms": ms(from_snapshot.duration),
                "sessions_after_restart": sessions,
            })
        );
    } else {
        println!(
            "prefill  {} sessions through the log (fsync everysec): {:.0}/s; log {:.1} MB",
            plan.population,
            plan.population as f64 / prefill.as_secs_f64(),
            log_bytes as f64 / 1e6
        );
        println!(
            "restart  from the log alone: {} sessions in {:.0} ms",
            from_log.sessions,
            ms(from_log.duration)
        );
        println!(
            "compact  {:.0} ms, snapshot {:.1} MB; longest shard-lock hold {:.2} ms; a reader \
             meanwhile: {} gets, p99.9 {} µs, max {} µs",
            ms(compaction.duration),
            compaction.bytes as f64 / 1e6,
            ms(compaction.longest_lock_hold),
            reader.len(),
            reader.value_at_quantile(0.999),
            reader.max()
        );
        println!(
            "restart  from the snapshot: {sessions} sessions in {:.0} ms",
            ms(from_snapshot.duration)
        );
    }
    Ok(())
}

/// Compacts while one thread reads (with touch) random sessions, timing
/// each read in microseconds.
fn compact_under_reads(
    store: &Store,
    ids: Arc<Vec<SessionId>>,
) -> Result<(sessiond::CompactionReport, Histogram<u64>)> {
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (store, stop) = (store.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut latencies = Histogram::<u64>::new(3).expect("a histogram");
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                i = (i + 7919) % ids.len();
                let started = Instant::now();
                let _ = store.get(&ids[i]);
                let _ = latencies.record(started.elapsed().as_micros() as u64);
            }
            latencies
        })
    };
    let report = store.compact();
    stop.store(true, Ordering::Relaxed);
    let latencies = reader
        .join()
        .map_err(|_| Error::new("the reader panicked"))?;
    let report = report?.ok_or_else(|| Error::new("a store with a data directory compacts"))?;
    Ok((report, latencies))
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
