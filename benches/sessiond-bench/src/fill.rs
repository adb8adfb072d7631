//! `--fill-only`: what a growing store costs the requests served meanwhile.
//!
//! A hash table grows by doubling: when a shard's table is full, the insert
//! that finds it so moves every entry of that shard into a table twice the
//! size, holding the shard's lock all the while. Every request for a
//! session of that shard waits for it. The pause grows with the shard (at
//! 10 million sessions over 64 shards a shard holds 156,000), so a store
//! that is fine at a million can stall at ten. Doubling also needs the old
//! and the new table at once, which is where a fill's memory peaks.
//!
//! This mode measures both on the embedded store: one thread creates the
//! sessions as fast as it can (5 per owner, as the prefill does) while
//! another reads sessions made before the fill, at random, timing each
//! operation on both threads; a third samples the process's RSS every
//! 5 ms. It reports the percentiles and the maximum of both latencies, how
//! many operations took over 1 ms, and the RSS peak against its final
//! value. With two cores the reader and the writer each have one, so a
//! read that waits is waiting for a lock, not for a CPU (the sampler
//! sleeps between readings).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use sessiond::{NewSession, SessionId, Store, StoreConfig};

use crate::error::{Error, Result};
use crate::report;
use crate::workload::Plan;

/// Sessions made before the fill, which the reader reads during it.
const SEEDED: usize = 10_000;

/// Parts of the fill whose slow creates are counted apart.
const PARTS: usize = 20;

/// How often the sampler reads the RSS.
const RSS_EVERY: Duration = Duration::from_millis(5);

/// How the fill is shaped beyond the plan.
pub struct FillShape {
    /// Lock shards of each table (the store's default if `None`).
    pub shards: Option<usize>,
    /// Idle timeouts spread over this many seconds (session `i` gets the
    /// default plus `i % spread`), so that deadlines fall in as many
    /// seconds of the expiry wheel as a store filled over that long has;
    /// 0: all alike, as a fast fill makes them.
    pub ttl_spread: u64,
}

/// Fills a fresh store with `plan.population` sessions while reading, and
/// reports.
pub fn run(plan: &Plan, shape: &FillShape, json: bool) -> Result<()> {
    let mut config = StoreConfig::default();
    if let Some(shards) = shape.shards {
        config.shards = shards;
    }
    let idle = config.default_idle_timeout;
    let shard_count = config.shards;
    let store = Store::new(config);
    let rss_before = crate::target::pid_rss(std::process::id())?;
    let seeded: Vec<SessionId> = (0..SEEDED)
        .map(|i| store.create(session(plan, shape, idle, i as u64)))
        .collect::<std::result::Result<_, _>>()?;
    let seeded = Arc::new(seeded);

    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (done, peak) = (Arc::clone(&done), Arc::clone(&peak));
        std::thread::spawn(move || -> Result<()> {
            let pid = std::process::id();
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(crate::target::pid_rss(pid)?, Ordering::Relaxed);
                std::thread::sleep(RSS_EVERY);
            }
            Ok(())
        })
    };
    let reader = {
        let (store, done, ids) = (store.clone(), Arc::clone(&done), Arc::clone(&seeded));
        std::thread::spawn(move || {
            let mut reads = nanos_histogram();
            let mut i = 0usize;
            while !done.load(Ordering::Relaxed) {
                i = (i + 7919) % ids.len();
                let started = Instant::now();
                let found = store.get(&ids[i]);
                let _ = reads.record(elapsed_nanos(started));
                assert!(found.is_ok(), "a seeded session is there");
            }
            reads
        })
    };

    let progress = report::progress_bar(plan.population, "fill", json);
    let mut creates = nanos_histogram();
    // Creates over 1 ms in each twentieth of the fill: doublings of the
    // tables show as clusters, the machine's noise as a spread.
    let mut slow_by_part = [0u64; PARTS];
    let started = Instant::now();
    let mut result = Ok(());
    for i in SEEDED as u64..SEEDED as u64 + plan.population {
        let at = Instant::now();
        if let Err(e) = store.create(session(plan, shape, idle, i)) {
            result = Err(Error::from(e));
            break;
        }
        let took = elapsed_nanos(at);
        let _ = creates.record(took);
        if took > 1_000_000 {
            let part = (i - SEEDED as u64) * PARTS as u64 / plan.population;
            slow_by_part[part as usize] += 1;
        }
        if i % 4096 == 0 {
            progress.set_position(i - SEEDED as u64);
        }
    }
    let fill = started.elapsed();
    progress.finish_and_clear();
    done.store(true, Ordering::Relaxed);
    let reads = reader
        .join()
        .map_err(|_| Error::new("the reader panicked"))?;
    sampler
        .join()
        .map_err(|_| Error::new("the RSS sampler panicked"))??;
    result?;
    let rss_after = crate::target::pid_rss(std::process::id())?;
    let peak = peak.load(Ordering::Relaxed).max(rss_after);

    let sessions = plan.population;
    let grown = rss_after.saturating_sub(rss_before);
    let peak_ratio = peak.saturating_sub(rss_before) as f64 / grown.max(1) as f64;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "mode": "fill",
                "sessions": sessions,
                "shards": shard_count,
                "ttl_spread_secs": shape.ttl_spread,
                "fill_secs": fill.as_secs_f64(),
                "creates_per_sec": sessions as f64 / fill.as_secs_f64(),
                "create": latency(&creates),
                "creates_over_1ms_by_twentieth": slow_by_part,
                "read": latency(&reads),
                "rss_before_bytes": rss_before,
                "rss_after_bytes": rss_after,
                "rss_peak_bytes": peak,
                "rss_peak_over_final": peak_ratio,
                "bytes_per_session": grown as f64 / sessions as f64,
            })
        );
    } else {
        println!(
            "fill     {sessions} sessions over {shard_count} shards, idle timeouts spread over {} s, \
             in {:.1} s ({:.0}/s); RSS grew {:.0} MiB, peak {:.3}x the final growth, {:.1} B/session",
            shape.ttl_spread,
            fill.as_secs_f64(),
            sessions as f64 / fill.as_secs_f64(),
            grown as f64 / (1 << 20) as f64,
            peak_ratio,
            grown as f64 / sessions as f64,
        );
        for (name, histogram) in [("create", &creates), ("read", &reads)] {
            println!(
                "{name:<8} {} ops: p50 {:.1} µs, p99 {:.1}, p99.99 {:.1}, max {:.1}; {} over 1 ms",
                histogram.len(),
                us(histogram.value_at_quantile(0.5)),
                us(histogram.value_at_quantile(0.99)),
                us(histogram.value_at_quantile(0.9999)),
                us(histogram.max()),
                over_1ms(histogram),
            );
        }
        println!("slow     creates over 1 ms in each twentieth of the fill: {slow_by_part:?}");
    }
    Ok(())
}

/// The `i`th session of the fill: owner `user:{i % owners}`, idle
/// timeout `idle` plus its share of the spread.
fn session(plan: &Plan, shape: &FillShape, idle: Duration, i: u64) -> NewSession {
    let owner = format!("user:{}", i % plan.owners.max(1));
    let spread = Duration::from_secs(i.checked_rem(shape.ttl_spread).unwrap_or(0));
    NewSession::new(owner.into_bytes())
        .data(plan.payload.clone())
        .idle_timeout(idle + spread)
}

/// Nanoseconds from 1 ns to 10 s, 3 significant digits.
fn nanos_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 10_000_000_000, 3).expect("valid bounds")
}

fn elapsed_nanos(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn us(nanos: u64) -> f64 {
    nanos as f64 / 1e3
}

fn over_1ms(histogram: &Histogram<u64>) -> u64 {
    histogram.count_between(1_000_001, histogram.max().max(1_000_001))
}

fn latency(histogram: &Histogram<u64>) -> serde_json::Value {
    serde_json::json!({
        "ops": histogram.len(),
        "p50_us": us(histogram.value_at_quantile(0.5)),
        "p99_us": us(histogram.value_at_quantile(0.99)),
        "p9999_us": us(histogram.value_at_quantile(0.9999)),
        "max_us": us(histogram.max()),
        "over_1ms": over_1ms(histogram),
    })
}
