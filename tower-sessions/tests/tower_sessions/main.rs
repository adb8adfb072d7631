//! The tower-sessions store held to what tower-sessions documents for
//! stores, and to what it adds (owners, sessiond's own expiry), on the
//! embedded engine and on a daemon through the client: one suite, run on
//! both by `on_both!`. Time in the engine is a `ManualClock`, so expiry is
//! tested without waiting for it; the adapter's own check of the expiry
//! date reads the real clock, and one test waits the second it takes.

mod app;

use std::time::Duration;

use serde_json::json;
use sessiond::{ManualClock, Store, StoreConfig};
use sessiond_client::protocol::{Labels, SessionStore, StoreError};
use sessiond_client::{Client, ClientConfig, NearCache, NearCacheConfig};
use sessiond_server::{Server, ServerConfig};
use time::OffsetDateTime;
use tower_sessions::SessionStore as _;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::ExpiredDeletion as _;
use tower_sessions_sessiond_store::{AsStoreError, SessiondSessionStore, session_id, tower_id};

/// What the suite runs on: a sessiond store whose errors say which store
/// error they are, cheap to clone as the session layer wants.
pub trait Backend: SessionStore<Error: AsStoreError> + Clone + 'static {}

impl<S: SessionStore<Error: AsStoreError> + Clone + 'static> Backend for S {}

/// One store under test: the adapter, and the engine's clock behind it.
pub struct Harness<S> {
    pub sessions: SessiondSessionStore<S>,
    pub clock: ManualClock,
}

impl<S: Backend> Harness<S> {
    /// The sessiond store underneath.
    pub fn store(&self) -> &S {
        self.sessions.store()
    }
}

/// An engine whose clock starts at the real time and moves only when told.
fn engine(config: StoreConfig) -> (Store, ManualClock) {
    let now_ms = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let clock = ManualClock::new(now_ms as u64);
    (Store::with_clock(config, clock.clone()), clock)
}

/// The adapter over the embedded engine, owners from `"user_id"`.
pub async fn embedded(config: StoreConfig) -> Harness<Store> {
    let (store, clock) = engine(config);
    Harness {
        sessions: SessiondSessionStore::new(store).with_owner_field("user_id"),
        clock,
    }
}

/// The adapter over a client of a daemon serving such an engine on an
/// ephemeral loopback port, inside this test's runtime.
pub async fn daemon(config: StoreConfig) -> Harness<Client> {
    let (store, clock) = engine(config);
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..ServerConfig::default()
    };
    let server = Server::bind(config, store).await.expect("bind");
    let addr = server.local_addr();
    tokio::spawn(server.run_until(std::future::pending()));
    let client = Client::connect(ClientConfig::new(addr.to_string()).pool_size(2))
        .await
        .expect("connect");
    Harness {
        sessions: SessiondSessionStore::new(client).with_owner_field("user_id"),
        clock,
    }
}

/// The adapter over a strict near cache over a client of such a daemon:
/// loads answered from the app's memory, invalidated by the daemon.
pub async fn near_cache(config: StoreConfig) -> Harness<NearCache> {
    let Harness { sessions, clock } = daemon(config).await;
    let cache = NearCache::connect(sessions.store().clone(), NearCacheConfig::strict())
        .await
        .expect("register the near cache");
    Harness {
        sessions: SessiondSessionStore::new(cache).with_owner_field("user_id"),
        clock,
    }
}

/// Runs each named test on the embedded engine and on a daemon, with the
/// default store settings or the ones given.
macro_rules! on_both {
    ($($tests:tt)*) => {
        suite!(embedded; $($tests)*);
        suite!(daemon; $($tests)*);
    };
}

/// The tests, in a module named after the harness they run on.
macro_rules! suite {
    ($harness:ident; $($name:ident $(($config:expr))?),* $(,)?) => {
        mod $harness {
            $(#[tokio::test]
            async fn $name() {
                #[allow(unused_variables)]
                let config = sessiond::StoreConfig::default();
                $(let config = $config;)?
                super::$name(&super::$harness(config).await).await;
            })*
        }
    };
}

on_both!(
    create_keeps_the_records_id_and_load_returns_it_whole,
    create_on_a_taken_id_picks_a_fresh_one_and_overwrites_nothing,
    save_updates_the_existing_session_in_place,
    load_of_a_missing_id_is_none_and_delete_removes,
    the_expired_deletion_task_has_nothing_to_do,
    a_save_does_not_bring_back_a_deleted_session,
    a_record_already_expired_is_not_kept,
    sessiond_ends_the_session_at_its_expiry_date,
    a_moved_expiry_date_moves_sessionds_deadline,
    a_record_is_refused_the_moment_its_expiry_date_passes,
    the_owner_comes_from_the_records_data,
    a_visitor_who_logs_in_moves_to_the_users_sessions,
    delete_owner_logs_out_everywhere,
    labels_follow_the_record,
    the_stores_owner_limit_applies_to_logins(sessiond::StoreConfig {
        owner_limit: Some(sessiond::OwnerLimit {
            max_sessions: 1,
            policy: sessiond::LimitPolicy::EvictOldest,
        }),
        ..sessiond::StoreConfig::default()
    }),
    the_session_layer_keeps_a_session_across_requests,
);

// The same through a near cache, but for the tests that move the engine's
// clock alone: the cache holds a session until the deadline the daemon
// gave, on the app server's own clock (docs/events.md), so engine time
// running ahead of real time is not what it is for.
suite!(
    near_cache;
    create_keeps_the_records_id_and_load_returns_it_whole,
    create_on_a_taken_id_picks_a_fresh_one_and_overwrites_nothing,
    save_updates_the_existing_session_in_place,
    load_of_a_missing_id_is_none_and_delete_removes,
    a_save_does_not_bring_back_a_deleted_session,
    a_record_already_expired_is_not_kept,
    a_record_is_refused_the_moment_its_expiry_date_passes,
    the_owner_comes_from_the_records_data,
    a_visitor_who_logs_in_moves_to_the_users_sessions,
    delete_owner_logs_out_everywhere,
    labels_follow_the_record,
    the_session_layer_keeps_a_session_across_requests,
);

/// A fresh record with `data`, expiring `ttl` from now.
fn record(data: serde_json::Value, ttl: time::Duration) -> Record {
    let serde_json::Value::Object(map) = data else {
        panic!("data is an object")
    };
    Record {
        id: Id::default(),
        data: map.into_iter().collect(),
        expiry_date: OffsetDateTime::now_utc() + ttl,
    }
}

/// Two weeks: tower-sessions' default expiry.
const TWO_WEEKS: time::Duration = time::Duration::weeks(2);

/// Whether sessiond itself still has the record's session.
async fn engine_has<S: Backend>(h: &Harness<S>, id: Id) -> bool {
    match h.store().peek(&session_id(id)).await {
        Ok(_) => true,
        Err(e) if e.as_store_error() == Some(&StoreError::NotFound) => false,
        Err(e) => panic!("peek failed: {e}"),
    }
}

/// The ids of an owner's live sessions, as tower-sessions ids.
async fn ids_of<S: Backend>(h: &Harness<S>, owner: &str) -> Vec<Id> {
    let mut ids: Vec<Id> = (h.store().list(owner.as_bytes()).await.unwrap())
        .iter()
        .map(|info| tower_id(&info.id))
        .collect();
    ids.sort_by_key(|id| id.0);
    ids
}

fn anonymous(id: Id) -> String {
    format!("anonymous:{id}")
}

async fn create_keeps_the_records_id_and_load_returns_it_whole<S: Backend>(h: &Harness<S>) {
    let mut r = record(json!({"count": 3, "cart": ["tea", 2.5, null]}), TWO_WEEKS);
    let id = r.id;
    h.sessions.create(&mut r).await.unwrap();
    assert_eq!(r.id, id, "a free id is kept");
    assert_eq!(h.sessions.load(&id).await.unwrap(), Some(r.clone()));
    // The cookie's value is the id sessiond lists.
    let listed = h.store().list(anonymous(id).as_bytes()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id.to_string(), id.to_string());
}

async fn create_on_a_taken_id_picks_a_fresh_one_and_overwrites_nothing<S: Backend>(h: &Harness<S>) {
    let mut first = record(json!({"who": "first"}), TWO_WEEKS);
    h.sessions.create(&mut first).await.unwrap();

    let mut same = record(json!({"who": "same id"}), TWO_WEEKS);
    same.id = first.id;
    h.sessions.create(&mut same).await.unwrap();
    assert_ne!(same.id, first.id);

    // sessiond keeps ids unique by their first 8 bytes (tower-sessions'
    // low 64 bits): an id differing only above them is taken too.
    let mut prefix = record(json!({"who": "same prefix"}), TWO_WEEKS);
    prefix.id = Id(first.id.0 ^ (1 << 100));
    let asked = prefix.id;
    h.sessions.create(&mut prefix).await.unwrap();
    assert_ne!(prefix.id, asked);

    assert_eq!(h.sessions.load(&first.id).await.unwrap(), Some(first));
    assert_eq!(h.sessions.load(&same.id).await.unwrap(), Some(same));
    assert_eq!(h.sessions.load(&prefix.id).await.unwrap(), Some(prefix));
}

async fn save_updates_the_existing_session_in_place<S: Backend>(h: &Harness<S>) {
    let mut r = record(json!({"count": 1}), TWO_WEEKS);
    h.sessions.create(&mut r).await.unwrap();
    let created = h.store().peek(&session_id(r.id)).await.unwrap();

    // The next request: more data, and the expiry date pushed out by the
    // same two weeks, as tower-sessions does at every save.
    h.clock.advance(Duration::from_secs(5));
    r.data.insert("count".into(), json!(2));
    r.expiry_date = OffsetDateTime::now_utc() + TWO_WEEKS;
    h.sessions.save(&r).await.unwrap();

    assert_eq!(h.sessions.load(&r.id).await.unwrap(), Some(r.clone()));
    let saved = h.store().peek(&session_id(r.id)).await.unwrap();
    assert_eq!(saved.info.version, created.info.version + 1, "one update");
    assert_eq!(saved.info.created_at, created.info.created_at);
    assert_eq!(saved.info.last_seen_at, created.info.last_seen_at + 5);
    assert_eq!(saved.info.absolute_deadline, None);
}

async fn load_of_a_missing_id_is_none_and_delete_removes<S: Backend>(h: &Harness<S>) {
    assert_eq!(h.sessions.load(&Id::default()).await.unwrap(), None);
    let mut r = record(json!({"a": 1}), TWO_WEEKS);
    h.sessions.create(&mut r).await.unwrap();
    h.sessions.delete(&r.id).await.unwrap();
    assert_eq!(h.sessions.load(&r.id).await.unwrap(), None);
    assert!(!engine_has(h, r.id).await);
    // Deleting what is not there is no error.
    h.sessions.delete(&r.id).await.unwrap();
}

async fn the_expired_deletion_task_has_nothing_to_do<S: Backend>(h: &Harness<S>) {
    // sessiond expires sessions itself; the task code of SQL stores may
    // still call this, and it must not touch live sessions.
    let mut r = record(json!({"a": 1}), TWO_WEEKS);
    h.sessions.create(&mut r).await.unwrap();
    h.sessions.delete_expired().await.unwrap();
    assert_eq!(h.sessions.load(&r.id).await.unwrap(), Some(r));
}

async fn a_save_does_not_bring_back_a_deleted_session<S: Backend>(h: &Harness<S>) {
    // A request loaded the session; meanwhile another device revoked it.
    let mut r = record(json!({"user_id": "alice"}), TWO_WEEKS);
    h.sessions.create(&mut r).await.unwrap();
    assert_eq!(h.store().delete_owner(b"alice", None).await.unwrap(), 1);
    // The request ends and saves what it had.
    r.data.insert("count".into(), json!(9));
    h.sessions.save(&r).await.unwrap();
    assert_eq!(h.sessions.load(&r.id).await.unwrap(), None);
    assert_eq!(h.store().count(b"alice").await.unwrap(), 0);
}

async fn a_record_already_expired_is_not_kept<S: Backend>(h: &Harness<S>) {
    let mut gone = record(json!({"a": 1}), -time::Duration::SECOND);
    h.sessions.create(&mut gone).await.unwrap();
    assert_eq!(h.sessions.load(&gone.id).await.unwrap(), None);
    assert!(!engine_has(h, gone.id).await);

    // Saved with an expiry date in the past: deleted.
    let mut r = record(json!({"a": 1}), TWO_WEEKS);
    h.sessions.create(&mut r).await.unwrap();
    r.expiry_date = OffsetDateTime::now_utc() - time::Duration::SECOND;
    h.sessions.save(&r).await.unwrap();
    assert_eq!(h.sessions.load(&r.id).await.unwrap(), None);
    assert!(!engine_has(h, r.id).await);
}

async fn sessiond_ends_the_session_at_its_expiry_date<S: Backend>(h: &Harness<S>) {
    let mut soon = record(json!({"a": 1}), time::Duration::SECOND);
    let mut later = record(json!({"a": 2}), time::Duration::seconds(60));
    h.sessions.create(&mut soon).await.unwrap();
    h.sessions.create(&mut later).await.unwrap();

    // Engine time only: the expiry dates have not passed on the real clock,
    // so what disappears, sessiond removed.
    h.clock.advance(Duration::from_secs(3));
    assert!(!engine_has(h, soon.id).await, "gone 2 s after its date");
    assert_eq!(h.sessions.load(&soon.id).await.unwrap(), None);

    h.clock.advance(Duration::from_secs(56));
    assert!(engine_has(h, later.id).await, "not a second early");
    assert_eq!(
        h.sessions.load(&later.id).await.unwrap(),
        Some(later.clone())
    );
    h.clock.advance(Duration::from_secs(3));
    assert!(!engine_has(h, later.id).await);
}

async fn a_moved_expiry_date_moves_sessionds_deadline<S: Backend>(h: &Harness<S>) {
    // `Expiry::AtDateTime` moved closer, say: the session is re-created
    // with the shorter timeout, its data and owner unchanged.
    let mut r = record(json!({"user_id": "carol"}), TWO_WEEKS);
    h.sessions.create(&mut r).await.unwrap();
    r.expiry_date = OffsetDateTime::now_utc() + time::Duration::seconds(10);
    h.sessions.save(&r).await.unwrap();
    assert_eq!(h.sessions.load(&r.id).await.unwrap(), Some(r.clone()));
    assert_eq!(ids_of(h, "carol").await, vec![r.id]);

    h.clock.advance(Duration::from_secs(12));
    assert!(!engine_has(h, r.id).await);
    assert!(ids_of(h, "carol").await.is_empty());
}

async fn a_record_is_refused_the_moment_its_expiry_date_passes<S: Backend>(h: &Harness<S>) {
    let mut r = record(json!({"a": 1}), time::Duration::SECOND);
    h.sessions.create(&mut r).await.unwrap();
    assert!(h.sessions.load(&r.id).await.unwrap().is_some());
    // sessiond counts whole seconds (and its clock stands still here), so
    // it still holds the session; the adapter reads the exact date.
    let left = r.expiry_date - OffsetDateTime::now_utc() + time::Duration::milliseconds(50);
    tokio::time::sleep(left.try_into().unwrap()).await;
    assert!(engine_has(h, r.id).await);
    assert_eq!(h.sessions.load(&r.id).await.unwrap(), None);
}

async fn the_owner_comes_from_the_records_data<S: Backend>(h: &Harness<S>) {
    let mut alice = record(json!({"user_id": "alice"}), TWO_WEEKS);
    let mut number = record(json!({"user_id": 42}), TWO_WEEKS);
    let mut visitor = record(json!({"count": 1}), TWO_WEEKS);
    for r in [&mut alice, &mut number, &mut visitor] {
        h.sessions.create(r).await.unwrap();
    }
    assert_eq!(ids_of(h, "alice").await, vec![alice.id]);
    assert_eq!(ids_of(h, "42").await, vec![number.id]);
    assert_eq!(ids_of(h, &anonymous(visitor.id)).await, vec![visitor.id]);
    assert_eq!(h.store().count(b"alice").await.unwrap(), 1);
}

async fn a_visitor_who_logs_in_moves_to_the_users_sessions<S: Backend>(h: &Harness<S>) {
    let mut r = record(json!({"cart": ["tea"]}), TWO_WEEKS);
    h.sessions.create(&mut r).await.unwrap();
    let visitor = anonymous(r.id);

    r.data.insert("user_id".into(), json!("dave"));
    h.sessions.save(&r).await.unwrap();
    assert_eq!(ids_of(h, "dave").await, vec![r.id], "same id, new owner");
    assert!(ids_of(h, &visitor).await.is_empty());
    assert_eq!(h.sessions.load(&r.id).await.unwrap(), Some(r.clone()));

    // Logging out without a flush: anonymous again.
    r.data.remove("user_id");
    h.sessions.save(&r).await.unwrap();
    assert!(ids_of(h, "dave").await.is_empty());
    assert_eq!(ids_of(h, &visitor).await, vec![r.id]);
    assert_eq!(h.sessions.load(&r.id).await.unwrap(), Some(r));
}

async fn delete_owner_logs_out_everywhere<S: Backend>(h: &Harness<S>) {
    let mut devices = Vec::new();
    for user in ["erin", "erin", "erin", "frank"] {
        let mut r = record(json!({"user_id": user}), TWO_WEEKS);
        h.sessions.create(&mut r).await.unwrap();
        devices.push(r);
    }
    let (laptop, phone, tablet, frank) = (&devices[0], &devices[1], &devices[2], &devices[3]);

    // Log out everywhere else: keep the laptop.
    let keep = session_id(laptop.id);
    assert_eq!(
        h.store().delete_owner(b"erin", Some(&keep)).await.unwrap(),
        2
    );
    assert_eq!(h.sessions.load(&phone.id).await.unwrap(), None);
    assert_eq!(h.sessions.load(&tablet.id).await.unwrap(), None);
    assert_eq!(
        h.sessions.load(&laptop.id).await.unwrap().as_ref(),
        Some(laptop)
    );

    // Log out everywhere.
    assert_eq!(h.store().delete_owner(b"erin", None).await.unwrap(), 1);
    assert_eq!(h.sessions.load(&laptop.id).await.unwrap(), None);
    assert_eq!(
        h.sessions.load(&frank.id).await.unwrap().as_ref(),
        Some(frank)
    );
}

async fn labels_follow_the_record<S: Backend>(h: &Harness<S>) {
    let sessions = h.sessions.clone().with_labels(|r: &Record| {
        let ua = r.data.get("ua").and_then(|v| v.as_str()).unwrap_or("?");
        Labels::new().with("ua", ua)
    });
    let mut r = record(json!({"user_id": "gina", "ua": "Firefox"}), TWO_WEEKS);
    sessions.create(&mut r).await.unwrap();
    let ua = |infos: Vec<sessiond_client::protocol::SessionInfo>| {
        infos[0].labels.get("ua").map(str::to_owned)
    };
    assert_eq!(
        ua(h.store().list(b"gina").await.unwrap()),
        Some("Firefox".into())
    );

    r.data.insert("ua".into(), json!("Safari"));
    sessions.save(&r).await.unwrap();
    assert_eq!(
        ua(h.store().list(b"gina").await.unwrap()),
        Some("Safari".into())
    );
    assert_eq!(sessions.load(&r.id).await.unwrap(), Some(r));
}

async fn the_stores_owner_limit_applies_to_logins<S: Backend>(h: &Harness<S>) {
    // One screen per user, and the older login ends.
    let mut first = record(json!({"user_id": "hank"}), TWO_WEEKS);
    h.sessions.create(&mut first).await.unwrap();
    h.clock.advance(Duration::from_secs(1));
    let mut second = record(json!({}), TWO_WEEKS);
    h.sessions.create(&mut second).await.unwrap();
    second.data.insert("user_id".into(), json!("hank"));
    h.sessions.save(&second).await.unwrap();

    assert_eq!(ids_of(h, "hank").await, vec![second.id]);
    assert_eq!(h.sessions.load(&first.id).await.unwrap(), None);
    assert_eq!(h.sessions.load(&second.id).await.unwrap(), Some(second));
}

async fn the_session_layer_keeps_a_session_across_requests<S: Backend>(h: &Harness<S>) {
    app::a_session_survives_requests_until_delete_owner(&h.sessions).await;
}
