//! The app's one long-lived secret, kept in the store, and the keys drawn
//! from it: the JWT signing key, the login form's CSRF key, the key that
//! signs known-device cookies.
//!
//! **Why in the store.** A key made fresh at each start would end every
//! JWT and every known-device cookie at each restart, while cookie sessions
//! (kept in the store) survive. Keeping the secret next to the sessions
//! gives both the same life: it survives exactly when they do (a daemon, or
//! `--data-dir`), and every app process sharing a daemon shares it.
//!
//! **Two processes starting at once.** The trait has no "set if absent",
//! so the first writer is elected with `incr` on a claim key: only the
//! process that reads 1 writes the secret; the others read it back. If the
//! winner died between its `incr` and its write, the others stop waiting
//! after [`CLAIM_WAIT`] and write one themselves (a crash at that instant
//! during a concurrent start is the only way two keys can be in use, and
//! the next restart heals it).

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::accounts::random_bytes;
use crate::error::AppError;
use crate::store::{Backend, Checked};

const SECRET_KEY: &[u8] = b"demo:secret";
const CLAIM_KEY: &[u8] = b"demo:secret:claim";
const CLAIM_WAIT: Duration = Duration::from_secs(3);

/// The keys, each drawn from the stored secret for one purpose only, so
/// that a token of one kind is never valid as another.
#[derive(Clone)]
pub struct Keys {
    /// Signs and checks JWTs (HS256).
    pub jwt: [u8; 32],
    /// Signs the login form's CSRF token.
    pub login_csrf: [u8; 32],
    /// Signs known-device cookies.
    pub device: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

impl Keys {
    /// Keys drawn from `secret`.
    pub fn from_secret(secret: &[u8]) -> Keys {
        Keys {
            jwt: derive(secret, b"jwt"),
            login_csrf: derive(secret, b"login-csrf"),
            device: derive(secret, b"device-cookie"),
        }
    }

    /// The store's secret, made and stored if there is none yet.
    ///
    /// # Errors
    /// Store errors.
    pub async fn load_or_create<S: Backend>(store: &S) -> Result<Keys, AppError> {
        if let Some(secret) = store.get_key(SECRET_KEY).await.checked()? {
            return Ok(Keys::from_secret(&secret));
        }
        let first = store.incr(CLAIM_KEY, 1).await.checked()? == 1;
        if !first {
            let deadline = tokio::time::Instant::now() + CLAIM_WAIT;
            while tokio::time::Instant::now() < deadline {
                if let Some(secret) = store.get_key(SECRET_KEY).await.checked()? {
                    return Ok(Keys::from_secret(&secret));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let secret = random_bytes::<32>();
        store.set_key(SECRET_KEY, &secret, None).await.checked()?;
        Ok(Keys::from_secret(&secret))
    }
}

/// HMAC-SHA256 of `message` under `key`.
pub(crate) fn mac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

fn derive(secret: &[u8], purpose: &[u8]) -> [u8; 32] {
    mac(secret, purpose)
}

/// A digest of a secret (a session id) that can name it in a store key
/// without revealing it.
pub(crate) fn fingerprint(secret: &str) -> String {
    use sha2::Digest;
    crate::csrf::encode(&Sha256::digest(secret.as_bytes())[..18])
}
