//! The admin page: session counts per account, and kick.

use axum::http::StatusCode;
use sessiond_demo::Settings;

use crate::harness::{ADMIN, ALICE, ANDROID, BOB, FIREFOX, Stores};
use crate::on_both_stores;

on_both_stores!(
    admin_sees_counts_and_kicks_an_account,
    only_admins_may_see_or_kick
);

async fn admin_sees_counts_and_kicks_an_account<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let mut laptop = h.signed_in(ALICE, FIREFOX).await;
    let mut phone = h.signed_in(ALICE, ANDROID).await;
    let mut bob = h.signed_in(BOB, FIREFOX).await;
    let mut admin = h.signed_in(ADMIN, FIREFOX).await;

    let page = h.get(&mut admin, "/admin").await;
    assert_eq!(page.status, StatusCode::OK);
    let count = |name: &str| {
        let row = &page.body[page.body.find(&format!("data-account=\"{name}\"")).unwrap()..];
        let cell = &row[row.find("class=\"count\">").unwrap() + 14..];
        cell[..cell.find('<').unwrap()].to_owned()
    };
    assert_eq!(count("alice"), "2");
    assert_eq!(count("bob"), "1");
    assert_eq!(count("admin"), "1");

    let reply = h
        .submit(&mut admin, "/admin/kick", &[("account", "alice")])
        .await;
    assert_eq!(reply.location(), Some("/admin"));
    let page = h.get(&mut admin, "/admin").await;
    assert!(
        page.body
            .contains("alice was signed out everywhere: 2 sessions ended."),
        "{}",
        page.body
    );
    // Said once: a reload no longer shows it.
    let again = h.get(&mut admin, "/admin").await;
    assert!(!again.body.contains("signed out everywhere"));
    assert!(h.get(&mut laptop, "/devices").await.is_signed_out());
    assert!(h.get(&mut phone, "/devices").await.is_signed_out());
    assert_eq!(h.get(&mut bob, "/devices").await.status, StatusCode::OK);
    assert_eq!(h.sessions_of("alice").await, 0);

    let unknown = h
        .submit(&mut admin, "/admin/kick", &[("account", "nobody")])
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

async fn only_admins_may_see_or_kick<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let mut alice = h.signed_in(ALICE, FIREFOX).await;
    let mut bob = h.signed_in(BOB, FIREFOX).await;
    assert_eq!(
        h.get(&mut bob, "/admin").await.status,
        StatusCode::FORBIDDEN
    );
    h.get(&mut bob, "/devices").await;
    let reply = h
        .submit(&mut bob, "/admin/kick", &[("account", "alice")])
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(h.get(&mut alice, "/devices").await.status, StatusCode::OK);
    // The admin link only shows for admins.
    assert!(
        !h.get(&mut bob, "/devices")
            .await
            .body
            .contains("href=\"/admin\"")
    );
}
