//! The security review's findings (issue 18), one test each: each failed
//! on the app before the fix.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::json;
use sessiond_demo::Settings;
use sessiond_protocol::SessionStore;

use crate::harness::{ADMIN, ALICE, ANDROID, Browser, FIREFOX, Stores};
use crate::on_both_stores;

on_both_stores!(
    a_login_token_planted_in_the_cookie_is_refused,
    api_answers_are_never_cached_or_sniffed,
    access_tokens_die_with_kick_password_change_and_logout,
    a_reused_refresh_token_ends_its_session,
    a_sign_in_racing_a_password_change_does_not_survive_it,
    password_form_mistakes_never_pause_sign_ins,
);

async fn a_login_token_planted_in_the_cookie_is_refused<T: Stores>() {
    let h = T::start(Settings::default()).await;
    // Someone who can set cookies for this site (a sibling subdomain,
    // without the __Host- prefix) plants a token and submits it too.
    let planted = "A".repeat(43);
    let mut browser = Browser::new(FIREFOX);
    browser
        .cookies
        .insert("__Host-login-csrf".into(), planted.clone());
    let reply = h
        .post(
            &mut browser,
            "/login",
            &[
                ("username", ALICE.0),
                ("password", ALICE.1),
                ("csrf", &planted),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    assert_eq!(h.sessions_of("alice").await, 0);
    // The refusal replaces the cookie it did not sign.
    let set = reply.set_cookies().join("\n");
    assert!(set.contains("__Host-login-csrf="), "{set}");
    assert!(set.contains("Secure") && set.contains("Path=/"), "{set}");
    assert_ne!(reply.csrf().unwrap(), planted);
}

async fn api_answers_are_never_cached_or_sniffed<T: Stores>() {
    let h = T::start(Settings::default()).await;
    for (method, path, body) in [
        (
            Method::POST,
            "/api/login",
            Some(json!({"username": "alice", "password": ALICE.1})),
        ),
        (
            Method::POST,
            "/api/jwt/login",
            Some(json!({"username": "bob", "password": "bob-password"})),
        ),
        (Method::GET, "/api/me", None),
        (Method::GET, "/api/nothing-here", None),
    ] {
        let mut request = axum::http::Request::builder().method(method).uri(path);
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let body = body.map_or_else(axum::body::Body::empty, |b| b.to_string().into());
        let reply = h.send(request.body(body).unwrap()).await;
        assert_eq!(reply.headers["cache-control"], "no-store", "{path}");
        assert_eq!(reply.headers["x-content-type-options"], "nosniff", "{path}");
    }
    let css = h
        .send(
            axum::http::Request::get("/style.css")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(css.headers["x-content-type-options"], "nosniff");
}

async fn jwt_pair<S: sessiond_demo::Backend>(
    h: &crate::harness::Harness<S>,
    who: (&str, &str),
) -> serde_json::Value {
    let body = json!({"username": who.0, "password": who.1});
    let (status, json) = h
        .api(Method::POST, "/api/jwt/login", None, Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    json
}

async fn access_tokens_die_with_kick_password_change_and_logout<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let me = |token: String| {
        let h = &h;
        async move { h.api(Method::GET, "/api/jwt/me", Some(&token), None).await }
    };
    // Kick.
    let pair = jwt_pair(&h, ALICE).await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    assert_eq!(me(access.clone()).await.0, StatusCode::OK);
    let mut admin = h.signed_in(ADMIN, FIREFOX).await;
    h.get(&mut admin, "/admin").await;
    h.submit(&mut admin, "/admin/kick", &[("account", "alice")])
        .await;
    let (status, json) = me(access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json["code"], "token_session_ended");

    // Password change on another device.
    let pair = jwt_pair(&h, ALICE).await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let mut browser = h.signed_in(ALICE, ANDROID).await;
    let reply = h
        .submit(
            &mut browser,
            "/password",
            &[
                ("current", ALICE.1),
                ("new", "a-new-long-password"),
                ("confirm", "a-new-long-password"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(me(access).await.0, StatusCode::UNAUTHORIZED);

    // Sign-out of the browser that got the JWT page's token.
    h.get(&mut browser, "/jwt").await;
    h.submit(&mut browser, "/jwt/issue", &[]).await;
    let page = h.get(&mut browser, "/jwt").await;
    let start = page.body.find("<pre class=\"token\">").unwrap() + 19;
    let token = page.body[start..start + page.body[start..].find('<').unwrap()].to_owned();
    assert_eq!(me(token.clone()).await.0, StatusCode::OK);
    h.submit(&mut browser, "/logout", &[]).await;
    assert_eq!(me(token).await.0, StatusCode::UNAUTHORIZED);
}

async fn a_reused_refresh_token_ends_its_session<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let pair = jwt_pair(&h, ALICE).await;
    let old = json!({"refresh_token": pair["refresh_token"]});
    let (status, fresh) = h
        .api(Method::POST, "/api/jwt/refresh", None, Some(old.clone()))
        .await;
    assert_eq!(status, StatusCode::OK);
    // The old refresh token again: someone else holds a copy.
    let (status, json) = h
        .api(Method::POST, "/api/jwt/refresh", None, Some(old))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json["code"], "refresh_reused", "{json}");
    // So the whole session ended: the newer pair is dead too.
    assert_eq!(h.sessions_of("alice").await, 0);
    let newer = json!({"refresh_token": fresh["refresh_token"]});
    let (status, _) = h
        .api(Method::POST, "/api/jwt/refresh", None, Some(newer))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let access = fresh["access_token"].as_str().unwrap();
    let (status, _) = h.api(Method::GET, "/api/jwt/me", Some(access), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn a_sign_in_racing_a_password_change_does_not_survive_it<T: Stores>() {
    let h = T::start(Settings::default()).await;
    // Hold every password-check turn, so that a sign-in is in flight...
    let permits = Settings::default().attempts.concurrent_hashes as u32;
    let held = h.state.password_gate.close_for_test(permits).await;
    let app = h.app.clone();
    let mut browser = Browser::new(FIREFOX);
    let page = h.get(&mut browser, "/login").await;
    let token = page.csrf().unwrap();
    let signing_in = {
        let h_app = app;
        let cookie = browser
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        tokio::spawn(async move {
            let body = format!("username=alice&password={}&csrf={token}", ALICE.1);
            let mut request = axum::http::Request::post("/login")
                .header("host", "demo.test")
                .header("cookie", cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(axum::body::Body::from(body))
                .unwrap();
            request.extensions_mut().insert(axum::extract::ConnectInfo(
                std::net::SocketAddr::from(([192, 0, 2, 7], 1)),
            ));
            tower::ServiceExt::oneshot(h_app, request).await.unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    // ...when the password is changed and every session ended, which is
    // what the password form does once its own check is through.
    h.state
        .accounts
        .set_password("alice", "a-new-long-password")
        .unwrap();
    h.state.store.delete_owner(b"alice", None).await.unwrap();
    drop(held);
    let reply = signing_in.await.unwrap();
    assert_eq!(reply.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        h.sessions_of("alice").await,
        0,
        "no session outlives the change"
    );
}

async fn password_form_mistakes_never_pause_sign_ins<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let mut here = h.signed_in(ALICE, FIREFOX).await;
    for left in (1..5).rev() {
        let reply = h
            .submit(
                &mut here,
                "/password",
                &[
                    ("current", "nope"),
                    ("new", "a-new-long-password"),
                    ("confirm", "a-new-long-password"),
                ],
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        // Said on the form itself, on the devices page with its menu.
        assert!(
            reply.body.contains("id=\"password-error\""),
            "{}",
            reply.body
        );
        assert!(
            reply.body.contains(&format!("{left} more tries")),
            "{}",
            reply.body
        );
        assert!(reply.body.contains("Sign out alice"));
    }
    // Sign-ins elsewhere were never slowed.
    let mut other = Browser::new(ANDROID);
    other.ip = [192, 0, 2, 7];
    assert_eq!(
        h.login(&mut other, ALICE).await.status,
        StatusCode::SEE_OTHER
    );
    // The fifth wrong one signs this session out (a stolen cookie is no
    // guessing oracle); the other device stays.
    let reply = h
        .submit(
            &mut here,
            "/password",
            &[
                ("current", "nope"),
                ("new", "a-new-long-password"),
                ("confirm", "a-new-long-password"),
            ],
        )
        .await;
    assert_eq!(reply.location(), Some("/login?ended=wrong-passwords"));
    assert_eq!(h.sessions_of("alice").await, 1);
    h.get(&mut other, "/devices").await;
    let mismatch = h
        .submit(
            &mut other,
            "/password",
            &[
                ("current", ALICE.1),
                ("new", "a-new-long-password"),
                ("confirm", "another-long-one"),
            ],
        )
        .await;
    assert!(mismatch.body.contains("id=\"password-error\""));
    assert!(mismatch.body.contains("differ"));
}
