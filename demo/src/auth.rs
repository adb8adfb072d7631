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
//!
//! **A sign-in racing a password change.** A sign-in checks the password
//! (slowly), then creates its session; a password change may end every
//! session of the account in between, before the new one exists. So a
//! sign-in notes the account's password generation when its check
//! succeeds, and after creating its session compares it again: if the
//! password changed meanwhile, it deletes the session it made and refuses.
//! Either the change's `delete_owner` comes after the session exists (and
//! ends it), or the new generation is visible to the second look.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::{Deserialize, Serialize};
use sessiond_protocol::{Labels, LimitPolicy, NewSession, SessionId, SessionInfo};

use crate::accounts::{Role, random_bytes};
use crate::csrf::{self, NoFields, Protected};
use crate::ended::{self, Ended};
use crate::error::AppError;
use crate::limits::{self, Client};
use crate::store::{Backend, Checked};
use crate::templates::{self, LoginPage};
use crate::{AppState, known_device, user_agent};

/// A cookie's name: with the `__Host-` prefix when cookies are Secure, so
/// that the browser only accepts it from this host over TLS, with Path=/
/// and no Domain (nothing on a sibling subdomain can set or shadow it).
pub fn cookie_name(base: &'static str, secure: bool) -> &'static str {
    match (base, secure) {
        ("sid", true) => "__Host-sid",
        ("login-csrf", true) => "__Host-login-csrf",
        ("device", true) => "__Host-device",
        (base, _) => base,
    }
}

/// The session cookie: `__Host-sid`, HttpOnly (no script reads it),
/// Secure, SameSite=Lax (not sent on cross-site posts), Path=/, and no
/// expiry of its own: the store decides when the session ends.
/// `secure = false` (`--insecure-cookies`) drops Secure and the prefix.
pub fn session_cookie(id: &SessionId, secure: bool) -> Cookie<'static> {
    Cookie::build((cookie_name("sid", secure), id.to_string()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(secure)
        .build()
}

/// Tells the browser to forget the session cookie.
pub fn removal_cookie(secure: bool) -> Cookie<'static> {
    Cookie::build((cookie_name("sid", secure), ""))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(secure)
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
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct SessionData {
    /// The token every form post of this session must carry.
    pub csrf: String,
    /// A message for the next page this session shows, then forgotten.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flash: Option<String>,
    /// The JWT page's token and its refresh session, if one was issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<crate::jwt::Slot>,
}

/// A new session, just created.
#[derive(Debug)]
pub struct Started {
    /// Its id: the cookie value or bearer token.
    pub id: SessionId,
    /// Its device handle.
    pub device: String,
}

/// How the devices page names a session's device: "Firefox 133 on Linux".
pub(crate) fn device_name(info: &SessionInfo) -> String {
    let device = user_agent::parse(info.labels.get("ua").unwrap_or(""));
    format!("{} on {}", device.browser, device.os)
}

/// Creates a session for `account`, labelled for the devices page, with
/// the configured timeouts and session limit. If the limit evicts the
/// account's least recently used session, the new session's first page
/// names it.
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
    // Only to tell the person and leave a note: the store evicts by itself.
    let victim = match limit {
        Some(limit) if limit.policy == LimitPolicy::EvictOldest => {
            let live = state.store.list(account.as_bytes()).await.checked()?;
            match live.len() >= limit.max_sessions as usize {
                true => live.last().cloned(),
                false => None,
            }
        }
        _ => None,
    };
    let data = SessionData {
        csrf: csrf::new_token(),
        flash: victim.as_ref().map(|info| {
            format!(
                "This account was at its limit of {} devices, so the one used least recently, \
                 {}, was signed out to make room.",
                limit.map_or(0, |l| l.max_sessions),
                device_name(info)
            )
        }),
        jwt: None,
    };
    let device = csrf::encode(&random_bytes::<9>());
    let labels = Labels::new()
        .with("ua", client.user_agent.as_str())
        .with("ip", client.address.as_str())
        .with("via", via.label())
        .with("device", device.as_str());
    let new = NewSession::new(account)
        .data(encode_data(&data)?)
        .labels(labels)
        .idle_timeout(state.settings.idle_timeout)
        .absolute_lifetime(state.settings.absolute_lifetime)
        .owner_limit(limit);
    // The note goes first, as for every end the app causes, so that the
    // victim's open page, told of its end, finds why (`live.rs`). Should
    // the create then fail, the note stays on a session that lives on; it
    // is read only once that session has ended, and replaced by any note
    // the app leaves then.
    if let Some(victim) = &victim {
        ended::note(state, &[victim.id], Ended::Evicted).await?;
    }
    let id = state.store.create(new).await.checked()?;
    Ok(Started { id, device })
}

pub(crate) fn encode_data(data: &SessionData) -> Result<Vec<u8>, AppError> {
    serde_json::to_vec(data).map_err(|e| AppError::Internal(e.to_string()))
}

/// The session behind a request, loaded (and its idle deadline slid) from
/// the store. As an extractor it reads the cookie; no cookie rejects with
/// [`AppError::NotSignedIn`], an unknown or ended session with
/// [`AppError::SignedOut`]; both send a browser to the login page, which
/// brings it back here afterwards.
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
    pub(crate) data: SessionData,
}

impl CurrentSession {
    /// This session's device handle (see the devices page).
    pub fn device(&self) -> &str {
        self.info.labels.get("device").unwrap_or("")
    }

    /// Replaces this session's data (only if nobody else changed it since
    /// it was read).
    pub(crate) async fn save<S: Backend>(
        &mut self,
        state: &AppState<S>,
        data: SessionData,
    ) -> Result<(), AppError> {
        let bytes = encode_data(&data)?;
        let version = state
            .store
            .update(&self.id, &bytes, Some(self.info.version))
            .await
            .checked()?;
        self.info.version = version;
        self.data = data;
        Ok(())
    }

    /// The message left for this page, which is then forgotten.
    pub(crate) async fn take_flash<S: Backend>(
        &mut self,
        state: &AppState<S>,
    ) -> Result<Option<String>, AppError> {
        let Some(flash) = self.data.flash.clone() else {
            return Ok(None);
        };
        let data = SessionData {
            flash: None,
            ..self.data.clone()
        };
        // A concurrent write means another request is showing it.
        match self.save(state, data).await {
            Ok(()) | Err(AppError::Store(_)) => Ok(Some(flash)),
            Err(err) => Err(err),
        }
    }
}

/// The session id in this browser's cookie, if any.
pub(crate) fn cookie_id(jar: &CookieJar, secure: bool) -> Option<SessionId> {
    jar.get(cookie_name("sid", secure))?.value().parse().ok()
}

impl<S: Backend> FromRequestParts<AppState<S>> for CurrentSession {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState<S>) -> Result<Self, AppError> {
        let jar = CookieJar::from_headers(&parts.headers);
        // Back here after signing in, if this was a page (not a post).
        let next = (parts.method == Method::GET)
            .then(|| parts.uri.path_and_query().map(|p| p.as_str().to_owned()))
            .flatten();
        let secure = state.settings.secure_cookies;
        let Some(id) = cookie_id(&jar, secure) else {
            return Err(match jar.get(cookie_name("sid", secure)) {
                // A cookie that is no id of ours: ended, for all we know.
                Some(_) => AppError::SignedOut {
                    why: Ended::Unknown,
                    next,
                },
                None => AppError::NotSignedIn { next },
            });
        };
        load(state, &id, Via::Web).await.map_err(|err| match err {
            AppError::SignedOut { why, .. } => AppError::SignedOut { why, next },
            other => other,
        })
    }
}

/// Loads and touches session `id`, which must be of kind `via` and belong
/// to a known account.
///
/// # Errors
/// [`AppError::SignedOut`] (with the reason, if the app left one) if it
/// does not exist, has ended, or is of another kind.
pub async fn load<S: Backend>(
    state: &AppState<S>,
    id: &SessionId,
    via: Via,
) -> Result<CurrentSession, AppError> {
    let session = match state.store.get(id).await.checked() {
        Err(AppError::SignedOut { .. }) => {
            let why = ended::why(state, id).await;
            return Err(AppError::SignedOut { why, next: None });
        }
        other => other?,
    };
    let gone = || AppError::SignedOut {
        why: Ended::Unknown,
        next: None,
    };
    if session.info.labels.get("via") != Some(via.label()) {
        return Err(gone());
    }
    let account = String::from_utf8(session.owner).map_err(|_| gone())?;
    let role = state.accounts.get(&account).ok_or_else(gone)?.role;
    let data: SessionData = serde_json::from_slice(&session.data).map_err(|_| gone())?;
    Ok(CurrentSession {
        id: *id,
        account,
        role,
        csrf: data.csrf.clone(),
        info: session.info,
        data,
    })
}

/// A password that checked out: the account, and its password generation
/// at that moment.
#[derive(Debug)]
pub struct Verified {
    /// The account's name.
    pub account: String,
    generation: u64,
}

/// Checks a name and password under the attempt limits (`limits.rs`):
/// the attempt is counted before the password is hashed, and the hash
/// waits for a turn at the password gate.
///
/// # Errors
/// [`AppError::TooManyAttempts`] when the client must wait,
/// [`AppError::Busy`] when no hash turn came, [`AppError::BadCredentials`]
/// for a wrong password or unknown name.
pub async fn authenticate<S: Backend>(
    state: &AppState<S>,
    jar: &CookieJar,
    name: &str,
    password: &str,
    client: &ClientInfo,
) -> Result<Verified, AppError> {
    let secure = state.settings.secure_cookies;
    let who = match known_device::known(jar, &state.keys, name, secure) {
        Some(nonce) => Client::Known(nonce),
        None => Client::Address(client.address.clone()),
    };
    let reserved = limits::reserve(state, name, &who).await?;
    let verified = check_password(state, name, password).await?;
    match verified {
        Some(verified) => {
            reserved.succeeded(state).await?;
            Ok(verified)
        }
        None => Err(AppError::BadCredentials),
    }
}

/// The password check itself, through the gate and off the async threads
/// (argon2id is slow on purpose).
pub(crate) async fn check_password<S: Backend>(
    state: &AppState<S>,
    name: &str,
    password: &str,
) -> Result<Option<Verified>, AppError> {
    let permit = state.password_gate.enter().await?;
    let (state, name, password) = (state.clone(), name.to_owned(), password.to_owned());
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        state
            .accounts
            .verify(&name, &password)
            .map(|(account, generation)| Verified {
                account: account.name.clone(),
                generation,
            })
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))
}

/// Creates the session of a verified sign-in, unless the password changed
/// since it was checked (see the module's notes).
///
/// # Errors
/// [`AppError::BadCredentials`] if it did; those of [`start_session`].
pub async fn sign_in<S: Backend>(
    state: &AppState<S>,
    verified: &Verified,
    via: Via,
    client: &ClientInfo,
) -> Result<Started, AppError> {
    let started = start_session(state, &verified.account, via, client).await?;
    if state.accounts.generation(&verified.account) != verified.generation {
        state.store.delete(&started.id).await.checked()?;
        return Err(AppError::BadCredentials);
    }
    Ok(started)
}

/// Whether `next` is a page of this app to return to after signing in:
/// only our own pages, so that the login form cannot be made to send
/// anyone elsewhere.
pub(crate) fn safe_next(next: &str) -> Option<&str> {
    let path = next.split(['?', '#']).next().unwrap_or("");
    let ours = matches!(path, "/devices" | "/jwt" | "/admin");
    let plain = next
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'\\' && b != b'"');
    (ours && plain).then_some(next)
}

/// `text` fit for a query string.
pub(crate) fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The login page's query: why the last session ended, where to go next.
#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    ended: Option<String>,
    notice: Option<String>,
    next: Option<String>,
}

fn login_notice(query: &LoginQuery) -> Option<&'static str> {
    if let Some(why) = query.ended.as_deref().and_then(Ended::from_code) {
        return Some(why.message());
    }
    match query.notice.as_deref()? {
        "logged-out" => Some("You are signed out."),
        _ => None,
    }
}

fn login_form(
    jar: CookieJar,
    state: &AppState<impl Backend>,
    notice: Option<&'static str>,
    error: Option<String>,
    username: String,
    next: Option<String>,
) -> (CookieJar, Response) {
    let (jar, token) = csrf::login_token(jar, &state.keys, state.settings.secure_cookies);
    let page = LoginPage {
        nav: templates::Nav::anonymous(),
        csrf: token,
        error,
        notice,
        username,
        next: next.filter(|n| safe_next(n).is_some()).unwrap_or_default(),
    };
    (jar, templates::render(&page))
}

/// GET /login: the form, with a CSRF token of its own (there is no
/// session yet to hold one).
pub async fn login_page<S: Backend>(
    State(state): State<AppState<S>>,
    jar: CookieJar,
    Query(query): Query<LoginQuery>,
) -> Response {
    let notice = login_notice(&query);
    let (jar, page) = login_form(jar, &state, notice, None, String::new(), query.next);
    (jar, page).into_response()
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

/// POST /login: check the form's token, the limits and the password; then
/// a fresh session, its cookie, and this browser remembered as one of the
/// account's devices; then back to the page the visitor was sent from.
pub async fn login<S: Backend>(
    State(state): State<AppState<S>>,
    jar: CookieJar,
    client: ClientInfo,
    Form(form): Form<LoginForm>,
) -> Response {
    let secure = state.settings.secure_cookies;
    let outcome = async {
        csrf::check_login_token(&jar, &state.keys, secure, &form.csrf)?;
        let verified = authenticate(&state, &jar, &form.username, &form.password, &client).await?;
        let started = sign_in(&state, &verified, Via::Web, &client).await?;
        if let Some(old) = cookie_id(&jar, secure) {
            state.store.delete(&old).await.checked()?;
        }
        Ok::<_, AppError>((verified.account, started))
    }
    .await;
    match outcome {
        Ok((account, started)) => {
            let next = safe_next(&form.next).unwrap_or("/devices").to_owned();
            let device = known_device::cookie(&jar, &state.keys, &account, secure);
            let jar = jar
                .remove(csrf::login_cookie_removal(secure))
                .add(device)
                .add(session_cookie(&started.id, secure));
            (jar, Redirect::to(&next)).into_response()
        }
        Err(err) => {
            let status = err.status();
            let username = form.username.chars().take(64).collect();
            let next = Some(form.next.clone());
            let (jar, page) = login_form(jar, &state, None, Some(err.to_string()), username, next);
            (status, jar, page).into_response()
        }
    }
}

/// POST /logout: the session is deleted from the store, not just
/// forgotten by the browser; so is the refresh session of the JWT page's
/// token, which this browser made.
pub async fn logout<S: Backend>(
    State(state): State<AppState<S>>,
    Protected { session, .. }: Protected<NoFields>,
) -> Result<Response, AppError> {
    crate::jwt::end_page_token(&state, &session).await?;
    state.store.delete(&session.id).await.checked()?;
    let jar = CookieJar::new().add(removal_cookie(state.settings.secure_cookies));
    Ok((jar, Redirect::to("/login?notice=logged-out")).into_response())
}

/// GET /logout: a link or a reload lands here; sign-out is a form post.
pub async fn logout_page(session: CurrentSession) -> Response {
    templates::render(&templates::ConfirmPage {
        nav: templates::Nav::of(&session),
        title: "Sign out?".into(),
        text: format!("Sign out {} on this device?", session.account),
        warning: None,
        action: "/logout",
        fields: vec![],
        button: "Sign out".into(),
        cancel: "/devices",
    })
}
