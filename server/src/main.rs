//! `sessiond`, the daemon: the session store behind its native protocol.
//!
//! Settings come from flags, then environment variables (`SESSIOND_*`),
//! then an optional TOML file (`--config`), then defaults: the first that
//! gives a value wins (`settings.rs`). The auth token is read from a file
//! or from `SESSIOND_AUTH_TOKEN`, never from the command line, where any
//! user of the machine could read it in the process list.
//!
//! SIGTERM and SIGINT stop the daemon gracefully; SIGHUP reloads the TLS
//! certificate and key and the token file without dropping connections.

mod logging;
mod settings;

use std::process::ExitCode;

use anyhow::{Context, Result};
use sessiond::{PersistConfig, Store, StoreConfig};
use sessiond_server::Reloader;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tracing::{info, warn};

use settings::{Cli, Configs};

/// Completes on SIGTERM or SIGINT. Installed before serving, so that a
/// failure to install it stops the start rather than a running daemon.
fn shutdown_signal() -> Result<impl Future<Output = ()>> {
    let mut term = signal(SignalKind::terminate()).context("installing a SIGTERM handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => info!("SIGTERM received"),
            _ = tokio::signal::ctrl_c() => info!("SIGINT received"),
        }
    })
}

/// A SIGHUP handler, installed before serving: SIGHUP's default action
/// would end the daemon, so it must be caught from the first connection on.
fn hangup_signal() -> Result<Signal> {
    signal(SignalKind::hangup()).context("installing a SIGHUP handler")
}

/// On every SIGHUP, reloads the certificate, key and token from their
/// files (`reload.rs` in the library: all or nothing, logged either way).
/// The files are read on a blocking thread, as this runtime also accepts
/// the connections.
async fn reload_on_hangup(mut hangup: Signal, reloader: Reloader) {
    while hangup.recv().await.is_some() {
        info!("SIGHUP received: reloading");
        let reloader = reloader.clone();
        // Its outcome is logged by `reload` itself.
        let _ = tokio::task::spawn_blocking(move || reloader.reload()).await;
    }
}

fn run(cli: Cli) -> Result<()> {
    let env_token = std::env::var_os("SESSIOND_AUTH_TOKEN");
    let Configs {
        server,
        store,
        persist,
        log_level,
        log_format,
    } = cli.layered()?.into_configs(env_token)?;
    logging::init(
        log_level.as_deref(),
        settings::DEFAULT_LOG_LEVEL,
        log_format,
    )?;
    let store = match &server.replication {
        Some(group) => {
            info!(
                version = env!("CARGO_PKG_VERSION"),
                node = group.node_id,
                peers = group.peers.len(),
                dir = ?group.data_dir,
                "sessiond starting as a member of a replication group; the replicated log is the journal"
            );
            Store::new(store)
        }
        None => open_store(store, persist)?,
    };
    // Connections are served on the server's own threads; this runtime
    // only accepts them and waits for a signal.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        let shutdown = shutdown_signal()?;
        let hangup = hangup_signal()?;
        let server = sessiond_server::Server::bind(server, store).await?;
        tokio::spawn(reload_on_hangup(hangup, server.reloader()));
        server.run_until(shutdown).await?;
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

/// Every error in one line, prefixed with the program's name; usage errors
/// exit with clap's code (2), the others with 1.
fn main() -> ExitCode {
    let cli = match Cli::try_parse_with_defaults(std::env::args_os()) {
        Ok(cli) => cli,
        // --help and --version are "errors" that go to stdout.
        Err(error) if !error.use_stderr() => error.exit(),
        Err(error) => {
            eprintln!("sessiond: error: {}", one_line(&error.to_string()));
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sessiond: error: {}", one_line(&format!("{error:#}")));
            ExitCode::FAILURE
        }
    }
}

/// A message of several lines (clap's, with its usage and hints) as one,
/// for logs that keep a line per event; the pointers to `--help` go.
fn one_line(message: &str) -> String {
    let lines = message.lines().map(str::trim).filter(|line| {
        !line.is_empty() && !line.starts_with("Usage:") && !line.starts_with("For more information")
    });
    let joined = lines.collect::<Vec<_>>().join(" ");
    joined.strip_prefix("error: ").unwrap_or(&joined).to_owned()
}
