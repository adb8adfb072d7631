//! Plain keys with TTLs: set, get, delete, expire, ttl, incr.

use std::time::Duration;

use sessiond::{
    Deadline, ExpireCondition, KeyExpiry, KeyTtl, KeyType, MAX_KEY_LEN, SetCondition, SetOptions,
    SetOutcome, StoreConfig, StoreError,
};

use crate::{manual_store, secs};

#[test]
fn incr_with_ttl_gives_a_new_counter_its_window_and_keeps_a_running_one() {
    let (store, clock) = manual_store(StoreConfig::default());
    assert_eq!(store.incr_with_ttl(b"tries", 1, secs(900)), Ok(1));
    assert_eq!(store.ttl(b"tries"), KeyTtl::ExpiresIn(secs(900)));
    clock.advance(secs(100));
    assert_eq!(store.incr_with_ttl(b"tries", 1, secs(900)), Ok(2));
    assert_eq!(
        store.ttl(b"tries"),
        KeyTtl::ExpiresIn(secs(800)),
        "the window runs from the first attempt"
    );
    // A counter left without a TTL (by INCR) gets one.
    store.incr(b"old", 5).unwrap();
    assert_eq!(store.incr_with_ttl(b"old", 1, secs(60)), Ok(6));
    assert_eq!(store.ttl(b"old"), KeyTtl::ExpiresIn(secs(60)));
    clock.advance(secs(800));
    assert_eq!(
        store.incr_with_ttl(b"tries", 1, secs(900)),
        Ok(1),
        "a new window"
    );
    assert!(matches!(
        store.incr_with_ttl(b"tries", 1, Duration::ZERO),
        Err(StoreError::BadTimeout(_))
    ));
}

#[test]
fn set_get_delete() {
    let (store, _) = manual_store(StoreConfig::default());
    store.set_key(b"jti:abc", b"revoked", None).unwrap();
    assert_eq!(store.get_key(b"jti:abc").as_deref(), Some(&b"revoked"[..]));
    store.set_key(b"jti:abc", b"again", None).unwrap();
    assert_eq!(store.get_key(b"jti:abc").as_deref(), Some(&b"again"[..]));
    assert_eq!(store.stats().keys, 1);
    assert!(store.delete_key(b"jti:abc").unwrap());
    assert!(!store.delete_key(b"jti:abc").unwrap());
    assert_eq!(store.get_key(b"jti:abc"), None);
    assert_eq!(store.stats().bytes_used, 0);
}

#[test]
fn ttl_counts_down_in_milliseconds_and_the_key_dies_on_time() {
    let (store, clock) = manual_store(StoreConfig::default());
    store
        .set_key(b"k", b"v", Some(Duration::from_millis(1500)))
        .unwrap();
    assert_eq!(
        store.ttl(b"k"),
        KeyTtl::ExpiresIn(Duration::from_millis(1500))
    );
    clock.advance(Duration::from_millis(1499));
    assert_eq!(store.ttl(b"k"), KeyTtl::ExpiresIn(Duration::from_millis(1)));
    clock.advance(Duration::from_millis(1));
    assert_eq!(store.get_key(b"k"), None);
    assert_eq!(store.ttl(b"k"), KeyTtl::Missing);
    assert_eq!(store.stats().keys, 0, "a read past the deadline removed it");
}

#[test]
fn expire_sets_and_clears_a_ttl() {
    let (store, clock) = manual_store(StoreConfig::default());
    store.set_key(b"k", b"v", None).unwrap();
    assert_eq!(store.ttl(b"k"), KeyTtl::Persistent);
    assert_eq!(store.expire_key(b"k", Some(secs(10))), Ok(true));
    assert_eq!(store.ttl(b"k"), KeyTtl::ExpiresIn(secs(10)));
    assert_eq!(store.expire_key(b"k", None), Ok(true));
    assert_eq!(store.ttl(b"k"), KeyTtl::Persistent);
    clock.advance(secs(3600));
    assert!(store.get_key(b"k").is_some());
    assert_eq!(store.expire_key(b"missing", Some(secs(10))), Ok(false));
    assert_eq!(store.expire_key(b"k", Some(Duration::ZERO)), Ok(true));
    assert_eq!(store.get_key(b"k"), None, "a zero TTL deletes");
}

#[test]
fn a_later_ttl_is_honoured_by_the_sweep_and_an_earlier_one_too() {
    let (store, clock) = manual_store(StoreConfig::default());
    store.set_key(b"later", b"v", Some(secs(10))).unwrap();
    store.set_key(b"sooner", b"v", Some(secs(100))).unwrap();
    store.expire_key(b"later", Some(secs(100))).unwrap();
    store.expire_key(b"sooner", Some(secs(10))).unwrap();
    clock.advance(secs(11));
    let (_, keys) = crate::expire_all(&store);
    assert_eq!(keys, 1);
    assert_eq!(store.stats().keys, 1);
    assert!(store.get_key(b"later").is_some());
    clock.advance(secs(90));
    assert_eq!(crate::expire_all(&store).1, 1);
    assert_eq!(store.stats().keys, 0);
    assert_eq!(store.stats().bytes_used, 0);
}

#[test]
fn incr_counts_keeps_the_ttl_and_refuses_non_integers() {
    let (store, clock) = manual_store(StoreConfig::default());
    assert_eq!(store.incr(b"attempts", 1), Ok(1));
    assert_eq!(store.incr(b"attempts", 1), Ok(2));
    assert_eq!(store.incr(b"attempts", -5), Ok(-3));
    assert_eq!(store.get_key(b"attempts").as_deref(), Some(&b"-3"[..]));
    store.expire_key(b"attempts", Some(secs(60))).unwrap();
    assert_eq!(store.incr(b"attempts", 1), Ok(-2));
    assert_eq!(store.ttl(b"attempts"), KeyTtl::ExpiresIn(secs(60)));
    clock.advance(secs(60));
    assert_eq!(
        store.incr(b"attempts", 1),
        Ok(1),
        "an expired counter restarts"
    );
    assert_eq!(store.ttl(b"attempts"), KeyTtl::Persistent);

    store.set_key(b"text", b"abc", None).unwrap();
    assert_eq!(store.incr(b"text", 1), Err(StoreError::NotAnInteger));
    store.set_key(b"big", i64::MAX.to_string(), None).unwrap();
    assert_eq!(store.incr(b"big", 1), Err(StoreError::Overflow));
    assert_eq!(
        store.get_key(b"big"),
        Some(i64::MAX.to_string().into_bytes())
    );
}

#[test]
fn bad_keys_values_and_ttls_are_refused() {
    let config = StoreConfig {
        max_data_bytes: 100,
        ..StoreConfig::default()
    };
    let (store, _) = manual_store(config);
    assert_eq!(
        store.set_key(b"", b"v", None),
        Err(StoreError::BadKey {
            len: 0,
            max: MAX_KEY_LEN
        })
    );
    let long = vec![b'k'; MAX_KEY_LEN + 1];
    assert!(matches!(
        store.set_key(&long, b"v", None),
        Err(StoreError::BadKey { .. })
    ));
    assert!(matches!(
        store.incr(&long, 1),
        Err(StoreError::BadKey { .. })
    ));
    assert_eq!(
        store.set_key(b"k", vec![0; 101], None),
        Err(StoreError::TooLarge { len: 101, max: 100 })
    );
    assert!(matches!(
        store.set_key(b"k", b"v", Some(Duration::ZERO)),
        Err(StoreError::BadTimeout(_))
    ));
    assert_eq!(store.stats().keys, 0);
    assert_eq!(store.stats().bytes_used, 0);
}

// --- Redis-shaped key operations: conditional sets, GETEX, expiry
// conditions, RENAME, iteration and set values.

fn opts(expiry: KeyExpiry, condition: SetCondition, return_old: bool) -> SetOptions {
    SetOptions {
        expiry,
        condition,
        return_old,
    }
}

#[test]
fn conditional_sets_write_only_when_their_condition_holds() {
    let (store, _) = manual_store(StoreConfig::default());
    let nx = opts(KeyExpiry::Persist, SetCondition::IfAbsent, false);
    let xx = opts(KeyExpiry::Persist, SetCondition::IfPresent, true);
    assert!(!store.set_key_with(b"k", b"1", xx).unwrap().written);
    assert!(!store.exists(b"k"));
    assert!(store.set_key_with(b"k", b"1", nx).unwrap().written);
    let again = store.set_key_with(b"k", b"2", nx).unwrap();
    assert_eq!(
        again,
        SetOutcome {
            written: false,
            old: None
        }
    );
    let swapped = store.set_key_with(b"k", b"3", xx).unwrap();
    assert_eq!(swapped.old.as_deref(), Some(&b"1"[..]));
    assert_eq!(store.get_key(b"k").as_deref(), Some(&b"3"[..]));
    assert!(store.delete_key(b"k").unwrap());
    assert_eq!(store.stats().bytes_used, 0);
}

#[test]
fn set_keeps_or_replaces_the_ttl_and_a_past_deadline_deletes() {
    let (store, clock) = manual_store(StoreConfig::default());
    let ttl = KeyExpiry::Set(Deadline::In(secs(10)));
    store
        .set_key_with(b"k", b"v", opts(ttl, SetCondition::Always, false))
        .unwrap();
    let keep = opts(KeyExpiry::Keep, SetCondition::Always, false);
    store.set_key_with(b"k", b"w", keep).unwrap();
    assert_eq!(store.ttl(b"k"), KeyTtl::ExpiresIn(secs(10)));
    store
        .set_key_with(b"k", b"x", SetOptions::default())
        .unwrap();
    assert_eq!(store.ttl(b"k"), KeyTtl::Persistent);
    let past = KeyExpiry::Set(Deadline::AtMs(clock.now_ms()));
    let outcome = store
        .set_key_with(b"k", b"y", opts(past, SetCondition::Always, true))
        .unwrap();
    assert_eq!(outcome.old.as_deref(), Some(&b"x"[..]));
    assert!(outcome.written);
    assert!(!store.exists(b"k"));
    assert_eq!(store.stats().bytes_used, 0);
}

#[test]
fn getdel_getex_and_persist() {
    let (store, clock) = manual_store(StoreConfig::default());
    store.set_key(b"k", b"v", Some(secs(5))).unwrap();
    assert_eq!(
        store.get_ex(b"k", KeyExpiry::Keep).unwrap(),
        Some(b"v".to_vec())
    );
    assert_eq!(store.ttl(b"k"), KeyTtl::ExpiresIn(secs(5)));
    let later = KeyExpiry::Set(Deadline::In(secs(50)));
    store.get_ex(b"k", later).unwrap();
    assert_eq!(store.ttl(b"k"), KeyTtl::ExpiresIn(secs(50)));
    assert!(store.persist(b"k").unwrap());
    assert!(
        !store.persist(b"k").unwrap(),
        "true only if a TTL was removed"
    );
    assert!(!store.persist(b"missing").unwrap());
    store.get_ex(b"k", later).unwrap();
    store.get_ex(b"k", KeyExpiry::Persist).unwrap();
    assert_eq!(store.ttl(b"k"), KeyTtl::Persistent);
    assert_eq!(store.get_del(b"k").unwrap(), Some(b"v".to_vec()));
    assert_eq!(store.get_del(b"k").unwrap(), None);
    store.set_key(b"k", b"v", Some(secs(1))).unwrap();
    clock.advance(secs(1));
    assert_eq!(store.get_ex(b"k", KeyExpiry::Persist).unwrap(), None);
    assert_eq!(store.stats().bytes_used, 0);
}

#[test]
fn expire_conditions_treat_no_ttl_as_infinite() {
    let (store, clock) = manual_store(StoreConfig::default());
    let at = |s: u64| Deadline::AtMs(clock.now_ms() + s * 1000);
    store.set_key(b"k", b"v", None).unwrap();
    let expire = |when, c| store.expire_with(b"k", when, c).unwrap();
    assert!(!expire(at(10), ExpireCondition::IfTtl));
    assert!(
        !expire(at(10), ExpireCondition::IfLater),
        "nothing beats infinite"
    );
    assert!(expire(at(10), ExpireCondition::IfEarlier));
    assert!(!expire(at(20), ExpireCondition::IfNoTtl));
    assert!(!expire(at(5), ExpireCondition::IfLater));
    assert!(expire(at(20), ExpireCondition::IfLater));
    assert!(!expire(at(30), ExpireCondition::IfEarlier));
    assert!(expire(at(30), ExpireCondition::IfTtl));
    assert_eq!(store.ttl(b"k"), KeyTtl::ExpiresIn(secs(30)));
    assert!(
        !store
            .expire_with(b"nope", at(1), ExpireCondition::Always)
            .unwrap()
    );
    assert!(
        expire(Deadline::AtMs(0), ExpireCondition::Always),
        "past: deleted"
    );
    assert!(!store.exists(b"k"));
    assert_eq!(store.stats().bytes_used, 0);
}

#[test]
fn rename_keeps_value_and_ttl_and_replaces_the_target() {
    let (store, _) = manual_store(StoreConfig::default());
    assert_eq!(store.rename(b"a", b"b"), Err(StoreError::NotFound));
    store.set_key(b"a", b"1", Some(secs(9))).unwrap();
    store.set_key(b"b", b"old", None).unwrap();
    store.rename(b"a", b"bee").unwrap();
    store.rename(b"bee", b"b").unwrap();
    assert!(!store.exists(b"a"));
    assert_eq!(store.get_key(b"b").as_deref(), Some(&b"1"[..]));
    assert_eq!(store.ttl(b"b"), KeyTtl::ExpiresIn(secs(9)));
    store.rename(b"b", b"b").unwrap();
    assert_eq!(store.key_count(), 1);
    store.delete_key(b"b").unwrap();
    assert_eq!(store.stats().bytes_used, 0);
}

#[test]
fn sets_count_members_and_refuse_string_commands() {
    let (store, _) = manual_store(StoreConfig::default());
    assert_eq!(store.set_add(b"s", &[b"a", b"b", b"a"]).unwrap(), 2);
    assert_eq!(store.set_add(b"s", &[b"b", b"c"]).unwrap(), 1);
    assert_eq!(store.set_len(b"s").unwrap(), 3);
    assert!(store.set_contains(b"s", b"c").unwrap());
    assert!(!store.set_contains(b"s", b"z").unwrap());
    assert_eq!(
        store.set_members(b"s").unwrap(),
        vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
    );
    assert_eq!(store.key_type(b"s"), Some(KeyType::Set));
    assert_eq!(store.get_string(b"s"), Err(StoreError::WrongType));
    assert_eq!(store.incr(b"s", 1), Err(StoreError::WrongType));
    assert_eq!(store.get_del(b"s"), Err(StoreError::WrongType));
    let get = SetOptions {
        return_old: true,
        ..SetOptions::default()
    };
    assert_eq!(
        store.set_key_with(b"s", b"x", get),
        Err(StoreError::WrongType)
    );
    store.set_key(b"str", b"v", None).unwrap();
    assert_eq!(store.set_add(b"str", &[b"a"]), Err(StoreError::WrongType));
    assert_eq!(store.set_members(b"str"), Err(StoreError::WrongType));
    assert_eq!(store.key_type(b"str"), Some(KeyType::String));
    assert_eq!(store.key_type(b"none"), None);
    assert_eq!(store.set_remove(b"s", &[b"a", b"z"]).unwrap(), 1);
    assert_eq!(store.set_remove(b"s", &[b"b", b"c"]).unwrap(), 2);
    assert!(!store.exists(b"s"), "an emptied set is deleted");
    assert_eq!(store.set_len(b"s").unwrap(), 0);
    store.delete_key(b"str").unwrap();
    assert_eq!(store.stats().bytes_used, 0);
}

#[test]
fn set_memory_is_exact_through_every_change() {
    let (store, clock) = manual_store(StoreConfig::default());
    store.set_add(b"s", &[b"one", b"two"]).unwrap();
    let two = store.stats().bytes_used;
    store.set_add(b"s", &[b"one"]).unwrap();
    assert_eq!(
        store.stats().bytes_used,
        two,
        "a member already there is free"
    );
    store.set_add(b"s", &[b"three"]).unwrap();
    store.set_remove(b"s", &[b"three"]).unwrap();
    assert_eq!(store.stats().bytes_used, two);
    store.rename(b"s", b"longer-name").unwrap();
    assert_eq!(store.stats().bytes_used, two + 10);
    store.expire_key(b"longer-name", Some(secs(1))).unwrap();
    clock.advance(secs(1));
    store.run_expiry_cycle(secs(1));
    assert_eq!(store.stats().bytes_used, 0, "a set expires as a whole");
    store.set_add(b"s", &[b"a"]).unwrap();
    store.set_key(b"s", b"now a string", None).unwrap();
    assert_eq!(store.get_key(b"s").as_deref(), Some(&b"now a string"[..]));
    store.delete_key(b"s").unwrap();
    assert_eq!(store.stats().bytes_used, 0);
}

#[test]
fn flush_all_wipes_keys_and_sessions() {
    let (store, _) = manual_store(StoreConfig::default());
    for i in 0..50 {
        store
            .set_key(format!("k{i}").as_bytes(), b"v", Some(secs(60)))
            .unwrap();
        store
            .create(sessiond::NewSession::new(format!("user{}", i % 7)))
            .unwrap();
    }
    store.set_add(b"s", &[b"a"]).unwrap();
    assert_eq!(store.key_count(), 51);
    store.flush_all().unwrap();
    let stats = store.stats();
    assert_eq!((stats.keys, stats.sessions, stats.owners), (0, 0, 0));
    assert_eq!(stats.bytes_used, 0);
    assert_eq!(store.key_count(), 0);
}

#[test]
fn keys_match_redis_globs() {
    let (store, _) = manual_store(StoreConfig::default());
    for key in ["user:1", "user:2", "user:10", "session:1"] {
        store.set_key(key.as_bytes(), b"v", None).unwrap();
    }
    let mut found = store.keys_matching(b"user:?");
    found.sort();
    assert_eq!(found, vec![b"user:1".to_vec(), b"user:2".to_vec()]);
    assert_eq!(store.keys_matching(b"*").len(), 4);
    assert_eq!(store.keys_matching(b"[st]ession:*").len(), 1);
}

/// Scans to completion, returning every key seen (with repeats).
fn scan_all(store: &sessiond::Store, count: usize, mut between: impl FnMut(usize)) -> Vec<Vec<u8>> {
    let (mut cursor, mut seen, mut step) = (0, Vec::new(), 0);
    loop {
        let (next, keys) = store.scan_keys(cursor, count, None, None);
        seen.extend(keys);
        between(step);
        step += 1;
        if next == 0 {
            return seen;
        }
        cursor = next;
    }
}

#[test]
fn scan_returns_every_key_exactly_once_across_steps() {
    let (store, _) = manual_store(StoreConfig {
        shards: 4,
        ..StoreConfig::default()
    });
    for i in 0..1000 {
        store
            .set_key(format!("k{i}").as_bytes(), b"v", None)
            .unwrap();
    }
    for count in [1, 7, 100, 5000] {
        let mut seen = scan_all(&store, count, |_| {});
        seen.sort();
        let before = seen.len();
        seen.dedup();
        assert_eq!((before, seen.len()), (1000, 1000), "count {count}");
    }
    let (_, strings) = store.scan_keys(0, 5000, Some(b"k1?"), Some(KeyType::String));
    assert_eq!(strings.len(), 10);
    let (_, sets) = store.scan_keys(0, 5000, None, Some(KeyType::Set));
    assert!(sets.is_empty());
}

#[test]
fn scan_survives_tables_growing_and_shrinking_mid_scan() {
    let (store, _) = manual_store(StoreConfig {
        shards: 2,
        ..StoreConfig::default()
    });
    for i in 0..300 {
        store
            .set_key(format!("stay{i}").as_bytes(), b"v", None)
            .unwrap();
    }
    let mut seen = scan_all(&store, 10, |step| {
        // Grow the tables well past a resize, then shrink them again.
        for i in 0..200 {
            let key = format!("churn{step}-{i}");
            store.set_key(key.as_bytes(), b"v", None).unwrap();
        }
        if step % 3 == 2 {
            for key in store.keys_matching(b"churn*") {
                store.delete_key(&key).unwrap();
            }
        }
    });
    seen.retain(|k| k.starts_with(b"stay"));
    seen.sort();
    let total = seen.len();
    seen.dedup();
    assert_eq!((total, seen.len()), (300, 300));
}

#[test]
fn a_whole_scan_takes_a_bounded_number_of_steps_whatever_the_count() {
    let (store, _) = manual_store(StoreConfig {
        shards: 1,
        ..StoreConfig::default()
    });
    for i in 0..10_000 {
        store
            .set_key(format!("k{i}").as_bytes(), b"v", None)
            .unwrap();
    }
    let mut steps = 0;
    let seen = scan_all(&store, 1, |_| steps += 1);
    assert_eq!(seen.len(), 10_000);
    assert!(steps <= 70, "{steps} steps");
}

#[test]
fn relative_deadlines_of_zero_or_less_delete_and_the_store_tells_its_time() {
    let (store, clock) = manual_store(StoreConfig::default());
    assert_eq!(store.now_ms(), clock.now_ms());
    // The store's time never goes back, even when its clock does.
    let before = store.now_ms();
    clock.set_ms(before - 5_000);
    assert_eq!(store.now_ms(), before);
    clock.set_ms(before);
    for ms in [0, -1, i64::MIN] {
        store.set_key(b"k", b"v", None).unwrap();
        let when = Deadline::relative_ms(ms);
        assert!(
            store
                .expire_with(b"k", when, ExpireCondition::Always)
                .unwrap()
        );
        assert!(!store.exists(b"k"), "a TTL of {ms} ms deletes");
    }
    store.set_key(b"k", b"v", None).unwrap();
    let when = Deadline::relative_ms(1_500);
    assert!(
        store
            .expire_with(b"k", when, ExpireCondition::Always)
            .unwrap()
    );
    assert_eq!(
        store.ttl(b"k"),
        KeyTtl::ExpiresIn(Duration::from_millis(1_500))
    );
    assert_eq!(Deadline::absolute_ms(-7), Deadline::AtMs(0));
    assert_eq!(Deadline::absolute_ms(2_000), Deadline::AtMs(2_000));
}
