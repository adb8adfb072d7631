//! The admin page: every account with its number of live sessions, and
//! "kick": end all of an account's sessions at once, which a stateless
//! token scheme cannot do.

use axum::extract::{Query, State};
use axum::response::{Redirect, Response};
use serde::Deserialize;

use crate::AppState;
use crate::accounts::Role;
use crate::auth::CurrentSession;
use crate::csrf::Protected;
use crate::error::AppError;
use crate::store::{Backend, Checked};
use crate::templates::{self, AccountRow, AdminPage, Nav};

fn require_admin(session: &CurrentSession) -> Result<(), AppError> {
    match session.role {
        Role::Admin => Ok(()),
        Role::User => Err(AppError::Forbidden),
    }
}

/// `?kicked=NAME&ended=N` after a kick.
#[derive(Debug, Deserialize)]
pub struct Kicked {
    kicked: Option<String>,
    ended: Option<usize>,
}

/// GET /admin.
pub async fn page<S: Backend>(
    State(state): State<AppState<S>>,
    session: CurrentSession,
    Query(kicked): Query<Kicked>,
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
        });
    }
    let notice = match (kicked.kicked, kicked.ended) {
        (Some(name), Some(ended)) if state.accounts.get(&name).is_some() => Some(format!(
            "{name} was signed out everywhere: {ended} session(s) ended."
        )),
        _ => None,
    };
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

/// POST /admin/kick: ends every session of the account.
pub async fn kick<S: Backend>(
    State(state): State<AppState<S>>,
    Protected { session, form }: Protected<KickForm>,
) -> Result<Redirect, AppError> {
    require_admin(&session)?;
    let account = state
        .accounts
        .get(&form.account)
        .ok_or(AppError::NotFound("account"))?;
    let ended = state
        .store
        .delete_owner(account.name.as_bytes(), None)
        .await
        .checked()?;
    Ok(Redirect::to(&format!(
        "/admin?kicked={}&ended={ended}",
        account.name
    )))
}
