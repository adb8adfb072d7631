//! The session event log of the embedded store: one event per lifecycle
//! change with the right kind and reason, resumable reads that get each
//! event once and in order, gaps past retention, listeners, and events
//! that survive a restart (and a compaction, and a torn tail).

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sessiond::{
    EndReason, Event, EventKind, EventsGap, Labels, LimitPolicy, ManualClock, MemoryPolicy,
    NewSession, OwnerLimit, PersistConfig, SessionId, Store, StoreConfig, StoreError,
};

use crate::tempdir::TempDir;
use crate::{T0_MS, expire_all, manual_store, secs};

/// Every event kept, oldest first.
fn all(store: &Store) -> Vec<Event> {
    store
        .read_events(0, usize::MAX)
        .expect("no gap from the start")
}

/// The kinds of `events`, as their names (`ended:<reason>` for ends).
fn kinds(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| match &e.kind {
            EventKind::Ended { reason, .. } => format!("ended:{}", reason.name()),
            kind => kind.name().to_string(),
        })
        .collect()
}

fn ended(event: &Event) -> (EndReason, Option<Vec<u8>>) {
    match &event.kind {
        EventKind::Ended { reason, note } => (*reason, note.clone()),
        other => panic!("not an end: {other:?}"),
    }
}

#[test]
fn each_lifecycle_change_logs_one_event_and_reads_and_touches_none() {
    let (store, clock) = manual_store(StoreConfig::default());
    let labels = Labels::new().with("ua", "Firefox");
    let id = store
        .create(NewSession::new("alice").labels(labels.clone()))
        .unwrap();
    store.get(&id).unwrap();
    store.peek(&id).unwrap();
    clock.advance(secs(5));
    store.touch(&id).unwrap();
    store.update(&id, b"cart=1", None).unwrap();
    let new_id = store.rotate(&id).unwrap();
    assert!(store.delete_with_note(&new_id, Some(b"logout")).unwrap());
    assert!(
        !store.delete(&new_id).unwrap(),
        "a second delete ends nothing"
    );

    let events = all(&store);
    assert_eq!(
        kinds(&events),
        ["created", "updated", "rotated", "ended:deleted"]
    );
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    for event in &events {
        assert_eq!(event.owner, b"alice");
        assert_eq!(event.labels, labels, "every event repeats the labels");
    }
    assert_eq!(events[0].id, id);
    assert_eq!(events[0].at_ms, T0_MS);
    assert_eq!(events[1].at_ms, T0_MS + 5000);
    assert_eq!(events[2].id, id, "a rotation names the old id");
    assert_eq!(events[2].kind, EventKind::Rotated { new_id });
    assert_eq!(events[3].id, new_id);
    assert_eq!(
        ended(&events[3]),
        (EndReason::Deleted, Some(b"logout".to_vec()))
    );
}

#[test]
fn delete_owner_ends_each_session_with_its_note_and_keeps_the_one_kept() {
    let (store, _clock) = manual_store(StoreConfig::default());
    let ids: Vec<SessionId> = (0..3)
        .map(|_| store.create(NewSession::new("bob")).unwrap())
        .collect();
    store.create(NewSession::new("carol")).unwrap();
    let ended_now = store
        .delete_owner_with_note(b"bob", Some(&ids[0]), Some(b"kick"))
        .unwrap();
    assert_eq!(ended_now, 2);
    let ends: Vec<Event> = all(&store).into_iter().skip(4).collect();
    assert_eq!(ends.len(), 2);
    let mut gone: Vec<SessionId> = ends.iter().map(|e| e.id).collect();
    gone.sort();
    let mut expected = ids[1..].to_vec();
    expected.sort();
    assert_eq!(gone, expected);
    for end in &ends {
        assert_eq!(
            ended(end),
            (EndReason::OwnerDeleted, Some(b"kick".to_vec()))
        );
    }
    assert_eq!(store.delete_owner(b"carol", None).unwrap(), 1);
    assert_eq!(
        ended(all(&store).last().unwrap()),
        (EndReason::OwnerDeleted, None)
    );
}

#[test]
fn a_note_longer_than_the_bound_is_refused_and_nothing_ends() {
    let (store, _clock) = manual_store(StoreConfig::default());
    let id = store.create(NewSession::new("alice")).unwrap();
    let long = vec![b'n'; sessiond::MAX_EVENT_NOTE + 1];
    assert!(matches!(
        store.delete_with_note(&id, Some(&long)),
        Err(StoreError::TooLarge { max: 256, .. })
    ));
    assert!(
        store
            .delete_owner_with_note(b"alice", None, Some(&long))
            .is_err()
    );
    assert!(store.peek(&id).is_ok());
    assert_eq!(all(&store).len(), 1);
    let fits = vec![b'n'; sessiond::MAX_EVENT_NOTE];
    assert!(store.delete_with_note(&id, Some(&fits)).unwrap());
    assert_eq!(ended(&all(&store)[1]).1, Some(fits));
}

#[test]
fn the_owner_limit_ends_the_oldest_session_as_limit_evicted() {
    let limit = OwnerLimit {
        max_sessions: 2,
        policy: LimitPolicy::EvictOldest,
    };
    let (store, clock) = manual_store(StoreConfig {
        owner_limit: Some(limit),
        ..StoreConfig::default()
    });
    let oldest = store.create(NewSession::new("dave")).unwrap();
    clock.advance(secs(1));
    store.create(NewSession::new("dave")).unwrap();
    clock.advance(secs(1));
    store.create(NewSession::new("dave")).unwrap();
    let events = all(&store);
    assert_eq!(
        kinds(&events),
        ["created", "created", "ended:limit_evicted", "created"]
    );
    assert_eq!(events[2].id, oldest);
}

#[test]
fn memory_eviction_ends_sessions_as_memory_evicted() {
    let (store, clock) = manual_store(StoreConfig {
        memory_limit: Some(4_000),
        memory_policy: MemoryPolicy::EvictNearestDeadline,
        ..StoreConfig::default()
    });
    let mut made = 0;
    while store.stats().evicted_sessions == 0 {
        assert!(
            made < 100,
            "4 kB holds fewer than 100 sessions of 500 bytes"
        );
        clock.advance(secs(1));
        store
            .create(NewSession::new(format!("u{made}")).data(vec![0; 500]))
            .unwrap();
        made += 1;
    }
    let events = all(&store);
    let evicted: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Ended { .. }))
        .collect();
    assert_eq!(evicted.len() as u64, store.stats().evicted_sessions);
    for event in evicted {
        assert_eq!(ended(event).0, EndReason::MemoryEvicted);
    }
}

#[test]
fn expiry_ends_sessions_with_the_deadline_that_came_first() {
    let (store, clock) = manual_store(StoreConfig::default());
    let idle = store
        .create(NewSession::new("e").idle_timeout(secs(10)))
        .unwrap();
    let absolute = store
        .create(
            NewSession::new("e")
                .idle_timeout(secs(60))
                .absolute_lifetime(secs(20)),
        )
        .unwrap();
    clock.advance(secs(11));
    assert_eq!(expire_all(&store).0, 1);
    // Kept busy, it still reaches its absolute lifetime.
    store.get(&absolute).unwrap();
    clock.advance(secs(10));
    assert_eq!(expire_all(&store).0, 1);
    let events = all(&store);
    assert_eq!(events[2].id, idle);
    assert_eq!(ended(&events[2]).0, EndReason::IdleExpired);
    assert_eq!(events[2].at_ms, T0_MS + 11_000);
    assert_eq!(events[3].id, absolute);
    assert_eq!(ended(&events[3]).0, EndReason::AbsoluteExpired);
}

#[test]
fn a_session_found_expired_by_a_delete_ends_as_expired() {
    let (store, clock) = manual_store(StoreConfig::default());
    let id = store
        .create(NewSession::new("f").idle_timeout(secs(10)))
        .unwrap();
    clock.advance(secs(11));
    assert!(!store.delete(&id).unwrap(), "no live session was deleted");
    assert_eq!(ended(&all(&store)[1]).0, EndReason::IdleExpired);
    assert_eq!(expire_all(&store).0, 0, "and it ends once only");
    assert_eq!(all(&store).len(), 2);
}

/// Waits up to 10 s for the background thread to log `n` events.
fn wait_for_events(store: &Store, n: usize) -> Vec<Event> {
    let started = Instant::now();
    loop {
        let events = all(store);
        if events.len() >= n {
            return events;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "waited 10 s for {n} events, have {events:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn idle_and_absolute_expiry_are_reported_within_their_second_with_no_read() {
    // The background thread alone; the clock stands still at the first
    // second both sessions are dead in, so the events' times say when
    // the sweep saw them.
    let clock = ManualClock::new(T0_MS);
    let store = Store::with_clock(StoreConfig::default(), clock.clone());
    store
        .create(NewSession::new("g").idle_timeout(secs(30)))
        .unwrap();
    store
        .create(
            NewSession::new("g")
                .idle_timeout(secs(600))
                .absolute_lifetime(secs(30)),
        )
        .unwrap();
    clock.advance(secs(31));
    let events = wait_for_events(&store, 4);
    let mut reasons: Vec<EndReason> = events[2..].iter().map(|e| ended(e).0).collect();
    reasons.sort_by_key(|r| r.code());
    assert_eq!(
        reasons,
        [EndReason::IdleExpired, EndReason::AbsoluteExpired]
    );
    for event in &events[2..] {
        let deadline_ms = T0_MS + 30_000;
        assert!(
            event.at_ms > deadline_ms && event.at_ms <= deadline_ms + 1000,
            "ended at {} ms past the deadline",
            event.at_ms - deadline_ms
        );
    }
}

#[test]
fn flushall_ends_every_session_as_deleted() {
    let (store, _clock) = manual_store(StoreConfig::default());
    store.create(NewSession::new("h")).unwrap();
    store.create(NewSession::new("i")).unwrap();
    store.flush_all().unwrap();
    assert_eq!(
        kinds(&all(&store)),
        ["created", "created", "ended:deleted", "ended:deleted"]
    );
}

#[test]
fn a_reader_resuming_after_its_last_seq_gets_every_event_once_in_order() {
    let (store, _clock) = manual_store(StoreConfig::default());
    let mut seen: Vec<u64> = Vec::new();
    let mut after = 0;
    for round in 0..20 {
        for _ in 0..7 {
            let id = store.create(NewSession::new(format!("r{round}"))).unwrap();
            if round % 2 == 0 {
                store.delete(&id).unwrap();
            }
        }
        // Read in chunks of 3, resuming after the last seq handled.
        loop {
            let batch = store.read_events(after, 3).unwrap();
            if batch.is_empty() {
                break;
            }
            after = batch.last().unwrap().seq;
            seen.extend(batch.iter().map(|e| e.seq));
        }
    }
    let total = 20 * 7 + 10 * 7;
    assert_eq!(seen, (1..=total).collect::<Vec<u64>>());
    assert_eq!(store.events_info().last_seq, total);
}

#[test]
fn retention_by_count_drops_the_oldest_and_a_reader_behind_them_gets_a_gap() {
    let (store, _clock) = manual_store(StoreConfig {
        events_max: 5,
        ..StoreConfig::default()
    });
    for _ in 0..8 {
        store.create(NewSession::new("j")).unwrap();
    }
    let info = store.events_info();
    assert_eq!(
        (info.len, info.first_seq, info.last_seq, info.dropped),
        (5, 4, 8, 3)
    );
    assert_eq!(
        store.read_events(0, 10).unwrap_err(),
        EventsGap {
            after: 0,
            oldest_kept: 4
        }
    );
    assert_eq!(
        store.read_events(2, 10).unwrap_err().oldest_kept,
        4,
        "event 3 is lost to a reader after 2"
    );
    let rest: Vec<u64> = store
        .read_events(3, 10)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(rest, [4, 5, 6, 7, 8], "after 3 nothing was lost");
}

#[test]
fn retention_by_age_drops_old_events_and_reports_the_gap() {
    let (store, clock) = manual_store(StoreConfig {
        events_max_age: Some(secs(60)),
        ..StoreConfig::default()
    });
    store.create(NewSession::new("k")).unwrap();
    clock.advance(secs(30));
    store.create(NewSession::new("k")).unwrap();
    clock.advance(secs(31));
    let kept: Vec<u64> = store
        .read_events(1, 10)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(kept, [2]);
    assert_eq!(store.read_events(0, 10).unwrap_err().oldest_kept, 2);
    clock.advance(secs(60));
    assert!(
        store.read_events(2, 10).unwrap().is_empty(),
        "all read: no gap"
    );
    assert_eq!(store.read_events(1, 10).unwrap_err().oldest_kept, 3);
    let info = store.events_info();
    assert_eq!((info.len, info.last_seq, info.dropped), (0, 2, 2));
}

#[test]
fn retention_by_bytes_bounds_the_log_whatever_the_labels() {
    let (store, _clock) = manual_store(StoreConfig {
        events_max_bytes: 10_000,
        ..StoreConfig::default()
    });
    let big = Labels::new().with("ua", "x".repeat(1000));
    for _ in 0..50 {
        store
            .create(NewSession::new("l").labels(big.clone()))
            .unwrap();
    }
    let info = store.events_info();
    assert!(info.bytes <= 10_000, "{info:?}");
    assert!(info.len >= 5 && info.len < 50, "{info:?}");
    assert_eq!(info.dropped as usize + info.len, 50);
}

#[test]
fn with_the_log_off_nothing_is_kept_and_reads_are_empty() {
    let (store, _clock) = manual_store(StoreConfig {
        events_max: 0,
        ..StoreConfig::default()
    });
    let id = store.create(NewSession::new("m")).unwrap();
    store.delete(&id).unwrap();
    assert!(store.read_events(0, 10).unwrap().is_empty());
    assert_eq!(store.events_info(), sessiond::EventsInfo::default());
}

#[test]
fn ranges_read_forward_and_backward_within_bounds() {
    let (store, _clock) = manual_store(StoreConfig::default());
    for _ in 0..6 {
        store.create(NewSession::new("n")).unwrap();
    }
    let seqs = |events: Vec<Event>| events.iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(seqs(store.events_range(2, 4, 10, false)), [2, 3, 4]);
    assert_eq!(seqs(store.events_range(0, u64::MAX, 2, true)), [6, 5]);
    assert_eq!(seqs(store.events_range(5, 2, 10, false)), Vec::<u64>::new());
    assert_eq!(seqs(store.events_range(6, 99, 10, false)), [6]);
}

#[test]
fn listeners_hear_the_newest_seq_after_each_change() {
    let (store, clock) = manual_store(StoreConfig::default());
    let heard = Arc::new(AtomicU64::new(0));
    let calls = Arc::new(AtomicU64::new(0));
    let (h, c) = (Arc::clone(&heard), Arc::clone(&calls));
    let reader = store.clone();
    store.on_events(Arc::new(move |seq| {
        // A listener may read the store: no store lock is held.
        assert!(reader.read_events(seq - 1, 1).unwrap().len() == 1);
        h.store(seq, Ordering::SeqCst);
        c.fetch_add(1, Ordering::SeqCst);
    }));
    let id = store
        .create(NewSession::new("o").idle_timeout(secs(10)))
        .unwrap();
    assert_eq!(heard.load(Ordering::SeqCst), 1);
    store.get(&id).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1, "a read logs nothing");
    clock.advance(secs(11));
    expire_all(&store);
    assert_eq!(heard.load(Ordering::SeqCst), 2, "expiry is announced too");
}

fn persisted() -> StoreConfig {
    StoreConfig {
        background_expiry: false,
        ..StoreConfig::default()
    }
}

fn open(dir: &Path, clock: &ManualClock) -> Store {
    Store::open_with_clock(persisted(), PersistConfig::new(dir), clock.clone())
        .expect("opens")
        .0
}

/// Creates, updates, rotates, deletes with a note and expires one
/// session each: one event of every kind.
fn one_of_each(store: &Store, clock: &ManualClock) {
    let a = store.create(NewSession::new("p")).unwrap();
    store.update(&a, b"x", None).unwrap();
    let b = store.rotate(&a).unwrap();
    store.delete_with_note(&b, Some(b"revoke")).unwrap();
    store
        .create(NewSession::new("q").idle_timeout(secs(5)))
        .unwrap();
    clock.advance(secs(6));
    expire_all(store);
}

#[test]
fn events_survive_a_restart_and_seqs_go_on_after_it() {
    let dir = TempDir::new("events-restart");
    let clock = ManualClock::new(T0_MS);
    let before = {
        let store = open(dir.path(), &clock);
        one_of_each(&store, &clock);
        all(&store)
    };
    assert_eq!(before.len(), 6);
    let store = open(dir.path(), &clock);
    assert_eq!(all(&store), before, "the same events, seqs and notes");
    store.create(NewSession::new("r")).unwrap();
    assert_eq!(all(&store).last().unwrap().seq, 7, "seqs are never reused");
    drop(store);
    let store = open(dir.path(), &clock);
    assert_eq!(all(&store).len(), 7, "an expiry is not logged again");
}

#[test]
fn events_survive_a_compaction_and_the_next_seq_survives_retention() {
    let dir = TempDir::new("events-compact");
    let clock = ManualClock::new(T0_MS);
    let before = {
        let store = open(dir.path(), &clock);
        one_of_each(&store, &clock);
        store.compact().unwrap().expect("on disk");
        store.create(NewSession::new("s")).unwrap();
        all(&store)
    };
    let store = open(dir.path(), &clock);
    assert_eq!(all(&store), before);
    drop(store);
    // A day on, every event has aged out; "s" idled out meanwhile, and
    // its end is the one event kept.
    clock.advance(secs(25 * 3600));
    let store = open(dir.path(), &clock);
    assert_eq!(
        kinds(&store.read_events(7, 10).unwrap()),
        ["ended:idle_expired"]
    );
    assert_eq!(store.read_events(0, 10).unwrap_err().oldest_kept, 8);
    store.compact().unwrap();
    drop(store);
    // Another day: nothing is kept, but the snapshot knows the next seq.
    clock.advance(secs(25 * 3600));
    let store = open(dir.path(), &clock);
    let info = store.events_info();
    assert_eq!(
        (info.len, info.last_seq, info.dropped),
        (0, 8, 8),
        "{info:?}"
    );
    assert_eq!(store.read_events(0, 10).unwrap_err().oldest_kept, 9);
    store.create(NewSession::new("t")).unwrap();
    let next: Vec<u64> = store
        .read_events(8, 10)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(next, [9]);
}

#[test]
fn sessions_that_expired_while_the_store_was_down_end_once() {
    let dir = TempDir::new("events-downtime");
    let clock = ManualClock::new(T0_MS);
    let id = {
        let store = open(dir.path(), &clock);
        store
            .create(NewSession::new("u").idle_timeout(secs(10)))
            .unwrap()
    };
    clock.advance(secs(20));
    let first = {
        let store = open(dir.path(), &clock);
        let events = all(&store);
        assert_eq!(kinds(&events), ["created", "ended:idle_expired"]);
        assert_eq!(events[1].id, id);
        events
    };
    let store = open(dir.path(), &clock);
    assert_eq!(all(&store), first, "the end is journaled: not logged again");
    store.create(NewSession::new("v")).unwrap();
    assert_eq!(all(&store)[2].seq, 3);
}

#[test]
fn a_torn_event_record_loses_only_the_change_it_belongs_to() {
    let dir = TempDir::new("events-torn");
    let clock = ManualClock::new(T0_MS);
    let (kept, id) = {
        let store = open(dir.path(), &clock);
        store.create(NewSession::new("w")).unwrap();
        let kept = all(&store);
        let id = store.create(NewSession::new("w")).unwrap();
        (kept, id)
    };
    let log = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".aof"))
        .expect("a log");
    let bytes = fs::read(&log).unwrap();
    // The second create's event is the last record: cut it in half.
    fs::write(&log, &bytes[..bytes.len() - 20]).unwrap();
    let store = open(dir.path(), &clock);
    assert_eq!(all(&store), kept);
    // Its session record came before the event in the same append, and
    // survives the cut: the session is there, its event lost with the
    // write that was never acknowledged. Seqs go on from what is kept.
    assert!(store.peek(&id).is_ok());
    store.create(NewSession::new("w")).unwrap();
    assert_eq!(all(&store).last().unwrap().seq, 2);
}

#[test]
fn writes_replayed_alike_on_two_nodes_log_the_same_events() {
    let (leader, _) = manual_store(StoreConfig::default());
    let (follower, _) = manual_store(StoreConfig::default());
    let ids = [SessionId::random(), SessionId::random()];
    for node in [&leader, &follower] {
        node.replay(T0_MS + 5, &ids[..1], || node.create(NewSession::new("x")))
            .unwrap();
        node.replay(T0_MS + 9, &ids[1..], || node.rotate(&ids[0]))
            .unwrap();
        node.replay(T0_MS + 12, &[], || {
            node.delete_with_note(&ids[1], Some(b"bye"))
        })
        .unwrap();
    }
    let events = all(&leader);
    assert_eq!(events, all(&follower), "the same seqs, times and contents");
    let times: Vec<u64> = events.iter().map(|e| e.at_ms).collect();
    assert_eq!(
        times,
        [T0_MS + 5, T0_MS + 9, T0_MS + 12],
        "the leader's times"
    );
}

/// What the log counts per event: its packed image (56 bytes of header,
/// the owner, the packed labels, the note) and 32 bytes of slot and
/// allocator overhead. Prints the figure for a typical login session
/// (docs/events.md quotes it): run with `-- --nocapture`.
#[test]
fn bytes_per_event_are_the_image_and_a_fixed_overhead() {
    let (store, _clock) = manual_store(StoreConfig::default());
    let (ua, ip) = ("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0", "192.0.2.7");
    let labels = Labels::new().with("ua", ua).with("ip", ip);
    // Per label: u8 key length, key, u16 value length, value.
    let packed_labels = (1 + 2 + 2 + ua.len()) + (1 + 2 + 2 + ip.len());
    let owner = "user:1234567";
    let id = store
        .create(NewSession::new(owner).labels(labels.clone()))
        .unwrap();
    let created = store.events_info().bytes;
    assert_eq!(created as usize, 56 + owner.len() + packed_labels + 32);
    store.delete_with_note(&id, Some(b"logout")).unwrap();
    let ended = store.events_info().bytes - created;
    assert_eq!(ended, created + 6, "the note is the only difference");
    eprintln!(
        "bytes per event: {created} (owner {} B, labels {packed_labels} B packed, no note)",
        owner.len()
    );
}
