//! A property test: random operations and clock jumps, applied to the
//! store and to a plain reference model of what a session store means,
//! must give the same answers.
//!
//! The model is deliberately naive (hash maps, full scans, expiry as a
//! pure function of time), so that it is obviously right.

use std::collections::HashMap;
use std::time::Duration;

use proptest::prelude::*;
use sessiond::{
    KeyTtl, LimitPolicy, ManualClock, NewSession, OwnerLimit, SessionId, Store, StoreConfig,
    StoreError,
};

use crate::T0_MS;

const OWNERS: u8 = 4;
const KEYS: u8 = 4;
const LIMIT: u32 = 3;

#[derive(Debug, Clone)]
enum Op {
    Create {
        owner: u8,
        data: Vec<u8>,
        idle: u64,
        absolute: u64,
    },
    Get {
        session: usize,
        touch: bool,
    },
    Update {
        session: usize,
        data: Vec<u8>,
        expect_offset: Option<u32>,
    },
    Touch {
        session: usize,
    },
    Delete {
        session: usize,
    },
    Rotate {
        session: usize,
    },
    List {
        owner: u8,
    },
    DeleteOwner {
        owner: u8,
        keep: Option<usize>,
    },
    Advance {
        ms: u64,
    },
    StepBack {
        ms: u64,
    },
    Sweep,
    SetKey {
        key: u8,
        value: Vec<u8>,
        ttl_ms: Option<u64>,
    },
    GetKey {
        key: u8,
    },
    DeleteKey {
        key: u8,
    },
    ExpireKey {
        key: u8,
        ttl_ms: Option<u64>,
    },
    Ttl {
        key: u8,
    },
    Incr {
        key: u8,
        delta: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let data = prop::collection::vec(any::<u8>(), 0..8);
    let value = prop_oneof![
        Just(b"7".to_vec()),
        Just(b"-2".to_vec()),
        Just(b"01".to_vec()),
        Just(b"abc".to_vec()),
        Just(i64::MAX.to_string().into_bytes()),
    ];
    let ttl = prop::option::of(1u64..20_000);
    prop_oneof![
        4 => (0..OWNERS, data.clone(), 0u64..30, 0u64..60).prop_map(|(owner, data, idle, absolute)| Op::Create { owner, data, idle, absolute }),
        4 => (any::<usize>(), any::<bool>()).prop_map(|(session, touch)| Op::Get { session, touch }),
        2 => (any::<usize>(), data, prop::option::of(0u32..2)).prop_map(|(session, data, expect_offset)| Op::Update { session, data, expect_offset }),
        2 => any::<usize>().prop_map(|session| Op::Touch { session }),
        1 => any::<usize>().prop_map(|session| Op::Delete { session }),
        1 => any::<usize>().prop_map(|session| Op::Rotate { session }),
        2 => (0..OWNERS).prop_map(|owner| Op::List { owner }),
        1 => (0..OWNERS, prop::option::of(any::<usize>())).prop_map(|(owner, keep)| Op::DeleteOwner { owner, keep }),
        3 => (0u64..20_000).prop_map(|ms| Op::Advance { ms }),
        1 => (0u64..5_000).prop_map(|ms| Op::StepBack { ms }),
        1 => Just(Op::Sweep),
        2 => (0..KEYS, value, ttl.clone()).prop_map(|(key, value, ttl_ms)| Op::SetKey { key, value, ttl_ms }),
        2 => (0..KEYS).prop_map(|key| Op::GetKey { key }),
        1 => (0..KEYS).prop_map(|key| Op::DeleteKey { key }),
        1 => (0..KEYS, prop::option::of(0u64..20_000)).prop_map(|(key, ttl_ms)| Op::ExpireKey { key, ttl_ms }),
        1 => (0..KEYS).prop_map(|key| Op::Ttl { key }),
        2 => (0..KEYS, -3i64..4).prop_map(|(key, delta)| Op::Incr { key, delta }),
    ]
}

#[derive(Debug, Clone)]
struct ModelSession {
    owner: Vec<u8>,
    data: Vec<u8>,
    created: u64,
    last_seen: u64,
    idle: u64,
    absolute: Option<u64>,
    version: u32,
}

impl ModelSession {
    fn expires_at(&self) -> u64 {
        let idle = if self.idle == 0 {
            u64::MAX
        } else {
            self.last_seen + self.idle
        };
        self.absolute.map_or(idle, |a| a.min(idle))
    }
}

struct Model {
    now_ms: u64,
    policy: LimitPolicy,
    sessions: HashMap<SessionId, ModelSession>,
    keys: HashMap<Vec<u8>, (Vec<u8>, Option<u64>)>,
}

impl Model {
    fn now_s(&self) -> u64 {
        self.now_ms / 1000
    }

    /// Expiry is final: whatever has passed its deadline is gone.
    fn expire(&mut self) {
        let (now_s, now_ms) = (self.now_s(), self.now_ms);
        self.sessions.retain(|_, s| now_s <= s.expires_at());
        self.keys.retain(|_, (_, d)| d.is_none_or(|d| now_ms < d));
    }

    fn live(&self, id: &SessionId) -> Option<&ModelSession> {
        self.sessions.get(id)
    }

    fn of_owner(&self, owner: &[u8]) -> Vec<(SessionId, &ModelSession)> {
        let mut out: Vec<_> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.owner == owner)
            .map(|(id, s)| (*id, s))
            .collect();
        out.sort_by(|a, b| {
            (b.1.last_seen, b.1.created, a.0).cmp(&(a.1.last_seen, a.1.created, b.0))
        });
        out
    }

    fn integer(value: &[u8]) -> Option<i64> {
        let text = std::str::from_utf8(value).ok()?;
        let n: i64 = text.parse().ok()?;
        (n.to_string() == text).then_some(n)
    }
}

fn owner_name(owner: u8) -> Vec<u8> {
    format!("owner{owner}").into_bytes()
}

fn key_name(key: u8) -> Vec<u8> {
    format!("key{key}").into_bytes()
}

fn run(ops: Vec<Op>, policy: LimitPolicy) -> Result<(), TestCaseError> {
    let clock = ManualClock::new(T0_MS);
    let config = StoreConfig {
        owner_limit: Some(OwnerLimit {
            max_sessions: LIMIT,
            policy,
        }),
        background_expiry: false,
        shards: 4,
        ..StoreConfig::default()
    };
    let store = Store::with_clock(config, clock.clone());
    let mut model = Model {
        now_ms: T0_MS,
        policy,
        sessions: HashMap::new(),
        keys: HashMap::new(),
    };
    // Every id ever handed out, so operations also hit dead ones.
    let mut ids: Vec<SessionId> = Vec::new();
    let pick = |ids: &[SessionId], i: usize| (!ids.is_empty()).then(|| ids[i % ids.len()]);

    for op in ops {
        // Store time is the high-water mark of the wall clock as the store
        // reads it. The clock only goes back in `StepBack`, which lets the
        // store read it first, so the model may take every reading.
        if !matches!(op, Op::Advance { .. }) {
            model.now_ms = model.now_ms.max(clock.now_ms());
        }
        model.expire();
        let now_s = model.now_s();
        match op {
            Op::Create {
                owner,
                data,
                idle,
                absolute,
            } => {
                let new = NewSession::new(owner_name(owner))
                    .data(data.clone())
                    .idle_timeout(Duration::from_secs(idle))
                    .absolute_lifetime(Duration::from_secs(absolute));
                let got = store.create(new);
                if idle == 0 && absolute == 0 {
                    prop_assert!(matches!(got, Err(StoreError::BadTimeout(_))));
                    continue;
                }
                let mine = model.of_owner(&owner_name(owner));
                if mine.len() >= LIMIT as usize {
                    if model.policy == LimitPolicy::Reject {
                        prop_assert_eq!(got, Err(StoreError::SessionLimit { limit: LIMIT }));
                        continue;
                    }
                    let oldest = mine
                        .iter()
                        .min_by_key(|(id, s)| (s.last_seen, id.prefix()))
                        .map(|(id, _)| *id)
                        .unwrap();
                    model.sessions.remove(&oldest);
                }
                let id = got.map_err(|e| TestCaseError::fail(format!("create: {e}")))?;
                prop_assert!(!model.sessions.contains_key(&id));
                ids.push(id);
                model.sessions.insert(
                    id,
                    ModelSession {
                        owner: owner_name(owner),
                        data,
                        created: now_s,
                        last_seen: now_s,
                        idle,
                        absolute: (absolute > 0).then_some(now_s + absolute),
                        version: 1,
                    },
                );
            }
            Op::Get { session, touch } => {
                let Some(id) = pick(&ids, session) else {
                    continue;
                };
                let got = if touch {
                    store.get(&id)
                } else {
                    store.peek(&id)
                };
                match model.sessions.get_mut(&id) {
                    None => prop_assert_eq!(got, Err(StoreError::NotFound)),
                    Some(s) => {
                        if touch {
                            s.last_seen = now_s;
                        }
                        let got = got.map_err(|e| TestCaseError::fail(format!("get: {e}")))?;
                        prop_assert_eq!(&got.owner, &s.owner);
                        prop_assert_eq!(&got.data, &s.data);
                        prop_assert_eq!(got.info.version, s.version);
                        prop_assert_eq!(got.info.created_at, s.created);
                        prop_assert_eq!(got.info.last_seen_at, s.last_seen);
                        prop_assert_eq!(got.info.expires_at, s.expires_at());
                    }
                }
            }
            Op::Update {
                session,
                data,
                expect_offset,
            } => {
                let Some(id) = pick(&ids, session) else {
                    continue;
                };
                let expected = expect_offset.map(|o| model.live(&id).map_or(1, |s| s.version) + o);
                let got = store.update(&id, &data, expected);
                match model.sessions.get_mut(&id) {
                    None => prop_assert_eq!(got, Err(StoreError::NotFound)),
                    Some(s) if expected.is_some_and(|v| v != s.version) => {
                        prop_assert_eq!(
                            got,
                            Err(StoreError::VersionMismatch {
                                expected: expected.unwrap(),
                                actual: s.version,
                            })
                        );
                    }
                    Some(s) => {
                        s.version += 1;
                        s.data = data;
                        s.last_seen = now_s;
                        prop_assert_eq!(got, Ok(s.version));
                    }
                }
            }
            Op::Touch { session } => {
                let Some(id) = pick(&ids, session) else {
                    continue;
                };
                let got = store.touch(&id);
                match model.sessions.get_mut(&id) {
                    None => prop_assert_eq!(got, Err(StoreError::NotFound)),
                    Some(s) => {
                        s.last_seen = now_s;
                        prop_assert_eq!(got, Ok(s.expires_at()));
                    }
                }
            }
            Op::Delete { session } => {
                let Some(id) = pick(&ids, session) else {
                    continue;
                };
                prop_assert_eq!(
                    store.delete(&id).unwrap(),
                    model.sessions.remove(&id).is_some()
                );
            }
            Op::Rotate { session } => {
                let Some(id) = pick(&ids, session) else {
                    continue;
                };
                let got = store.rotate(&id);
                match model.sessions.remove(&id) {
                    None => prop_assert_eq!(got, Err(StoreError::NotFound)),
                    Some(mut s) => {
                        let new = got.map_err(|e| TestCaseError::fail(format!("rotate: {e}")))?;
                        prop_assert_ne!(new, id);
                        s.last_seen = now_s;
                        model.sessions.insert(new, s);
                        ids.push(new);
                    }
                }
            }
            Op::List { owner } => {
                let name = owner_name(owner);
                let listed: Vec<(SessionId, u64, u32)> = store
                    .list(&name)
                    .iter()
                    .map(|s| (s.id, s.last_seen_at, s.version))
                    .collect();
                let expected: Vec<(SessionId, u64, u32)> = model
                    .of_owner(&name)
                    .iter()
                    .map(|(id, s)| (*id, s.last_seen, s.version))
                    .collect();
                prop_assert_eq!(listed, expected);
                prop_assert_eq!(store.count(&name), model.of_owner(&name).len());
            }
            Op::DeleteOwner { owner, keep } => {
                let name = owner_name(owner);
                let keep = keep.and_then(|k| pick(&ids, k));
                let ended = store.delete_owner(&name, keep.as_ref()).unwrap();
                let before = model.sessions.len();
                model
                    .sessions
                    .retain(|id, s| s.owner != name || Some(*id) == keep);
                prop_assert_eq!(ended, before - model.sessions.len());
            }
            Op::Advance { ms } => {
                clock.advance(Duration::from_millis(ms));
            }
            Op::StepBack { ms } => {
                // A request reads the time, then the wall clock steps back;
                // store time must not.
                let _ = store.ttl(b"clock probe");
                clock.set_ms(clock.now_ms() - ms);
            }
            Op::Sweep => {
                // Wheel buckets are whole seconds: a key whose millisecond
                // deadline fell within the current second is hidden from
                // reads at once but reclaimed at the next second boundary.
                // Sweep at a boundary, where reclaiming must be exact.
                let store_time = model.now_ms.max(clock.now_ms());
                clock.set_ms(store_time.div_ceil(1000) * 1000);
                model.now_ms = model.now_ms.max(clock.now_ms());
                model.expire();
                let report = store.run_expiry_cycle(Duration::from_secs(5));
                prop_assert!(report.complete);
                let stats = store.stats();
                prop_assert_eq!(stats.sessions, model.sessions.len() as u64);
                prop_assert_eq!(stats.keys, model.keys.len() as u64);
                let owners = (0..OWNERS).filter(|o| !model.of_owner(&owner_name(*o)).is_empty());
                prop_assert_eq!(stats.owners, owners.count() as u64);
            }
            Op::SetKey { key, value, ttl_ms } => {
                let ttl = ttl_ms.map(Duration::from_millis);
                prop_assert_eq!(store.set_key(&key_name(key), value.clone(), ttl), Ok(()));
                model
                    .keys
                    .insert(key_name(key), (value, ttl_ms.map(|t| model.now_ms + t)));
            }
            Op::GetKey { key } => {
                let expected = model.keys.get(&key_name(key)).map(|(v, _)| v.clone());
                prop_assert_eq!(store.get_key(&key_name(key)), expected);
            }
            Op::DeleteKey { key } => {
                prop_assert_eq!(
                    store.delete_key(&key_name(key)).unwrap(),
                    model.keys.remove(&key_name(key)).is_some()
                );
            }
            Op::ExpireKey { key, ttl_ms } => {
                let got = store.expire_key(&key_name(key), ttl_ms.map(Duration::from_millis));
                let now = model.now_ms;
                let exists = match (model.keys.get_mut(&key_name(key)), ttl_ms) {
                    (None, _) => false,
                    (Some(_), Some(0)) => {
                        model.keys.remove(&key_name(key));
                        true
                    }
                    (Some((_, deadline)), ttl) => {
                        *deadline = ttl.map(|t| now + t);
                        true
                    }
                };
                prop_assert_eq!(got, Ok(exists));
            }
            Op::Ttl { key } => {
                let expected = match model.keys.get(&key_name(key)) {
                    None => KeyTtl::Missing,
                    Some((_, None)) => KeyTtl::Persistent,
                    Some((_, Some(d))) => {
                        KeyTtl::ExpiresIn(Duration::from_millis(d - model.now_ms))
                    }
                };
                prop_assert_eq!(store.ttl(&key_name(key)), expected);
            }
            Op::Incr { key, delta } => {
                let got = store.incr(&key_name(key), delta);
                match model.keys.get_mut(&key_name(key)) {
                    None => {
                        model
                            .keys
                            .insert(key_name(key), (delta.to_string().into_bytes(), None));
                        prop_assert_eq!(got, Ok(delta));
                    }
                    Some((value, _)) => match Model::integer(value) {
                        None => prop_assert_eq!(got, Err(StoreError::NotAnInteger)),
                        Some(n) => match n.checked_add(delta) {
                            None => prop_assert_eq!(got, Err(StoreError::Overflow)),
                            Some(sum) => {
                                *value = sum.to_string().into_bytes();
                                prop_assert_eq!(got, Ok(sum));
                            }
                        },
                    },
                }
            }
        }
    }

    // Emptying the store must give back every accounted byte.
    for id in &ids {
        store.delete(id).unwrap();
    }
    for key in 0..KEYS {
        store.delete_key(&key_name(key)).unwrap();
    }
    let stats = store.stats();
    prop_assert_eq!(
        (stats.sessions, stats.owners, stats.keys, stats.bytes_used),
        (0, 0, 0, 0)
    );
    Ok(())
}

proptest! {
    // 256 cases by default; PROPTEST_CASES=N for a longer run.
    #[test]
    fn store_matches_model_when_limits_evict(ops in prop::collection::vec(op(), 1..200)) {
        run(ops, LimitPolicy::EvictOldest)?;
    }

    #[test]
    fn store_matches_model_when_limits_reject(ops in prop::collection::vec(op(), 1..200)) {
        run(ops, LimitPolicy::Reject)?;
    }
}
