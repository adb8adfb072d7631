//! Cross-site request forgery, refused twice over.
//!
//! 1. **Where a post comes from.** Browsers say it: `Sec-Fetch-Site`
//!    (every current browser) and `Origin`. A post marked cross-site or
//!    same-site (a sibling subdomain or another port of this host is not
//!    this app), or whose Origin is not this host, is refused before any
//!    handler runs ([`reject_cross_site`]). Requests without either header
//!    (old browsers, curl) pass on to the second check.
//! 2. **A token only the page knows.** Every session holds a random token;
//!    every form carries it in a hidden field; [`Protected`] compares the
//!    two in constant time. The login form has no session yet, so its
//!    token sits in a cookie of its own and the form repeats it
//!    ("double submit"), signed with a key of the app's so that a token
//!    planted in that cookie by someone else is not accepted.

use axum::Form;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::accounts::random_bytes;
use crate::auth::CurrentSession;
use crate::error::AppError;
use crate::secrets::{Keys, mac};
use crate::store::Backend;

/// The login form's token cookie (`__Host-login-csrf` over TLS).
fn login_cookie_name(secure: bool) -> &'static str {
    crate::auth::cookie_name("login-csrf", secure)
}

/// A fresh token: 256 random bits.
pub(crate) fn new_token() -> String {
    encode(&random_bytes::<32>())
}

/// Bytes as URL-safe text.
pub(crate) fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether two tokens are equal, in time that does not depend on where
/// they differ. An empty token never matches.
fn tokens_match(given: &str, expected: &str) -> bool {
    !expected.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// A login token: a random nonce and its HMAC under the app's key
/// ("signed double submit"). A plain double-submit token would accept
/// any value an attacker managed to plant in the cookie (from a sibling
/// subdomain, say); this one must also carry the app's signature.
fn signed_token(keys: &Keys, nonce: &str) -> String {
    format!(
        "{nonce}.{}",
        encode(&mac(&keys.login_csrf, nonce.as_bytes()))
    )
}

fn is_signed(keys: &Keys, token: &str) -> bool {
    token
        .split_once('.')
        .is_some_and(|(nonce, _)| tokens_match(token, &signed_token(keys, nonce)))
}

/// The login form's token: the one in the browser's cookie if it is one
/// of ours, else a new one set in a cookie (HttpOnly, SameSite=Strict,
/// `__Host-` over TLS).
pub(crate) fn login_token(jar: CookieJar, keys: &Keys, secure: bool) -> (CookieJar, String) {
    let name = login_cookie_name(secure);
    if let Some(cookie) = jar.get(name)
        && is_signed(keys, cookie.value())
    {
        let token = cookie.value().to_owned();
        return (jar, token);
    }
    let token = signed_token(keys, &new_token());
    let cookie = Cookie::build((name, token.clone()))
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .path("/")
        .build();
    (jar.add(cookie), token)
}

/// Removes the login form's cookie once signed in.
pub(crate) fn login_cookie_removal(secure: bool) -> Cookie<'static> {
    Cookie::build(login_cookie_name(secure))
        .path("/")
        .secure(secure)
        .removal()
        .build()
}

/// Checks the login form's token against its cookie and its signature.
pub(crate) fn check_login_token(
    jar: &CookieJar,
    keys: &Keys,
    secure: bool,
    given: &str,
) -> Result<(), AppError> {
    let expected = jar
        .get(login_cookie_name(secure))
        .map_or("", |cookie| cookie.value());
    match tokens_match(given, expected) && is_signed(keys, expected) {
        true => Ok(()),
        false => Err(AppError::BadCsrfToken),
    }
}

/// A form with no fields but its token.
#[derive(Debug, Deserialize)]
pub struct NoFields {}

#[derive(Debug, Deserialize)]
struct WithToken<T> {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    fields: T,
}

/// A form post from a signed-in browser, its CSRF token checked: the
/// extractor for every form handler behind the login, so that none can
/// forget the check.
#[derive(Debug)]
pub struct Protected<T> {
    /// The session that posted it.
    pub session: CurrentSession,
    /// The form's other fields.
    pub form: T,
}

impl<S: Backend, T: DeserializeOwned> FromRequest<AppState<S>> for Protected<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState<S>) -> Result<Self, AppError> {
        let (mut parts, body) = req.into_parts();
        let session = CurrentSession::from_request_parts(&mut parts, state).await?;
        let Form(WithToken { csrf, fields }) =
            Form::<WithToken<T>>::from_request(Request::from_parts(parts, body), state)
                .await
                .map_err(|_| {
                    AppError::BadRequest(
                        "This form arrived incomplete. Reload the page and try again.".into(),
                    )
                })?;
        match tokens_match(&csrf, &session.csrf) {
            true => Ok(Protected {
                session,
                form: fields,
            }),
            false => Err(AppError::BadCsrfToken),
        }
    }
}

/// Middleware: refuses state-changing requests that the browser says come
/// from another site.
pub async fn reject_cross_site(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || !is_cross_site(req.headers())
    {
        return next.run(req).await;
    }
    AppError::CrossSite.into_response()
}

fn is_cross_site(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        return !matches!(site, "same-origin" | "none");
    }
    match (text(header::ORIGIN), text(header::HOST)) {
        (None, _) => false,
        (Some(origin), Some(host)) => {
            let authority = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            authority != Some(host)
        }
        (Some(_), None) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn cross_site_is_told_by_fetch_metadata_then_origin() {
        assert!(!is_cross_site(&headers(&[])));
        assert!(!is_cross_site(&headers(&[(
            "sec-fetch-site",
            "same-origin"
        )])));
        assert!(!is_cross_site(&headers(&[("sec-fetch-site", "none")])));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "same-site")])));
        let same = [
            ("origin", "http://app.test:3000"),
            ("host", "app.test:3000"),
        ];
        assert!(!is_cross_site(&headers(&same)));
        let other = [("origin", "https://evil.test"), ("host", "app.test:3000")];
        assert!(is_cross_site(&headers(&other)));
        assert!(is_cross_site(&headers(&[
            ("origin", "null"),
            ("host", "a")
        ])));
    }

    #[test]
    fn tokens_compare_whole_and_never_empty() {
        assert!(tokens_match("abc", "abc"));
        assert!(!tokens_match("abd", "abc"));
        assert!(!tokens_match("ab", "abc"));
        assert!(!tokens_match("", ""));
    }
}
