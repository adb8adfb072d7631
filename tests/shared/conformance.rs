//! What every `SessionStore` must do, embedded or over the network: one
//! suite, included by the engine tests and the daemon tests alike, so that
//! both sides of the trait are held to the same behaviour.

use std::time::Duration;

use sessiond_protocol::{KeyTtl, Labels, NewSession, SessionId, SessionStore, StoreError};

/// Runs every operation of the trait, including its errors. `store_error`
/// says which store error, if any, an error of `S` is.
pub async fn every_operation<S: SessionStore>(
    store: &S,
    store_error: impl Fn(&S::Error) -> Option<&StoreError>,
) {
    // A macro rather than a closure: each call has its own success type.
    macro_rules! expect {
        ($result:expr, $wanted:expr $(,)?) => {
            match $result {
                Ok(_) => panic!("expected {:?}, got success", $wanted),
                Err(e) => assert_eq!(store_error(&e), Some(&$wanted), "{e}"),
            }
        };
    }
    let owner = format!("conformance-{}", SessionId::random()).into_bytes();
    let labels = Labels::new()
        .with("ua", "Firefox on Linux")
        .with("ip", "192.0.2.1");

    // create, get, peek
    let laptop = store
        .create(
            NewSession::new(owner.clone())
                .data(b"cart=1".to_vec())
                .labels(labels.clone())
                .idle_timeout(Duration::from_secs(600))
                .absolute_lifetime(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    let got = store.get(&laptop).await.unwrap();
    assert_eq!(
        (got.owner.as_slice(), got.data.as_slice()),
        (owner.as_slice(), &b"cart=1"[..])
    );
    assert_eq!(got.info.labels, labels);
    assert_eq!(got.info.idle_timeout, Duration::from_secs(600));
    assert_eq!(got.info.absolute_deadline, Some(got.info.created_at + 3600));
    assert_eq!(store.peek(&laptop).await.unwrap().info.version, 1);

    // a caller-chosen id, and one that is taken
    let chosen = SessionId::random();
    let phone = store
        .create(NewSession::new(owner.clone()).with_id(chosen))
        .await
        .unwrap();
    assert_eq!(phone, chosen);
    expect!(
        store
            .create(NewSession::new(owner.clone()).with_id(chosen))
            .await,
        StoreError::IdTaken
    );

    // update with and without a version check; touch
    assert_eq!(store.update(&laptop, b"cart=2", Some(1)).await.unwrap(), 2);
    expect!(
        store.update(&laptop, b"stale", Some(1)).await,
        StoreError::VersionMismatch {
            expected: 1,
            actual: 2
        },
    );
    assert_eq!(store.update(&laptop, b"cart=3", None).await.unwrap(), 3);
    let expires = store.touch(&laptop).await.unwrap();
    assert!(expires >= got.info.expires_at);

    // list, count, rotate
    assert_eq!(store.count(&owner).await.unwrap(), 2);
    let listed = store.list(&owner).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().any(|s| s.id == laptop && s.labels == labels));
    let rotated = store.rotate(&laptop).await.unwrap();
    expect!(store.get(&laptop).await, StoreError::NotFound);
    assert_eq!(store.get(&rotated).await.unwrap().data, b"cart=3");

    // delete_owner keeping one, then delete
    assert_eq!(store.delete_owner(&owner, Some(&rotated)).await.unwrap(), 1);
    expect!(store.peek(&phone).await, StoreError::NotFound);
    assert_eq!(store.count(&owner).await.unwrap(), 1);
    assert!(store.delete(&rotated).await.unwrap());
    assert!(!store.delete(&rotated).await.unwrap());
    assert!(store.list(&owner).await.unwrap().is_empty());

    // errors of every kind that a create or a read can meet
    let unknown = SessionId::random();
    expect!(store.get(&unknown).await, StoreError::NotFound);
    expect!(store.touch(&unknown).await, StoreError::NotFound);
    expect!(store.rotate(&unknown).await, StoreError::NotFound);
    expect!(
        store.update(&unknown, b"x", None).await,
        StoreError::NotFound
    );
    expect!(
        store.create(NewSession::new("")).await,
        StoreError::BadOwner { len: 0, max: 256 }
    );
    expect!(
        store.create(NewSession::new(vec![b'o'; 257])).await,
        StoreError::BadOwner { len: 257, max: 256 },
    );
    let never = NewSession::new(owner.clone())
        .idle_timeout(Duration::ZERO)
        .absolute_lifetime(Duration::ZERO);
    assert!(matches!(
        store
            .create(never)
            .await
            .map_err(|e| store_error(&e).cloned()),
        Err(Some(StoreError::BadTimeout(_)))
    ));

    // plain keys
    let key = format!("key-{}", SessionId::random()).into_bytes();
    assert_eq!(store.get_key(&key).await.unwrap(), None);
    assert_eq!(store.ttl(&key).await.unwrap(), KeyTtl::Missing);
    store
        .set_key(&key, b"v", Some(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(store.get_key(&key).await.unwrap(), Some(b"v".to_vec()));
    assert!(
        matches!(store.ttl(&key).await.unwrap(), KeyTtl::ExpiresIn(d) if d <= Duration::from_secs(60) && d > Duration::from_secs(50))
    );
    assert!(store.expire_key(&key, None).await.unwrap());
    assert_eq!(store.ttl(&key).await.unwrap(), KeyTtl::Persistent);
    expect!(store.incr(&key, 1).await, StoreError::NotAnInteger);
    assert!(store.delete_key(&key).await.unwrap());
    assert!(!store.delete_key(&key).await.unwrap());
    assert_eq!(store.incr(&key, 5).await.unwrap(), 5);
    assert_eq!(store.incr(&key, -7).await.unwrap(), -2);
    assert!(store.expire_key(&key, Some(Duration::ZERO)).await.unwrap());
    assert_eq!(store.get_key(&key).await.unwrap(), None);
    store
        .set_key(&key, i64::MAX.to_string().as_bytes(), None)
        .await
        .unwrap();
    expect!(store.incr(&key, 1).await, StoreError::Overflow);
    expect!(
        store.set_key(b"", b"v", None).await,
        StoreError::BadKey { len: 0, max: 4096 }
    );
    store.delete_key(&key).await.unwrap();
}
