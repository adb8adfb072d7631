//! Plain keys with TTLs: set, get, delete, expire, ttl, incr.

use std::time::Duration;

use sessiond::{KeyTtl, MAX_KEY_LEN, StoreConfig, StoreError};

use crate::{manual_store, secs};

#[test]
fn set_get_delete() {
    let (store, _) = manual_store(StoreConfig::default());
    store
        .set_key(b"jti:abc", b"revoked".to_vec(), None)
        .unwrap();
    assert_eq!(store.get_key(b"jti:abc").as_deref(), Some(&b"revoked"[..]));
    store.set_key(b"jti:abc", b"again".to_vec(), None).unwrap();
    assert_eq!(store.get_key(b"jti:abc").as_deref(), Some(&b"again"[..]));
    assert_eq!(store.stats().keys, 1);
    assert!(store.delete_key(b"jti:abc"));
    assert!(!store.delete_key(b"jti:abc"));
    assert_eq!(store.get_key(b"jti:abc"), None);
    assert_eq!(store.stats().bytes_used, 0);
}

#[test]
fn ttl_counts_down_in_milliseconds_and_the_key_dies_on_time() {
    let (store, clock) = manual_store(StoreConfig::default());
    store
        .set_key(b"k", b"v".to_vec(), Some(Duration::from_millis(1500)))
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
    store.set_key(b"k", b"v".to_vec(), None).unwrap();
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
    store
        .set_key(b"later", b"v".to_vec(), Some(secs(10)))
        .unwrap();
    store
        .set_key(b"sooner", b"v".to_vec(), Some(secs(100)))
        .unwrap();
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

    store.set_key(b"text", b"abc".to_vec(), None).unwrap();
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
        store.set_key(b"", b"v".to_vec(), None),
        Err(StoreError::BadKey {
            len: 0,
            max: MAX_KEY_LEN
        })
    );
    let long = vec![b'k'; MAX_KEY_LEN + 1];
    assert!(matches!(
        store.set_key(&long, b"v".to_vec(), None),
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
        store.set_key(b"k", b"v".to_vec(), Some(Duration::ZERO)),
        Err(StoreError::BadTimeout(_))
    ));
    assert_eq!(store.stats().keys, 0);
    assert_eq!(store.stats().bytes_used, 0);
}
