//! The embedded store with a data directory (`--data-dir`): a restart of
//! the app signs nobody out.

use sessiond::Clock as _;
use sessiond::{ManualClock, PersistConfig, Store, SystemClock};
use sessiond_demo::Settings;

use crate::harness::{ALICE, ANDROID, FIREFOX, Harness, store_config};

#[tokio::test]
async fn a_restart_on_a_data_directory_signs_nobody_out() {
    let dir = std::env::temp_dir().join(format!("sessiond-demo-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let clock = ManualClock::new(SystemClock.now_ms());
    let open = || {
        let persist = PersistConfig::new(&dir);
        Store::open_with_clock(store_config(), persist, clock.clone())
            .expect("the data directory opens")
            .0
    };
    let h = Harness::new(open(), Settings::default(), clock.clone(), None).await;
    let mut laptop = h.signed_in(ALICE, FIREFOX).await;
    let mut phone = h.signed_in(ALICE, ANDROID).await;
    let body = serde_json::json!({"username": ALICE.0, "password": ALICE.1});
    let (_, pair) = h
        .api(axum::http::Method::POST, "/api/jwt/login", None, Some(body))
        .await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    // The app and its store stop (a deploy) and start again on the same
    // directory.
    drop(h);
    let h = Harness::new(open(), Settings::default(), clock.clone(), None).await;
    let page = h.get(&mut laptop, "/devices").await;
    assert!(!page.is_signed_out(), "{}", page.body);
    assert_eq!(page.devices().len(), 3, "{}", page.body);
    assert!(!h.get(&mut phone, "/devices").await.is_signed_out());
    // The JWT signing key is kept in the store too: tokens survive.
    let (status, json) = h
        .api(axum::http::Method::GET, "/api/jwt/me", Some(&access), None)
        .await;
    assert_eq!(status, axum::http::StatusCode::OK, "{json}");
    drop(h);
    let _ = std::fs::remove_dir_all(&dir);
}
