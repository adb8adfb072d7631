//! Request latency, per face, as a histogram with fixed buckets.
//!
//! Timing every request would cost a clock read each; instead the driver
//! reads the clock once per batch, after its answers are written, and the
//! batch's time since its input was read is recorded once, weighted by
//! the requests it answered. That is the latency each of them saw from
//! the server: pipelined requests are answered together, in one write, so
//! none of them is answered sooner than the batch. Recording is two shared
//! atomic additions per batch (the bucket, the sum); the count is the sum
//! of the buckets, read at scrape time.
//!
//! The histogram is ours rather than prometheus-client's because that one
//! takes a lock on every observation; its encoder still writes this one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in nanoseconds: from 25 µs (a request
/// answered from memory) to 2.5 s (a stalled disk under `fsync always`).
const BOUNDS_NANOS: [u64; 16] = [
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
];

/// One face's latency histogram, shared by its connections.
#[derive(Debug)]
pub(crate) struct Latency {
    /// Requests per bucket (not cumulative); the last is above every bound.
    buckets: [AtomicU64; BOUNDS_NANOS.len() + 1],
    /// Nanoseconds, summed over requests.
    sum_nanos: AtomicU64,
}

/// What a scrape reads of a [`Latency`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reading {
    /// Seconds, summed over requests.
    pub sum: f64,
    /// Requests.
    pub count: u64,
    /// Each bucket's upper bound in seconds (the last infinite) and its
    /// requests, not cumulative.
    pub buckets: Vec<(f64, u64)>,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
        }
    }
}

impl Latency {
    /// Records `requests` requests that each took `took`.
    pub(crate) fn record(&self, took: Duration, requests: u64) {
        if requests == 0 {
            return;
        }
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let bucket = BOUNDS_NANOS.partition_point(|bound| *bound < nanos);
        self.buckets[bucket].fetch_add(requests, Ordering::Relaxed);
        self.sum_nanos
            .fetch_add(nanos.saturating_mul(requests), Ordering::Relaxed);
    }

    /// The histogram now.
    pub(crate) fn read(&self) -> Reading {
        let bounds = BOUNDS_NANOS
            .iter()
            .map(|nanos| *nanos as f64 / 1e9)
            .chain(std::iter::once(f64::INFINITY));
        let buckets: Vec<(f64, u64)> = bounds
            .zip(&self.buckets)
            .map(|(bound, count)| (bound, count.load(Ordering::Relaxed)))
            .collect();
        Reading {
            sum: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            count: buckets.iter().map(|(_, n)| n).sum(),
            buckets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_lands_in_its_bucket_weighted_by_its_requests() {
        let latency = Latency::default();
        latency.record(Duration::from_micros(30), 3);
        latency.record(Duration::from_micros(50), 1);
        latency.record(Duration::from_secs(10), 2);
        latency.record(Duration::from_secs(1), 0);
        let reading = latency.read();
        assert_eq!(reading.count, 6);
        assert_eq!(reading.buckets[0], (25e-6, 0));
        // A bound is inclusive, as Prometheus's `le` says.
        assert_eq!(reading.buckets[1], (50e-6, 4));
        assert_eq!(reading.buckets.last(), Some(&(f64::INFINITY, 2)));
        assert!((reading.sum - (90e-6 + 50e-6 + 20.0)).abs() < 1e-9);
    }
}
