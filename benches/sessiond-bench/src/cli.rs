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
/// percentiles and memory per session.
#[derive(Debug, Parser)]
#[command(name = "sessiond-bench", version)]
#[command(after_long_help = SESSION_MIX_HELP)]
pub struct Args {
    /// What to load: `embedded` (a store in this process). Network targets
    /// (`sessiond://host:port`, `redis://host:port`) are planned.
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

    /// Concurrent clients (threads, for the embedded target).
    #[arg(long, value_name = "C", default_value = "4", value_parser = at_least_one::<u32>)]
    pub clients: u32,

    /// Operations per batch. Network targets will send a batch before
    /// reading its replies; the embedded target runs it in a loop and
    /// charges each operation an equal share of the batch's time.
    #[arg(long, value_name = "P", default_value = "1", value_parser = at_least_one::<u32>)]
    pub pipeline: u32,

    /// Seconds to run (fractions allowed).
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_secs)]
    pub duration: Duration,

    /// Print one JSON object on stdout instead of a table (no progress bar).
    #[arg(long)]
    pub json: bool,

    /// Only prefill and report memory (RSS and bytes per session), then exit.
    #[arg(long)]
    pub memory_only: bool,

    /// Only measure the expiry cycle: prefill sessions that all expire in
    /// the same second, reclaim them with background-sized cycles, and
    /// report cycles needed and the longest shard-lock hold (embedded).
    #[arg(long, conflicts_with = "memory_only")]
    pub expiry_only: bool,
}

impl Args {
    /// The run these flags describe.
    pub fn plan(&self) -> Plan {
        Plan {
            workload: self.workload,
            population: self.sessions,
            owners: (self.sessions / self.per_owner).max(1),
            payload: payload(self.data_size),
            clients: self.clients as usize,
            pipeline: self.pipeline as usize,
            duration: self.duration,
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
growth of this process's RSS over the prefill divided by --sessions.";

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
    fn network_targets_are_refused_for_now() {
        let error = Args::try_parse_from(["sessiond-bench", "--target", "redis://localhost:6379"])
            .unwrap_err();
        assert!(error.to_string().contains("not supported yet"));
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
