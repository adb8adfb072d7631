//! Consumer groups over the event log, embedded: each event goes to one
//! consumer and stays pending until acknowledged; history, claims and
//! auto-claims deliver pending entries again; an entry whose event
//! retention dropped is delivered as deleted; a group behind retention
//! is told of the gap; and all of it survives a restart, a compaction
//! and a restart after it.

use std::path::Path;

use sessiond::{
    ClaimOptions, EventPos, GroupError, GroupStart, ManualClock, NewSession, PersistConfig, Store,
    StoreConfig,
};

use crate::tempdir::TempDir;
use crate::{manual_store, secs};

fn pos_of(event: &sessiond::Event) -> EventPos {
    EventPos {
        ms: event.at_ms,
        seq: event.seq,
    }
}

fn create_n(store: &Store, n: usize) {
    for i in 0..n {
        store.create(NewSession::new(format!("user:{i}"))).unwrap();
    }
}

const FROM_START: GroupStart = GroupStart::After(EventPos { ms: 0, seq: 0 });

#[test]
fn each_event_goes_to_one_consumer_and_unacknowledged_ones_are_claimed() {
    let (store, clock) = manual_store(StoreConfig::default());
    create_n(&store, 6);
    store.group_create(b"mail", FROM_START, None).unwrap();
    assert_eq!(
        store.group_create(b"mail", FROM_START, None),
        Err(GroupError::Exists)
    );
    let a = store.group_read_new(b"mail", b"a", 4, false).unwrap();
    let b = store.group_read_new(b"mail", b"b", 4, false).unwrap();
    let seqs = |events: &[sessiond::Event]| events.iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(seqs(&a), [1, 2, 3, 4]);
    assert_eq!(seqs(&b), [5, 6], "each event to one consumer");
    assert!(
        store
            .group_read_new(b"mail", b"a", 4, false)
            .unwrap()
            .is_empty()
    );

    // a handles two and dies; its history still holds the other two.
    let acked = store
        .group_ack(b"mail", &[pos_of(&a[0]), pos_of(&a[1])])
        .unwrap();
    assert_eq!(acked, 2);
    let history = store
        .group_read_history(b"mail", b"a", EventPos::default(), 10)
        .unwrap();
    assert_eq!(
        history.iter().map(|(p, _)| p.seq).collect::<Vec<_>>(),
        [3, 4]
    );
    let pending = store
        .group_pending(
            b"mail",
            (
                EventPos::default(),
                EventPos {
                    ms: u64::MAX,
                    seq: u64::MAX,
                },
            ),
            10,
            Some(b"a"),
            0,
        )
        .unwrap();
    assert_eq!(
        pending.iter().map(|p| p.deliveries).collect::<Vec<_>>(),
        [2, 2]
    );

    // Not idle enough yet; then c auto-claims what a left.
    clock.advance(secs(30));
    let (next, claimed, gone) = store
        .group_autoclaim(b"mail", b"c", (60_000, EventPos::default(), 10), false)
        .unwrap();
    assert!(claimed.is_empty() && gone.is_empty());
    assert_eq!(next, EventPos::default(), "the whole list was looked at");
    clock.advance(secs(31));
    let (_, claimed, _) = store
        .group_autoclaim(b"mail", b"c", (60_000, EventPos::default(), 10), false)
        .unwrap();
    let claimed: Vec<u64> = claimed.iter().map(|(p, _)| p.seq).collect();
    assert_eq!(
        claimed,
        [3, 4, 5, 6],
        "a's and b's idle entries, in id order"
    );
    let (count, edges, each) = store.group_pending_summary(b"mail").unwrap();
    assert_eq!(count, 4);
    assert_eq!(edges.map(|(lo, hi)| (lo.seq, hi.seq)), Some((3, 6)));
    assert_eq!(each, vec![(b"c".to_vec(), 4)]);

    // XCLAIM: back to b, with FORCE for one that is not pending.
    let ids = [pos_of(&a[2]), pos_of(&a[0])];
    let none = store
        .group_claim(b"mail", b"b", &ids, ClaimOptions::default())
        .unwrap();
    assert_eq!(
        none.len(),
        1,
        "an acknowledged entry is not claimed without FORCE"
    );
    let forced = ClaimOptions {
        force: true,
        ..ClaimOptions::default()
    };
    let both = store.group_claim(b"mail", b"b", &ids, forced).unwrap();
    assert_eq!(both.len(), 2);
    assert_eq!(store.group_delete_consumer(b"mail", b"b").unwrap(), 2);
    assert_eq!(store.group_pending_summary(b"mail").unwrap().0, 3);
    assert!(store.group_destroy(b"mail").unwrap());
    assert_eq!(
        store.group_read_new(b"mail", b"a", 1, false),
        Err(GroupError::NoGroup)
    );
}

#[test]
fn dropped_events_are_delivered_as_deleted_and_a_group_behind_is_told() {
    let (store, _clock) = manual_store(StoreConfig {
        events_max: 4,
        ..StoreConfig::default()
    });
    create_n(&store, 3);
    store.group_create(b"g", FROM_START, None).unwrap();
    store.group_create(b"late", FROM_START, None).unwrap();
    let read = store.group_read_new(b"g", b"a", 10, false).unwrap();
    assert_eq!(read.len(), 3);
    create_n(&store, 4); // seqs 4..=7: 1..=3 dropped
    let history = store
        .group_read_history(b"g", b"a", EventPos::default(), 10)
        .unwrap();
    assert_eq!(history.len(), 3);
    assert!(
        history.iter().all(|(_, event)| event.is_none()),
        "their events are gone"
    );
    // An auto-claim reports them and they stop being pending.
    let (_, claimed, gone) = store
        .group_autoclaim(b"g", b"b", (0, EventPos::default(), 10), false)
        .unwrap();
    assert!(claimed.is_empty());
    assert_eq!(gone.len(), 3);
    assert_eq!(store.group_pending_summary(b"g").unwrap().0, 0);
    // `late` never read 1..=3: a gap, until it accepts the loss.
    assert!(matches!(
        store.group_read_new(b"late", b"a", 10, false),
        Err(GroupError::Gap {
            after: 0,
            oldest_kept: 4
        })
    ));
    store
        .group_set_id(b"late", GroupStart::Newest, None)
        .unwrap();
    assert!(
        store
            .group_read_new(b"late", b"a", 10, false)
            .unwrap()
            .is_empty()
    );
}

fn open(dir: &Path, clock: &ManualClock) -> Store {
    let config = StoreConfig {
        background_expiry: false,
        ..StoreConfig::default()
    };
    Store::open_with_clock(config, PersistConfig::new(dir), clock.clone())
        .expect("opens")
        .0
}

#[test]
fn groups_survive_a_restart_and_a_compaction() {
    let dir = TempDir::new("event-groups");
    let clock = ManualClock::new(crate::T0_MS);
    let summary = |store: &Store| {
        let info = store.groups_info();
        let pending = store.group_pending_summary(b"g").unwrap();
        (info, pending, store.group_consumers(b"g").unwrap())
    };
    let before = {
        let store = open(dir.path(), &clock);
        create_n(&store, 5);
        store.group_create(b"g", FROM_START, None).unwrap();
        store
            .group_create(b"other", GroupStart::Newest, Some(5))
            .unwrap();
        let read = store.group_read_new(b"g", b"a", 3, false).unwrap();
        store.group_read_new(b"g", b"b", 1, false).unwrap();
        store.group_ack(b"g", &[pos_of(&read[1])]).unwrap();
        store.group_create_consumer(b"g", b"idle").unwrap();
        summary(&store)
    };
    let store = open(dir.path(), &clock);
    assert_eq!(summary(&store), before, "replayed from the log");
    store.compact().unwrap().expect("on disk");
    drop(store);
    let store = open(dir.path(), &clock);
    assert_eq!(summary(&store), before, "rebuilt from the snapshot");
    // And it goes on where it was.
    let next = store.group_read_new(b"g", b"a", 10, false).unwrap();
    assert_eq!(next.iter().map(|e| e.seq).collect::<Vec<_>>(), [5]);
}
