//! Hash keys in the embedded engine: fields and their TTLs, exact counts
//! after expiry without any read, the hash gone with its last field,
//! WRONGTYPE both ways, memory given back by the expiry cycle within a
//! second, and field TTLs across a restart (log and snapshot).

use std::time::{Duration, Instant};

use sessiond::{
    Deadline, ExpireCondition, FieldExpire, FieldPersist, FieldTtl, HashError, HashSetOptions,
    KeyExpiry, KeyType, ManualClock, PersistConfig, SetCondition, Store, StoreConfig, StoreError,
};

use crate::tempdir::TempDir;
use crate::{T0_MS, expire_all, manual_store};

fn at(ms: u64) -> Deadline {
    Deadline::AtMs(T0_MS + ms)
}

#[test]
fn fields_are_set_read_counted_and_deleted_with_their_hash() {
    let (store, _) = manual_store(StoreConfig::default());
    assert_eq!(store.hash_set(b"h", &[(b"a", b"1"), (b"b", b"2")]), Ok(2));
    assert_eq!(store.hash_set(b"h", &[(b"a", b"x"), (b"c", b"3")]), Ok(1));
    assert_eq!(store.hash_get(b"h", b"a"), Ok(Some(b"x".to_vec())));
    assert_eq!(store.hash_len(b"h"), Ok(3));
    assert_eq!(store.key_type(b"h"), Some(KeyType::Hash));
    assert_eq!(
        store.hash_get_many(b"h", &[b"c", b"nope"]),
        Ok(vec![Some(b"3".to_vec()), None])
    );
    assert_eq!(store.hash_set_if_absent(b"h", b"a", b"y"), Ok(false));
    assert_eq!(store.hash_value_len(b"h", b"a"), Ok(1));
    assert_eq!(store.hash_remove(b"h", &[b"a", b"b", b"zz"]), Ok(2));
    assert_eq!(store.hash_fields(b"h"), Ok(vec![b"c".to_vec()]));
    assert_eq!(store.hash_remove(b"h", &[b"c"]), Ok(1));
    assert!(!store.exists(b"h"), "the last field takes its hash along");
    assert_eq!(store.stats().bytes_used, 0);
}

#[test]
fn wrong_types_are_refused_both_ways() {
    let (store, _) = manual_store(StoreConfig::default());
    store.set_key(b"s", b"v", None).unwrap();
    store.set_add(b"set", &[b"m"]).unwrap();
    store.hash_set(b"h", &[(b"f", b"v")]).unwrap();
    assert_eq!(
        store.hash_set(b"s", &[(b"f", b"v")]),
        Err(StoreError::WrongType)
    );
    assert_eq!(store.hash_len(b"set"), Err(StoreError::WrongType));
    assert_eq!(
        store.hash_incr(b"s", b"f", 1),
        Err(HashError::Store(StoreError::WrongType))
    );
    assert_eq!(store.get_string(b"h"), Err(StoreError::WrongType));
    assert_eq!(store.set_add(b"h", &[b"m"]), Err(StoreError::WrongType));
    assert_eq!(store.incr(b"h", 1), Err(StoreError::WrongType));
    assert_eq!(store.get_key(b"s"), Some(b"v".to_vec()), "nothing changed");
}

#[test]
fn increments_keep_the_field_ttl_and_say_what_is_wrong() {
    let (store, _) = manual_store(StoreConfig::default());
    assert_eq!(store.hash_incr(b"h", b"n", 5), Ok(5));
    store
        .hash_expire(b"h", &[b"n"], at(10_000), ExpireCondition::Always)
        .unwrap();
    assert_eq!(store.hash_incr(b"h", b"n", -7), Ok(-2));
    let (ttls, _) = store.hash_ttl(b"h", &[b"n"]).unwrap();
    assert_eq!(ttls, [FieldTtl::At(T0_MS + 10_000)]);
    assert_eq!(store.hash_incr(b"h", b"n", i64::MAX - 1), Ok(i64::MAX - 3));
    assert_eq!(store.hash_incr(b"h", b"n", 10), Err(HashError::Overflow));
    store.hash_set(b"h", &[(b"t", b"text")]).unwrap();
    assert_eq!(store.hash_incr(b"h", b"t", 1), Err(HashError::NotAnInteger));
    assert_eq!(
        store.hash_incr_float(b"h", b"t", 1.0),
        Err(HashError::NotAFloat)
    );
    assert_eq!(
        store.hash_incr_float(b"h", b"f", 10.5),
        Ok(b"10.5".to_vec())
    );
    assert_eq!(store.hash_incr_float(b"h", b"f", 0.1), Ok(b"10.6".to_vec()));
    assert_eq!(
        store.hash_incr_float(b"h", b"f", f64::MAX),
        Ok(format!("{}", f64::MAX + 10.6).into_bytes())
    );
    assert_eq!(
        store.hash_incr_float(b"h", b"f", f64::MAX),
        Err(HashError::NotFinite)
    );
}

#[test]
fn field_ttls_follow_the_conditions_and_codes() {
    let (store, _) = manual_store(StoreConfig::default());
    store.hash_set(b"h", &[(b"a", b"1"), (b"b", b"2")]).unwrap();
    let expire = |fields: &[&[u8]], ms, condition| {
        store.hash_expire(b"h", fields, at(ms), condition).unwrap()
    };
    use ExpireCondition::*;
    use FieldExpire::*;
    assert_eq!(expire(&[b"a", b"zz"], 5_000, IfTtl), [NotMet, NoField]);
    assert_eq!(
        expire(&[b"a"], 5_000, IfLater),
        [NotMet],
        "no TTL is infinite"
    );
    assert_eq!(expire(&[b"a"], 5_000, IfNoTtl), [Set]);
    assert_eq!(expire(&[b"a"], 9_000, IfNoTtl), [NotMet]);
    assert_eq!(expire(&[b"a"], 4_000, IfLater), [NotMet]);
    assert_eq!(expire(&[b"a"], 6_000, IfLater), [Set]);
    assert_eq!(expire(&[b"a"], 7_000, IfEarlier), [NotMet]);
    assert_eq!(expire(&[b"a", b"b"], 5_500, IfEarlier), [Set, Set]);
    assert_eq!(expire(&[b"b"], 3_000, IfTtl), [Set]);
    let (ttls, now) = store.hash_ttl(b"h", &[b"a", b"b", b"zz"]).unwrap();
    assert_eq!(now, T0_MS);
    assert_eq!(
        ttls,
        [
            FieldTtl::At(T0_MS + 5_500),
            FieldTtl::At(T0_MS + 3_000),
            FieldTtl::NoField
        ]
    );
    assert_eq!(
        store.hash_persist(b"h", &[b"a", b"a", b"zz"]),
        Ok(vec![
            FieldPersist::Persisted,
            FieldPersist::NoTtl,
            FieldPersist::NoField
        ])
    );
    // A time already past deletes the field, and the last field the hash.
    let past = Deadline::AtMs(1);
    assert_eq!(
        store.hash_expire(b"h", &[b"a"], past, Always),
        Ok(vec![Deleted])
    );
    assert_eq!(store.hash_len(b"h"), Ok(1));
    assert_eq!(
        store.hash_expire(b"h", &[b"b"], past, Always),
        Ok(vec![Deleted])
    );
    assert!(!store.exists(b"h"));
    assert_eq!(
        store.hash_expire(b"h", &[b"b"], at(1), Always),
        Ok(vec![NoField]),
        "a missing key is an empty hash"
    );
    assert_eq!(store.stats().bytes_used, 0);
}

#[test]
fn expired_fields_are_never_counted_or_shown_and_the_hash_goes_with_the_last() {
    let (store, clock) = manual_store(StoreConfig::default());
    store
        .hash_set(
            b"devices",
            &[(b"laptop", b"1"), (b"phone", b"2"), (b"tv", b"3")],
        )
        .unwrap();
    let expire = |field: &[u8], ms| {
        store
            .hash_expire(b"devices", &[field], at(ms), ExpireCondition::Always)
            .unwrap()
    };
    expire(b"laptop", 1_000);
    expire(b"phone", 2_000);
    clock.advance(Duration::from_millis(1_000));
    assert_eq!(store.hash_len(b"devices"), Ok(2), "exact at the deadline");
    assert_eq!(store.hash_get(b"devices", b"laptop"), Ok(None));
    assert_eq!(store.hash_contains(b"devices", b"laptop"), Ok(false));
    assert_eq!(
        store.hash_fields(b"devices"),
        Ok(vec![b"phone".to_vec(), b"tv".to_vec()])
    );
    assert_eq!(store.hash_remove(b"devices", &[b"tv"]), Ok(1));
    clock.advance(Duration::from_millis(1_500));
    // Nothing read the hash since its last field's deadline.
    assert!(!store.exists(b"devices"));
    assert_eq!(store.key_type(b"devices"), None);
    assert!(store.keys_matching(b"*").is_empty());
    assert_eq!(store.stats().bytes_used, 0);
}

#[test]
fn the_expiry_cycle_reaps_fields_and_hashes_nobody_reads() {
    let (store, clock) = manual_store(StoreConfig::default());
    for i in 0..50u32 {
        let key = format!("user:{i}");
        store
            .hash_set(key.as_bytes(), &[(b"keep", b"k"), (b"s1", b"v")])
            .unwrap();
        store
            .hash_expire(key.as_bytes(), &[b"s1"], at(500), ExpireCondition::Always)
            .unwrap();
        let gone = format!("gone:{i}");
        store.hash_set(gone.as_bytes(), &[(b"s", b"v")]).unwrap();
        store
            .hash_expire(gone.as_bytes(), &[b"s"], at(1_500), ExpireCondition::Always)
            .unwrap();
    }
    let full = store.stats().bytes_used;
    clock.advance(Duration::from_millis(1_000));
    let (_, removed) = expire_all(&store);
    assert_eq!(removed, 0, "no key is gone yet");
    let fields_reaped = store.stats().bytes_used;
    assert!(fields_reaped < full, "the fields' bytes are back");
    clock.advance(Duration::from_millis(1_000));
    let (_, removed) = expire_all(&store);
    assert_eq!(removed, 50, "the hashes whose last field expired");
    assert_eq!(store.key_count(), 50);
    assert_eq!(store.hash_len(b"user:7"), Ok(1));
    let bytes = store.stats().bytes_used;
    store.flush_all().unwrap();
    assert!(bytes > 0);
    assert_eq!(
        store.stats().bytes_used,
        0,
        "the meter matches what is held"
    );
}

#[test]
fn memory_drops_within_a_second_of_the_deadlines_without_a_read() {
    // The real clock and the background expiry thread.
    let store = Store::new(StoreConfig::default());
    let empty = store.stats().bytes_used;
    let value = vec![b'x'; 1000];
    for i in 0..200u32 {
        let field = i.to_string();
        store
            .hash_set(b"h", &[(field.as_bytes(), &value[..])])
            .unwrap();
    }
    store.hash_set(b"h", &[(b"stays", b"v")]).unwrap();
    let fields: Vec<Vec<u8>> = (0..200u32).map(|i| i.to_string().into_bytes()).collect();
    let fields: Vec<&[u8]> = fields.iter().map(|f| &f[..]).collect();
    let deadline = store.now_ms() + 300;
    store
        .hash_expire(
            b"h",
            &fields,
            Deadline::AtMs(deadline),
            ExpireCondition::Always,
        )
        .unwrap();
    let full = store.stats().bytes_used;
    assert!(full - empty > 200_000);
    let started = Instant::now();
    while store.stats().bytes_used > empty + 2_000 {
        assert!(
            started.elapsed() < Duration::from_millis(3_000),
            "fields 1 s past their deadline still hold memory: {} bytes",
            store.stats().bytes_used
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // A second, and what a loaded machine adds to the expiry thread's
    // wake-up and to this loop's.
    assert!(
        store.now_ms() <= deadline + 1_800,
        "reaped within about a second of the deadline"
    );
    assert_eq!(store.hash_len(b"h"), Ok(1));
}

#[test]
fn setex_getex_and_getdel_follow_redis_8() {
    let (store, clock) = manual_store(StoreConfig::default());
    let options = |condition, expiry| HashSetOptions { condition, expiry };
    let ex = KeyExpiry::Set(at(2_000));
    assert_eq!(
        store.hash_set_with(b"h", &[(b"a", b"1")], options(SetCondition::IfPresent, ex)),
        Ok(false),
        "FXX on a missing hash"
    );
    assert!(!store.exists(b"h"));
    assert_eq!(
        store.hash_set_with(
            b"h",
            &[(b"a", b"1"), (b"b", b"2")],
            options(SetCondition::IfAbsent, ex)
        ),
        Ok(true)
    );
    assert_eq!(
        store.hash_set_with(
            b"h",
            &[(b"b", b"x"), (b"c", b"3")],
            options(SetCondition::IfAbsent, ex)
        ),
        Ok(false),
        "FNX with one field present"
    );
    let keep = options(SetCondition::IfPresent, KeyExpiry::Keep);
    assert_eq!(store.hash_set_with(b"h", &[(b"a", b"9")], keep), Ok(true));
    let (ttls, _) = store.hash_ttl(b"h", &[b"a"]).unwrap();
    assert_eq!(ttls, [FieldTtl::At(T0_MS + 2_000)], "KEEPTTL");
    let plain = options(SetCondition::Always, KeyExpiry::Persist);
    assert_eq!(store.hash_set_with(b"h", &[(b"b", b"2")], plain), Ok(true));
    let (ttls, _) = store.hash_ttl(b"h", &[b"b"]).unwrap();
    assert_eq!(ttls, [FieldTtl::Persistent], "no option drops the TTL");

    assert_eq!(
        store.hash_get_ex(b"h", &[b"a", b"zz"], KeyExpiry::Persist),
        Ok(vec![Some(b"9".to_vec()), None])
    );
    assert_eq!(
        store.hash_ttl(b"h", &[b"a"]).unwrap().0,
        [FieldTtl::Persistent]
    );
    assert_eq!(
        store.hash_get_ex(b"h", &[b"b"], KeyExpiry::Set(at(500))),
        Ok(vec![Some(b"2".to_vec())])
    );
    clock.advance(Duration::from_millis(500));
    assert_eq!(store.hash_get(b"h", b"b"), Ok(None));
    assert_eq!(
        store.hash_get_ex(b"h", &[b"a"], KeyExpiry::Set(Deadline::AtMs(1))),
        Ok(vec![Some(b"9".to_vec())]),
        "a past time returns the value and deletes the field"
    );
    assert!(!store.exists(b"h"));
    store.hash_set(b"g", &[(b"x", b"1"), (b"y", b"2")]).unwrap();
    assert_eq!(
        store.hash_get_del(b"g", &[b"x", b"x", b"nope"]),
        Ok(vec![Some(b"1".to_vec()), None, None])
    );
    assert_eq!(
        store.hash_get_del(b"g", &[b"y"]),
        Ok(vec![Some(b"2".to_vec())])
    );
    assert!(!store.exists(b"g"));
    assert_eq!(store.stats().bytes_used, 0);
}

#[test]
fn scans_and_random_fields_see_only_live_fields() {
    let (store, clock) = manual_store(StoreConfig::default());
    let names: Vec<String> = (0..1000).map(|i| format!("f{i}")).collect();
    let pairs: Vec<(&[u8], &[u8])> = names.iter().map(|n| (n.as_bytes(), &b"v"[..])).collect();
    store.hash_set(b"big", &pairs).unwrap();
    let doomed: Vec<&[u8]> = names[..500].iter().map(|n| n.as_bytes()).collect();
    store
        .hash_expire(b"big", &doomed, at(100), ExpireCondition::Always)
        .unwrap();
    clock.advance(Duration::from_millis(100));
    let (mut cursor, mut seen, mut steps) = (0, Vec::new(), 0);
    loop {
        let (next, entries) = store.hash_scan(b"big", cursor, 20, None).unwrap();
        seen.extend(entries.into_iter().map(|(f, _)| f));
        steps += 1;
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    assert!(steps > 5);
    seen.sort();
    let mut live: Vec<Vec<u8>> = names[500..]
        .iter()
        .map(|n| n.clone().into_bytes())
        .collect();
    live.sort();
    assert_eq!(seen, live, "every live field once, no expired one");
    let (_, matched) = store.hash_scan(b"big", 0, 10_000, Some(b"f99*")).unwrap();
    assert_eq!(matched.len(), 10, "f990..f999 (f99 expired)");

    let distinct = store.hash_random(b"big", 600).unwrap();
    assert_eq!(distinct.len(), 500, "at most the live fields");
    let some = store.hash_random(b"big", 30).unwrap();
    let mut fields: Vec<_> = some.iter().map(|(f, _)| f.clone()).collect();
    fields.sort();
    fields.dedup();
    assert_eq!(fields.len(), 30, "a positive count draws distinct fields");
    let repeats = store.hash_random(b"big", -2000).unwrap();
    assert_eq!(repeats.len(), 2000);
    assert!(repeats.iter().all(|(f, v)| live.contains(f) && v == b"v"));
    assert_eq!(store.hash_random(b"nope", 5), Ok(Vec::new()));
}

#[test]
fn field_ttls_survive_a_restart_and_expired_fields_stay_gone() {
    let dir = TempDir::new("hash-restart");
    let clock = ManualClock::new(T0_MS);
    let config = StoreConfig {
        background_expiry: false,
        ..StoreConfig::default()
    };
    let open = |compact: bool| {
        let (store, _) = Store::open_with_clock(
            config.clone(),
            PersistConfig::new(dir.path()),
            clock.clone(),
        )
        .unwrap();
        if compact {
            store.compact().unwrap();
        }
        store
    };
    {
        let store = open(false);
        store
            .hash_set(
                b"u",
                &[(b"s1", b"a"), (b"s2", b"b"), (b"s3", b"c"), (b"n", b"1")],
            )
            .unwrap();
        store
            .hash_expire(b"u", &[b"s1"], at(1_000), ExpireCondition::Always)
            .unwrap();
        store
            .hash_expire(b"u", &[b"s2"], at(60_000), ExpireCondition::Always)
            .unwrap();
        store.hash_incr(b"u", b"n", 41).unwrap();
        store.hash_set(b"gone", &[(b"x", b"y")]).unwrap();
        store
            .hash_expire(b"gone", &[b"x"], at(500), ExpireCondition::Always)
            .unwrap();
        store.hash_set(b"deleted", &[(b"x", b"y")]).unwrap();
        store.hash_remove(b"deleted", &[b"x"]).unwrap();
    }
    clock.advance(Duration::from_millis(2_000));
    let check = |store: &Store| {
        assert_eq!(store.hash_len(b"u"), Ok(3));
        assert_eq!(store.hash_get(b"u", b"s1"), Ok(None), "expired while down");
        assert_eq!(store.hash_get(b"u", b"n"), Ok(Some(b"42".to_vec())));
        let (ttls, _) = store.hash_ttl(b"u", &[b"s2", b"s3"]).unwrap();
        assert_eq!(ttls, [FieldTtl::At(T0_MS + 60_000), FieldTtl::Persistent]);
        assert!(!store.exists(b"gone"));
        assert!(!store.exists(b"deleted"));
        assert_eq!(store.key_count(), 1);
    };
    let bytes = {
        let store = open(true);
        check(&store);
        store.stats().bytes_used
    };
    // From the snapshot this time.
    let store = open(false);
    check(&store);
    assert_eq!(
        store.stats().bytes_used,
        bytes,
        "the same accounting either way"
    );
    clock.advance(Duration::from_millis(60_000));
    expire_all(&store);
    assert_eq!(
        store.hash_fields(b"u"),
        Ok(vec![b"n".to_vec(), b"s3".to_vec()])
    );
}

#[test]
fn renaming_a_hash_keeps_its_field_deadlines() {
    let (store, clock) = manual_store(StoreConfig::default());
    store.hash_set(b"a", &[(b"f", b"1"), (b"g", b"2")]).unwrap();
    store
        .hash_expire(b"a", &[b"f"], at(1_000), ExpireCondition::Always)
        .unwrap();
    store.rename(b"a", b"b").unwrap();
    clock.advance(Duration::from_millis(1_000));
    expire_all(&store);
    assert_eq!(store.hash_fields(b"b"), Ok(vec![b"g".to_vec()]));
    store.delete_key(b"b").unwrap();
    assert_eq!(store.stats().bytes_used, 0);
}

#[test]
fn hashes_count_against_the_memory_limit() {
    let config = StoreConfig {
        memory_limit: Some(20_000),
        memory_policy: sessiond::MemoryPolicy::Reject,
        ..StoreConfig::default()
    };
    let (store, _) = manual_store(config);
    let value = vec![b'v'; 1000];
    let mut written = 0;
    let refused = loop {
        let field = written.to_string();
        match store.hash_set(b"h", &[(field.as_bytes(), &value[..])]) {
            Ok(_) => written += 1,
            Err(e) => break e,
        }
        assert!(written < 100, "a 20 kB limit holds no 100 kB of fields");
    };
    assert!(
        matches!(refused, StoreError::OutOfMemory { .. }),
        "{refused:?}"
    );
    assert!(written >= 10, "{written}");
    assert!(store.stats().bytes_used <= 20_000);
    assert_eq!(
        store.hash_len(b"h"),
        Ok(written),
        "the refused write left nothing"
    );
    // A field TTL's bytes are counted too, and given back when it goes.
    let used = store.stats().bytes_used;
    store
        .hash_expire(b"h", &[b"0"], at(1_000), ExpireCondition::Always)
        .unwrap();
    assert!(store.stats().bytes_used > used);
    store.hash_persist(b"h", &[b"0"]).unwrap();
    assert_eq!(store.stats().bytes_used, used);
    store.delete_key(b"h").unwrap();
    assert_eq!(store.stats().bytes_used, 0);
}

/// RENAME and COPY of hashes are logged as one BATCH record (several
/// keys, one change): a restart replays them with the hash's fields and
/// field deadlines, where a batch once could hold strings and sets only.
#[test]
fn renamed_and_copied_hashes_survive_a_restart() {
    let dir = TempDir::new("hash-batch-restart");
    let clock = ManualClock::new(T0_MS);
    let config = StoreConfig {
        background_expiry: false,
        ..StoreConfig::default()
    };
    let open = || {
        let (store, _) = Store::open_with_clock(
            config.clone(),
            PersistConfig::new(dir.path()),
            clock.clone(),
        )
        .unwrap();
        store
    };
    {
        let store = open();
        store.hash_set(b"a", &[(b"f", b"1"), (b"g", b"2")]).unwrap();
        store
            .hash_expire(b"a", &[b"f"], at(60_000), ExpireCondition::Always)
            .unwrap();
        store.rename(b"a", b"b").unwrap();
        assert_eq!(store.copy_key(b"b", b"c", false), Ok(true));
    }
    let store = open();
    assert!(!store.exists(b"a"));
    for key in [&b"b"[..], b"c"] {
        assert_eq!(store.hash_len(key), Ok(2), "{key:?}");
        let (ttls, _) = store.hash_ttl(key, &[b"f", b"g"]).unwrap();
        assert_eq!(ttls, [FieldTtl::At(T0_MS + 60_000), FieldTtl::Persistent]);
    }
    assert_eq!(
        store.object_info(b"c").map(|i| i.encoding),
        Some("listpack")
    );
}
