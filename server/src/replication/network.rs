//! Node-to-node traffic on `--raft-listen`: openraft's three RPCs, and a
//! `hello` that tells a peer where this node's clients connect.
//!
//! Framing, both ways: `u32` length (big endian), one kind byte, then a
//! postcard value. A connection opens with the client's `SDRAFT01` and
//! the auth token (`u16` length, bytes; empty without a token); the
//! listener answers one byte, 1 accepted or 0 refused (then closes), and
//! compares the token in constant time. Before that nothing but those
//! bytes is read (at most 8 + 2 + 1024), and a connection that does not
//! send them within the handshake timeout is closed. After it, frames are
//! limited to [`MAX_FRAME`]: a batch of entries at their largest, or a
//! snapshot chunk.
//!
//! Replies: kind 0 and the response, or kind 1 and openraft's error for
//! that RPC (it is serializable and goes back to the caller as a
//! `RemoteError`).
//!
//! The client side keeps one connection per peer and RPC stream (openraft
//! asks for one per replication stream), opened on first use and dropped
//! at the first I/O error, so a restarted peer is reached again at the
//! next RPC. It also feeds the leader lease (`lease.rs`): every successful
//! AppendEntries tells it when the request that a follower acknowledged
//! was sent.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::BasicNode;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::lease::Lease;
use super::types::TypeConfig;
use crate::auth::Secret;
use crate::reload::Live;
use rustls_pki_types::ServerName;
use tokio_rustls::TlsConnector;

/// The magic a node's connection opens with.
pub(crate) const MAGIC: &[u8; 8] = b"SDRAFT01";
/// The longest token a handshake may carry.
pub(crate) const MAX_TOKEN: usize = 1024;
/// The largest frame after the handshake.
pub(crate) const MAX_FRAME: u32 = 256 << 20;
/// How long a connection attempt to a peer may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// RPC kinds.
pub(crate) const APPEND: u8 = 1;
pub(crate) const VOTE: u8 = 2;
pub(crate) const SNAPSHOT: u8 = 3;
pub(crate) const HELLO: u8 = 4;
/// Reply kinds.
pub(crate) const OK: u8 = 0;
pub(crate) const FAILED: u8 = 1;

/// What a node says of itself in answer to `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NodeInfo {
    /// Its `--node-id`.
    pub id: u64,
    /// Its native-protocol listener.
    pub native: SocketAddr,
    /// Its Redis-protocol listener, if any.
    pub resp: Option<SocketAddr>,
    /// Whether it is part of a group already (has a vote or a log).
    pub initialized: bool,
}

/// Writes one frame.
pub(crate) async fn write_frame<S: AsyncWrite + Unpin>(
    stream: &mut S,
    kind: u8,
    value: &impl Serialize,
) -> io::Result<()> {
    let mut out = vec![0u8; 5];
    out[4] = kind;
    let mut out = postcard::to_extend(value, out)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    let len = u32::try_from(out.len() - 4)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "frame over 4 GiB"))?;
    out[..4].copy_from_slice(&len.to_be_bytes());
    stream.write_all(&out).await?;
    stream.flush().await
}

/// Reads one frame: its kind and body.
pub(crate) async fn read_frame<S: AsyncRead + Unpin>(
    stream: &mut S,
    max: u32,
) -> io::Result<(u8, Vec<u8>)> {
    let len = stream.read_u32().await?;
    if len == 0 || len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes (the limit is {max})"),
        ));
    }
    let mut body = vec![0u8; len as usize];
    stream.read_exact(&mut body).await?;
    let kind = body[0];
    body.remove(0);
    Ok((kind, body))
}

/// Decodes a frame's value.
pub(crate) fn decode<T: DeserializeOwned>(body: &[u8]) -> io::Result<T> {
    postcard::from_bytes(body)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

/// A connection to a peer, over TLS or not.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Send + Sync + Unpin {}
impl<S: AsyncRead + AsyncWrite + Send + Sync + Unpin> Stream for S {}

/// How this node reaches its peers: TLS when the node serves TLS, and the
/// auth token in force.
#[derive(Clone)]
pub(crate) struct Dialer {
    pub tls: Option<TlsConnector>,
    pub credentials: Arc<Live>,
}

impl Dialer {
    /// Opens an authenticated connection to a peer's raft listener.
    pub(crate) async fn connect(&self, addr: &str) -> io::Result<Box<dyn Stream>> {
        let token = self.credentials.current().token.clone();
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        tcp.set_nodelay(true)?;
        let mut stream: Box<dyn Stream> = match &self.tls {
            None => Box::new(tcp),
            Some(connector) => {
                let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let name = ServerName::try_from(host.to_owned()).map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: {e}"))
                })?;
                let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
                    .await
                    .map_err(|_| {
                        io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")
                    })??;
                Box::new(tls)
            }
        };
        authenticate(&mut stream, token.as_ref()).await?;
        Ok(stream)
    }

    /// Asks a peer who it is.
    pub(crate) async fn hello(&self, addr: &str) -> io::Result<NodeInfo> {
        let mut stream = self.connect(addr).await?;
        write_frame(&mut stream, HELLO, &()).await?;
        let (kind, body) = tokio::time::timeout(CONNECT_TIMEOUT, read_frame(&mut stream, 1 << 16))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer to hello"))??;
        if kind != OK {
            return Err(io::Error::other("hello refused"));
        }
        decode(&body)
    }
}

/// Sends the magic and the token; reads whether they were accepted.
async fn authenticate(stream: &mut Box<dyn Stream>, token: Option<&Secret>) -> io::Result<()> {
    let token = token.map(Secret::expose).unwrap_or_default();
    let mut hello = Vec::with_capacity(10 + token.len());
    hello.extend_from_slice(MAGIC);
    hello.extend_from_slice(&(token.len() as u16).to_be_bytes());
    hello.extend_from_slice(token);
    stream.write_all(&hello).await?;
    stream.flush().await?;
    let mut answer = [0u8; 1];
    tokio::time::timeout(CONNECT_TIMEOUT, stream.read_exact(&mut answer))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer to the handshake"))??;
    if answer[0] != 1 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the peer refused our auth token",
        ));
    }
    Ok(())
}

/// Makes a [`Peer`] for each replication stream openraft opens.
#[derive(Clone)]
pub(crate) struct Network {
    pub dialer: Dialer,
    pub lease: Arc<Lease>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Peer {
        Peer {
            target,
            addr: node.addr.clone(),
            dialer: self.dialer.clone(),
            lease: self.lease.clone(),
            stream: None,
        }
    }
}

/// One stream of RPCs to one peer.
pub(crate) struct Peer {
    target: u64,
    addr: String,
    dialer: Dialer,
    lease: Arc<Lease>,
    stream: Option<Box<dyn Stream>>,
}

impl Peer {
    /// Sends one RPC and reads its reply, within `ttl`.
    async fn call<Req, Resp, E>(
        &mut self,
        kind: u8,
        request: &Req,
        ttl: Duration,
    ) -> Result<Resp, RPCError<u64, BasicNode, E>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let outcome = tokio::time::timeout(ttl, self.exchange(kind, request)).await;
        let (reply_kind, body) = match outcome {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => {
                self.stream = None;
                return Err(match e.kind() {
                    io::ErrorKind::ConnectionRefused | io::ErrorKind::TimedOut => {
                        RPCError::Unreachable(Unreachable::new(&e))
                    }
                    _ => RPCError::Network(NetworkError::new(&e)),
                });
            }
            Err(_) => {
                self.stream = None;
                let e = io::Error::new(io::ErrorKind::TimedOut, "the RPC timed out");
                return Err(RPCError::Network(NetworkError::new(&e)));
            }
        };
        let network = |e: io::Error| RPCError::Network(NetworkError::new(&e));
        match reply_kind {
            OK => decode(&body).map_err(network),
            _ => {
                let remote: E = decode(&body).map_err(network)?;
                Err(RPCError::RemoteError(RemoteError::new(self.target, remote)))
            }
        }
    }

    async fn exchange(&mut self, kind: u8, request: &impl Serialize) -> io::Result<(u8, Vec<u8>)> {
        if self.stream.is_none() {
            self.stream = Some(self.dialer.connect(&self.addr).await?);
        }
        let stream = self.stream.as_mut().expect("connected above");
        write_frame(stream, kind, request).await?;
        read_frame(stream, MAX_FRAME).await
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        let sent = Instant::now();
        let term = rpc.vote.leader_id().term;
        let reply: AppendEntriesResponse<u64> = self.call(APPEND, &rpc, option.hard_ttl()).await?;
        match &reply {
            AppendEntriesResponse::Success | AppendEntriesResponse::PartialSuccess(_) => {
                self.lease.acked(self.target, term, sent);
            }
            AppendEntriesResponse::HigherVote(_) => self.lease.lose(),
            AppendEntriesResponse::Conflict => {}
        }
        Ok(reply)
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        self.call(SNAPSHOT, &rpc, option.hard_ttl()).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        self.call(VOTE, &rpc, option.hard_ttl()).await
    }
}
