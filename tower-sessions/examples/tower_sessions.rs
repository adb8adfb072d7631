//! An axum app on tower-sessions with sessiond as its store: a visit
//! counter, login, "my devices" and log out everywhere.
//!
//! ```sh
//! cargo run -p tower-sessions-sessiond-store --example tower_sessions
//! # or against a running daemon:
//! cargo run -p tower-sessions-sessiond-store --example tower_sessions -- sessiond://127.0.0.1:7878
//!
//! curl -c jar -b jar localhost:3000/                     # visit 1, as a visitor
//! curl -c jar -b jar -d user=alice localhost:3000/login  # no password: an example
//! curl -c jar -b jar localhost:3000/devices              # alice's sessions
//! curl -c jar -b jar -X POST localhost:3000/logout-everywhere
//! ```
//!
//! Everything but the store is what any tower-sessions app has; the
//! store is one line (see `serve`).

use std::fmt::Display;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use sessiond_client::protocol::Labels;
use sessiond_client::{Client, ClientConfig, SessionStore};
use tower_sessions::{Expiry, Session, SessionManagerLayer};
use tower_sessions_sessiond_store::{AsStoreError, SessiondSessionStore, session_id};

/// Where the logged-in user's name is kept in the session: the store files
/// each session under it.
const USER: &str = "user_id";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::args().nth(1) {
        Some(url) => serve(Client::connect(ClientConfig::from_url(&url)?).await?).await,
        None => serve(sessiond::Store::new(sessiond::StoreConfig::default())).await,
    }
}

async fn serve<S>(store: S) -> Result<(), Box<dyn std::error::Error>>
where
    S: SessionStore<Error: AsStoreError> + Clone + 'static,
{
    // The one line that differs from the Redis store's example, which has
    // `let sessions = RedisStore::new(pool);`. The labels are optional.
    let sessions = SessiondSessionStore::new(store)
        .with_owner_field(USER)
        .with_labels(
            |record| match record.data.get("ua").and_then(Value::as_str) {
                Some(ua) => Labels::new().with("ua", ua),
                None => Labels::new(),
            },
        );
    let layer = SessionManagerLayer::new(sessions.clone())
        .with_secure(false) // plain http on localhost
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(30)))
        .with_always_save(true); // slide the expiry, and "last seen", on every request
    let app = Router::new()
        .route("/", get(counter))
        .route("/login", post(login))
        .route("/devices", get(devices::<S>))
        .route("/logout-everywhere", post(logout_everywhere::<S>))
        .layer(layer)
        .with_state(sessions);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

type Reply<T> = Result<T, (StatusCode, String)>;

fn internal(err: impl Display) -> (StatusCode, String) {
    (StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
}

/// Counts this session's visits, and keeps its user agent for the labels.
async fn counter(session: Session, headers: HeaderMap) -> Reply<String> {
    let visits = session.get::<u64>("visits").await.map_err(internal)?;
    let visits = visits.unwrap_or(0) + 1;
    session.insert("visits", visits).await.map_err(internal)?;
    if let Some(ua) = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
    {
        session.insert("ua", ua).await.map_err(internal)?;
    }
    let who = session.get::<String>(USER).await.map_err(internal)?;
    Ok(format!(
        "visit {visits} as {}\n",
        who.as_deref().unwrap_or("a visitor")
    ))
}

#[derive(Deserialize)]
struct Login {
    user: String,
}

/// Logs in as anyone (a real app checks a password first). The id is
/// cycled against session fixation; the session now belongs to `user`.
async fn login(session: Session, Form(login): Form<Login>) -> Reply<String> {
    session.cycle_id().await.map_err(internal)?;
    session.insert(USER, &login.user).await.map_err(internal)?;
    Ok(format!("logged in as {}\n", login.user))
}

/// The logged-in user's name, or 401.
async fn user(session: &Session) -> Reply<String> {
    match session.get::<String>(USER).await.map_err(internal)? {
        Some(user) => Ok(user),
        None => Err((StatusCode::UNAUTHORIZED, "log in first\n".into())),
    }
}

/// Every live session of this user: the owner index, no scan.
async fn devices<S: SessionStore>(
    State(sessions): State<SessiondSessionStore<S>>,
    session: Session,
) -> Reply<Json<Value>> {
    let user = user(&session).await?;
    let this = session.id().map(session_id);
    let list = sessions
        .store()
        .list(user.as_bytes())
        .await
        .map_err(internal)?;
    let devices = list.iter().map(|device| {
        json!({
            "this_device": Some(device.id) == this,
            "user_agent": device.labels.get("ua"),
            "created_at": device.created_at,
            "last_seen_at": device.last_seen_at,
            "expires_at": device.expires_at,
        })
    });
    Ok(Json(
        json!({ "user": user, "devices": devices.collect::<Vec<_>>() }),
    ))
}

/// Ends every session of this user, this one included: each device's next
/// request starts a new, anonymous session.
async fn logout_everywhere<S: SessionStore>(
    State(sessions): State<SessiondSessionStore<S>>,
    session: Session,
) -> Reply<String> {
    let user = user(&session).await?;
    let ended = sessions
        .store()
        .delete_owner(user.as_bytes(), None)
        .await
        .map_err(internal)?;
    Ok(format!("{ended} sessions of {user} ended\n"))
}
