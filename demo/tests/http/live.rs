//! Live pages: the server-sent events a page listens to. A page of the
//! phone hears `ended` when the laptop revokes it (within seconds, with
//! no request of its own); the admin's feed shows a sign-in and the
//! sign-out that follows; a user is not let into the admin's feed.

use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use http_body_util::BodyExt;
use sessiond_demo::Settings;
use sessiond_protocol::{SessionId, SessionStore};

use crate::harness::{ADMIN, ALICE, ANDROID, FIREFOX, Stores};
use crate::on_both_stores;

on_both_stores!(
    a_page_hears_at_once_that_another_device_revoked_it,
    an_end_the_app_did_not_note_names_no_page,
    the_admin_feed_shows_sign_ins_and_sign_outs,
);

/// Reads `body` until its text holds `wanted` (within 10 s); all it read.
async fn read_until(body: &mut Body, wanted: &[&str]) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !wanted.iter().all(|w| seen.contains(w)) {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .unwrap_or_else(|_| panic!("no {wanted:?} in 10 s; read {seen:?}"))
            .expect("the stream goes on")
            .expect("a frame");
        if let Ok(data) = frame.into_data() {
            seen.push_str(&String::from_utf8_lossy(&data));
        }
    }
    seen
}

async fn a_page_hears_at_once_that_another_device_revoked_it<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let mut laptop = h.signed_in(ALICE, FIREFOX).await;
    let phone = h.signed_in(ALICE, ANDROID).await;
    let (status, mut feed) = h.open_stream(&phone, "/live/session").await;
    assert_eq!(status, StatusCode::OK);

    // The laptop revokes the phone.
    let page = h.get(&mut laptop, "/devices").await;
    let phone_handle = page
        .devices()
        .into_iter()
        .find(|handle| {
            !page
                .body
                .contains(&format!("class=\"card current\" data-device=\"{handle}\""))
        })
        .expect("the phone is listed");
    let reply = h
        .submit(&mut laptop, "/devices/revoke", &[("device", &phone_handle)])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);

    let said = read_until(&mut feed, &["event: ended", "\n\n"]).await;
    // The sign-in page that says why, for the page to show.
    assert!(said.contains("data: /login?ended=revoked"), "{said}");
    // And the stream ends after saying so.
    let rest = tokio::time::timeout(Duration::from_secs(5), feed.collect())
        .await
        .expect("the stream closes")
        .expect("a body");
    assert!(!String::from_utf8_lossy(&rest.to_bytes()).contains("event: ended"));
    // The laptop's own page is not told anything.
    let (_, mut own) = h.open_stream(&laptop, "/live/session").await;
    let quiet = tokio::time::timeout(Duration::from_millis(500), own.frame()).await;
    assert!(quiet.is_err(), "the laptop's session did not end");
}

/// An end the app did not cause (here: the store dropped it, as expiry
/// or an operator would): the event names no page, so the page only says
/// it ended and the next request works out why.
async fn an_end_the_app_did_not_note_names_no_page<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let phone = h.signed_in(ALICE, ANDROID).await;
    let (_, mut feed) = h.open_stream(&phone, "/live/session").await;
    let id: SessionId = phone.session().unwrap().parse().unwrap();
    assert!(h.state.store.delete(&id).await.is_ok());
    let said = read_until(&mut feed, &["event: ended", "\n\n"]).await;
    assert!(!said.contains("/login"), "{said}");
}

async fn the_admin_feed_shows_sign_ins_and_sign_outs<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let alice = h.signed_in(ALICE, FIREFOX).await;
    let (status, _) = h.open_stream(&alice, "/live/admin").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a user is not let in");

    let admin = h.signed_in(ADMIN, FIREFOX).await;
    let (status, mut feed) = h.open_stream(&admin, "/live/admin").await;
    assert_eq!(status, StatusCode::OK);
    let mut phone = h.signed_in(ALICE, ANDROID).await;
    // (An embedded store's reader polls: events from just before the
    // feed opened may come first.)
    let said = read_until(&mut feed, &["Chrome 131 on Android"]).await;
    assert!(said.contains("event: signin"), "{said}");
    assert!(said.contains("\"account\":\"alice\""), "{said}");
    let reply = h.submit(&mut phone, "/logout", &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let said = read_until(&mut feed, &["event: signout", "\"reason\":\"deleted\""]).await;
    assert!(said.contains("alice"), "{said}");
}
