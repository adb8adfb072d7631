//! Integration tests of the daemon on real sockets: a server on 127.0.0.1
//! with an ephemeral port, driven by raw protocol frames, the Rust client,
//! and the `sessiond` binary itself. One binary, so tests link once.

mod admin;
mod binary;
mod bounds;
mod client;
mod differential;
mod durability;
mod events;
mod events_stream;
mod group;
mod hashes;
mod metrics;
mod near_cache;
#[path = "../shared/near_cache_fleet.rs"]
mod near_cache_fleet;
mod notifications;
mod policy;
mod pubsub;
mod raw;
mod redis_client;
mod reload;
mod replication;
mod resp;
#[path = "../shared/tempdir.rs"]
mod tempdir;
mod tls;
mod transactions;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use sessiond::{Store, StoreConfig};
use sessiond_protocol::wire::codec;
use sessiond_protocol::wire::handshake::{ClientHello, ServerHello, VERSION};
use sessiond_protocol::wire::{Request, Response};
use sessiond_server::{Reloader, ServeError, Server, ServerConfig};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server running inside the test process.
pub struct Daemon {
    pub addr: SocketAddr,
    /// The Redis-protocol listener's address, when configured.
    pub resp_addr: Option<SocketAddr>,
    /// The metrics listener's address, when configured.
    pub metrics_addr: Option<SocketAddr>,
    pub store: Store,
    /// Reloads its certificate, key and token file, as SIGHUP does.
    pub reloader: Reloader,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServeError>>,
}

impl Daemon {
    /// Starts a server on an ephemeral loopback port.
    pub async fn start(config: ServerConfig) -> Daemon {
        Daemon::over(Store::new(StoreConfig::default()), config).await
    }

    /// Starts a server over `store` on an ephemeral loopback port.
    pub async fn over(store: Store, config: ServerConfig) -> Daemon {
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..config
        };
        let server = Server::bind(config, store.clone()).await.expect("bind");
        let addr = server.local_addr();
        let resp_addr = server.resp_addr();
        let reloader = server.reloader();
        let metrics_addr = server.metrics_addr();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(server.run_until(async {
            let _ = stopped.await;
        }));
        Daemon {
            addr,
            resp_addr,
            metrics_addr,
            store,
            reloader,
            stop: Some(stop),
            task,
        }
    }

    pub async fn plain() -> Daemon {
        Daemon::start(ServerConfig::default()).await
    }

    /// Asks for a graceful shutdown without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Shuts down and waits until the server has stopped.
    pub async fn stop(mut self) {
        self.begin_shutdown();
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("the server stops within its grace period")
            .expect("the server task does not panic")
            .expect("the server stops cleanly");
    }
}

/// A raw protocol connection: frames in and out, nothing else.
pub struct Raw<S> {
    pub stream: S,
    buffer: BytesMut,
    pub hello: ServerHello,
}

impl Raw<TcpStream> {
    pub async fn connect(addr: SocketAddr) -> Raw<TcpStream> {
        Raw::over(TcpStream::connect(addr).await.expect("connect")).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Raw<S> {
    /// Does the handshake over an open stream.
    pub async fn over(mut stream: S) -> Raw<S> {
        stream
            .write_all(&ClientHello { version: VERSION }.encode())
            .await
            .unwrap();
        let mut hello = [0u8; 16];
        stream.read_exact(&mut hello).await.expect("server hello");
        Raw {
            stream,
            buffer: BytesMut::new(),
            hello: ServerHello::decode(&hello).expect("a valid server hello"),
        }
    }

    pub async fn send(&mut self, request: &Request) {
        let mut frame = BytesMut::new();
        codec::encode_request(request, &mut frame);
        self.stream.write_all(&frame).await.unwrap();
    }

    /// Reads one response; `None` if the server closed the connection.
    pub async fn receive(&mut self) -> Option<Response> {
        receive_frame(&mut self.stream, &mut self.buffer).await
    }

    pub async fn call(&mut self, request: &Request) -> Response {
        self.send(request).await;
        self.receive().await.expect("a response")
    }
}

/// Reads one response frame from a stream, `None` at end of stream.
pub async fn receive_frame<S: AsyncRead + Unpin>(
    stream: &mut S,
    buffer: &mut BytesMut,
) -> Option<Response> {
    loop {
        if let Some(body) = codec::next_frame(buffer, u32::MAX).expect("server framing") {
            return Some(codec::decode_response(&body).expect("a valid response"));
        }
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read_buf(buffer))
            .await
            .expect("the server answers in time");
        match read {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Asserts that a fresh client is served normally.
pub async fn assert_served(addr: SocketAddr) {
    let mut other = Raw::connect(addr).await;
    assert_eq!(
        other.call(&Request::Ping).await,
        Ok(sessiond_protocol::wire::Reply::Done)
    );
}

/// A statistic of the server `client` talks to, by its STATS name.
pub async fn stat(client: &sessiond_client::Client, name: &str) -> u64 {
    let stats = client.stats().await.unwrap();
    stats
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no statistic {name}"))
}
