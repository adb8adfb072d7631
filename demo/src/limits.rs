//! Login attempt limits: failed sign-ins counted per account and per
//! address in plain keys of the store (`incr`, then `expire_key` on the
//! first failure), so that every app process sharing a daemon shares the
//! counts, and the store forgets them when the window ends.
//!
//! The per-account counter stops guessing at one password from many
//! addresses; the per-address one stops one address trying many accounts.
//! Both are checked before the password is (a full counter refuses even
//! the right password, or it would still be a guessing oracle), and a
//! successful sign-in clears its account's counter.

use std::time::Duration;

use sessiond_protocol::KeyTtl;

use crate::AppState;
use crate::error::{AppError, AttemptScope};
use crate::store::{Backend, Checked};

/// How many failed sign-ins are allowed, and for how long they count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptLimits {
    /// Failures per account within the window.
    pub per_account: u32,
    /// Failures per client address within the window.
    pub per_address: u32,
    /// How long a failure counts, from the first one.
    pub window: Duration,
}

impl Default for AttemptLimits {
    fn default() -> Self {
        AttemptLimits {
            per_account: 5,
            per_address: 20,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// The two counters of one sign-in.
struct Counters {
    account: Vec<u8>,
    address: Vec<u8>,
}

impl Counters {
    fn new(account: &str, address: &str) -> Self {
        // Names come from the form: cut them so that keys stay small.
        let account: String = account.chars().take(64).collect();
        Counters {
            account: format!("login-failures:account:{account}").into_bytes(),
            address: format!("login-failures:address:{address}").into_bytes(),
        }
    }

    fn each<'a>(&'a self, limits: &AttemptLimits) -> [(&'a [u8], u32, AttemptScope); 2] {
        [
            (&self.account, limits.per_account, AttemptScope::Account),
            (&self.address, limits.per_address, AttemptScope::Address),
        ]
    }
}

/// Refuses the sign-in if either counter is full.
pub(crate) async fn check<S: Backend>(
    state: &AppState<S>,
    account: &str,
    address: &str,
) -> Result<(), AppError> {
    let counters = Counters::new(account, address);
    for (key, limit, scope) in counters.each(&state.settings.attempts) {
        let failures = state.store.get_key(key).await.checked()?;
        let failures = failures
            .and_then(|value| String::from_utf8(value).ok()?.parse::<u64>().ok())
            .unwrap_or(0);
        if failures >= u64::from(limit) {
            let retry_after = match state.store.ttl(key).await.checked()? {
                KeyTtl::ExpiresIn(left) => left,
                KeyTtl::Missing | KeyTtl::Persistent => state.settings.attempts.window,
            };
            return Err(AppError::TooManyAttempts { scope, retry_after });
        }
    }
    Ok(())
}

/// Counts a failed sign-in against both counters.
pub(crate) async fn record_failure<S: Backend>(
    state: &AppState<S>,
    account: &str,
    address: &str,
) -> Result<(), AppError> {
    let counters = Counters::new(account, address);
    for (key, _, _) in counters.each(&state.settings.attempts) {
        if state.store.incr(key, 1).await.checked()? == 1 {
            let window = Some(state.settings.attempts.window);
            state.store.expire_key(key, window).await.checked()?;
        }
    }
    Ok(())
}

/// Forgets an account's failures after it signs in.
pub(crate) async fn clear_account<S: Backend>(
    state: &AppState<S>,
    account: &str,
) -> Result<(), AppError> {
    let counters = Counters::new(account, "");
    state.store.delete_key(&counters.account).await.checked()?;
    Ok(())
}
