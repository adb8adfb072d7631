//! INFO, in Redis 7's `# Section` / `key:value` format, and CONFIG
//! RESETSTAT's zeroing of its counters.
//!
//! The numbers are the server's statistics (the ones the native STATS
//! request and the metrics read), the store's, the registry of
//! connections, and `/proc` for the process. The counters INFO shows
//! count from the last CONFIG RESETSTAT: it saves them as a baseline
//! (`Shared::info_baseline`) that INFO subtracts, so that STATS and the
//! metrics, whose counters only ever grow, are untouched.
//!
//! `keyspace`'s `expires` and `avg_ttl` walk every key (one shard lock at
//! a time): exact, and as costly as DBSIZE times the key count; Redis
//! samples, but a monitoring tool's INFO once a second is still cheap at
//! a million keys.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Instant;

use super::connection::REDIS_VERSION;
use super::replication;
use crate::Shared;
use crate::outcome;
use crate::resp::args::Args;
use crate::resp::client::Client;
use crate::resp::reply::Value;
use crate::resp::spec::Reply;

/// INFO's sections in Redis's order, and whether `INFO` without
/// arguments (or `default`) shows each.
const SECTIONS: &[(&str, bool)] = &[
    ("server", true),
    ("clients", true),
    ("memory", true),
    ("persistence", true),
    ("stats", true),
    ("replication", true),
    ("cpu", true),
    ("commandstats", false),
    ("errorstats", true),
    ("cluster", true),
    ("keyspace", true),
];

/// The counters INFO shows from the last RESETSTAT, by name: the
/// server's totals, then per command (`cmd:get:calls`, `…:nanos`,
/// `…:rejected`, `…:failed`) and per error code (`err:WRONGTYPE`).
fn counters(shared: &Shared) -> HashMap<String, u64> {
    let stats = &shared.stats;
    let read = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    let store = shared.store.stats();
    let (hits, misses) = stats.resp.hits_and_misses();
    let mut out: HashMap<String, u64> = HashMap::new();
    let mut put = |k: String, v: u64| {
        out.insert(k, v);
    };
    put(
        "total_connections_received".into(),
        read(&stats.connections_total),
    );
    put(
        "rejected_connections".into(),
        read(&stats.connections_refused),
    );
    put(
        "expired_keys".into(),
        store.expired_keys + store.expired_sessions,
    );
    put("evicted_keys".into(), store.evicted_sessions);
    put("keyspace_hits".into(), hits);
    put("keyspace_misses".into(), misses);
    put("total_net_input_bytes".into(), read(&stats.net_input_bytes));
    put(
        "total_net_output_bytes".into(),
        read(&stats.net_output_bytes),
    );
    let native: u64 = stats.native.cells().map(|(_, _, n)| n).sum();
    let mut commands = native;
    for (kind, figures) in stats.resp.figures() {
        commands += figures.calls + figures.rejected;
        put(format!("cmd:{kind}:calls"), figures.calls);
        put(format!("cmd:{kind}:nanos"), figures.nanos);
        put(format!("cmd:{kind}:rejected"), figures.rejected);
        put(format!("cmd:{kind}:failed"), figures.failed);
    }
    put("total_commands_processed".into(), commands);
    let codes = outcome::redis_codes();
    let mut errors: HashMap<&str, u64> = HashMap::new();
    for (_, outcome, n) in stats.resp.cells() {
        if !codes[outcome].is_empty() {
            *errors.entry(codes[outcome]).or_default() += n;
        }
    }
    let mut total_errors = 0;
    for (code, n) in errors {
        total_errors += n;
        put(format!("err:{code}"), n);
    }
    put("total_error_replies".into(), total_errors);
    out
}

/// CONFIG RESETSTAT: INFO's counters start again from zero.
pub(crate) fn reset_stats(shared: &Shared) {
    let now = counters(shared);
    *shared.info_baseline.lock() = now;
}

/// `INFO [section ...]`: the sections above by name, `default`, `all`,
/// `everything`; unknown sections are left out.
pub(crate) fn info(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let shared = client.shared;
    let wanted: Vec<String> = args
        .rest()
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let asked = |section: &str| wanted.iter().any(|w| w == section);
    let all = asked("all") || asked("everything");
    let default = wanted.is_empty() || asked("default");
    let stats = shared.stats.snapshot(client.store);
    let stat = |name: &str| stats.iter().find(|(n, _)| n == name).map_or(0, |(_, v)| *v);
    let now = counters(shared);
    let baseline = shared.info_baseline.lock().clone();
    let count = |name: &str| {
        let at = now.get(name).copied().unwrap_or(0);
        at.saturating_sub(baseline.get(name).copied().unwrap_or(0))
    };
    let mut text = String::new();
    for (section, by_default) in SECTIONS {
        if !(all || (default && *by_default) || asked(section)) {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        let mut lines: Vec<(String, String)> = Vec::new();
        let mut add = |k: &str, v: String| lines.push((k.to_owned(), v));
        match *section {
            "server" => {
                text.push_str("# Server\r\n");
                let uptime = shared.started.elapsed().as_secs();
                let port = shared.addresses.resp.map_or(0, |a| a.port());
                add("redis_version", REDIS_VERSION.into());
                add("sessiond_version", env!("CARGO_PKG_VERSION").into());
                add("redis_git_sha1", "00000000".into());
                add("redis_git_dirty", "0".into());
                add("redis_mode", "standalone".into());
                add("os", os_name());
                add("arch_bits", usize::BITS.to_string());
                add("multiplexing_api", "epoll".into());
                add("process_id", std::process::id().to_string());
                add("run_id", shared.run_id.clone());
                add("tcp_port", port.to_string());
                add(
                    "server_time_usec",
                    (client.store.now_ms() * 1000).to_string(),
                );
                add("uptime_in_seconds", uptime.to_string());
                add("uptime_in_days", (uptime / 86_400).to_string());
                add("hz", shared.live.hz().to_string());
                add("configured_hz", shared.live.hz().to_string());
                let exe = std::env::current_exe().map(|p| p.display().to_string());
                add("executable", exe.unwrap_or_default());
                add("config_file", String::new());
            }
            "clients" => {
                text.push_str("# Clients\r\n");
                add("connected_clients", stat("connections").to_string());
                add("cluster_connections", "0".into());
                add("maxclients", shared.live.max_clients().to_string());
                add("client_recent_max_input_buffer", "0".into());
                add("client_recent_max_output_buffer", "0".into());
                add("blocked_clients", "0".into());
                add("tracking_clients", "0".into());
                add("clients_in_timeout_table", "0".into());
            }
            "memory" => {
                text.push_str("# Memory\r\n");
                let used = stat("bytes_used");
                let rss = stat("rss_bytes");
                let max = stat("memory_limit");
                add("used_memory", used.to_string());
                add("used_memory_human", human(used));
                add("used_memory_rss", rss.to_string());
                add("used_memory_rss_human", human(rss));
                add("maxmemory", max.to_string());
                add("maxmemory_human", human(max));
                let policy = super::config::maxmemory_policy(shared);
                add("maxmemory_policy", policy);
                // The process's resident memory over what the store
                // accounts (Redis: over what its allocator handed out).
                let ratio = match used {
                    0 => 0.0,
                    used => rss as f64 / used as f64,
                };
                add("mem_fragmentation_ratio", format!("{ratio:.2}"));
                // Redis's name for what its normal clients' buffers hold:
                // here every connection's, both faces (STATS'
                // `connection_buffer_bytes`).
                add(
                    "mem_clients_normal",
                    stat("connection_buffer_bytes").to_string(),
                );
                add("mem_allocator", "libc".into());
            }
            "persistence" => {
                text.push_str("# Persistence\r\n");
                // Redis's names, so that tools that watch them work.
                let status = match stat("persist_writes_refused") {
                    0 => "ok",
                    _ => "err",
                };
                add("loading", "0".into());
                add("async_loading", "0".into());
                add("rdb_bgsave_in_progress", "0".into());
                add("rdb_last_bgsave_status", "ok".into());
                add(
                    "aof_enabled",
                    u64::from(stat("persist_fsync") > 0).to_string(),
                );
                add("aof_rewrite_in_progress", "0".into());
                add("aof_last_write_status", status.into());
                add("aof_current_size", stat("persist_log_bytes").to_string());
                add("aof_rewrites", stat("persist_compactions").to_string());
            }
            "stats" => {
                text.push_str("# Stats\r\n");
                let total = count("total_commands_processed");
                for name in ["total_connections_received", "total_commands_processed"] {
                    add(name, count(name).to_string());
                }
                add(
                    "instantaneous_ops_per_sec",
                    ops_per_sec(shared, total).to_string(),
                );
                for name in [
                    "total_net_input_bytes",
                    "total_net_output_bytes",
                    "rejected_connections",
                    "expired_keys",
                    "evicted_keys",
                    "keyspace_hits",
                    "keyspace_misses",
                ] {
                    add(name, count(name).to_string());
                }
                add("pubsub_channels", "0".into());
                add("pubsub_patterns", "0".into());
                add(
                    "total_error_replies",
                    count("total_error_replies").to_string(),
                );
                let paused = shared.clients.pause.mode();
                add("paused_actions", paused.map_or("none", pause_name).into());
            }
            "replication" => {
                text.push_str("# Replication\r\n");
                lines = replication::info_lines(&shared.group_view());
            }
            "cpu" => {
                text.push_str("# CPU\r\n");
                let (user, system) = crate::stats::cpu_seconds().unwrap_or((0.0, 0.0));
                add("used_cpu_sys", format!("{system:.6}"));
                add("used_cpu_user", format!("{user:.6}"));
                add("used_cpu_sys_children", "0.000000".into());
                add("used_cpu_user_children", "0.000000".into());
            }
            "commandstats" => {
                text.push_str("# Commandstats\r\n");
                // Like Redis, only the commands that have been called.
                for (kind, _) in shared.stats.resp.figures() {
                    let get = |what: &str| count(&format!("cmd:{kind}:{what}"));
                    let (calls, rejected, failed) = (get("calls"), get("rejected"), get("failed"));
                    if calls + rejected == 0 {
                        continue;
                    }
                    let usec = get("nanos") / 1000;
                    let per_call = match calls {
                        0 => 0.0,
                        calls => get("nanos") as f64 / 1000.0 / calls as f64,
                    };
                    add(
                        &format!("cmdstat_{kind}"),
                        format!(
                            "calls={calls},usec={usec},usec_per_call={per_call:.2},\
                             rejected_calls={rejected},failed_calls={failed}"
                        ),
                    );
                }
            }
            "errorstats" => {
                text.push_str("# Errorstats\r\n");
                let mut codes: Vec<&str> =
                    now.keys().filter_map(|k| k.strip_prefix("err:")).collect();
                codes.sort_unstable();
                for code in codes {
                    let n = count(&format!("err:{code}"));
                    if n > 0 {
                        add(&format!("errorstat_{code}"), format!("count={n}"));
                    }
                }
            }
            "cluster" => {
                // Cluster clients and tools read this before anything else
                // and stop without it; the group is not a Redis Cluster.
                text.push_str("# Cluster\r\n");
                add("cluster_enabled", "0".into());
            }
            _ => {
                text.push_str("# Keyspace\r\n");
                let keys = stat("keys");
                // Like Redis, no line for an empty database.
                if keys > 0 {
                    let ttl = client.store.key_ttl_summary();
                    add(
                        "db0",
                        format!(
                            "keys={keys},expires={},avg_ttl={}",
                            ttl.with_ttl, ttl.avg_ttl_ms
                        ),
                    );
                }
                add("sessions", stat("sessions").to_string());
            }
        }
        for (k, v) in lines {
            let _ = write!(text, "{k}:{v}\r\n");
        }
    }
    Ok(Value::Verbatim(text.into_bytes()))
}

fn pause_name(mode: crate::clients::PauseMode) -> &'static str {
    match mode {
        crate::clients::PauseMode::Write => "write",
        crate::clients::PauseMode::All => "all",
    }
}

/// Commands per second between this INFO and the one before it (at
/// least a second apart; a closer one repeats the last figure), since
/// nothing here samples the rate in the background as Redis's cron does.
fn ops_per_sec(shared: &Shared, total: u64) -> u64 {
    let now = Instant::now();
    let mut sample = shared.ops_sample.lock();
    let (at, before, rate) = sample.unwrap_or((shared.started, 0, 0));
    let elapsed = now.saturating_duration_since(at).as_secs_f64();
    if elapsed < 1.0 {
        return rate;
    }
    let rate = (total.saturating_sub(before) as f64 / elapsed) as u64;
    *sample = Some((now, total, rate));
    rate
}

/// The system as Redis names it: kernel name, release, machine.
fn os_name() -> String {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    let (kernel, release) = (
        read("/proc/sys/kernel/ostype"),
        read("/proc/sys/kernel/osrelease"),
    );
    match kernel.is_empty() {
        true => std::env::consts::OS.to_owned(),
        false => format!("{kernel} {release} {}", std::env::consts::ARCH),
    }
}

/// Bytes as Redis shows them: `1.50M`, `823.00K`, `12B`.
fn human(bytes: u64) -> String {
    let units = [("G", 1u64 << 30), ("M", 1 << 20), ("K", 1 << 10)];
    for (unit, size) in units {
        if bytes >= size {
            return format!("{:.2}{unit}", bytes as f64 / size as f64);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_in_redis_units() {
        assert_eq!(human(12), "12B");
        assert_eq!(human(1536), "1.50K");
        assert_eq!(human(3 << 20), "3.00M");
    }

    #[test]
    fn the_os_is_named_as_uname_names_it() {
        let os = os_name();
        assert!(os.starts_with("Linux "), "{os}");
    }
}
