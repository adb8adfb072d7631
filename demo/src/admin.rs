//! The admin page: every account with its number of live sessions, and
//! "kick": end all of an account's sessions at once, which a stateless
//! token scheme cannot do.
//!
//! The result of a kick is left in the admin's own session (a "flash"),
//! not in the URL, so no link can make the page claim a kick that did not
//! happen.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use crate::AppState;
use crate::accounts::Role;
use crate::auth::{CurrentSession, SessionData, removal_cookie};
use crate::csrf::Protected;
use crate::devices::end_others;
use crate::ended::Ended;
use crate::error::AppError;
use crate::store::{Backend, Checked};
use crate::templates::{self, AccountRow, AdminPage, ConfirmPage, Nav};

fn require_admin(session: &CurrentSession) -> Result<(), AppError> {
    match session.role {
        Role::Admin => Ok(()),
        Role::User => Err(AppError::Forbidden),
    }
}

/// GET /admin.
pub async fn page<S: Backend>(
    State(state): State<AppState<S>>,
    mut session: CurrentSession,
) -> Result<Response, AppError> {
    require_admin(&session)?;
    let mut accounts = Vec::new();
    for account in state.accounts.iter() {
        accounts.push(AccountRow {
            name: account.name.clone(),
            role: match account.role {
                Role::Admin => "admin",
                Role::User => "user",
            },
            sessions: state.store.count(account.name.as_bytes()).await.checked()?,
            me: account.name == session.account,
        });
    }
    let notice = session.take_flash(&state).await?;
    let page = AdminPage {
        nav: Nav::of(&session),
        accounts,
        notice,
    };
    Ok(templates::render(&page))
}

/// The kick form's field.
#[derive(Debug, Deserialize)]
pub struct KickForm {
    account: String,
}

/// "2 sessions", "1 session".
pub(crate) fn sessions_text(n: usize) -> String {
    match n {
        1 => "1 session".to_owned(),
        n => format!("{n} sessions"),
    }
}

/// GET /admin/kick?account=…: what a kick will do, and a warning when it
/// is the admin's own account.
pub async fn confirm<S: Backend>(
    State(state): State<AppState<S>>,
    session: CurrentSession,
    Query(form): Query<KickForm>,
) -> Result<Response, AppError> {
    require_admin(&session)?;
    let account = state
        .accounts
        .get(&form.account)
        .ok_or(AppError::NotFound("account"))?;
    let live = state.store.count(account.name.as_bytes()).await.checked()?;
    let me = account.name == session.account;
    Ok(templates::render(&ConfirmPage {
        nav: Nav::of(&session),
        title: format!("Sign {} out everywhere?", account.name),
        text: format!(
            "This ends {} of {} at once, on every device.",
            sessions_text(live),
            account.name
        ),
        warning: me
            .then(|| "This is your own account: you will be signed out here too.".to_owned()),
        action: "/admin/kick",
        fields: vec![("account", account.name.clone())],
        button: format!("Sign {} out everywhere", account.name),
        cancel: "/admin",
    }))
}

/// POST /admin/kick: ends every session of the account.
pub async fn kick<S: Backend>(
    State(state): State<AppState<S>>,
    Protected { mut session, form }: Protected<KickForm>,
) -> Result<Response, AppError> {
    require_admin(&session)?;
    let account = state
        .accounts
        .get(&form.account)
        .ok_or(AppError::NotFound("account"))?;
    let me = account.name == session.account;
    let keep = (!me).then_some(session.id);
    let ended = end_others(&state, &account.name, keep.as_ref(), Ended::Kicked).await?;
    if me {
        state.store.delete(&session.id).await.checked()?;
        let jar = CookieJar::new().add(removal_cookie(state.settings.secure_cookies));
        let to = format!("/login?ended={}&next=/admin", Ended::Kicked.code());
        return Ok((jar, Redirect::to(&to)).into_response());
    }
    let flash = format!(
        "{} was signed out everywhere: {} ended.",
        account.name,
        sessions_text(ended)
    );
    let data = SessionData {
        flash: Some(flash),
        ..session.data.clone()
    };
    session.save(&state, data).await?;
    Ok(Redirect::to("/admin").into_response())
}
