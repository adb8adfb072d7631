//! `--events-delivery`: how soon a session event reaches the readers of
//! the event log, and what those readers cost the server.
//!
//! One writer creates and deletes sessions at a fixed rate (`--rate`
//! events a second: a creation and a deletion per session, each an
//! event) on its own connection; `--subscribers` readers each follow the
//! log on their own connection with blocking EVENTS_READ (SPEC.md §8), as
//! an app server waiting for revocations would. A delivery's latency runs
//! from the moment the writer sent the request that made the event to the
//! moment a subscriber has read and decoded the reply that carries it
//! ([`crate::delivery`] has the bookkeeping). The server's CPU over the
//! run, per event written and per event delivered, shows what each
//! subscriber adds; with `--subscribers 0` it is the writes' cost alone.
//!
//! The writer keeps to a schedule (event `n` at `n / rate` seconds): it
//! sends every request that is due in one write, then reads their
//! answers, so when an answer takes longer than the gap between two
//! events the next write carries more of them and the rate still holds
//! (`achieved_rate` says if it did not). A latency is timed from the
//! actual send, so time a request spent waiting for the writer is not in
//! it: the figure is the server's and the subscribers', not the writer's.

use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sessiond::{NewSession, SessionId};
use sessiond_protocol::wire::{Reply, Request, ServerError};

use crate::delivery::{Latencies, SendClock, event_id, event_number};
use crate::error::{Error, Result};
use crate::native::{Sessiond, SessiondConnection, SessiondSpec};
use crate::report::round;
use crate::target::{Target, pid_rss};
use crate::workload::processes_cpu;

/// Events a subscriber asks for per read: the server's cap, so that a
/// reader that fell behind catches up in few round trips.
const READ_MAX: u32 = 1000;
/// How long one read waits for an event before it comes back empty: short
/// enough that a subscriber notices the end of the run soon, long enough
/// that an idle one costs the server next to nothing.
const READ_WAIT: Duration = Duration::from_millis(200);
/// How long subscribers keep reading after the writer's last answer for
/// events still on their way; what they have not seen by then is missed.
const DRAIN: Duration = Duration::from_secs(5);
/// Most requests the writer sends in one write. At 10 000 events/s a batch
/// is one or two requests; more only when the writer was held up.
const MAX_BATCH: u64 = 256;
/// The writer gives up if the schedule takes this many times
/// `--duration`: the server cannot keep the rate at all.
const OVERRUN: u32 = 3;
/// Owners the writer's sessions are spread over (`user:0` and up).
const OWNERS: u64 = 1024;
/// Idle timeout of the writer's sessions: none expires during a run (an
/// expiry would be an event the writer did not send).
const SESSION_IDLE: Duration = Duration::from_secs(1800);
/// Bytes of data per session: small, as the events do not carry it.
const DATA: &[u8] = b"0123456789abcdef";

/// What `--events-delivery` runs.
#[derive(Debug, Clone)]
pub struct EventsPlan {
    /// The daemon.
    pub spec: SessiondSpec,
    /// Events a second the writer makes.
    pub rate: f64,
    /// Readers following the log.
    pub subscribers: usize,
    /// How long the writer writes.
    pub duration: Duration,
    /// The daemon's process ids, for its CPU and RSS from `/proc`; without
    /// any, the daemon's own STATS are used.
    pub cpu_of: Vec<u32>,
}

impl EventsPlan {
    /// Events the writer sends: the rate over the duration, rounded up to
    /// whole sessions (a creation and a deletion each).
    fn events(&self) -> u64 {
        let events = (self.rate * self.duration.as_secs_f64()).ceil() as u64;
        events.div_ceil(2) * 2
    }
}

/// What the writer did.
struct Written {
    events: u64,
    elapsed: Duration,
}

/// What one subscriber saw.
struct Seen {
    latencies: Latencies,
    /// Events of this run delivered.
    delivered: u64,
    /// EVENTS_GAP answers: retention dropped events before this reader
    /// read them.
    gaps: u64,
    /// Events whose seq was not above the one before.
    out_of_order: u64,
    /// EVENTS_READ requests sent after the start: each one a request and
    /// a wake-up for the server, whatever it carries.
    reads: u64,
}

/// The figures of a run.
struct EventsRun {
    written: Written,
    seen: Vec<Seen>,
    /// Server CPU from the writer's start to the subscribers' end.
    server_cpu: Duration,
    /// Where `server_cpu` and `server_rss` come from.
    source: &'static str,
    server_rss: u64,
    /// This process's own CPU over the same span: the writer and the
    /// subscribers share the machine with the server.
    client_cpu: Option<Duration>,
    elapsed: Duration,
}

/// Runs the measurement and prints its report.
pub fn run(plan: &EventsPlan, json: bool) -> Result<()> {
    let target = Sessiond::new(plan.spec.clone())?;
    let run = measure(plan, &target)?;
    let report = report_json(plan, &run);
    if json {
        println!("{report}");
    } else {
        print!("{}", report_text(&report));
    }
    Ok(())
}

fn measure(plan: &EventsPlan, target: &Sessiond) -> Result<EventsRun> {
    let events = plan.events();
    let clock = SendClock::new(events as usize);
    let nonce = SessionId::random().prefix();
    let mut writer = SessiondConnection::open(target)?;
    let mut readers = (0..plan.subscribers)
        .map(|_| SessiondConnection::open(target))
        .collect::<Result<Vec<_>>>()?;
    let ready = Barrier::new(plan.subscribers + 1);
    let written_events = AtomicU64::new(u64::MAX);
    let writing = AtomicBool::new(true);

    std::thread::scope(|scope| {
        let handles: Vec<_> = readers
            .iter_mut()
            .map(|conn| {
                let (clock, ready, total, writing) = (&clock, &ready, &written_events, &writing);
                scope.spawn(move || subscribe(conn, nonce, clock, ready, total, writing))
            })
            .collect();
        ready.wait();
        let measured = write_measured(&mut writer, plan, nonce, &clock, target);
        // Whatever became of the writer, the subscribers learn that it is
        // done, so that none of them waits for it for ever.
        written_events.store(
            measured.as_ref().map_or(0, |(_, w)| w.events),
            Ordering::Release,
        );
        writing.store(false, Ordering::Release);
        let seen = handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err(Error::new("a subscriber panicked")))
            })
            .collect::<Result<Vec<_>>>()?;
        let (before, written) = measured?;
        let elapsed = before.started.elapsed();
        let (after, source) = server_cpu(plan, target)?;
        let client_cpu = match (before.client_cpu, processes_cpu(&[std::process::id()])?) {
            (Some(before), Some(after)) => Some(after.saturating_sub(before)),
            _ => None,
        };
        let server_rss = match plan.cpu_of.first() {
            Some(&pid) => pid_rss(pid)?,
            None => target.resident_bytes()?,
        };
        Ok(EventsRun {
            written,
            seen,
            server_cpu: after.saturating_sub(before.server_cpu),
            source,
            server_rss,
            client_cpu,
            elapsed,
        })
    })
}

/// The clocks as the writer starts.
struct Before {
    started: Instant,
    server_cpu: Duration,
    client_cpu: Option<Duration>,
}

/// Reads the CPU clocks, then runs the writer.
fn write_measured(
    conn: &mut SessiondConnection,
    plan: &EventsPlan,
    nonce: u64,
    clock: &SendClock,
    target: &Sessiond,
) -> Result<(Before, Written)> {
    let before = Before {
        server_cpu: server_cpu(plan, target)?.0,
        client_cpu: processes_cpu(&[std::process::id()])?,
        started: Instant::now(),
    };
    let written = write(conn, plan, nonce, clock)?;
    Ok((before, written))
}

/// The daemon's CPU so far, from `/proc` for `--cpu-of`, else from STATS.
fn server_cpu(plan: &EventsPlan, target: &Sessiond) -> Result<(Duration, &'static str)> {
    if let Some(cpu) = processes_cpu(&plan.cpu_of)? {
        return Ok((cpu, "/proc/PID (--cpu-of)"));
    }
    let cpu = target
        .server_cpu()?
        .ok_or_else(|| Error::new("the daemon reports no cpu_us"))?;
    Ok((cpu, "STATS cpu_us, rss_bytes"))
}

/// The writer: sends each event's request when the schedule says it is
/// due (event `n` at `n / rate` seconds), marking its send time first.
fn write(
    conn: &mut SessiondConnection,
    plan: &EventsPlan,
    nonce: u64,
    clock: &SendClock,
) -> Result<Written> {
    let events = plan.events();
    let started = Instant::now();
    let give_up = plan.duration * OVERRUN;
    let mut requests = Vec::with_capacity(MAX_BATCH as usize);
    let mut sent = 0;
    while sent < events {
        let elapsed = started.elapsed();
        if elapsed > give_up {
            return Err(Error::new(format!(
                "the writer sent {sent} of {events} events in {elapsed:?}: \
                 the server does not keep up with {} a second",
                plan.rate
            )));
        }
        let due = ((elapsed.as_secs_f64() * plan.rate) as u64 + 1).min(events);
        if due <= sent {
            let next = Duration::from_secs_f64(sent as f64 / plan.rate);
            sleep(next.saturating_sub(started.elapsed()));
            continue;
        }
        let batch = (due - sent).min(MAX_BATCH);
        requests.clear();
        requests.extend((sent..sent + batch).map(|n| request(nonce, n)));
        let at = clock.now();
        for n in sent..sent + batch {
            clock.mark(n, at);
        }
        conn.send(&requests)?;
        for request in &requests {
            check(request, conn.receive()?)?;
        }
        sent += batch;
    }
    Ok(Written {
        events: sent,
        elapsed: started.elapsed(),
    })
}

/// Request `n` of the writer: the creation (even `n`) or the deletion
/// (odd `n`) of pair `n / 2`'s session.
fn request(nonce: u64, n: u64) -> Request {
    let pair = n / 2;
    let id = event_id(nonce, pair);
    if n % 2 == 1 {
        return Request::Delete { id };
    }
    let mut new = NewSession::new(format!("user:{}", pair % OWNERS).into_bytes())
        .data(DATA.to_vec())
        .idle_timeout(SESSION_IDLE);
    new.id = Some(id);
    Request::Create(new)
}

/// Fails unless `answer` is the success `request` expects: a write that
/// did not happen made no event, and would show as missed.
fn check(request: &Request, answer: std::result::Result<Reply, ServerError>) -> Result<()> {
    match (request, &answer) {
        (Request::Create(_), Ok(Reply::Id(_)))
        | (Request::Delete { .. }, Ok(Reply::Bool(true))) => Ok(()),
        _ => Err(Error::new(format!(
            "the writer's {request:?} got {answer:?}"
        ))),
    }
}

/// A subscriber: reads up to the log's end without waiting, says it is
/// ready, then follows the log with blocking reads until the writer is
/// done and every event it wrote was seen, or [`DRAIN`] after that.
fn subscribe(
    conn: &mut SessiondConnection,
    nonce: u64,
    clock: &SendClock,
    ready: &Barrier,
    written: &AtomicU64,
    writing: &AtomicBool,
) -> Result<Seen> {
    let mut seen = Seen {
        latencies: Latencies::new(),
        delivered: 0,
        gaps: 0,
        out_of_order: 0,
        reads: 0,
    };
    let mut after = 0;
    let mut catch_up = || -> Result<()> {
        while read(conn, &mut after, Duration::ZERO, nonce, clock, &mut seen)? > 0 {}
        Ok(())
    };
    let caught_up = catch_up();
    // Past the barrier even on an error, or the writer would wait for
    // this subscriber for ever.
    ready.wait();
    caught_up?;
    let mut drain_until = None;
    loop {
        read(conn, &mut after, READ_WAIT, nonce, clock, &mut seen)?;
        seen.reads += 1;
        if writing.load(Ordering::Acquire) {
            continue;
        }
        if seen.delivered >= written.load(Ordering::Acquire) {
            return Ok(seen);
        }
        let until = *drain_until.get_or_insert_with(|| Instant::now() + DRAIN);
        if Instant::now() >= until {
            return Ok(seen);
        }
    }
}

/// One EVENTS_READ after `after`, waiting up to `wait`: records the
/// latency of each of this run's events in it, moves `after` on, and says
/// how many events came. The receive time is taken once the whole reply
/// is read and decoded, as a subscriber can act on it only then.
fn read(
    conn: &mut SessiondConnection,
    after: &mut u64,
    wait: Duration,
    nonce: u64,
    clock: &SendClock,
    seen: &mut Seen,
) -> Result<usize> {
    let answer = conn.exchange(&Request::EventsRead {
        after: *after,
        max: READ_MAX,
        timeout: wait,
    })?;
    let received = clock.now();
    let events = match answer {
        Ok(Reply::Events(events)) => events,
        Err(ServerError::EventsGap { oldest_kept, .. }) => {
            seen.gaps += 1;
            *after = oldest_kept.saturating_sub(1);
            return Ok(0);
        }
        other => return Err(Error::new(format!("EVENTS_READ got {other:?}"))),
    };
    for event in &events {
        if event.seq <= *after {
            seen.out_of_order += 1;
        }
        *after = event.seq.max(*after);
        if let Some(n) = event_number(nonce, event) {
            seen.delivered += 1;
            if let Some(nanos) = clock.latency(n, received) {
                seen.latencies.record(nanos);
            }
        }
    }
    Ok(events.len())
}

/// The report as one JSON object (`--json`). Latencies in microseconds,
/// CPU per event in microseconds, over every subscriber's deliveries.
fn report_json(plan: &EventsPlan, run: &EventsRun) -> Value {
    let mut latencies = Latencies::new();
    let (mut delivered, mut gaps, mut out_of_order, mut reads) = (0, 0, 0, 0);
    for seen in &run.seen {
        latencies.merge(&seen.latencies);
        delivered += seen.delivered;
        gaps += seen.gaps;
        out_of_order += seen.out_of_order;
        reads += seen.reads;
    }
    let events = run.written.events;
    let cpu_us = run.server_cpu.as_secs_f64() * 1e6;
    let per = |n: u64| (n > 0).then(|| round(cpu_us / n as f64, 3));
    let expected = events * plan.subscribers as u64;
    json!({
        "mode": "events-delivery",
        "target": plan.spec.to_string(),
        "rate": plan.rate,
        "subscribers": plan.subscribers,
        "duration_secs": plan.duration.as_secs_f64(),
        "events": events,
        "achieved_rate": round(events as f64 / run.written.elapsed.as_secs_f64(), 1),
        "delivered": delivered,
        "missed": expected.saturating_sub(delivered),
        "gaps": gaps,
        "out_of_order": out_of_order,
        "reads": reads,
        "delivered_per_read": (reads > 0).then(|| round(delivered as f64 / reads as f64, 2)),
        "latency_p50_us": (delivered > 0).then(|| round(latencies.quantile_us(0.5), 1)),
        "latency_p99_us": (delivered > 0).then(|| round(latencies.quantile_us(0.99), 1)),
        "latency_p999_us": (delivered > 0).then(|| round(latencies.quantile_us(0.999), 1)),
        "latency_max_us": (delivered > 0).then(|| round(latencies.max_us(), 1)),
        "elapsed_secs": round(run.elapsed.as_secs_f64(), 3),
        "server_cpu_us": round(cpu_us, 0),
        "server_cpu_us_per_event": per(events),
        "server_cpu_us_per_delivered": per(delivered),
        "server_rss_bytes": run.server_rss,
        "server_source": run.source,
        "client_cpu_us": run.client_cpu.map(|cpu| round(cpu.as_secs_f64() * 1e6, 0)),
    })
}

/// The report as a few lines of text.
fn report_text(report: &Value) -> String {
    let field = |name: &str| match &report[name] {
        Value::Null => "-".to_owned(),
        value => value.to_string(),
    };
    format!(
        "events-delivery {target}: {subscribers} subscribers, rate {rate}/s for {duration}s\n\
         written   {events} events ({achieved}/s)\n\
         delivered {delivered} (missed {missed}, gaps {gaps}, out of order {ooo}) in {reads} reads\n\
         latency   p50 {p50} us  p99 {p99} us  p99.9 {p999} us  max {max} us\n\
         server    {cpu} us CPU: {per_event} us/event, {per_delivered} us/delivered; RSS {rss} B\n\
         client    {client} us CPU\n",
        target = field("target").trim_matches('"'),
        subscribers = field("subscribers"),
        rate = field("rate"),
        duration = field("duration_secs"),
        events = field("events"),
        achieved = field("achieved_rate"),
        delivered = field("delivered"),
        missed = field("missed"),
        gaps = field("gaps"),
        ooo = field("out_of_order"),
        reads = field("reads"),
        p50 = field("latency_p50_us"),
        p99 = field("latency_p99_us"),
        p999 = field("latency_p999_us"),
        max = field("latency_max_us"),
        cpu = field("server_cpu_us"),
        per_event = field("server_cpu_us_per_event"),
        per_delivered = field("server_cpu_us_per_delivered"),
        rss = field("server_rss_bytes"),
        client = field("client_cpu_us"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(rate: f64, secs: f64) -> EventsPlan {
        EventsPlan {
            spec: "sessiond://127.0.0.1:1".parse().unwrap(),
            rate,
            subscribers: 1,
            duration: Duration::from_secs_f64(secs),
            cpu_of: Vec::new(),
        }
    }

    #[test]
    fn the_schedule_is_whole_sessions() {
        assert_eq!(plan(10_000.0, 10.0).events(), 100_000);
        assert_eq!(
            plan(3.0, 1.0).events(),
            4,
            "a creation without its deletion is rounded up"
        );
    }

    #[test]
    fn requests_alternate_creation_and_deletion_of_one_session() {
        let Request::Create(new) = request(9, 4) else {
            panic!("even requests create");
        };
        assert_eq!(new.id, Some(event_id(9, 2)));
        assert!(matches!(request(9, 5), Request::Delete { id } if id == event_id(9, 2)));
    }

    #[test]
    fn the_writer_accepts_only_the_success_it_expects() {
        let delete = Request::Delete { id: event_id(1, 1) };
        assert!(check(&delete, Ok(Reply::Bool(true))).is_ok());
        assert!(
            check(&delete, Ok(Reply::Bool(false))).is_err(),
            "no session: no event"
        );
        assert!(check(&request(1, 0), Ok(Reply::Id(event_id(1, 0)))).is_ok());
        assert!(check(&request(1, 0), Ok(Reply::Done)).is_err());
    }
}
