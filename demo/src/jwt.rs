//! JWTs side by side with sessions, to show what each can and cannot do.
//!
//! An access token here is an HS256 JWT (`sub`, `jti`, `iat`, `exp`, and
//! `sid`, the device handle of its refresh session), valid for a few
//! minutes; the refresh token is a session id in the store (`via=jwt`), so
//! refreshing can be refused the moment the session ends. A JWT alone
//! cannot be ended before `exp`: anyone holding it is let in, whatever
//! happened since. The denylist closes that gap: revoking puts the token's
//! `jti` in a plain key of the store whose TTL is the token's remaining
//! life, and every check reads it. That is a store lookup per request,
//! exactly what JWTs were meant to save, which is the point of the page.

use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{Redirect, Response};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sessiond_protocol::SessionId;

use crate::auth::{self, ClientInfo, CurrentSession, Via};
use crate::csrf::{self, NoFields, Protected};
use crate::error::{ApiError, AppError};
use crate::store::{Backend, Checked};
use crate::templates::{self, JwtPage, Nav, Outcome};
use crate::{AppState, accounts, devices};

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The account.
    pub sub: String,
    /// The token's own id, what the denylist holds.
    pub jti: String,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Expires at, Unix seconds.
    pub exp: u64,
    /// The device handle of the refresh session it came from.
    pub sid: String,
}

/// The store key that denies a token.
fn denylist_key(jti: &str) -> Vec<u8> {
    format!("jwt-denylist:{jti}").into_bytes()
}

/// Signs a new access token for `account`, tied to refresh session
/// `device`.
///
/// # Errors
/// [`AppError::Internal`] if signing fails.
pub fn issue<S>(
    state: &AppState<S>,
    account: &str,
    device: &str,
) -> Result<(String, Claims), AppError> {
    let now = state.now();
    let claims = Claims {
        sub: account.to_owned(),
        jti: csrf::encode(&accounts::random_bytes::<16>()),
        iat: now,
        exp: now + state.settings.jwt_lifetime.as_secs(),
        sid: device.to_owned(),
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(state.jwt_key()),
    )
    .map_err(|e| AppError::Internal(format!("signing a token: {e}")))?;
    Ok((token, claims))
}

/// Checks an access token: signature and algorithm (HS256 only), expiry by
/// the app's clock, then the denylist.
///
/// # Errors
/// [`AppError::BadToken`] saying which check failed.
pub async fn verify<S: Backend>(state: &AppState<S>, token: &str) -> Result<Claims, AppError> {
    let mut validation = Validation::new(Algorithm::HS256);
    // Expiry is checked below against the app's clock, which tests move.
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["exp", "sub"]);
    let claims = jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(state.jwt_key()),
        &validation,
    )
    .map_err(|_| AppError::BadToken("not a token this app signed"))?
    .claims;
    if claims.exp <= state.now() {
        return Err(AppError::BadToken("expired"));
    }
    if state
        .store
        .get_key(&denylist_key(&claims.jti))
        .await
        .checked()?
        .is_some()
    {
        return Err(AppError::BadToken("revoked"));
    }
    Ok(claims)
}

/// Revokes a token: ends its refresh session (no new tokens), and if
/// `denylist`, denies the token itself for the rest of its life.
///
/// # Errors
/// Store errors.
pub async fn revoke<S: Backend>(
    state: &AppState<S>,
    claims: &Claims,
    denylist: bool,
) -> Result<(), AppError> {
    if let Some(id) = devices::find(state, &claims.sub, &claims.sid).await? {
        state.store.delete(&id).await.checked()?;
    }
    let left = claims.exp.saturating_sub(state.now());
    if denylist && left > 0 {
        let ttl = Some(Duration::from_secs(left));
        state
            .store
            .set_key(&denylist_key(&claims.jti), b"1", ttl)
            .await
            .checked()?;
    }
    Ok(())
}

/// What the JWT endpoints answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenPair {
    /// The JWT.
    pub access_token: String,
    /// Always "Bearer".
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// A session id: trade it at /api/jwt/refresh for a new pair.
    pub refresh_token: String,
}

async fn pair<S: Backend>(
    state: &AppState<S>,
    account: &str,
    refresh: SessionId,
    device: &str,
) -> Result<TokenPair, AppError> {
    let (access_token, claims) = issue(state, account, device)?;
    Ok(TokenPair {
        access_token,
        token_type: "Bearer".to_owned(),
        expires_in: claims.exp - claims.iat,
        refresh_token: refresh.to_string(),
    })
}

/// The API's sign-in body.
#[derive(Debug, Deserialize)]
pub struct Credentials {
    /// Account name.
    pub username: String,
    /// Its password.
    pub password: String,
}

/// POST /api/jwt/login: a token pair.
pub async fn api_login<S: Backend>(
    State(state): State<AppState<S>>,
    client: ClientInfo,
    Json(body): Json<Credentials>,
) -> Result<Json<TokenPair>, ApiError> {
    let account = auth::authenticate(&state, &body.username, &body.password, &client).await?;
    let started = auth::start_session(&state, &account, Via::Jwt, &client).await?;
    let session = auth::load(&state, &started.id, Via::Jwt).await?;
    Ok(Json(
        pair(&state, &account, started.id, session.device()).await?,
    ))
}

/// The refresh body.
#[derive(Debug, Deserialize)]
pub struct Refresh {
    /// The refresh token of the last pair.
    pub refresh_token: String,
}

/// POST /api/jwt/refresh: a new pair for a live refresh session, whose id
/// is rotated (a refresh token works once).
pub async fn api_refresh<S: Backend>(
    State(state): State<AppState<S>>,
    Json(body): Json<Refresh>,
) -> Result<Json<TokenPair>, ApiError> {
    let bad = || AppError::BadToken("unknown or ended refresh token");
    let id: SessionId = body.refresh_token.parse().map_err(|_| bad())?;
    let session = auth::load(&state, &id, Via::Jwt).await.map_err(|_| bad())?;
    let id = state.store.rotate(&id).await.checked().map_err(|_| bad())?;
    Ok(Json(
        pair(&state, &session.account, id, session.device()).await?,
    ))
}

/// The access token from `Authorization: Bearer`.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// GET /api/jwt/me: the claims of a valid token.
pub async fn api_me<S: Backend>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
) -> Result<Json<Claims>, ApiError> {
    let token = bearer(&headers).ok_or(AppError::BadToken("missing"))?;
    Ok(Json(verify(&state, token).await?))
}

/// `?denylist=false` revokes without the denylist.
#[derive(Debug, Deserialize)]
pub struct RevokeQuery {
    denylist: Option<bool>,
}

/// POST /api/jwt/revoke: revokes the bearer token (with the denylist unless
/// `?denylist=false`).
pub async fn api_revoke<S: Backend>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    Query(query): Query<RevokeQuery>,
) -> Result<axum::http::StatusCode, ApiError> {
    let token = bearer(&headers).ok_or(AppError::BadToken("missing"))?;
    let claims = verify(&state, token).await?;
    revoke(&state, &claims, query.denylist.unwrap_or(true)).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

fn jwt_page<S>(
    state: &AppState<S>,
    session: &CurrentSession,
    token: Option<(String, &Claims)>,
    outcome: Option<Outcome>,
) -> Response {
    let (token, claims) = match token {
        Some((token, claims)) => (
            Some(token),
            Some(serde_json::to_string_pretty(claims).unwrap_or_default()),
        ),
        None => (None, None),
    };
    templates::render(&JwtPage {
        nav: Nav::of(session),
        token,
        claims,
        outcome,
        lifetime: templates::duration(state.settings.jwt_lifetime),
    })
}

/// GET /jwt: the explanation, and a button to get a token.
pub async fn page<S: Backend>(
    State(state): State<AppState<S>>,
    session: CurrentSession,
) -> Response {
    jwt_page(&state, &session, None, None)
}

/// POST /jwt/issue: a token for the signed-in account, shown on the page.
pub async fn issue_form<S: Backend>(
    State(state): State<AppState<S>>,
    client: ClientInfo,
    Protected { session, .. }: Protected<NoFields>,
) -> Result<Response, AppError> {
    let started = auth::start_session(&state, &session.account, Via::Jwt, &client).await?;
    let refresh = auth::load(&state, &started.id, Via::Jwt).await?;
    let (token, claims) = issue(&state, &session.account, refresh.device())?;
    let outcome = Outcome {
        ok: true,
        message: "Token issued. Its refresh session is now on your devices page.".into(),
    };
    Ok(jwt_page(
        &state,
        &session,
        Some((token, &claims)),
        Some(outcome),
    ))
}

/// The token forms' fields.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    token: String,
    denylist: Option<String>,
}

/// POST /jwt/check: would an API accept this token now?
pub async fn check_form<S: Backend>(
    State(state): State<AppState<S>>,
    Protected { session, form }: Protected<TokenForm>,
) -> Result<Response, AppError> {
    let unverified = peek_claims(&form.token);
    let outcome = match verify(&state, &form.token).await {
        Ok(claims) => Outcome {
            ok: true,
            message: format!(
                "Accepted: signed by us, not expired, not on the denylist. \
                 It stays valid for {} more.",
                templates::duration(Duration::from_secs(claims.exp - state.now()))
            ),
        },
        Err(err) => Outcome {
            ok: false,
            message: format!("Rejected: {err}."),
        },
    };
    let shown = unverified
        .as_ref()
        .map(|claims| (form.token.clone(), claims));
    Ok(jwt_page(&state, &session, shown, Some(outcome)))
}

/// POST /jwt/revoke: revoke the token, with or without the denylist.
pub async fn revoke_form<S: Backend>(
    State(state): State<AppState<S>>,
    Protected { session, form }: Protected<TokenForm>,
) -> Result<Response, AppError> {
    let claims = match verify(&state, &form.token).await {
        Ok(claims) if claims.sub == session.account => claims,
        Ok(_) => return Err(AppError::Forbidden),
        Err(err) => {
            let outcome = Outcome {
                ok: false,
                message: format!("Nothing to revoke: {err}."),
            };
            return Ok(jwt_page(&state, &session, None, Some(outcome)));
        }
    };
    let denylist = form.denylist.is_some();
    revoke(&state, &claims, denylist).await?;
    let message = match denylist {
        true => {
            "Revoked with the denylist: its refresh session is gone and the token's id \
                 is in the store until it would have expired. Check it: rejected at once."
        }
        false => {
            "Revoked without the denylist: its refresh session is gone, so no new \
                  tokens; but check the token itself: it is still accepted until it \
                  expires, because nothing on the server remembers it."
        }
    };
    let outcome = Outcome {
        ok: true,
        message: message.into(),
    };
    Ok(jwt_page(
        &state,
        &session,
        Some((form.token, &claims)),
        Some(outcome),
    ))
}

/// POST /jwt/end-session: deletes this browser's session, then reloads the
/// page, which now goes to the login page: a session ends at once.
pub async fn end_session_form<S: Backend>(
    State(state): State<AppState<S>>,
    Protected { session, .. }: Protected<NoFields>,
) -> Result<Redirect, AppError> {
    state.store.delete(&session.id).await.checked()?;
    Ok(Redirect::to("/jwt"))
}

/// The claims of a token without checking it, to show what was tried.
fn peek_claims(token: &str) -> Option<Claims> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&json).ok()
}
