//! The Redis target: the benchmark's operations run the way a Redis
//! application would run them, each with Redis's fastest correct pattern,
//! over the blocking RESP2 client of [`crate::resp`] (one TCP connection
//! per worker thread, `TCP_NODELAY`).
//!
//! | operation | commands |
//! | --- | --- |
//! | request (get with touch) | `GETEX sess:{id} EX 1800` |
//! | login | `MULTI`, `SET sess:{id} {data} EX 1800`, `SADD owner:{n} {id}`, `EXPIRE owner:{n} 1800`, `EXEC` |
//! | logout | `MULTI`, `DEL sess:{id}`, `SREM owner:{n} {id}`, `EXEC` |
//! | devices | `SMEMBERS owner:{n}`, then `MGET sess:{id}...` if any |
//! | key get / set | `GET key:{n}` / `SET key:{n} {value} EX {ttl}` |
//!
//! Session ids are made here, as a Redis application makes them: 16 bytes
//! from a fast generator, as the 22-character base64url text sessiond uses
//! ([`SessionId`]). A login's labels (user agent, address) are not stored:
//! putting them into the value would make it bigger than sessiond's data,
//! so Redis stores exactly the session data and nothing else. A devices
//! list counts as a hit if any listed session is still live; a real
//! application would also `SREM` the ids whose session is gone, which is
//! left out because it adds writes the other targets do not make.
//!
//! The owner named `user:{n}` elsewhere is keyed `owner:{n}` here.
//!
//! With `--redis-wait-replicas N`, every write (login, logout, key set) is
//! followed in the same pipeline by `WAIT N 0`, and counts as done once
//! its reply says N replicas have it: Redis's nearest thing to a write
//! acknowledged by a majority, to hold a replicated sessiond against.

use std::fmt;
use std::io::Write as _;
use std::net::TcpStream;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sessiond::SessionId;

use crate::error::{Error, Result};
use crate::resp::{Array, CommandBuf, ReplyReader, RespError, Value};
use crate::rng::SplitMix64;
use crate::target::{BatchLatency, Connection, MemorySource, Op, Outcome, Target, key_name};

/// Seconds an untouched session lives (the sliding expiry of `GETEX`).
const SESSION_IDLE_SECS: &[u8] = b"1800";
/// The port a `redis://` target without one uses.
const DEFAULT_PORT: u16 = 6379;
/// How long a read or write may block before the run fails.
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// How long to wait before reading `used_memory_rss`, which the server
/// refreshes in its cron (every 100 ms at the default `hz 10`).
const RSS_REFRESH: Duration = Duration::from_millis(300);

/// Where a Redis server is and how to log in: the part of
/// `redis://[[user]:password@]host[:port]` after the scheme.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisSpec {
    /// `host:port`, as [`TcpStream::connect`] takes it.
    addr: String,
    /// The ACL user, if not the default one.
    user: Option<String>,
    /// The password sent with `AUTH`.
    password: Option<String>,
}

impl FromStr for RedisSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (auth, host) = match s.rsplit_once('@') {
            Some((auth, host)) => (Some(auth), host),
            None => (None, s),
        };
        if host.is_empty() {
            return Err(format!("no host in `redis://{s}`"));
        }
        if host.contains('/') {
            return Err(format!(
                "database numbers and paths are not supported (db 0 is used): `redis://{s}`"
            ));
        }
        let (user, password) = match auth.map(|auth| auth.split_once(':')) {
            None => (None, None),
            Some(Some((user, password))) => (
                Some(user.to_owned()).filter(|user| !user.is_empty()),
                Some(password.to_owned()),
            ),
            Some(None) => {
                return Err(format!(
                    "expected `:password@` or `user:password@` in `redis://{s}`"
                ));
            }
        };
        Ok(RedisSpec {
            addr: with_port(host)?,
            user,
            password,
        })
    }
}

/// `host` with [`DEFAULT_PORT`] added if it names no port. An IPv6
/// address needs brackets: `[::1]:6379`.
fn with_port(host: &str) -> Result<String, String> {
    let port = host
        .rsplit_once(':')
        .filter(|(name, _)| !name.contains(':') || name.ends_with(']'));
    match port {
        None => Ok(format!("{host}:{DEFAULT_PORT}")),
        Some((_, port)) if port.parse::<u16>().is_ok() => Ok(host.to_owned()),
        Some((_, port)) => Err(format!("`{port}` is not a port number")),
    }
}

impl fmt::Display for RedisSpec {
    /// `host:port`, with the user but never the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.password.is_some() {
            write!(f, "{}:***@", self.user.as_deref().unwrap_or(""))?;
        }
        f.write_str(&self.addr)
    }
}

impl fmt::Debug for RedisSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisSpec({self})")
    }
}

/// A Redis server under test, with a control connection for setup and
/// memory readings.
pub struct Redis {
    spec: RedisSpec,
    /// `--redis-wait-replicas`: replicas each write waits for, if any.
    wait_replicas: Option<u32>,
    control: Mutex<RedisConnection>,
    /// Seeds the id generator of each new connection.
    seeds: AtomicU64,
}

impl Redis {
    /// Connects to the server `spec` names and checks it answers; with
    /// `wait_replicas`, checks that it has that many replicas connected,
    /// since `WAIT` with no timeout would block a run forever otherwise.
    pub fn open(spec: RedisSpec, wait_replicas: Option<u32>) -> Result<Self> {
        let seeds = AtomicU64::new(clock_seed());
        let mut control =
            RedisConnection::open(&spec, seeds.fetch_add(1, Ordering::Relaxed), None)?;
        control.call(&[b"PING"])?.expect_simple("PONG")?;
        let redis = Redis {
            spec,
            wait_replicas,
            control: Mutex::new(control),
            seeds,
        };
        if let Some(wanted) = wait_replicas {
            let connected: u32 =
                info_field(&redis.info(b"replication")?, "connected_slaves").unwrap_or(0);
            if connected < wanted {
                return Err(Error::new(format!(
                    "--redis-wait-replicas {wanted}: redis://{} has {connected} replicas \
                     connected",
                    redis.spec
                )));
            }
        }
        Ok(redis)
    }

    /// Runs one command on the control connection and hands `read` its
    /// reply.
    fn control<T>(
        &self,
        args: &[&[u8]],
        read: impl FnOnce(Value<'_>) -> Result<T, RespError>,
    ) -> Result<T> {
        let mut control = self.control.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(read(control.call(args)?)?)
    }

    /// A number from the `INFO memory` section, such as `used_memory`.
    fn memory_info(&self, field: &str) -> Result<u64> {
        info_field(&self.info(b"memory")?, field)
            .ok_or_else(|| Error::new(format!("redis: INFO memory has no `{field}` number")))
    }

    /// The text of one `INFO` section.
    fn info(&self, section: &[u8]) -> Result<String> {
        self.control(&[b"INFO", section], |reply| match reply.check()? {
            Value::Bulk(text) => Ok(String::from_utf8_lossy(text).into_owned()),
            other => Err(other.unexpected("INFO text")),
        })
    }
}

/// The value of `field` in the text of an `INFO` reply.
fn info_field<T: FromStr>(text: &str, field: &str) -> Option<T> {
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().parse().ok())
}

/// A seed that differs between runs, so that sessions of two runs against
/// one server do not share ids.
fn clock_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64);
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}

impl Target for Redis {
    fn connect(&self) -> Result<Box<dyn Connection>> {
        let seed = self.seeds.fetch_add(1, Ordering::Relaxed);
        Ok(Box::new(RedisConnection::open(
            &self.spec,
            seed,
            self.wait_replicas,
        )?))
    }

    /// With `flush`, `FLUSHALL` (every database of the server) and then a
    /// best-effort `MEMORY PURGE`, so that the memory reading before the
    /// prefill does not include pages freed but kept by the allocator.
    /// Without it, fails unless db 0 is empty.
    fn ensure_empty(&self, flush: bool) -> Result<()> {
        if flush {
            self.control(&[b"FLUSHALL"], |reply| reply.expect_simple("OK"))?;
            // Servers built without jemalloc, or with MEMORY disabled,
            // refuse this; the reading is then merely less exact.
            let _ = self.control(&[b"MEMORY", b"PURGE"], |reply| reply.check().map(drop));
            return Ok(());
        }
        let keys = self.control(&[b"DBSIZE"], |reply| match reply.check()? {
            Value::Integer(keys) => Ok(keys),
            other => Err(other.unexpected("an integer")),
        })?;
        if keys > 0 {
            return Err(Error::new(format!(
                "redis://{} holds {keys} keys in db 0; pass --flush to empty it first \
                 (FLUSHALL wipes every database of that server)",
                self.spec
            )));
        }
        Ok(())
    }

    /// The server's `used_memory_rss`, read after the server has had time
    /// to refresh it.
    fn resident_bytes(&self) -> Result<u64> {
        std::thread::sleep(RSS_REFRESH);
        self.memory_info("used_memory_rss")
    }

    /// The server's `used_memory`: what its allocator has handed out.
    fn bytes_used(&self) -> Result<Option<u64>> {
        self.memory_info("used_memory").map(Some)
    }

    /// `used_cpu_user` + `used_cpu_sys` from `INFO cpu`.
    fn server_cpu(&self) -> Result<Option<Duration>> {
        let text = self.info(b"cpu")?;
        let seconds = |field: &str| {
            info_field::<f64>(&text, field)
                .ok_or_else(|| Error::new(format!("redis: INFO cpu has no `{field}`")))
        };
        let total = seconds("used_cpu_user")? + seconds("used_cpu_sys")?;
        Ok(Some(Duration::from_secs_f64(total)))
    }

    fn memory_source(&self) -> MemorySource {
        MemorySource {
            resident: "server RSS (used_memory_rss)",
            used: "used_memory",
        }
    }

    fn batch_latency(&self) -> BatchLatency {
        BatchLatency::RoundTrip
    }
}

/// The reply an operation sent in a batch waits for.
#[derive(Debug, Clone, Copy)]
enum Pending {
    /// `GETEX` or `GET`: a bulk string, or nil if missing.
    Read,
    /// `SET`: `OK`.
    Write,
    /// A login transaction that created this session.
    Create(SessionId),
    /// A logout transaction.
    Delete,
    /// A devices list's first step, `SMEMBERS`: its `MGET` follows once
    /// the ids are known.
    Members,
}

/// One blocking connection to a Redis server.
pub struct RedisConnection {
    stream: TcpStream,
    replies: ReplyReader<TcpStream>,
    commands: CommandBuf,
    /// What the commands in `commands` wait for, in order.
    pending: Vec<Pending>,
    /// Makes session ids for logins.
    rng: SplitMix64,
    /// Room for key names.
    name: Vec<u8>,
    /// Replicas each write waits for (`WAIT n 0` after it), if any.
    wait_replicas: Option<u32>,
}

impl RedisConnection {
    /// Connects and logs in; `seed` seeds the session id generator, and
    /// every write waits for `wait_replicas` replicas if that is given.
    fn open(spec: &RedisSpec, seed: u64, wait_replicas: Option<u32>) -> Result<Self> {
        let connect_error = |e| Error::new(format!("cannot connect to redis://{spec}: {e}"));
        let stream = TcpStream::connect(&spec.addr).map_err(connect_error)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let mut conn = RedisConnection {
            replies: ReplyReader::new(stream.try_clone()?),
            stream,
            commands: CommandBuf::new(),
            pending: Vec::new(),
            rng: SplitMix64::new(seed),
            name: Vec::new(),
            wait_replicas,
        };
        if let Some(password) = &spec.password {
            let mut args = vec![b"AUTH".as_slice()];
            args.extend(spec.user.as_deref().map(str::as_bytes));
            args.push(password.as_bytes());
            conn.call(&args)?.expect_simple("OK")?;
        }
        Ok(conn)
    }

    /// Sends one command and reads its reply.
    fn call(&mut self, args: &[&[u8]]) -> Result<Value<'_>, RespError> {
        self.commands.clear();
        self.commands.command(args);
        self.send()?;
        self.replies.read_reply()
    }

    /// Writes every encoded command in one write.
    fn send(&mut self) -> Result<(), RespError> {
        self.stream.write_all(self.commands.as_bytes())?;
        self.commands.clear();
        Ok(())
    }

    /// Encodes `op` to go with the next write. A devices list sends its
    /// first step here (`SMEMBERS`); its second (`MGET` of the ids found)
    /// goes out when the first's reply is read.
    fn queue(&mut self, op: &Op<'_>) {
        let pending = match *op {
            Op::List { owner } => {
                self.commands.begin(2).arg(b"SMEMBERS").owner_key(owner);
                Pending::Members
            }
            Op::GetTouch(id) => {
                self.commands
                    .begin(4)
                    .arg(b"GETEX")
                    .session_key(id)
                    .arg(b"EX")
                    .arg(SESSION_IDLE_SECS);
                Pending::Read
            }
            Op::Create { owner, data, .. } => self.queue_create(owner, data),
            Op::Delete { id, owner } => self.queue_delete(id, owner),
            Op::Get { key } => {
                let key = key_name(&mut self.name, key);
                self.commands.begin(2).arg(b"GET").arg(key);
                Pending::Read
            }
            Op::Set { key, value, ttl } => {
                let key = key_name(&mut self.name, key);
                self.commands
                    .begin(5)
                    .arg(b"SET")
                    .arg(key)
                    .arg(value)
                    .arg(b"EX");
                self.commands
                    .arg_fmt(format_args!("{}", ttl.as_secs().max(1)));
                Pending::Write
            }
        };
        if let (Some(replicas), Pending::Write | Pending::Create(_) | Pending::Delete) =
            (self.wait_replicas, pending)
        {
            self.commands.begin(3).arg(b"WAIT");
            self.commands.arg_fmt(format_args!("{replicas}")).arg(b"0");
        }
        self.pending.push(pending);
    }

    /// Encodes a login transaction for a new session of `owner`.
    fn queue_create(&mut self, owner: u64, data: &[u8]) -> Pending {
        let id = SessionId::from_bytes(self.rng.next_bytes16());
        let commands = &mut self.commands;
        commands.command(&[b"MULTI"]);
        commands.begin(5).arg(b"SET").session_key(id).arg(data);
        commands.arg(b"EX").arg(SESSION_IDLE_SECS);
        commands.begin(3).arg(b"SADD").owner_key(owner).id(id);
        commands.begin(3).arg(b"EXPIRE").owner_key(owner);
        commands.arg(SESSION_IDLE_SECS);
        commands.command(&[b"EXEC"]);
        Pending::Create(id)
    }

    /// Encodes a logout transaction.
    fn queue_delete(&mut self, id: SessionId, owner: u64) -> Pending {
        let commands = &mut self.commands;
        commands.command(&[b"MULTI"]);
        commands.begin(2).arg(b"DEL").session_key(id);
        commands.begin(3).arg(b"SREM").owner_key(owner).id(id);
        commands.command(&[b"EXEC"]);
        Pending::Delete
    }

    /// Reads the replies of every sent, queued operation, appending their
    /// outcomes in order. Devices lists then send all their `MGET`s in one
    /// write and read them: two round trips for the batch, however many
    /// lists it holds, as a pipelining Redis application would do it.
    fn read_pending(&mut self, outcomes: &mut Vec<Outcome>) -> Result<()> {
        let mut lists = Vec::new();
        for at in 0..self.pending.len() {
            let outcome = match self.pending[at] {
                Pending::Members => {
                    if self.queue_mget()? {
                        lists.push(outcomes.len());
                    }
                    Outcome::Miss
                }
                pending => {
                    let outcome = self.read_outcome(pending)?;
                    if !matches!(pending, Pending::Read) {
                        self.read_wait()?;
                    }
                    outcome
                }
            };
            outcomes.push(outcome);
        }
        self.pending.clear();
        if !lists.is_empty() {
            self.send()?;
            for slot in lists {
                let sessions = self.replies.read_reply()?.into_array()?;
                let live = sessions.iter().filter(|s| !matches!(s, Value::Nil)).count();
                outcomes[slot] = Outcome::found(live > 0);
            }
        }
        Ok(())
    }

    /// Reads a devices list's `SMEMBERS` reply and queues the `MGET` of the
    /// sessions it names; false if the owner has none.
    fn queue_mget(&mut self) -> Result<bool> {
        let ids = self.replies.read_reply()?.into_array()?;
        if ids.is_empty() {
            return Ok(false);
        }
        self.commands.begin(1 + ids.len()).arg(b"MGET");
        for id in ids.iter() {
            match id {
                Value::Bulk(id) => self.commands.arg_parts(&[b"sess:", id]),
                other => return Err(other.unexpected("a session id").into()),
            };
        }
        Ok(true)
    }

    /// Reads the replies of one queued operation.
    fn read_outcome(&mut self, pending: Pending) -> Result<Outcome, RespError> {
        match pending {
            Pending::Read => match self.replies.read_reply()?.check()? {
                Value::Bulk(_) => Ok(Outcome::Hit),
                Value::Nil => Ok(Outcome::Miss),
                other => Err(other.unexpected("a bulk string or nil")),
            },
            Pending::Write => {
                self.replies.read_reply()?.expect_simple("OK")?;
                Ok(Outcome::Hit)
            }
            Pending::Create(id) => {
                self.read_transaction(3)?;
                Ok(Outcome::Created(id))
            }
            Pending::Delete => match self.read_transaction(2)?.iter().next() {
                Some(Value::Integer(deleted)) => Ok(Outcome::found(deleted > 0)),
                _ => Err(RespError::Protocol("DEL did not reply with a count".into())),
            },
            Pending::Members => unreachable!("read by read_pending"),
        }
    }

    /// Reads the reply of the `WAIT` that follows a write, if writes wait,
    /// and fails unless enough replicas acknowledged it (with timeout 0
    /// Redis only answers once they have, so fewer means something broke).
    fn read_wait(&mut self) -> Result<(), RespError> {
        let Some(wanted) = self.wait_replicas else {
            return Ok(());
        };
        match self.replies.read_reply()?.check()? {
            Value::Integer(acked) if acked >= i64::from(wanted) => Ok(()),
            Value::Integer(acked) => Err(RespError::Protocol(format!(
                "WAIT {wanted} 0 answered {acked} replicas"
            ))),
            other => Err(other.unexpected("WAIT's count of replicas")),
        }
    }

    /// Reads the replies of `MULTI`, `queued` commands and `EXEC`, and
    /// hands back the commands' results.
    fn read_transaction(&mut self, queued: usize) -> Result<Array<'_>, RespError> {
        self.replies.read_reply()?.expect_simple("OK")?;
        for _ in 0..queued {
            self.replies.read_reply()?.expect_simple("QUEUED")?;
        }
        let results = self.replies.read_reply()?.into_array()?;
        for result in results.iter() {
            result.check()?;
        }
        Ok(results)
    }
}

impl Connection for RedisConnection {
    /// Queues the batch and sends it in one write.
    fn send_batch(&mut self, ops: &[Op<'_>]) -> Result<()> {
        for op in ops {
            self.queue(op);
        }
        self.send()?;
        Ok(())
    }

    /// Reads the batch's replies (and runs its devices lists' second step).
    fn receive_batch(&mut self, _ops: &[Op<'_>], outcomes: &mut Vec<Outcome>) -> Result<()> {
        outcomes.clear();
        self.read_pending(outcomes)
    }
}

/// The key names of this target, as command arguments.
trait Keys {
    /// `sess:{id}`.
    fn session_key(&mut self, id: SessionId) -> &mut Self;
    /// `owner:{n}`, the set of owner `n`'s session ids.
    fn owner_key(&mut self, owner: u64) -> &mut Self;
    /// A session id as set member: its text form.
    fn id(&mut self, id: SessionId) -> &mut Self;
}

impl Keys for CommandBuf {
    fn session_key(&mut self, id: SessionId) -> &mut Self {
        self.arg_fmt(format_args!("sess:{id}"))
    }

    fn owner_key(&mut self, owner: u64) -> &mut Self {
        self.arg_fmt(format_args!("owner:{owner}"))
    }

    fn id(&mut self, id: SessionId) -> &mut Self {
        self.arg_fmt(format_args!("{id}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> RedisSpec {
        text.parse().unwrap()
    }

    #[test]
    fn addresses_parse_with_and_without_port() {
        assert_eq!(spec("127.0.0.1:7000").addr, "127.0.0.1:7000");
        assert_eq!(spec("localhost").addr, "localhost:6379");
        assert_eq!(spec("[::1]:7000").addr, "[::1]:7000");
        assert_eq!(spec("[::1]").addr, "[::1]:6379");
        assert!("host:http".parse::<RedisSpec>().is_err());
        assert!("host:70000".parse::<RedisSpec>().is_err());
        assert!("".parse::<RedisSpec>().is_err());
        assert!("host:6379/2".parse::<RedisSpec>().is_err());
    }

    #[test]
    fn credentials_parse_and_never_show() {
        let with_password = spec(":s3cr@t@host:6380");
        assert_eq!(with_password.user, None);
        assert_eq!(with_password.password.as_deref(), Some("s3cr@t"));
        assert_eq!(with_password.to_string(), ":***@host:6380");
        assert!(!format!("{with_password:?}").contains("s3cr"));
        let with_user = spec("alice:pw@host");
        assert_eq!(with_user.user.as_deref(), Some("alice"));
        assert_eq!(with_user.to_string(), "alice:***@host:6379");
        assert!("pw@host".parse::<RedisSpec>().is_err());
    }

    #[test]
    fn info_fields_are_found_by_exact_name() {
        let text =
            "# Memory\r\nused_memory:1000\r\nused_memory_rss:2000\r\nused_memory_human:1K\r\n";
        assert_eq!(info_field(text, "used_memory"), Some(1000));
        assert_eq!(info_field(text, "used_memory_rss"), Some(2000));
        assert_eq!(info_field::<u64>(text, "used_memory_peak"), None);
    }

    #[test]
    fn operations_encode_to_their_commands() {
        let id = SessionId::from_bytes([0; 16]);
        let mut commands = CommandBuf::new();
        commands.begin(2).arg(b"DEL").session_key(id);
        commands.begin(3).arg(b"SADD").owner_key(7).id(id);
        assert_eq!(
            commands.as_bytes(),
            b"*2\r\n$3\r\nDEL\r\n$27\r\nsess:AAAAAAAAAAAAAAAAAAAAAA\r\n\
              *3\r\n$4\r\nSADD\r\n$7\r\nowner:7\r\n$22\r\nAAAAAAAAAAAAAAAAAAAAAA\r\n"
        );
    }
}
