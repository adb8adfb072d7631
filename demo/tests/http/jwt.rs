//! JWTs: issue, refresh, revoke with and without the denylist, and every
//! way a token can be bad; and the page that lets a person try it.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sessiond_demo::Settings;
use sessiond_protocol::{KeyTtl, SessionStore};

use crate::harness::{ALICE, FIREFOX, Harness, Stores};
use crate::on_both_stores;

on_both_stores!(
    jwt_login_refresh_and_revoke_with_the_denylist,
    jwt_revoked_without_the_denylist_lives_until_it_expires,
    tampered_forged_and_expired_tokens_are_refused,
    the_jwt_page_shows_the_difference,
);

async fn jwt_login<S: sessiond_demo::Backend>(h: &Harness<S>) -> Value {
    let body = json!({"username": ALICE.0, "password": ALICE.1});
    let (status, json) = h
        .api(Method::POST, "/api/jwt/login", None, Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    json
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn jwt_login_refresh_and_revoke_with_the_denylist<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let pair = jwt_login(&h).await;
    let access = pair["access_token"].as_str().unwrap();
    let refresh = pair["refresh_token"].as_str().unwrap();
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 300);
    let c = claims(access);
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 300);
    assert!(c["jti"].as_str().unwrap().len() >= 16);
    // The refresh token is a session, listed among the devices.
    assert_eq!(h.sessions_of("alice").await, 1);

    let (status, me) = h.api(Method::GET, "/api/jwt/me", Some(access), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["sub"], "alice");

    // A refresh token works once: it is rotated.
    let body = json!({"refresh_token": refresh});
    let (status, fresh) = h
        .api(Method::POST, "/api/jwt/refresh", None, Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(fresh["refresh_token"], pair["refresh_token"]);
    assert_eq!(h.sessions_of("alice").await, 1);

    // Revoke with the denylist: refused at once, and the refresh session ends.
    let new_access = fresh["access_token"].as_str().unwrap();
    h.clock.advance(Duration::from_secs(100));
    let (status, _) = h
        .api(Method::POST, "/api/jwt/revoke", Some(new_access), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, json) = h
        .api(Method::GET, "/api/jwt/me", Some(new_access), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(json["error"].as_str().unwrap().contains("revoked"));
    assert_eq!(h.sessions_of("alice").await, 0);
    let body = json!({"refresh_token": fresh["refresh_token"]});
    let (status, _) = h
        .api(Method::POST, "/api/jwt/refresh", None, Some(body))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The denylist entry lives exactly as long as the token would have.
    let jti = claims(new_access)["jti"].as_str().unwrap().to_owned();
    let ttl = h
        .state
        .store
        .ttl(format!("jwt-denylist:{jti}").as_bytes())
        .await
        .unwrap();
    match ttl {
        KeyTtl::ExpiresIn(left) => assert!(
            left <= Duration::from_secs(200) && left > Duration::from_secs(190),
            "{left:?}"
        ),
        other => panic!("the denylist key has no TTL: {other:?}"),
    }
}

async fn jwt_revoked_without_the_denylist_lives_until_it_expires<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let pair = jwt_login(&h).await;
    let access = pair["access_token"].as_str().unwrap();
    let (status, _) = h
        .api(
            Method::POST,
            "/api/jwt/revoke?denylist=false",
            Some(access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // No new tokens: the refresh session is gone.
    let body = json!({"refresh_token": pair["refresh_token"]});
    let (status, _) = h
        .api(Method::POST, "/api/jwt/refresh", None, Some(body))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A plain check still accepts the token: nothing in it changed. The
    // bound check (the API's default) refuses it at once.
    let plain = "/api/jwt/me?check=plain";
    h.clock.advance(Duration::from_secs(290));
    let (status, _) = h.api(Method::GET, plain, Some(access), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h
        .api(
            Method::GET,
            "/api/jwt/me?check=denylist",
            Some(access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, json) = h.api(Method::GET, "/api/jwt/me", Some(access), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json["code"], "token_session_ended", "{json}");
    h.clock.advance(Duration::from_secs(11));
    let (status, json) = h.api(Method::GET, plain, Some(access), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(json["error"].as_str().unwrap().contains("expired"));
}

async fn tampered_forged_and_expired_tokens_are_refused<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let pair = jwt_login(&h).await;
    let access = pair["access_token"].as_str().unwrap();
    let parts: Vec<&str> = access.split('.').collect();

    let mut c = claims(access);
    c["sub"] = json!("admin");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(c.to_string()),
        parts[2]
    );
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    let foreign_key = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(access),
        &EncodingKey::from_secret(b"not the app's key, but 32 bytes!"),
    )
    .unwrap();
    let other_alg = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &claims(access),
        &EncodingKey::from_secret(h.state.jwt_key()),
    )
    .unwrap();
    for bad in [
        tampered.as_str(),
        &unsigned,
        &foreign_key,
        &other_alg,
        "a.b.c",
        "",
    ] {
        let (status, json) = h.api(Method::GET, "/api/jwt/me", Some(bad), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}");
        assert!(
            json["error"]
                .as_str()
                .unwrap()
                .contains("not a token this app signed"),
            "{json}"
        );
    }
    // A token signed with the app's key but past its exp.
    let mut stale = claims(access);
    stale["exp"] = json!(h.state.now() - 1);
    let expired = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &stale,
        &EncodingKey::from_secret(h.state.jwt_key()),
    )
    .unwrap();
    let (status, json) = h
        .api(Method::GET, "/api/jwt/me", Some(&expired), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(json["error"].as_str().unwrap().contains("expired"));
    // The genuine one still works; without a header nothing does.
    let (status, _) = h.api(Method::GET, "/api/jwt/me", Some(access), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h.api(Method::GET, "/api/jwt/me", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn the_jwt_page_shows_the_difference<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let mut browser = h.signed_in(ALICE, FIREFOX).await;
    let page = h.get(&mut browser, "/jwt").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("denylist"));

    // Post, then redirect back to GET /jwt: a reload re-submits nothing.
    let issued = h.submit(&mut browser, "/jwt/issue", &[]).await;
    assert_eq!(issued.status, StatusCode::SEE_OTHER);
    assert_eq!(issued.location(), Some("/jwt"));
    let page = h.get(&mut browser, "/jwt").await;
    assert!(page.body.contains("Token issued"), "{}", page.body);
    assert_eq!(
        page.body.matches("Accepted, for").count(),
        3,
        "{}",
        page.body
    );
    // iat and exp are times, not raw seconds.
    assert!(page.body.contains("<time datetime="), "{}", page.body);
    assert_eq!(
        h.sessions_of("alice").await,
        2,
        "the refresh session is a device"
    );
    // Getting another token reuses the refresh session: no new device.
    h.get(&mut browser, "/jwt").await;
    h.submit(&mut browser, "/jwt/issue", &[]).await;
    h.get(&mut browser, "/jwt").await;
    h.submit(&mut browser, "/jwt/issue", &[]).await;
    assert_eq!(h.sessions_of("alice").await, 2);

    let page = h.get(&mut browser, "/jwt").await;
    h.submit(&mut browser, "/jwt/revoke", &[]).await;
    assert_eq!(h.sessions_of("alice").await, 1);
    let page_after = h.get(&mut browser, "/jwt").await;
    assert!(page.body.contains("Accepted"));
    let seen = verdicts(&page_after.body);
    assert_eq!(seen.len(), 3, "{}", page_after.body);
    assert!(seen[0].starts_with("Accepted"), "plain: {}", seen[0]);
    assert!(seen[1].starts_with("Accepted"), "denylist: {}", seen[1]);
    assert!(seen[2].starts_with("Refused"), "bound: {}", seen[2]);

    h.submit(&mut browser, "/jwt/denylist", &[]).await;
    let page = h.get(&mut browser, "/jwt").await;
    let seen2 = verdicts(&page.body);
    assert!(seen2[0].starts_with("Accepted"), "plain: {}", seen2[0]);
    assert!(seen2[1].contains("denylist"), "denylist: {}", seen2[1]);

    // A session ends at once: the next page is the login page.
    let ended = h.submit(&mut browser, "/jwt/end-session", &[]).await;
    assert_eq!(ended.location(), Some("/jwt"));
    let next = h.get(&mut browser, "/jwt").await;
    assert!(next.is_signed_out());
    assert_eq!(next.ended(), Some("ended-by-you"));
}

/// The verdicts of a JWT page, in order.
fn verdicts(body: &str) -> Vec<String> {
    let marker = "<span class=\"verdict\">";
    body.match_indices(marker)
        .map(|(at, _)| {
            let rest = &body[at + marker.len()..];
            rest[..rest.find("</span>").unwrap()].to_owned()
        })
        .collect()
}
