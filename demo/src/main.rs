//! `sessiond-demo`: the demo login app, on the embedded store by default or
//! on a sessiond daemon with `--store sessiond://host:port`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use sessiond::{Store, StoreConfig};
use sessiond_client::{Client, ClientConfig, ClientError, Retry, Roots};
use sessiond_demo::{Accounts, AppState, AttemptLimits, Backend, PasswordCost, Settings, app};
use sessiond_protocol::{LimitPolicy, OwnerLimit};

/// Flags; every one also reads an environment variable.
#[derive(Debug, Parser)]
#[command(name = "sessiond-demo", version, about = "The sessiond demo login app")]
struct Args {
    /// Address to serve on (port 0 picks a free one, printed at start).
    #[arg(long, env = "DEMO_LISTEN", default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// `embedded`, or a daemon: `sessiond://host:port`, `sessiond+tls://host:port`.
    #[arg(long, env = "DEMO_STORE", default_value = "embedded")]
    store: String,
    /// With the embedded store: keep sessions on disk here, so that a
    /// restart of the demo signs nobody out (passwords still change).
    #[arg(long, env = "DEMO_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// File holding the daemon's auth token (else SESSIOND_AUTH_TOKEN, if set).
    #[arg(long, env = "DEMO_STORE_TOKEN_FILE")]
    store_token_file: Option<PathBuf>,
    /// CA certificate (PEM) that signed the daemon's, for sessiond+tls://.
    #[arg(long, env = "DEMO_STORE_TLS_CA")]
    store_tls_ca: Option<PathBuf>,
    /// Sessions end after this long unused: `30m`, `90s`, `12h`.
    #[arg(long, env = "DEMO_IDLE_TIMEOUT", default_value = "30m", value_parser = parse_duration)]
    idle_timeout: Duration,
    /// Sessions end this long after sign-in.
    #[arg(long, env = "DEMO_ABSOLUTE_LIFETIME", default_value = "12h", value_parser = parse_duration)]
    absolute_lifetime: Duration,
    /// Most concurrent sessions per account (0: no limit).
    #[arg(long, env = "DEMO_MAX_SESSIONS", default_value_t = 3)]
    max_sessions: u32,
    /// What a sign-in beyond the limit does.
    #[arg(long, env = "DEMO_LIMIT_POLICY", value_enum, default_value_t = Policy::Refuse)]
    limit_policy: Policy,
    /// Sign-in attempts per account and client before delays start.
    #[arg(long, env = "DEMO_FREE_ATTEMPTS", default_value_t = 3)]
    free_attempts: u32,
    /// The longest delay between two attempts once they have grown.
    #[arg(long, env = "DEMO_MAX_DELAY", default_value = "60s", value_parser = parse_duration)]
    max_delay: Duration,
    /// Failed sign-ins per account from new devices, per window, before
    /// new devices are paused (known devices never are).
    #[arg(long, env = "DEMO_NEW_DEVICE_FAILURES", default_value_t = 20)]
    new_device_failures: u32,
    /// How long sign-in attempts count.
    #[arg(long, env = "DEMO_ATTEMPT_WINDOW", default_value = "15m", value_parser = parse_duration)]
    attempt_window: Duration,
    /// Password hashes run at once, at most (argon2id takes 19 MiB each).
    #[arg(long, env = "DEMO_CONCURRENT_HASHES", default_value_t = 4)]
    concurrent_hashes: usize,
    /// Life of a JWT access token.
    #[arg(long, env = "DEMO_JWT_LIFETIME", default_value = "5m", value_parser = parse_duration)]
    jwt_lifetime: Duration,
    /// Drop Secure and the __Host- prefix from cookies. Browsers accept
    /// Secure cookies over plain HTTP on localhost only: set this to try
    /// the demo over plain HTTP on another address, never in production.
    #[arg(long, env = "DEMO_INSECURE_COOKIES")]
    insecure_cookies: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Policy {
    /// Refuse the new sign-in with a message.
    Refuse,
    /// Sign out the device used least recently.
    EvictOldest,
}

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error("connecting to the session store: {0}")]
    Store(#[from] ClientError),
    #[error("listening on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    #[error("serving: {0}")]
    Serve(std::io::Error),
    #[error("opening the data directory: {0}")]
    DataDir(#[from] sessiond::PersistError),
    #[error("--data-dir is for the embedded store; a daemon keeps its own (sessiond --data-dir)")]
    DataDirWithDaemon,
    #[error("{0}")]
    App(#[from] sessiond_demo::AppError),
}

/// The store the app runs on.
enum Backing {
    /// In-process, in memory or with `--data-dir`.
    Embedded(Store),
    /// A daemon, through the client.
    Daemon(Client),
}

/// `90`, `90s`, `15m`, `12h`, `2d`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a number and s, m, h or d"))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit must be s, m, h or d")),
    };
    Ok(Duration::from_secs(n.saturating_mul(scale)))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sessiond-demo: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), StartError> {
    let settings = Settings {
        idle_timeout: args.idle_timeout,
        absolute_lifetime: args.absolute_lifetime,
        session_limit: (args.max_sessions > 0).then_some(OwnerLimit {
            max_sessions: args.max_sessions,
            policy: match args.limit_policy {
                Policy::Refuse => LimitPolicy::Reject,
                Policy::EvictOldest => LimitPolicy::EvictOldest,
            },
        }),
        attempts: AttemptLimits {
            free_attempts: args.free_attempts,
            max_delay: args.max_delay,
            account_soft_limit: args.new_device_failures,
            window: args.attempt_window,
            concurrent_hashes: args.concurrent_hashes,
        },
        jwt_lifetime: args.jwt_lifetime,
        secure_cookies: !args.insecure_cookies,
    };
    // Reach the store before anything else, so that a wrong address fails
    // at once and no passwords are printed for an app that never ran.
    let backing = match (args.store.as_str(), &args.data_dir) {
        ("embedded", None) => Backing::Embedded(Store::new(StoreConfig::default())),
        ("embedded", Some(dir)) => Backing::Embedded(Store::open(dir)?),
        (_, Some(_)) => return Err(StartError::DataDirWithDaemon),
        (_, None) => Backing::Daemon(Client::connect(client_config(&args)?).await?),
    };
    let (accounts, credentials) = Accounts::demo(PasswordCost::recommended())?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| StartError::Listen(args.listen, e))?;
    let address = listener.local_addr().map_err(StartError::Serve)?;
    println!("sessiond demo on http://{address} (store: {})", args.store);
    println!("accounts (new passwords on every start):");
    for account in &credentials {
        let (name, password, role) = (&account.name, &account.password, account.role);
        println!("  {name:<6} {password}  {role:?}");
    }
    if !settings.secure_cookies {
        eprintln!("sessiond-demo: --insecure-cookies: cookies are sent over plain HTTP too");
    }
    match backing {
        Backing::Embedded(store) => {
            serve(listener, AppState::open(store, accounts, settings).await?).await
        }
        Backing::Daemon(client) => {
            serve(listener, AppState::open(client, accounts, settings).await?).await
        }
    }
}

fn client_config(args: &Args) -> Result<ClientConfig, ClientError> {
    let url = &args.store;
    let config = match &args.store_tls_ca {
        Some(ca) => ClientConfig::from_url_with_roots(url, Roots::PemFile(ca.clone()))?,
        None if url.starts_with("sessiond+tls://") && !url.contains("?ca=") => {
            return Err(ClientError::Config(format!(
                "{url}: TLS needs the CA that signed the daemon's certificate: --store-tls-ca ca.pem"
            )));
        }
        None => ClientConfig::from_url(url)?,
    };
    // A page waits at most about a second for a store that is down (the
    // defaults suit a replication group's failover, not a login page):
    // the visitor gets "try again" at once, and the log says why.
    let config = config
        .request_timeout(Duration::from_secs(1))
        .connect_timeout(Duration::from_secs(1))
        .retry(Retry {
            attempts: 2,
            total: Duration::from_millis(500),
            ..Retry::default()
        });
    match &args.store_token_file {
        Some(path) => config.auth_token_from_file(path),
        None if std::env::var_os("SESSIOND_AUTH_TOKEN").is_some() => {
            config.auth_token_from_env("SESSIOND_AUTH_TOKEN")
        }
        None => Ok(config),
    }
}

async fn serve<S: Backend>(
    listener: tokio::net::TcpListener,
    state: AppState<S>,
) -> Result<(), StartError> {
    let closing = state.clone();
    let service = app(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            // Live pages' streams would hold the shutdown open.
            closing.close_live();
        })
        .await
        .map_err(StartError::Serve)
}

/// SIGINT (Ctrl-C) or SIGTERM (service managers, containers).
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(43_200)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("5w").is_err());
    }

    fn args(extra: &[&str]) -> Args {
        Args::parse_from([&["sessiond-demo"], extra].concat())
    }

    #[test]
    fn store_flags_make_the_client_config() {
        let plain = client_config(&args(&["--store", "sessiond://db.internal:7000"])).unwrap();
        assert_eq!(plain.address, "db.internal:7000");
        assert!(plain.tls.is_none());

        let tls = client_config(&args(&[
            "--store",
            "sessiond+tls://db.internal",
            "--store-tls-ca",
            "/etc/ca.pem",
        ]))
        .unwrap();
        assert_eq!(tls.tls.unwrap().server_name, "db.internal");

        let err = client_config(&args(&["--store", "sessiond+tls://db.internal"])).unwrap_err();
        assert!(err.to_string().contains("--store-tls-ca"), "{err}");

        let dir = std::env::temp_dir().join(format!("sessiond-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let token = dir.join("token");
        std::fs::write(&token, "s3cret\n").unwrap();
        let config = client_config(&args(&[
            "--store",
            "sessiond://h:1",
            "--store-token-file",
            token.to_str().unwrap(),
        ]))
        .unwrap();
        assert_eq!(config.auth_token.as_deref(), Some(&b"s3cret"[..]));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
