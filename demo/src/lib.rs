//! A login app on sessiond: the things server-side sessions can do and
//! stateless tokens cannot, each one a page a person can try.
//!
//! - sign in (argon2id), sign out, change password;
//! - "your devices": every live session of the account, revoke one, log out
//!   all others;
//! - an admin page that ends every session of an account;
//! - a per-account limit on concurrent sessions, refusing or evicting;
//! - login attempt limits in the store's counters;
//! - a JSON API with `Authorization: Bearer <session id>`;
//! - JWTs side by side, with a denylist in the store.
//!
//! The app is a library so that tests drive its [`Router`] directly:
//! [`app`] takes an [`AppState`] over any [`Backend`], the embedded
//! `sessiond::Store` or the network `sessiond_client::Client`.

#![warn(missing_docs)]

pub mod accounts;
mod admin;
mod api;
pub mod auth;
mod csrf;
mod devices;
pub mod error;
pub mod jwt;
pub mod limits;
pub mod store;
mod templates;
pub mod user_agent;

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use sessiond::{Clock, SystemClock};
use sessiond_protocol::{LimitPolicy, OwnerLimit};

pub use accounts::{Accounts, PasswordCost, Role};
pub use error::AppError;
pub use limits::AttemptLimits;
pub use store::Backend;

/// How the app behaves: timeouts, limits, cookies. Every field has a flag
/// in the binary.
#[derive(Debug, Clone)]
pub struct Settings {
    /// A session ends after this long without a request (sliding).
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, however busy.
    pub absolute_lifetime: Duration,
    /// Most concurrent sessions per account, and what happens beyond it;
    /// `None` for no limit.
    pub session_limit: Option<OwnerLimit>,
    /// Failed sign-ins allowed per account and per address.
    pub attempts: AttemptLimits,
    /// Life of a JWT access token: short, since without the denylist
    /// nothing can end it sooner.
    pub jwt_lifetime: Duration,
    /// Mark cookies `Secure`: on whenever browsers reach the app over TLS.
    pub secure_cookies: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_lifetime: Duration::from_secs(12 * 3600),
            session_limit: Some(OwnerLimit {
                max_sessions: 3,
                policy: LimitPolicy::Reject,
            }),
            attempts: AttemptLimits::default(),
            jwt_lifetime: Duration::from_secs(5 * 60),
            secure_cookies: false,
        }
    }
}

/// Everything a handler needs, shared by all of them: a cheap clone.
pub struct AppState<S> {
    shared: Arc<Shared<S>>,
}

impl<S> Clone for AppState<S> {
    fn clone(&self) -> Self {
        AppState {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The contents of an [`AppState`].
pub struct Shared<S> {
    /// Sessions, counters and the JWT denylist.
    pub store: S,
    /// Who may sign in.
    pub accounts: Accounts,
    /// Timeouts and limits.
    pub settings: Settings,
    clock: Arc<dyn Clock>,
    jwt_key: [u8; 32],
}

impl<S> Deref for AppState<S> {
    type Target = Shared<S>;

    fn deref(&self) -> &Shared<S> {
        &self.shared
    }
}

impl<S: Backend> AppState<S> {
    /// State on the system clock, with a fresh random JWT signing key (so
    /// tokens die with the process, as the embedded store's sessions do).
    pub fn new(store: S, accounts: Accounts, settings: Settings) -> Self {
        Self::with_clock(store, accounts, settings, Arc::new(SystemClock))
    }

    /// State reading the time from `clock`: tests pass the `ManualClock`
    /// the store runs on, so that JWT expiry moves with session expiry.
    pub fn with_clock(
        store: S,
        accounts: Accounts,
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        AppState {
            shared: Arc::new(Shared {
                store,
                accounts,
                settings,
                clock,
                jwt_key: accounts::random_bytes(),
            }),
        }
    }
}

impl<S> Shared<S> {
    /// Now, in Unix seconds, by the app's clock.
    pub fn now(&self) -> u64 {
        self.clock.now_ms() / 1000
    }

    /// The key that signs and checks JWTs (HS256).
    pub fn jwt_key(&self) -> &[u8] {
        &self.jwt_key
    }
}

/// The whole app: pages, form posts, the JSON API and the stylesheet.
pub fn app<S: Backend>(state: AppState<S>) -> Router {
    let pages = Router::new()
        .route("/", get(|| async { Redirect::to("/devices") }))
        .route("/login", get(auth::login_page).post(auth::login::<S>))
        .route("/logout", post(auth::logout::<S>))
        .route("/password", post(auth::change_password::<S>))
        .route("/devices", get(devices::page::<S>))
        .route("/devices/revoke", post(devices::revoke::<S>))
        .route("/devices/others", post(devices::log_out_others::<S>))
        .route("/admin", get(admin::page::<S>))
        .route("/admin/kick", post(admin::kick::<S>))
        .route("/jwt", get(jwt::page::<S>))
        .route("/jwt/issue", post(jwt::issue_form::<S>))
        .route("/jwt/check", post(jwt::check_form::<S>))
        .route("/jwt/revoke", post(jwt::revoke_form::<S>))
        .route("/jwt/end-session", post(jwt::end_session_form::<S>))
        .layer(middleware::from_fn(csrf::reject_cross_site))
        .layer(middleware::map_response(page_headers));
    Router::new()
        .merge(pages)
        .nest("/api", api::routes::<S>())
        .route("/style.css", get(stylesheet))
        .with_state(state)
}

/// Headers on every page: never cached (pages hold CSRF tokens and
/// device lists), never framed (no clickjacking of the revoke buttons),
/// forms only post here, nothing runs but what this app serves.
async fn page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/style.css"),
    )
}
