//! What every page shares: its headers, the error pages (with the
//! navigation bar of whoever is signed in), the pages for addresses that
//! do not exist or only take posts, and the static files.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::cookie::CookieJar;

use crate::AppState;
use crate::auth::{Via, cookie_id};
use crate::error::{AppError, PageError};
use crate::store::Backend;
use crate::templates::{self, ErrorPage, Nav};

/// Headers on every page: never cached (pages hold CSRF tokens and
/// device lists), never framed (no clickjacking of the revoke buttons),
/// forms only post here, nothing runs but what this app serves.
pub(crate) async fn page_headers(mut response: Response) -> Response {
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

/// Headers on every API answer: session ids and tokens must not be kept
/// by a cache, nor the JSON read as anything else.
pub(crate) async fn api_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Middleware: a failure left as a [`PageError`] becomes a whole page,
/// with the navigation bar of the session behind the request (read with
/// `peek`, so showing an error does not keep a session alive).
pub(crate) async fn error_pages<S: Backend>(
    State(state): State<AppState<S>>,
    request: Request,
    next: Next,
) -> Response {
    let jar = CookieJar::from_headers(request.headers());
    let response = next.run(request).await;
    let Some(error) = response.extensions().get::<PageError>().cloned() else {
        return response;
    };
    let mut nav = Nav::anonymous();
    if let Some(id) = cookie_id(&jar, state.settings.secure_cookies)
        && let Ok(session) = state.store.peek(&id).await
        && session.info.labels.get("via") == Some(Via::Web.label())
        && let Ok(account) = String::from_utf8(session.owner)
        && let Some(known) = state.accounts.get(&account)
    {
        let csrf = serde_json::from_slice::<crate::auth::SessionData>(&session.data)
            .map(|data| data.csrf)
            .unwrap_or_default();
        nav = Nav {
            admin: known.role == crate::Role::Admin,
            account: Some(account),
            csrf,
        };
    }
    let page = ErrorPage {
        nav,
        title: error.title,
        message: error.message,
        retry: error.retry,
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    let body = templates::render(&page).into_body();
    Response::from_parts(parts, body)
}

/// Any address that is no page.
pub(crate) async fn not_found() -> AppError {
    AppError::NotFound("page")
}

/// A GET (or other method) on an address that only takes form posts.
pub(crate) async fn form_only() -> AppError {
    AppError::FormOnly
}

/// GET /password: the form is on the devices page.
pub(crate) async fn to_password_form() -> Redirect {
    Redirect::to("/devices#password")
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// The stylesheet, the time script and the icon.
pub(crate) fn static_files<S: Backend>() -> Router<AppState<S>> {
    let svg = "image/svg+xml";
    Router::new()
        .route(
            "/style.css",
            get(|| async {
                asset(
                    "text/css; charset=utf-8",
                    include_str!("../static/style.css"),
                )
            }),
        )
        .route(
            "/time.js",
            get(|| async {
                asset(
                    "text/javascript; charset=utf-8",
                    include_str!("../static/time.js"),
                )
            }),
        )
        .route(
            "/live.js",
            get(|| async {
                asset(
                    "text/javascript; charset=utf-8",
                    include_str!("../static/live.js"),
                )
            }),
        )
        .route(
            "/favicon.svg",
            get(move || async move { asset(svg, include_str!("../static/favicon.svg")) }),
        )
        .route(
            "/favicon.ico",
            get(|| async { Redirect::permanent("/favicon.svg") }),
        )
}
