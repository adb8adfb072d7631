//! The daemon's network face: a native-protocol listener over a [`Store`].
//!
//! [`Server::bind`] opens the socket (refusing, like Redis's protected
//! mode, to expose an unauthenticated store beyond loopback), and
//! [`Server::run_until`] accepts connections until a shutdown future
//! completes, then stops accepting, lets every connection answer what it
//! has received, and returns once they have closed (or a grace period has
//! passed).
//!
//! Each connection is a tokio task (`connection.rs`) on one of the
//! server's connection threads (`workers.rs`); requests run on the engine
//! directly from that task, since no engine operation waits.

mod auth;
mod clients;
mod commands;
mod config;
mod connection;
mod driver;
mod event_wake;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod gate;
mod http;
mod key_hook;
mod latency;
mod live;
mod metrics;
mod monitor;
mod near_cache;
mod notifications;
mod outcome;
mod policy;
mod pubsub;
mod reload;
mod replication;
mod resp;
mod slowlog;
mod spin;
mod stats;
mod tls;
mod workers;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use reload::{Credentials, Live};
use sessiond_protocol::wire::ServerError;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};
use workers::Workers;

pub use auth::{Secret, TokenFileError};
pub use config::{ServerConfig, TlsFiles};
pub use reload::{ReloadError, Reloaded, Reloader};
pub use replication::ReplicationConfig;
pub use tls::TlsError;

use sessiond::{Durability, Store};
use stats::ServerStats;

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Listening on a non-loopback address without an auth token.
    #[error(
        "refusing to listen on {0} without an auth token: anyone who can reach it could read \
         and end every session; set an auth token, listen on 127.0.0.1, or pass \
         --allow-unauthenticated-remote if a firewall guards it"
    )]
    Unprotected(SocketAddr),
    /// Serving metrics on a non-loopback address without an auth token.
    #[error(
        "refusing to serve metrics on {0} without an auth token: anyone who can reach it could \
         watch the store's traffic, size and errors; set an auth token (scrapers then send it \
         as a bearer token), listen on 127.0.0.1, or pass --allow-unauthenticated-remote if a \
         firewall guards it"
    )]
    UnprotectedMetrics(SocketAddr),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The certificate or key could not be loaded.
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    /// Accepting failed for good.
    #[error("accepting connections: {0}")]
    Accept(io::Error),
    /// The connection threads could not be started.
    #[error("starting connection threads: {0}")]
    Threads(io::Error),
    /// The replication group's log, snapshot or listener could not start.
    #[error("replication: {0:#}")]
    Replication(anyhow::Error),
}

/// When and from where a client connection came.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arrival {
    /// When it was accepted: the deadline to authenticate runs from here.
    pub at: tokio::time::Instant,
    /// The peer's address, under which wrong tokens are remembered.
    pub peer: SocketAddr,
    /// The listener's address it came in on (CLIENT LIST's `laddr`).
    pub local: SocketAddr,
    /// Its socket's descriptor (CLIENT LIST's `fd`; -1 unknown).
    pub fd: i32,
}

/// What every connection shares.
pub(crate) struct Shared {
    pub store: Store,
    pub config: ServerConfig,
    pub stats: ServerStats,
    /// Numbers connections for RESP's `CLIENT ID`.
    pub next_client_id: AtomicU64,
    /// Under `fsync always`: answers wait for their writes to be on disk.
    pub durability: Option<Durability>,
    /// The TLS acceptor and token in force, which a reload replaces: read
    /// these, not `config`'s start-up values.
    pub credentials: Arc<Live>,
    /// The listeners' bound addresses, as the group and SENTINEL advertise
    /// them.
    pub addresses: Addresses,
    /// This node's member of its replication group, if it has one (set
    /// once, right after the server binds).
    pub replication: std::sync::OnceLock<replication::Replication>,
    /// Wrong tokens remembered across connections (`auth.rs`).
    pub guesses: auth::Guesses,
    /// The store-wide gate: every command passes it shared, EXEC (and
    /// later EVAL) exclusively (`gate.rs`).
    pub gate: gate::Gate,
    /// Which RESP connections watch which keys (`resp/watches.rs`), the
    /// store's key observer.
    pub watches: Arc<resp::Watches>,
    /// Every pub/sub subscription on this node (`pubsub.rs`).
    pub pubsub: Arc<pubsub::Hub>,
    /// The connections in MONITOR mode (`monitor.rs`).
    pub monitors: monitor::Monitors,
    /// The store's key observer: WATCH and keyspace notifications
    /// (`key_hook.rs`).
    pub key_hook: Arc<key_hook::KeyHook>,
    /// Lua scripting: the running script's state and the scripting
    /// thread (`resp/scripting/`).
    pub scripts: resp::scripting::Scripts,
    /// The settings CONFIG SET changes while the server runs (`live.rs`).
    pub live: live::LiveConfig,
    /// Wakes the readers waiting for session events (`event_wake.rs`).
    pub event_wake: Arc<event_wake::EventWake>,
    /// The near caches registered, which strict writes wait for
    /// (`near_cache.rs`).
    pub near_caches: Arc<near_cache::NearCaches>,
    /// Client connections open now, both faces, against `live`'s limit;
    /// only the accept loop adds to it.
    pub open_connections: AtomicUsize,
    /// The RESP face's live connections and CLIENT PAUSE (`clients.rs`).
    pub clients: clients::Registry,
    /// SLOWLOG and LATENCY (`slowlog.rs`).
    pub slowlog: slowlog::SlowLog,
    pub latency_events: slowlog::LatencyMonitor,
    /// When the server started, and its run id (INFO server).
    pub started: std::time::Instant,
    pub run_id: String,
    /// The counters as CONFIG RESETSTAT last saw them: INFO shows what
    /// came since, while STATS and the metrics, whose counters only grow,
    /// are left alone.
    pub info_baseline: parking_lot::Mutex<std::collections::HashMap<String, u64>>,
    /// INFO's last look at the command count: when, how many, the rate.
    pub ops_sample: parking_lot::Mutex<Option<(std::time::Instant, u64, u64)>>,
}

/// Where this node's client listeners are bound.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Addresses {
    /// The native protocol's.
    pub native: SocketAddr,
    /// The Redis protocol's, if it listens.
    pub resp: Option<SocketAddr>,
}

impl Shared {
    /// The replication group as this node sees it now (a group of one
    /// without peers).
    pub(crate) fn group_view(&self) -> replication::GroupView {
        match self.replication.get() {
            Some(replication) => replication.view(),
            None => replication::GroupView::standalone(self.addresses.native, self.addresses.resp),
        }
    }

    /// The replication group's way in, if this node is in one.
    pub(crate) fn replication(&self) -> Option<&replication::Replication> {
        self.replication.get()
    }
}

/// A bound native-protocol listener.
pub struct Server {
    listener: TcpListener,
    resp: Option<TcpListener>,
    metrics: Option<MetricsListener>,
    shared: Arc<Shared>,
    workers: Workers,
    reloader: Reloader,
}

/// The metrics listener, and what it renders.
struct MetricsListener {
    listener: TcpListener,
    exporter: Arc<metrics::Exporter>,
}

/// Which protocol a listener speaks.
#[derive(Clone, Copy)]
enum Face {
    Native,
    Resp,
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

/// Accepts on the RESP listener if there is one; otherwise never.
async fn accept_optional(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

impl Server {
    /// Binds the listeners (the native one, and the RESP one if set).
    pub async fn bind(config: ServerConfig, store: Store) -> Result<Server, ServeError> {
        if config.is_unprotected_remote() {
            let mut addrs = std::iter::once(config.listen).chain(config.resp_listen);
            let exposed = addrs.find(|a| !a.ip().is_loopback());
            return Err(ServeError::Unprotected(exposed.unwrap_or(config.listen)));
        }
        if let Some(addr) = config.unprotected_metrics() {
            return Err(ServeError::UnprotectedMetrics(addr));
        }
        let client_ca = config.tls_client_ca.as_deref();
        let tls = (config.tls.as_ref())
            .map(|files| tls::acceptor(files, client_ca))
            .transpose()?;
        for addr in config.cleartext_remote() {
            warn!(
                %addr,
                "listening beyond loopback without TLS: tokens and sessions cross the network \
                 in the clear; set --tls-cert and --tls-key"
            );
        }
        let credentials = Arc::new(Live::new(Credentials {
            tls,
            token: config.auth_token.clone(),
        }));
        let reloader = Reloader::new(&config, credentials.clone());
        let listener = bind(config.listen).await?;
        let resp = match config.resp_listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let metrics = match config.metrics_listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let threads = match config.threads {
            0 => workers::default_count(),
            n => n,
        };
        let workers = Workers::start(threads, config.poll_window).map_err(ServeError::Threads)?;
        let durability = store.durability().filter(Durability::waits);
        let addresses = Addresses {
            native: listener.local_addr().map_err(ServeError::Accept)?,
            resp: resp
                .as_ref()
                .map(TcpListener::local_addr)
                .transpose()
                .map_err(ServeError::Accept)?,
        };
        let pubsub = Arc::new(pubsub::Hub::default());
        let key_hook = key_hook::KeyHook::install(&store, Arc::clone(&pubsub));
        let event_wake = event_wake::EventWake::install(&store);
        let config_for_live = config.clone();
        let shared = Arc::new(Shared {
            addresses,
            replication: std::sync::OnceLock::new(),
            durability,
            store,
            config,
            stats: ServerStats::new(resp::command_names()),
            next_client_id: AtomicU64::new(1),
            live: live::LiveConfig::new(&config_for_live),
            event_wake,
            near_caches: near_cache::NearCaches::new(config_for_live.near_cache_bound),
            open_connections: AtomicUsize::new(0),
            clients: clients::Registry::default(),
            slowlog: slowlog::SlowLog::default(),
            latency_events: slowlog::LatencyMonitor::default(),
            started: std::time::Instant::now(),
            run_id: run_id(),
            info_baseline: parking_lot::Mutex::default(),
            ops_sample: parking_lot::Mutex::default(),
            credentials,
            guesses: auth::Guesses::default(),
            gate: gate::Gate::default(),
            watches: Arc::clone(&key_hook.watches),
            key_hook,
            pubsub,
            monitors: monitor::Monitors::default(),
            scripts: resp::scripting::Scripts::default(),
        });
        shared.scripts.attach(Arc::downgrade(&shared));
        if let Some(group) = shared.config.replication.clone() {
            let member = replication::Replication::start(shared.clone(), group)
                .await
                .map_err(ServeError::Replication)?;
            let _ = shared.replication.set(member);
        }
        let metrics = metrics.map(|listener| MetricsListener {
            listener,
            exporter: Arc::new(metrics::Exporter::new(shared.clone())),
        });
        Ok(Server {
            listener,
            resp,
            metrics,
            shared,
            workers,
            reloader,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The Redis-protocol listener's address, if there is one.
    pub fn resp_addr(&self) -> Option<SocketAddr> {
        self.resp
            .as_ref()
            .map(|l| l.local_addr().expect("a bound listener has an address"))
    }

    /// A handle that reloads the certificate, key and token from their
    /// files while the server runs (the daemon calls it on SIGHUP).
    pub fn reloader(&self) -> Reloader {
        self.reloader.clone()
    }

    /// The metrics listener's address, if there is one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|m| {
            m.listener
                .local_addr()
                .expect("a bound listener has an address")
        })
    }

    /// Serves until `shutdown` completes, then shuts down gracefully.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<(), ServeError> {
        let Server {
            listener,
            resp,
            metrics,
            shared,
            mut workers,
            reloader: _,
        } = self;
        if let Some(resp) = &resp {
            info!(addr = %resp.local_addr().map_err(ServeError::Accept)?, "listening (Redis protocol)");
        }
        info!(
            addr = %listener.local_addr().map_err(ServeError::Accept)?,
            tls = shared.credentials.current().tls.is_some(),
            auth = shared.credentials.current().token.is_some(),
            "listening (native protocol)"
        );
        if let Some(metrics) = &metrics {
            info!(addr = %metrics.listener.local_addr().map_err(ServeError::Accept)?, "serving metrics (GET /metrics)");
        }
        let scrapes = Arc::new(Semaphore::new(http::MAX_SCRAPES));
        let (stop, stopping) = watch::channel(false);
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            let (face, accepted) = tokio::select! {
                _ = &mut shutdown => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => continue,
                accepted = listener.accept() => (Face::Native, accepted),
                accepted = accept_optional(resp.as_ref()) => (Face::Resp, accepted),
                accepted = accept_optional(metrics.as_ref().map(|m| &m.listener)) => {
                    let Some(metrics) = &metrics else { continue };
                    let socket = match accepted {
                        Ok((socket, _)) => socket,
                        // As for the other listeners: transient, so pause.
                        Err(e) => {
                            warn!(error = %e, "accept failed (metrics)");
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let scrape = scrapes.clone().try_acquire_owned().ok();
                    let exporter = metrics.exporter.clone();
                    // The acceptor in force now, as for every new connection.
                    let tls = shared.credentials.current().tls.clone();
                    // On this thread, not a connection thread: a scrape
                    // reads every shard's size, and requests should not
                    // wait behind it.
                    connections.spawn(serve_metrics(socket, tls, exporter, shared.clone(), scrape));
                    continue;
                }
            };
            let (socket, peer) = match accepted {
                Ok(pair) => pair,
                // Out of file descriptors and the like: transient; other
                // clients are still being served.
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            // The limit in force now (CONFIG SET maxclients): only this
            // loop adds to the count, so it is never passed.
            if shared.open_connections.load(Ordering::Relaxed) >= shared.live.max_clients() {
                ServerStats::bump(&shared.stats.connections_refused);
                connections.spawn(refuse_busy(socket, face));
                continue;
            }
            let slot = Slot::take(shared.clone());
            let local = socket.local_addr().unwrap_or(peer);
            // Handed over unregistered, to join its thread's epoll there.
            let socket = match socket.into_std() {
                Ok(socket) => socket,
                Err(e) => {
                    debug!(%peer, error = %e, "connection lost before it was served");
                    continue;
                }
            };
            let arrival = Arrival {
                at: tokio::time::Instant::now(),
                peer,
                local,
                fd: std::os::fd::AsRawFd::as_raw_fd(&socket),
            };
            // The acceptor in force now: a reload from here on applies to
            // the next connection, not this one.
            let tls = shared.credentials.current().tls.clone();
            let (shared, stopping) = (shared.clone(), stopping.clone());
            let connection = async move {
                ServerStats::bump(&shared.stats.connections);
                ServerStats::bump(&shared.stats.connections_total);
                let outcome = match TcpStream::from_std(socket) {
                    Ok(socket) => {
                        serve_socket(socket, face, tls, shared.clone(), stopping, arrival).await
                    }
                    Err(e) => Err(e),
                };
                if let Err(e) = outcome {
                    debug!(%peer, error = %e, "connection ended with an error");
                }
                ServerStats::drop_one(&shared.stats.connections);
                drop(slot);
            };
            connections.spawn_on(connection, workers.next());
        }
        drop(resp);
        drop(metrics);
        drop(listener);
        info!(
            connections = connections.len(),
            "shutting down: no new connections; finishing requests in flight"
        );
        let _ = stop.send(true);
        let grace = shared.config.shutdown_grace;
        if tokio::time::timeout(grace, async {
            while connections.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            warn!(
                left = connections.len(),
                "grace period over; closing the rest"
            );
            connections.shutdown().await;
        }
        info!("stopped");
        Ok(())
    }
}

/// One connection's place under the connection limit, given back when it
/// closes.
struct Slot(Arc<Shared>);

impl Slot {
    fn take(shared: Arc<Shared>) -> Slot {
        shared.open_connections.fetch_add(1, Ordering::Relaxed);
        Slot(shared)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A run id as Redis's: 40 hex digits, drawn at start.
fn run_id() -> String {
    let (a, b) = (
        sessiond_protocol::SessionId::random(),
        sessiond_protocol::SessionId::random(),
    );
    let hex: String = a
        .as_bytes()
        .iter()
        .chain(b.as_bytes())
        .map(|b| format!("{b:02x}"))
        .collect();
    hex[..40].to_owned()
}

/// Runs TLS (if configured) and then the listener's protocol on one
/// socket.
async fn serve_socket(
    socket: TcpStream,
    face: Face,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    stopping: watch::Receiver<bool>,
    arrival: Arrival,
) -> io::Result<()> {
    socket.set_nodelay(true)?;
    match tls {
        None => speak(socket, face, shared, stopping, arrival).await,
        Some(acceptor) => {
            let handshake = acceptor.accept(socket);
            match tokio::time::timeout(shared.config.handshake_timeout, handshake).await {
                Ok(Ok(stream)) => speak(stream, face, shared, stopping, arrival).await,
                Ok(Err(e)) => {
                    debug!(error = %e, "TLS handshake failed");
                    Ok(())
                }
                Err(_) => Ok(()),
            }
        }
    }
}

/// Serves one metrics connection (TLS first if configured), or refuses it
/// when `scrape` found no slot; TLS and the request share one deadline.
async fn serve_metrics(
    socket: TcpStream,
    tls: Option<TlsAcceptor>,
    exporter: Arc<metrics::Exporter>,
    shared: Arc<Shared>,
    scrape: Option<tokio::sync::OwnedSemaphorePermit>,
) {
    let deadline = tokio::time::Instant::now() + shared.config.handshake_timeout;
    let left = || deadline.saturating_duration_since(tokio::time::Instant::now());
    let outcome = match (tls, scrape) {
        (None, None) => http::refuse_busy(socket).await,
        (None, Some(_slot)) => http::serve(socket, &exporter, &shared, left()).await,
        (Some(acceptor), scrape) => {
            match tokio::time::timeout_at(deadline, acceptor.accept(socket)).await {
                Ok(Ok(stream)) if scrape.is_some() => {
                    http::serve(stream, &exporter, &shared, left()).await
                }
                Ok(Ok(stream)) => http::refuse_busy(stream).await,
                Ok(Err(e)) => Err(e),
                Err(_) => Ok(()),
            }
        }
    };
    if let Err(e) = outcome {
        debug!(error = %e, "metrics connection ended with an error");
    }
}

/// Serves a connection in its listener's protocol.
async fn speak<S>(
    stream: S,
    face: Face,
    shared: Arc<Shared>,
    stopping: watch::Receiver<bool>,
    arrival: Arrival,
) -> io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match face {
        Face::Native => connection::serve(stream, shared, stopping, arrival).await,
        Face::Resp => {
            let id = shared.next_client_id.fetch_add(1, Ordering::Relaxed);
            resp::serve(stream, shared, stopping, id, arrival).await
        }
    }
}

/// Tells a client over the connection limit so, in its protocol, then
/// closes.
async fn refuse_busy(mut socket: TcpStream, face: Face) {
    match face {
        Face::Native => {
            let _ = connection::send_error(&mut socket, ServerError::Busy).await;
        }
        Face::Resp => {
            use tokio::io::AsyncWriteExt;
            let _ = socket
                .write_all(b"-ERR max number of clients reached\r\n")
                .await;
        }
    }
}
