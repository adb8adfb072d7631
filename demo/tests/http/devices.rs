//! The devices page: two browsers, revoke one from the other, log out all
//! others, and no reaching into another account.

use axum::http::StatusCode;
use sessiond_demo::Settings;

use crate::harness::{ALICE, ANDROID, BOB, FIREFOX, Stores};
use crate::on_both_stores;

on_both_stores!(
    revoking_a_device_signs_it_out_at_its_next_request,
    log_out_all_other_devices_keeps_only_this_one,
    devices_of_another_account_cannot_be_revoked,
    revoking_this_device_is_signing_out,
);

async fn revoking_a_device_signs_it_out_at_its_next_request<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let mut laptop = h.signed_in(ALICE, FIREFOX).await;
    let mut phone = h.signed_in(ALICE, ANDROID).await;

    let page = h.get(&mut laptop, "/devices").await;
    assert_eq!(page.devices().len(), 2, "{}", page.body);
    assert!(page.body.contains("Firefox 133 on Linux"));
    assert!(page.body.contains("Chrome 131 on Android"));
    assert_eq!(page.body.matches("this device").count(), 1);
    let (mut phone_handle, mut laptop_handle) = (String::new(), String::new());
    for handle in page.devices() {
        match page
            .body
            .contains(&format!("class=\"card current\" data-device=\"{handle}\""))
        {
            true => laptop_handle = handle,
            false => phone_handle = handle,
        }
    }
    assert!(!phone_handle.is_empty() && !laptop_handle.is_empty());

    let reply = h
        .submit(&mut laptop, "/devices/revoke", &[("device", &phone_handle)])
        .await;
    assert_eq!(reply.location(), Some("/devices?notice=revoked"));
    assert_eq!(h.sessions_of("alice").await, 1);
    assert!(h.get(&mut phone, "/devices").await.is_signed_out());
    let page = h.get(&mut laptop, reply.location().unwrap()).await;
    assert_eq!(page.devices(), vec![laptop_handle]);
    assert!(page.body.contains("That device is signed out"));
}

async fn log_out_all_other_devices_keeps_only_this_one<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let mut laptop = h.signed_in(ALICE, FIREFOX).await;
    let mut phone = h.signed_in(ALICE, ANDROID).await;
    let (status, json) = h
        .api(
            axum::http::Method::POST,
            "/api/login",
            None,
            Some(serde_json::json!({"username": ALICE.0, "password": ALICE.1})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let token = json["token"].as_str().unwrap().to_owned();
    let mut bob = h.signed_in(BOB, FIREFOX).await;
    assert_eq!(h.sessions_of("alice").await, 3);

    let reply = h.submit(&mut laptop, "/devices/others", &[]).await;
    assert_eq!(reply.location(), Some("/devices?notice=others"));
    assert_eq!(h.sessions_of("alice").await, 1);
    assert!(h.get(&mut phone, "/devices").await.is_signed_out());
    let (status, _) = h
        .api(axum::http::Method::GET, "/api/me", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(h.get(&mut laptop, "/devices").await.status, StatusCode::OK);
    // Other accounts are untouched.
    assert_eq!(h.get(&mut bob, "/devices").await.status, StatusCode::OK);
}

async fn devices_of_another_account_cannot_be_revoked<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let mut alice = h.signed_in(ALICE, FIREFOX).await;
    let mut bob = h.signed_in(BOB, FIREFOX).await;
    let alice_handle = h.get(&mut alice, "/devices").await.devices()[0].clone();
    h.get(&mut bob, "/devices").await;
    let reply = h
        .submit(&mut bob, "/devices/revoke", &[("device", &alice_handle)])
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = h
        .submit(&mut bob, "/devices/revoke", &[("device", "")])
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(h.get(&mut alice, "/devices").await.status, StatusCode::OK);
    // No session id appears in the page: devices are named by handles.
    let page = h.get(&mut alice, "/devices").await;
    assert!(!page.body.contains(alice.session().unwrap()));
}

async fn revoking_this_device_is_signing_out<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let mut laptop = h.signed_in(ALICE, FIREFOX).await;
    let handle = h.get(&mut laptop, "/devices").await.devices()[0].clone();
    let reply = h
        .submit(&mut laptop, "/devices/revoke", &[("device", &handle)])
        .await;
    assert_eq!(reply.location(), Some("/login?notice=logged-out"));
    assert!(laptop.session().is_none());
    assert_eq!(h.sessions_of("alice").await, 0);
}
