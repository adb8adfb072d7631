//! `sessiond-demo`: the demo login app, on the embedded store by default or
//! on a sessiond daemon with `--store sessiond://host:port`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use sessiond::{Store, StoreConfig};
use sessiond_client::{Client, ClientConfig, Roots};
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
    /// Failed sign-ins allowed per account within the window.
    #[arg(long, env = "DEMO_MAX_FAILURES_PER_ACCOUNT", default_value_t = 5)]
    max_failures_per_account: u32,
    /// Failed sign-ins allowed per client address within the window.
    #[arg(long, env = "DEMO_MAX_FAILURES_PER_ADDRESS", default_value_t = 20)]
    max_failures_per_address: u32,
    /// How long a failed sign-in counts.
    #[arg(long, env = "DEMO_FAILURE_WINDOW", default_value = "15m", value_parser = parse_duration)]
    failure_window: Duration,
    /// Life of a JWT access token.
    #[arg(long, env = "DEMO_JWT_LIFETIME", default_value = "5m", value_parser = parse_duration)]
    jwt_lifetime: Duration,
    /// Mark cookies Secure: set it when browsers reach the app over HTTPS
    /// (a TLS-terminating proxy in front).
    #[arg(long, env = "DEMO_SECURE_COOKIES")]
    secure_cookies: bool,
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
    Store(#[from] sessiond_client::ClientError),
    #[error("listening on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    #[error("serving: {0}")]
    Serve(std::io::Error),
    #[error("{0}")]
    App(#[from] sessiond_demo::AppError),
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
            per_account: args.max_failures_per_account,
            per_address: args.max_failures_per_address,
            window: args.failure_window,
        },
        jwt_lifetime: args.jwt_lifetime,
        secure_cookies: args.secure_cookies,
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
    if args.store == "embedded" {
        let store = Store::new(StoreConfig::default());
        serve(listener, AppState::new(store, accounts, settings)).await
    } else {
        let client = Client::connect(client_config(&args)?).await?;
        serve(listener, AppState::new(client, accounts, settings)).await
    }
}

fn client_config(args: &Args) -> Result<ClientConfig, sessiond_client::ClientError> {
    let config = match &args.store_tls_ca {
        Some(ca) => ClientConfig::from_url_with_roots(&args.store, Roots::PemFile(ca.clone()))?,
        None => ClientConfig::from_url(&args.store)?,
    };
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
    let service = app(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(StartError::Serve)
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
}
