//! Per-owner session limits and the memory limit, under each policy.

use sessiond::{
    LimitPolicy, MemoryPolicy, NewSession, OwnerLimit, SessionId, StoreConfig, StoreError,
};

use crate::{manual_store, secs};

fn limited(max_sessions: u32, policy: LimitPolicy) -> StoreConfig {
    StoreConfig {
        owner_limit: Some(OwnerLimit {
            max_sessions,
            policy,
        }),
        ..StoreConfig::default()
    }
}

#[test]
fn reject_policy_refuses_the_login_beyond_the_limit() {
    let (store, _) = manual_store(limited(2, LimitPolicy::Reject));
    let a = store.create(NewSession::new("u")).unwrap();
    store.create(NewSession::new("u")).unwrap();
    assert_eq!(
        store.create(NewSession::new("u")),
        Err(StoreError::SessionLimit { limit: 2 })
    );
    assert_eq!(store.count(b"u"), 2);
    assert!(store.create(NewSession::new("other")).is_ok(), "per owner");
    store.delete(&a).unwrap();
    assert!(
        store.create(NewSession::new("u")).is_ok(),
        "room again after logout"
    );
}

#[test]
fn evict_policy_ends_the_least_recently_seen_session() {
    let (store, clock) = manual_store(limited(2, LimitPolicy::EvictOldest));
    let first = store.create(NewSession::new("u")).unwrap();
    clock.advance(secs(1));
    let second = store.create(NewSession::new("u")).unwrap();
    clock.advance(secs(1));
    store.get(&first).unwrap(); // now `second` is the least recently seen
    let third = store.create(NewSession::new("u")).unwrap();
    assert!(store.get(&first).is_ok());
    assert_eq!(store.get(&second), Err(StoreError::NotFound));
    assert!(store.get(&third).is_ok());
    assert_eq!(store.count(b"u"), 2);
    assert_eq!(store.stats().limit_evictions, 1);
}

#[test]
fn expired_sessions_do_not_use_up_the_limit() {
    let (store, clock) = manual_store(limited(1, LimitPolicy::Reject));
    store
        .create(NewSession::new("u").idle_timeout(secs(10)))
        .unwrap();
    clock.advance(secs(11));
    assert!(store.create(NewSession::new("u")).is_ok());
}

#[test]
fn the_limit_can_be_overridden_per_create() {
    let (store, clock) = manual_store(limited(1, LimitPolicy::Reject));
    let first = store.create(NewSession::new("u")).unwrap();
    clock.advance(secs(1));
    let evict = OwnerLimit {
        max_sessions: 1,
        policy: LimitPolicy::EvictOldest,
    };
    let second = store
        .create(NewSession::new("u").owner_limit(Some(evict)))
        .unwrap();
    assert_eq!(store.get(&first), Err(StoreError::NotFound));
    store
        .create(NewSession::new("u").owner_limit(None))
        .unwrap();
    assert_eq!(store.count(b"u"), 2);
    assert!(store.get(&second).is_ok());
}

#[test]
fn a_zero_limit_refuses_under_either_policy() {
    for policy in [LimitPolicy::Reject, LimitPolicy::EvictOldest] {
        let (store, _) = manual_store(limited(0, policy));
        assert_eq!(
            store.create(NewSession::new("u")),
            Err(StoreError::SessionLimit { limit: 0 })
        );
        assert_eq!(store.stats().owners, 0);
        assert_eq!(store.stats().bytes_used, 0);
    }
}

fn memory_limited(limit: u64, policy: MemoryPolicy) -> StoreConfig {
    StoreConfig {
        memory_limit: Some(limit),
        memory_policy: policy,
        ..StoreConfig::default()
    }
}

#[test]
fn full_memory_refuses_writes_and_keeps_what_is_there() {
    let (store, _) = manual_store(memory_limited(64 * 1024, MemoryPolicy::Reject));
    let mut ids = Vec::new();
    let refused = loop {
        match store.create(NewSession::new(format!("u{}", ids.len())).data(vec![1; 1000])) {
            Ok(id) => ids.push(id),
            Err(e) => break e,
        }
    };
    assert!(matches!(
        refused,
        StoreError::OutOfMemory { limit: 65536, .. }
    ));
    assert!(ids.len() > 10);
    let stats = store.stats();
    assert!(stats.bytes_used <= 64 * 1024);
    assert_eq!(stats.sessions, ids.len() as u64);
    assert!(ids.iter().all(|id| store.get(id).is_ok()), "nothing lost");
    // Other writes are refused too, reads and deletes go on.
    assert!(matches!(
        store.set_key(b"k", vec![0; 2000], None),
        Err(StoreError::OutOfMemory { .. })
    ));
    assert!(matches!(
        store.update(&ids[0], &[0; 5000], None),
        Err(StoreError::OutOfMemory { .. })
    ));
    assert_eq!(store.get(&ids[0]).unwrap().data, vec![1; 1000]);
    assert!(store.delete(&ids[0]).unwrap());
    assert!(
        store
            .create(NewSession::new("again").data(vec![1; 1000]))
            .is_ok()
    );
}

#[test]
fn full_memory_evicts_the_sessions_nearest_their_deadline() {
    let (store, _) = manual_store(memory_limited(
        64 * 1024,
        MemoryPolicy::EvictNearestDeadline,
    ));
    // Sessions with ever longer idle timeouts: the first made is due first.
    let ids: Vec<SessionId> = (0..200u64)
        .map(|i| {
            store
                .create(
                    NewSession::new(format!("u{i}"))
                        .data(vec![1; 1000])
                        .idle_timeout(secs(1000 + i)),
                )
                .unwrap()
        })
        .collect();
    let stats = store.stats();
    assert!(stats.bytes_used <= 64 * 1024);
    assert!(stats.evicted_sessions > 100);
    let alive: Vec<usize> = (0..200).filter(|&i| store.peek(&ids[i]).is_ok()).collect();
    assert_eq!(alive.len() as u64, stats.sessions);
    // Eviction samples shards, so the order is approximate; but what is
    // left is much later than what went. (At 90% this failed about one run
    // in forty, on an unlucky hash seed that kept 6 older sessions of 55.)
    let newest_half = alive.iter().filter(|&&i| i >= 100).count();
    assert!(newest_half * 10 >= alive.len() * 8, "kept: {alive:?}");
    // Evicted sessions are gone from the owner index as well.
    let indexed: usize = (0..200)
        .map(|i| store.count(format!("u{i}").as_bytes()))
        .sum();
    assert_eq!(indexed, alive.len());
    assert_eq!(store.stats().owners, alive.len() as u64);
}

#[test]
fn a_write_larger_than_the_limit_is_refused_without_evicting() {
    let (store, _) = manual_store(memory_limited(10_000, MemoryPolicy::EvictNearestDeadline));
    let id = store
        .create(NewSession::new("u").data(vec![1; 100]))
        .unwrap();
    assert!(matches!(
        store.create(NewSession::new("v").data(vec![1; 20_000])),
        Err(StoreError::OutOfMemory { .. })
    ));
    assert!(
        store.get(&id).is_ok(),
        "nothing was evicted for a hopeless write"
    );
    assert_eq!(store.stats().evicted_sessions, 0);
}

#[test]
fn a_refused_write_leaves_the_accounted_bytes_as_they_were() {
    let (store, _) = manual_store(limited(1, LimitPolicy::Reject));
    let id = store
        .create(NewSession::new("u").data(vec![1; 100]))
        .unwrap();
    store.set_key(b"text", b"not a number", None).unwrap();
    let before = store.stats();
    let refusals = [
        // The owner limit, for an owner with an index entry already.
        store
            .create(NewSession::new("u").data(vec![1; 100]))
            .map(drop),
        // An id collision, for a new owner (whose entry must not stay).
        store
            .create(NewSession::new("v").with_id(id).owner_limit(None))
            .map(drop),
        store.update(&id, &[2; 500], Some(7)).map(drop),
        store
            .update(&SessionId::random(), &[2; 500], None)
            .map(drop),
        store.incr(b"text", 1).map(drop),
    ];
    for refused in &refusals {
        assert!(refused.is_err(), "{refused:?}");
    }
    let after = store.stats();
    assert_eq!(after.bytes_used, before.bytes_used);
    assert_eq!(
        (after.sessions, after.owners),
        (before.sessions, before.owners)
    );
}

#[test]
fn an_owner_emptied_by_a_limit_that_still_refuses_gives_back_its_entry() {
    let (store, _) = manual_store(StoreConfig::default());
    store
        .create(NewSession::new("u").data(vec![1; 100]))
        .unwrap();
    let none_allowed = OwnerLimit {
        max_sessions: 0,
        policy: LimitPolicy::EvictOldest,
    };
    assert_eq!(
        store.create(NewSession::new("u").owner_limit(Some(none_allowed))),
        Err(StoreError::SessionLimit { limit: 0 })
    );
    let stats = store.stats();
    assert_eq!(
        (stats.sessions, stats.owners, stats.limit_evictions),
        (0, 0, 1)
    );
    assert_eq!(stats.bytes_used, 0);
}

#[test]
fn the_memory_limit_and_policy_change_while_the_store_runs() {
    let (store, _) = manual_store(StoreConfig::default());
    let id = store
        .create(NewSession::new("u").data(vec![1; 100]))
        .unwrap();
    store.set_memory_limit(Some(10));
    assert_eq!(store.stats().memory_limit, Some(10));
    let refused = store.create(NewSession::new("v"));
    assert!(matches!(
        refused,
        Err(StoreError::OutOfMemory { limit: 10, .. })
    ));
    assert!(store.peek(&id).is_ok(), "lowering evicts nothing");
    assert_eq!(store.memory_policy(), MemoryPolicy::Reject);
    store.set_memory_policy(MemoryPolicy::EvictNearestDeadline);
    assert_eq!(store.memory_policy(), MemoryPolicy::EvictNearestDeadline);
    store.set_memory_limit(None);
    assert_eq!(store.stats().memory_limit, None);
    store.create(NewSession::new("v")).unwrap();
}

#[test]
fn the_ttl_summary_counts_keys_with_deadlines_ahead() {
    let (store, clock) = manual_store(StoreConfig::default());
    assert_eq!(store.key_ttl_summary().with_ttl, 0);
    store.set_key(b"a", "1", Some(secs(100))).unwrap();
    store.set_key(b"b", "1", Some(secs(300))).unwrap();
    store.set_key(b"c", "1", None).unwrap();
    let summary = store.key_ttl_summary();
    assert_eq!(summary.with_ttl, 2);
    assert_eq!(summary.avg_ttl_ms, 200_000);
    clock.advance(secs(150));
    let summary = store.key_ttl_summary();
    assert_eq!(
        (summary.with_ttl, summary.avg_ttl_ms),
        (1, 150_000),
        "a is past due"
    );
}
