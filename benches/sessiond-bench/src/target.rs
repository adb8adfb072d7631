//! Where the load goes: the [`Target`] a run measures, and the per-worker
//! [`Connection`]s that carry its operations.
//!
//! Workers speak in [`Op`]s instead of calling a [`Store`] directly so that
//! one workload can drive any target: the embedded store here, a Redis
//! server ([`crate::redis`]), and later a `sessiond://` server. Network
//! targets' connections override [`Connection::execute_batch`] to send a
//! whole batch before reading the replies (pipelining).

use std::fmt;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

use sessiond::{Labels, NewSession, SessionId, Store, StoreConfig, StoreError};

use crate::error::{Error, Result};
use crate::native::{Sessiond, SessiondSpec};
use crate::redis::{Redis, RedisSpec};

/// Which target to load, as named by `--target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    /// A [`Store`] inside this process.
    Embedded,
    /// A Redis server, `redis://[[user]:password@]host[:port]`.
    Redis(RedisSpec),
    /// A sessiond daemon, `sessiond://[:token@]host[:port]` or
    /// `sessiond+tls://host[:port]?ca=FILE`.
    Sessiond(SessiondSpec),
}

impl FromStr for TargetSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == "embedded" {
            Ok(TargetSpec::Embedded)
        } else if let Some(rest) = s.strip_prefix("redis://") {
            rest.parse().map(TargetSpec::Redis)
        } else if s.starts_with("sessiond://") || s.starts_with("sessiond+tls://") {
            s.parse().map(TargetSpec::Sessiond)
        } else {
            Err(format!(
                "unknown target `{s}` (expected `embedded`, `sessiond://host:port` or \
                 `redis://host:port`)"
            ))
        }
    }
}

impl fmt::Display for TargetSpec {
    /// The target as given, except that a password is never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetSpec::Embedded => f.write_str("embedded"),
            TargetSpec::Redis(spec) => write!(f, "redis://{spec}"),
            TargetSpec::Sessiond(spec) => write!(f, "{spec}"),
        }
    }
}

/// Opens the target `spec` names (for a server, connects to it). A Redis
/// target's writes each wait for `redis_wait_replicas` replicas if given
/// (`--redis-wait-replicas`); other targets refuse it.
pub fn open(spec: &TargetSpec, redis_wait_replicas: Option<u32>) -> Result<Box<dyn Target>> {
    if redis_wait_replicas.is_some() && !matches!(spec, TargetSpec::Redis(_)) {
        return Err(Error::new("--redis-wait-replicas needs a redis:// target"));
    }
    Ok(match spec {
        TargetSpec::Embedded => Box::new(Embedded::new()),
        TargetSpec::Redis(spec) => Box::new(Redis::open(spec.clone(), redis_wait_replicas)?),
        TargetSpec::Sessiond(spec) => Box::new(Sessiond::new(spec.clone())?),
    })
}

/// A system under test.
pub trait Target {
    /// A connection for one worker (for the embedded store, a handle).
    fn connect(&self) -> Result<Box<dyn Connection>>;

    /// Makes sure the prefill starts from nothing: empties the target if
    /// `flush`, else fails if it already holds data. A new embedded store
    /// is always empty.
    fn ensure_empty(&self, flush: bool) -> Result<()>;

    /// Resident memory of whatever holds the data, in bytes.
    fn resident_bytes(&self) -> Result<u64>;

    /// The bytes the store itself accounts for, if it reports them.
    fn bytes_used(&self) -> Result<Option<u64>>;

    /// CPU time the server process has used so far (user and system), for
    /// servers that report it; `None` in-process, where client and store
    /// share the CPU.
    fn server_cpu(&self) -> Result<Option<Duration>> {
        Ok(None)
    }

    /// What [`Target::resident_bytes`] and [`Target::bytes_used`] measure.
    fn memory_source(&self) -> MemorySource;

    /// How the time of a batch of operations is charged to each of them.
    fn batch_latency(&self) -> BatchLatency;
}

/// Names of a target's memory figures, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemorySource {
    /// What [`Target::resident_bytes`] reads, as shown in the text report.
    pub resident: &'static str,
    /// What [`Target::bytes_used`] reads, as shown in the text report.
    pub used: &'static str,
}

/// How the time of a batch is charged to each operation in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchLatency {
    /// Each operation gets an equal share of the batch's time: the batch
    /// ran as a loop, one operation after the other.
    Share,
    /// Each operation gets the batch's whole round trip: the batch was sent
    /// in one write and its replies read together, as redis-benchmark
    /// reports pipelined latency.
    RoundTrip,
}

impl BatchLatency {
    /// The name used in reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            BatchLatency::Share => "share",
            BatchLatency::RoundTrip => "round_trip",
        }
    }
}

/// One worker's channel to a target.
///
/// A batch goes in two halves so that one thread can keep many network
/// connections busy, as an event loop does: every connection sends, then
/// every connection reads its replies.
pub trait Connection: Send {
    /// Starts a batch: network targets write it and return without waiting
    /// for the replies.
    fn send_batch(&mut self, ops: &[Op<'_>]) -> Result<()>;

    /// Finishes the batch [`Connection::send_batch`] started, replacing
    /// `outcomes` with one outcome per op, in order.
    fn receive_batch(&mut self, ops: &[Op<'_>], outcomes: &mut Vec<Outcome>) -> Result<()>;

    /// Runs a batch start to finish.
    fn execute_batch(&mut self, ops: &[Op<'_>], outcomes: &mut Vec<Outcome>) -> Result<()> {
        self.send_batch(ops)?;
        self.receive_batch(ops, outcomes)
    }
}

/// An operation of the benchmark. Owners and keys travel as numbers; the
/// names on the wire are `user:{n}` and `key:{n}` ([`owner_name`],
/// [`key_name`]).
#[derive(Debug, Clone, Copy)]
pub enum Op<'a> {
    /// Read a session and slide its idle deadline.
    GetTouch(SessionId),
    /// Create a session (a login).
    Create {
        /// Owner number.
        owner: u64,
        /// Session data.
        data: &'a [u8],
        /// Where the login came from, kept as labels; `None` for the
        /// prefill, whose sessions carry no labels so that bytes per
        /// session compare with a bare value in Redis.
        device: Option<Device>,
    },
    /// Delete a session (a logout).
    Delete {
        /// The session.
        id: SessionId,
        /// Its owner's number, which a Redis client needs to unindex it.
        owner: u64,
    },
    /// List an owner's sessions ("your devices").
    List {
        /// Owner number.
        owner: u64,
    },
    /// Read a plain key.
    Get {
        /// Key number.
        key: u64,
    },
    /// Write a plain key with a time to live.
    Set {
        /// Key number.
        key: u64,
        /// The value.
        value: &'a [u8],
        /// Its time to live.
        ttl: Duration,
    },
}

impl Op<'_> {
    /// The kind this operation is counted under.
    pub fn kind(&self) -> OpKind {
        match self {
            Op::GetTouch(_) => OpKind::GetTouch,
            Op::Create { .. } => OpKind::Create,
            Op::Delete { .. } => OpKind::Delete,
            Op::List { .. } => OpKind::List,
            Op::Get { .. } => OpKind::Get,
            Op::Set { .. } => OpKind::Set,
        }
    }
}

/// The kinds of [`Op`], as reported per operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// [`Op::GetTouch`].
    GetTouch,
    /// [`Op::Create`].
    Create,
    /// [`Op::Delete`].
    Delete,
    /// [`Op::List`].
    List,
    /// [`Op::Get`].
    Get,
    /// [`Op::Set`].
    Set,
}

impl OpKind {
    /// Every kind, in report order.
    pub const ALL: [OpKind; 6] = [
        OpKind::GetTouch,
        OpKind::Create,
        OpKind::Delete,
        OpKind::List,
        OpKind::Get,
        OpKind::Set,
    ];

    /// The name used in reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::GetTouch => "get_touch",
            OpKind::Create => "create",
            OpKind::Delete => "delete",
            OpKind::List => "list",
            OpKind::Get => "get",
            OpKind::Set => "set",
        }
    }

    /// Position in [`OpKind::ALL`], for per-kind arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// What an operation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The session or key was there (or the write happened).
    Hit,
    /// The session or key was not there, or the owner had no sessions.
    Miss,
    /// A session was created with this id.
    Created(SessionId),
}

impl Outcome {
    /// [`Outcome::Hit`] if `found`, else [`Outcome::Miss`].
    pub fn found(found: bool) -> Self {
        if found { Outcome::Hit } else { Outcome::Miss }
    }
}

/// The device a login came from, stored as `ua` and `ip` labels.
#[derive(Debug, Clone, Copy)]
pub struct Device {
    /// A browser user-agent string.
    pub user_agent: &'static str,
    /// The client's IPv4 address.
    pub ip: [u8; 4],
}

impl Device {
    /// The labels a session from this device carries.
    pub fn labels(&self) -> Labels {
        Labels::new()
            .with("ua", self.user_agent)
            .with("ip", Ipv4Addr::from(self.ip).to_string())
    }
}

/// Writes the name of owner `n`, `user:{n}`, into `buf`.
pub fn owner_name(buf: &mut Vec<u8>, n: u64) -> &[u8] {
    write_name(buf, "user", n)
}

/// Writes the name of key `n`, `key:{n}`, into `buf`.
pub fn key_name(buf: &mut Vec<u8>, n: u64) -> &[u8] {
    write_name(buf, "key", n)
}

fn write_name<'b>(buf: &'b mut Vec<u8>, prefix: &str, n: u64) -> &'b [u8] {
    buf.clear();
    write!(buf, "{prefix}:{n}").expect("writing to a Vec cannot fail");
    buf
}

/// The embedded target: a [`Store`] in this process, set up so that
/// nothing expires during a run.
pub struct Embedded {
    store: Store,
}

impl Embedded {
    /// How long an untouched session lives: far beyond any run.
    const IDLE_TIMEOUT: Duration = Duration::from_secs(3600);

    /// A fresh, empty store.
    pub fn new() -> Self {
        let config = StoreConfig {
            default_idle_timeout: Self::IDLE_TIMEOUT,
            owner_limit: None,
            ..StoreConfig::default()
        };
        Embedded {
            store: Store::new(config),
        }
    }
}

impl Target for Embedded {
    fn connect(&self) -> Result<Box<dyn Connection>> {
        Ok(Box::new(EmbeddedConnection {
            store: self.store.clone(),
            name: Vec::new(),
            done: Vec::new(),
        }))
    }

    fn ensure_empty(&self, _flush: bool) -> Result<()> {
        Ok(())
    }

    fn resident_bytes(&self) -> Result<u64> {
        process_rss()
    }

    fn bytes_used(&self) -> Result<Option<u64>> {
        Ok(Some(self.store.stats().bytes_used))
    }

    fn memory_source(&self) -> MemorySource {
        MemorySource {
            resident: "RSS",
            used: "store accounts",
        }
    }

    fn batch_latency(&self) -> BatchLatency {
        BatchLatency::Share
    }
}

/// A worker's handle on the embedded store, with a buffer for names.
struct EmbeddedConnection {
    store: Store,
    name: Vec<u8>,
    /// Outcomes of the batch run by `send_batch`.
    done: Vec<Outcome>,
}

impl Connection for EmbeddedConnection {
    /// Runs the batch at once, in process; the outcomes wait for
    /// [`Connection::receive_batch`].
    fn send_batch(&mut self, ops: &[Op<'_>]) -> Result<()> {
        self.done.clear();
        for op in ops {
            let outcome = self.execute(op)?;
            self.done.push(outcome);
        }
        Ok(())
    }

    fn receive_batch(&mut self, _ops: &[Op<'_>], outcomes: &mut Vec<Outcome>) -> Result<()> {
        outcomes.clear();
        outcomes.append(&mut self.done);
        Ok(())
    }
}

impl EmbeddedConnection {
    /// Runs one operation on the store.
    fn execute(&mut self, op: &Op<'_>) -> Result<Outcome> {
        let store = &self.store;
        let outcome = match *op {
            Op::GetTouch(id) => match store.get(&id) {
                Ok(_) => Outcome::Hit,
                Err(StoreError::NotFound) => Outcome::Miss,
                Err(error) => return Err(error.into()),
            },
            Op::Create {
                owner,
                data,
                device,
            } => {
                let new = NewSession::new(owner_name(&mut self.name, owner))
                    .data(data)
                    .labels(device.map(|d| d.labels()).unwrap_or_default());
                Outcome::Created(store.create(new)?)
            }
            Op::Delete { id, .. } => Outcome::found(store.delete(&id)?),
            Op::List { owner } => {
                Outcome::found(!store.list(owner_name(&mut self.name, owner)).is_empty())
            }
            Op::Get { key } => {
                Outcome::found(store.get_key(key_name(&mut self.name, key)).is_some())
            }
            Op::Set { key, value, ttl } => {
                store.set_key(key_name(&mut self.name, key), value, Some(ttl))?;
                Outcome::Hit
            }
        };
        Ok(outcome)
    }
}

/// This process's resident set size (`VmRSS` in `/proc/self/status`).
fn process_rss() -> Result<u64> {
    rss_from("/proc/self/status")
}

/// The resident set size of local process `pid` (`VmRSS` in
/// `/proc/PID/status`): a server's, read from outside it.
pub fn pid_rss(pid: u32) -> Result<u64> {
    rss_from(&format!("/proc/{pid}/status"))
}

fn rss_from(path: &str) -> Result<u64> {
    let status = std::fs::read_to_string(path)
        .map_err(|e| Error::new(format!("cannot read {path}: {e}")))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .ok_or_else(|| Error::new(format!("no VmRSS line in {path}")))
}
