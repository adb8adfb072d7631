//! Integration tests of the embedded engine, in one binary so that the
//! workspace links its tests once.

mod concurrency;
mod event_groups;
mod events;
mod expiry;
mod hashes;
mod key_ops;
mod keys;
mod limits;
mod model;
mod persist;
mod replica;
mod sessions;
#[path = "../shared/tempdir.rs"]
mod tempdir;
mod trait_impl;

use std::time::Duration;

use sessiond::{ManualClock, Store, StoreConfig};

/// 2026-01-01T00:00:00Z, a round start for manual clocks.
pub const T0_MS: u64 = 1_767_225_600_000;

/// A store on a manual clock with no background thread, so tests decide
/// when time moves and when the expiry cycle runs.
pub fn manual_store(config: StoreConfig) -> (Store, ManualClock) {
    let clock = ManualClock::new(T0_MS);
    let config = StoreConfig {
        background_expiry: false,
        ..config
    };
    (Store::with_clock(config, clock.clone()), clock)
}

/// Runs expiry cycles until one completes.
pub fn expire_all(store: &Store) -> (u64, u64) {
    let (mut sessions, mut keys) = (0, 0);
    loop {
        let report = store.run_expiry_cycle(Duration::from_secs(1));
        sessions += report.sessions_expired;
        keys += report.keys_expired;
        if report.complete {
            return (sessions, keys);
        }
    }
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
