//! The expiry cycle: memory of expired entries comes back, the owner index
//! is cleaned with it, touched sessions survive, and the background thread
//! does it on its own.

use std::time::{Duration, Instant};

use sessiond::{ManualClock, NewSession, Store, StoreConfig};

use crate::{T0_MS, expire_all, manual_store, secs};

#[test]
fn expired_sessions_and_their_index_entries_are_reclaimed() {
    let (store, clock) = manual_store(StoreConfig::default());
    for i in 0..1000 {
        store
            .create(
                NewSession::new(format!("user{}", i % 200))
                    .data(vec![0; 200])
                    .idle_timeout(secs(60)),
            )
            .unwrap();
    }
    let keeper = store
        .create(NewSession::new("user0").idle_timeout(secs(600)))
        .unwrap();
    assert_eq!(store.stats().sessions, 1001);

    clock.advance(secs(60));
    assert_eq!(
        expire_all(&store),
        (0, 0),
        "nothing is due before its deadline"
    );

    clock.advance(secs(1));
    assert_eq!(expire_all(&store).0, 1000);
    let stats = store.stats();
    assert_eq!(stats.sessions, 1);
    assert_eq!(stats.owners, 1, "owners left with no session are gone");
    assert_eq!(stats.expired_sessions, 1000);
    assert_eq!(store.count(b"user0"), 1);
    assert!(store.get(&keeper).is_ok());

    store.delete(&keeper).unwrap();
    assert_eq!(
        store.stats().bytes_used,
        0,
        "every accounted byte came back"
    );
}

#[test]
fn touched_sessions_are_rescheduled_not_removed() {
    let (store, clock) = manual_store(StoreConfig::default());
    let busy = store
        .create(NewSession::new("u").idle_timeout(secs(60)))
        .unwrap();
    let idle = store
        .create(NewSession::new("u").idle_timeout(secs(60)))
        .unwrap();
    for _ in 0..5 {
        clock.advance(secs(40));
        store.get(&busy).unwrap();
        expire_all(&store);
    }
    assert!(store.get(&busy).is_ok());
    assert!(store.peek(&idle).is_err());
    assert_eq!(store.stats().sessions, 1);
    assert_eq!(store.stats().expired_sessions, 1);
    // The busy one goes once it idles too.
    clock.advance(secs(61));
    assert_eq!(expire_all(&store).0, 1);
    assert_eq!(store.stats().owners, 0);
}

#[test]
fn deleted_and_rotated_sessions_leave_no_live_wheel_entries() {
    let (store, clock) = manual_store(StoreConfig::default());
    let a = store
        .create(NewSession::new("u").idle_timeout(secs(10)))
        .unwrap();
    let b = store
        .create(NewSession::new("u").idle_timeout(secs(10)))
        .unwrap();
    store.delete(&a).unwrap();
    let b2 = store.rotate(&b).unwrap();
    clock.advance(secs(5));
    store.get(&b2).unwrap();
    clock.advance(secs(6));
    assert_eq!(
        expire_all(&store).0,
        0,
        "stale entries are dropped, b2 rescheduled"
    );
    assert!(store.get(&b2).is_ok());
    clock.advance(secs(11));
    assert_eq!(expire_all(&store).0, 1);
}

#[test]
fn the_cycle_keeps_to_its_budget_and_resumes_where_it_stopped() {
    let (store, clock) = manual_store(StoreConfig::default());
    for i in 0..50_000 {
        store
            .create(NewSession::new(format!("u{}", i % 10_000)).idle_timeout(secs(1)))
            .unwrap();
    }
    clock.advance(secs(2));
    let first = store.run_expiry_cycle(Duration::ZERO);
    assert!(!first.complete, "a zero budget stops after one batch");
    assert!(first.sessions_expired <= sessiond::BATCH as u64);
    assert!(first.sessions_expired > 0);
    let (rest, _) = expire_all(&store);
    assert_eq!(first.sessions_expired + rest, 50_000);
    assert_eq!(store.stats().sessions, 0);
    assert_eq!(store.stats().owners, 0);
}

#[test]
fn the_background_thread_reclaims_without_being_asked() {
    let clock = ManualClock::new(T0_MS);
    let store = Store::with_clock(StoreConfig::default(), clock.clone());
    for _ in 0..100 {
        store
            .create(NewSession::new("u").idle_timeout(secs(30)))
            .unwrap();
    }
    clock.advance(secs(31));
    // Ticks are 100 ms; allow a generous margin on a loaded machine.
    let waited = Instant::now();
    while store.stats().sessions > 0 && waited.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = store.stats();
    assert_eq!((stats.sessions, stats.owners, stats.bytes_used), (0, 0, 0));
    assert_eq!(stats.expired_sessions, 100);
}

#[test]
fn a_wall_clock_stepping_back_does_not_resurrect_an_unswept_session() {
    let (store, clock) = manual_store(StoreConfig::default());
    let id = store
        .create(NewSession::new("u").idle_timeout(secs(60)))
        .unwrap();
    clock.advance(secs(61));
    assert!(store.get(&id).is_err());
    // An NTP step back of an hour, before the sweeper got to it.
    clock.set_ms(T0_MS - 3_600_000);
    assert!(store.get(&id).is_err(), "store time does not run backwards");
    assert_eq!(store.count(b"u"), 0);
    let fresh = store
        .create(NewSession::new("u").idle_timeout(secs(60)))
        .unwrap();
    assert_eq!(
        store.get(&fresh).unwrap().info.created_at,
        T0_MS / 1000 + 61
    );
    assert_eq!(expire_all(&store), (1, 0));
    assert!(store.get(&fresh).is_ok());
}
