//! The metrics a Prometheus server scrapes, in its text format, written by
//! prometheus-client's encoder.
//!
//! Nothing here is counted twice: the daemon already keeps every figure
//! (the server's counters in `stats.rs`, the engine's in `Store::stats`
//! and `Store::persistence`), so one [`Collector`] reads them at scrape
//! time and describes them to the encoder. Registering live
//! prometheus-client counters instead would mean bumping them beside the
//! existing ones on the hot path, and its histogram takes a lock per
//! observation.
//!
//! Replication role and lag are not here: the daemon does not replicate.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet, prometheus_text};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::Shared;
use crate::outcome;
use crate::stats::{Counters, cpu_micros, resident_bytes};
use sessiond::FsyncPolicy;

/// The `Content-Type` of what [`Exporter::render`] writes.
pub(crate) const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The registry the metrics listener renders on every scrape.
#[derive(Debug)]
pub(crate) struct Exporter {
    registry: Registry,
}

impl Exporter {
    /// An exporter of this server's figures.
    pub(crate) fn new(shared: Arc<Shared>) -> Exporter {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Figures {
            shared,
            outcomes: outcome::names(),
        }));
        Exporter { registry }
    }

    /// Every metric now, in the Prometheus text format (version 0.0.4).
    pub(crate) fn render(&self) -> Result<String, fmt::Error> {
        let mut text = String::with_capacity(16 * 1024);
        prometheus_text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// Reads the server's and the store's figures at each scrape.
struct Figures {
    shared: Arc<Shared>,
    /// Outcome labels, by index.
    outcomes: Vec<String>,
}

impl fmt::Debug for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Figures").finish_non_exhaustive()
    }
}

/// One unlabelled sample: name (a counter's without `_total`, which the
/// encoder adds), help, type, value.
type Plain<'a> = (&'a str, &'a str, MetricType, u64);

/// Writes unlabelled samples.
fn plain(encoder: &mut DescriptorEncoder, samples: &[Plain<'_>]) -> fmt::Result {
    for &(name, help, kind, value) in samples {
        let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
        match kind {
            MetricType::Counter => metric.encode_counter::<NoLabelSet, _, u64>(&value, None)?,
            _ => metric.encode_gauge(&value)?,
        }
    }
    Ok(())
}

impl Collector for Figures {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        use MetricType::{Counter, Gauge};
        let shared = &self.shared;
        let version = [("version", env!("CARGO_PKG_VERSION"))];
        encoder
            .encode_descriptor(
                "sessiond_build",
                "The daemon's version",
                None,
                MetricType::Info,
            )?
            .encode_info(&version)?;
        self.requests(&mut encoder)?;
        self.latency(&mut encoder)?;

        let store = shared.store.stats();
        let server = &shared.stats;
        let read = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        // One line per metric reads as a table; rustfmt would stack them.
        #[rustfmt::skip]
        let figures: [Plain<'_>; 12] = [
            ("sessiond_sessions", "Sessions held (expired ones until swept, within a second)", Gauge, store.sessions),
            ("sessiond_keys", "Plain keys held", Gauge, store.keys),
            ("sessiond_owners", "Owners with at least one session", Gauge, store.owners),
            ("sessiond_memory_accounted_bytes", "Bytes the store accounts for its entries, which the memory limit bounds", Gauge, store.bytes_used),
            ("sessiond_expired_sessions", "Sessions removed because they expired", Counter, store.expired_sessions),
            ("sessiond_expired_keys", "Keys removed because they expired", Counter, store.expired_keys),
            ("sessiond_evicted_sessions", "Sessions evicted to stay under the memory limit", Counter, store.evicted_sessions),
            ("sessiond_owner_limit_evictions", "Sessions ended to keep an owner under its session limit", Counter, store.limit_evictions),
            ("sessiond_connections", "Client connections open now, both faces", Gauge, read(&server.connections)),
            ("sessiond_connections_accepted", "Client connections served since start", Counter, read(&server.connections_total)),
            ("sessiond_connections_refused", "Client connections refused at the connection limit", Counter, read(&server.connections_refused)),
            ("sessiond_auth_failures", "Wrong tokens offered, both faces and the metrics", Counter, read(&server.auth_failures)),
        ];
        plain(&mut encoder, &figures)?;
        if let Some(limit) = store.memory_limit {
            let help = "The memory limit in accounted bytes (absent: none)";
            plain(
                &mut encoder,
                &[("sessiond_memory_limit_bytes", help, Gauge, limit)],
            )?;
        }
        self.process(&mut encoder)?;
        self.persistence(&mut encoder)?;
        self.replication(&mut encoder)
    }
}

impl Figures {
    /// `sessiond_requests_total{face, command, outcome}`: every success
    /// row, so that each command has a series from the start, and every
    /// failure that happened.
    fn requests(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let help = "Requests answered, by face, command and outcome (ok, or why it failed)";
        let mut metric =
            encoder.encode_descriptor("sessiond_requests", help, None, MetricType::Counter)?;
        let ok = outcome::Outcome::OK.index();
        for (face, counters) in self.faces() {
            for (command, outcome, count) in counters.cells() {
                if count == 0 && (outcome != ok || command == "unknown") {
                    continue;
                }
                let labels = [
                    ("face", face),
                    ("command", command),
                    ("outcome", self.outcomes[outcome].as_str()),
                ];
                metric
                    .encode_family(&labels)?
                    .encode_counter::<NoLabelSet, _, u64>(&count, None)?;
            }
        }
        Ok(())
    }

    /// `sessiond_request_duration_seconds{face}`.
    fn latency(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let help = "Time from reading a request to writing its answer, measured per batch";
        let mut metric = encoder.encode_descriptor(
            "sessiond_request_duration_seconds",
            help,
            None,
            MetricType::Histogram,
        )?;
        for (face, counters) in self.faces() {
            let reading = counters.latency.read();
            metric
                .encode_family(&[("face", face)])?
                .encode_histogram::<NoLabelSet>(
                    reading.sum,
                    reading.count,
                    &reading.buckets,
                    None,
                )?;
        }
        Ok(())
    }

    /// The process's memory and CPU, under the names Prometheus's own
    /// process collectors use, so that stock dashboards find them.
    fn process(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        if let Some(rss) = resident_bytes() {
            let help = "Resident memory of the daemon";
            plain(
                encoder,
                &[(
                    "process_resident_memory_bytes",
                    help,
                    MetricType::Gauge,
                    rss,
                )],
            )?;
        }
        if let Some(micros) = cpu_micros() {
            let help = "CPU time used by the daemon, user and system";
            encoder
                .encode_descriptor("process_cpu_seconds", help, None, MetricType::Counter)?
                .encode_counter::<NoLabelSet, _, u64>(&(micros as f64 / 1e6), None)?;
        }
        Ok(())
    }

    /// Whether the store is on disk, and if so how its log stands.
    fn persistence(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        use MetricType::{Counter, Gauge};
        let persist = self.shared.store.persistence();
        let help = "1 if the store is kept on disk (--data-dir), 0 if in memory only";
        let enabled = u64::from(persist.is_some());
        plain(
            encoder,
            &[("sessiond_persistence_enabled", help, Gauge, enabled)],
        )?;
        let Some(persist) = persist else {
            return Ok(());
        };
        let policy = match persist.fsync {
            FsyncPolicy::No => "no",
            FsyncPolicy::EverySec => "everysec",
            FsyncPolicy::Always => "always",
        };
        let help = "The fsync policy, as a label of a constant 1";
        encoder
            .encode_descriptor("sessiond_persist_fsync_policy", help, None, Gauge)?
            .encode_family(&[("policy", policy)])?
            .encode_gauge(&1u64)?;
        let refusing = u64::from(persist.refusing_writes.is_some());
        #[rustfmt::skip]
        let figures: [Plain<'_>; 4] = [
            ("sessiond_persist_writes_refused", "1 while writes are refused because the log cannot be written or synced (a full or failing disk)", Gauge, refusing),
            ("sessiond_persist_log_bytes", "Bytes of log written since the newest snapshot", Gauge, persist.log_bytes),
            ("sessiond_persist_unsynced_bytes", "Bytes of log written but not yet fsynced", Gauge, persist.unsynced_bytes),
            ("sessiond_persist_compactions", "Compactions (snapshots) finished since start", Counter, persist.compactions),
        ];
        plain(encoder, &figures)
    }

    /// In a replication group: this node's role, term and progress.
    fn replication(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        use crate::replication::Role;
        use MetricType::Gauge;
        if self.shared.replication().is_none() {
            return Ok(());
        }
        let view = self.shared.group_view();
        let role = match view.role {
            Role::Leader | Role::Standalone => "leader",
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Learner => "learner",
        };
        let help = "This node's role in its replication group, as a label of a constant 1";
        encoder
            .encode_descriptor("sessiond_replication_role", help, None, Gauge)?
            .encode_family(&[("role", role)])?
            .encode_gauge(&1u64)?;
        #[rustfmt::skip]
        let figures: [Plain<'_>; 4] = [
            ("sessiond_replication_term", "The raft term this node is in", Gauge, view.term),
            ("sessiond_replication_log_index", "The last index in this node's replicated log", Gauge, view.last_log_index),
            ("sessiond_replication_applied_index", "The last log index applied to this node's store", Gauge, view.applied_index),
            ("sessiond_replication_members", "Members of the group, voters and learners", Gauge, view.members.len() as u64),
        ];
        plain(encoder, &figures)
    }

    fn faces(&self) -> [(&'static str, &Counters); 2] {
        let stats = &self.shared.stats;
        [("native", &stats.native), ("resp", &stats.resp)]
    }
}
