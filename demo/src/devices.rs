//! "Your devices": every live session of the account, and the two things
//! only server-side sessions allow: end one of them, or all but this one.
//!
//! Devices are named in forms by a random handle kept in a label, never by
//! their session id: an id is a bearer secret and does not belong in a
//! page. Looking a handle up among the account's own sessions also means
//! nobody can end a session of another account.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sessiond_protocol::{SessionId, SessionInfo};

use crate::auth::{CurrentSession, removal_cookie};
use crate::csrf::{NoFields, Protected};
use crate::error::AppError;
use crate::store::{Backend, Checked};
use crate::templates::{self, DeviceRow, DevicesPage, Nav};
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
        "evicted" => {
            "You were at this account's device limit, so the device \
                      used least recently was signed out to make room."
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
pub(crate) fn row(info: &SessionInfo, current: &SessionId) -> DeviceRow {
    let labels = &info.labels;
    let device = user_agent::parse(labels.get("ua").unwrap_or(""));
    DeviceRow {
        handle: labels.get("device").unwrap_or("").to_owned(),
        browser: device.browser,
        os: device.os,
        ip: labels.get("ip").unwrap_or("unknown").to_owned(),
        via: via_name(labels.get("via")),
        created: templates::timestamp(info.created_at),
        last_seen: templates::timestamp(info.last_seen_at),
        expires: templates::timestamp(info.expires_at),
        current: info.id == *current,
    }
}

/// GET /devices.
pub async fn page<S: Backend>(
    State(state): State<AppState<S>>,
    session: CurrentSession,
    Query(query): Query<Notice>,
) -> Result<Response, AppError> {
    let sessions = state
        .store
        .list(session.account.as_bytes())
        .await
        .checked()?;
    let settings = &state.settings;
    let page = DevicesPage {
        nav: Nav::of(&session),
        notice: notice(query.notice.as_deref()),
        devices: sessions.iter().map(|info| row(info, &session.id)).collect(),
        idle: templates::duration(settings.idle_timeout),
        absolute: templates::duration(settings.absolute_lifetime),
        limit: match settings.session_limit {
            None => "no limit".to_owned(),
            Some(limit) => format!(
                "at most {} at once; {}",
                limit.max_sessions,
                match limit.policy {
                    sessiond_protocol::LimitPolicy::Reject => "a sign-in beyond that is refused",
                    sessiond_protocol::LimitPolicy::EvictOldest =>
                        "a sign-in beyond that signs out the device used least recently",
                }
            ),
        },
        min_password: crate::auth::MIN_PASSWORD_LEN,
    };
    Ok(templates::render(&page))
}

/// Finds the account's session with this device handle.
pub(crate) async fn find<S: Backend>(
    state: &AppState<S>,
    account: &str,
    handle: &str,
) -> Result<Option<SessionId>, AppError> {
    let sessions = state.store.list(account.as_bytes()).await.checked()?;
    Ok(sessions
        .into_iter()
        .find(|info| !handle.is_empty() && info.labels.get("device") == Some(handle))
        .map(|info| info.id))
}

/// The revoke form's field.
#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    device: String,
}

/// POST /devices/revoke: ends one session of the account. Revoking this
/// very device is signing out.
pub async fn revoke<S: Backend>(
    State(state): State<AppState<S>>,
    Protected { session, form }: Protected<RevokeForm>,
) -> Result<Response, AppError> {
    let id = find(&state, &session.account, &form.device)
        .await?
        .ok_or(AppError::NotFound("device"))?;
    state.store.delete(&id).await.checked()?;
    if id == session.id {
        let jar = axum_extra::extract::cookie::CookieJar::new().add(removal_cookie());
        return Ok((jar, Redirect::to("/login?notice=logged-out")).into_response());
    }
    Ok(Redirect::to("/devices?notice=revoked").into_response())
}

/// POST /devices/others: "log out all other devices", one store call.
pub async fn log_out_others<S: Backend>(
    State(state): State<AppState<S>>,
    Protected { session, .. }: Protected<NoFields>,
) -> Result<Redirect, AppError> {
    state
        .store
        .delete_owner(session.account.as_bytes(), Some(&session.id))
        .await
        .checked()?;
    Ok(Redirect::to("/devices?notice=others"))
}
