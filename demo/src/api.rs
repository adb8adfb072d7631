//! The JSON API for mobile apps and scripts: the session id is the bearer
//! token (`Authorization: Bearer <id>`), so every session feature (device
//! list, revoke, sign-out everywhere) works for apps as for browsers. No
//! CSRF token is needed: browsers never attach this header by themselves.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Serialize;
use sessiond_protocol::SessionId;

use crate::auth::{self, ClientInfo, CurrentSession, Via};
use crate::error::{ApiError, AppError};
use crate::jwt::{self, Credentials};
use crate::store::{Backend, Checked};
use crate::{AppState, devices};

/// The API's routes, nested under /api.
pub(crate) fn routes<S: Backend>() -> Router<AppState<S>> {
    Router::new()
        .route("/login", post(login::<S>))
        .route("/logout", post(logout::<S>))
        .route("/me", get(me))
        .route("/devices", get(list::<S>))
        .route("/devices/{device}", delete(revoke::<S>))
        .route("/jwt/login", post(jwt::api_login::<S>))
        .route("/jwt/refresh", post(jwt::api_refresh::<S>))
        .route("/jwt/me", get(jwt::api_me::<S>))
        .route("/jwt/revoke", post(jwt::api_revoke::<S>))
        .fallback(|| async { ApiError(AppError::NotFound("page")) })
        .method_not_allowed_fallback(|| async { ApiError(AppError::FormOnly) })
        .layer(axum::middleware::map_response(crate::pages::api_headers))
}

/// An API session, from `Authorization: Bearer <session id>`.
pub struct ApiSession(pub CurrentSession);

impl<S: Backend> FromRequestParts<AppState<S>> for ApiSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState<S>) -> Result<Self, ApiError> {
        let token = jwt::bearer(&parts.headers).ok_or(AppError::NotSignedIn { next: None })?;
        let id = token
            .parse::<SessionId>()
            .map_err(|_| AppError::SignedOut {
                why: crate::ended::Ended::Unknown,
                next: None,
            })?;
        Ok(ApiSession(auth::load(state, &id, Via::Api).await?))
    }
}

/// A new API session.
#[derive(Debug, Serialize)]
struct LoggedIn {
    /// The bearer token.
    token: String,
    /// When it ends if unused, Unix seconds.
    expires_at: u64,
}

async fn login<S: Backend>(
    State(state): State<AppState<S>>,
    client: ClientInfo,
    Json(body): Json<Credentials>,
) -> Result<Json<LoggedIn>, ApiError> {
    let jar = Default::default();
    let verified =
        auth::authenticate(&state, &jar, &body.username, &body.password, &client).await?;
    let started = auth::sign_in(&state, &verified, Via::Api, &client).await?;
    let session = auth::load(&state, &started.id, Via::Api).await?;
    Ok(Json(LoggedIn {
        token: started.id.to_string(),
        expires_at: session.info.expires_at,
    }))
}

async fn logout<S: Backend>(
    State(state): State<AppState<S>>,
    ApiSession(session): ApiSession,
) -> Result<StatusCode, ApiError> {
    state.store.delete(&session.id).await.checked()?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who the token belongs to.
#[derive(Debug, Serialize)]
struct Me {
    account: String,
    admin: bool,
    device: String,
    created_at: u64,
    last_seen_at: u64,
    expires_at: u64,
}

async fn me(ApiSession(session): ApiSession) -> Json<Me> {
    Json(Me {
        admin: session.role == crate::Role::Admin,
        device: session.device().to_owned(),
        created_at: session.info.created_at,
        last_seen_at: session.info.last_seen_at,
        expires_at: session.info.expires_at,
        account: session.account,
    })
}

/// One device in the API's list.
#[derive(Debug, Serialize)]
struct Device {
    device: String,
    browser: String,
    os: &'static str,
    ip: String,
    via: &'static str,
    created_at: u64,
    last_seen_at: u64,
    expires_at: u64,
    current: bool,
}

async fn list<S: Backend>(
    State(state): State<AppState<S>>,
    ApiSession(session): ApiSession,
) -> Result<Json<Vec<Device>>, ApiError> {
    let sessions = devices::sessions(&state, &session).await?;
    let now = state.now();
    let devices = sessions
        .iter()
        .map(|info| {
            let row = devices::row(info, &session.id, now);
            Device {
                device: row.handle,
                browser: row.browser,
                os: row.os,
                ip: row.ip,
                via: row.via,
                created_at: info.created_at,
                last_seen_at: info.last_seen_at,
                expires_at: info.expires_at,
                current: row.current,
            }
        })
        .collect();
    Ok(Json(devices))
}

async fn revoke<S: Backend>(
    State(state): State<AppState<S>>,
    ApiSession(session): ApiSession,
    Path(device): Path<String>,
) -> Result<StatusCode, ApiError> {
    let info = devices::find(&state, &session.account, &device)
        .await?
        .ok_or(AppError::NotFound("device"))?;
    crate::ended::note(&state, &[info.id], crate::ended::Ended::Revoked).await?;
    state.store.delete(&info.id).await.checked()?;
    Ok(StatusCode::NO_CONTENT)
}
