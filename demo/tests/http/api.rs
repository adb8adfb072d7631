//! The JSON API with `Authorization: Bearer <session id>`.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::json;
use sessiond_demo::Settings;

use crate::harness::{ALICE, FIREFOX, Harness, Stores};
use crate::on_both_stores;

on_both_stores!(
    api_login_me_devices_revoke_logout,
    api_refuses_bad_credentials_and_bad_tokens,
    api_sessions_expire,
);

async fn api_login<S: sessiond_demo::Backend>(h: &Harness<S>) -> String {
    let body = json!({"username": ALICE.0, "password": ALICE.1});
    let (status, json) = h.api(Method::POST, "/api/login", None, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert!(json["expires_at"].as_u64().unwrap() > h.state.now());
    json["token"].as_str().unwrap().to_owned()
}

async fn api_login_me_devices_revoke_logout<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let token = api_login(&h).await;
    let other = api_login(&h).await;
    let mut browser = h.signed_in(ALICE, FIREFOX).await;

    let (status, me) = h.api(Method::GET, "/api/me", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["account"], "alice");
    assert_eq!(me["admin"], false);

    let (status, devices) = h.api(Method::GET, "/api/devices", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    let devices = devices.as_array().unwrap().clone();
    assert_eq!(devices.len(), 3);
    let current: Vec<_> = devices.iter().filter(|d| d["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["device"], me["device"]);
    assert_eq!(current[0]["via"], "API client");
    let browser_device = devices.iter().find(|d| d["via"] == "Browser").unwrap();
    assert_eq!(browser_device["browser"], "Firefox 133");

    // Revoke the browser from the API; the browser is out at once.
    let path = format!(
        "/api/devices/{}",
        browser_device["device"].as_str().unwrap()
    );
    let (status, _) = h.api(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(h.get(&mut browser, "/devices").await.is_signed_out());
    let (status, _) = h.api(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = h.api(Method::POST, "/api/logout", Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, json) = h.api(Method::GET, "/api/me", Some(&token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json["code"], "session_ended", "{json}");
    let (status, _) = h.api(Method::GET, "/api/me", Some(&other), None).await;
    assert_eq!(status, StatusCode::OK);
}

async fn api_refuses_bad_credentials_and_bad_tokens<T: Stores>() {
    let h = T::start(Settings::default()).await;
    for body in [
        json!({"username": "alice", "password": "wrong"}),
        json!({"username": "nobody", "password": "wrong"}),
    ] {
        let (status, json) = h.api(Method::POST, "/api/login", None, Some(body)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(json["error"], "Wrong username or password.");
    }
    let (status, _) = h
        .api(
            Method::POST,
            "/api/login",
            None,
            Some(json!({"username": "alice"})),
        )
        .await;
    assert!(status.is_client_error());
    for token in [None, Some("garbage"), Some("AAAAAAAAAAAAAAAAAAAAAA")] {
        let (status, json) = h.api(Method::GET, "/api/me", token, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert!(json["error"].is_string());
    }
    // A browser's session id is not an API token.
    let browser = h.signed_in(ALICE, FIREFOX).await;
    let (status, _) = h.api(Method::GET, "/api/me", browser.session(), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn api_sessions_expire<T: Stores>() {
    let h = T::start(Settings {
        idle_timeout: Duration::from_secs(300),
        ..Settings::default()
    })
    .await;
    let token = api_login(&h).await;
    h.clock.advance(Duration::from_secs(240));
    let (status, _) = h.api(Method::GET, "/api/me", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    h.clock.advance(Duration::from_secs(301));
    let (status, _) = h.api(Method::GET, "/api/me", Some(&token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
