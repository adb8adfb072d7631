//! `sessiond`, the daemon: the session store behind its native protocol.
//!
//! Settings come from flags, then environment variables (`SESSIOND_*`),
//! then an optional TOML file (`--config`), then defaults: the first that
//! gives a value wins. The auth token is read from a file or from
//! `SESSIOND_AUTH_TOKEN`, never from the command line, where any user of
//! the machine could read it in the process list.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use serde::Deserialize;
use sessiond::{
    FsyncPolicy, LimitPolicy, LoadProgress, MemoryPolicy, OwnerLimit, PersistConfig, Store,
    StoreConfig,
};
use sessiond_server::{Secret, ServerConfig, TlsFiles};
use std::sync::Arc;
use tracing::{info, warn};

/// The session store daemon.
#[derive(Debug, Parser)]
#[command(name = "sessiond", version, about)]
struct Cli {
    /// A TOML file with any of the settings below (same names, with `_`).
    #[arg(long, env = "SESSIOND_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(flatten)]
    settings: Settings,
}

/// Every setting, as a flag, an environment variable and a TOML key.
#[derive(Debug, Default, clap::Args, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
struct Settings {
    /// Address of the native-protocol listener [default: 127.0.0.1:7878].
    #[arg(long, env = "SESSIOND_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Also speak the Redis protocol (RESP) on this address [default: off].
    #[arg(long, env = "SESSIOND_RESP_LISTEN", value_name = "ADDR")]
    resp_listen: Option<SocketAddr>,
    /// TLS certificate chain (PEM); TLS is on when this and --tls-key are set.
    #[arg(long, env = "SESSIOND_TLS_CERT", value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, env = "SESSIOND_TLS_KEY", value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// File holding the auth token (or set SESSIOND_AUTH_TOKEN).
    #[arg(long, env = "SESSIOND_AUTH_TOKEN_FILE", value_name = "FILE")]
    auth_token_file: Option<PathBuf>,
    /// Listen beyond loopback without an auth token (only behind a firewall).
    #[arg(long, env = "SESSIOND_ALLOW_UNAUTHENTICATED_REMOTE")]
    #[serde(default)]
    allow_unauthenticated_remote: bool,
    /// Most concurrent connections [default: 10000].
    #[arg(long, env = "SESSIOND_MAX_CONNECTIONS", value_name = "N")]
    max_connections: Option<usize>,
    /// Seconds before an idle connection is closed [default: 300].
    #[arg(long, env = "SESSIOND_IDLE_TIMEOUT", value_name = "SECS")]
    idle_timeout: Option<u64>,
    /// Largest request frame in bytes [default: 2097152].
    #[arg(long, env = "SESSIOND_MAX_FRAME", value_name = "BYTES")]
    max_frame: Option<u32>,
    /// Largest session data or key value in bytes [default: 1048576].
    #[arg(long, env = "SESSIOND_MAX_DATA", value_name = "BYTES")]
    max_data: Option<usize>,
    /// Memory limit in accounted bytes [default: none].
    #[arg(long, env = "SESSIOND_MEMORY_LIMIT", value_name = "BYTES")]
    memory_limit: Option<u64>,
    /// At the memory limit: refuse writes, or evict the sessions nearest their deadline.
    #[arg(long, env = "SESSIOND_MEMORY_POLICY", value_enum)]
    memory_policy: Option<MemoryPolicyArg>,
    /// Most sessions per owner [default: no limit].
    #[arg(long, env = "SESSIOND_MAX_SESSIONS_PER_OWNER", value_name = "N")]
    max_sessions_per_owner: Option<u32>,
    /// At an owner's limit: refuse the login, or end its least recently seen session.
    #[arg(long, env = "SESSIOND_OWNER_LIMIT_POLICY", value_enum)]
    owner_limit_policy: Option<OwnerPolicyArg>,
    /// Default idle timeout of sessions in seconds [default: 1800].
    #[arg(long, env = "SESSIOND_SESSION_IDLE_TIMEOUT", value_name = "SECS")]
    session_idle_timeout: Option<u64>,
    /// Default absolute lifetime of sessions in seconds, 0 for none [default: 86400].
    #[arg(long, env = "SESSIOND_SESSION_LIFETIME", value_name = "SECS")]
    session_lifetime: Option<u64>,
    /// Keep the store on disk in this directory [default: none, in memory only].
    #[arg(long, env = "SESSIOND_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// When the log is forced to disk: always (before each reply), everysec, no [default: everysec].
    #[arg(long, env = "SESSIOND_FSYNC", value_enum)]
    fsync: Option<FsyncArg>,
    /// Start in spite of a damaged data file: keep what comes before the damage, drop the rest.
    #[arg(long, env = "SESSIOND_REPAIR")]
    #[serde(default)]
    repair: bool,
    /// Compact when the log since the last snapshot is this many times the live data [default: 2].
    #[arg(long, env = "SESSIOND_COMPACT_RATIO", value_name = "N")]
    compact_ratio: Option<u64>,
    /// Compact only once the log since the last snapshot is this large [default: 67108864].
    #[arg(long, env = "SESSIOND_COMPACT_MIN_BYTES", value_name = "BYTES")]
    compact_min_bytes: Option<u64>,
    /// Threads serving connections, each connection staying on one [default: one per core].
    #[arg(long, env = "SESSIOND_THREADS", value_name = "N")]
    threads: Option<usize>,
    /// Log level or filter (error, warn, info, debug, trace) [default: info, or RUST_LOG].
    #[arg(long, env = "SESSIOND_LOG", value_name = "LEVEL")]
    log_level: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum MemoryPolicyArg {
    Reject,
    Evict,
}

#[derive(Debug, Clone, Copy, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum FsyncArg {
    Always,
    Everysec,
    No,
}

#[derive(Debug, Clone, Copy, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum OwnerPolicyArg {
    Reject,
    EvictOldest,
}

impl Settings {
    /// Fills every setting this one lacks from `lower` (flags and
    /// environment over the file).
    fn or(self, lower: Settings) -> Settings {
        Settings {
            listen: self.listen.or(lower.listen),
            resp_listen: self.resp_listen.or(lower.resp_listen),
            tls_cert: self.tls_cert.or(lower.tls_cert),
            tls_key: self.tls_key.or(lower.tls_key),
            auth_token_file: self.auth_token_file.or(lower.auth_token_file),
            allow_unauthenticated_remote: self.allow_unauthenticated_remote
                || lower.allow_unauthenticated_remote,
            max_connections: self.max_connections.or(lower.max_connections),
            idle_timeout: self.idle_timeout.or(lower.idle_timeout),
            max_frame: self.max_frame.or(lower.max_frame),
            max_data: self.max_data.or(lower.max_data),
            memory_limit: self.memory_limit.or(lower.memory_limit),
            memory_policy: self.memory_policy.or(lower.memory_policy),
            max_sessions_per_owner: self.max_sessions_per_owner.or(lower.max_sessions_per_owner),
            owner_limit_policy: self.owner_limit_policy.or(lower.owner_limit_policy),
            session_idle_timeout: self.session_idle_timeout.or(lower.session_idle_timeout),
            session_lifetime: self.session_lifetime.or(lower.session_lifetime),
            data_dir: self.data_dir.or(lower.data_dir),
            fsync: self.fsync.or(lower.fsync),
            repair: self.repair || lower.repair,
            compact_ratio: self.compact_ratio.or(lower.compact_ratio),
            compact_min_bytes: self.compact_min_bytes.or(lower.compact_min_bytes),
            threads: self.threads.or(lower.threads),
            log_level: self.log_level.or(lower.log_level),
        }
    }

    /// Persistence settings, if there is a data directory.
    fn persist_config(&self) -> Option<PersistConfig> {
        let dir = self.data_dir.as_ref()?;
        let defaults = PersistConfig::new(dir);
        Some(PersistConfig {
            fsync: match self.fsync {
                Some(FsyncArg::Always) => FsyncPolicy::Always,
                Some(FsyncArg::Everysec) | None => FsyncPolicy::EverySec,
                Some(FsyncArg::No) => FsyncPolicy::No,
            },
            // The server waits per batch, without blocking its threads.
            acknowledge_in_call: false,
            repair: self.repair,
            compact_ratio: self.compact_ratio.unwrap_or(defaults.compact_ratio),
            compact_min_bytes: self.compact_min_bytes.unwrap_or(defaults.compact_min_bytes),
            progress: Some(Arc::new(|p: &LoadProgress| {
                info!(
                    records = p.records,
                    elapsed_ms = p.elapsed.as_millis() as u64,
                    "loading"
                );
            })),
            ..defaults
        })
    }

    fn store_config(&self) -> StoreConfig {
        let defaults = StoreConfig::default();
        let policy = match self.owner_limit_policy {
            Some(OwnerPolicyArg::EvictOldest) => LimitPolicy::EvictOldest,
            Some(OwnerPolicyArg::Reject) | None => LimitPolicy::Reject,
        };
        StoreConfig {
            max_data_bytes: self.max_data.unwrap_or(defaults.max_data_bytes),
            default_idle_timeout: self
                .session_idle_timeout
                .map_or(defaults.default_idle_timeout, Duration::from_secs),
            default_absolute_lifetime: match self.session_lifetime {
                Some(0) => None,
                Some(secs) => Some(Duration::from_secs(secs)),
                None => defaults.default_absolute_lifetime,
            },
            owner_limit: self.max_sessions_per_owner.map(|max_sessions| OwnerLimit {
                max_sessions,
                policy,
            }),
            memory_limit: self.memory_limit,
            memory_policy: match self.memory_policy {
                Some(MemoryPolicyArg::Evict) => MemoryPolicy::EvictNearestDeadline,
                Some(MemoryPolicyArg::Reject) | None => MemoryPolicy::Reject,
            },
            ..defaults
        }
    }

    fn server_config(&self) -> Result<ServerConfig> {
        let defaults = ServerConfig::default();
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            (None, None) => None,
            _ => bail!("TLS needs both --tls-cert and --tls-key"),
        };
        Ok(ServerConfig {
            listen: self.listen.unwrap_or(defaults.listen),
            resp_listen: self.resp_listen,
            tls,
            auth_token: auth_token(self.auth_token_file.as_deref())?,
            allow_unauthenticated_remote: self.allow_unauthenticated_remote,
            max_connections: self.max_connections.unwrap_or(defaults.max_connections),
            idle_timeout: self
                .idle_timeout
                .map_or(defaults.idle_timeout, Duration::from_secs),
            max_frame: self.max_frame.unwrap_or(defaults.max_frame),
            threads: self.threads.unwrap_or(defaults.threads),
            ..defaults
        })
    }
}

/// The token from its file, else from `SESSIOND_AUTH_TOKEN`.
fn auth_token(file: Option<&Path>) -> Result<Option<Secret>> {
    let bytes = match file {
        Some(path) => std::fs::read(path)
            .with_context(|| format!("reading the auth token file {}", path.display()))?,
        None => match std::env::var_os("SESSIOND_AUTH_TOKEN") {
            Some(token) => token.into_encoded_bytes(),
            None => return Ok(None),
        },
    };
    Secret::new(bytes).map(Some).map_err(anyhow::Error::msg)
}

fn read_file_settings(path: &Path) -> Result<Settings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("in the config file {}", path.display()))
}

fn init_logging(level: Option<&str>) {
    let filter = match level {
        Some(level) => tracing_subscriber::EnvFilter::new(level),
        None => tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => info!("SIGINT received"),
    }
}

fn run(cli: Cli) -> Result<()> {
    let file = match &cli.config {
        Some(path) => read_file_settings(path)?,
        None => Settings::default(),
    };
    let settings = cli.settings.or(file);
    init_logging(settings.log_level.as_deref());
    let server_config = settings.server_config()?;
    if settings.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    let store = open_store(settings.store_config(), settings.persist_config())?;
    // Connections are served on the server's own threads; this runtime
    // only accepts them and waits for a signal.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        let server = sessiond_server::Server::bind(server_config, store).await?;
        server.run_until(shutdown_signal()).await?;
        Ok(())
    })
}

/// The store: loaded from its data directory, or empty in memory.
fn open_store(config: StoreConfig, persist: Option<PersistConfig>) -> Result<Store> {
    let version = env!("CARGO_PKG_VERSION");
    let Some(persist) = persist else {
        info!(
            version,
            "sessiond starting; in memory only (no --data-dir): sessions do not survive a restart"
        );
        return Ok(Store::new(config));
    };
    info!(version, dir = %persist.dir.display(), fsync = ?persist.fsync, "sessiond starting; loading the data directory");
    let (store, report) = Store::open_with(config, persist)?;
    for warning in &report.warnings {
        warn!("{warning}");
    }
    for dropped in &report.dropped {
        warn!("repair: {dropped}");
    }
    info!(
        files = report.files.len(),
        records = report.records,
        sessions = report.sessions,
        keys = report.keys,
        ms = report.duration.as_millis() as u64,
        "loaded"
    );
    Ok(store)
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sessiond: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
