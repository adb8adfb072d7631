//! What a run found, shown as a short table for people or as one JSON
//! object for scripts.
//!
//! The JSON field names are an interface: scripts that track performance
//! over time read them, so fields may be added but not renamed.

use std::time::Duration;

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value, json};

use crate::target::{BatchLatency, MemorySource, OpKind};
use crate::workload::{Plan, RunResult, Workload};

/// A progress bar on stderr for `len` steps; hidden when `hidden` (and by
/// indicatif whenever stderr is not a terminal).
pub fn progress_bar(len: u64, message: &'static str, hidden: bool) -> ProgressBar {
    let target = if hidden {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let style = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
        .expect("the template is valid")
        .progress_chars("=> ");
    ProgressBar::with_draw_target(Some(len), target)
        .with_style(style)
        .with_message(message)
}

/// Memory of the target around the prefill.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// Resident bytes before the prefill.
    pub rss_before: u64,
    /// Resident bytes after the prefill.
    pub rss_after: u64,
    /// Bytes the store accounts for before the prefill, if it says.
    pub bytes_used_before: Option<u64>,
    /// Bytes the store accounts for after the prefill, if it says.
    pub bytes_used: Option<u64>,
    /// What the two figures measure.
    pub source: MemorySource,
}

impl Memory {
    /// Growth of the resident set per prefilled session (or key).
    pub fn bytes_per_session(&self, population: u64) -> f64 {
        self.rss_after.saturating_sub(self.rss_before) as f64 / population as f64
    }

    /// Growth of the store's accounted bytes over the prefill, if it
    /// reports them (for a new embedded store, all it accounts for; for a
    /// server, without its baseline).
    pub fn used_growth(&self) -> Option<u64> {
        let before = self.bytes_used_before.unwrap_or(0);
        self.bytes_used.map(|after| after.saturating_sub(before))
    }
}

/// Everything a run reports.
pub struct Report<'a> {
    /// The target's name as given to `--target`.
    pub target: String,
    /// What was run.
    pub plan: &'a Plan,
    /// `--per-owner`.
    pub per_owner: u64,
    /// How long the prefill took.
    pub prefill: Duration,
    /// Memory around the prefill.
    pub memory: Memory,
    /// How a batch's time was charged to its operations.
    pub batch_latency: BatchLatency,
    /// The timed run; `None` with `--memory-only`.
    pub run: Option<RunResult>,
}

impl Report<'_> {
    /// The report as one JSON object. With `--memory-only` the operation
    /// counts are zero, the latencies null and `per_op` empty.
    pub fn to_json(&self) -> Value {
        let plan = self.plan;
        let population = plan.population;
        let mut object = json!({
            "target": self.target,
            "workload": plan.workload.name(),
            "sessions": population,
            "data_size": plan.payload.len(),
            "per_owner": self.per_owner,
            "clients": plan.clients,
            "pipeline": plan.pipeline,
            "batch_latency": self.batch_latency.name(),
            "memory_only": self.run.is_none(),
            "prefill_secs": round(self.prefill.as_secs_f64(), 3),
            "rss_before_bytes": self.memory.rss_before,
            "rss_bytes": self.memory.rss_after,
            "bytes_per_session": round(self.memory.bytes_per_session(population), 1),
            "bytes_used_before": self.memory.bytes_used_before,
            "bytes_used": self.memory.bytes_used,
            "bytes_used_per_session": self.memory.used_growth().map(|b| round(b as f64 / population as f64, 1)),
            "rss_source": self.memory.source.resident,
            "bytes_used_source": self.memory.source.used,
        });
        let fields = object.as_object_mut().expect("built as an object");
        match &self.run {
            Some(run) => fields.extend(run_json(run)),
            None => fields.extend(empty_run_json()),
        }
        object
    }

    /// The report as a few lines of text.
    pub fn to_text(&self) -> String {
        let mut text = self.settings_line() + &self.prefill_line() + &self.memory_line();
        if let Some(run) = &self.run {
            text += &run_text(run);
        }
        text
    }

    fn settings_line(&self) -> String {
        let plan = self.plan;
        let owners = match plan.workload {
            Workload::SessionMix => format!(" ({} per owner)", self.per_owner),
            Workload::Get | Workload::Set => String::new(),
        };
        let latency = match (plan.pipeline, self.batch_latency) {
            (1, _) => "",
            (_, BatchLatency::Share) => " (latency: each op's share of its batch)",
            (_, BatchLatency::RoundTrip) => " (latency: each op's batch round trip)",
        };
        format!(
            "target {}, workload {}: {} {} of {} bytes{owners}, {} clients, pipeline {}{latency}\n",
            self.target,
            plan.workload.name(),
            plan.population,
            plan.workload.items(),
            plan.payload.len(),
            plan.clients,
            plan.pipeline,
        )
    }

    fn prefill_line(&self) -> String {
        let secs = self.prefill.as_secs_f64();
        let population = self.plan.population;
        format!(
            "prefill  {population} in {secs:.2} s ({:.0}/s)\n",
            population as f64 / secs
        )
    }

    fn memory_line(&self) -> String {
        let memory = &self.memory;
        let population = self.plan.population;
        let item = self.plan.workload.item();
        let mut line = format!(
            "memory   {} {} after prefill (+{}, {:.1} bytes per {item})",
            memory.source.resident,
            mib(memory.rss_after),
            mib(memory.rss_after.saturating_sub(memory.rss_before)),
            memory.bytes_per_session(population),
        );
        if let (Some(used), Some(growth)) = (memory.bytes_used, memory.used_growth()) {
            line += &format!(
                "; {} {} (+{}, {:.1} bytes per {item})",
                memory.source.used,
                mib(used),
                mib(growth),
                growth as f64 / population as f64,
            );
        }
        line + "\n"
    }
}

/// The run's fields of the JSON report.
fn run_json(run: &RunResult) -> Map<String, Value> {
    let overall = run.recorder.overall();
    let secs = run.elapsed.as_secs_f64();
    let mut per_op = Map::new();
    for kind in OpKind::ALL {
        let histogram = run.recorder.histogram(kind);
        if histogram.is_empty() {
            continue;
        }
        let mut entry = latency_json(histogram);
        entry.insert(
            "ops_per_sec".into(),
            json!(round(histogram.len() as f64 / secs, 1)),
        );
        entry.insert("misses".into(), json!(run.recorder.misses(kind)));
        per_op.insert(kind.name().into(), Value::Object(entry));
    }
    let mut fields = latency_json(&overall);
    fields.insert("duration_secs".into(), json!(round(secs, 3)));
    fields.insert(
        "ops_per_sec".into(),
        json!(round(overall.len() as f64 / secs, 1)),
    );
    fields.insert("per_op".into(), Value::Object(per_op));
    fields.insert(
        "server_cpu_us_per_op".into(),
        json!(run.server_cpu_per_op().map(|us| round(us, 2))),
    );
    if run.other_cpu.is_some() {
        fields.insert(
            "other_cpu_us_per_op".into(),
            json!(run.other_cpu_per_op().map(|us| round(us, 2))),
        );
    }
    fields
}

/// The run's fields of the JSON report when there was no run.
fn empty_run_json() -> Map<String, Value> {
    [
        ("duration_secs", json!(0.0)),
        ("ops", json!(0)),
        ("ops_per_sec", json!(0.0)),
        ("p50_us", Value::Null),
        ("p99_us", Value::Null),
        ("p999_us", Value::Null),
        ("per_op", json!({})),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}

/// `ops`, `p50_us`, `p99_us` and `p999_us` of a histogram.
fn latency_json(histogram: &Histogram<u64>) -> Map<String, Value> {
    let [p50, p99, p999] = percentiles_us(histogram);
    let mut fields = Map::new();
    fields.insert("ops".into(), json!(histogram.len()));
    fields.insert("p50_us".into(), json!(p50));
    fields.insert("p99_us".into(), json!(p99));
    fields.insert("p999_us".into(), json!(p999));
    fields
}

/// The run as a table: one row per kind of operation, then the total.
fn run_text(run: &RunResult) -> String {
    let secs = run.elapsed.as_secs_f64();
    let overall = run.recorder.overall();
    let mut text = format!(
        "run      {secs:.2} s: {} ops, {:.0} ops/s\n\n",
        overall.len(),
        overall.len() as f64 / secs
    );
    text += &format!(
        "{:<10} {:>10} {:>12} {:>9} {:>9} {:>9} {:>8}\n",
        "op", "ops", "ops/s", "p50 us", "p99 us", "p999 us", "misses"
    );
    for kind in OpKind::ALL {
        let histogram = run.recorder.histogram(kind);
        if !histogram.is_empty() {
            text += &table_row(kind.name(), histogram, secs, run.recorder.misses(kind));
        }
    }
    let misses = OpKind::ALL.iter().map(|&k| run.recorder.misses(k)).sum();
    text += &table_row("all", &overall, secs, misses);
    if let Some(us) = run.server_cpu_per_op() {
        text += &format!("\nserver   {us:.2} µs of CPU per operation (user + system)\n");
    }
    if let Some(us) = run.other_cpu_per_op() {
        text += &format!("others   {us:.2} µs of CPU per operation (--cpu-of)\n");
    }
    text
}

fn table_row(name: &str, histogram: &Histogram<u64>, secs: f64, misses: u64) -> String {
    let [p50, p99, p999] = percentiles_us(histogram);
    format!(
        "{name:<10} {:>10} {:>12.0} {p50:>9.2} {p99:>9.2} {p999:>9.2} {misses:>8}\n",
        histogram.len(),
        histogram.len() as f64 / secs,
    )
}

/// p50, p99 and p99.9 in microseconds (the histogram holds nanoseconds).
fn percentiles_us(histogram: &Histogram<u64>) -> [f64; 3] {
    [0.5, 0.99, 0.999].map(|q| round(histogram.value_at_quantile(q) as f64 / 1000.0, 3))
}

/// `value` rounded to `decimals` decimal places, for reports.
pub fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
