//! The bookkeeping of `--events-delivery`: which request made an event,
//! when it was sent, and how long the event took to reach a subscriber.
//!
//! The writer and every subscriber run in this one process and read one
//! monotonic clock ([`SendClock`]), so a latency is a difference of two
//! readings of it, with no clock skew to correct. The writer chooses each
//! session's id ([`event_id`]): the id names the run and the writer's
//! pair number, so a subscriber finds the send time of the request behind
//! an event from the event alone, without a lookup table shared under a
//! lock (100 subscribers at 10 000 events/s are a million look-ups a
//! second, which one mutex would serialise).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use sessiond::SessionId;
use sessiond_protocol::{Event, EventKind};

/// The id of the session of pair `pair` of the run `nonce`: the pair
/// number XOR the nonce in the first 8 bytes, the nonce in the last 8
/// (both big-endian). The first 8 differ between pairs because the store
/// refuses two live sessions with one prefix (it indexes them by it).
/// Event `2 * pair` is the session's creation, `2 * pair + 1` its deletion.
pub fn event_id(nonce: u64, pair: u64) -> SessionId {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&(pair ^ nonce).to_be_bytes());
    bytes[8..].copy_from_slice(&nonce.to_be_bytes());
    SessionId::from_bytes(bytes)
}

/// The writer's number of the request that made `event`, if the run
/// `nonce` made it: a creation or an end of one of its sessions. Other
/// events (another client's, an earlier run's) are `None`.
pub fn event_number(nonce: u64, event: &Event) -> Option<u64> {
    let (prefix, run) = event.id.as_bytes().split_at(8);
    if run != nonce.to_be_bytes() {
        return None;
    }
    let pair = u64::from_be_bytes(prefix.try_into().ok()?) ^ nonce;
    let second = match event.kind {
        EventKind::Created => 0,
        EventKind::Ended { .. } => 1,
        EventKind::Rotated { .. } | EventKind::Updated => return None,
    };
    pair.checked_mul(2)?.checked_add(second)
}

/// When each of the writer's requests was sent: one slot per request
/// number, written once by the writer and read by every subscriber.
pub struct SendClock {
    base: Instant,
    /// Nanoseconds after `base`, plus one; 0 while not sent.
    sent: Vec<AtomicU64>,
}

impl SendClock {
    /// A clock for requests numbered `0..capacity`.
    pub fn new(capacity: usize) -> Self {
        SendClock {
            base: Instant::now(),
            sent: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Now, on this clock.
    pub fn now(&self) -> u64 {
        nanos(self.base.elapsed())
    }

    /// Notes that request `n` is sent at `at` (from [`SendClock::now`]).
    /// The writer calls it before the request's bytes leave, so a
    /// subscriber can never see the event before its send time.
    pub fn mark(&self, n: u64, at: u64) {
        if let Some(slot) = self.sent.get(n as usize) {
            slot.store(at.saturating_add(1), Ordering::Release);
        }
    }

    /// How long after request `n` was sent `received` is, if it was sent
    /// and before `received`.
    pub fn latency(&self, n: u64, received: u64) -> Option<u64> {
        let sent = self.sent.get(n as usize)?.load(Ordering::Acquire);
        let sent = sent.checked_sub(1)?;
        received.checked_sub(sent)
    }
}

fn nanos(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
}

/// A subscriber's delivery latencies, in nanoseconds.
pub struct Latencies {
    histogram: Histogram<u64>,
}

impl Latencies {
    /// Slowest latency recorded exactly; anything slower is clamped to it.
    const MAX_NANOS: u64 = 60_000_000_000;
    /// Significant decimal digits kept per value (0.1% resolution, finer
    /// than the p99.9 this measures).
    const PRECISION: u8 = 3;

    /// No latencies yet.
    pub fn new() -> Self {
        Latencies {
            histogram: Histogram::new_with_bounds(1, Self::MAX_NANOS, Self::PRECISION)
                .expect("the bounds are valid constants"),
        }
    }

    /// Records one delivery.
    pub fn record(&mut self, nanos: u64) {
        self.histogram.saturating_record(nanos.max(1));
    }

    /// Adds another subscriber's deliveries.
    pub fn merge(&mut self, other: &Latencies) {
        self.histogram
            .add(&other.histogram)
            .expect("histograms with equal bounds always merge");
    }

    /// The latency at `quantile` (0.5, 0.99, 0.999), in microseconds; 0
    /// with none recorded.
    pub fn quantile_us(&self, quantile: f64) -> f64 {
        self.histogram.value_at_quantile(quantile) as f64 / 1e3
    }

    /// The slowest delivery, in microseconds.
    pub fn max_us(&self) -> f64 {
        self.histogram.max() as f64 / 1e3
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sessiond_protocol::{EndReason, Labels};

    fn event(id: SessionId, kind: EventKind) -> Event {
        Event {
            seq: 1,
            at_ms: 0,
            kind,
            id,
            owner: b"user:1".to_vec(),
            labels: Labels::new(),
        }
    }

    #[test]
    fn an_event_names_the_request_that_made_it() {
        let id = event_id(0xABCD, 21);
        assert_eq!(
            event_number(0xABCD, &event(id, EventKind::Created)),
            Some(42)
        );
        let ended = EventKind::Ended {
            reason: EndReason::Deleted,
            note: None,
        };
        assert_eq!(event_number(0xABCD, &event(id, ended)), Some(43));
        assert_eq!(
            event_number(0xABCE, &event(id, EventKind::Created)),
            None,
            "another run"
        );
        assert_eq!(event_number(0xABCD, &event(id, EventKind::Updated)), None);
        assert_ne!(
            event_id(0xABCD, 1).prefix(),
            event_id(0xABCD, 2).prefix(),
            "the store refuses two live sessions with one prefix"
        );
    }

    #[test]
    fn latency_is_from_the_send_and_unsent_requests_have_none() {
        let clock = SendClock::new(4);
        clock.mark(2, 1_000);
        assert_eq!(clock.latency(2, 3_500), Some(2_500));
        assert_eq!(clock.latency(1, 3_500), None, "never sent");
        assert_eq!(clock.latency(2, 999), None, "before its send");
        assert_eq!(clock.latency(9, 3_500), None, "beyond the clock");
        clock.mark(9, 1);
        assert_eq!(clock.latency(9, 3_500), None, "marks beyond it are dropped");
        clock.mark(0, 0);
        assert_eq!(clock.latency(0, 0), Some(0), "sent at the clock's start");
    }

    #[test]
    fn merged_latencies_give_the_quantiles_of_all() {
        let mut a = Latencies::new();
        let mut b = Latencies::new();
        for us in 1..=99 {
            a.record(us * 1_000);
        }
        b.record(5_000_000);
        a.merge(&b);
        assert!(
            (a.quantile_us(0.99) - 99.0).abs() < 0.1,
            "{}",
            a.quantile_us(0.99)
        );
        assert!(
            (a.quantile_us(0.5) - 50.0).abs() < 0.1,
            "{}",
            a.quantile_us(0.5)
        );
        assert!((a.max_us() - 5_000.0).abs() < 5.0, "{}", a.max_us());
    }
}
