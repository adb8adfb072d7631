//! The command line.
//!
//! Flag names are a stable interface: benchmark scripts call this binary,
//! so a flag may be added but not renamed or given another meaning.

use std::str::FromStr;
use std::time::Duration;

use clap::Parser;

use crate::target::TargetSpec;
use crate::workload::{Plan, Workload};

/// Load generator for sessiond: prefills a store, drives a fixed operation
/// mix at it from several clients, and reports throughput, latency
/// percentiles and memory per session. The same workloads run against
/// Redis, for comparison.
#[derive(Debug, Parser)]
#[command(name = "sessiond-bench", version)]
#[command(after_long_help = format!("{SESSION_MIX_HELP}\n\n{REDIS_HELP}"))]
pub struct Args {
    /// What to load: `embedded` (a store in this process),
    /// `sessiond://[:token@]host[:port]` or `sessiond+tls://host[:port]?ca=FILE`
    /// (a sessiond daemon; without a token in the URL, SESSIOND_AUTH_TOKEN),
    /// or `redis://[[user]:password@]host[:port]` (a Redis server, db 0; a
    /// password is sent with AUTH).
    #[arg(long, value_name = "TARGET", default_value = "embedded")]
    pub target: TargetSpec,

    /// Operation mix (see below with --help).
    #[arg(long, value_enum, default_value = "session-mix")]
    pub workload: Workload,

    /// Sessions prefilled before the run (for `get` and `set`: keys).
    #[arg(long, value_name = "N", default_value = "100000", value_parser = at_least_one::<u64>)]
    pub sessions: u64,

    /// Bytes of data per session (value size for keys).
    #[arg(long, value_name = "BYTES", default_value = "200")]
    pub data_size: usize,

    /// Sessions per owner in the prefill: owners are `user:0` up to
    /// `user:{sessions/K - 1}`.
    #[arg(long, value_name = "K", default_value = "5", value_parser = at_least_one::<u64>)]
    pub per_owner: u64,

    /// Concurrent clients: threads, and for a server one connection each.
    #[arg(long, value_name = "C", default_value = "4", value_parser = at_least_one::<u32>)]
    pub clients: u32,

    /// Operations per batch. A server target is sent the whole batch in one
    /// write before its replies are read, and each operation is charged the
    /// batch's round trip (as redis-benchmark -P reports it); the embedded
    /// target runs the batch in a loop and charges each operation an equal
    /// share of the batch's time.
    #[arg(long, value_name = "P", default_value = "1", value_parser = at_least_one::<u32>)]
    pub pipeline: u32,

    /// Threads driving the clients; 0 for the default: one per client for
    /// `embedded`, and for network targets as many as the machine has
    /// cores, each keeping its share of the connections busy in lock-step
    /// (all send, then all read), as an event loop would, instead of a
    /// thread per connection.
    #[arg(long, value_name = "T", default_value = "0")]
    pub threads: u32,

    /// Seconds to run (fractions allowed).
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_secs)]
    pub duration: Duration,

    /// Print one JSON object on stdout instead of a table (no progress bar).
    #[arg(long)]
    pub json: bool,

    /// Only prefill and report memory (RSS and bytes per session), then exit.
    #[arg(long)]
    pub memory_only: bool,

    /// Empty a server target before the prefill: FLUSHALL, which wipes
    /// every database of that server. Without it, a server that already
    /// holds keys is refused.
    #[arg(long)]
    pub flush: bool,

    /// Only measure the expiry cycle: prefill sessions that all expire in
    /// the same second, reclaim them with background-sized cycles, and
    /// report cycles needed and the longest shard-lock hold (embedded).
    #[arg(long, conflicts_with = "memory_only")]
    pub expiry_only: bool,

    /// Only measure a fill (embedded): create --sessions sessions as fast
    /// as one thread can while another reads sessions made before, and
    /// report both latencies' tails (what a growing table's rehash costs
    /// the requests of its shard) and the RSS peak against its final value.
    #[arg(long, conflicts_with_all = ["memory_only", "expiry_only"])]
    pub fill_only: bool,

    /// With --fill-only: lock shards of each table (the store's default
    /// otherwise).
    #[arg(long, value_name = "N", requires = "fill_only")]
    pub shards: Option<usize>,

    /// With --fill-only: spread the sessions' idle timeouts over this many
    /// seconds, as a store filled over that long has them (0: all alike).
    #[arg(long, value_name = "SECS", requires = "fill_only")]
    pub ttl_spread: Option<u64>,

    /// Only measure persistence (embedded, data directory DIR, emptied
    /// first): prefill through the log, restart from it, compact while a
    /// reader runs (longest shard-lock hold, reader's worst latency), and
    /// restart from the snapshot.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["memory_only", "expiry_only"])]
    pub persist_only: Option<std::path::PathBuf>,

    /// Only measure failover: one client creates sessions with ids it
    /// chooses, back to back, on the replication group whose members'
    /// native addresses are NODES (`host:port,host:port,...`), following
    /// NOT_LEADER and trying the other members, for --duration or until
    /// standard input closes. Prints a JSON line whenever a write is
    /// acknowledged after failures or by another node, with the time
    /// (Unix ns) and the failures, then a summary (see
    /// benches/failover.sh, which kills the leader meanwhile).
    #[arg(long, value_name = "NODES", value_delimiter = ',', num_args = 1..,
          conflicts_with_all = ["memory_only", "expiry_only", "persist_only"])]
    pub failover: Vec<String>,

    /// Only measure session events: one client creates and deletes
    /// sessions at --rate events a second on a sessiond:// target while
    /// --subscribers clients each follow the event log with blocking
    /// EVENTS_READ on their own connection; reports the delivery latency
    /// (writer's send to subscriber's receive: p50, p99, p99.9) and the
    /// server's CPU per event and per delivered event (from /proc with
    /// --cpu-of, else from STATS) and its RSS. See benches/events-bench.sh.
    #[arg(long, conflicts_with_all = ["memory_only", "expiry_only", "persist_only", "failover"])]
    pub events_delivery: bool,

    /// With --events-delivery: events a second the writer makes (half
    /// creations, half deletions).
    #[arg(long, value_name = "EVENTS", default_value = "10000", value_parser = parse_rate)]
    pub rate: f64,

    /// With --events-delivery: readers following the event log, one
    /// connection and thread each; 0 measures the writes alone.
    #[arg(long, value_name = "N", default_value = "1")]
    pub subscribers: u32,

    /// Against redis://, follow every write (login, logout, key set, the
    /// prefill's too) with `WAIT N 0` in the same pipeline: it counts as
    /// done once N replicas have it, as a replicated sessiond acknowledges
    /// a write once a majority has it. The server must have N replicas.
    #[arg(long, value_name = "N", value_parser = at_least_one::<u32>)]
    pub redis_wait_replicas: Option<u32>,

    /// Also report the CPU time of local process PID over the run, per
    /// operation (`other_cpu_us_per_op` in JSON): the replicas or
    /// followers that a server's writes keep busy. Repeat for several.
    #[arg(long = "cpu-of", value_name = "PID")]
    pub cpu_of: Vec<u32>,
}

impl Args {
    /// Threads to drive the clients with (see `--threads`).
    fn threads(&self) -> usize {
        let clients = self.clients as usize;
        match (self.threads, &self.target) {
            (0, TargetSpec::Embedded) => clients,
            (0, _) => std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .min(clients),
            (n, _) => (n as usize).min(clients),
        }
    }

    /// The run these flags describe.
    pub fn plan(&self) -> Plan {
        Plan {
            workload: self.workload,
            population: self.sessions,
            owners: (self.sessions / self.per_owner).max(1),
            payload: payload(self.data_size),
            clients: self.clients as usize,
            pipeline: self.pipeline as usize,
            threads: self.threads(),
            duration: self.duration,
            cpu_of: self.cpu_of.clone(),
        }
    }
}

/// The session-mix description shown at the end of `--help`.
const SESSION_MIX_HELP: &str = "\
The session-mix workload, fixed so runs stay comparable:
  90%  request  read a random live session with touch (Store::get)
   4%  login    create a session for a random owner, labelled ua and ip
   4%  logout   delete a random live session
   2%  devices  list a random owner's sessions
Each client keeps its own set of live session ids: a login adds to it and a
logout takes from it, so the population stays roughly steady.

Latencies are per operation, in microseconds; bytes per session is the
growth of the target's RSS over the prefill divided by --sessions (this
process's RSS for embedded, the server's used_memory_rss for Redis).";

/// How the workloads run against Redis, shown at the end of `--help`.
const REDIS_HELP: &str = "\
Against redis://, each operation is Redis's fastest correct pattern:
  request  GETEX sess:<id> EX 1800
  login    MULTI; SET sess:<id> <data> EX 1800; SADD owner:<n> <id>;
           EXPIRE owner:<n> 1800; EXEC   (id: 22 base64url characters)
  logout   MULTI; DEL sess:<id>; SREM owner:<n> <id>; EXEC
  devices  SMEMBERS owner:<n>, then MGET of those sessions (two round trips;
           a hit if any is live; stale ids are not SREMed, to add no writes)
  get/set  GET key:<n> / SET key:<n> <value> EX 3600
Login labels (user agent, IP) are not stored in Redis: the value is exactly
the session data. With --pipeline P a devices list splits its batch: the
operations before it are sent and answered first, then the list runs.
Each client is a thread with one blocking connection (redis-benchmark uses
one event loop instead). The prefill logs sessions in by pipelined
transactions; a server that holds keys needs --flush.";

/// Parses a whole number of at least 1.
fn at_least_one<T>(text: &str) -> Result<T, String>
where
    T: FromStr + From<u8> + PartialOrd,
{
    let value: T = text
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number"))?;
    if value < T::from(1) {
        return Err("must be at least 1".into());
    }
    Ok(value)
}

/// Parses a positive, finite rate.
fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of events a second"))?;
    if !(rate.is_finite() && rate > 0.0) {
        return Err("the rate must be positive".into());
    }
    Ok(rate)
}

/// Parses a positive, finite number of seconds.
fn parse_secs(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if secs <= 0.0 {
        return Err("the duration must be positive".into());
    }
    Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())
}

/// `len` bytes of printable session data.
fn payload(len: usize) -> Vec<u8> {
    b"0123456789abcdef"
        .iter()
        .copied()
        .cycle()
        .take(len)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse() {
        let args = Args::try_parse_from([
            "sessiond-bench",
            "--target",
            "embedded",
            "--workload",
            "session-mix",
            "--sessions",
            "10",
            "--duration",
            "0.5",
            "--json",
        ])
        .unwrap();
        assert_eq!(args.target, TargetSpec::Embedded);
        assert_eq!(args.workload, Workload::SessionMix);
        assert_eq!(args.duration, Duration::from_millis(500));
        assert_eq!(args.plan().owners, 2);
    }

    #[test]
    fn network_targets_parse_and_unknown_ones_are_refused() {
        let args =
            Args::try_parse_from(["sessiond-bench", "--target", "redis://localhost:7000"]).unwrap();
        assert_eq!(args.target.to_string(), "redis://localhost:7000");
        assert!(!args.flush);
        let args =
            Args::try_parse_from(["sessiond-bench", "--target", "sessiond://host:1"]).unwrap();
        assert_eq!(args.target.to_string(), "sessiond://host:1");
        let error = Args::try_parse_from(["sessiond-bench", "--target", "sessiond+tls://host:1"])
            .unwrap_err();
        assert!(error.to_string().contains("ca=FILE"), "{error}");
        let error =
            Args::try_parse_from(["sessiond-bench", "--target", "memcached://x"]).unwrap_err();
        assert!(error.to_string().contains("unknown target"));
    }

    #[test]
    fn failover_nodes_and_replica_options_parse() {
        let args = Args::try_parse_from([
            "sessiond-bench",
            "--failover",
            "127.0.0.1:1,127.0.0.1:2",
            "--cpu-of",
            "7",
            "--cpu-of",
            "8",
        ])
        .unwrap();
        assert_eq!(args.failover, ["127.0.0.1:1", "127.0.0.1:2"]);
        assert_eq!(args.plan().cpu_of, [7, 8]);
        let args = Args::try_parse_from(["sessiond-bench", "--redis-wait-replicas", "1"]).unwrap();
        assert_eq!(args.redis_wait_replicas, Some(1));
        assert!(Args::try_parse_from(["sessiond-bench", "--redis-wait-replicas", "0"]).is_err());
    }

    #[test]
    fn events_delivery_flags_parse() {
        let args = Args::try_parse_from([
            "sessiond-bench",
            "--target",
            "sessiond://127.0.0.1:1",
            "--events-delivery",
            "--rate",
            "2500",
            "--subscribers",
            "0",
        ])
        .unwrap();
        assert!(args.events_delivery);
        assert_eq!((args.rate, args.subscribers), (2500.0, 0));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("inf").is_err());
        assert!(
            Args::try_parse_from(["sessiond-bench", "--events-delivery", "--memory-only"]).is_err()
        );
    }

    #[test]
    fn durations_must_be_positive() {
        assert!(parse_secs("0").is_err());
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("nan").is_err());
        assert_eq!(parse_secs("1.5"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn counts_must_be_at_least_one() {
        assert_eq!(at_least_one::<u64>("3"), Ok(3));
        assert!(at_least_one::<u64>("0").is_err());
        assert!(at_least_one::<u32>("-1").is_err());
    }
}
