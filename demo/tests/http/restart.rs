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
    // The app and its store stop (a deploy) and start again on the same
    // directory.
    drop(h);
    let h = Harness::new(open(), Settings::default(), clock.clone(), None).await;
    let page = h.get(&mut laptop, "/devices").await;
    assert!(!page.is_signed_out(), "{}", page.body);
    assert_eq!(page.devices().len(), 2, "{}", page.body);
    assert!(!h.get(&mut phone, "/devices").await.is_signed_out());
    drop(h);
    let _ = std::fs::remove_dir_all(&dir);
}
