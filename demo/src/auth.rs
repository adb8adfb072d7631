//! Signing in and out: passwords, the session cookie, and the
//! [`CurrentSession`] extractor every page behind the login uses.
//!
//! **Ids at sign-in.** A successful sign-in always creates a fresh session
//! with a new random id, and deletes any session the browser brought along.
//! No session exists before sign-in (the login form's CSRF token lives in a
//! cookie of its own, see `csrf.rs`), so there is nothing to rotate there:
//! a fresh id is the stronger form of rotation, and no id an attacker
//! planted in the browser can survive. `rotate` is used where a session
//! lives on across a privilege change: changing the password keeps the
//! current session under a new id.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::{Deserialize, Serialize};
use sessiond_protocol::{Labels, LimitPolicy, NewSession, SessionId, SessionInfo};

use crate::accounts::{Role, random_bytes};
use crate::csrf::{self, NoFields, Protected};
use crate::error::AppError;
use crate::store::{Backend, Checked};
use crate::templates::{self, LoginPage};
use crate::{AppState, limits};

/// The session cookie's name.
pub const COOKIE: &str = "sid";

/// The session cookie: HttpOnly (no script reads it), SameSite=Lax (not
/// sent on cross-site posts), Path=/, Secure when served over TLS, and no
/// expiry of its own: the store decides when the session ends.
pub fn session_cookie(id: &SessionId, secure: bool) -> Cookie<'static> {
    Cookie::build((COOKIE, id.to_string()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(secure)
        .build()
}

/// Tells the browser to forget the session cookie.
pub fn removal_cookie() -> Cookie<'static> {
    Cookie::build((COOKIE, ""))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .removal()
        .build()
}

/// How a session was made, kept in its `via` label: the devices page shows
/// it, and each door only accepts its own kind (a browser cookie is not an
/// API token, and a JWT's refresh session is neither).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A browser, with the session id in a cookie.
    Web,
    /// An API client, with the id as a bearer token.
    Api,
    /// The refresh token behind JWT access tokens.
    Jwt,
}

impl Via {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Via::Web => "web",
            Via::Api => "api",
            Via::Jwt => "jwt",
        }
    }
}

/// The client behind a request, as the devices page names it.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    /// The `User-Agent` header, cut to fit a label.
    pub user_agent: String,
    /// The peer address, or "unknown" when the server did not record it.
    pub address: String,
}

impl<S: Send + Sync> FromRequestParts<S> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        // The peer address, not X-Forwarded-For: a header is the client's
        // to choose, and the attempt limit must not be.
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "unknown".to_owned(), |info| info.0.ip().to_string());
        Ok(ClientInfo {
            user_agent: agent.chars().take(256).collect(),
            address,
        })
    }
}

/// What the app keeps in a session's data.
#[derive(Debug, Serialize, Deserialize)]
struct SessionData {
    /// The token every form post of this session must carry.
    csrf: String,
}

/// A new session, just created.
#[derive(Debug)]
pub struct Started {
    /// Its id: the cookie value or bearer token.
    pub id: SessionId,
    /// Whether the account's least recently used session ended to make room.
    pub evicted_another: bool,
}

/// Creates a session for `account`, labelled for the devices page, with
/// the configured timeouts and session limit.
///
/// # Errors
/// [`AppError::SessionLimit`] when the account is full and the policy
/// refuses; store errors.
pub async fn start_session<S: Backend>(
    state: &AppState<S>,
    account: &str,
    via: Via,
    client: &ClientInfo,
) -> Result<Started, AppError> {
    let limit = state.settings.session_limit;
    // Only to tell the person: the store evicts by itself.
    let evicted_another = match limit {
        Some(limit) if limit.policy == LimitPolicy::EvictOldest => {
            let live = state.store.count(account.as_bytes()).await.checked()?;
            live >= limit.max_sessions as usize
        }
        _ => false,
    };
    let data = SessionData {
        csrf: csrf::new_token(),
    };
    let labels = Labels::new()
        .with("ua", client.user_agent.as_str())
        .with("ip", client.address.as_str())
        .with("via", via.label())
        .with("device", csrf::encode(&random_bytes::<9>()));
    let new = NewSession::new(account)
        .data(serde_json::to_vec(&data).map_err(|e| AppError::Internal(e.to_string()))?)
        .labels(labels)
        .idle_timeout(state.settings.idle_timeout)
        .absolute_lifetime(state.settings.absolute_lifetime)
        .owner_limit(limit);
    let id = state.store.create(new).await.checked()?;
    Ok(Started {
        id,
        evicted_another,
    })
}

/// The session behind a request, loaded (and its idle deadline slid) from
/// the store. As an extractor it reads the cookie; a missing, unknown or
/// ended session rejects with [`AppError::SignedOut`], which sends a
/// browser to the login page.
#[derive(Debug, Clone)]
pub struct CurrentSession {
    /// Its id.
    pub id: SessionId,
    /// The account it belongs to.
    pub account: String,
    /// The account's role.
    pub role: Role,
    /// The token its form posts must carry.
    pub csrf: String,
    /// Labels, times and deadlines.
    pub info: SessionInfo,
}

impl CurrentSession {
    /// This session's device handle (see the devices page).
    pub fn device(&self) -> &str {
        self.info.labels.get("device").unwrap_or("")
    }
}

impl<S: Backend> FromRequestParts<AppState<S>> for CurrentSession {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState<S>) -> Result<Self, AppError> {
        let jar = CookieJar::from_headers(&parts.headers);
        let id = jar
            .get(COOKIE)
            .and_then(|cookie| cookie.value().parse::<SessionId>().ok())
            .ok_or(AppError::SignedOut)?;
        load(state, &id, Via::Web).await
    }
}

/// Loads and touches session `id`, which must be of kind `via` and belong
/// to a known account.
///
/// # Errors
/// [`AppError::SignedOut`] if it does not exist, has ended, or is of
/// another kind.
pub async fn load<S: Backend>(
    state: &AppState<S>,
    id: &SessionId,
    via: Via,
) -> Result<CurrentSession, AppError> {
    let session = state.store.get(id).await.checked()?;
    if session.info.labels.get("via") != Some(via.label()) {
        return Err(AppError::SignedOut);
    }
    let account = String::from_utf8(session.owner).map_err(|_| AppError::SignedOut)?;
    let role = state
        .accounts
        .get(&account)
        .ok_or(AppError::SignedOut)?
        .role;
    let data: SessionData =
        serde_json::from_slice(&session.data).map_err(|_| AppError::SignedOut)?;
    Ok(CurrentSession {
        id: *id,
        account,
        role,
        csrf: data.csrf,
        info: session.info,
    })
}

/// Checks a name and password, under the attempt limits. Returns the
/// account's name.
///
/// # Errors
/// [`AppError::TooManyAttempts`] when a counter is full (checked first),
/// [`AppError::BadCredentials`] for a wrong password or unknown name.
pub async fn authenticate<S: Backend>(
    state: &AppState<S>,
    name: &str,
    password: &str,
    client: &ClientInfo,
) -> Result<String, AppError> {
    limits::check(state, name, &client.address).await?;
    let verified = {
        let (state, name, password) = (state.clone(), name.to_owned(), password.to_owned());
        // argon2id is slow on purpose: keep it off the async threads.
        tokio::task::spawn_blocking(move || {
            state
                .accounts
                .verify(&name, &password)
                .map(|account| account.name.clone())
        })
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
    };
    match verified {
        Some(account) => {
            limits::clear_account(state, &account).await?;
            Ok(account)
        }
        None => {
            limits::record_failure(state, name, &client.address).await?;
            Err(AppError::BadCredentials)
        }
    }
}

/// `?notice=` on the login page: fixed texts, so nothing from the URL is
/// echoed.
#[derive(Debug, Deserialize)]
pub struct Notice {
    notice: Option<String>,
}

fn login_notice(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "ended" => {
            "Your session has ended: it was signed out from another device, \
                    ended by an administrator, or expired. Please sign in again."
        }
        "logged-out" => "You are signed out.",
        _ => return None,
    })
}

/// GET /login: the form, with a CSRF token of its own (there is no
/// session yet to hold one).
pub async fn login_page(jar: CookieJar, Query(notice): Query<Notice>) -> Response {
    let (jar, token) = csrf::login_token(jar);
    let page = LoginPage {
        nav: templates::Nav::anonymous(),
        csrf: token,
        error: None,
        notice: login_notice(notice.notice.as_deref()),
        username: String::new(),
    };
    (jar, templates::render(&page)).into_response()
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    csrf: String,
}

/// POST /login: check the form's token, the limits and the password; then
/// a fresh session and its cookie.
pub async fn login<S: Backend>(
    State(state): State<AppState<S>>,
    jar: CookieJar,
    client: ClientInfo,
    Form(form): Form<LoginForm>,
) -> Response {
    let outcome = async {
        csrf::check_login_token(&jar, &form.csrf)?;
        let account = authenticate(&state, &form.username, &form.password, &client).await?;
        let started = start_session(&state, &account, Via::Web, &client).await?;
        if let Some(old) = jar
            .get(COOKIE)
            .and_then(|c| c.value().parse::<SessionId>().ok())
        {
            state.store.delete(&old).await.checked()?;
        }
        Ok::<_, AppError>(started)
    }
    .await;
    match outcome {
        Ok(started) => {
            let jar = jar
                .add(session_cookie(&started.id, state.settings.secure_cookies))
                .remove(csrf::login_cookie_removal());
            let to = match started.evicted_another {
                true => "/devices?notice=evicted",
                false => "/devices",
            };
            (jar, Redirect::to(to)).into_response()
        }
        Err(err) => {
            let (jar, token) = csrf::login_token(jar);
            let page = LoginPage {
                nav: templates::Nav::anonymous(),
                csrf: token,
                error: Some(templates::sentence(&err.to_string())),
                notice: None,
                username: form.username.chars().take(64).collect(),
            };
            (err.status(), jar, templates::render(&page)).into_response()
        }
    }
}

/// POST /logout: the session is deleted from the store, not just
/// forgotten by the browser.
pub async fn logout<S: Backend>(
    State(state): State<AppState<S>>,
    Protected { session, .. }: Protected<NoFields>,
) -> Result<Response, AppError> {
    state.store.delete(&session.id).await.checked()?;
    let jar = CookieJar::new().add(removal_cookie());
    Ok((jar, Redirect::to("/login?notice=logged-out")).into_response())
}

/// The password form's fields.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    confirm: String,
}

/// Shortest new password accepted.
pub const MIN_PASSWORD_LEN: usize = 10;

/// POST /password: after checking the current password, set the new one,
/// give this session a new id and end every other session of the account
/// (someone who knew the old password may be signed in elsewhere).
pub async fn change_password<S: Backend>(
    State(state): State<AppState<S>>,
    client: ClientInfo,
    Protected { session, form }: Protected<PasswordForm>,
) -> Result<Response, AppError> {
    if form.new.chars().count() < MIN_PASSWORD_LEN {
        return Err(AppError::BadRequest(format!(
            "the new password needs at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    if form.new != form.confirm {
        return Err(AppError::BadRequest(
            "the new password and its confirmation differ".into(),
        ));
    }
    authenticate(&state, &session.account, &form.current, &client).await?;
    {
        let (state, account, new) = (state.clone(), session.account.clone(), form.new);
        tokio::task::spawn_blocking(move || state.accounts.set_password(&account, &new))
            .await
            .map_err(|e| AppError::Internal(e.to_string()))??;
    }
    let id = state.store.rotate(&session.id).await.checked()?;
    state
        .store
        .delete_owner(session.account.as_bytes(), Some(&id))
        .await
        .checked()?;
    let jar = CookieJar::new().add(session_cookie(&id, state.settings.secure_cookies));
    Ok((jar, Redirect::to("/devices?notice=password")).into_response())
}
