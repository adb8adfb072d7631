//! sessiond's embedded [`Store`] against [`moka::sync::Cache`], the
//! in-process TTL cache a Rust user would otherwise reach for.
//!
//! The point is to show what sessiond's session semantics (owner index,
//! labels, sliding plus absolute expiry, accounting) cost or save compared
//! with building sessions on a general cache. Both contenders get the same
//! operations with the same inputs, in the same run:
//!
//! - `get_touch`: read an existing session, sliding its idle deadline, among
//!   100k prefilled sessions with 200 bytes of data;
//! - `create`: log a new session in;
//! - `session_mix`: 90% request, 4% login, 4% logout, 2% "list devices".
//!
//! Both are configured alike: 30 minutes idle, 24 hours absolute lifetime,
//! no size limit, 128-bit ids from the OS CSPRNG. Differences that remain,
//! and are part of what is being compared:
//!
//! - sessiond's `get` copies the session out (owner, data, labels), while
//!   moka hands out an `Arc` clone of the stored value;
//! - moka has no owner index, so the moka side keeps one by hand as a moka
//!   user would: a second cache from owner to a mutex-guarded list of ids,
//!   updated on login and logout and pruned of expired ids when listed.
//!   Its device list reads each session with `get` (moka has no read
//!   without touch) and is not sorted by last use, which sessiond's is.
//!
//! Every bench builds its own prefilled store, so results do not depend on
//! the order benches run in. Run with
//! `cargo bench -p sessiond-bench --bench vs_moka`.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use divan::Bencher;
use moka::sync::Cache;
use sessiond::{Labels, NewSession, SessionId, Store, StoreConfig};

fn main() {
    divan::main();
}

/// Sessions prefilled before each bench.
const PREFILL: u64 = 100_000;
/// Sessions per owner in the prefill.
const PER_OWNER: u64 = 5;
/// Distinct owners.
const OWNERS: u64 = PREFILL / PER_OWNER;
/// Bytes of data per session.
const DATA_SIZE: usize = 200;
/// Sliding idle timeout of both contenders (sessiond's default).
const IDLE: Duration = Duration::from_secs(30 * 60);
/// Absolute lifetime of both contenders (sessiond's default).
const LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Reads an existing session, sliding its idle deadline.
#[divan::bench(types = [SessiondStore, MokaCache], threads = [1, 2], sample_count = 100, sample_size = 1000)]
fn get_touch<B: Backend>(bencher: Bencher) {
    let fixture = Fixture::<B>::prefilled();
    bencher
        .with_inputs(|| fixture.random_prefilled_id())
        .bench_values(|id| fixture.backend.request(&id));
}

/// Logs a new session in for a random owner.
#[divan::bench(types = [SessiondStore, MokaCache], threads = [1, 2], sample_count = 100, sample_size = 1000)]
fn create<B: Backend>(bencher: Bencher) {
    let fixture = Fixture::<B>::prefilled();
    bencher
        .with_inputs(|| (random_below(OWNERS), random_below(u64::MAX)))
        .bench_values(|(owner, device)| fixture.backend.login(owner, device));
}

/// 90% request, 4% login, 4% logout, 2% list devices.
///
/// Requests read prefilled sessions, which are never logged out; logouts
/// end sessions this thread logged in during the bench (or log one in when
/// it has none), so the population stays near 100k.
#[divan::bench(types = [SessiondStore, MokaCache], threads = [1, 2], sample_count = 100, sample_size = 1000)]
fn session_mix<B: Backend>(bencher: Bencher) {
    let fixture = Fixture::<B>::prefilled();
    bencher
        .with_inputs(|| fixture.random_action())
        .bench_values(|action| fixture.perform(action));
}

/// The session operations each contender provides. Results are reduced to
/// a `bool` or count inside the timed call, so both pay for dropping what
/// they returned.
trait Backend: Sync + Sized {
    /// An empty store, configured like the other contender.
    fn new() -> Self;
    /// Creates a session of owner `user:{owner}` from device number
    /// `device`, with [`DATA_SIZE`] bytes of data.
    fn login(&self, owner: u64, device: u64) -> SessionId;
    /// Reads a session with touch; says whether it was there.
    fn request(&self, id: &SessionId) -> bool;
    /// Deletes a session; says whether it was there.
    fn logout(&self, id: &SessionId) -> bool;
    /// Lists `user:{owner}`'s live sessions; returns how many there are.
    fn devices(&self, owner: u64) -> usize;
}

/// sessiond's embedded store with its default settings.
struct SessiondStore(Store);

impl Backend for SessiondStore {
    fn new() -> Self {
        let config = StoreConfig {
            default_idle_timeout: IDLE,
            default_absolute_lifetime: Some(LIFETIME),
            owner_limit: None,
            ..StoreConfig::default()
        };
        SessiondStore(Store::new(config))
    }

    fn login(&self, owner: u64, device: u64) -> SessionId {
        let (user_agent, ip) = device_labels(device);
        let new = NewSession::new(owner_name(owner))
            .data(session_data())
            .labels(Labels::new().with("ua", user_agent).with("ip", ip));
        self.0.create(new).expect("create succeeds without limits")
    }

    fn request(&self, id: &SessionId) -> bool {
        self.0.get(id).is_ok()
    }

    fn logout(&self, id: &SessionId) -> bool {
        self.0.delete(id).expect("an in-memory delete succeeds")
    }

    fn devices(&self, owner: u64) -> usize {
        self.0.list(owner_name(owner).as_bytes()).len()
    }
}

/// A session as a moka user would store it.
struct MokaSession {
    owner: String,
    #[expect(dead_code, reason = "stored and handed out, never inspected here")]
    data: Vec<u8>,
    #[expect(dead_code, reason = "stored and handed out, never inspected here")]
    labels: Vec<(String, String)>,
}

/// Sessions in a moka cache, plus the owner index moka lacks.
struct MokaCache {
    sessions: Cache<SessionId, Arc<MokaSession>>,
    /// Owner to the ids of its sessions. Never expires by itself: ids of
    /// expired sessions are pruned when the owner's devices are listed.
    owners: Cache<String, Arc<Mutex<Vec<SessionId>>>>,
}

impl Backend for MokaCache {
    fn new() -> Self {
        MokaCache {
            sessions: Cache::builder()
                .time_to_idle(IDLE)
                .time_to_live(LIFETIME)
                .build(),
            owners: Cache::builder().build(),
        }
    }

    fn login(&self, owner: u64, device: u64) -> SessionId {
        let (user_agent, ip) = device_labels(device);
        let id = SessionId::random();
        let owner = owner_name(owner);
        let session = MokaSession {
            owner: owner.clone(),
            data: session_data(),
            labels: vec![("ua".into(), user_agent.into()), ("ip".into(), ip)],
        };
        self.sessions.insert(id, Arc::new(session));
        let ids = self.owners.get_with(owner, Default::default);
        ids.lock().expect("not poisoned").push(id);
        id
    }

    fn request(&self, id: &SessionId) -> bool {
        self.sessions.get(id).is_some()
    }

    fn logout(&self, id: &SessionId) -> bool {
        let Some(session) = self.sessions.remove(id) else {
            return false;
        };
        if let Some(ids) = self.owners.get(&session.owner) {
            ids.lock()
                .expect("not poisoned")
                .retain(|other| other != id);
        }
        true
    }

    fn devices(&self, owner: u64) -> usize {
        let Some(ids) = self.owners.get(&owner_name(owner)) else {
            return 0;
        };
        let mut ids = ids.lock().expect("not poisoned");
        let mut devices = Vec::with_capacity(ids.len());
        ids.retain(|id| match self.sessions.get(id) {
            Some(session) => {
                devices.push((*id, session));
                true
            }
            None => false,
        });
        devices.len()
    }
}

/// A contender with [`PREFILL`] sessions, [`PER_OWNER`] per owner.
struct Fixture<B> {
    backend: B,
    /// The prefilled sessions' ids.
    ids: Vec<SessionId>,
    /// Tells this fixture's thread-local login pools from older ones.
    generation: u64,
}

impl<B: Backend> Fixture<B> {
    fn prefilled() -> Self {
        static GENERATIONS: AtomicU64 = AtomicU64::new(1);
        let backend = B::new();
        let ids = (0..PREFILL).map(|i| backend.login(i % OWNERS, i)).collect();
        Fixture {
            backend,
            ids,
            generation: GENERATIONS.fetch_add(1, Ordering::Relaxed),
        }
    }

    fn random_prefilled_id(&self) -> SessionId {
        self.ids[random_below(self.ids.len() as u64) as usize]
    }

    /// Draws an operation of the session mix: 90% request, 4% login, 4%
    /// logout, 2% devices.
    fn random_action(&self) -> Action {
        let owner = random_below(OWNERS);
        match random_below(100) {
            0..90 => Action::Request(self.random_prefilled_id()),
            90..94 => Action::Login {
                owner,
                device: random_below(u64::MAX),
            },
            94..98 => Action::Logout {
                pick: random_below(u64::MAX),
                owner,
            },
            _ => Action::Devices(owner),
        }
    }

    /// Runs one operation of the session mix.
    fn perform(&self, action: Action) -> usize {
        match action {
            Action::Request(id) => usize::from(self.backend.request(&id)),
            Action::Login { owner, device } => self.login(owner, device),
            Action::Logout { pick, owner } => match self.take_own_session(pick) {
                Some(id) => usize::from(self.backend.logout(&id)),
                None => self.login(owner, pick),
            },
            Action::Devices(owner) => self.backend.devices(owner),
        }
    }

    fn login(&self, owner: u64, device: u64) -> usize {
        let id = self.backend.login(owner, device);
        self.with_own_sessions(|ids| ids.push(id));
        1
    }

    /// Takes one of the sessions this thread logged in, if any.
    fn take_own_session(&self, pick: u64) -> Option<SessionId> {
        self.with_own_sessions(|ids| {
            (!ids.is_empty()).then(|| ids.swap_remove((pick % ids.len() as u64) as usize))
        })
    }

    /// Calls `f` on the sessions this thread logged in on this fixture.
    fn with_own_sessions<R>(&self, f: impl FnOnce(&mut Vec<SessionId>) -> R) -> R {
        thread_local! {
            static OWN: RefCell<(u64, Vec<SessionId>)> = const { RefCell::new((0, Vec::new())) };
        }
        OWN.with_borrow_mut(|(generation, ids)| {
            if *generation != self.generation {
                *generation = self.generation;
                ids.clear();
            }
            f(ids)
        })
    }
}

/// One operation of the session mix, drawn before the timed call.
enum Action {
    /// Read this prefilled session with touch.
    Request(SessionId),
    /// Log a session in.
    Login { owner: u64, device: u64 },
    /// Log out the `pick`th of this thread's sessions (modulo their
    /// number), or log in for `owner` if it has none.
    Logout { pick: u64, owner: u64 },
    /// List this owner's sessions.
    Devices(u64),
}

/// Owner names as the load generator spells them.
fn owner_name(owner: u64) -> String {
    format!("user:{owner}")
}

/// The session data: [`DATA_SIZE`] printable bytes.
fn session_data() -> Vec<u8> {
    vec![b'x'; DATA_SIZE]
}

/// A user agent and an IPv4 address derived from `device`.
fn device_labels(device: u64) -> (&'static str, String) {
    const USER_AGENTS: [&str; 3] = [
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Safari/604.1",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0 Safari/537.36",
    ];
    let [.., a, b, c] = device.to_be_bytes();
    let user_agent = USER_AGENTS[(device % USER_AGENTS.len() as u64) as usize];
    (user_agent, format!("10.{a}.{b}.{c}"))
}

/// A number in `0..n` from a per-thread SplitMix64 generator.
fn random_below(n: u64) -> u64 {
    static SEEDS: AtomicU64 = AtomicU64::new(0x5E55_10D0);
    thread_local! {
        static STATE: Cell<u64> = Cell::new(SEEDS.fetch_add(0x1234_5678_9ABC_DEF1, Ordering::Relaxed));
    }
    let x = STATE.with(|state| {
        let next = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        state.set(next);
        next
    });
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    ((u128::from(z) * u128::from(n)) >> 64) as u64
}
