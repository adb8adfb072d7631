//! What clients ask a Redis server about itself: INFO and TIME (COMMAND,
//! which describes the command table, lives with the table).
//!
//! INFO's numbers are the server's statistics (the same the native STATS
//! request gives), spelled in Redis's `# Section` / `key:value` format;
//! its replication section is `replication.rs`'s, from the group view.

use super::connection::REDIS_VERSION;
use super::replication;
use crate::resp::args::Args;
use crate::resp::client::Client;
use crate::resp::reply::Value;
use crate::resp::spec::Reply;

/// `TIME`: Unix seconds and microseconds, as two bulk strings, by the
/// store's clock (whose resolution is a millisecond).
pub(crate) fn time(client: &mut Client<'_>, _: Args<'_>) -> Reply {
    let now_ms = client.store.now_ms();
    Ok(Value::Array(vec![
        Value::text((now_ms / 1000).to_string()),
        Value::text((now_ms % 1000 * 1000).to_string()),
    ]))
}

/// INFO's sections, in Redis's order, and whether `INFO` without
/// arguments (or `default`) shows each: command statistics, as in Redis,
/// only when asked for by name or with `all` or `everything`.
const SECTIONS: &[(&str, bool)] = &[
    ("server", true),
    ("clients", true),
    ("memory", true),
    ("persistence", true),
    ("replication", true),
    ("commandstats", false),
    ("cluster", true),
    ("keyspace", true),
];

/// `INFO [section ...]`: the sections above by name, `default`, `all`,
/// `everything`; unknown sections are left out.
pub(crate) fn info(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let shared = client.shared;
    let stats = shared.stats.snapshot(client.store);
    let stat = |name: &str| stats.iter().find(|(n, _)| n == name).map_or(0, |(_, v)| *v);
    let wanted: Vec<String> = args
        .rest()
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let asked = |section: &str| wanted.iter().any(|w| w == section);
    let all = asked("all") || asked("everything");
    let default = wanted.is_empty() || asked("default");
    let mut text = String::new();
    for (section, by_default) in SECTIONS {
        let shown = all || (default && *by_default) || asked(section);
        if !shown {
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
                add("redis_version", REDIS_VERSION.into());
                add("sessiond_version", env!("CARGO_PKG_VERSION").into());
                add("redis_mode", "standalone".into());
                add("os", std::env::consts::OS.into());
                add("arch_bits", (usize::BITS).to_string());
                add("process_id", std::process::id().to_string());
            }
            "clients" => {
                text.push_str("# Clients\r\n");
                add("connected_clients", stat("connections").to_string());
                add("maxclients", shared.config.max_connections.to_string());
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
                // Redis's name for what its normal clients' buffers hold:
                // here every connection's, both faces (STATS'
                // `connection_buffer_bytes`).
                add(
                    "mem_clients_normal",
                    stat("connection_buffer_bytes").to_string(),
                );
            }
            "persistence" => {
                text.push_str("# Persistence\r\n");
                // Redis's names, so that tools that watch them work.
                let status = match stat("persist_writes_refused") {
                    0 => "ok",
                    _ => "err",
                };
                add("loading", "0".into());
                add(
                    "aof_enabled",
                    u64::from(stat("persist_fsync") > 0).to_string(),
                );
                add("aof_last_write_status", status.into());
                add("aof_current_size", stat("persist_log_bytes").to_string());
                add("aof_rewrites", stat("persist_compactions").to_string());
            }
            "replication" => {
                text.push_str("# Replication\r\n");
                lines = replication::info_lines(&shared.group_view());
            }
            "commandstats" => {
                text.push_str("# Commandstats\r\n");
                // Like Redis, only the commands that have been called.
                for (name, calls) in &stats {
                    if let Some(command) = name.strip_prefix("resp_")
                        && *calls > 0
                    {
                        add(&format!("cmdstat_{command}"), format!("calls={calls}"));
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
                    add("db0", format!("keys={keys}"));
                }
                add("sessions", stat("sessions").to_string());
            }
        }
        for (k, v) in lines {
            text.push_str(&format!("{k}:{v}\r\n"));
        }
    }
    Ok(Value::Bulk(text.into_bytes()))
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
}
