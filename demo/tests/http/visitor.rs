//! What a first-time visitor meets (issue 18's flows), at the HTTP level;
//! `demo/browser` walks the same flows in Chromium.

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use sessiond_demo::Settings;

use crate::harness::{ADMIN, ALICE, BOB, Browser, FIREFOX, Stores};
use crate::on_both_stores;

on_both_stores!(
    a_first_visit_is_asked_to_sign_in_not_told_it_ended,
    signing_in_returns_to_the_page_the_visitor_wanted,
    unknown_addresses_and_form_targets_get_pages_with_the_menu,
    the_admin_notice_cannot_be_written_in_the_url,
    ending_a_session_asks_first_and_warns_an_admin_about_itself,
    an_ended_session_says_why,
);

async fn a_first_visit_is_asked_to_sign_in_not_told_it_ended<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let mut browser = Browser::new(FIREFOX);
    let home = h.get(&mut browser, "/").await;
    assert_eq!(home.location(), Some("/devices"));
    let devices = h.get(&mut browser, "/devices").await;
    assert_eq!(devices.location(), Some("/login?next=/devices"));
    assert!(devices.set_cookies().is_empty(), "nothing to remove");
    let login = h.get(&mut browser, "/login?next=/devices").await;
    assert!(!login.body.contains("ended"), "{}", login.body);
    let (status, json) = h.api(Method::GET, "/api/me", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json["code"], "not_signed_in");
    // No favicon 404 either.
    let icon = h.get(&mut browser, "/favicon.svg").await;
    assert_eq!(icon.status, StatusCode::OK);
    assert!(login.body.contains("rel=\"icon\""));
}

async fn signing_in_returns_to_the_page_the_visitor_wanted<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let mut browser = Browser::new(FIREFOX);
    let jwt = h.get(&mut browser, "/jwt").await;
    assert_eq!(jwt.location(), Some("/login?next=/jwt"));
    let page = h.get(&mut browser, "/login?next=/jwt").await;
    let token = page.csrf().unwrap();
    let next = page.hidden("next")[0].clone();
    assert_eq!(next, "/jwt");
    let reply = h
        .post(
            &mut browser,
            "/login",
            &[
                ("username", ALICE.0),
                ("password", ALICE.1),
                ("csrf", &token),
                ("next", &next),
            ],
        )
        .await;
    assert_eq!(reply.location(), Some("/jwt"));
    // Anywhere else is not followed.
    let mut other = Browser::new(FIREFOX);
    let page = h.get(&mut other, "/login?next=//evil.test/").await;
    assert_eq!(page.hidden("next")[0], "");
    let token = page.csrf().unwrap();
    let reply = h
        .post(
            &mut other,
            "/login",
            &[
                ("username", BOB.0),
                ("password", BOB.1),
                ("csrf", &token),
                ("next", "https://evil.test/"),
            ],
        )
        .await;
    assert_eq!(reply.location(), Some("/devices"));
}

async fn unknown_addresses_and_form_targets_get_pages_with_the_menu<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let mut browser = h.signed_in(ALICE, FIREFOX).await;
    let missing = h.get(&mut browser, "/no-such-page").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("There is no page at this address."));
    assert!(
        missing.body.contains("Sign out alice"),
        "the menu: {}",
        missing.body
    );
    assert!(missing.body.contains("<title>Not found"));
    let form_only = h.get(&mut browser, "/jwt/issue").await;
    assert_eq!(form_only.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(form_only.body.contains("Sign out alice"));
    assert_eq!(
        h.get(&mut browser, "/password").await.location(),
        Some("/devices#password")
    );
    // Not "Forbidden": words.
    let admin = h.get(&mut browser, "/admin").await;
    assert_eq!(admin.status, StatusCode::FORBIDDEN);
    assert!(
        admin.body.contains("<title>Not for this account"),
        "{}",
        admin.body
    );
    assert!(
        admin
            .body
            .contains("Only administrators may see this page.")
    );
}

async fn the_admin_notice_cannot_be_written_in_the_url<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let mut admin = h.signed_in(ADMIN, FIREFOX).await;
    let page = h.get(&mut admin, "/admin?kicked=bob&ended=999").await;
    assert!(!page.body.contains("999"), "{}", page.body);
    assert!(!page.body.contains("signed out everywhere"));
}

async fn ending_a_session_asks_first_and_warns_an_admin_about_itself<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let mut admin = h.signed_in(ADMIN, FIREFOX).await;
    let _alice = h.signed_in(ALICE, FIREFOX).await;
    let ask = h.get(&mut admin, "/admin/kick?account=alice").await;
    assert_eq!(ask.status, StatusCode::OK);
    assert!(
        ask.body.contains("This ends 1 session of alice"),
        "{}",
        ask.body
    );
    assert_eq!(h.sessions_of("alice").await, 1, "asking ends nothing");
    let me = h.get(&mut admin, "/admin/kick?account=admin").await;
    assert!(me.body.contains("This is your own account"), "{}", me.body);
    let reply = h
        .submit(&mut admin, "/admin/kick", &[("account", "admin")])
        .await;
    assert_eq!(reply.location(), Some("/login?ended=kicked&next=/admin"));
    assert_eq!(h.sessions_of("admin").await, 0);

    let mut laptop = h.signed_in(ALICE, FIREFOX).await;
    let handle = h.get(&mut laptop, "/devices").await.devices()[0].clone();
    let ask = h
        .get(&mut laptop, &format!("/devices/revoke?device={handle}"))
        .await;
    assert!(
        ask.body.contains("This is the device you are using"),
        "{}",
        ask.body
    );
    let ask = h.get(&mut laptop, "/devices/others").await;
    assert!(
        ask.body.contains("Log out all other devices?"),
        "{}",
        ask.body
    );
    assert_eq!(h.sessions_of("alice").await, 2);
}

async fn an_ended_session_says_why<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let mut laptop = h.signed_in(ALICE, FIREFOX).await;
    let mut phone = h.signed_in(ALICE, FIREFOX).await;
    let handles = h.get(&mut laptop, "/devices").await.devices();
    let phone_handle = handles.iter().find(|d| **d != handles[0]).unwrap().clone();
    h.submit(&mut laptop, "/devices/revoke", &[("device", &phone_handle)])
        .await;
    let reply = h.get(&mut phone, "/devices").await;
    assert_eq!(reply.ended(), Some("revoked"));
    let login = h.get(&mut phone, reply.location().unwrap()).await;
    assert!(
        login
            .body
            .contains("signed out from another of your devices"),
        "{}",
        login.body
    );

    let mut admin = h.signed_in(ADMIN, FIREFOX).await;
    h.get(&mut admin, "/admin").await;
    h.submit(&mut admin, "/admin/kick", &[("account", "alice")])
        .await;
    assert_eq!(h.get(&mut laptop, "/devices").await.ended(), Some("kicked"));

    // Expired: the store started long ago and nothing left a note.
    h.clock.advance(Duration::from_secs(13 * 3600));
    let mut idle = h.signed_in(BOB, FIREFOX).await;
    h.clock.advance(Duration::from_secs(31 * 60));
    assert_eq!(h.get(&mut idle, "/devices").await.ended(), Some("expired"));
}

/// The daemon stops under the app: the next page says so at once, in
/// words, with a way to try again, and the log says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_is_down_is_said_at_once() {
    use crate::harness::Daemon;
    let mut h = Daemon::start(Settings::default()).await;
    let mut browser = h.signed_in(ALICE, FIREFOX).await;
    h.stop_daemon();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let reply = h.get(&mut browser, "/devices").await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        reply.body.contains("cannot be reached right now"),
        "{}",
        reply.body
    );
    assert!(reply.body.contains("id=\"retry\""));
    assert!(!reply.body.contains("timed out"));
}
