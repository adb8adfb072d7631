//! The per-account session limit under each policy, and the login attempt
//! limits per account and per address.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use sessiond_demo::{AttemptLimits, Settings};
use sessiond_protocol::{KeyTtl, LimitPolicy, OwnerLimit, SessionStore};

use crate::harness::{ALICE, ANDROID, BOB, Browser, FIREFOX, Harness, Stores};
use crate::on_both_stores;

on_both_stores!(
    a_full_account_refuses_the_next_login,
    a_full_account_evicts_its_least_recently_used_session,
    wrong_passwords_bring_growing_delays_not_a_lockout,
    guesses_from_elsewhere_never_lock_out_a_known_device,
    parallel_guesses_get_no_more_tries_than_sequential_ones,
    every_attempt_counter_expires_with_its_window,
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
    assert_eq!(reply.location(), Some("/devices"));
    let page = h.get(&mut third, "/devices").await;
    // The notice names the device that was signed out.
    assert!(
        page.body
            .contains("the one used least recently, Chrome 131 on Android, was signed out"),
        "{}",
        page.body
    );
    assert_eq!(page.devices().len(), 2);
    assert_eq!(h.sessions_of("alice").await, 2);
    let evicted = h.get(&mut second, "/devices").await;
    assert_eq!(evicted.ended(), Some("evicted"), "{:?}", evicted.location());
    assert_eq!(h.get(&mut first, "/devices").await.status, StatusCode::OK);
}

/// The app with [`attempts`]'s limits, its clock moved to the start of an
/// attempt window: counters are per window, so a test whose few seconds
/// crossed into the next one (one start in 200 began within 3 s of the
/// end of one) would see them start afresh.
async fn start_in_window<T: Stores>(free_attempts: u32, account_soft_limit: u32) -> Harness<T::S> {
    let settings = attempts(free_attempts, account_soft_limit);
    let window = settings.attempts.window.as_secs();
    let h = T::start(settings).await;
    let into = h.state.now() % window;
    h.clock.advance(Duration::from_secs(window - into));
    h
}

fn attempts(free_attempts: u32, account_soft_limit: u32) -> Settings {
    Settings {
        attempts: AttemptLimits {
            free_attempts,
            account_soft_limit,
            max_delay: Duration::from_secs(60),
            window: Duration::from_secs(600),
            concurrent_hashes: 4,
        },
        ..Settings::default()
    }
}

async fn wrong_passwords_bring_growing_delays_not_a_lockout<T: Stores>() {
    let h = start_in_window::<T>(3, 100).await;
    let mut browser = Browser::new(FIREFOX);
    for _ in 0..3 {
        let reply = h.login(&mut browser, ("alice", "guess")).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    // The fourth attempt must wait a second, whatever the password; the
    // refusal costs no hash and does not count.
    let reply = h.login(&mut browser, ALICE).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        reply.body.contains("Wait 1 second before trying again."),
        "{}",
        reply.body
    );
    h.clock.advance(Duration::from_secs(1));
    assert_eq!(
        h.login(&mut browser, ("alice", "guess")).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Then 2 s more.
    h.clock.advance(Duration::from_secs(1));
    let reply = h.login(&mut browser, ALICE).await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.body
    );
    assert!(reply.body.contains("Wait 1 second"), "{}", reply.body);
    h.clock.advance(Duration::from_secs(1));
    assert_eq!(
        h.login(&mut browser, ALICE).await.status,
        StatusCode::SEE_OTHER
    );
    // The owner elsewhere, and other accounts from here, were never slowed.
    let mut elsewhere = Browser::new(ANDROID);
    elsewhere.ip = [198, 51, 100, 9];
    assert_eq!(
        h.login(&mut elsewhere, ALICE).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        h.login(&mut Browser::new(FIREFOX), BOB).await.status,
        StatusCode::SEE_OTHER
    );
}

async fn guesses_from_elsewhere_never_lock_out_a_known_device<T: Stores>() {
    let h = start_in_window::<T>(100, 5).await;
    // Alice's laptop has signed in before: it is a known device.
    let mut laptop = h.signed_in(ALICE, FIREFOX).await;
    h.submit(&mut laptop, "/logout", &[]).await;
    // An attacker guesses from many addresses, as behind a shared proxy.
    for i in 0..5u8 {
        let mut attacker = Browser::new(FIREFOX);
        attacker.ip = [203, 0, 113, i];
        let reply = h.login(&mut attacker, ("alice", "guess")).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    }
    // New devices are paused for alice, with a reason that says what works.
    let mut attacker = Browser::new(FIREFOX);
    attacker.ip = [203, 0, 113, 99];
    let reply = h.login(&mut attacker, ALICE).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        reply.body.contains("new devices are paused"),
        "{}",
        reply.body
    );
    assert!(
        reply
            .body
            .contains("A device you have signed in on before can still sign in.")
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
    assert_eq!(json["code"], "new_devices_paused");
    // The laptop, even from the attacker's own address, signs in.
    laptop.ip = [203, 0, 113, 0];
    assert_eq!(
        h.login(&mut laptop, ALICE).await.status,
        StatusCode::SEE_OTHER
    );
    // Bob, from the same proxy, is not affected.
    assert_eq!(
        h.login(&mut attacker, BOB).await.status,
        StatusCode::SEE_OTHER
    );
    // The pause ends with its window.
    h.clock.advance(Duration::from_secs(601));
    let mut fresh = Browser::new(ANDROID);
    fresh.ip = [203, 0, 113, 98];
    assert_eq!(
        h.login(&mut fresh, ALICE).await.status,
        StatusCode::SEE_OTHER
    );
}

async fn parallel_guesses_get_no_more_tries_than_sequential_ones<T: Stores>() {
    let h = start_in_window::<T>(3, 100).await;
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let app = h.app.clone();
        tasks.push(tokio::spawn(async move {
            let request = axum::http::Request::post("/api/login")
                .header("content-type", "application/json")
                .body(axum::body::Body::from(
                    r#"{"username":"alice","password":"guess"}"#,
                ))
                .unwrap();
            let mut request = request;
            request.extensions_mut().insert(axum::extract::ConnectInfo(
                std::net::SocketAddr::from(([192, 0, 2, 50], 1)),
            ));
            tower::ServiceExt::oneshot(app, request)
                .await
                .unwrap()
                .status()
        }));
    }
    let mut checked = 0;
    for task in tasks {
        match task.await.unwrap() {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("{other}"),
        }
    }
    assert_eq!(
        checked, 3,
        "only the free attempts had their password checked"
    );
}

/// The counters a failed attempt leaves all carry the window as their TTL
/// (they are moved with `incr_with_ttl`, value and TTL in one change), and
/// a give-back that lands after its counter expired makes a counter that
/// expires too, not one that stays forever.
async fn every_attempt_counter_expires_with_its_window<T: Stores>() {
    let h = start_in_window::<T>(1, 100).await;
    let mut browser = Browser::new(FIREFOX);
    browser.ip = [198, 51, 100, 7];
    let window = 600; // attempts()'s
    let n = h.state.now() / window;
    assert_eq!(
        h.login(&mut browser, ("alice", "guess")).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The second attempt is refused: too early.
    assert_eq!(
        h.login(&mut browser, ("alice", "guess")).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    let keys = [
        format!("login:attempts:alice:ip:198.51.100.7:{n}"),
        format!("login:first:alice:ip:198.51.100.7:{n}"),
        format!("login:new-device-failures:alice:{n}"),
    ];
    for key in &keys {
        match h.state.store.ttl(key.as_bytes()).await {
            Ok(KeyTtl::ExpiresIn(ttl)) => {
                assert!(ttl <= Duration::from_secs(window), "{key}: {ttl:?}")
            }
            other => panic!("{key}: {other:?}"),
        }
    }
}
