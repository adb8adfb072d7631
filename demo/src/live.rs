//! Live pages, from the store's session event log (docs/events.md): a
//! page open on one device learns at once that its session was revoked
//! from another (or kicked, or expired) and goes to the sign-in page; the
//! admin page shows sign-ins and sign-outs as they happen.
//!
//! One reader per app process follows the log ([`Live::spawn`]) and hands
//! each event to every open page through a broadcast channel, so a
//! thousand open tabs cost the store one reader, not a thousand. Pages
//! listen with server-sent events (`/live/session`, `/live/admin`), which
//! a browser reconnects by itself; `static/live.js` is the page's side.
//!
//! The reader polls ten times a second rather than wait on the server: it
//! shares the app's store handle, and a read waiting on the network
//! client would hold one of the request path's pooled connections (the
//! embedded store never waits anyway). A page hears of an end within
//! about a tenth of a second; an app that wants it sooner gives its
//! reader a client of its own and a long wait.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as Sse, KeepAlive};
use axum::response::{IntoResponse, Response, Sse as SseResponse};
use futures_util::stream::{self, Stream};
use sessiond_protocol::{Event, EventKind, EventRead, SessionId};
use tokio::sync::broadcast;

use crate::accounts::Role;
use crate::auth::CurrentSession;
use crate::error::AppError;
use crate::store::Backend;
use crate::{AppState, user_agent};

/// Events waiting for slow pages; one that falls further behind re-checks
/// its session instead (see [`session_feed`]).
const BACKLOG: usize = 1024;

/// How often the reader looks at the log.
const POLL: Duration = Duration::from_millis(100);

/// The process's one reader of the log, and the pages listening to it.
pub struct Live {
    events: broadcast::Sender<Arc<Event>>,
    /// Set at shutdown: every page's stream ends, so that the server's
    /// graceful shutdown is not held open by them.
    closed: tokio::sync::watch::Sender<bool>,
}

impl Live {
    /// A hub with no reader yet.
    pub(crate) fn new() -> Live {
        Live {
            events: broadcast::channel(BACKLOG).0,
            closed: tokio::sync::watch::channel(false).0,
        }
    }

    /// Ends every page's stream (the app is shutting down).
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// The next event for a page, `None` once the app shuts down.
    async fn next(
        &self,
        events: &mut broadcast::Receiver<Arc<Event>>,
    ) -> Option<Result<Arc<Event>, broadcast::error::RecvError>> {
        let mut closed = self.closed.subscribe();
        if *closed.borrow_and_update() {
            return None;
        }
        tokio::select! {
            got = events.recv() => Some(got),
            _ = closed.changed() => None,
        }
    }

    /// Follows the store's log from its newest event on, for as long as
    /// the app lives: the reader holds the app's state only while it reads
    /// (an embedded store's read never yields), so dropping the app drops
    /// the store and frees its data directory.
    pub(crate) fn spawn<S: Backend>(state: &AppState<S>) {
        let app = Arc::downgrade(&state.shared);
        tokio::spawn(async move {
            let mut after = match app.upgrade() {
                Some(shared) => newest(&shared.store).await,
                None => return,
            };
            loop {
                let Some(shared) = app.upgrade() else { return };
                if *shared.live.closed.borrow() {
                    return;
                }
                match shared.store.next_events(after, 500, Duration::ZERO).await {
                    Ok(EventRead::Events(events)) => {
                        for event in events {
                            after = event.seq;
                            // Nobody listening is fine.
                            let _ = shared.live.events.send(Arc::new(event));
                        }
                    }
                    // Events went by unseen: the pages re-check their
                    // sessions when they next lag or reconnect.
                    Ok(EventRead::Gap { oldest_kept }) => after = oldest_kept - 1,
                    Err(_) => {
                        drop(shared);
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
                drop(shared);
                tokio::time::sleep(POLL).await;
            }
        });
    }
}

/// The newest seq in the log: where a reader that wants only what comes
/// next starts (what came before ended nothing open now).
async fn newest<S: Backend>(store: &S) -> u64 {
    let mut after = 0;
    loop {
        match store.next_events(after, 1000, Duration::ZERO).await {
            Ok(EventRead::Events(events)) if !events.is_empty() => {
                after = events.last().map_or(after, |e| e.seq);
            }
            Ok(EventRead::Gap { oldest_kept }) => after = oldest_kept - 1,
            _ => return after,
        }
    }
}

/// Whether `event` ends the session `id` (an end, or a rotation away
/// from it).
fn ends(event: &Event, id: &SessionId) -> bool {
    event.id == *id
        && matches!(
            event.kind,
            EventKind::Ended { .. } | EventKind::Rotated { .. }
        )
}

/// GET /live/session: one `ended` event when this session ends, then the
/// stream closes. Its data is the sign-in page that says why
/// (`/login?ended=revoked`) when the app ended it and noted why, which
/// the page then shows by itself; empty otherwise (it expired, or the
/// store went away), and the page only says, at its top, that it ended,
/// with a link: working out why then is the next request's, which may
/// record a store restart once.
///
/// It reads the cookie itself rather than take a [`CurrentSession`]: that
/// extractor, finding the session gone, works out why and may record it
/// once (a store that restarted empty), which belongs to the page's next
/// request, not to this background stream.
pub async fn session_feed<S: Backend>(
    State(state): State<AppState<S>>,
    jar: axum_extra::extract::cookie::CookieJar,
) -> Response {
    let Some(id) = crate::auth::cookie_id(&jar, state.settings.secure_cookies) else {
        return axum::http::StatusCode::NO_CONTENT.into_response();
    };
    SseResponse::new(feed(state, id))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// The session's feed: waits for its end, then says so once. It
/// subscribes before it checks that the session is still there, so an end
/// between the page's request and this stream is not missed.
fn feed<S: Backend>(
    state: AppState<S>,
    id: SessionId,
) -> impl Stream<Item = Result<Sse, Infallible>> {
    let events = state.live.events.subscribe();
    stream::unfold(
        (state, events, false),
        move |(state, mut events, done)| async move {
            if done {
                return None;
            }
            if state.store.peek(&id).await.is_ok() {
                loop {
                    match state.live.next(&mut events).await? {
                        Ok(event) if ends(&event, &id) => break,
                        Ok(_) => {}
                        // Fell behind: the session may have ended unseen.
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            if state.store.peek(&id).await.is_err() {
                                break;
                            }
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            }
            let to = crate::ended::noted(&state, &id)
                .await
                .map(|why| crate::error::login_location(Some(why), None));
            let said = Sse::default().event("ended").data(to.unwrap_or_default());
            Some((Ok(said), (state, events, true)))
        },
    )
}

/// GET /live/admin: sign-ins and sign-outs of every account, as they
/// happen (admins only).
pub async fn admin_feed<S: Backend>(
    State(state): State<AppState<S>>,
    session: CurrentSession,
) -> Result<Response, AppError> {
    if session.role != Role::Admin {
        return Err(AppError::Forbidden);
    }
    let events = state.live.events.subscribe();
    let feed = stream::unfold((state, events), |(state, mut events)| async move {
        loop {
            match state.live.next(&mut events).await? {
                Ok(event) => {
                    if let Some(line) = admin_line(&event) {
                        return Some((Ok::<_, Infallible>(line), (state, events)));
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Ok(SseResponse::new(feed)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

/// An event as the admin feed shows it: `signin` or `signout`, with the
/// account, the device and (for a sign-out) why, as JSON.
fn admin_line(event: &Event) -> Option<Sse> {
    let (kind, reason) = match &event.kind {
        EventKind::Created => ("signin", None),
        EventKind::Ended { reason, .. } => ("signout", Some(reason.name())),
        EventKind::Rotated { .. } | EventKind::Updated => return None,
    };
    let device = user_agent::parse(event.labels.get("ua").unwrap_or(""));
    let device = format!("{} on {}", device.browser, device.os);
    let data = serde_json::json!({
        "account": String::from_utf8_lossy(&event.owner),
        "device": device,
        "reason": reason,
        "at_ms": event.at_ms,
    });
    Some(Sse::default().event(kind).data(data.to_string()))
}
