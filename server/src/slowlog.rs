//! The slow log and the latency monitor of the Redis face (SLOWLOG and
//! LATENCY), both in bounded memory.
//!
//! A command is timed once (two clock reads around its handler, in
//! `resp/mod.rs`); only a command at or over a threshold
//! (`slowlog-log-slower-than`, `latency-monitor-threshold`, read from
//! [`LiveConfig`](crate::live::LiveConfig)) takes the lock here, so the
//! common path adds no shared write.
//!
//! The slow log keeps the newest entries, at most `slowlog-max-len` and
//! never more than [`MAX_ENTRIES`]; each keeps at most 32 arguments of at
//! most 128 bytes, as Redis does. The latency monitor keeps, per event
//! (`command`, `fast-command`), the worst latency of each of its last 160
//! seconds with one and the worst ever, as Redis does.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;

/// The most entries the slow log holds, whatever `slowlog-max-len` says:
/// 32 arguments of 128 bytes each bound one entry to about 4 KiB, so the
/// log stays under 4 MiB.
pub(crate) const MAX_ENTRIES: usize = 1024;

/// Arguments kept per entry (the last says how many more there were).
const MAX_ARGS: usize = 32;

/// Bytes kept per argument.
const MAX_ARG_BYTES: usize = 128;

/// Samples kept per latency event, one per second (Redis's 160).
const SAMPLES: usize = 160;

/// One slow command.
#[derive(Debug, Clone)]
pub(crate) struct SlowEntry {
    pub id: u64,
    /// Unix seconds when it ran.
    pub time: u64,
    pub duration: Duration,
    pub args: Vec<Bytes>,
    /// `ip:port` of the client.
    pub peer: String,
    pub name: Bytes,
}

#[derive(Default)]
struct Log {
    next_id: u64,
    entries: VecDeque<SlowEntry>,
}

/// The slow log: newest first.
#[derive(Default)]
pub(crate) struct SlowLog(Mutex<Log>);

impl SlowLog {
    /// Records a command (`args`: its name first) that took `took`,
    /// keeping at most `max_len` entries.
    pub(crate) fn record(
        &self,
        max_len: u64,
        now_s: u64,
        took: Duration,
        args: &[Bytes],
        peer: String,
        name: Bytes,
    ) {
        let keep = usize::try_from(max_len)
            .unwrap_or(usize::MAX)
            .min(MAX_ENTRIES);
        let mut kept: Vec<Bytes> = Vec::with_capacity(args.len().min(MAX_ARGS));
        for (i, arg) in args.iter().enumerate() {
            if i == MAX_ARGS - 1 && args.len() > MAX_ARGS {
                let more = args.len() - i;
                kept.push(Bytes::from(format!("... ({more} more arguments)")));
                break;
            }
            kept.push(match arg.len() > MAX_ARG_BYTES {
                true => {
                    let mut cut = arg[..MAX_ARG_BYTES].to_vec();
                    let more = arg.len() - MAX_ARG_BYTES;
                    cut.extend_from_slice(format!("... ({more} more bytes)").as_bytes());
                    Bytes::from(cut)
                }
                // Copied: a slice would keep the connection's whole read
                // buffer alive for as long as the entry lives.
                false => Bytes::copy_from_slice(arg),
            });
        }
        let mut log = self.0.lock();
        let id = log.next_id;
        log.next_id += 1;
        log.entries.push_front(SlowEntry {
            id,
            time: now_s,
            duration: took,
            args: kept,
            peer,
            name,
        });
        log.entries.truncate(keep);
    }

    /// The newest `count` entries (all with `None`).
    pub(crate) fn newest(&self, count: Option<usize>) -> Vec<SlowEntry> {
        let log = self.0.lock();
        let n = count.unwrap_or(usize::MAX).min(log.entries.len());
        log.entries.iter().take(n).cloned().collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.lock().entries.len()
    }

    /// Empties the log (ids go on from where they were, as in Redis).
    pub(crate) fn reset(&self) {
        self.0.lock().entries.clear();
    }

    /// Shortens the log to `max_len` now (CONFIG SET slowlog-max-len).
    pub(crate) fn trim(&self, max_len: u64) {
        let keep = usize::try_from(max_len)
            .unwrap_or(usize::MAX)
            .min(MAX_ENTRIES);
        self.0.lock().entries.truncate(keep);
    }
}

/// One latency event's history.
#[derive(Debug, Clone)]
pub(crate) struct EventSeries {
    pub name: &'static str,
    /// `(unix second, worst milliseconds in it)`, oldest first.
    pub samples: VecDeque<(u64, u64)>,
    /// The worst ever, in milliseconds.
    pub max: u64,
}

/// The latency monitor's events.
#[derive(Default)]
pub(crate) struct LatencyMonitor(Mutex<Vec<EventSeries>>);

impl LatencyMonitor {
    /// Records that `event` took `ms` milliseconds at `now_s`.
    pub(crate) fn record(&self, event: &'static str, now_s: u64, ms: u64) {
        let mut events = self.0.lock();
        let series = match events.iter().position(|e| e.name == event) {
            Some(i) => &mut events[i],
            None => {
                events.push(EventSeries {
                    name: event,
                    samples: VecDeque::with_capacity(SAMPLES),
                    max: 0,
                });
                events.last_mut().expect("just pushed")
            }
        };
        series.max = series.max.max(ms);
        match series.samples.back_mut() {
            Some((second, worst)) if *second == now_s => *worst = (*worst).max(ms),
            _ => {
                if series.samples.len() == SAMPLES {
                    series.samples.pop_front();
                }
                series.samples.push_back((now_s, ms));
            }
        }
    }

    /// Every event with samples.
    pub(crate) fn events(&self) -> Vec<EventSeries> {
        self.0.lock().clone()
    }

    /// Forgets the events named (all with `None`); how many it forgot.
    pub(crate) fn reset(&self, names: Option<&[Bytes]>) -> usize {
        let mut events = self.0.lock();
        let before = events.len();
        match names {
            None => events.clear(),
            Some(names) => events.retain(|e| !names.iter().any(|n| &n[..] == e.name.as_bytes())),
        }
        before - events.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slow_log_is_newest_first_and_bounded() {
        let log = SlowLog::default();
        for i in 0..5 {
            let args = [Bytes::from("get"), Bytes::from(format!("k{i}"))];
            log.record(
                3,
                100,
                Duration::from_micros(i),
                &args,
                "a:1".into(),
                Bytes::new(),
            );
        }
        let newest = log.newest(None);
        assert_eq!(newest.len(), 3);
        assert_eq!(newest[0].id, 4);
        assert_eq!(&newest[0].args[1][..], b"k4");
        assert_eq!(log.newest(Some(1)).len(), 1);
        log.trim(1);
        assert_eq!(log.len(), 1);
        log.reset();
        assert_eq!(log.len(), 0);
        let huge = 1u64 << 40;
        log.record(
            huge,
            1,
            Duration::ZERO,
            &[Bytes::from("x")],
            String::new(),
            Bytes::new(),
        );
        assert_eq!(log.newest(None)[0].id, 5, "ids go on after a reset");
    }

    #[test]
    fn long_commands_are_cut_as_redis_cuts_them() {
        let log = SlowLog::default();
        let mut args: Vec<Bytes> = (0..40).map(|i| Bytes::from(format!("a{i}"))).collect();
        args[1] = Bytes::from(vec![b'x'; 200]);
        log.record(10, 1, Duration::ZERO, &args, String::new(), Bytes::new());
        let entry = &log.newest(None)[0];
        assert_eq!(entry.args.len(), 32);
        assert_eq!(&entry.args[31][..], b"... (9 more arguments)");
        let cut = String::from_utf8(entry.args[1].to_vec()).unwrap();
        assert!(cut.ends_with("... (72 more bytes)"), "{cut}");
        assert_eq!(cut.len(), 128 + "... (72 more bytes)".len());
    }

    #[test]
    fn latency_keeps_the_worst_per_second_and_ever() {
        let monitor = LatencyMonitor::default();
        monitor.record("command", 10, 5);
        monitor.record("command", 10, 7);
        monitor.record("command", 11, 2);
        for s in 0..200 {
            monitor.record("fast-command", 100 + s, 1);
        }
        let events = monitor.events();
        assert_eq!(events[0].samples, [(10, 7), (11, 2)]);
        assert_eq!(events[0].max, 7);
        assert_eq!(events[1].samples.len(), SAMPLES);
        assert_eq!(monitor.reset(Some(&[Bytes::from("command")])), 1);
        assert_eq!(monitor.reset(None), 1);
    }
}
