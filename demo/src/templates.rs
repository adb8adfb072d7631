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

/// A moment as a page shows it: relative ("3 min ago") in the text, the
/// UTC time in a tooltip, and a machine-readable `datetime` that the
/// page's small script turns into the browser's own time zone. Without
/// the script the page still reads well.
pub(crate) struct Time {
    pub iso: String,
    pub utc: String,
    pub relative: String,
}

impl Time {
    pub fn at(unix: u64, now: u64) -> Time {
        let t = UtcDateTime::from_unix(unix);
        let date = format!("{:04}-{:02}-{:02}", t.year, t.month, t.day);
        let clock = format!("{:02}:{:02}:{:02}", t.hour, t.minute, t.second);
        Time {
            iso: format!("{date}T{clock}Z"),
            utc: format!("{date} {clock} UTC"),
            relative: relative(unix, now),
        }
    }
}

/// "just now", "45 s ago", "3 min ago", "in 29 min", "in 11 h 59 min".
pub(crate) fn relative(unix: u64, now: u64) -> String {
    let (past, secs) = match unix <= now {
        true => (true, now - unix),
        false => (false, unix - now),
    };
    let span = match secs {
        0..=4 => return "just now".to_owned(),
        s @ 5..=59 => format!("{s} s"),
        s @ 60..=3599 => format!("{} min", s / 60),
        s @ 3600..=86_399 => match s % 3600 / 60 {
            0 => format!("{} h", s / 3600),
            m => format!("{} h {m} min", s / 3600),
        },
        s => format!("{} d", s / 86_400),
    };
    match past {
        true => format!("{span} ago"),
        false => format!("in {span}"),
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
    pub next: String,
}

/// One row of the devices page.
pub(crate) struct DeviceRow {
    pub handle: String,
    pub browser: String,
    pub os: &'static str,
    pub ip: String,
    pub via: &'static str,
    pub created: Time,
    pub last_seen: Time,
    pub expires: Time,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "devices.html")]
pub(crate) struct DevicesPage {
    pub nav: Nav,
    pub notice: Option<String>,
    pub devices: Vec<DeviceRow>,
    pub idle: String,
    pub absolute: String,
    pub limit: String,
    pub min_password: usize,
    pub password_error: Option<String>,
}

/// One row of the admin page.
pub(crate) struct AccountRow {
    pub name: String,
    pub role: &'static str,
    pub sessions: usize,
    pub me: bool,
}

#[derive(Template)]
#[template(path = "admin.html")]
pub(crate) struct AdminPage {
    pub nav: Nav,
    pub accounts: Vec<AccountRow>,
    pub notice: Option<String>,
}

/// "Are you sure?", as a page: works without JavaScript.
#[derive(Template)]
#[template(path = "confirm.html")]
pub(crate) struct ConfirmPage {
    pub nav: Nav,
    pub title: String,
    pub text: String,
    pub warning: Option<String>,
    pub action: &'static str,
    pub fields: Vec<(&'static str, String)>,
    pub button: String,
    pub cancel: &'static str,
}

/// One claim of the JWT page's token.
pub(crate) struct ClaimRow {
    pub name: &'static str,
    pub meaning: &'static str,
    pub text: Option<String>,
    pub time: Option<Time>,
}

impl ClaimRow {
    pub fn text(name: &'static str, meaning: &'static str, text: &str) -> ClaimRow {
        ClaimRow {
            name,
            meaning,
            text: Some(text.to_owned()),
            time: None,
        }
    }

    pub fn time(name: &'static str, meaning: &'static str, time: Time) -> ClaimRow {
        ClaimRow {
            name,
            meaning,
            text: None,
            time: Some(time),
        }
    }
}

/// What one kind of check says about the token now.
pub(crate) struct Verdict {
    pub name: &'static str,
    pub how: &'static str,
    pub accepted: bool,
    pub text: String,
}

#[derive(Template)]
#[template(path = "jwt.html")]
pub(crate) struct JwtPage {
    pub nav: Nav,
    pub notice: Option<String>,
    pub token: Option<String>,
    pub claims: Vec<ClaimRow>,
    pub verdicts: Vec<Verdict>,
    pub refresh_live: bool,
    pub lifetime: String,
}

#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    pub nav: Nav,
    pub title: &'static str,
    pub message: String,
    pub retry: bool,
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
    fn times_are_utc_to_the_second_with_a_relative_text() {
        let t = Time::at(1_795_000_000, 1_795_000_180);
        assert_eq!(t.utc, "2026-11-18 11:06:40 UTC");
        assert_eq!(t.iso, "2026-11-18T11:06:40Z");
        assert_eq!(t.relative, "3 min ago");
        assert_eq!(Time::at(951_782_400, 0).utc, "2000-02-29 00:00:00 UTC");
        assert_eq!(relative(100, 102), "just now");
        assert_eq!(relative(100, 145), "45 s ago");
        assert_eq!(relative(100 + 43_140, 100), "in 11 h 59 min");
        assert_eq!(relative(100 + 7200, 100), "in 2 h");
        assert_eq!(relative(0, 200_000), "2 d ago");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(Duration::from_secs(1800)), "30 min");
        assert_eq!(duration(Duration::from_secs(5400)), "1 h 30 min");
        assert_eq!(duration(Duration::from_secs(45)), "45 s");
        assert_eq!(duration(Duration::ZERO), "0 s");
    }
}
