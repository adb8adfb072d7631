//! Why a session ended, so that the next page can say so truthfully.
//!
//! When the app itself ends a session (revoke, "log out all other devices",
//! kick, password change, eviction at the device limit), it leaves a short
//! note in a plain key named by a digest of the session id (never the id
//! itself), with a TTL of the session's longest possible life. A request
//! that brings an ended id reads the note. Without one, the session
//! expired, or the store lost it: the app keeps a marker key of its own in
//! the store, so a store that restarted empty (a daemon without
//! `--data-dir`) is noticed, logged and said.

use std::time::Duration;

use sessiond_protocol::SessionId;

use crate::AppState;
use crate::error::AppError;
use crate::secrets::fingerprint;
use crate::store::{Backend, Checked};

/// The marker: set once, when the app first meets the store; its value is
/// that time.
const MARKER: &[u8] = b"demo:store-marker";

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Signed out from another of the account's devices.
    Revoked,
    /// "Log out all other devices" on another device.
    OthersLoggedOut,
    /// An administrator ended every session of the account.
    Kicked,
    /// The password was changed on another device.
    PasswordChanged,
    /// Signed out to make room at the device limit.
    Evicted,
    /// Signed out after too many wrong current passwords.
    WrongPasswords,
    /// Ended by its own user on the JWT page.
    EndedByYou,
    /// No note: it expired.
    Expired,
    /// No note, and the store started recently: it expired, or the store
    /// lost it.
    ExpiredOrLost,
    /// The store restarted without its data.
    StoreRestarted,
    /// Not yet looked up (a store answer); the extractor fills it in.
    Unknown,
}

impl Ended {
    /// The code in the login page's `?ended=`.
    pub fn code(self) -> &'static str {
        match self {
            Ended::Revoked => "revoked",
            Ended::OthersLoggedOut => "others",
            Ended::Kicked => "kicked",
            Ended::PasswordChanged => "password",
            Ended::Evicted => "evicted",
            Ended::WrongPasswords => "wrong-passwords",
            Ended::EndedByYou => "ended-by-you",
            Ended::Expired => "expired",
            Ended::ExpiredOrLost => "expired-or-lost",
            Ended::StoreRestarted => "store-restarted",
            Ended::Unknown => "unknown",
        }
    }

    /// The reason for a code, if it is one.
    pub fn from_code(code: &str) -> Option<Ended> {
        [
            Ended::Revoked,
            Ended::OthersLoggedOut,
            Ended::Kicked,
            Ended::PasswordChanged,
            Ended::Evicted,
            Ended::WrongPasswords,
            Ended::EndedByYou,
            Ended::Expired,
            Ended::ExpiredOrLost,
            Ended::StoreRestarted,
            Ended::Unknown,
        ]
        .into_iter()
        .find(|e| e.code() == code)
    }

    /// What the login page says.
    pub fn message(self) -> &'static str {
        match self {
            Ended::Revoked => "This device was signed out from another of your devices.",
            Ended::OthersLoggedOut => {
                "This device was signed out by “Log out all other devices” on another device."
            }
            Ended::Kicked => "An administrator signed this account out on every device.",
            Ended::PasswordChanged => {
                "The password was changed on another device, which signs out every other device."
            }
            Ended::Evicted => {
                "This device was signed out to make room: the account was at its device limit \
                 when it signed in somewhere else."
            }
            Ended::WrongPasswords => {
                "This device was signed out after too many wrong current passwords in the \
                 password form."
            }
            Ended::EndedByYou => {
                "You ended this session yourself: the cookie is still in your browser, but the \
                 store no longer knows it, so the very next request is signed out."
            }
            Ended::Expired => "Your session expired.",
            Ended::ExpiredOrLost => {
                "Your session expired, or it was lost when the session store restarted \
                 recently without keeping its sessions."
            }
            Ended::StoreRestarted => {
                "The session store restarted without keeping its sessions, so everyone has to \
                 sign in again."
            }
            Ended::Unknown => "Your session has ended.",
        }
    }
}

fn note_key(id: &SessionId) -> Vec<u8> {
    format!("ended:{}", fingerprint(&id.to_string())).into_bytes()
}

/// Leaves `why` for each of `ids`.
pub(crate) async fn note<S: Backend>(
    state: &AppState<S>,
    ids: &[SessionId],
    why: Ended,
) -> Result<(), AppError> {
    let ttl = Some(
        state
            .settings
            .absolute_lifetime
            .max(Duration::from_secs(60)),
    );
    for id in ids {
        state
            .store
            .set_key(&note_key(id), why.code().as_bytes(), ttl)
            .await
            .checked()?;
    }
    Ok(())
}

/// Why the app ended `id`, if it did and said so: the note alone, which
/// reading changes nothing (the live pages read it too).
pub(crate) async fn noted<S: Backend>(state: &AppState<S>, id: &SessionId) -> Option<Ended> {
    let code = state.store.get_key(&note_key(id)).await.ok()??;
    std::str::from_utf8(&code).ok().and_then(Ended::from_code)
}

/// Why `id` is gone.
pub(crate) async fn why<S: Backend>(state: &AppState<S>, id: &SessionId) -> Ended {
    if let Some(why) = noted(state, id).await {
        return why;
    }
    match state.store.get_key(MARKER).await {
        Ok(Some(since)) => {
            let since: u64 = String::from_utf8_lossy(&since).parse().unwrap_or(0);
            let young =
                state.now().saturating_sub(since) < state.settings.absolute_lifetime.as_secs();
            match young {
                true => Ended::ExpiredOrLost,
                false => Ended::Expired,
            }
        }
        Ok(None) => {
            eprintln!(
                "sessiond-demo: the session store lost its data (restarted without a data \
                 directory?): every session and every sign-in counter is gone"
            );
            let _ = mark_store(state).await;
            Ended::StoreRestarted
        }
        Err(_) => Ended::Unknown,
    }
}

/// Sets the marker if it is missing.
pub(crate) async fn mark_store<S: Backend>(state: &AppState<S>) -> Result<(), AppError> {
    if state.store.get_key(MARKER).await.checked()?.is_none() {
        let now = state.now().to_string();
        state
            .store
            .set_key(MARKER, now.as_bytes(), None)
            .await
            .checked()?;
    }
    Ok(())
}
