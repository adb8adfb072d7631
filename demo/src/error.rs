//! What can go wrong in a request, and how each failure is shown: a page
//! (with the navigation bar, see `pages.rs`) or a redirect to the login
//! page for a browser, JSON for an API client.
//!
//! Every message is written for the person reading it: one sentence, no
//! HTTP jargon, no chain of "x: y: z" from inner errors. The status code
//! is for programs; the page title says the same in words.

use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use sessiond_protocol::StoreError;

use crate::ended::Ended;
use crate::limits::Refusal;

/// What is wrong with an access or refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    /// No `Authorization: Bearer` header.
    Missing,
    /// Not signed by this app with HS256, or not a JWT at all.
    NotOurs,
    /// Past its `exp`.
    Expired,
    /// Its id is on the denylist.
    Denylisted,
    /// The refresh session it is bound to has ended.
    SessionEnded,
    /// A refresh token the store does not know.
    UnknownRefresh,
    /// A refresh token that was already traded for a new one: someone
    /// else may hold a copy, so its whole session was ended.
    ReusedRefresh,
}

impl TokenProblem {
    /// A sentence saying what is wrong.
    pub fn message(self) -> &'static str {
        match self {
            TokenProblem::Missing => "Send the token in an Authorization: Bearer header.",
            TokenProblem::NotOurs => "This is not a token this app signed.",
            TokenProblem::Expired => "This token has expired.",
            TokenProblem::Denylisted => "This token was revoked: its id is on the denylist.",
            TokenProblem::SessionEnded => {
                "The session this token belongs to has ended (signed out, revoked, kicked, \
                 or the password changed)."
            }
            TokenProblem::UnknownRefresh => "This refresh token is unknown or has ended.",
            TokenProblem::ReusedRefresh => {
                "This refresh token was already used once. A copy may be in someone else's \
                 hands, so its session has been ended: sign in again."
            }
        }
    }

    fn code(self) -> &'static str {
        match self {
            TokenProblem::Missing => "token_missing",
            TokenProblem::NotOurs => "token_invalid",
            TokenProblem::Expired => "token_expired",
            TokenProblem::Denylisted => "token_revoked",
            TokenProblem::SessionEnded => "token_session_ended",
            TokenProblem::UnknownRefresh => "refresh_unknown",
            TokenProblem::ReusedRefresh => "refresh_reused",
        }
    }
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Wrong password or unknown account: one message for both, so the
    /// form does not reveal which accounts exist.
    #[error("Wrong username or password.")]
    BadCredentials,
    /// Too many attempts: wait, or sign in from a known device.
    #[error("{}", refusal_message(*.0))]
    TooManyAttempts(Refusal),
    /// Every password check slot stayed taken for a while.
    #[error("Too many sign-ins are being checked right now. Please try again in a moment.")]
    Busy,
    /// The account is at its limit of concurrent sessions and the policy is
    /// to refuse new ones.
    #[error(
        "This account is already signed in on {}, the most allowed. \
         Sign out on one of them (or revoke one from its devices page) and try again.",
        devices_text(*.limit)
    )]
    SessionLimit {
        /// The limit in force.
        limit: u32,
    },
    /// No session cookie or token at all: a first visit.
    #[error("Please sign in first.")]
    NotSignedIn {
        /// The page to return to after signing in.
        next: Option<String>,
    },
    /// A session that has ended, and why, as far as the app knows.
    #[error("{}", .why.message())]
    SignedOut {
        /// Why it ended.
        why: Ended,
        /// The page to return to after signing in.
        next: Option<String>,
    },
    /// A form post without the session's CSRF token, or with another one.
    #[error("This form has expired or did not come from this site. Reload the page and try again.")]
    BadCsrfToken,
    /// A post from another site (Origin or Sec-Fetch-Site say so).
    #[error("Form posts from other sites are refused.")]
    CrossSite,
    /// The page needs a role the account does not have.
    #[error("Only administrators may see this page.")]
    Forbidden,
    /// A device, account or page that does not exist (for this account).
    #[error("{}", not_found_message(.0))]
    NotFound(&'static str),
    /// A GET on an address that only takes form posts.
    #[error("This address is where a form sends its answer; there is nothing to show here.")]
    FormOnly,
    /// A form whose fields do not make sense; the text says which.
    #[error("{0}")]
    BadRequest(String),
    /// An access or refresh token that cannot be accepted.
    #[error("{}", .0.message())]
    BadToken(TokenProblem),
    /// The store refused an operation the app did not expect it to.
    #[error("The session store refused an operation: {0}.")]
    Store(StoreError),
    /// The store could not be reached (network client only); the inner
    /// text is logged, not shown.
    #[error(
        "The session store cannot be reached right now, so nobody can be signed in. Please try again in a moment."
    )]
    Unavailable(String),
    /// Hashing failed or another internal step broke; logged, not shown.
    #[error("Something went wrong on our side. Please try again.")]
    Internal(String),
}

fn refusal_message(refusal: Refusal) -> String {
    match refusal {
        Refusal::Slowed { retry_after } => format!(
            "Too many sign-in attempts in a row. Wait {} before trying again.",
            wait(retry_after)
        ),
        Refusal::NewDevicesPaused { retry_after } => format!(
            "Too many failed sign-ins to this account from new devices, so new devices are \
             paused for {}. A device you have signed in on before can still sign in.",
            wait(retry_after)
        ),
    }
}

fn devices_text(n: u32) -> String {
    match n {
        1 => "1 device".to_owned(),
        n => format!("{n} devices"),
    }
}

fn wait(d: Duration) -> String {
    match d.as_secs() {
        0..=1 => "1 second".to_owned(),
        s @ 2..=90 => format!("{s} seconds"),
        s => format!("{} minutes", s.div_ceil(60)),
    }
}

fn not_found_message(what: &str) -> String {
    match what {
        "page" => "There is no page at this address.".to_owned(),
        "device" => "That device is no longer signed in.".to_owned(),
        other => format!("There is no such {other}."),
    }
}

impl AppError {
    /// The HTTP status that says this best.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadCredentials
            | AppError::NotSignedIn { .. }
            | AppError::SignedOut { .. }
            | AppError::BadToken(_) => StatusCode::UNAUTHORIZED,
            AppError::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::SessionLimit { .. } => StatusCode::CONFLICT,
            AppError::BadCsrfToken | AppError::CrossSite | AppError::Forbidden => {
                StatusCode::FORBIDDEN
            }
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::FormOnly => StatusCode::METHOD_NOT_ALLOWED,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unavailable(_) | AppError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Store(_) | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The page title for this failure, in words.
    pub fn title(&self) -> &'static str {
        match self {
            AppError::BadCredentials | AppError::TooManyAttempts(_) | AppError::Busy => {
                "Sign-in refused"
            }
            AppError::SessionLimit { .. } => "Too many devices",
            AppError::NotSignedIn { .. } | AppError::SignedOut { .. } => "Please sign in",
            AppError::BadCsrfToken | AppError::CrossSite => "Form refused",
            AppError::Forbidden => "Not for this account",
            AppError::NotFound(_) => "Not found",
            AppError::FormOnly => "Nothing to show here",
            AppError::BadRequest(_) => "Please check the form",
            AppError::BadToken(_) => "Token refused",
            AppError::Store(_) | AppError::Internal(_) => "Something went wrong",
            AppError::Unavailable(_) => "Please try again soon",
        }
    }

    /// A short stable name for programs.
    fn code(&self) -> &'static str {
        match self {
            AppError::BadCredentials => "bad_credentials",
            AppError::TooManyAttempts(Refusal::Slowed { .. }) => "slow_down",
            AppError::TooManyAttempts(Refusal::NewDevicesPaused { .. }) => "new_devices_paused",
            AppError::Busy => "busy",
            AppError::SessionLimit { .. } => "session_limit",
            AppError::NotSignedIn { .. } => "not_signed_in",
            AppError::SignedOut { .. } => "session_ended",
            AppError::BadCsrfToken => "bad_csrf_token",
            AppError::CrossSite => "cross_site",
            AppError::Forbidden => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::FormOnly => "method_not_allowed",
            AppError::BadRequest(_) => "bad_request",
            AppError::BadToken(problem) => problem.code(),
            AppError::Store(_) => "store_error",
            AppError::Unavailable(_) => "store_unavailable",
            AppError::Internal(_) => "internal",
        }
    }

    /// Store answers that mean something to the app become its own errors.
    pub(crate) fn from_store(err: StoreError) -> AppError {
        match err {
            StoreError::NotFound => AppError::SignedOut {
                why: Ended::Unknown,
                next: None,
            },
            StoreError::SessionLimit { limit } => AppError::SessionLimit { limit },
            other => AppError::Store(other),
        }
    }

    /// Writes the failures that are ours (not the visitor's) to the log.
    fn log(&self) {
        match self {
            AppError::Unavailable(why) => {
                eprintln!("sessiond-demo: session store unavailable: {why}")
            }
            AppError::Store(err) => eprintln!("sessiond-demo: session store refused: {err}"),
            AppError::Internal(why) => eprintln!("sessiond-demo: internal error: {why}"),
            _ => {}
        }
    }
}

/// A failure to be shown as a page: left in the response's extensions by
/// [`AppError::into_response`], rendered with the navigation bar by the
/// page layer (`pages::error_pages`), which knows who is signed in.
#[derive(Debug, Clone)]
pub(crate) struct PageError {
    pub title: &'static str,
    pub message: String,
    pub retry: bool,
}

/// The login page's address for a visitor sent there, keeping where they
/// were going.
pub(crate) fn login_location(ended: Option<Ended>, next: Option<&str>) -> String {
    let mut query = Vec::new();
    if let Some(why) = ended {
        query.push(format!("ended={}", why.code()));
    }
    if let Some(next) = next.and_then(crate::auth::safe_next) {
        query.push(format!("next={}", crate::auth::percent_encode(next)));
    }
    match query.is_empty() {
        true => "/login".to_owned(),
        false => format!("/login?{}", query.join("&")),
    }
}

impl IntoResponse for AppError {
    /// For browsers: a visitor without a live session goes to the login
    /// page (an ended one also loses its cookie); anything else is a page
    /// saying what happened.
    fn into_response(self) -> Response {
        self.log();
        match self {
            AppError::NotSignedIn { next } => {
                Redirect::to(&login_location(None, next.as_deref())).into_response()
            }
            AppError::SignedOut { why, next } => {
                // Both names: the cookie may predate `--insecure-cookies`.
                let jar = CookieJar::new()
                    .add(crate::auth::removal_cookie(true))
                    .add(crate::auth::removal_cookie(false));
                let to = login_location(Some(why), next.as_deref());
                (jar, Redirect::to(&to)).into_response()
            }
            other => {
                let page = PageError {
                    title: other.title(),
                    message: other.to_string(),
                    retry: matches!(other, AppError::Unavailable(_) | AppError::Busy),
                };
                let mut response = (other.status(), page.message.clone()).into_response();
                response.extensions_mut().insert(page);
                response
            }
        }
    }
}

/// An [`AppError`] answered as JSON, for the API: `{"error": "...",
/// "code": "..."}` with the same status, and `WWW-Authenticate` when a
/// token is missing or bad.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(err: E) -> Self {
        ApiError(err.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.log();
        let status = self.0.status();
        let body = Json(serde_json::json!({
            "error": self.0.to_string(),
            "code": self.0.code(),
        }));
        if status == StatusCode::UNAUTHORIZED {
            return (status, [("www-authenticate", "Bearer")], body).into_response();
        }
        (status, body).into_response()
    }
}
