//! Sign-in, sign-out, cookies, CSRF and expiry.

use std::time::Duration;

use axum::http::StatusCode;
use sessiond_demo::Settings;

use crate::harness::{ALICE, Browser, FIREFOX, Stores};
use crate::on_both_stores;

on_both_stores!(
    login_sets_a_hardened_cookie_and_lists_the_device,
    secure_cookies_when_asked,
    wrong_password_and_unknown_user_get_the_same_refusal,
    login_without_its_csrf_token_is_refused,
    form_posts_without_the_session_token_are_refused,
    cross_site_posts_are_refused,
    logout_deletes_the_session,
    login_never_keeps_a_session_id_the_browser_brought,
    idle_sessions_expire_and_use_extends_them,
    absolute_lifetime_ends_even_a_busy_session,
    password_change_rotates_this_session_and_ends_the_others,
    password_change_needs_the_current_password,
);

async fn login_sets_a_hardened_cookie_and_lists_the_device<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let mut browser = Browser::new(FIREFOX);
    let reply = h.login(&mut browser, ALICE).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location(), Some("/devices"));
    let cookie = reply
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("__Host-sid="))
        .expect("a session cookie with the __Host- prefix");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
    assert_eq!(h.sessions_of("alice").await, 1);

    let page = h.get(&mut browser, "/devices").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.headers["cache-control"], "no-store");
    let policy = page.headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(page.body.contains("Firefox 133 on Linux"), "{}", page.body);
    assert!(page.body.contains("192.0.2.7"));
    assert!(page.body.contains("this device"));
    assert_eq!(page.devices().len(), 1);
    // The timeouts in force are on the page.
    assert!(page.body.contains("30 min"), "{}", page.body);
    assert!(page.body.contains("12 h"));
}

async fn secure_cookies_when_asked<T: Stores>() {
    let h = T::start(Settings {
        secure_cookies: false,
        ..Settings::default()
    })
    .await;
    let mut browser = Browser::new(FIREFOX);
    let reply = h.login(&mut browser, ALICE).await;
    let cookie = reply
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("sid="))
        .expect("a plain session cookie with --insecure-cookies");
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert_eq!(h.get(&mut browser, "/devices").await.status, StatusCode::OK);
}

async fn wrong_password_and_unknown_user_get_the_same_refusal<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let mut browser = Browser::new(FIREFOX);
    let wrong = h.login(&mut browser, ("alice", "not-her-password")).await;
    let unknown = h.login(&mut browser, ("mallory", "alice-password")).await;
    for reply in [&wrong, &unknown] {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert!(
            reply.body.contains("Wrong username or password."),
            "{}",
            reply.body
        );
    }
    assert!(browser.session().is_none());
    assert_eq!(h.sessions_of("alice").await, 0);
    // The form keeps the name typed, escaped.
    let odd = h.login(&mut browser, ("<b>x</b>", "pw")).await;
    assert!(
        odd.body.contains("&#60;b&#62;x&#60;/b&#62;") || odd.body.contains("&lt;b&gt;"),
        "{}",
        odd.body
    );
    assert!(!odd.body.contains("<b>x</b>"));
}

async fn login_without_its_csrf_token_is_refused<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let mut browser = Browser::new(FIREFOX);
    let page = h.get(&mut browser, "/login").await;
    let token = page.csrf().unwrap();
    let (name, password) = ALICE;

    let missing = h
        .post(
            &mut browser,
            "/login",
            &[("username", name), ("password", password)],
        )
        .await;
    let forged = h
        .post(
            &mut browser,
            "/login",
            &[
                ("username", name),
                ("password", password),
                ("csrf", "A".repeat(43).as_str()),
            ],
        )
        .await;
    // The right token from a browser without the cookie that holds it.
    let mut other = Browser::new(FIREFOX);
    let no_cookie = h
        .post(
            &mut other,
            "/login",
            &[("username", name), ("password", password), ("csrf", &token)],
        )
        .await;
    for reply in [&missing, &forged, &no_cookie] {
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
        assert!(
            reply.body.contains("did not come from this site"),
            "{}",
            reply.body
        );
    }
    assert_eq!(h.sessions_of("alice").await, 0);
}

async fn form_posts_without_the_session_token_are_refused<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let mut browser = h.signed_in(ALICE, FIREFOX).await;
    let missing = h.post(&mut browser, "/logout", &[]).await;
    let forged = h.post(&mut browser, "/logout", &[("csrf", "forged")]).await;
    // Another session's token is no good either.
    let other = h.signed_in(ALICE, FIREFOX).await;
    let foreign = h
        .post(&mut browser, "/logout", &[("csrf", &other.csrf)])
        .await;
    for reply in [&missing, &forged, &foreign] {
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    }
    assert_eq!(h.sessions_of("alice").await, 2);
    let ok = h.submit(&mut browser, "/logout", &[]).await;
    assert_eq!(ok.location(), Some("/login?notice=logged-out"));
    assert_eq!(h.sessions_of("alice").await, 1);
}

async fn cross_site_posts_are_refused<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let browser = h.signed_in(ALICE, FIREFOX).await;
    for (name, value) in [
        ("origin", "https://evil.test"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ] {
        let request = axum::http::Request::post("/devices/others")
            .header("host", "demo.test")
            .header(
                "cookie",
                format!("__Host-sid={}", browser.session().unwrap()),
            )
            .header("content-type", "application/x-www-form-urlencoded")
            .header(name, value)
            .body(axum::body::Body::from(format!("csrf={}", browser.csrf)))
            .unwrap();
        let reply = h.send(request).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{name}: {value}");
        assert!(
            reply
                .body
                .contains("Form posts from other sites are refused.")
        );
    }
    // The same post from this origin goes through.
    let request = axum::http::Request::post("/devices/others")
        .header("host", "demo.test")
        .header("origin", "http://demo.test")
        .header(
            "cookie",
            format!("__Host-sid={}", browser.session().unwrap()),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(format!("csrf={}", browser.csrf)))
        .unwrap();
    assert_eq!(h.send(request).await.status, StatusCode::SEE_OTHER);
}

async fn logout_deletes_the_session<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let mut browser = h.signed_in(ALICE, FIREFOX).await;
    let stolen = browser.clone();
    let reply = h.submit(&mut browser, "/logout", &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(browser.session().is_none(), "the cookie is cleared");
    assert_eq!(h.sessions_of("alice").await, 0);
    // A copy of the old cookie is worth nothing: the session is gone.
    let mut stolen = stolen;
    assert!(h.get(&mut stolen, "/devices").await.is_signed_out());
    let login = h.get(&mut stolen, "/login?ended=unknown").await;
    assert!(login.body.contains("Your session has ended"));
}

async fn login_never_keeps_a_session_id_the_browser_brought<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let mut browser = h.signed_in(ALICE, FIREFOX).await;
    let before = browser.session().unwrap().to_owned();
    // Signing in again (as anyone) makes a new session and ends the old one.
    let reply = h.login(&mut browser, crate::harness::BOB).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let after = browser.session().unwrap().to_owned();
    assert_ne!(before, after);
    assert_eq!(h.sessions_of("alice").await, 0);
    assert_eq!(h.sessions_of("bob").await, 1);
    // A planted id that the store never made is simply ignored.
    let mut planted = Browser::new(FIREFOX);
    planted
        .cookies
        .insert("__Host-sid".into(), "AAAAAAAAAAAAAAAAAAAAAA".into());
    assert!(h.get(&mut planted, "/devices").await.is_signed_out());
    h.login(&mut planted, ALICE).await;
    assert_ne!(planted.session(), Some("AAAAAAAAAAAAAAAAAAAAAA"));
}

async fn idle_sessions_expire_and_use_extends_them<T: Stores>() {
    let h = T::start(Settings {
        idle_timeout: Duration::from_secs(600),
        ..Settings::default()
    })
    .await;
    let mut browser = h.signed_in(ALICE, FIREFOX).await;
    let page = h.get(&mut browser, "/devices").await;
    assert!(page.body.contains("10 min"), "{}", page.body);
    // Used every 8 minutes, it lives on past its first 10.
    for _ in 0..3 {
        h.clock.advance(Duration::from_secs(480));
        assert_eq!(h.get(&mut browser, "/devices").await.status, StatusCode::OK);
    }
    // Left alone for 11, it ends.
    h.clock.advance(Duration::from_secs(660));
    assert!(h.get(&mut browser, "/devices").await.is_signed_out());
    assert!(browser.session().is_none(), "the dead cookie is cleared");
    assert_eq!(h.sessions_of("alice").await, 0);
}

async fn absolute_lifetime_ends_even_a_busy_session<T: Stores>() {
    let h = T::start(Settings {
        idle_timeout: Duration::from_secs(600),
        absolute_lifetime: Duration::from_secs(3600),
        ..Settings::default()
    })
    .await;
    let mut browser = h.signed_in(ALICE, FIREFOX).await;
    let page = h.get(&mut browser, "/devices").await;
    assert!(page.body.contains("1 h"), "{}", page.body);
    for _ in 0..6 {
        h.clock.advance(Duration::from_secs(590));
        assert_eq!(h.get(&mut browser, "/devices").await.status, StatusCode::OK);
    }
    h.clock.advance(Duration::from_secs(70));
    assert!(h.get(&mut browser, "/devices").await.is_signed_out());
}

async fn password_change_rotates_this_session_and_ends_the_others<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let mut here = h.signed_in(ALICE, FIREFOX).await;
    let mut there = h.signed_in(ALICE, crate::harness::ANDROID).await;
    let old_id = here.session().unwrap().to_owned();
    let old_copy = here.clone();
    let reply = h
        .submit(
            &mut here,
            "/password",
            &[
                ("current", ALICE.1),
                ("new", "a-new-long-password"),
                ("confirm", "a-new-long-password"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    assert_eq!(reply.location(), Some("/devices?notice=password"));
    assert_ne!(here.session(), Some(old_id.as_str()), "a new id");
    let page = h.get(&mut here, reply.location().unwrap()).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Password changed"));
    assert_eq!(page.devices().len(), 1);
    // The other device and the old id are both dead.
    assert!(h.get(&mut there, "/devices").await.is_signed_out());
    assert!(
        h.get(&mut old_copy.clone(), "/devices")
            .await
            .is_signed_out()
    );
    // Only the new password signs in.
    let mut fresh = Browser::new(FIREFOX);
    assert_eq!(
        h.login(&mut fresh, ALICE).await.status,
        StatusCode::UNAUTHORIZED
    );
    let reply = h.login(&mut fresh, ("alice", "a-new-long-password")).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
}

async fn password_change_needs_the_current_password<T: Stores>() {
    let h = T::start(Settings::default()).await;
    let mut here = h.signed_in(ALICE, FIREFOX).await;
    let mut there = h.signed_in(ALICE, FIREFOX).await;
    let id = here.session().unwrap().to_owned();
    let wrong = h
        .submit(
            &mut here,
            "/password",
            &[
                ("current", "nope"),
                ("new", "a-new-long-password"),
                ("confirm", "a-new-long-password"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let short = h
        .submit(
            &mut here,
            "/password",
            &[("current", ALICE.1), ("new", "short"), ("confirm", "short")],
        )
        .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    let differ = h
        .submit(
            &mut here,
            "/password",
            &[
                ("current", ALICE.1),
                ("new", "a-new-long-password"),
                ("confirm", "another-long-one"),
            ],
        )
        .await;
    assert_eq!(differ.status, StatusCode::BAD_REQUEST);
    assert!(differ.body.contains("differ"));
    // Nothing changed: same id, both devices in, the old password works.
    assert_eq!(here.session(), Some(id.as_str()));
    assert_eq!(h.get(&mut there, "/devices").await.status, StatusCode::OK);
    assert_eq!(
        h.login(&mut Browser::new(FIREFOX), ALICE).await.status,
        StatusCode::SEE_OTHER
    );
}
