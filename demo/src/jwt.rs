//! JWTs side by side with sessions, to show what each can and cannot do.
//!
//! An access token here is an HS256 JWT (`sub`, `jti`, `iat`, `exp`, and
//! `sid`, the device handle of its refresh session), valid for a few
//! minutes; the refresh token is a session id in the store (`via=jwt`).
//! A token can be checked three ways ([`Check`]), which is the point of
//! the page:
//!
//! - **plain**: signature and expiry, as a stateless API does. Nothing
//!   can end such a token before `exp`: not a sign-out, not a kick, not a
//!   password change.
//! - **denylist**: also the token's `jti` in a plain key of the store,
//!   written on revoke with a TTL of the token's remaining life.
//! - **bound** (what this app's API uses): also its refresh session must
//!   still be live, so everything that ends sessions ends its tokens at
//!   once. Each is a store lookup per request, exactly what JWTs were meant
//!   to save.
//!
//! Refresh tokens rotate on every use, and a used one is remembered (by a
//! digest) for the session's lifetime: presenting it again means two
//! parties hold it, so its session is ended (reuse detection, as OAuth 2.0
//! Security BCP describes).

use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sessiond_protocol::SessionId;

use crate::auth::{self, ClientInfo, CurrentSession, Via};
use crate::ended::{self, Ended};
use crate::error::{ApiError, AppError, TokenProblem};
use crate::secrets::fingerprint;
use crate::store::{Backend, Checked};
use crate::{AppState, accounts, csrf, devices};

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

/// The JWT page's token, kept in the browser session's data so that the
/// page can be a plain GET (a reload shows it again and re-submits
/// nothing) and so that every "Get a token" reuses one refresh session
/// instead of filling the device list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Slot {
    /// The access token.
    pub token: String,
    /// The device handle of its refresh session.
    pub device: String,
}

/// How much of a token to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Check {
    /// Signature and expiry only.
    Plain,
    /// And the denylist.
    Denylist,
    /// And the denylist and its refresh session.
    Bound,
}

fn denylist_key(jti: &str) -> Vec<u8> {
    format!("jwt-denylist:{jti}").into_bytes()
}

fn used_refresh_key(id: &SessionId) -> Vec<u8> {
    format!("jwt-used-refresh:{}", fingerprint(&id.to_string())).into_bytes()
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
        exp: now.saturating_add(state.settings.jwt_lifetime.as_secs()),
        sid: device.to_owned(),
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&state.keys.jwt),
    )
    .map_err(|e| AppError::Internal(format!("signing a token: {e}")))?;
    Ok((token, claims))
}

/// The claims of a token this app signed with HS256, whatever its expiry.
///
/// # Errors
/// [`TokenProblem::NotOurs`].
pub fn decode<S>(state: &AppState<S>, token: &str) -> Result<Claims, AppError> {
    let mut validation = Validation::new(Algorithm::HS256);
    // Expiry is checked against the app's clock, which tests move.
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["exp", "sub"]);
    jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(&state.keys.jwt),
        &validation,
    )
    .map(|data| data.claims)
    .map_err(|_| AppError::BadToken(TokenProblem::NotOurs))
}

/// Checks a token as `check` says, at one instant `now` (so that "how
/// long it stays valid" is computed from the same reading of the clock
/// as "is it expired"). Returns the claims and the seconds it has left.
///
/// # Errors
/// [`AppError::BadToken`] saying which check failed; store errors.
pub async fn verify<S: Backend>(
    state: &AppState<S>,
    token: &str,
    check: Check,
) -> Result<(Claims, u64), AppError> {
    let now = state.now();
    let claims = decode(state, token)?;
    let left = claims.exp.checked_sub(now).filter(|left| *left > 0);
    let left = left.ok_or(AppError::BadToken(TokenProblem::Expired))?;
    if check != Check::Plain {
        let denied = state
            .store
            .get_key(&denylist_key(&claims.jti))
            .await
            .checked()?;
        if denied.is_some() {
            return Err(AppError::BadToken(TokenProblem::Denylisted));
        }
    }
    if check == Check::Bound
        && devices::find(state, &claims.sub, &claims.sid)
            .await?
            .is_none()
    {
        return Err(AppError::BadToken(TokenProblem::SessionEnded));
    }
    Ok((claims, left))
}

/// Ends a token's refresh session (no new tokens, and bound checks refuse
/// it at once).
pub(crate) async fn end_refresh_session<S: Backend>(
    state: &AppState<S>,
    account: &str,
    device: &str,
) -> Result<(), AppError> {
    if let Some(info) = devices::find(state, account, device).await? {
        ended::note(state, &[info.id], Ended::Revoked).await?;
        state.store.delete(&info.id).await.checked()?;
    }
    Ok(())
}

/// Puts a token's id on the denylist for the rest of its life.
pub(crate) async fn denylist<S: Backend>(
    state: &AppState<S>,
    claims: &Claims,
) -> Result<(), AppError> {
    let left = claims.exp.saturating_sub(state.now());
    if left > 0 {
        let ttl = Some(Duration::from_secs(left));
        state
            .store
            .set_key(&denylist_key(&claims.jti), b"1", ttl)
            .await
            .checked()?;
    }
    Ok(())
}

/// Ends the refresh session behind the JWT page's token of this browser
/// session, if it made one (on sign-out).
pub(crate) async fn end_page_token<S: Backend>(
    state: &AppState<S>,
    session: &CurrentSession,
) -> Result<(), AppError> {
    match &session.data.jwt {
        Some(slot) => end_refresh_session(state, &session.account, &slot.device).await,
        None => Ok(()),
    }
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
    /// A session id: trade it at /api/jwt/refresh for a new pair, once.
    pub refresh_token: String,
}

fn pair<S>(
    state: &AppState<S>,
    account: &str,
    refresh: SessionId,
    device: &str,
) -> Result<TokenPair, AppError> {
    let (access_token, claims) = issue(state, account, device)?;
    Ok(TokenPair {
        access_token,
        token_type: "Bearer".to_owned(),
        expires_in: claims.exp.saturating_sub(claims.iat),
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
    let jar = Default::default();
    let verified =
        auth::authenticate(&state, &jar, &body.username, &body.password, &client).await?;
    let started = auth::sign_in(&state, &verified, Via::Jwt, &client).await?;
    Ok(Json(pair(
        &state,
        &verified.account,
        started.id,
        &started.device,
    )?))
}

/// The refresh body.
#[derive(Debug, Deserialize)]
pub struct Refresh {
    /// The refresh token of the last pair.
    pub refresh_token: String,
}

/// POST /api/jwt/refresh: a new pair for a live refresh session, whose id
/// is rotated (a refresh token works once; a second use ends the session).
pub async fn api_refresh<S: Backend>(
    State(state): State<AppState<S>>,
    Json(body): Json<Refresh>,
) -> Result<Json<TokenPair>, ApiError> {
    let unknown = AppError::BadToken(TokenProblem::UnknownRefresh);
    let id: SessionId = body.refresh_token.parse().map_err(|_| unknown)?;
    let session = match auth::load(&state, &id, Via::Jwt).await {
        Ok(session) => session,
        Err(AppError::SignedOut { .. }) => {
            return Err(reused_or_unknown(&state, &id).await?.into());
        }
        Err(other) => return Err(other.into()),
    };
    // Remembered before the rotation, so that a racing second use of the
    // same token is caught too.
    let remembered = format!("{}\n{}", session.account, session.device());
    let ttl = Some(state.settings.absolute_lifetime);
    state
        .store
        .set_key(&used_refresh_key(&id), remembered.as_bytes(), ttl)
        .await
        .checked()?;
    let new_id = match state.store.rotate(&id).await.checked() {
        Ok(new_id) => new_id,
        Err(AppError::SignedOut { .. }) => {
            return Err(reused_or_unknown(&state, &id).await?.into());
        }
        Err(other) => return Err(other.into()),
    };
    Ok(Json(pair(
        &state,
        &session.account,
        new_id,
        session.device(),
    )?))
}

/// A refresh token the store does not know: if it was used before, its
/// session (under its newer id) is ended.
async fn reused_or_unknown<S: Backend>(
    state: &AppState<S>,
    id: &SessionId,
) -> Result<AppError, AppError> {
    let Some(remembered) = state.store.get_key(&used_refresh_key(id)).await.checked()? else {
        return Ok(AppError::BadToken(TokenProblem::UnknownRefresh));
    };
    let remembered = String::from_utf8_lossy(&remembered).into_owned();
    if let Some((account, device)) = remembered.split_once('\n') {
        end_refresh_session(state, account, device).await?;
    }
    Ok(AppError::BadToken(TokenProblem::ReusedRefresh))
}

/// The access token from `Authorization: Bearer`.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// `?check=plain|denylist|bound` (default bound).
#[derive(Debug, Deserialize)]
pub struct CheckQuery {
    check: Option<Check>,
}

/// What /api/jwt/me answers.
#[derive(Debug, Serialize)]
pub struct Me {
    /// The token's claims.
    #[serde(flatten)]
    pub claims: Claims,
    /// Seconds it stays valid.
    pub expires_in: u64,
}

/// GET /api/jwt/me: the claims of a valid token, checked as asked.
pub async fn api_me<S: Backend>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    Query(query): Query<CheckQuery>,
) -> Result<Json<Me>, ApiError> {
    let token = bearer(&headers).ok_or(AppError::BadToken(TokenProblem::Missing))?;
    let check = query.check.unwrap_or(Check::Bound);
    let (claims, expires_in) = verify(&state, token, check).await?;
    Ok(Json(Me { claims, expires_in }))
}

/// `?denylist=false` revokes without the denylist.
#[derive(Debug, Deserialize)]
pub struct RevokeQuery {
    denylist: Option<bool>,
}

/// POST /api/jwt/revoke: ends the bearer token's refresh session, and puts
/// the token on the denylist unless `?denylist=false`.
pub async fn api_revoke<S: Backend>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    Query(query): Query<RevokeQuery>,
) -> Result<StatusCode, ApiError> {
    let token = bearer(&headers).ok_or(AppError::BadToken(TokenProblem::Missing))?;
    let (claims, _) = verify(&state, token, Check::Bound).await?;
    end_refresh_session(&state, &claims.sub, &claims.sid).await?;
    if query.denylist.unwrap_or(true) {
        denylist(&state, &claims).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
