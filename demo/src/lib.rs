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
pub mod ended;
pub mod error;
pub mod jwt;
mod jwt_page;
mod known_device;
pub mod limits;
mod live;
mod pages;
mod password;
pub mod secrets;
pub mod store;
mod templates;
pub mod user_agent;

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware;
use axum::response::Redirect;
use axum::routing::{get, post};
use sessiond::{Clock, SystemClock};
use sessiond_protocol::{LimitPolicy, OwnerLimit};

pub use accounts::{Accounts, PasswordCost, Role};
pub use error::AppError;
pub use limits::{AttemptLimits, PasswordGate};
pub use secrets::Keys;
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
    /// How password guessing is slowed.
    pub attempts: AttemptLimits,
    /// Life of a JWT access token: short, since a plain check cannot end
    /// it sooner.
    pub jwt_lifetime: Duration,
    /// Cookies `Secure` with the `__Host-` prefix (the default). Browsers
    /// accept those over plain HTTP on localhost only; `false`
    /// (`--insecure-cookies`) is for trying the demo over plain HTTP on
    /// another address.
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
            secure_cookies: true,
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
    /// Sessions, counters, notes and the JWT denylist.
    pub store: S,
    /// Who may sign in.
    pub accounts: Accounts,
    /// Timeouts and limits.
    pub settings: Settings,
    /// The keys drawn from the secret kept in the store.
    pub keys: Keys,
    /// The bound on password hashes running at once.
    pub password_gate: PasswordGate,
    /// The process's reader of the session event log, and the live pages
    /// listening to it.
    pub(crate) live: live::Live,
    clock: Arc<dyn Clock>,
}

impl<S> Deref for AppState<S> {
    type Target = Shared<S>;

    fn deref(&self) -> &Shared<S> {
        &self.shared
    }
}

impl<S: Backend> AppState<S> {
    /// State on the system clock. Reads the app's secret from the store
    /// (making it the first time), so that JWTs and known-device cookies
    /// live exactly as long as the sessions do.
    ///
    /// # Errors
    /// Store errors.
    pub async fn open(store: S, accounts: Accounts, settings: Settings) -> Result<Self, AppError> {
        Self::with_clock(store, accounts, settings, Arc::new(SystemClock)).await
    }

    /// State reading the time from `clock`: tests pass the `ManualClock`
    /// the store runs on, so that JWT expiry moves with session expiry.
    ///
    /// # Errors
    /// Store errors.
    pub async fn with_clock(
        store: S,
        accounts: Accounts,
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AppError> {
        let keys = Keys::load_or_create(&store).await?;
        let state = AppState {
            shared: Arc::new(Shared {
                store,
                accounts,
                password_gate: PasswordGate::new(settings.attempts.concurrent_hashes),
                settings,
                keys,
                clock,
                live: live::Live::new(),
            }),
        };
        ended::mark_store(&state).await?;
        live::Live::spawn(&state);
        Ok(state)
    }
}

impl<S> Shared<S> {
    /// Now, in Unix seconds, by the app's clock.
    pub fn now(&self) -> u64 {
        self.clock.now_ms() / 1000
    }

    /// Ends the live pages' streams (`live.rs`), as the app shuts down.
    pub fn close_live(&self) {
        self.live.close();
    }

    /// The key that signs and checks JWTs (HS256).
    pub fn jwt_key(&self) -> &[u8] {
        &self.keys.jwt
    }
}

/// The whole app: pages, form posts, the JSON API and the static files.
pub fn app<S: Backend>(state: AppState<S>) -> Router {
    let pages = Router::new()
        .route("/", get(|| async { Redirect::to("/devices") }))
        .route("/login", get(auth::login_page::<S>).post(auth::login::<S>))
        .route("/logout", get(auth::logout_page).post(auth::logout::<S>))
        .route(
            "/password",
            post(password::change::<S>).get(pages::to_password_form),
        )
        .route("/devices", get(devices::page::<S>))
        .route(
            "/devices/revoke",
            get(devices::confirm_revoke::<S>).post(devices::revoke::<S>),
        )
        .route(
            "/devices/others",
            get(devices::confirm_others::<S>).post(devices::log_out_others::<S>),
        )
        .route("/admin", get(admin::page::<S>))
        .route("/live/session", get(live::session_feed::<S>))
        .route("/live/admin", get(live::admin_feed::<S>))
        .route(
            "/admin/kick",
            get(admin::confirm::<S>).post(admin::kick::<S>),
        )
        .route("/jwt", get(jwt_page::page::<S>))
        .route("/jwt/issue", post(jwt_page::issue::<S>))
        .route("/jwt/revoke", post(jwt_page::revoke::<S>))
        .route("/jwt/denylist", post(jwt_page::denylist::<S>))
        .route("/jwt/end-session", post(jwt_page::end_session::<S>))
        .fallback(pages::not_found)
        .method_not_allowed_fallback(pages::form_only)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            pages::error_pages::<S>,
        ))
        .layer(middleware::from_fn(csrf::reject_cross_site))
        .layer(middleware::map_response(pages::page_headers));
    Router::new()
        .merge(pages)
        .nest("/api", api::routes::<S>())
        .merge(pages::static_files())
        .with_state(state)
}
