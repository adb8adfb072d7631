//! Slowing down password guessing without locking anyone out.
//!
//! Three measures, after OWASP's authentication cheat sheet:
//!
//! 1. **Growing delays per account and client.** A client is a known
//!    device (see `known_device.rs`) or else an address. The first
//!    [`AttemptLimits::free_attempts`] attempts of a window go at once;
//!    the k-th one after them comes no sooner than 1 + 2 + … + 2^(k−1) s
//!    (each step at most [`AttemptLimits::max_delay`]) after the first
//!    attempt. Keyed by account *and* client, so a proxy's address shared
//!    by many people slows only guesses at one account, and nobody can slow
//!    a victim's own device by guessing from elsewhere.
//! 2. **A soft limit per account, for new devices only.** Past
//!    [`AttemptLimits::account_soft_limit`] failures in a window from
//!    clients the account has never signed in from, further new clients
//!    are refused until the window ends. A known device is never refused
//!    by it: the owner keeps signing in where they already do.
//! 3. **A bound on concurrent password hashes** (`PasswordGate`): argon2id
//!    takes 19 MiB and tens of milliseconds each, so a flood of posts must
//!    queue, not each start a hash on a blocking thread.
//!
//! **Counting before checking.** An attempt is reserved with `incr` before
//! the password is hashed, and the reserved number is what is judged: N
//! parallel posts get N distinct numbers, so they cannot all pass a check
//! made before any of them was counted. A refused reservation is given
//! back (`incr` by −1); a successful sign-in gives back its account
//! reservation and forgets the client's delays.
//!
//! **One change per count.** Every counter is moved with `incr_with_ttl`,
//! which gives a new key the window as its TTL in the same change (one
//! journal record), so a crash never leaves a counter that outlives its
//! window, and a give-back (−1) that lands after the key expired makes a
//! key that expires too rather than one that stays forever. Each
//! counter's key also names its window (`…:{n}`, n = now / window), so a
//! counter is never read past its own window. The one key that stores a
//! time (the window's first attempt) is written with `set_key`, which sets
//! value and TTL in one operation.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::AppState;
use crate::error::AppError;
use crate::store::{Backend, Checked};

/// How guessing is slowed. Every field has a flag in the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptLimits {
    /// Attempts per account and client in a window before delays start.
    pub free_attempts: u32,
    /// The longest wait between two attempts once delays have grown.
    pub max_delay: Duration,
    /// Failures per account per window from new devices before new
    /// devices are refused.
    pub account_soft_limit: u32,
    /// How long attempts count.
    pub window: Duration,
    /// Password hashes run at once, at most; more wait their turn.
    pub concurrent_hashes: usize,
}

impl Default for AttemptLimits {
    fn default() -> Self {
        AttemptLimits {
            free_attempts: 3,
            max_delay: Duration::from_secs(60),
            account_soft_limit: 20,
            window: Duration::from_secs(15 * 60),
            concurrent_hashes: 4,
        }
    }
}

/// Why an attempt was refused before its password was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too soon after the last attempts from this client.
    Slowed {
        /// When the next attempt may come.
        retry_after: Duration,
    },
    /// The account's limit for new devices is reached.
    NewDevicesPaused {
        /// When the window ends.
        retry_after: Duration,
    },
}

/// Who is trying: a device that signed in to this account before, or an
/// address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Client {
    /// A known device, by the nonce of its cookie.
    Known(String),
    /// Anyone else, by address.
    Address(String),
}

/// The counters of one attempt, for one window.
struct Keys {
    attempts: Vec<u8>,
    first: Vec<u8>,
    account: Vec<u8>,
}

impl Keys {
    fn new(account: &str, client: &Client, window: u64) -> Keys {
        // Names come from the form: cut them so that keys stay small.
        let account: String = account.chars().take(64).collect();
        let client = match client {
            Client::Known(nonce) => format!("device:{nonce}"),
            Client::Address(address) => format!("ip:{address}"),
        };
        Keys {
            attempts: format!("login:attempts:{account}:{client}:{window}").into_bytes(),
            first: format!("login:first:{account}:{client}:{window}").into_bytes(),
            account: format!("login:new-device-failures:{account}:{window}").into_bytes(),
        }
    }
}

/// The earliest second, after the window's first attempt, at which
/// attempt `n` (1-based) may come.
fn not_before(limits: &AttemptLimits, n: u64) -> u64 {
    let free = u64::from(limits.free_attempts);
    let cap = limits.max_delay.as_secs().max(1);
    (0..n.saturating_sub(free).min(10_000))
        .map(|step| {
            1u64.checked_shl(step.min(63) as u32)
                .unwrap_or(u64::MAX)
                .min(cap)
        })
        .fold(0u64, u64::saturating_add)
}

fn parse(value: Option<Vec<u8>>) -> u64 {
    value
        .and_then(|v| String::from_utf8(v).ok()?.parse().ok())
        .unwrap_or(0)
}

/// A reserved attempt: give it back with [`Reserved::succeeded`] when the
/// password was right; drop it when it was wrong.
#[must_use]
pub(crate) struct Reserved {
    keys: Keys,
    counted_for_account: bool,
    /// The TTL a give-back gives a counter that expired meanwhile.
    window: Duration,
}

/// Reserves an attempt of `client` at `account`, or says why not.
pub(crate) async fn reserve<S: Backend>(
    state: &AppState<S>,
    account: &str,
    client: &Client,
) -> Result<Reserved, AppError> {
    let limits = state.settings.attempts;
    let window = limits.window.as_secs().max(1);
    let now = state.now();
    let keys = Keys::new(account, client, now / window);
    let window_ends = Duration::from_secs(window - now % window);
    let store = &state.store;

    // A read first, so that clients told to wait do not even count.
    let seen = parse(store.get_key(&keys.attempts).await.checked()?);
    let first = parse(store.get_key(&keys.first).await.checked()?);
    let due = |n: u64, first: u64| first.saturating_add(not_before(&limits, n));
    let slowed = |n: u64, first: u64| {
        AppError::TooManyAttempts(Refusal::Slowed {
            retry_after: Duration::from_secs(due(n, first).saturating_sub(now).max(1)),
        })
    };
    if seen > 0 && due(seen + 1, first) > now && first > 0 {
        return Err(slowed(seen + 1, first));
    }

    let n = store
        .incr_with_ttl(&keys.attempts, 1, limits.window)
        .await
        .checked()?;
    let n = u64::try_from(n).unwrap_or(0);
    let first = if n == 1 {
        let ttl = Some(limits.window);
        store
            .set_key(&keys.first, now.to_string().as_bytes(), ttl)
            .await
            .checked()?;
        now
    } else {
        // Not written yet (a racing first attempt) or lost: judge as if
        // the window began now, the strictest reading.
        match parse(store.get_key(&keys.first).await.checked()?) {
            0 => now,
            first => first,
        }
    };
    if due(n, first) > now {
        store
            .incr_with_ttl(&keys.attempts, -1, limits.window)
            .await
            .checked()?;
        return Err(slowed(n, first));
    }

    let counted_for_account = matches!(client, Client::Address(_));
    if counted_for_account {
        let failures = store
            .incr_with_ttl(&keys.account, 1, limits.window)
            .await
            .checked()?;
        if failures > i64::from(limits.account_soft_limit) {
            store
                .incr_with_ttl(&keys.account, -1, limits.window)
                .await
                .checked()?;
            store
                .incr_with_ttl(&keys.attempts, -1, limits.window)
                .await
                .checked()?;
            return Err(AppError::TooManyAttempts(Refusal::NewDevicesPaused {
                retry_after: window_ends,
            }));
        }
    }
    Ok(Reserved {
        keys,
        counted_for_account,
        window: limits.window,
    })
}

impl Reserved {
    /// The password was right: this attempt was no failure, and the client
    /// has shown who it is, so its delays start over.
    pub(crate) async fn succeeded<S: Backend>(self, state: &AppState<S>) -> Result<(), AppError> {
        let store = &state.store;
        if self.counted_for_account {
            store
                .incr_with_ttl(&self.keys.account, -1, self.window)
                .await
                .checked()?;
        }
        store.delete_key(&self.keys.attempts).await.checked()?;
        store.delete_key(&self.keys.first).await.checked()?;
        Ok(())
    }
}

/// The bound on password hashes running at once.
#[derive(Debug, Clone)]
pub struct PasswordGate(Arc<Semaphore>);

/// How long a password check waits for its turn before the app answers
/// that it is busy.
const GATE_WAIT: Duration = Duration::from_secs(10);

impl PasswordGate {
    /// A gate letting `n` hashes run at once (at least one).
    pub fn new(n: usize) -> Self {
        PasswordGate(Arc::new(Semaphore::new(n.max(1))))
    }

    /// Waits for a turn.
    ///
    /// # Errors
    /// [`AppError::Busy`] after a while without one.
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, AppError> {
        match tokio::time::timeout(GATE_WAIT, Arc::clone(&self.0).acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(AppError::Busy),
        }
    }

    /// Takes every turn, so that password checks wait until the result is
    /// dropped: for tests that need a check to be in flight.
    #[doc(hidden)]
    pub async fn close_for_test(&self, permits: u32) -> OwnedSemaphorePermit {
        Arc::clone(&self.0)
            .acquire_many_owned(permits)
            .await
            .expect("the gate is never closed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_after_the_free_attempts_and_are_capped() {
        let limits = AttemptLimits {
            free_attempts: 3,
            max_delay: Duration::from_secs(8),
            ..AttemptLimits::default()
        };
        let schedule: Vec<u64> = (1..=8).map(|n| not_before(&limits, n)).collect();
        assert_eq!(schedule, [0, 0, 0, 1, 3, 7, 15, 23]);
        assert_eq!(not_before(&limits, u64::MAX), 7 + 9_997 * 8);
    }
}
