//! Every session operation, with its bad inputs.

use sessiond::{Labels, NewSession, SessionId, StoreConfig, StoreError};

use crate::{T0_MS, manual_store, secs};

fn alice() -> NewSession {
    NewSession::new("alice").data(b"cart=1".to_vec()).labels(
        Labels::new()
            .with("ua", "Firefox on Linux")
            .with("ip", "192.0.2.1"),
    )
}

#[test]
fn create_then_get_returns_everything_given() {
    let (store, _) = manual_store(StoreConfig::default());
    let id = store
        .create(
            alice()
                .idle_timeout(secs(600))
                .absolute_lifetime(secs(3600)),
        )
        .unwrap();
    let s = store.get(&id).unwrap();
    assert_eq!(s.owner, b"alice");
    assert_eq!(s.data, b"cart=1");
    assert_eq!(s.info.id, id);
    assert_eq!(s.info.labels.get("ua"), Some("Firefox on Linux"));
    assert_eq!(s.info.labels.get("ip"), Some("192.0.2.1"));
    let t0 = T0_MS / 1000;
    assert_eq!(s.info.created_at, t0);
    assert_eq!(s.info.last_seen_at, t0);
    assert_eq!(s.info.idle_timeout, secs(600));
    assert_eq!(s.info.absolute_deadline, Some(t0 + 3600));
    assert_eq!(s.info.expires_at, t0 + 600);
    assert_eq!(s.info.version, 1);
}

#[test]
fn generated_ids_are_distinct_and_22_chars() {
    let (store, _) = manual_store(StoreConfig::default());
    let ids: Vec<SessionId> = (0..1000).map(|_| store.create(alice()).unwrap()).collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 1000);
    assert!(ids.iter().all(|id| id.to_string().len() == 22));
}

#[test]
fn caller_chosen_id_is_used_and_a_taken_one_refused() {
    let (store, _) = manual_store(StoreConfig::default());
    let chosen = SessionId::random();
    assert_eq!(store.create(alice().with_id(chosen)).unwrap(), chosen);
    assert_eq!(
        store.create(NewSession::new("bob").with_id(chosen)),
        Err(StoreError::IdTaken)
    );
    // Sharing the first 8 bytes is taken too: indexes key on them.
    let mut bytes = *chosen.as_bytes();
    bytes[15] ^= 1;
    assert_eq!(
        store.create(NewSession::new("bob").with_id(SessionId::from_bytes(bytes))),
        Err(StoreError::IdTaken)
    );
    // The refused creates left no trace.
    assert_eq!(store.count(b"bob"), 0);
    assert_eq!(store.stats().owners, 1);
    assert_eq!(store.get(&chosen).unwrap().owner, b"alice");
}

#[test]
fn unknown_id_is_not_found_everywhere() {
    let (store, _) = manual_store(StoreConfig::default());
    let unknown = SessionId::random();
    assert_eq!(store.get(&unknown), Err(StoreError::NotFound));
    assert_eq!(store.peek(&unknown), Err(StoreError::NotFound));
    assert_eq!(store.touch(&unknown), Err(StoreError::NotFound));
    assert_eq!(
        store.update(&unknown, b"x", None),
        Err(StoreError::NotFound)
    );
    assert_eq!(store.rotate(&unknown), Err(StoreError::NotFound));
    assert!(!store.delete(&unknown).unwrap());
}

#[test]
fn bad_owner_data_labels_and_timeouts_are_refused() {
    let config = StoreConfig {
        max_data_bytes: 1000,
        ..StoreConfig::default()
    };
    let (store, _) = manual_store(config);
    assert_eq!(
        store.create(NewSession::new("")),
        Err(StoreError::BadOwner { len: 0, max: 256 })
    );
    assert_eq!(
        store.create(NewSession::new(vec![b'o'; 257])),
        Err(StoreError::BadOwner { len: 257, max: 256 })
    );
    assert!(store.create(NewSession::new(vec![b'o'; 256])).is_ok());
    assert_eq!(
        store.create(NewSession::new("a").data(vec![0; 1001])),
        Err(StoreError::TooLarge {
            len: 1001,
            max: 1000
        })
    );
    assert!(
        store
            .create(NewSession::new("a").data(vec![0; 1000]))
            .is_ok()
    );
    let many = (0..17).fold(Labels::new(), |l, i| l.with(format!("k{i}"), "v"));
    assert!(matches!(
        store.create(NewSession::new("a").labels(many)),
        Err(StoreError::BadLabels(_))
    ));
    assert!(matches!(
        store.create(
            NewSession::new("a")
                .idle_timeout(secs(0))
                .absolute_lifetime(secs(0))
        ),
        Err(StoreError::BadTimeout(_))
    ));
    assert!(matches!(
        store.create(NewSession::new("a").idle_timeout(secs(20 * 365 * 24 * 3600))),
        Err(StoreError::BadTimeout(_))
    ));
    let id = store.create(NewSession::new("a")).unwrap();
    assert_eq!(
        store.update(&id, &[0; 1001], None),
        Err(StoreError::TooLarge {
            len: 1001,
            max: 1000
        })
    );
    assert_eq!(store.count(b"a"), 2, "refused creates left nothing behind");
}

#[test]
fn get_touches_and_peek_does_not() {
    let (store, clock) = manual_store(StoreConfig::default());
    let id = store.create(alice().idle_timeout(secs(60))).unwrap();
    clock.advance(secs(50));
    assert_eq!(store.peek(&id).unwrap().info.last_seen_at, T0_MS / 1000);
    let got = store.get(&id).unwrap();
    assert_eq!(got.info.last_seen_at, T0_MS / 1000 + 50);
    assert_eq!(got.info.expires_at, T0_MS / 1000 + 110);
    clock.advance(secs(50));
    assert!(
        store.get(&id).is_ok(),
        "the touch at +50 s kept it alive at +100 s"
    );
}

#[test]
fn expired_session_is_never_returned_even_before_the_sweep() {
    let (store, clock) = manual_store(StoreConfig::default());
    let id = store.create(alice().idle_timeout(secs(60))).unwrap();
    clock.advance(secs(60));
    assert!(store.peek(&id).is_ok(), "alive through its last second");
    clock.advance(secs(1));
    assert_eq!(store.get(&id), Err(StoreError::NotFound));
    assert_eq!(store.touch(&id), Err(StoreError::NotFound));
    assert_eq!(store.update(&id, b"x", None), Err(StoreError::NotFound));
    assert_eq!(store.rotate(&id), Err(StoreError::NotFound));
    assert!(store.list(b"alice").is_empty());
    assert_eq!(store.count(b"alice"), 0);
    assert_eq!(store.stats().sessions, 1, "not yet swept, only hidden");
}

#[test]
fn absolute_lifetime_is_never_extended_by_touching() {
    let (store, clock) = manual_store(StoreConfig::default());
    let id = store
        .create(alice().idle_timeout(secs(60)).absolute_lifetime(secs(100)))
        .unwrap();
    for _ in 0..3 {
        clock.advance(secs(30));
        store.touch(&id).unwrap();
    }
    assert_eq!(store.touch(&id).unwrap(), T0_MS / 1000 + 100);
    clock.advance(secs(11));
    assert_eq!(store.get(&id), Err(StoreError::NotFound));
}

#[test]
fn touch_returns_the_new_deadline() {
    let (store, clock) = manual_store(StoreConfig::default());
    let id = store.create(alice().idle_timeout(secs(60))).unwrap();
    clock.advance(secs(10));
    assert_eq!(store.touch(&id).unwrap(), T0_MS / 1000 + 70);
}

#[test]
fn update_bumps_version_and_checks_it_when_asked() {
    let (store, _) = manual_store(StoreConfig::default());
    let id = store.create(alice()).unwrap();
    assert_eq!(store.update(&id, b"v2", None), Ok(2));
    assert_eq!(store.update(&id, b"v3", Some(2)), Ok(3));
    // The other tab still thinks it is at version 2.
    assert_eq!(
        store.update(&id, b"stale", Some(2)),
        Err(StoreError::VersionMismatch {
            expected: 2,
            actual: 3
        })
    );
    let s = store.get(&id).unwrap();
    assert_eq!(s.data, b"v3");
    assert_eq!(s.info.version, 3);
    assert_eq!(
        s.info.labels.get("ua"),
        Some("Firefox on Linux"),
        "labels kept"
    );
}

#[test]
fn delete_ends_a_session_once() {
    let (store, _) = manual_store(StoreConfig::default());
    let id = store.create(alice()).unwrap();
    assert!(store.delete(&id).unwrap());
    assert!(!store.delete(&id).unwrap());
    assert_eq!(store.get(&id), Err(StoreError::NotFound));
    assert_eq!(store.count(b"alice"), 0);
    assert_eq!(store.stats().owners, 0, "the owner's index entry went too");
}

#[test]
fn rotate_moves_everything_to_a_new_id_and_kills_the_old() {
    let (store, clock) = manual_store(StoreConfig::default());
    let old = store.create(alice()).unwrap();
    store.update(&old, b"privileged", None).unwrap();
    clock.advance(secs(5));
    let new = store.rotate(&old).unwrap();
    assert_ne!(new, old);
    assert_eq!(store.get(&old), Err(StoreError::NotFound));
    let s = store.get(&new).unwrap();
    assert_eq!(s.data, b"privileged");
    assert_eq!(s.owner, b"alice");
    assert_eq!(s.info.version, 2);
    assert_eq!(s.info.created_at, T0_MS / 1000);
    assert_eq!(s.info.last_seen_at, T0_MS / 1000 + 5);
    let listed: Vec<SessionId> = store.list(b"alice").iter().map(|s| s.id).collect();
    assert_eq!(listed, [new]);
    assert_eq!(store.rotate(&old), Err(StoreError::NotFound));
}

#[test]
fn list_is_most_recently_seen_first_without_data() {
    let (store, clock) = manual_store(StoreConfig::default());
    let first = store.create(alice()).unwrap();
    clock.advance(secs(1));
    let second = store.create(alice()).unwrap();
    clock.advance(secs(1));
    let third = store.create(alice()).unwrap();
    clock.advance(secs(1));
    store.get(&first).unwrap();
    store.create(NewSession::new("bob")).unwrap();
    let ids: Vec<SessionId> = store.list(b"alice").iter().map(|s| s.id).collect();
    assert_eq!(ids, [first, third, second]);
    assert_eq!(store.count(b"alice"), 3);
    assert_eq!(store.count(b"bob"), 1);
    assert!(store.list(b"nobody").is_empty());
    assert_eq!(store.count(b"nobody"), 0);
}

#[test]
fn delete_owner_keeps_the_one_asked_and_counts_the_rest() {
    let (store, _) = manual_store(StoreConfig::default());
    let ids: Vec<SessionId> = (0..5).map(|_| store.create(alice()).unwrap()).collect();
    let bob = store.create(NewSession::new("bob")).unwrap();
    assert_eq!(store.delete_owner(b"alice", Some(&ids[2])).unwrap(), 4);
    assert_eq!(store.count(b"alice"), 1);
    assert!(store.get(&ids[2]).is_ok());
    assert!(
        ids.iter()
            .enumerate()
            .all(|(i, id)| i == 2 || store.get(id).is_err())
    );
    assert!(store.get(&bob).is_ok(), "other owners untouched");
    assert_eq!(store.delete_owner(b"alice", None).unwrap(), 1);
    assert_eq!(store.delete_owner(b"alice", None).unwrap(), 0);
    assert_eq!(store.stats().owners, 1);
}

#[test]
fn delete_owner_does_not_count_expired_sessions() {
    let (store, clock) = manual_store(StoreConfig::default());
    store.create(alice().idle_timeout(secs(10))).unwrap();
    store.create(alice().idle_timeout(secs(100))).unwrap();
    clock.advance(secs(11));
    assert_eq!(store.delete_owner(b"alice", None).unwrap(), 1);
    assert_eq!(store.stats().sessions, 0, "the expired one was removed too");
}

#[test]
fn stats_and_memory_follow_creates_and_deletes() {
    let (store, _) = manual_store(StoreConfig::default());
    assert_eq!(store.stats().bytes_used, 0);
    let a = store.create(alice()).unwrap();
    let b = store
        .create(NewSession::new("bob").data(vec![7; 5000]))
        .unwrap();
    let stats = store.stats();
    assert_eq!((stats.sessions, stats.owners), (2, 2));
    assert!(stats.bytes_used > 5000);
    store.update(&b, b"small", None).unwrap();
    assert!(store.stats().bytes_used < 1000);
    store.delete(&a).unwrap();
    store.delete(&b).unwrap();
    let stats = store.stats();
    assert_eq!((stats.sessions, stats.owners, stats.bytes_used), (0, 0, 0));
}
