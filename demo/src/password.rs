//! Changing the password, from the devices page.
//!
//! Its mistakes are shown on the form itself, and a wrong current password
//! never touches the sign-in counters (it would let anyone signed in on one
//! device pause sign-ins everywhere). It is still a password guess, by
//! whoever holds this session: after [`MAX_WRONG`] wrong ones in a window
//! the session is signed out, so a stolen cookie is not a guessing oracle.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use crate::AppState;
use crate::auth::{self, CurrentSession, removal_cookie, session_cookie};
use crate::csrf::Protected;
use crate::devices::{self, with_status};
use crate::ended::{self, Ended};
use crate::error::AppError;
use crate::store::{Backend, Checked};

/// Shortest new password accepted.
pub const MIN_PASSWORD_LEN: usize = 10;

/// Wrong current passwords one session may enter per window.
pub const MAX_WRONG: i64 = 5;

/// The password form's fields.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    confirm: String,
}

async fn refuse<S: Backend>(
    state: &AppState<S>,
    session: CurrentSession,
    status: StatusCode,
    message: &str,
) -> Result<Response, AppError> {
    let page = devices::render(state, session, None, Some(message.to_owned())).await?;
    Ok(with_status(status, page))
}

/// POST /password: after checking the current password, set the new one,
/// give this session a new id and end every other session of the account
/// (someone who knew the old password may be signed in elsewhere).
pub async fn change<S: Backend>(
    State(state): State<AppState<S>>,
    Protected { session, form }: Protected<PasswordForm>,
) -> Result<Response, AppError> {
    if form.new.chars().count() < MIN_PASSWORD_LEN {
        let text = format!("The new password needs at least {MIN_PASSWORD_LEN} characters.");
        return refuse(&state, session, StatusCode::BAD_REQUEST, &text).await;
    }
    if form.new != form.confirm {
        let text = "The new password and its repetition differ: please type them again.";
        return refuse(&state, session, StatusCode::BAD_REQUEST, text).await;
    }
    let verified = auth::check_password(&state, &session.account, &form.current).await?;
    if verified.is_none() {
        let window = state.settings.attempts.window;
        let key = format!(
            "password-form-failures:{}:{}",
            session.device(),
            state.now() / window.as_secs().max(1)
        );
        let wrong = state.store.incr(key.as_bytes(), 1).await.checked()?;
        state
            .store
            .expire_key(key.as_bytes(), Some(window))
            .await
            .checked()?;
        if wrong >= MAX_WRONG {
            ended::note(&state, &[session.id], Ended::WrongPasswords).await?;
            state.store.delete(&session.id).await.checked()?;
            let jar = CookieJar::new().add(removal_cookie(state.settings.secure_cookies));
            let to = format!("/login?ended={}", Ended::WrongPasswords.code());
            return Ok((jar, Redirect::to(&to)).into_response());
        }
        let text = format!(
            "The current password is not right; nothing was changed ({} more tries on this \
             device before it is signed out).",
            MAX_WRONG - wrong
        );
        return refuse(&state, session, StatusCode::UNAUTHORIZED, &text).await;
    }
    {
        let permit = state.password_gate.enter().await?;
        let (state, account, new) = (state.clone(), session.account.clone(), form.new);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            state.accounts.set_password(&account, &new)
        })
        .await
        .map_err(|e| AppError::Internal(e.to_string()))??;
    }
    let id = state.store.rotate(&session.id).await.checked()?;
    devices::end_others(&state, &session.account, Some(&id), Ended::PasswordChanged).await?;
    let jar = CookieJar::new().add(session_cookie(&id, state.settings.secure_cookies));
    Ok((jar, Redirect::to("/devices?notice=password")).into_response())
}
