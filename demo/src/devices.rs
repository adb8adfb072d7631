//! "Your devices": every live session of the account, and the two things
//! only server-side sessions allow: end one of them, or all but this one.
//!
//! Devices are named in forms by a random handle kept in a label, never by
//! their session id: an id is a bearer secret and does not belong in a
//! page. Looking a handle up among the account's own sessions also means
//! nobody can end a session of another account.
//!
//! Ending a session is asked twice: the buttons on the list lead (by GET,
//! so without JavaScript) to a page that names what will happen, whose
//! button posts.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sessiond_protocol::{LimitPolicy, SessionId, SessionInfo};

use crate::auth::{CurrentSession, device_name, removal_cookie};
use crate::csrf::{NoFields, Protected};
use crate::ended::{self, Ended};
use crate::error::AppError;
use crate::store::{Backend, Checked};
use crate::templates::{self, ConfirmPage, DeviceRow, DevicesPage, Nav, Time};
use crate::{AppState, user_agent};

/// `?notice=` codes, each a fixed text.
#[derive(Debug, Deserialize)]
pub struct Notice {
    notice: Option<String>,
}

fn notice(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "revoked" => "That device is signed out. Its next request goes to the login page.",
        "others" => "Every other device is signed out.",
        "password" => {
            "Password changed. Every other device is signed out, \
                       and this one has a new session id."
        }
        _ => return None,
    })
}

/// How the devices page names a way of signing in.
fn via_name(via: Option<&str>) -> &'static str {
    match via {
        Some("web") => "Browser",
        Some("api") => "API client",
        Some("jwt") => "JWT refresh token",
        _ => "Unknown",
    }
}

/// A session as a row of the page or of the API's list.
pub(crate) fn row(info: &SessionInfo, current: &SessionId, now: u64) -> DeviceRow {
    let labels = &info.labels;
    let device = user_agent::parse(labels.get("ua").unwrap_or(""));
    DeviceRow {
        handle: labels.get("device").unwrap_or("").to_owned(),
        browser: device.browser,
        os: device.os,
        ip: labels.get("ip").unwrap_or("unknown").to_owned(),
        via: via_name(labels.get("via")),
        created: Time::at(info.created_at, now),
        last_seen: Time::at(info.last_seen_at, now),
        expires: Time::at(info.expires_at, now),
        current: info.id == *current,
    }
}

/// The account's sessions, most recently used first; on a tie (the store
/// counts in seconds) this device first, since it is using the app now.
pub(crate) async fn sessions<S: Backend>(
    state: &AppState<S>,
    session: &CurrentSession,
) -> Result<Vec<SessionInfo>, AppError> {
    let mut all = state
        .store
        .list(session.account.as_bytes())
        .await
        .checked()?;
    all.sort_by_key(|info| (std::cmp::Reverse(info.last_seen_at), info.id != session.id));
    Ok(all)
}

fn limit_text<S>(state: &AppState<S>) -> String {
    match state.settings.session_limit {
        None => "no limit".to_owned(),
        Some(limit) => format!(
            "at most {} at once; {}",
            limit.max_sessions,
            match limit.policy {
                LimitPolicy::Reject => "a sign-in beyond that is refused",
                LimitPolicy::EvictOldest =>
                    "a sign-in beyond that signs out the device used least recently",
            }
        ),
    }
}

/// The devices page, with a notice, or an error on the password form.
pub(crate) async fn render<S: Backend>(
    state: &AppState<S>,
    mut session: CurrentSession,
    notice: Option<String>,
    password_error: Option<String>,
) -> Result<Response, AppError> {
    let flash = session.take_flash(state).await?;
    let now = state.now();
    let sessions = sessions(state, &session).await?;
    let settings = &state.settings;
    let page = DevicesPage {
        nav: Nav::of(&session),
        notice: flash.or(notice),
        devices: sessions
            .iter()
            .map(|info| row(info, &session.id, now))
            .collect(),
        idle: templates::duration(settings.idle_timeout),
        absolute: templates::duration(settings.absolute_lifetime),
        limit: limit_text(state),
        min_password: crate::password::MIN_PASSWORD_LEN,
        password_error,
    };
    Ok(templates::render(&page))
}

/// GET /devices.
pub async fn page<S: Backend>(
    State(state): State<AppState<S>>,
    session: CurrentSession,
    Query(query): Query<Notice>,
) -> Result<Response, AppError> {
    let notice = notice(query.notice.as_deref()).map(str::to_owned);
    render(&state, session, notice, None).await
}

/// Finds the account's session with this device handle.
pub(crate) async fn find<S: Backend>(
    state: &AppState<S>,
    account: &str,
    handle: &str,
) -> Result<Option<SessionInfo>, AppError> {
    let sessions = state.store.list(account.as_bytes()).await.checked()?;
    Ok(sessions
        .into_iter()
        .find(|info| !handle.is_empty() && info.labels.get("device") == Some(handle)))
}

/// The revoke form's field.
#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    device: String,
}

/// GET /devices/revoke?device=…: "Sign out Chrome on Android?"
pub async fn confirm_revoke<S: Backend>(
    State(state): State<AppState<S>>,
    session: CurrentSession,
    Query(form): Query<RevokeForm>,
) -> Result<Response, AppError> {
    let info = find(&state, &session.account, &form.device)
        .await?
        .ok_or(AppError::NotFound("device"))?;
    let this = info.id == session.id;
    let name = device_name(&info);
    Ok(templates::render(&ConfirmPage {
        nav: Nav::of(&session),
        title: match this {
            true => "Sign out this device?".into(),
            false => format!("Sign out {name}?"),
        },
        text: match this {
            true => {
                format!("This is the device you are using ({name}): you will be signed out here.")
            }
            false => format!(
                "{name} ({}) will be signed out at once: its next click lands on the login page.",
                info.labels.get("ip").unwrap_or("unknown address")
            ),
        },
        warning: None,
        action: "/devices/revoke",
        fields: vec![("device", form.device)],
        button: "Sign it out".into(),
        cancel: "/devices",
    }))
}

/// POST /devices/revoke: ends one session of the account. Revoking this
/// very device is signing out.
pub async fn revoke<S: Backend>(
    State(state): State<AppState<S>>,
    Protected { session, form }: Protected<RevokeForm>,
) -> Result<Response, AppError> {
    let info = find(&state, &session.account, &form.device)
        .await?
        .ok_or(AppError::NotFound("device"))?;
    ended::note(&state, &[info.id], Ended::Revoked).await?;
    state.store.delete(&info.id).await.checked()?;
    if info.id == session.id {
        let jar = axum_extra::extract::cookie::CookieJar::new()
            .add(removal_cookie(state.settings.secure_cookies));
        return Ok((jar, Redirect::to("/login?notice=logged-out")).into_response());
    }
    Ok(Redirect::to("/devices?notice=revoked").into_response())
}

/// GET /devices/others: "Sign out the 2 other devices?"
pub async fn confirm_others<S: Backend>(
    State(state): State<AppState<S>>,
    session: CurrentSession,
) -> Result<Response, AppError> {
    let others = state
        .store
        .count(session.account.as_bytes())
        .await
        .checked()?
        - 1;
    let text = match others {
        0 => "No other device is signed in to this account.".to_owned(),
        1 => "The other device signed in to this account will be signed out at once.".to_owned(),
        n => format!("All {n} other devices signed in to this account will be signed out at once."),
    };
    Ok(templates::render(&ConfirmPage {
        nav: Nav::of(&session),
        title: "Log out all other devices?".into(),
        text,
        warning: None,
        action: "/devices/others",
        fields: vec![],
        button: "Log them out".into(),
        cancel: "/devices",
    }))
}

/// POST /devices/others: "log out all other devices", one store call.
pub async fn log_out_others<S: Backend>(
    State(state): State<AppState<S>>,
    Protected { session, .. }: Protected<NoFields>,
) -> Result<Redirect, AppError> {
    end_others(
        &state,
        &session.account,
        Some(&session.id),
        Ended::OthersLoggedOut,
    )
    .await?;
    Ok(Redirect::to("/devices?notice=others"))
}

/// Ends every session of `account` but `keep`, leaving `why` for each;
/// returns how many ended.
pub(crate) async fn end_others<S: Backend>(
    state: &AppState<S>,
    account: &str,
    keep: Option<&SessionId>,
    why: Ended,
) -> Result<usize, AppError> {
    let ids: Vec<SessionId> = state
        .store
        .list(account.as_bytes())
        .await
        .checked()?
        .into_iter()
        .map(|info| info.id)
        .filter(|id| Some(id) != keep)
        .collect();
    ended::note(state, &ids, why).await?;
    state
        .store
        .delete_owner(account.as_bytes(), keep)
        .await
        .checked()
}

/// A page's status with its body, for the forms that answer with the page
/// itself.
pub(crate) fn with_status(status: StatusCode, page: Response) -> Response {
    (status, page).into_response()
}
