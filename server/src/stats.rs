//! Server counters: connections, failed auth, and requests by kind, for
//! each face: the native protocol's operations (`ops_get`, …) and the
//! Redis face's commands (`resp_get`, …), so that STATS shows all the
//! traffic whichever protocol carried it.
//!
//! Each request is counted under its kind and its [`Outcome`] (`ok` or
//! why it failed); STATS shows the sum per kind, the metrics each outcome.
//! A face's latency histogram sits beside its counts.
//!
//! Request counts are kept per connection ([`Tally`]) and added to the
//! shared counters once per batch of pipelined requests, not once per
//! request: a shared atomic bumped by every request on every core would
//! bounce its cache line between cores at a million operations a second.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sessiond_protocol::wire::Request;

use crate::latency::Latency;
use crate::outcome::{self, Outcome};
use sessiond::{FsyncPolicy, Store};

/// Names of the operations, by [`op_index`].
const OPS: [&str; 26] = [
    "ping",
    "auth",
    "stats",
    "create",
    "get",
    "update",
    "touch",
    "delete",
    "rotate",
    "list",
    "count",
    "delete_owner",
    "key_set",
    "key_get",
    "key_delete",
    "key_expire",
    "key_ttl",
    "key_incr",
    "key_scan",
    "node_add",
    "node_remove",
    "key_incr_ttl",
    "events_read",
    "delete_noted",
    "delete_owner_noted",
    "cache_register",
];

/// The position of a request's kind in [`OPS`]: the native face's index
/// for [`Tally::count`].
pub(crate) fn op_index(request: &Request) -> usize {
    match request.opcode() {
        op @ 0x01..=0x03 => usize::from(op - 0x01),
        op @ 0x10..=0x18 => 3 + usize::from(op - 0x10),
        // The plain keys and, after them, the membership ops and the rest
        // (0x29 on).
        op => 12 + usize::from(op - 0x20),
    }
}

/// Counters shared by every connection.
pub(crate) struct ServerStats {
    pub connections: AtomicU64,
    pub connections_total: AtomicU64,
    pub connections_refused: AtomicU64,
    pub auth_failures: AtomicU64,
    /// Connections closed at a bound (`driver.rs`): too much input, too
    /// many unread answers, answers not read in time, no auth in time.
    pub closed_input_limit: AtomicU64,
    pub closed_output_limit: AtomicU64,
    pub closed_write_timeout: AtomicU64,
    pub closed_auth_timeout: AtomicU64,
    /// What the connections' buffers hold now, in bytes.
    pub connection_buffer_bytes: AtomicU64,
    /// Bytes read from and written to clients, both faces (added once per
    /// read and per write, not per request).
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    /// The native protocol's requests, by [`op_index`].
    pub native: Counters,
    /// The Redis face's commands, by their place in its command table.
    pub resp: Counters,
}

/// One face's request counters: per kind (each under its STATS name) and
/// outcome, and the face's latency. A face counts a request by its kind's
/// index, which it defines, or as [`Counters::unknown`] when it cannot
/// tell which kind the request was (an unknown command, a body that does
/// not decode); those are left out of STATS, which has always counted
/// known kinds only.
pub(crate) struct Counters {
    names: Box<[String]>,
    /// The kinds as the metrics label them (`get`, `session.get`), then
    /// `unknown`.
    kinds: Box<[&'static str]>,
    /// By `kind * outcome::COUNT + outcome`.
    cells: Box<[AtomicU64]>,
    /// Nanoseconds spent in each kind's handler (the Redis face times
    /// each command for INFO commandstats; the native face does not).
    nanos: Box<[AtomicU64]>,
    /// Reads that found their key, and that did not (INFO's
    /// `keyspace_hits` and `keyspace_misses`).
    hits: AtomicU64,
    misses: AtomicU64,
    /// How long this face's requests took.
    pub latency: Latency,
}

/// One kind's figures for INFO commandstats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KindFigures {
    pub calls: u64,
    pub nanos: u64,
    /// Refused before the handler ran (arity, authentication).
    pub rejected: u64,
    /// Ran and failed.
    pub failed: u64,
}

/// One connection's request counts since it last reported them, and which
/// kinds it saw, so that reporting a batch costs as much as the kinds in it
/// rather than a pass over every kind the face has.
///
/// Successes are counted densely by kind; failures, which are rare and
/// come in many more kinds, sparsely by cell, in a list that keeps its
/// capacity from batch to batch.
pub(crate) struct Tally {
    ok: Box<[u64]>,
    seen: Vec<usize>,
    /// `(cell, count)`, a cell as in [`Counters::cells`].
    failed: Vec<(usize, u64)>,
    /// Requests since the latency was last recorded.
    unrecorded: u64,
    /// Nanoseconds by kind, and the kinds with some.
    nanos: Box<[u64]>,
    timed: Vec<usize>,
    hits: u64,
    misses: u64,
}

impl Counters {
    /// Counters named `{prefix}_{kind}` for each kind, in index order; a
    /// `.` in a kind (`session.get`) becomes `_`, since STATS names are
    /// words joined by `_` (SPEC.md §9).
    fn new(prefix: &str, kinds: impl IntoIterator<Item = &'static str>) -> Counters {
        let kinds: Vec<&'static str> = kinds.into_iter().collect();
        let names: Box<[String]> = kinds
            .iter()
            .map(|kind| format!("{prefix}_{}", kind.replace('.', "_")))
            .collect();
        let kinds: Box<[&'static str]> = kinds.into_iter().chain(["unknown"]).collect();
        let cells = (0..kinds.len() * outcome::COUNT)
            .map(|_| AtomicU64::new(0))
            .collect();
        let nanos = kinds.iter().map(|_| AtomicU64::new(0)).collect();
        Counters {
            names,
            kinds,
            cells,
            nanos,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            latency: Latency::default(),
        }
    }

    /// The kind of requests the face could not place.
    pub(crate) fn unknown(&self) -> usize {
        self.names.len()
    }

    /// An empty tally for one connection of this face.
    pub(crate) fn tally(&self) -> Tally {
        Tally {
            ok: vec![0; self.kinds.len()].into_boxed_slice(),
            seen: Vec::new(),
            failed: Vec::new(),
            unrecorded: 0,
            nanos: vec![0; self.kinds.len()].into_boxed_slice(),
            timed: Vec::new(),
            hits: 0,
            misses: 0,
        }
    }

    /// Adds a connection's counts and zeroes them.
    pub(crate) fn absorb(&self, tally: &mut Tally) {
        for kind in tally.seen.drain(..) {
            let count = std::mem::take(&mut tally.ok[kind]);
            let cell = kind * outcome::COUNT + Outcome::OK.index();
            self.cells[cell].fetch_add(count, Ordering::Relaxed);
        }
        for (cell, count) in tally.failed.drain(..) {
            self.cells[cell].fetch_add(count, Ordering::Relaxed);
        }
        for kind in tally.timed.drain(..) {
            let nanos = std::mem::take(&mut tally.nanos[kind]);
            self.nanos[kind].fetch_add(nanos, Ordering::Relaxed);
        }
        if tally.hits > 0 {
            self.hits
                .fetch_add(std::mem::take(&mut tally.hits), Ordering::Relaxed);
        }
        if tally.misses > 0 {
            self.misses
                .fetch_add(std::mem::take(&mut tally.misses), Ordering::Relaxed);
        }
    }

    /// Key lookups that found their key, and that did not.
    pub(crate) fn hits_and_misses(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Each known kind's figures, by its label (`get`, `session.get`).
    pub(crate) fn figures(&self) -> impl Iterator<Item = (&'static str, KindFigures)> + '_ {
        let rejected = [
            Outcome::resp_only_arity().index(),
            Outcome::code(sessiond_protocol::wire::ErrorCode::AuthRequired).index(),
        ];
        let rows = self.cells.chunks(outcome::COUNT);
        rows.zip(self.kinds.iter())
            .zip(self.nanos.iter())
            .map(move |((row, kind), nanos)| {
                let mut figures = KindFigures {
                    calls: 0,
                    nanos: nanos.load(Ordering::Relaxed),
                    rejected: 0,
                    failed: 0,
                };
                for (outcome, count) in row.iter().enumerate() {
                    let count = count.load(Ordering::Relaxed);
                    if outcome == Outcome::OK.index() {
                        figures.calls += count;
                    } else if rejected.contains(&outcome) {
                        figures.rejected += count;
                    } else {
                        figures.calls += count;
                        figures.failed += count;
                    }
                }
                (*kind, figures)
            })
            .take(self.names.len())
    }

    /// Records the latency of the requests counted since it was last
    /// recorded: they took `took` each.
    pub(crate) fn record_latency(&self, tally: &mut Tally, took: Duration) {
        self.latency
            .record(took, std::mem::take(&mut tally.unrecorded));
    }

    /// STATS: each known kind's requests, whatever their outcome.
    fn read(&self) -> impl Iterator<Item = (String, u64)> + '_ {
        let rows = self.cells.chunks(outcome::COUNT);
        let totals = rows.map(|row| row.iter().map(|c| c.load(Ordering::Relaxed)).sum());
        self.names.iter().cloned().zip(totals)
    }

    /// Every kind's requests by outcome: `(kind label, outcome index,
    /// count)`, unknown kind last.
    pub(crate) fn cells(&self) -> impl Iterator<Item = (&'static str, usize, u64)> + '_ {
        self.cells.iter().enumerate().map(|(cell, count)| {
            let kind = self.kinds[cell / outcome::COUNT];
            (kind, cell % outcome::COUNT, count.load(Ordering::Relaxed))
        })
    }
}

impl Tally {
    /// Adds `took` to the time spent in the kind at `kind`.
    pub(crate) fn time(&mut self, kind: usize, took: Duration) {
        let nanos = &mut self.nanos[kind];
        if *nanos == 0 {
            self.timed.push(kind);
        }
        *nanos = nanos.saturating_add(took.as_nanos() as u64).max(1);
    }

    /// Counts key lookups that found their key (`hits`) or not.
    pub(crate) fn lookups(&mut self, hits: u64, misses: u64) {
        self.hits += hits;
        self.misses += misses;
    }

    /// Counts one request of the kind at `kind` (its face's index, or
    /// [`Counters::unknown`]) that ended with `outcome`.
    pub(crate) fn count(&mut self, kind: usize, outcome: Outcome) {
        self.unrecorded += 1;
        if outcome == Outcome::OK {
            let count = &mut self.ok[kind];
            if *count == 0 {
                self.seen.push(kind);
            }
            *count += 1;
            return;
        }
        let cell = kind * outcome::COUNT + outcome.index();
        match self.failed.iter_mut().find(|(c, _)| *c == cell) {
            Some((_, count)) => *count += 1,
            None => self.failed.push((cell, 1)),
        }
    }
}

impl ServerStats {
    /// Zeroed counters, with one per command of the Redis face, named as
    /// `resp_commands` lists them in their table's order.
    pub(crate) fn new(resp_commands: impl IntoIterator<Item = &'static str>) -> ServerStats {
        ServerStats {
            connections: AtomicU64::new(0),
            connections_total: AtomicU64::new(0),
            connections_refused: AtomicU64::new(0),
            auth_failures: AtomicU64::new(0),
            closed_input_limit: AtomicU64::new(0),
            closed_output_limit: AtomicU64::new(0),
            closed_write_timeout: AtomicU64::new(0),
            closed_auth_timeout: AtomicU64::new(0),
            connection_buffer_bytes: AtomicU64::new(0),
            net_input_bytes: AtomicU64::new(0),
            net_output_bytes: AtomicU64::new(0),
            native: Counters::new("ops", OPS),
            resp: Counters::new("resp", resp_commands),
        }
    }

    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn drop_one(counter: &AtomicU64) {
        counter.fetch_sub(1, Ordering::Relaxed);
    }

    /// Every statistic by name: the store's, then the server's.
    pub(crate) fn snapshot(&self, store: &Store) -> Vec<(String, u64)> {
        let s = store.stats();
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out: Vec<(String, u64)> = [
            ("sessions", s.sessions),
            ("keys", s.keys),
            ("owners", s.owners),
            ("bytes_used", s.bytes_used),
            ("memory_limit", s.memory_limit.unwrap_or(0)),
            ("expired_sessions", s.expired_sessions),
            ("expired_keys", s.expired_keys),
            ("evicted_sessions", s.evicted_sessions),
            ("limit_evictions", s.limit_evictions),
            ("connections", read(&self.connections)),
            ("connections_total", read(&self.connections_total)),
            ("connections_refused", read(&self.connections_refused)),
            ("auth_failures", read(&self.auth_failures)),
            (
                "connection_buffer_bytes",
                read(&self.connection_buffer_bytes),
            ),
            ("closed_input_limit", read(&self.closed_input_limit)),
            ("closed_output_limit", read(&self.closed_output_limit)),
            ("closed_write_timeout", read(&self.closed_write_timeout)),
            ("closed_auth_timeout", read(&self.closed_auth_timeout)),
            ("rss_bytes", resident_bytes().unwrap_or(0)),
            ("cpu_us", cpu_micros().unwrap_or(0)),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
        out.extend(self.native.read());
        out.extend(self.resp.read());
        let persist = store.persistence();
        let fsync = persist.as_ref().map_or(0, |p| match p.fsync {
            FsyncPolicy::No => 1,
            FsyncPolicy::EverySec => 2,
            FsyncPolicy::Always => 3,
        });
        let figures = [
            ("persist_fsync", fsync),
            (
                "persist_log_bytes",
                persist.as_ref().map_or(0, |p| p.log_bytes),
            ),
            (
                "persist_compactions",
                persist.as_ref().map_or(0, |p| p.compactions),
            ),
            (
                "persist_unsynced_bytes",
                persist.as_ref().map_or(0, |p| p.unsynced_bytes),
            ),
            (
                "persist_writes_refused",
                u64::from(persist.is_some_and(|p| p.refusing_writes.is_some())),
            ),
        ];
        out.extend(figures.into_iter().map(|(n, v)| (n.to_owned(), v)));
        out
    }
}

/// The process's resident memory, from `/proc/self/status` (Linux; `None`
/// elsewhere), so that clients can measure memory per session as they do
/// with Redis's `used_memory_rss`.
pub(crate) fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CPU time the process has used in user and in system mode, in seconds
/// (INFO cpu's `used_cpu_user` and `used_cpu_sys`), from `/proc/self/stat`.
pub(crate) fn cpu_seconds() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let (user, system): (u64, u64) = (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
    // USER_HZ is 100, as for `cpu_micros`.
    Some((user as f64 / 100.0, system as f64 / 100.0))
}

/// CPU time the process has used, user and system, in microseconds, from
/// `/proc/self/stat` (Linux; `None` elsewhere), so that a load generator
/// can report server CPU per operation, as with Redis's `INFO cpu`.
pub(crate) fn cpu_micros() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces), from field 3.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let (user, system): (u64, u64) = (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
    // Linux reports clock ticks of USER_HZ, which is 100 on every
    // architecture the kernel exports to user space.
    Some((user + system) * 10_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sessiond_protocol::SessionId;

    #[test]
    fn cpu_time_is_read_and_grows() {
        let before = cpu_micros().expect("/proc/self/stat is readable");
        let mut x = 0u64;
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(50) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        assert!(cpu_micros().unwrap() > before, "50 ms of spinning shows up");
    }

    #[test]
    fn resident_memory_is_read_on_linux() {
        let rss = resident_bytes().expect("/proc/self/status has VmRSS");
        assert!(rss > 1024 * 1024, "a test process holds over a MiB: {rss}");
    }

    #[test]
    fn a_tally_reaches_the_shared_counters_once_and_only_its_kinds() {
        let stats = ServerStats::new(["get", "session.set"]);
        let mut tally = stats.resp.tally();
        tally.count(1, Outcome::OK);
        tally.count(1, Outcome::OK);
        stats.resp.absorb(&mut tally);
        stats.resp.absorb(&mut tally);
        let counts: Vec<_> = stats.resp.read().collect();
        assert_eq!(
            counts,
            [
                ("resp_get".to_owned(), 0),
                ("resp_session_set".to_owned(), 2)
            ]
        );
    }

    #[test]
    fn failures_are_counted_by_outcome_and_in_the_stats_total() {
        let stats = ServerStats::new(["get", "set"]);
        let counters = &stats.resp;
        let mut tally = counters.tally();
        let wrong_type = Outcome::code(sessiond_protocol::wire::ErrorCode::WrongType);
        tally.count(0, Outcome::OK);
        tally.count(0, wrong_type);
        tally.count(0, wrong_type);
        tally.count(counters.unknown(), wrong_type);
        counters.absorb(&mut tally);
        let names = outcome::names();
        let nonzero: Vec<_> = counters
            .cells()
            .filter(|(_, _, n)| *n > 0)
            .map(|(kind, o, n)| (kind, names[o].as_str(), n))
            .collect();
        assert_eq!(
            nonzero,
            [
                ("get", "ok", 1),
                ("get", "wrong_type", 2),
                ("unknown", "wrong_type", 1)
            ]
        );
        let totals: Vec<_> = counters.read().collect();
        assert_eq!(
            totals,
            [("resp_get".to_owned(), 3), ("resp_set".to_owned(), 0)]
        );
    }

    #[test]
    fn latency_is_weighted_by_the_requests_since_it_was_last_recorded() {
        let stats = ServerStats::new(["get"]);
        let counters = &stats.native;
        let mut tally = counters.tally();
        tally.count(0, Outcome::OK);
        tally.count(0, Outcome::OK);
        counters.record_latency(&mut tally, Duration::from_millis(1));
        counters.record_latency(&mut tally, Duration::from_millis(1));
        assert_eq!(counters.latency.read().count, 2);
    }

    #[test]
    fn every_request_kind_has_its_own_counter() {
        let id = SessionId::random();
        let requests = [
            Request::Ping,
            Request::Auth { token: vec![] },
            Request::Stats,
            Request::Create(sessiond_protocol::NewSession::new("o")),
            Request::Get { id, touch: true },
            Request::Update {
                id,
                expected_version: None,
                data: vec![],
            },
            Request::Touch { id },
            Request::Delete { id },
            Request::Rotate { id },
            Request::List { owner: vec![] },
            Request::Count { owner: vec![] },
            Request::DeleteOwner {
                owner: vec![],
                keep: None,
            },
            Request::KeySet {
                key: vec![],
                ttl: None,
                value: vec![],
            },
            Request::KeyGet { key: vec![] },
            Request::KeyDelete { key: vec![] },
            Request::KeyExpire {
                key: vec![],
                ttl: None,
            },
            Request::KeyTtl { key: vec![] },
            Request::KeyIncr {
                key: vec![],
                delta: 1,
            },
            Request::KeyScan {
                cursor: 0,
                count: 10,
                pattern: None,
            },
            Request::NodeAdd {
                id: 2,
                raft_addr: "127.0.0.1:7900".into(),
            },
            Request::NodeRemove { id: 2 },
            Request::KeyIncrTtl {
                key: vec![],
                delta: 1,
                ttl: std::time::Duration::from_secs(1),
            },
            Request::EventsRead {
                after: 0,
                max: 1,
                timeout: std::time::Duration::ZERO,
            },
            Request::DeleteNoted { id, note: vec![] },
            Request::DeleteOwnerNoted {
                owner: vec![],
                keep: None,
                note: vec![],
            },
            Request::CacheRegister {
                mode: sessiond_protocol::wire::CacheMode::Strict,
            },
        ];
        assert_eq!(requests.len(), OPS.len());
        for (i, request) in requests.iter().enumerate() {
            assert_eq!(op_index(request), i);
            assert_eq!(OPS[i], request.name());
        }
    }
}
