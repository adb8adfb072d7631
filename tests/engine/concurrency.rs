//! Many threads at once on shared owners: afterwards, every view of the
//! store (ids the threads hold, per-owner lists and counts, stats) agrees.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use sessiond::{LimitPolicy, NewSession, OwnerLimit, SessionId, Store, StoreConfig};

const THREADS: usize = 8;
const OWNERS: usize = 16;
const OPS: usize = 20_000;

/// A tiny deterministic generator per thread (the test needs variety, not
/// quality).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn owner(i: usize) -> Vec<u8> {
    format!("owner{i}").into_bytes()
}

/// Each worker creates, reads, updates, rotates and deletes its own
/// sessions, all under shared owners; returns the ids it believes it holds.
fn worker(store: Store, seed: u64) -> Vec<SessionId> {
    let mut rng = Rng(seed);
    let mut mine: Vec<SessionId> = Vec::new();
    for _ in 0..OPS {
        let roll = rng.below(100);
        if mine.is_empty() || roll < 30 {
            let new = NewSession::new(owner(rng.below(OWNERS))).data(vec![seed as u8; 32]);
            if let Ok(id) = store.create(new) {
                mine.push(id);
            }
            continue;
        }
        let i = rng.below(mine.len());
        match roll {
            30..=69 => {
                // Another thread may have kicked the owner or evicted it.
                if let Ok(s) = store.get(&mine[i]) {
                    assert_eq!(s.data.len(), 32);
                }
            }
            70..=79 => {
                let _ = store.update(&mine[i], &[seed as u8; 32], None);
            }
            80..=89 => match store.rotate(&mine[i]) {
                Ok(new) => {
                    assert!(store.get(&mine[i]).is_err(), "old id dead after rotate");
                    mine[i] = new;
                }
                Err(_) => {
                    mine.swap_remove(i);
                }
            },
            _ => {
                store.delete(&mine.swap_remove(i)).unwrap();
            }
        }
    }
    mine
}

/// Checks that the store's views agree with each other and with the ids
/// the workers hold.
fn assert_consistent(store: &Store, held: &[SessionId]) {
    let live_held: HashSet<SessionId> = held
        .iter()
        .copied()
        .filter(|id| store.peek(id).is_ok())
        .collect();
    let mut indexed = HashSet::new();
    let mut owners_with_sessions = 0;
    for o in 0..OWNERS {
        let list = store.list(&owner(o));
        assert_eq!(list.len(), store.count(&owner(o)), "list and count agree");
        for info in &list {
            let session = store.peek(&info.id).expect("listed sessions are live");
            assert_eq!(session.owner, owner(o), "listed under its own owner");
            assert!(indexed.insert(info.id), "listed once");
        }
        owners_with_sessions += usize::from(!list.is_empty());
    }
    assert_eq!(
        indexed, live_held,
        "the index holds exactly the live sessions"
    );
    let stats = store.stats();
    assert_eq!(stats.sessions as usize, indexed.len());
    assert_eq!(stats.owners as usize, owners_with_sessions);
}

#[test]
fn concurrent_sessions_of_shared_owners_stay_consistent_under_admin_kicks() {
    let store = Store::new(StoreConfig::default());
    let stop = Arc::new(AtomicBool::new(false));
    let admin = {
        let (store, stop) = (store.clone(), stop.clone());
        thread::spawn(move || {
            let mut rng = Rng(99);
            let mut kicked = 0;
            while !stop.load(Ordering::Relaxed) {
                kicked += store.delete_owner(&owner(rng.below(OWNERS)), None).unwrap();
                thread::yield_now();
            }
            kicked
        })
    };
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = store.clone();
            thread::spawn(move || worker(store, 0x9E37_79B9 + t as u64))
        })
        .collect();
    let held: Vec<SessionId> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    stop.store(true, Ordering::Relaxed);
    assert!(
        admin.join().unwrap() > 0,
        "the admin thread did kick sessions"
    );
    assert_consistent(&store, &held);

    for id in &held {
        store.delete(id).unwrap();
    }
    let stats = store.stats();
    assert_eq!((stats.sessions, stats.owners, stats.bytes_used), (0, 0, 0));
}

#[test]
fn concurrent_logins_never_exceed_the_owner_limit() {
    for policy in [LimitPolicy::EvictOldest, LimitPolicy::Reject] {
        let store = Store::new(StoreConfig {
            owner_limit: Some(OwnerLimit {
                max_sessions: 3,
                policy,
            }),
            ..StoreConfig::default()
        });
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let store = store.clone();
                thread::spawn(move || worker(store, 7 + t as u64))
            })
            .collect();
        let held: Vec<SessionId> = workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect();
        for o in 0..OWNERS {
            assert!(
                store.count(&owner(o)) <= 3,
                "{policy:?}: owner {o} over its limit"
            );
        }
        assert_consistent(&store, &held);
    }
}

/// Threads create and delete sessions whose caller-chosen ids share 8-byte
/// prefixes (two threads per prefix), under one owner that an admin thread
/// keeps kicking. A delete's unlink may land after the kick and after
/// another thread's newer session took the prefix; it must not take that
/// session's handle, which would hide it from list, count and kick while
/// it lives. (The deterministic form of this interleaving is a unit test
/// in `engine/src/session_ops.rs`.)
#[test]
fn late_unlinks_never_hide_a_newer_session_with_the_same_prefix() {
    const PREFIXES: usize = 2;
    const ROUNDS: u32 = 5_000;
    let owner = b"shared".to_vec();
    let store = Store::new(StoreConfig::default());
    let stop = Arc::new(AtomicBool::new(false));
    let admin = {
        let (store, stop, owner) = (store.clone(), stop.clone(), owner.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                store.delete_owner(&owner, None).unwrap();
                thread::yield_now();
            }
        })
    };
    let workers: Vec<_> = (0..2 * PREFIXES)
        .map(|t| {
            let (store, owner) = (store.clone(), owner.clone());
            thread::spawn(move || {
                for round in 0..ROUNDS {
                    let mut bytes = [0; 16];
                    bytes[..8].copy_from_slice(&[0xA0 + (t % PREFIXES) as u8; 8]);
                    bytes[8..12].copy_from_slice(&round.to_le_bytes());
                    bytes[12] = t as u8;
                    let id = SessionId::from_bytes(bytes);
                    // Taken by this prefix's other thread: try the next.
                    if store
                        .create(NewSession::new(owner.clone()).with_id(id))
                        .is_err()
                    {
                        continue;
                    }
                    thread::yield_now();
                    // Only this thread deletes it, so if it is alive and
                    // unlisted, the index lost it.
                    let listed = store.list(&owner).iter().any(|s| s.id == id);
                    assert!(
                        listed || store.peek(&id).is_err(),
                        "round {round}: a live session is missing from its owner's list"
                    );
                    store.delete(&id).unwrap();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    admin.join().unwrap();
    assert_eq!(store.count(&owner), 0);
    let stats = store.stats();
    assert_eq!((stats.sessions, stats.owners, stats.bytes_used), (0, 0, 0));
}
