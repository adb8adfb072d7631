//! The pages, as askama templates (`demo/templates/`): checked when the
//! app compiles, escaped by default.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use sessiond_protocol::UtcDateTime;

/// Renders a page; a template that fails to render is a bug, shown as a
/// plain 500.
pub(crate) fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}

/// The header every page shows: who is signed in, the links they may use.
pub(crate) struct Nav {
    pub account: Option<String>,
    pub admin: bool,
    pub csrf: String,
}

impl Nav {
    pub fn anonymous() -> Nav {
        Nav {
            account: None,
            admin: false,
            csrf: String::new(),
        }
    }

    pub fn of(session: &crate::auth::CurrentSession) -> Nav {
        Nav {
            account: Some(session.account.clone()),
            admin: session.role == crate::Role::Admin,
            csrf: session.csrf.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
pub(crate) struct LoginPage {
    pub nav: Nav,
    pub csrf: String,
    pub error: Option<String>,
    pub notice: Option<&'static str>,
    pub username: String,
}

/// One row of the devices page.
pub(crate) struct DeviceRow {
    pub handle: String,
    pub browser: String,
    pub os: &'static str,
    pub ip: String,
    pub via: &'static str,
    pub created: String,
    pub last_seen: String,
    pub expires: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "devices.html")]
pub(crate) struct DevicesPage {
    pub nav: Nav,
    pub notice: Option<&'static str>,
    pub devices: Vec<DeviceRow>,
    pub idle: String,
    pub absolute: String,
    pub limit: String,
    pub min_password: usize,
}

/// One row of the admin page.
pub(crate) struct AccountRow {
    pub name: String,
    pub role: &'static str,
    pub sessions: usize,
}

#[derive(Template)]
#[template(path = "admin.html")]
pub(crate) struct AdminPage {
    pub nav: Nav,
    pub accounts: Vec<AccountRow>,
    pub notice: Option<String>,
}

/// What the JWT page reports about the last thing tried.
pub(crate) struct Outcome {
    pub ok: bool,
    pub message: String,
}

#[derive(Template)]
#[template(path = "jwt.html")]
pub(crate) struct JwtPage {
    pub nav: Nav,
    pub token: Option<String>,
    pub claims: Option<String>,
    pub outcome: Option<Outcome>,
    pub lifetime: String,
}

#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    pub title: &'static str,
    pub message: String,
}

/// An error's text as a sentence for a page: errors are written in lower
/// case without a full stop, as Rust errors are.
pub(crate) fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// A Unix time as `2026-11-27 14:05 UTC`.
pub(crate) fn timestamp(unix: u64) -> String {
    let t = UtcDateTime::from_unix(unix);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year, t.month, t.day, t.hour, t.minute
    )
}

/// A length of time as a person says it: "30 min", "12 h", "1 h 30 min".
pub(crate) fn duration(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let parts: Vec<String> = [(h, "h"), (m, "min"), (s, "s")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n} {unit}"))
        .collect();
    match parts.is_empty() {
        true => "0 s".to_owned(),
        false => parts.join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_dates() {
        assert_eq!(timestamp(0), "1970-01-01 00:00 UTC");
        assert_eq!(timestamp(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(timestamp(1_795_000_000), "2026-11-18 11:06 UTC");
        assert_eq!(timestamp(4_107_542_399), "2100-02-28 23:59 UTC");
    }

    #[test]
    fn errors_become_sentences() {
        assert_eq!(
            sentence("wrong username or password"),
            "Wrong username or password."
        );
        assert_eq!(sentence("done."), "Done.");
        assert_eq!(sentence(""), ".");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(Duration::from_secs(1800)), "30 min");
        assert_eq!(duration(Duration::from_secs(5400)), "1 h 30 min");
        assert_eq!(duration(Duration::from_secs(45)), "45 s");
        assert_eq!(duration(Duration::ZERO), "0 s");
    }
}
