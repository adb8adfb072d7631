//! The store behind tower-sessions' own `SessionManagerLayer` in an axum
//! router, driven request by request with cookies, as a browser would.

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{Request, StatusCode, header};
use axum::routing::{get, post};
use tower::ServiceExt as _;
use tower_sessions::{Session, SessionManagerLayer};
use tower_sessions_sessiond_store::SessiondSessionStore;

use crate::Backend;

/// Counts the requests of this session.
async fn count(session: Session) -> String {
    let n = session.get::<u64>("count").await.unwrap().unwrap_or(0) + 1;
    session.insert("count", n).await.unwrap();
    n.to_string()
}

/// Logs in as `user`, with a fresh id against session fixation.
async fn login(session: Session, Path(user): Path<String>) -> &'static str {
    session.cycle_id().await.unwrap();
    session.insert("user_id", user).await.unwrap();
    "logged in"
}

fn router<S: Backend>(store: &SessiondSessionStore<S>) -> Router {
    Router::new()
        .route("/count", get(count))
        .route("/login/{user}", post(login))
        .layer(SessionManagerLayer::new(store.clone()).with_secure(false))
}

/// One request; returns the body and the session cookie set, if any.
async fn send(
    app: &Router,
    method: &str,
    uri: &str,
    cookie: Option<&str>,
) -> (String, Option<String>) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{method} {uri}");
    let set_cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    (String::from_utf8(body.to_vec()).unwrap(), set_cookie)
}

pub async fn a_session_survives_requests_until_delete_owner<S: Backend>(
    store: &SessiondSessionStore<S>,
) {
    let app = router(store);

    let (body, cookie) = send(&app, "GET", "/count", None).await;
    assert_eq!(body, "1");
    let visitor = cookie.expect("a session cookie");
    assert_eq!(send(&app, "GET", "/count", Some(&visitor)).await.0, "2");

    // Login: a new id, the count kept, the session filed under the user.
    let (_, cookie) = send(&app, "POST", "/login/alice", Some(&visitor)).await;
    let alice = cookie.expect("the new id's cookie");
    assert_ne!(alice, visitor);
    let devices = store.store().list(b"alice").await.unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(
        format!("id={}", devices[0].id),
        alice,
        "the cookie is the listed id"
    );
    assert_eq!(send(&app, "GET", "/count", Some(&alice)).await.0, "3");
    // The visitor's id died at login.
    assert_eq!(send(&app, "GET", "/count", Some(&visitor)).await.0, "1");

    // Log out everywhere: the next request starts a new session.
    assert_eq!(store.store().delete_owner(b"alice", None).await.unwrap(), 1);
    let (body, cookie) = send(&app, "GET", "/count", Some(&alice)).await;
    assert_eq!(body, "1");
    assert_ne!(cookie.expect("a new session cookie"), alice);
    assert_eq!(store.store().count(b"alice").await.unwrap(), 0);
}
