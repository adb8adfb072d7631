//! The "Sessions vs JWT" page: one token per browser session, checked the
//! three ways side by side, and the buttons that end it.
//!
//! Every button posts, changes the store or the session, and redirects
//! back to `GET /jwt` (post/redirect/get): the address bar always shows
//! `/jwt`, a reload re-submits nothing, and the verdicts are worked out
//! afresh on every load, so they show the store as it is now.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};

use crate::auth::{self, ClientInfo, CurrentSession, SessionData, Via};
use crate::csrf::{NoFields, Protected};
use crate::error::AppError;
use crate::jwt::{self, Check, Slot};
use crate::store::{Backend, Checked};
use crate::templates::{self, ClaimRow, JwtPage, Nav, Time, Verdict};
use crate::{AppState, devices};

async fn verdict<S: Backend>(
    state: &AppState<S>,
    token: &str,
    check: Check,
) -> Result<Verdict, AppError> {
    let (name, how) = match check {
        Check::Plain => ("A plain JWT check", "signature and expiry"),
        Check::Denylist => ("With the denylist", "…and its id is not on the denylist"),
        Check::Bound => (
            "Bound to its refresh session",
            "…and its refresh session is live",
        ),
    };
    Ok(match jwt::verify(state, token, check).await {
        Ok((_, left)) => Verdict {
            name,
            how,
            accepted: true,
            text: format!(
                "Accepted, for {} more.",
                templates::duration(std::time::Duration::from_secs(left))
            ),
        },
        Err(AppError::BadToken(problem)) => Verdict {
            name,
            how,
            accepted: false,
            text: format!("Refused. {}", problem.message()),
        },
        Err(other) => return Err(other),
    })
}

/// GET /jwt: the explanation, this session's token if it has one, and
/// what each kind of check says about it now.
pub async fn page<S: Backend>(
    State(state): State<AppState<S>>,
    mut session: CurrentSession,
) -> Result<Response, AppError> {
    let notice = session.take_flash(&state).await?;
    let now = state.now();
    let mut page = JwtPage {
        nav: Nav::of(&session),
        notice,
        token: None,
        claims: Vec::new(),
        verdicts: Vec::new(),
        refresh_live: false,
        lifetime: templates::duration(state.settings.jwt_lifetime),
    };
    if let Some(slot) = session.data.jwt.clone()
        && let Ok(claims) = jwt::decode(&state, &slot.token)
    {
        page.claims = vec![
            ClaimRow::text("sub", "account", &claims.sub),
            ClaimRow::text("jti", "token id", &claims.jti),
            ClaimRow::time("iat", "issued", Time::at(claims.iat, now)),
            ClaimRow::time("exp", "expires", Time::at(claims.exp, now)),
            ClaimRow::text("sid", "refresh session (device handle)", &claims.sid),
        ];
        for check in [Check::Plain, Check::Denylist, Check::Bound] {
            page.verdicts
                .push(verdict(&state, &slot.token, check).await?);
        }
        page.refresh_live = devices::find(&state, &session.account, &slot.device)
            .await?
            .is_some();
        page.token = Some(slot.token);
    }
    Ok(templates::render(&page))
}

async fn save_and_return<S: Backend>(
    state: &AppState<S>,
    mut session: CurrentSession,
    jwt: Option<Slot>,
    flash: String,
) -> Result<Response, AppError> {
    let data = SessionData {
        flash: Some(flash),
        jwt,
        ..session.data.clone()
    };
    session.save(state, data).await?;
    Ok(Redirect::to("/jwt").into_response())
}

/// POST /jwt/issue: a token for the signed-in account. Its refresh
/// session is this browser's one if still live, else a new one (a device
/// on the devices page).
pub async fn issue<S: Backend>(
    State(state): State<AppState<S>>,
    client: ClientInfo,
    Protected { session, .. }: Protected<NoFields>,
) -> Result<Response, AppError> {
    let live = match &session.data.jwt {
        Some(slot) => devices::find(&state, &session.account, &slot.device)
            .await?
            .map(|_| slot.device.clone()),
        None => None,
    };
    let (device, flash) = match live {
        Some(device) => (device, "A new access token, from the same refresh session.".to_owned()),
        None => match auth::start_session(&state, &session.account, Via::Jwt, &client).await {
            Ok(started) => (
                started.device,
                "Token issued. Its refresh session is now on your devices page, as “JWT refresh token”."
                    .to_owned(),
            ),
            Err(err @ AppError::SessionLimit { .. }) => {
                let flash = format!("No token: a token needs a refresh session, which counts as a device. {err}");
                let jwt = session.data.jwt.clone();
                return save_and_return(&state, session, jwt, flash).await;
            }
            Err(err) => return Err(err),
        },
    };
    let (token, _) = jwt::issue(&state, &session.account, &device)?;
    save_and_return(&state, session, Some(Slot { token, device }), flash).await
}

/// POST /jwt/revoke: ends the token's refresh session.
pub async fn revoke<S: Backend>(
    State(state): State<AppState<S>>,
    Protected { session, .. }: Protected<NoFields>,
) -> Result<Response, AppError> {
    let Some(slot) = session.data.jwt.clone() else {
        return Ok(Redirect::to("/jwt").into_response());
    };
    jwt::end_refresh_session(&state, &session.account, &slot.device).await?;
    let flash = "Refresh session ended. The plain check still accepts the token until it \
                 expires: nothing in it has changed. The bound check refuses it at once."
        .to_owned();
    save_and_return(&state, session, Some(slot), flash).await
}

/// POST /jwt/denylist: puts the token's id on the denylist.
pub async fn denylist<S: Backend>(
    State(state): State<AppState<S>>,
    Protected { session, .. }: Protected<NoFields>,
) -> Result<Response, AppError> {
    let Some(slot) = session.data.jwt.clone() else {
        return Ok(Redirect::to("/jwt").into_response());
    };
    if let Ok(claims) = jwt::decode(&state, &slot.token) {
        jwt::denylist(&state, &claims).await?;
    }
    let flash = "The token's id is on the denylist until the token would have expired. \
                 The plain check cannot know."
        .to_owned();
    save_and_return(&state, session, Some(slot), flash).await
}

/// POST /jwt/end-session: deletes this browser's session, then reloads the
/// page, which now goes to the login page: a session ends at once.
pub async fn end_session<S: Backend>(
    State(state): State<AppState<S>>,
    Protected { session, .. }: Protected<NoFields>,
) -> Result<Redirect, AppError> {
    crate::ended::note(&state, &[session.id], crate::ended::Ended::EndedByYou).await?;
    state.store.delete(&session.id).await.checked()?;
    Ok(Redirect::to("/jwt"))
}
