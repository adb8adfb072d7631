//! What a run does: the prefill, the operation mixes, and the workers that
//! send them and time them.
//!
//! The mixes are fixed so that numbers from different runs, machines and
//! (later) targets can be compared; changing one is changing the benchmark.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::ProgressBar;
use sessiond::SessionId;

use crate::error::{Error, Result};
use crate::rng::SplitMix64;
use crate::target::{BatchLatency, Connection, Device, Op, OpKind, Outcome, Target};

/// The operation mix of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Plain key GET of a random key (`key:N`) of the prefilled key space.
    Get,
    /// Plain key SET (1 hour TTL) of a random key of the key space.
    Set,
    /// Session traffic of a web app: 90% request (read with touch of a
    /// random live session), 4% login (create a session for a random owner,
    /// labelled with a user agent and an IP), 4% logout (delete a random
    /// live session), 2% devices (list a random owner's sessions).
    SessionMix,
}

impl Workload {
    /// The name `--workload` takes.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Get => "get",
            Workload::Set => "set",
            Workload::SessionMix => "session-mix",
        }
    }

    /// What the prefill creates: "sessions" or "keys".
    pub fn items(self) -> &'static str {
        if self.uses_sessions() {
            "sessions"
        } else {
            "keys"
        }
    }

    /// One of what the prefill creates: "session" or "key".
    pub fn item(self) -> &'static str {
        if self.uses_sessions() {
            "session"
        } else {
            "key"
        }
    }

    /// Whether the population is sessions (else plain keys).
    fn uses_sessions(self) -> bool {
        self == Workload::SessionMix
    }
}

/// Percent of session-mix operations that are requests (get with touch).
const REQUEST_PERCENT: u64 = 90;
/// Percent of session-mix operations that are logins (create).
const LOGIN_PERCENT: u64 = 4;
/// Percent of session-mix operations that are logouts (delete).
const LOGOUT_PERCENT: u64 = 4;
// The remaining 2% are device lists.

/// Time to live of plain keys written by the prefill and by `set`.
const KEY_TTL: Duration = Duration::from_secs(3600);

/// Operations per prefill batch (one progress bar step).
const PREFILL_BATCH: usize = 1024;

/// User agents logins are labelled with.
const USER_AGENTS: [&str; 4] = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36",
];

/// Everything a run needs to know, settled before it starts.
#[derive(Debug)]
pub struct Plan {
    /// The operation mix.
    pub workload: Workload,
    /// Sessions (or keys) prefilled.
    pub population: u64,
    /// Distinct owners (`user:0` .. `user:{owners-1}`).
    pub owners: u64,
    /// Session data and key values.
    pub payload: Vec<u8>,
    /// Worker threads.
    pub clients: usize,
    /// Operations per timed batch.
    pub pipeline: usize,
    /// Threads the clients are spread over (lock-step within a thread).
    pub threads: usize,
    /// How long workers send operations.
    pub duration: Duration,
    /// Other local processes whose CPU time over the run is reported
    /// (`--cpu-of`).
    pub cpu_of: Vec<u32>,
}

impl Plan {
    /// A buffer for the sessions the prefill creates, already written to so
    /// that its pages count in the "before" RSS and not against the
    /// sessions.
    pub fn id_buffer(&self) -> Vec<Live> {
        let len = if self.workload.uses_sessions() {
            self.population as usize
        } else {
            0
        };
        let placeholder = Live {
            id: SessionId::from_bytes([0xA5; SessionId::LEN]),
            owner: u64::MAX,
        };
        vec![placeholder; len]
    }
}

/// A session a worker knows to be live, with its owner (which a logout
/// from Redis needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Live {
    /// The session.
    pub id: SessionId,
    /// Its owner's number.
    pub owner: u64,
}

impl Live {
    /// The session `op` created, if `outcome` says it created one.
    fn created(op: &Op<'_>, outcome: &Outcome) -> Option<Live> {
        match (op, outcome) {
            (Op::Create { owner, .. }, Outcome::Created(id)) => Some(Live {
                id: *id,
                owner: *owner,
            }),
            _ => None,
        }
    }
}

/// Fills the target: `plan.population` sessions (owner `i % owners`,
/// written to `ids`) or keys `key:0` .. `key:{population-1}`.
pub fn prefill(
    conn: &mut dyn Connection,
    plan: &Plan,
    ids: &mut [Live],
    progress: &ProgressBar,
) -> Result<()> {
    let mut ops = Vec::with_capacity(PREFILL_BATCH);
    let mut outcomes = Vec::with_capacity(PREFILL_BATCH);
    let mut next = 0;
    while next < plan.population {
        let end = plan.population.min(next + PREFILL_BATCH as u64);
        ops.clear();
        ops.extend((next..end).map(|i| prefill_op(plan, i)));
        conn.execute_batch(&ops, &mut outcomes)?;
        for (i, (op, outcome)) in (next..end).zip(ops.iter().zip(&outcomes)) {
            if let Some(live) = Live::created(op, outcome) {
                ids[i as usize] = live;
            }
        }
        progress.inc(end - next);
        next = end;
    }
    Ok(())
}

/// The `i`th operation of the prefill.
fn prefill_op(plan: &Plan, i: u64) -> Op<'_> {
    if plan.workload.uses_sessions() {
        Op::Create {
            owner: i % plan.owners,
            data: &plan.payload,
            device: None,
        }
    } else {
        Op::Set {
            key: i,
            value: &plan.payload,
            ttl: KEY_TTL,
        }
    }
}

/// A device derived from `seed`: one of the user agents and an address in
/// 10.0.0.0/8.
fn device(seed: u64) -> Device {
    let [_, _, _, _, _, a, b, c] = seed.to_be_bytes();
    Device {
        user_agent: USER_AGENTS[seed as usize % USER_AGENTS.len()],
        ip: [10, a, b, c],
    }
}

/// What the workers measured.
pub struct RunResult {
    /// Latencies of every worker, merged.
    pub recorder: Recorder,
    /// Wall time from starting the first worker to the last one finishing.
    pub elapsed: Duration,
    /// CPU the server used during the run, if the target reports it.
    pub server_cpu: Option<Duration>,
    /// CPU the `--cpu-of` processes used during the run, together; `None`
    /// without any.
    pub other_cpu: Option<Duration>,
}

impl RunResult {
    /// Server CPU per operation, in microseconds.
    pub fn server_cpu_per_op(&self) -> Option<f64> {
        self.per_op(self.server_cpu)
    }

    /// The `--cpu-of` processes' CPU per operation, in microseconds.
    pub fn other_cpu_per_op(&self) -> Option<f64> {
        self.per_op(self.other_cpu)
    }

    fn per_op(&self, cpu: Option<Duration>) -> Option<f64> {
        let ops = self.recorder.overall().len();
        cpu.filter(|_| ops > 0)
            .map(|cpu| cpu.as_secs_f64() * 1e6 / ops as f64)
    }
}

/// Runs the workload on `plan.clients` threads for `plan.duration`. The
/// prefilled `ids` are dealt out to the workers, each of which keeps its
/// own live set.
pub fn run(target: &dyn Target, plan: &Plan, ids: Vec<Live>) -> Result<RunResult> {
    let latency = target.batch_latency();
    let workers = deal(&ids, plan.clients)
        .into_iter()
        .enumerate()
        .map(|(n, live)| {
            let conn = target.connect()?;
            Ok(Worker::new(conn, plan, live, latency, n as u64))
        })
        .collect::<Result<Vec<_>>>()?;
    drop(ids);
    let groups = deal_owned(workers, plan.threads);
    let cpu_before = target.server_cpu()?;
    let other_before = processes_cpu(&plan.cpu_of)?;
    let started = Instant::now();
    let deadline = started + plan.duration;
    let recorders = std::thread::scope(|scope| {
        let handles: Vec<_> = groups
            .into_iter()
            .map(|group| scope.spawn(move || run_lockstep(group, deadline)))
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err(Error::new("a worker panicked")))
            })
            .collect::<Result<Vec<_>>>()
    })?;
    let elapsed = started.elapsed();
    let server_cpu = match (cpu_before, target.server_cpu()?) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    let other_cpu = match (other_before, processes_cpu(&plan.cpu_of)?) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    let mut recorder = Recorder::new();
    for other in &recorders {
        recorder.merge(other);
    }
    Ok(RunResult {
        recorder,
        elapsed,
        server_cpu,
        other_cpu,
    })
}

/// Clock ticks per second of `/proc/PID/stat`'s times: Linux's USER_HZ,
/// which its ABI fixes at 100 whatever the kernel's own tick rate.
const USER_HZ: u64 = 100;

/// The user and system CPU time the processes `pids` have used so far,
/// together (all their threads; fields 14 and 15 of `/proc/PID/stat`);
/// `None` for no processes.
pub fn processes_cpu(pids: &[u32]) -> Result<Option<Duration>> {
    if pids.is_empty() {
        return Ok(None);
    }
    let mut ticks = 0;
    for pid in pids {
        let path = format!("/proc/{pid}/stat");
        let stat = std::fs::read_to_string(&path)
            .map_err(|e| Error::new(format!("--cpu-of {pid}: {path}: {e}")))?;
        // The command name (field 2) is in parentheses and may hold
        // spaces: count fields from after its closing one, at field 3.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace()
            .collect();
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
        match (field(14), field(15)) {
            (Some(user), Some(system)) => ticks += user + system,
            _ => {
                return Err(Error::new(format!(
                    "--cpu-of {pid}: {path} is not as expected"
                )));
            }
        }
    }
    Ok(Some(Duration::from_millis(ticks * 1000 / USER_HZ)))
}

/// Runs a thread's workers in lock-step until `deadline`: every worker
/// sends its batch, then every worker reads its replies. For network
/// targets this keeps all of a thread's connections busy at once, as an
/// event loop would, without a thread (and its context switches) per
/// connection; a worker's latency runs from its send to the moment its
/// replies are read. With one worker per thread it is a plain loop.
fn run_lockstep(mut workers: Vec<Worker<'_>>, deadline: Instant) -> Result<Recorder> {
    loop {
        for worker in &mut workers {
            worker.send()?;
        }
        let mut over = false;
        for worker in &mut workers {
            over |= worker.receive()? >= deadline;
        }
        if over {
            let mut recorder = Recorder::new();
            for worker in &workers {
                recorder.merge(&worker.recorder);
            }
            return Ok(recorder);
        }
    }
}

/// Splits `items` into `parts` groups of nearly equal size.
fn deal_owned<T>(items: Vec<T>, parts: usize) -> Vec<Vec<T>> {
    let parts = parts.clamp(1, items.len().max(1));
    let mut groups: Vec<Vec<T>> = (0..parts).map(|_| Vec::new()).collect();
    for (i, item) in items.into_iter().enumerate() {
        groups[i % parts].push(item);
    }
    groups
}

/// Splits `ids` into `parts` nearly equal live sets.
fn deal<T: Clone>(ids: &[T], parts: usize) -> Vec<Vec<T>> {
    (0..parts)
        .map(|n| ids[n * ids.len() / parts..(n + 1) * ids.len() / parts].to_vec())
        .collect()
}

/// One client thread: picks operations, sends them in batches of
/// `plan.pipeline`, and records how long each took.
struct Worker<'a> {
    conn: Box<dyn Connection>,
    plan: &'a Plan,
    rng: SplitMix64,
    /// Sessions this worker may read or delete (the ones dealt to it and
    /// the ones it created).
    live: Vec<Live>,
    /// How a batch's time is charged to its operations.
    latency: BatchLatency,
    recorder: Recorder,
    /// The batch in flight, its outcomes, and when it was sent.
    ops: Vec<Op<'a>>,
    outcomes: Vec<Outcome>,
    started: Instant,
}

impl<'a> Worker<'a> {
    fn new(
        conn: Box<dyn Connection>,
        plan: &'a Plan,
        live: Vec<Live>,
        latency: BatchLatency,
        n: u64,
    ) -> Self {
        Worker {
            conn,
            plan,
            rng: SplitMix64::new(0x5E55_10D0 ^ n),
            live,
            latency,
            recorder: Recorder::new(),
            ops: Vec::with_capacity(plan.pipeline),
            outcomes: Vec::with_capacity(plan.pipeline),
            started: Instant::now(),
        }
    }

    /// Picks the next batch and starts it.
    fn send(&mut self) -> Result<()> {
        self.ops.clear();
        for _ in 0..self.plan.pipeline {
            let op = self.next_op();
            self.ops.push(op);
        }
        self.started = Instant::now();
        self.conn.send_batch(&self.ops)
    }

    /// Finishes the batch, records it, and says when it ended.
    fn receive(&mut self) -> Result<Instant> {
        self.conn.receive_batch(&self.ops, &mut self.outcomes)?;
        let end = Instant::now();
        self.recorder
            .record_batch(&self.ops, &self.outcomes, end - self.started, self.latency);
        let created = self.ops.iter().zip(&self.outcomes);
        self.live
            .extend(created.filter_map(|(op, outcome)| Live::created(op, outcome)));
        Ok(end)
    }

    /// The next operation of the workload.
    fn next_op(&mut self) -> Op<'a> {
        let plan = self.plan;
        match plan.workload {
            Workload::Get => Op::Get {
                key: self.rng.below(plan.population),
            },
            Workload::Set => Op::Set {
                key: self.rng.below(plan.population),
                value: &plan.payload,
                ttl: KEY_TTL,
            },
            Workload::SessionMix => self.next_session_op(),
        }
    }

    /// The next operation of the session mix. With no live session left, a
    /// request or logout becomes a login.
    fn next_session_op(&mut self) -> Op<'a> {
        let roll = self.rng.below(100);
        if roll < REQUEST_PERCENT {
            match self.pick_live() {
                Some(live) => Op::GetTouch(live.id),
                None => self.login(),
            }
        } else if roll < REQUEST_PERCENT + LOGIN_PERCENT {
            self.login()
        } else if roll < REQUEST_PERCENT + LOGIN_PERCENT + LOGOUT_PERCENT {
            match self.take_live() {
                Some(Live { id, owner }) => Op::Delete { id, owner },
                None => self.login(),
            }
        } else {
            Op::List {
                owner: self.rng.below(self.plan.owners),
            }
        }
    }

    fn login(&mut self) -> Op<'a> {
        Op::Create {
            owner: self.rng.below(self.plan.owners),
            data: &self.plan.payload,
            device: Some(device(self.rng.next_u64())),
        }
    }

    /// A random live session, left in the live set.
    fn pick_live(&mut self) -> Option<Live> {
        if self.live.is_empty() {
            return None;
        }
        Some(self.live[self.rng.below(self.live.len() as u64) as usize])
    }

    /// A random live session, taken out of the live set.
    fn take_live(&mut self) -> Option<Live> {
        if self.live.is_empty() {
            return None;
        }
        let at = self.rng.below(self.live.len() as u64) as usize;
        Some(self.live.swap_remove(at))
    }
}

/// Latency histograms (nanoseconds per operation) and miss counts, one of
/// each per [`OpKind`].
pub struct Recorder {
    histograms: Vec<Histogram<u64>>,
    misses: [u64; OpKind::ALL.len()],
}

impl Recorder {
    /// Slowest latency recorded exactly; anything slower is clamped to it.
    const MAX_NANOS: u64 = 60_000_000_000;
    /// Significant decimal digits kept per value.
    const PRECISION: u8 = 3;

    fn new() -> Self {
        let histogram = Histogram::new_with_bounds(1, Self::MAX_NANOS, Self::PRECISION)
            .expect("the bounds are valid constants");
        Recorder {
            histograms: vec![histogram; OpKind::ALL.len()],
            misses: [0; OpKind::ALL.len()],
        }
    }

    /// Records a batch that took `elapsed`, charging each operation as
    /// `latency` says: an equal share or the whole round trip. With
    /// `--pipeline 1` the two agree.
    fn record_batch(
        &mut self,
        ops: &[Op<'_>],
        outcomes: &[Outcome],
        elapsed: Duration,
        latency: BatchLatency,
    ) {
        let charged = match latency {
            BatchLatency::Share => elapsed.as_nanos() / ops.len() as u128,
            BatchLatency::RoundTrip => elapsed.as_nanos(),
        };
        let share = u64::try_from(charged.max(1)).unwrap_or(u64::MAX);
        for (op, outcome) in ops.iter().zip(outcomes) {
            let kind = op.kind().index();
            self.histograms[kind].saturating_record(share);
            if *outcome == Outcome::Miss {
                self.misses[kind] += 1;
            }
        }
    }

    fn merge(&mut self, other: &Recorder) {
        for (mine, theirs) in self.histograms.iter_mut().zip(&other.histograms) {
            mine.add(theirs)
                .expect("histograms with equal bounds always merge");
        }
        for (mine, theirs) in self.misses.iter_mut().zip(other.misses) {
            *mine += theirs;
        }
    }

    /// The latencies of one kind of operation.
    pub fn histogram(&self, kind: OpKind) -> &Histogram<u64> {
        &self.histograms[kind.index()]
    }

    /// How many operations of `kind` found nothing.
    pub fn misses(&self, kind: OpKind) -> u64 {
        self.misses[kind.index()]
    }

    /// The latencies of all operations together.
    pub fn overall(&self) -> Histogram<u64> {
        let mut all = self.histograms[0].clone();
        for histogram in &self.histograms[1..] {
            all.add(histogram)
                .expect("histograms with equal bounds always merge");
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelined_latency_is_a_share_or_the_round_trip() {
        let ops = [Op::Get { key: 1 }, Op::Get { key: 2 }];
        let outcomes = [Outcome::Hit, Outcome::Miss];
        let elapsed = Duration::from_micros(10);
        let mut shared = Recorder::new();
        shared.record_batch(&ops, &outcomes, elapsed, BatchLatency::Share);
        let mut round_trip = Recorder::new();
        round_trip.record_batch(&ops, &outcomes, elapsed, BatchLatency::RoundTrip);
        let max = |recorder: &Recorder| recorder.histogram(OpKind::Get).max();
        assert!(max(&shared).abs_diff(5_000) < 10);
        assert!(max(&round_trip).abs_diff(10_000) < 10);
        assert_eq!(round_trip.misses(OpKind::Get), 1);
    }

    #[test]
    fn created_sessions_are_learned_with_their_owner() {
        let id = SessionId::from_bytes([7; 16]);
        let create = Op::Create {
            owner: 3,
            data: b"",
            device: None,
        };
        assert_eq!(
            Live::created(&create, &Outcome::Created(id)),
            Some(Live { id, owner: 3 })
        );
        assert_eq!(Live::created(&Op::Get { key: 1 }, &Outcome::Hit), None);
    }

    #[test]
    fn deal_covers_every_id_once() {
        let ids: Vec<_> = (0..10u8).map(|b| SessionId::from_bytes([b; 16])).collect();
        let parts = deal(&ids, 3);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.concat(), ids);
    }
}
