//! What can go wrong in a request, and how each failure is shown: as an
//! HTML page (or a redirect to the login page) to a browser, as JSON to an
//! API client.

use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use sessiond_protocol::StoreError;

use crate::templates::{self, ErrorPage};

/// Which counter of failed logins is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptScope {
    /// Too many failures for this account, from anywhere.
    Account,
    /// Too many failures from this address, for any account.
    Address,
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Wrong password or unknown account: one message for both, so the
    /// form does not reveal which accounts exist.
    #[error("wrong username or password")]
    BadCredentials,
    /// The login attempt limit is reached.
    #[error("{}", attempts_message(*.scope, *.retry_after))]
    TooManyAttempts {
        /// Which counter is full.
        scope: AttemptScope,
        /// How long until it empties.
        retry_after: Duration,
    },
    /// The account is at its limit of concurrent sessions and the policy is
    /// to refuse new ones.
    #[error(
        "this account is already signed in on {limit} devices, the most allowed; \
         sign out on one of them (or from its devices page) and try again"
    )]
    SessionLimit {
        /// The limit in force.
        limit: u32,
    },
    /// No session, or one that has ended: expired, revoked, logged out.
    #[error("your session has ended; please sign in again")]
    SignedOut,
    /// A form post without the session's CSRF token, or with another one.
    #[error("this form has expired or did not come from this site; reload the page and try again")]
    BadCsrfToken,
    /// A post from another site (Origin or Sec-Fetch-Site say so).
    #[error("cross-site form posts are refused")]
    CrossSite,
    /// The page needs a role the account does not have.
    #[error("only administrators may see this page")]
    Forbidden,
    /// A device, account or page that does not exist (for this account).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A request the app cannot make sense of.
    #[error("{0}")]
    BadRequest(String),
    /// An access token that is malformed, forged, expired or revoked.
    #[error("invalid access token: {0}")]
    BadToken(&'static str),
    /// The store refused an operation the app did not expect it to.
    #[error("session store: {0}")]
    Store(StoreError),
    /// The store could not be reached (network client only).
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    /// Hashing failed or another internal step broke.
    #[error("internal error: {0}")]
    Internal(String),
}

fn attempts_message(scope: AttemptScope, retry_after: Duration) -> String {
    let minutes = retry_after.as_secs().div_ceil(60).max(1);
    let whom = match scope {
        AttemptScope::Account => "this account",
        AttemptScope::Address => "your network address",
    };
    format!("too many failed sign-ins for {whom}; try again in {minutes} min")
}

impl AppError {
    /// The HTTP status that says this best.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadCredentials | AppError::SignedOut | AppError::BadToken(_) => {
                StatusCode::UNAUTHORIZED
            }
            AppError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::SessionLimit { .. } => StatusCode::CONFLICT,
            AppError::BadCsrfToken | AppError::CrossSite | AppError::Forbidden => {
                StatusCode::FORBIDDEN
            }
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Store(_) | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Store answers that mean something to the app become its own errors.
    pub(crate) fn from_store(err: StoreError) -> AppError {
        match err {
            StoreError::NotFound => AppError::SignedOut,
            StoreError::SessionLimit { limit } => AppError::SessionLimit { limit },
            other => AppError::Store(other),
        }
    }
}

impl IntoResponse for AppError {
    /// For browsers: an ended session goes to the login page (and loses its
    /// cookie); anything else is a small page saying what happened.
    fn into_response(self) -> Response {
        if matches!(self, AppError::SignedOut) {
            let jar = CookieJar::new().add(crate::auth::removal_cookie());
            return (jar, Redirect::to("/login?notice=ended")).into_response();
        }
        let status = self.status();
        let page = ErrorPage {
            title: status.canonical_reason().unwrap_or("Error"),
            message: templates::sentence(&self.to_string()),
        };
        (status, templates::render(&page)).into_response()
    }
}

/// An [`AppError`] answered as JSON, for the API: `{"error": "..."}` with
/// the same status, and `WWW-Authenticate` when a token is missing or bad.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(err: E) -> Self {
        ApiError(err.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let body = Json(serde_json::json!({ "error": self.0.to_string() }));
        if status == StatusCode::UNAUTHORIZED {
            return (status, [("www-authenticate", "Bearer")], body).into_response();
        }
        (status, body).into_response()
    }
}
