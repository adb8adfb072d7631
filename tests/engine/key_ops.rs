//! The string, key and set operations added for the Redis face's rest of
//! strings, keys and sets: their results after a restart (with the BATCH
//! record of multi-key writes), atomicity under concurrent readers, exact
//! memory accounting, and SPOP's choice being a function of its drawn id.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sessiond::{
    FloatError, KeyDeadline, ManualClock, PersistConfig, SessionId, SetOp, Store, StoreConfig,
    StoreError,
};

use crate::tempdir::TempDir;
use crate::{T0_MS, manual_store};

fn config() -> StoreConfig {
    StoreConfig {
        background_expiry: false,
        ..StoreConfig::default()
    }
}

fn open(dir: &TempDir, clock: &ManualClock) -> Store {
    Store::open_with_clock(config(), PersistConfig::new(dir.path()), clock.clone())
        .expect("opens")
        .0
}

fn members(store: &Store, key: &[u8]) -> Vec<Vec<u8>> {
    store.set_members(key).unwrap()
}

fn bytes(items: &[&str]) -> Vec<Vec<u8>> {
    items.iter().map(|s| s.as_bytes().to_vec()).collect()
}

#[test]
fn every_new_write_comes_back_after_a_restart() {
    let dir = TempDir::new("key-ops");
    let clock = ManualClock::new(T0_MS);
    let popped;
    {
        let store = open(&dir, &clock);
        assert_eq!(store.append(b"s", b"hello").unwrap(), 5);
        assert_eq!(store.append(b"s", b" world").unwrap(), 11);
        assert_eq!(store.set_range(b"s", 0, b"J").unwrap(), 11);
        assert_eq!(store.set_range(b"pad", 2, b"x").unwrap(), 3);
        assert_eq!(store.incr_by_float(b"f", b"0.1").unwrap(), b"0.1");
        assert_eq!(store.incr_by_float(b"f", b"0.2").unwrap(), b"0.3");
        assert!(
            store
                .set_many_if_absent(&[(b"m1", b"1"), (b"m2", b"2")])
                .unwrap()
        );
        assert!(
            !store
                .set_many_if_absent(&[(b"m2", b"x"), (b"m3", b"3")])
                .unwrap()
        );
        store
            .expire_key(b"m1", Some(Duration::from_secs(100)))
            .unwrap();
        assert!(store.rename_with(b"m1", b"r1", true).unwrap());
        assert!(store.copy_key(b"r1", b"c1", false).unwrap());
        store.set_add(b"a", &[b"1", b"2", b"3"]).unwrap();
        store.set_add(b"b", &[b"2", b"3", b"4"]).unwrap();
        assert!(store.set_move(b"a", b"b", b"1").unwrap());
        assert_eq!(
            store
                .set_combine_store(SetOp::Inter, b"i", &[b"a", b"b"])
                .unwrap(),
            2
        );
        store.set_add(b"p", &[b"x", b"y", b"z"]).unwrap();
        popped = store.set_pop(b"p", Some(2)).unwrap();
        assert_eq!(popped.len(), 2);
        // A snapshot in the middle: what came before is in it, what comes
        // after in the new log.
        assert!(store.compact().unwrap().is_some());
        store.set_add(b"gone", &[b"only"]).unwrap();
        assert!(store.set_move(b"gone", b"b", b"only").unwrap());
        assert!(
            store
                .set_many_if_absent(&[(b"late1", b"x"), (b"late2", b"y")])
                .unwrap()
        );
    }
    let store = open(&dir, &clock);
    assert_eq!(store.get_key(b"s").unwrap(), b"Jello world");
    assert_eq!(store.get_key(b"pad").unwrap(), b"\0\0x");
    assert_eq!(store.get_key(b"f").unwrap(), b"0.3");
    assert_eq!(store.get_key(b"m2").unwrap(), b"2");
    assert!(!store.exists(b"m1") && !store.exists(b"m3"));
    assert_eq!(store.get_key(b"r1").unwrap(), b"1");
    for key in [&b"r1"[..], b"c1"] {
        assert_eq!(store.key_deadline(key), KeyDeadline::AtMs(T0_MS + 100_000));
    }
    assert_eq!(members(&store, b"a"), bytes(&["2", "3"]));
    assert_eq!(members(&store, b"b"), bytes(&["1", "2", "3", "4", "only"]));
    assert_eq!(members(&store, b"i"), bytes(&["2", "3"]));
    assert!(!store.exists(b"gone"), "an emptied source stays deleted");
    assert_eq!(store.get_key(b"late2").unwrap(), b"y");
    let left = members(&store, b"p");
    assert_eq!(left.len(), 1);
    assert!(!popped.contains(&left[0]));
}

#[test]
fn multi_key_writes_are_atomic_to_multi_key_readers() {
    let (store, _clock) = manual_store(StoreConfig {
        shards: 64,
        ..StoreConfig::default()
    });
    let keys: Vec<Vec<u8>> = (0..8).map(|i| format!("set:{i}").into_bytes()).collect();
    let all: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let total = 200;
    for m in 0..total {
        let member = format!("m{m}");
        store
            .set_add(&keys[m % keys.len()], &[member.as_bytes()])
            .unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let movers: Vec<_> = (0..2)
        .map(|t| {
            let (store, keys, stop) = (store.clone(), keys.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut n = t;
                while !stop.load(Ordering::Relaxed) {
                    let member = format!("m{}", n % total);
                    let from = &keys[n % keys.len()];
                    let to = &keys[(n * 7 + 3) % keys.len()];
                    let _ = store.set_move(from, to, member.as_bytes());
                    n += 1;
                }
            })
        })
        .collect();
    for _ in 0..2_000 {
        let union = store.set_combine(SetOp::Union, &all).unwrap();
        assert_eq!(union.len(), total, "a member was seen in no set or twice");
    }
    stop.store(true, Ordering::Relaxed);
    for mover in movers {
        mover.join().unwrap();
    }
}

#[test]
fn mset_and_del_are_seen_whole_by_mget() {
    let (store, _clock) = manual_store(StoreConfig {
        shards: 64,
        ..StoreConfig::default()
    });
    let keys: Vec<Vec<u8>> = (0..8).map(|i| format!("str:{i}").into_bytes()).collect();
    let all: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    // Every key set to `n` by one MSET.
    let write = {
        let keys = keys.clone();
        move |store: &Store, n: usize| {
            let value = n.to_string();
            let pairs: Vec<(&[u8], &[u8])> = keys
                .iter()
                .map(|k| (k.as_slice(), value.as_bytes()))
                .collect();
            store.set_many(&pairs).unwrap();
        }
    };
    write(&store, 0);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, stop) = (store.clone(), Arc::clone(&stop));
        let write = write.clone();
        std::thread::spawn(move || {
            let mut n = 1;
            while !stop.load(Ordering::Relaxed) {
                write(&store, n);
                n += 1;
            }
        })
    };
    for _ in 0..20_000 {
        let values = store.get_many(&all);
        assert!(values[0].is_some());
        assert!(
            values.iter().all(|v| *v == values[0]),
            "an MSET was seen half done: {values:?}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    // DEL of several keys is seen whole too.
    let stop = Arc::new(AtomicBool::new(false));
    let deleter = {
        let (store, stop, keys) = (store.clone(), Arc::clone(&stop), keys.clone());
        std::thread::spawn(move || {
            let all: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                write(&store, n);
                assert_eq!(store.delete_keys(&all).unwrap(), all.len());
                n += 1;
            }
        })
    };
    for _ in 0..20_000 {
        let values = store.get_many(&all);
        assert!(
            values.iter().all(|v| *v == values[0]),
            "a DEL was seen half done: {values:?}"
        );
        let existing = store.count_existing(&all);
        assert!(
            existing == 0 || existing == all.len(),
            "EXISTS counted half an MSET or DEL: {existing}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    deleter.join().unwrap();
    assert_eq!(store.delete_keys(&[b"str:0", b"str:0", b"none"]), Ok(0));
    // A key of another type is replaced, and MGET answers null for one.
    store.set_add(b"set", &[b"m"]).unwrap();
    assert_eq!(store.get_many(&[b"set"]), [None]);
    store.set_many(&[(b"set", b"now a string")]).unwrap();
    assert_eq!(
        store.get_many(&[b"set", b"nope"]),
        [Some(b"now a string".to_vec()), None]
    );
}

#[test]
fn the_meter_charges_exactly_what_the_keys_hold() {
    let (store, _clock) = manual_store(StoreConfig::default());
    store.append(b"s", b"abc").unwrap();
    store.append(b"s", b"defgh").unwrap();
    store.set_range(b"s", 20, b"!").unwrap();
    store.incr_by_float(b"f", b"1.5").unwrap();
    store.incr_by_float(b"f", b"1e10").unwrap();
    store
        .set_many_if_absent(&[(b"a", b"1"), (b"b", b"22"), (b"a", b"333")])
        .unwrap();
    store.rename_with(b"a", b"a-longer-name", false).unwrap();
    store.copy_key(b"b", b"bb", false).unwrap();
    store.copy_key(b"s", b"bb", true).unwrap();
    store.set_add(b"x", &[b"1", b"2", b"3", b"4"]).unwrap();
    store.set_add(b"y", &[b"3", b"4", b"5"]).unwrap();
    store.set_move(b"x", b"z", b"1").unwrap();
    store.set_move(b"x", b"y", b"2").unwrap();
    store.set_pop(b"y", Some(1)).unwrap();
    store
        .set_combine_store(SetOp::Union, b"u", &[b"x", b"y", b"z"])
        .unwrap();
    store
        .set_combine_store(SetOp::Diff, b"u", &[b"u", b"x"])
        .unwrap();
    store
        .set_combine_store(SetOp::Inter, b"none", &[b"x", b"missing"])
        .unwrap();
    store.copy_key(b"u", b"u2", false).unwrap();
    let keys = store.keys_matching(b"*");
    let held: usize = keys.iter().map(|k| store.key_memory(k).unwrap()).sum();
    assert_eq!(store.stats().bytes_used, held as u64);
    for key in &keys {
        store.delete_key(key).unwrap();
    }
    assert_eq!(store.stats().bytes_used, 0);
}

#[test]
fn string_edits_follow_redis() {
    let (store, _clock) = manual_store(StoreConfig::default());
    store.set_add(b"set", &[b"m"]).unwrap();
    assert_eq!(store.append(b"set", b"x"), Err(StoreError::WrongType));
    assert_eq!(
        store.incr_by_float(b"set", b"1"),
        Err(FloatError::Store(StoreError::WrongType))
    );
    store.set_key(b"w", b"word", None).unwrap();
    assert_eq!(store.incr_by_float(b"w", b"1"), Err(FloatError::NotAFloat));
    assert_eq!(store.incr_by_float(b"n", b"x"), Err(FloatError::NotAFloat));
    assert!(!store.exists(b"n"), "a refused increment creates nothing");
    assert_eq!(
        store.incr_by_float(b"n", b"inf"),
        Err(FloatError::NanOrInfinity)
    );
    assert_eq!(store.get_range(b"w", 1, -2).unwrap(), b"or");
    assert_eq!(store.get_range(b"w", -1, -3).unwrap(), b"");
    assert_eq!(store.set_range(b"empty", 10, b"").unwrap(), 0);
    assert!(!store.exists(b"empty"));
    let limit = store.config().max_data_bytes;
    assert!(matches!(
        store.set_range(b"big", limit, b"x"),
        Err(StoreError::TooLarge { .. })
    ));
}

#[test]
fn spop_picks_by_its_drawn_id_so_every_node_pops_the_same() {
    let id = SessionId::random();
    let popped: Vec<Vec<Vec<u8>>> = (0..2)
        .map(|_| {
            let (store, _clock) = manual_store(StoreConfig::default());
            let many: Vec<String> = (0..100).map(|i| format!("member-{i}")).collect();
            let many: Vec<&[u8]> = many.iter().map(|m| m.as_bytes()).collect();
            store.set_add(b"s", &many).unwrap();
            store.replay(T0_MS, &[id], || store.set_pop(b"s", Some(10)).unwrap())
        })
        .collect();
    assert_eq!(popped[0].len(), 10);
    assert_eq!(popped[0], popped[1]);
    let (store, _clock) = manual_store(StoreConfig::default());
    let many: Vec<String> = (0..100).map(|i| format!("member-{i}")).collect();
    let many: Vec<&[u8]> = many.iter().map(|m| m.as_bytes()).collect();
    store.set_add(b"s", &many).unwrap();
    let other = store.replay(T0_MS, &[SessionId::random()], || {
        store.set_pop(b"s", Some(10)).unwrap()
    });
    assert_ne!(other, popped[0], "another id, another choice");
}

#[test]
fn random_key_finds_the_one_live_key_among_expired_ones() {
    let (store, clock) = manual_store(StoreConfig::default());
    assert_eq!(store.random_key(), None);
    for i in 0..500 {
        store
            .set_key(
                format!("k{i}").as_bytes(),
                b"v",
                Some(Duration::from_secs(1)),
            )
            .unwrap();
    }
    store.set_key(b"live", b"v", None).unwrap();
    clock.advance(Duration::from_secs(2));
    for _ in 0..20 {
        assert_eq!(store.random_key().as_deref(), Some(&b"live"[..]));
    }
}

#[test]
fn many_pairs_and_repeated_keys_cost_linear_time() {
    let (store, _clock) = manual_store(StoreConfig::default());
    let names: Vec<String> = (0..50_000).map(|i| format!("k{i}")).collect();
    let pairs: Vec<(&[u8], &[u8])> = names.iter().map(|n| (n.as_bytes(), &b"v"[..])).collect();
    let started = std::time::Instant::now();
    assert!(store.set_many_if_absent(&pairs).unwrap());
    let members: Vec<&[u8]> = names.iter().map(|n| n.as_bytes()).collect();
    store.set_add(b"big", &members).unwrap();
    let repeated: Vec<&[u8]> = std::iter::repeat_n(&b"big"[..], 50_000).collect();
    assert_eq!(
        store.set_combine(SetOp::Union, &repeated).unwrap().len(),
        50_000
    );
    assert_eq!(store.set_inter_card(&repeated, 0).unwrap(), 50_000);
    assert!(
        store
            .set_combine(SetOp::Diff, &repeated)
            .unwrap()
            .is_empty()
    );
    // Quadratic work here would take minutes; linear takes well under one
    // second, even unoptimised.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn random_reads_in_a_replay_leave_its_drawn_ids_to_the_writes() {
    let (store, _clock) = manual_store(StoreConfig::default());
    store.set_add(b"s", &[b"a", b"b", b"c"]).unwrap();
    store.set_key(b"k", b"v", None).unwrap();
    let drawn = SessionId::random();
    let created = store.replay(T0_MS, &[drawn], || {
        assert_eq!(store.set_random_members(b"s", Some(-5)).unwrap().len(), 5);
        assert!(store.random_key().is_some());
        store.create(sessiond::NewSession::new(b"owner".to_vec()))
    });
    assert_eq!(created.unwrap(), drawn);
}
