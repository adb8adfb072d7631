//! The embedded store through the `SessionStore` trait, as an application
//! generic over embedded and remote stores would use it.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use sessiond::{Labels, NewSession, SessionStore, StoreConfig, StoreError};

use crate::{manual_store, secs};

/// Polls a future once: the embedded store's futures are always ready.
fn now<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the embedded store's futures are ready at once"),
    }
}

/// A login, a request, "log out everywhere else" and a logout, written
/// against the trait only.
async fn login_cycle<S: SessionStore>(store: &S) -> Result<(), S::Error> {
    let laptop = store
        .create(NewSession::new("u").labels(Labels::new().with("ua", "laptop")))
        .await?;
    let phone = store.create(NewSession::new("u")).await?;
    assert_eq!(
        store.get(&laptop).await?.info.labels.get("ua"),
        Some("laptop")
    );
    assert_eq!(store.update(&laptop, b"cart", Some(1)).await?, 2);
    assert_eq!(store.count(b"u").await?, 2);
    let laptop = store.rotate(&laptop).await?;
    assert_eq!(store.delete_owner(b"u", Some(&laptop)).await?, 1);
    assert!(store.peek(&phone).await.is_err());
    assert_eq!(store.list(b"u").await?.len(), 1);
    assert_eq!(store.incr(b"attempts", 2).await?, 2);
    assert!(store.expire_key(b"attempts", Some(secs(60))).await?);
    store.set_key(b"jti", b"x", None).await?;
    assert_eq!(store.get_key(b"jti").await?, Some(b"x".to_vec()));
    assert!(store.delete_key(b"jti").await?);
    assert!(store.delete(&laptop).await?);
    Ok(())
}

#[path = "../shared/conformance.rs"]
mod conformance;

#[test]
fn the_embedded_store_passes_the_store_conformance_suite() {
    let (store, _) = manual_store(StoreConfig::default());
    now(conformance::every_operation(&store, |e: &StoreError| {
        Some(e)
    }));
    assert_eq!(store.stats().sessions, 0);
    assert_eq!(store.stats().keys, 0);
}

#[test]
fn the_embedded_store_serves_a_login_cycle_through_the_trait() {
    let (store, _) = manual_store(StoreConfig::default());
    now(login_cycle(&store)).unwrap();
    assert_eq!(store.stats().sessions, 0);
    let err: Result<_, StoreError> = now(SessionStore::get(&store, &sessiond::SessionId::random()));
    assert_eq!(err, Err(StoreError::NotFound));
}
