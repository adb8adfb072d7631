//! The daemon's settings, each defined once: as a field of [`Settings`],
//! which is at the same time a flag with its `SESSIOND_*` variable (clap)
//! and a key of the TOML file (serde, same name with `_`).
//!
//! A [`Settings`] is one layer, every field optional. Clap fills one from
//! the flags and, where a flag is absent, the environment; the file gives
//! another; [`Settings::or`] lays the first over the second, field by
//! field. [`Settings::into_configs`] then maps what is set onto the config
//! types, and whatever is still unset keeps the default of those types:
//! they hold the only defaults. `--help` shows them by reading them back
//! ([`Settings::defaults`]), so no default is written twice.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};
use serde::Deserialize;
use sessiond::{
    FsyncPolicy, LimitPolicy, LoadProgress, MemoryPolicy, OwnerLimit, PersistConfig, StoreConfig,
};
use sessiond_server::{ReplicationConfig, Secret, ServerConfig, TlsFiles};
use tracing::info;

use crate::logging::LogFormat;

/// The log filter when neither a setting nor `RUST_LOG` gives one: the
/// daemon's own default, as no config type has a log level.
pub(crate) const DEFAULT_LOG_LEVEL: &str = "info";

/// The session store daemon.
#[derive(Debug, Parser)]
#[command(name = "sessiond", version, about)]
pub(crate) struct Cli {
    /// A TOML file with any of the settings below (same names, with `_`)
    #[arg(long, env = "SESSIOND_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(flatten)]
    settings: Settings,
}

impl Cli {
    /// The command line's definition, with each setting's default added to
    /// its help from the config types.
    pub(crate) fn command_with_defaults() -> clap::Command {
        let defaults = Settings::defaults().shown();
        Cli::command().mut_args(|arg| {
            let Some((_, value)) = defaults.iter().find(|(id, _)| arg.get_id() == *id) else {
                return arg;
            };
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            arg.help(format!("{help} [default: {value}]"))
        })
    }

    /// Parses a command line (the program's name first) and the
    /// environment.
    pub(crate) fn try_parse_with_defaults<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let matches = Cli::command_with_defaults().try_get_matches_from(args)?;
        Cli::from_arg_matches(&matches)
    }

    /// The flags and the environment over the file, if there is one.
    pub(crate) fn layered(self) -> Result<Settings> {
        Ok(match &self.config {
            Some(path) => self.settings.or(read_file(path)?),
            None => self.settings,
        })
    }
}

/// Declares the settings struct, wrapping every field in `Option`, with
/// the code that has to name each field: merging two layers, and listing
/// what a layer sets. The field list written in this macro's call is then
/// the only one.
macro_rules! settings {
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$field_attr:meta])* $field:ident: $ty:ty, )*
        }
    ) => {
        $(#[$attr])*
        $vis struct $name {
            $( $(#[$field_attr])* #[serde(default)] $field: Option<$ty>, )*
        }

        impl $name {
            /// This layer, with what it leaves unset taken from `lower`.
            $vis fn or(self, lower: $name) -> $name {
                $name { $( $field: self.$field.or(lower.$field), )* }
            }

            /// What this layer sets, by name, written as one would set it.
            fn shown(&self) -> Vec<(&'static str, String)> {
                let mut shown = Vec::new();
                $( if let Some(value) = &self.$field {
                    shown.push((stringify!($field), Show::show(value)));
                } )*
                shown
            }
        }
    };
}

settings! {
    /// Every setting, as a flag, a `SESSIOND_*` variable and a TOML key.
    /// Booleans take a value (`--repair=false`), so that a flag or the
    /// environment can switch off what the file switched on; given bare,
    /// a boolean flag means true.
    #[derive(Debug, Default, clap::Args, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(crate) struct Settings {
        /// Address of the native-protocol listener
        #[arg(long, env = "SESSIOND_LISTEN", value_name = "ADDR")]
        listen: SocketAddr,
        /// Also speak the Redis protocol (RESP) on this address, with the same TLS, auth and limits
        #[arg(long, env = "SESSIOND_RESP_LISTEN", value_name = "ADDR")]
        resp_listen: SocketAddr,
        /// Serve Prometheus metrics (GET /metrics) on this address, with the same TLS; the auth token, if set, as a bearer token
        #[arg(long, env = "SESSIOND_METRICS_LISTEN", value_name = "ADDR")]
        metrics_listen: SocketAddr,
        /// TLS certificate chain (PEM, leaf first); TLS is on when this and the key are set
        #[arg(long, env = "SESSIOND_TLS_CERT", value_name = "FILE")]
        tls_cert: PathBuf,
        /// TLS private key (PEM: PKCS#8, PKCS#1 or SEC1)
        #[arg(long, env = "SESSIOND_TLS_KEY", value_name = "FILE")]
        tls_key: PathBuf,
        /// CA certificates (PEM) that must have issued every client's certificate, on every listener; needs TLS
        #[arg(long, env = "SESSIOND_TLS_CLIENT_CA", value_name = "FILE")]
        tls_client_ca: PathBuf,
        /// File holding the auth token; without it, SESSIOND_AUTH_TOKEN (never a flag: `ps` would show it)
        #[arg(long, env = "SESSIOND_AUTH_TOKEN_FILE", value_name = "FILE")]
        auth_token_file: PathBuf,
        /// Listen beyond loopback without an auth token (only behind a firewall)
        #[arg(long, env = "SESSIOND_ALLOW_UNAUTHENTICATED_REMOTE", value_name = "BOOL",
              num_args = 0..=1, default_missing_value = "true")]
        allow_unauthenticated_remote: bool,
        /// Most connections served at once; more are answered BUSY
        #[arg(long, env = "SESSIOND_MAX_CONNECTIONS", value_name = "N")]
        max_connections: usize,
        /// Seconds before a connection without requests is closed
        #[arg(long, env = "SESSIOND_IDLE_TIMEOUT", value_name = "SECS")]
        idle_timeout: u64,
        /// Seconds a client has, from connecting, for its handshake (TLS included) and, with a token, to authenticate
        #[arg(long, env = "SESSIOND_HANDSHAKE_TIMEOUT", value_name = "SECS")]
        handshake_timeout: u64,
        /// Most bytes of requests a connection may hold unanswered; more closes it (1 MiB at most before auth)
        #[arg(long, env = "SESSIOND_MAX_INPUT_BUFFER", value_name = "BYTES")]
        max_input_buffer: usize,
        /// Most bytes of answers a connection may hold unread by its client; more closes it (1 MiB at most before auth)
        #[arg(long, env = "SESSIOND_MAX_OUTPUT_BUFFER", value_name = "BYTES")]
        max_output_buffer: usize,
        /// Seconds answers may wait for the client to read any of them before the connection is closed
        #[arg(long, env = "SESSIOND_WRITE_TIMEOUT", value_name = "SECS")]
        write_timeout: u64,
        /// Largest request frame, in bytes
        #[arg(long, env = "SESSIOND_MAX_FRAME", value_name = "BYTES")]
        max_frame: u32,
        /// Seconds a shutdown waits for connections to finish what they received
        #[arg(long, env = "SESSIOND_SHUTDOWN_GRACE", value_name = "SECS")]
        shutdown_grace: u64,
        /// Threads serving connections, each connection staying on one; 0 for one per core
        #[arg(long, env = "SESSIOND_THREADS", value_name = "N")]
        threads: usize,
        /// Microseconds a connection thread keeps polling its sockets after a read before it sleeps (0 to 1000; 0 never polls)
        #[arg(long, env = "SESSIOND_POLL_US", value_name = "MICROS")]
        poll_us: u64,
        /// Milliseconds a session write waits for a strict near cache's acknowledgement before cutting it off (50 to 60000)
        #[arg(long, env = "SESSIOND_NEAR_CACHE_BOUND", value_name = "MS")]
        near_cache_bound: u64,
        /// Largest session data or key value, in bytes
        #[arg(long, env = "SESSIOND_MAX_DATA", value_name = "BYTES")]
        max_data: usize,
        /// Memory limit in accounted bytes; 0 for none
        #[arg(long, env = "SESSIOND_MEMORY_LIMIT", value_name = "BYTES")]
        memory_limit: u64,
        /// At the memory limit: refuse writes, or evict the sessions nearest their deadline
        #[arg(long, env = "SESSIOND_MEMORY_POLICY", value_name = "POLICY")]
        memory_policy: MemoryPolicySetting,
        /// Most sessions per owner; 0 for no limit
        #[arg(long, env = "SESSIOND_MAX_SESSIONS_PER_OWNER", value_name = "N")]
        max_sessions_per_owner: u32,
        /// At an owner's limit (if set): refuse the login, or end its least recently seen session
        #[arg(long, env = "SESSIOND_OWNER_LIMIT_POLICY", value_name = "POLICY")]
        owner_limit_policy: LimitPolicySetting,
        /// Idle timeout of sessions created without one, in seconds
        #[arg(long, env = "SESSIOND_SESSION_IDLE_TIMEOUT", value_name = "SECS")]
        session_idle_timeout: u64,
        /// Absolute lifetime of sessions created without one, in seconds; 0 for none
        #[arg(long, env = "SESSIOND_SESSION_LIFETIME", value_name = "SECS")]
        session_lifetime: u64,
        /// Lock shards of each table (rounded up to a power of two): fewer contend more
        #[arg(long, env = "SESSIOND_SHARDS", value_name = "N")]
        shards: usize,
        /// Most session events kept for readers to resume from (docs/events.md); 0 turns the event log off
        #[arg(long, env = "SESSIOND_EVENTS_MAX", value_name = "N")]
        events_max: usize,
        /// Session events older than this are dropped, in seconds; 0 for no age limit
        #[arg(long, env = "SESSIOND_EVENTS_MAX_AGE", value_name = "SECS")]
        events_max_age: u64,
        /// Keep the store on disk in this directory; without it, in memory only
        #[arg(long, env = "SESSIOND_DATA_DIR", value_name = "DIR")]
        data_dir: PathBuf,
        /// When the log is forced to disk: before each reply, once a second, or when the kernel likes
        #[arg(long, env = "SESSIOND_FSYNC", value_name = "POLICY")]
        fsync: FsyncSetting,
        /// Start in spite of a damaged data file: keep what comes before the damage, drop the rest
        #[arg(long, env = "SESSIOND_REPAIR", value_name = "BOOL",
              num_args = 0..=1, default_missing_value = "true")]
        repair: bool,
        /// Compact when the log since the last snapshot is this many times the live data
        #[arg(long, env = "SESSIOND_COMPACT_RATIO", value_name = "N")]
        compact_ratio: u64,
        /// Compact only once the log since the last snapshot is at least this large, in bytes
        #[arg(long, env = "SESSIOND_COMPACT_MIN_BYTES", value_name = "BYTES")]
        compact_min_bytes: u64,
        /// This node's id in its replication group (1, 2, 3, …)
        #[arg(long, env = "SESSIOND_NODE_ID", value_name = "N")]
        node_id: u64,
        /// Join a replication group: node-to-node traffic on this address (with the same auth token)
        #[arg(long, env = "SESSIOND_RAFT_LISTEN", value_name = "ADDR")]
        raft_listen: SocketAddr,
        /// Another member of the group and its --raft-listen, once per other node
        #[arg(long = "peer", env = "SESSIOND_PEER", value_name = "ID=ADDR", value_delimiter = ',')]
        peer: Vec<String>,
        /// In a replication group: snapshot the store after this many log entries (the log before it is dropped)
        #[arg(long, env = "SESSIOND_RAFT_SNAPSHOT_EVERY", value_name = "N")]
        raft_snapshot_every: u64,
        /// Log level or filter (error, warn, info, debug, trace); without it, RUST_LOG, then the default
        #[arg(long, env = "SESSIOND_LOG_LEVEL", value_name = "FILTER")]
        log_level: String,
        /// How log lines are written: text for people, or one JSON object per line for a collector
        #[arg(long, env = "SESSIOND_LOG_FORMAT", value_name = "FORMAT")]
        log_format: LogFormatSetting,
    }
}

/// What the daemon runs with.
#[derive(Debug)]
pub(crate) struct Configs {
    pub server: ServerConfig,
    pub store: StoreConfig,
    /// `None`: in memory only.
    pub persist: Option<PersistConfig>,
    /// `None`: `RUST_LOG`, else [`DEFAULT_LOG_LEVEL`].
    pub log_level: Option<String>,
    pub log_format: LogFormat,
}

impl Settings {
    /// Maps the settings onto the config types, keeping their defaults for
    /// what is unset. `env_token` is `SESSIOND_AUTH_TOKEN`, used when no
    /// token file is set (passed in, so that tests do not depend on it).
    ///
    /// The server's and the store's configs are written out whole, without
    /// `..default`: a field added to them does not compile here until it
    /// is made a setting or left out on purpose. A limit of 0 means none,
    /// as a zero limit would refuse everything; that way a later layer can
    /// lift a limit that a lower one set.
    pub(crate) fn into_configs(self, env_token: Option<OsString>) -> Result<Configs> {
        let tls = match (self.tls_cert, self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            _ => bail!("TLS needs both --tls-cert and --tls-key"),
        };
        let secs = Duration::from_secs;
        let server = ServerConfig::default();
        let server = ServerConfig {
            listen: self.listen.unwrap_or(server.listen),
            resp_listen: self.resp_listen.or(server.resp_listen),
            metrics_listen: self.metrics_listen.or(server.metrics_listen),
            tls_client_ca: match (&tls, self.tls_client_ca) {
                (_, None) => server.tls_client_ca,
                (Some(_), Some(ca)) => Some(ca),
                (None, Some(_)) => bail!("--tls-client-ca needs TLS: --tls-cert and --tls-key"),
            },
            tls: tls.or(server.tls),
            auth_token: auth_token(self.auth_token_file.as_deref(), env_token)?
                .or(server.auth_token),
            auth_token_file: self.auth_token_file.clone().or(server.auth_token_file),
            allow_unauthenticated_remote: self
                .allow_unauthenticated_remote
                .unwrap_or(server.allow_unauthenticated_remote),
            max_connections: self.max_connections.unwrap_or(server.max_connections),
            idle_timeout: self.idle_timeout.map_or(server.idle_timeout, secs),
            handshake_timeout: self
                .handshake_timeout
                .map_or(server.handshake_timeout, secs),
            max_input_buffer: self.max_input_buffer.unwrap_or(server.max_input_buffer),
            max_output_buffer: self.max_output_buffer.unwrap_or(server.max_output_buffer),
            write_timeout: self.write_timeout.map_or(server.write_timeout, secs),
            max_frame: self.max_frame.unwrap_or(server.max_frame),
            shutdown_grace: self.shutdown_grace.map_or(server.shutdown_grace, secs),
            threads: self.threads.unwrap_or(server.threads),
            poll_window: match self.poll_us {
                None => server.poll_window,
                Some(us @ 0..=1000) => Duration::from_micros(us),
                Some(us) => bail!("--poll-us is {us}: give 0 to 1000"),
            },
            near_cache_bound: match self.near_cache_bound {
                None => server.near_cache_bound,
                Some(ms @ 50..=60_000) => Duration::from_millis(ms),
                Some(ms) => bail!("--near-cache-bound is {ms} ms: give 50 to 60000"),
            },
            replication: None,
        };

        let store = StoreConfig::default();
        let owner_limit = match self.max_sessions_per_owner {
            None => store.owner_limit,
            Some(0) => None,
            Some(max_sessions) => Some(OwnerLimit {
                max_sessions,
                policy: self
                    .owner_limit_policy
                    .map_or_else(LimitPolicy::default, Into::into),
            }),
        };
        let store = StoreConfig {
            max_data_bytes: self.max_data.unwrap_or(store.max_data_bytes),
            default_idle_timeout: self
                .session_idle_timeout
                .map_or(store.default_idle_timeout, secs),
            default_absolute_lifetime: match self.session_lifetime {
                None => store.default_absolute_lifetime,
                Some(0) => None,
                Some(lifetime) => Some(secs(lifetime)),
            },
            owner_limit,
            memory_limit: match self.memory_limit {
                None => store.memory_limit,
                Some(0) => None,
                Some(limit) => Some(limit),
            },
            memory_policy: self.memory_policy.map_or(store.memory_policy, Into::into),
            shards: self.shards.unwrap_or(store.shards),
            background_expiry: store.background_expiry,
            events_max: self.events_max.unwrap_or(store.events_max),
            events_max_age: match self.events_max_age {
                None => store.events_max_age,
                Some(0) => None,
                Some(age) => Some(secs(age)),
            },
            events_max_bytes: store.events_max_bytes,
        };

        let replication = match (self.raft_listen, self.node_id) {
            (None, None) if self.peer.as_ref().is_none_or(Vec::is_empty) => None,
            (Some(raft_listen), Some(node_id)) if node_id > 0 => Some(ReplicationConfig {
                node_id,
                raft_listen,
                peers: parse_peers(self.peer.as_deref().unwrap_or_default(), node_id)?,
                data_dir: self.data_dir.clone(),
                fsync: self.fsync.map_or(PersistConfig::new("").fsync, Into::into),
                snapshot_every: self
                    .raft_snapshot_every
                    .unwrap_or(ReplicationConfig::SNAPSHOT_EVERY),
            }),
            (Some(_), Some(_)) => bail!("--node-id must be 1 or more"),
            _ => bail!(
                "a replication group needs --node-id and --raft-listen (and --peer ID=ADDR for each other node)"
            ),
        };
        let server = ServerConfig {
            replication: replication.clone(),
            ..server
        };
        // In a group the replicated log is the journal: the store itself
        // keeps nothing on disk (`replication/log_store.rs`).
        let data_dir = if replication.is_some() {
            None
        } else {
            self.data_dir
        };
        let persist = data_dir.map(|dir| {
            let persist = PersistConfig::new(dir);
            PersistConfig {
                fsync: self.fsync.map_or(persist.fsync, Into::into),
                // The server waits once per batch of requests instead,
                // without blocking its threads.
                acknowledge_in_call: false,
                repair: self.repair.unwrap_or(persist.repair),
                compact_ratio: self.compact_ratio.unwrap_or(persist.compact_ratio),
                compact_min_bytes: self.compact_min_bytes.unwrap_or(persist.compact_min_bytes),
                progress: Some(Arc::new(|p: &LoadProgress| {
                    let elapsed_ms = p.elapsed.as_millis() as u64;
                    info!(records = p.records, elapsed_ms, "loading");
                })),
                ..persist
            }
        });

        Ok(Configs {
            server,
            store,
            persist,
            log_level: self.log_level,
            log_format: self.log_format.map_or_else(LogFormat::default, Into::into),
        })
    }

    /// The defaults of the config types, read back as a layer, for
    /// `--help`. The inverse of [`Settings::into_configs`]; a test checks
    /// that mapping these gives the defaults again.
    fn defaults() -> Settings {
        let server = ServerConfig::default();
        let store = StoreConfig::default();
        let persist = PersistConfig::new("");
        let tls = server.tls.as_ref();
        Settings {
            listen: Some(server.listen),
            resp_listen: server.resp_listen,
            metrics_listen: server.metrics_listen,
            tls_cert: tls.map(|tls| tls.cert.clone()),
            tls_key: tls.map(|tls| tls.key.clone()),
            tls_client_ca: server.tls_client_ca.clone(),
            auth_token_file: None,
            allow_unauthenticated_remote: Some(server.allow_unauthenticated_remote),
            max_connections: Some(server.max_connections),
            idle_timeout: Some(server.idle_timeout.as_secs()),
            handshake_timeout: Some(server.handshake_timeout.as_secs()),
            max_input_buffer: Some(server.max_input_buffer),
            max_output_buffer: Some(server.max_output_buffer),
            write_timeout: Some(server.write_timeout.as_secs()),
            max_frame: Some(server.max_frame),
            shutdown_grace: Some(server.shutdown_grace.as_secs()),
            threads: Some(server.threads),
            poll_us: Some(server.poll_window.as_micros() as u64),
            near_cache_bound: Some(server.near_cache_bound.as_millis() as u64),
            max_data: Some(store.max_data_bytes),
            memory_limit: Some(store.memory_limit.unwrap_or(0)),
            memory_policy: Some(store.memory_policy.into()),
            max_sessions_per_owner: Some(store.owner_limit.map_or(0, |l| l.max_sessions)),
            owner_limit_policy: Some(
                store
                    .owner_limit
                    .map_or_else(LimitPolicy::default, |l| l.policy)
                    .into(),
            ),
            session_idle_timeout: Some(store.default_idle_timeout.as_secs()),
            session_lifetime: Some(store.default_absolute_lifetime.map_or(0, |d| d.as_secs())),
            shards: Some(store.shards),
            events_max: Some(store.events_max),
            events_max_age: Some(store.events_max_age.map_or(0, |d| d.as_secs())),
            data_dir: None,
            fsync: Some(persist.fsync.into()),
            repair: Some(persist.repair),
            compact_ratio: Some(persist.compact_ratio),
            compact_min_bytes: Some(persist.compact_min_bytes),
            node_id: None,
            raft_listen: None,
            peer: None,
            raft_snapshot_every: Some(ReplicationConfig::SNAPSHOT_EVERY),
            log_level: Some(DEFAULT_LOG_LEVEL.to_owned()),
            log_format: Some(LogFormat::default().into()),
        }
    }
}

/// `--peer ID=ADDR` values, checked: ids positive, unique, not ours.
fn parse_peers(peers: &[String], me: u64) -> Result<Vec<(u64, String)>> {
    let mut parsed: Vec<(u64, String)> = Vec::new();
    for peer in peers {
        let Some((id, addr)) = peer.split_once('=') else {
            bail!("--peer {peer}: expected ID=ADDR, like 2=10.0.0.2:7900");
        };
        let id: u64 = id
            .trim()
            .parse()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| anyhow!("--peer {peer}: the id must be a positive integer"))?;
        if id == me {
            bail!("--peer {peer}: that is this node's own --node-id");
        }
        if parsed.iter().any(|(other, _)| *other == id) {
            bail!("--peer {peer}: node {id} is given twice");
        }
        let addr = addr.trim();
        if addr.is_empty() {
            bail!("--peer {peer}: the address is empty");
        }
        parsed.push((id, addr.to_owned()));
    }
    Ok(parsed)
}

/// The token from its file, else from `SESSIOND_AUTH_TOKEN`.
fn auth_token(file: Option<&Path>, env_token: Option<OsString>) -> Result<Option<Secret>> {
    if let Some(path) = file {
        return Ok(Some(Secret::from_file(path)?));
    }
    let Some(token) = env_token else {
        return Ok(None);
    };
    Secret::new(token.into_encoded_bytes())
        .map(Some)
        .map_err(|why| anyhow!("SESSIOND_AUTH_TOKEN: {why}"))
}

/// The settings of a TOML file.
fn read_file(path: &Path) -> Result<Settings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    file_settings(path, &text)
}

/// The settings in `text`, read from `path`; any error in one line, with
/// the file and the line it is on (toml's own message draws the line over
/// several).
fn file_settings(path: &Path, text: &str) -> Result<Settings> {
    toml::from_str(text).map_err(|error| {
        let line = error
            .span()
            .map(|span| format!(", line {}", text[..span.start].matches('\n').count() + 1))
            .unwrap_or_default();
        anyhow!("{}{line}: {}", path.display(), error.message().trim_end())
    })
}

/// How a value is written in a flag, a variable or the file, for `--help`.
trait Show {
    fn show(&self) -> String;
}

macro_rules! show_by_display {
    ($($ty:ty),*) => { $( impl Show for $ty { fn show(&self) -> String { self.to_string() } } )* };
}

show_by_display!(SocketAddr, String, bool, u32, u64, usize);

impl Show for Vec<String> {
    fn show(&self) -> String {
        self.join(",")
    }
}

impl Show for PathBuf {
    fn show(&self) -> String {
        self.display().to_string()
    }
}

/// A setting whose values are names, mirroring an enum of the engine,
/// which knows nothing of flags. Clap's `ValueEnum` is its one parser: the
/// file's values go through it too, so both accept the same names.
macro_rules! named_values {
    (
        $(#[$attr:meta])*
        $name:ident => $target:ident {
            $( $variant:ident => $target_variant:ident, )*
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
        pub(crate) enum $name {
            $( $variant, )*
        }

        impl From<$name> for $target {
            fn from(value: $name) -> $target {
                match value { $( $name::$variant => $target::$target_variant, )* }
            }
        }

        impl From<$target> for $name {
            fn from(value: $target) -> $name {
                match value { $( $target::$target_variant => $name::$variant, )* }
            }
        }

        impl Show for $name {
            fn show(&self) -> String {
                self.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default()
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(input: D) -> Result<$name, D::Error> {
                by_name(&String::deserialize(input)?).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// The value named `name`, or an error listing the names there are.
fn by_name<T: ValueEnum>(name: &str) -> Result<T, String> {
    T::from_str(name, false).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| Some(format!("`{}`", v.to_possible_value()?.get_name())))
            .collect();
        format!(
            "unknown value `{name}`, expected one of {}",
            names.join(", ")
        )
    })
}

named_values! {
    /// What a write does at the memory limit.
    MemoryPolicySetting => MemoryPolicy {
        Reject => Reject,
        Evict => EvictNearestDeadline,
    }
}

named_values! {
    /// What a login does at its owner's session limit.
    LimitPolicySetting => LimitPolicy {
        Reject => Reject,
        EvictOldest => EvictOldest,
    }
}

named_values! {
    /// When the log is forced to disk.
    FsyncSetting => FsyncPolicy {
        Always => Always,
        Everysec => EverySec,
        No => No,
    }
}

named_values! {
    /// How log lines are written.
    LogFormatSetting => LogFormat {
        Text => Text,
        Json => Json,
    }
}

#[cfg(test)]
mod tests;
