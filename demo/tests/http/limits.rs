//! The per-account session limit under each policy, and the login attempt
//! limits per account and per address.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use sessiond_demo::{AttemptLimits, Settings};
use sessiond_protocol::{LimitPolicy, OwnerLimit};

use crate::harness::{ALICE, ANDROID, BOB, Browser, FIREFOX, Stores};
use crate::on_both_stores;

on_both_stores!(
    a_full_account_refuses_the_next_login,
    a_full_account_evicts_its_least_recently_used_session,
    failed_logins_lock_the_account_for_a_while,
    failed_logins_lock_the_address_for_a_while,
);

fn limited(policy: LimitPolicy) -> Settings {
    Settings {
        session_limit: Some(OwnerLimit {
            max_sessions: 2,
            policy,
        }),
        ..Settings::default()
    }
}

async fn a_full_account_refuses_the_next_login<T: Stores>() {
    let h = T::start(limited(LimitPolicy::Reject)).await;
    let mut first = h.signed_in(ALICE, FIREFOX).await;
    let _second = h.signed_in(ALICE, ANDROID).await;
    let page = h.get(&mut first, "/devices").await;
    assert!(
        page.body
            .contains("at most 2 at once; a sign-in beyond that is refused")
    );

    let mut third = Browser::new(FIREFOX);
    let reply = h.login(&mut third, ALICE).await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert!(
        reply
            .body
            .contains("already signed in on 2 devices, the most allowed"),
        "{}",
        reply.body
    );
    assert!(third.session().is_none());
    let (status, json) = h
        .api(
            Method::POST,
            "/api/login",
            None,
            Some(serde_json::json!({"username": "alice", "password": ALICE.1})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(json["error"].as_str().unwrap().contains("the most allowed"));
    assert_eq!(h.sessions_of("alice").await, 2);
    // Both first sessions still work; another account is not limited by alice's.
    assert_eq!(h.get(&mut first, "/devices").await.status, StatusCode::OK);
    h.signed_in(BOB, FIREFOX).await;
    // Once one signs out, there is room again.
    h.submit(&mut first, "/logout", &[]).await;
    assert_eq!(
        h.login(&mut third, ALICE).await.status,
        StatusCode::SEE_OTHER
    );
}

async fn a_full_account_evicts_its_least_recently_used_session<T: Stores>() {
    let h = T::start(limited(LimitPolicy::EvictOldest)).await;
    let mut first = h.signed_in(ALICE, FIREFOX).await;
    h.clock.advance(Duration::from_secs(5));
    let mut second = h.signed_in(ALICE, ANDROID).await;
    h.clock.advance(Duration::from_secs(5));
    // The first is used again, so the second is now the least recent.
    assert_eq!(h.get(&mut first, "/devices").await.status, StatusCode::OK);
    h.clock.advance(Duration::from_secs(5));

    let mut third = Browser::new(FIREFOX);
    let reply = h.login(&mut third, ALICE).await;
    assert_eq!(reply.location(), Some("/devices?notice=evicted"));
    let page = h.get(&mut third, reply.location().unwrap()).await;
    assert!(
        page.body.contains("used least recently was signed out"),
        "{}",
        page.body
    );
    assert_eq!(page.devices().len(), 2);
    assert_eq!(h.sessions_of("alice").await, 2);
    assert!(h.get(&mut second, "/devices").await.is_signed_out());
    assert_eq!(h.get(&mut first, "/devices").await.status, StatusCode::OK);
}

fn attempts(per_account: u32, per_address: u32) -> Settings {
    Settings {
        attempts: AttemptLimits {
            per_account,
            per_address,
            window: Duration::from_secs(600),
        },
        ..Settings::default()
    }
}

async fn failed_logins_lock_the_account_for_a_while<T: Stores>() {
    let h = T::start(attempts(3, 100)).await;
    let mut browser = Browser::new(FIREFOX);
    for _ in 0..3 {
        let reply = h.login(&mut browser, ("alice", "guess")).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    // Now even the right password is refused, from anywhere, with a reason.
    let mut elsewhere = Browser::new(FIREFOX);
    elsewhere.ip = [198, 51, 100, 9];
    let reply = h.login(&mut elsewhere, ALICE).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        reply
            .body
            .contains("Too many failed sign-ins for this account; try again in 10 min."),
        "{}",
        reply.body
    );
    let (status, json) = h
        .api(
            Method::POST,
            "/api/jwt/login",
            None,
            Some(serde_json::json!({"username": "alice", "password": ALICE.1})),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(json["error"].as_str().unwrap().contains("this account"));
    // Other accounts, from the same address, are fine.
    assert_eq!(
        h.login(&mut browser, BOB).await.status,
        StatusCode::SEE_OTHER
    );
    // The counter lives in the store with a TTL: when the window passes,
    // the store forgets it.
    h.clock.advance(Duration::from_secs(601));
    assert_eq!(
        h.login(&mut elsewhere, ALICE).await.status,
        StatusCode::SEE_OTHER
    );
}

async fn failed_logins_lock_the_address_for_a_while<T: Stores>() {
    let h = T::start(attempts(100, 3)).await;
    let mut browser = Browser::new(FIREFOX);
    for name in ["alice", "bob", "nobody"] {
        let reply = h.login(&mut browser, (name, "guess")).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let reply = h.login(&mut browser, ALICE).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        reply.body.contains("for your network address"),
        "{}",
        reply.body
    );
    // Another address signs in to the same account.
    let mut elsewhere = Browser::new(FIREFOX);
    elsewhere.ip = [198, 51, 100, 9];
    assert_eq!(
        h.login(&mut elsewhere, ALICE).await.status,
        StatusCode::SEE_OTHER
    );
    h.clock.advance(Duration::from_secs(601));
    assert_eq!(
        h.login(&mut browser, ALICE).await.status,
        StatusCode::SEE_OTHER
    );
}
