//! `--expiry-only`: how fast the expiry cycle reclaims a mass expiry, and
//! the longest it ever holds a shard lock while doing so.
//!
//! The store promises to reclaim expired sessions within a second of their
//! deadline without pausing requests. This mode puts that under the worst
//! load it can: every prefilled session expires in the same second. It runs
//! on a manual clock, so the jump past the deadline is instant, and drives
//! cycles with the background thread's own budget, so "cycles" maps onto
//! background ticks (one per 100 ms: ten cycles or fewer means reclaimed
//! within a second).

use std::time::{Duration, Instant};

use sessiond::{CYCLE_BUDGET, ManualClock, NewSession, Store, StoreConfig, TICK};

use crate::error::Result;
use crate::report;
use crate::workload::Plan;

/// Prefills `plan.population` sessions that all expire together, then
/// reclaims them and reports.
pub fn run(plan: &Plan, json: bool) -> Result<()> {
    let clock = ManualClock::new(1_767_225_600_000);
    let config = StoreConfig {
        background_expiry: false,
        ..StoreConfig::default()
    };
    let store = Store::with_clock(config, clock.clone());
    let idle = Duration::from_secs(60);
    let progress = report::progress_bar(plan.population, "prefill", json);
    let mut owner = String::new();
    for i in 0..plan.population {
        owner.clear();
        owner.push_str("user:");
        owner.push_str(&(i % plan.owners).to_string());
        store.create(
            NewSession::new(owner.as_bytes())
                .data(plan.payload.clone())
                .idle_timeout(idle),
        )?;
        if i % 1024 == 0 {
            progress.set_position(i);
        }
    }
    progress.finish_and_clear();

    clock.advance(idle + Duration::from_secs(1));
    let started = Instant::now();
    let (mut cycles, mut reclaimed, mut longest_hold) = (0u64, 0u64, Duration::ZERO);
    let (mut holds, mut slow_holds) = (0u64, 0u64);
    loop {
        let report = store.run_expiry_cycle(CYCLE_BUDGET);
        cycles += 1;
        reclaimed += report.sessions_expired;
        longest_hold = longest_hold.max(report.longest_lock_hold);
        holds += report.lock_holds;
        slow_holds += report.lock_holds_over_1ms;
        if report.complete {
            break;
        }
    }
    let busy = started.elapsed();
    let left = store.stats();
    let within = TICK * u32::try_from(cycles).unwrap_or(u32::MAX);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "mode": "expiry",
                "sessions": plan.population,
                "reclaimed": reclaimed,
                "cycles": cycles,
                "cycle_budget_ms": CYCLE_BUDGET.as_secs_f64() * 1e3,
                "busy_secs": busy.as_secs_f64(),
                "reclaimed_per_sec": reclaimed as f64 / busy.as_secs_f64(),
                "reclaimed_within_secs": within.as_secs_f64(),
                "longest_lock_hold_us": longest_hold.as_secs_f64() * 1e6,
                "lock_holds": holds,
                "lock_holds_over_1ms": slow_holds,
                "sessions_left": left.sessions,
                "owners_left": left.owners,
            })
        );
    } else {
        println!(
            "expiry   {reclaimed} of {} sessions reclaimed in {cycles} cycles of {} ms budget \
             ({:.0} ms busy, {:.0}/s): within {:.1} s of the deadline at one cycle per {} ms",
            plan.population,
            CYCLE_BUDGET.as_millis(),
            busy.as_secs_f64() * 1e3,
            reclaimed as f64 / busy.as_secs_f64(),
            within.as_secs_f64(),
            TICK.as_millis(),
        );
        println!(
            "pause    longest shard-lock hold {:.1} µs; {slow_holds} of {holds} holds over 1 ms; \
             left: {} sessions, {} owners",
            longest_hold.as_secs_f64() * 1e6,
            left.sessions,
            left.owners,
        );
    }
    Ok(())
}
