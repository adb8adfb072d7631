//! What replication needs of the engine: writes replayed at the leader's
//! time with its drawn ids give the same state on every node; deferred
//! touches reach the store only through `apply_touches`, which never
//! revives; a snapshot copies the store exactly.

use sessiond::{NewSession, SessionId, StoreConfig, StoreError};

use crate::{T0_MS, manual_store, secs};

fn new_session(owner: &str) -> NewSession {
    let mut new = NewSession::new(owner.as_bytes().to_vec());
    new.data = b"cart".to_vec();
    new.idle = Some(secs(60));
    new
}

#[test]
fn a_replayed_write_runs_at_the_stamped_time_with_the_drawn_id() {
    let (leader, _) = manual_store(StoreConfig::default());
    let (follower, follower_clock) = manual_store(StoreConfig::default());
    // The follower's clock is 5 s ahead: the stamp decides, not the clock.
    follower_clock.set_ms(T0_MS + 5_000);
    let drawn = SessionId::random();
    let stamp = T0_MS + 1_000;
    let on_leader = leader.replay(stamp, &[drawn], || leader.create(new_session("alice")));
    let on_follower = follower.replay(stamp, &[drawn], || follower.create(new_session("alice")));
    assert_eq!(on_leader, Ok(drawn));
    assert_eq!(on_follower, Ok(drawn));
    let a = leader.peek(&drawn).unwrap();
    let b = follower.peek(&drawn).unwrap();
    assert_eq!(a.info.created_at, b.info.created_at);
    assert_eq!(a.info.expires_at, b.info.expires_at);
    assert_eq!(a.info.created_at, stamp / 1000, "in Unix seconds");
    // A rotation takes the next drawn id on both.
    let next = SessionId::random();
    assert_eq!(
        leader.replay(stamp, &[next], || leader.rotate(&drawn)),
        Ok(next)
    );
    assert_eq!(
        follower.replay(stamp, &[next], || follower.rotate(&drawn)),
        Ok(next)
    );
    // Without a drawn id, a replayed create is refused alike everywhere
    // instead of drawing its own.
    assert_eq!(
        leader.replay(stamp, &[], || leader.create(new_session("bob"))),
        Err(StoreError::IdTaken)
    );
    // Outside a replay, ids come from the OS again.
    assert!(leader.create(new_session("carol")).is_ok());
}

#[test]
fn deferred_touches_reach_the_store_only_through_the_log_and_never_revive() {
    let (store, clock) = manual_store(StoreConfig::default());
    store.defer_touches();
    let id = store.create(new_session("alice")).unwrap();
    let seen = store.peek(&id).unwrap().info.last_seen_at;
    clock.advance(secs(10));
    store.get(&id).unwrap();
    assert_eq!(
        store.peek(&id).unwrap().info.last_seen_at,
        seen,
        "a read leaves `last seen` to the log"
    );
    let touches = store.take_touches();
    assert_eq!(touches.len(), 1);
    assert_eq!(touches[0].0, id);
    assert!(store.take_touches().is_empty(), "taken once");
    store.apply_touches(&touches);
    assert_eq!(
        store.peek(&id).unwrap().info.last_seen_at,
        seen + 10,
        "applied from the log"
    );
    // A touch of a session that has ended since does not bring it back.
    store.delete(&id).unwrap();
    store.apply_touches(&touches);
    assert_eq!(store.peek(&id), Err(StoreError::NotFound));
    // Nor does a touch stamped after the session's idle deadline.
    let late = store.create(new_session("bob")).unwrap();
    clock.advance(secs(61));
    let stale = [(late, u32::try_from((T0_MS + 71_000) / 1000).unwrap())];
    store.apply_touches(&stale);
    assert_eq!(store.peek(&late), Err(StoreError::NotFound));
}

#[test]
fn a_snapshot_loads_into_another_store_as_the_same_state() {
    let (source, _) = manual_store(StoreConfig::default());
    let mut ids = Vec::new();
    for i in 0..100 {
        ids.push(
            source
                .create(new_session(&format!("user{}", i % 7)))
                .unwrap(),
        );
    }
    source.set_key(b"counter", b"41", Some(secs(600))).unwrap();
    source.delete(&ids[3]).unwrap();
    let mut bytes = Vec::new();
    let written = source.write_snapshot(&mut bytes).unwrap();
    assert_eq!(
        written, 202,
        "99 sessions, one key, the event log's next seq and its 101 events"
    );
    let (copy, _) = manual_store(StoreConfig::default());
    copy.create(new_session("stranger")).unwrap();
    assert_eq!(copy.load_snapshot(&bytes).unwrap(), 202);
    assert_eq!(copy.stats().sessions, 99, "what was there before is gone");
    assert_eq!(
        copy.read_events(0, 200).unwrap(),
        source.read_events(0, 200).unwrap(),
        "the events are the source's, the stranger's gone with it"
    );
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(copy.peek(id).is_ok(), i != 3, "session {i}");
    }
    assert_eq!(copy.count(b"user3"), source.count(b"user3"));
    assert_eq!(copy.get_string(b"counter").unwrap(), Some(b"41".to_vec()));
    // A damaged snapshot is refused and leaves the store empty, not half
    // loaded.
    let mut torn = bytes.clone();
    torn.truncate(bytes.len() / 2);
    assert!(copy.load_snapshot(&torn).is_err());
    assert_eq!(copy.stats().sessions, 0);
}
