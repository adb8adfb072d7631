//! Server counters: connections, failed auth and operations by kind.
//!
//! Operation counts are kept per connection and added to the shared
//! counters once per batch of pipelined requests, not once per request: a
//! shared atomic bumped by every request on every core would bounce its
//! cache line between cores at a million operations a second.

use std::sync::atomic::{AtomicU64, Ordering};

use sessiond_protocol::wire::Request;

use sessiond::{FsyncPolicy, Store};

/// Names of the operations, by [`op_index`].
const OPS: [&str; 18] = [
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
];

/// The position of a request's kind in [`OPS`].
fn op_index(request: &Request) -> usize {
    match request.opcode() {
        op @ 0x01..=0x03 => usize::from(op - 0x01),
        op @ 0x10..=0x18 => 3 + usize::from(op - 0x10),
        op => 12 + usize::from(op - 0x20),
    }
}

/// Counters shared by every connection.
#[derive(Default)]
pub(crate) struct ServerStats {
    pub connections: AtomicU64,
    pub connections_total: AtomicU64,
    pub connections_refused: AtomicU64,
    pub auth_failures: AtomicU64,
    ops: [AtomicU64; OPS.len()],
}

/// One connection's operation counts since it last reported them.
#[derive(Default)]
pub(crate) struct LocalOps([u64; OPS.len()]);

impl LocalOps {
    pub(crate) fn count(&mut self, request: &Request) {
        self.0[op_index(request)] += 1;
    }
}

impl ServerStats {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn drop_one(counter: &AtomicU64) {
        counter.fetch_sub(1, Ordering::Relaxed);
    }

    /// Adds a connection's counts and zeroes them.
    pub(crate) fn absorb(&self, local: &mut LocalOps) {
        for (shared, count) in self.ops.iter().zip(local.0.iter_mut()) {
            if *count > 0 {
                shared.fetch_add(std::mem::take(count), Ordering::Relaxed);
            }
        }
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
            ("rss_bytes", resident_bytes().unwrap_or(0)),
            ("cpu_us", cpu_micros().unwrap_or(0)),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
        for (name, count) in OPS.iter().zip(&self.ops) {
            out.push((format!("ops_{name}"), read(count)));
        }
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
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CPU time the process has used, user and system, in microseconds, from
/// `/proc/self/stat` (Linux; `None` elsewhere), so that a load generator
/// can report server CPU per operation, as with Redis's `INFO cpu`.
fn cpu_micros() -> Option<u64> {
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
        ];
        for (i, request) in requests.iter().enumerate() {
            assert_eq!(op_index(request), i);
            assert_eq!(OPS[i], request.name());
        }
    }
}
