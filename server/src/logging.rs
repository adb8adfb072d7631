//! The daemon's log: where it goes (stderr), what it keeps (the level or
//! filter) and how each event is written (the format).

use anyhow::{Result, anyhow};
use tracing_subscriber::EnvFilter;

/// How each event is written: one line either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum LogFormat {
    /// For people: time, level, message, then the fields as `key=value`.
    #[default]
    Text,
    /// For log collectors: one JSON object per line, by tracing-subscriber's
    /// own formatter (`timestamp`, `level`, `target`, and `fields` holding
    /// `message` and the event's fields). The fields stay nested, as that
    /// formatter writes them by default, so that a field can never clash
    /// with one of the top-level keys.
    Json,
}

/// Logs to stderr in `format`, filtered by `level`, else `RUST_LOG`, else
/// `default_level`.
pub(crate) fn init(level: Option<&str>, default_level: &str, format: LogFormat) -> Result<()> {
    let filter = match level {
        // Its error repeats its cause in its message: `anyhow!`, not
        // `context`, says it once.
        Some(level) => EnvFilter::try_new(level)
            .map_err(|e| anyhow!("invalid log level or filter {level:?}: {e}"))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
    };
    // fmt's default writer is stdout; the log goes where a daemon's log
    // is expected, and where start-up errors already go.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        // Every event comes from this crate: the target says nothing a
        // reader needs.
        LogFormat::Text => builder.with_target(false).init(),
        // A collector filters and routes by it, so it stays.
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}
