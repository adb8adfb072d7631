//! Known devices: a browser that once signed in to an account carries a
//! signed cookie saying so, after OWASP's "device cookies" against online
//! guessing. Guesses from anywhere else can pause sign-ins from new
//! devices (`limits.rs`), never from this one, so an attacker cannot lock
//! the owner out of a browser they already use.
//!
//! The cookie is `account.nonce.mac` (account in base64url, a random
//! nonce, an HMAC-SHA256 of both under a key of the app's secret): it
//! grants nothing by itself, it only picks which counters a sign-in
//! attempt is judged by, and the password is checked as always.

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

use crate::accounts::random_bytes;
use crate::auth::cookie_name;
use crate::csrf::encode;
use crate::secrets::{Keys, mac};

/// How long a device stays known: half a year.
const LIFETIME: cookie::time::Duration = cookie::time::Duration::days(183);

fn name(secure: bool) -> &'static str {
    cookie_name("device", secure)
}

/// The nonce of this browser's device cookie, if it is valid and for
/// `account`.
pub(crate) fn known(jar: &CookieJar, keys: &Keys, account: &str, secure: bool) -> Option<String> {
    let value = jar.get(name(secure))?.value();
    let mut parts = value.split('.');
    let (who, nonce, tag) = (parts.next()?, parts.next()?, parts.next()?);
    let expected = encode(&mac(&keys.device, format!("{who}.{nonce}").as_bytes()));
    let genuine: bool = tag.as_bytes().ct_eq(expected.as_bytes()).into();
    let name = URL_SAFE_NO_PAD.decode(who).ok()?;
    (genuine && parts.next().is_none() && name == account.as_bytes()).then(|| nonce.to_owned())
}

/// The cookie that makes this browser a known device of `account`,
/// keeping its nonce if it already was one.
pub(crate) fn cookie(jar: &CookieJar, keys: &Keys, account: &str, secure: bool) -> Cookie<'static> {
    let nonce = known(jar, keys, account, secure).unwrap_or_else(|| encode(&random_bytes::<12>()));
    let who = URL_SAFE_NO_PAD.encode(account);
    let tag = encode(&mac(&keys.device, format!("{who}.{nonce}").as_bytes()));
    Cookie::build((name(secure), format!("{who}.{nonce}.{tag}")))
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .path("/")
        .max_age(LIFETIME)
        .build()
}
