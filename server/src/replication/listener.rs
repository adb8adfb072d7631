//! The server side of node-to-node traffic (`--raft-listen`); the framing
//! and the handshake are described in `network.rs`.

use std::io;
use std::sync::Arc;

use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::debug;

use super::lease::Lease;
use super::network::{
    self, APPEND, FAILED, HELLO, MAGIC, MAX_FRAME, MAX_TOKEN, NodeInfo, OK, SNAPSHOT, Stream, VOTE,
};
use super::types::{Raft, TypeConfig};
use crate::Shared;

/// What serving a peer needs.
#[derive(Clone)]
pub(crate) struct Context {
    pub raft: Raft,
    pub me: u64,
    pub lease: Arc<Lease>,
    pub shared: Arc<Shared>,
}

/// Accepts peers until the process ends.
pub(crate) async fn serve(listener: TcpListener, context: Context) {
    loop {
        let Ok((socket, peer)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let context = context.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_peer(socket, &context).await {
                debug!(%peer, error = %e, "raft connection ended");
            }
        });
    }
}

async fn serve_peer(socket: TcpStream, context: &Context) -> io::Result<()> {
    socket.set_nodelay(true)?;
    let timeout = context.shared.config.handshake_timeout;
    let in_time = |e: tokio::time::error::Elapsed| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no handshake in time ({e})"),
        )
    };
    // TLS as on the client listeners: the acceptor in force now.
    let mut socket: Box<dyn Stream> = match context.shared.credentials.current().tls.clone() {
        None => Box::new(socket),
        Some(acceptor) => Box::new(
            tokio::time::timeout(timeout, acceptor.accept(socket))
                .await
                .map_err(in_time)??,
        ),
    };
    if !tokio::time::timeout(timeout, handshake(&mut socket, context))
        .await
        .map_err(in_time)??
    {
        return Ok(());
    }
    loop {
        let (kind, body) = match network::read_frame(&mut socket, MAX_FRAME).await {
            Ok(frame) => frame,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        };
        answer(&mut socket, context, kind, &body).await?;
    }
}

/// Reads the magic and the token; answers whether they are right.
async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    socket: &mut S,
    context: &Context,
) -> io::Result<bool> {
    let mut magic = [0u8; 8];
    socket.read_exact(&mut magic).await?;
    let len = socket.read_u16().await? as usize;
    if &magic != MAGIC || len > MAX_TOKEN {
        socket.write_all(&[0]).await?;
        socket.flush().await?;
        return Ok(false);
    }
    let mut token = vec![0u8; len];
    socket.read_exact(&mut token).await?;
    let accepted = match &context.shared.credentials.current().token {
        None => true,
        Some(secret) => secret.matches(&token),
    };
    socket.write_all(&[u8::from(accepted)]).await?;
    socket.flush().await?;
    Ok(accepted)
}

/// Answers one RPC.
async fn answer<S: AsyncWrite + Unpin>(
    socket: &mut S,
    context: &Context,
    kind: u8,
    body: &[u8],
) -> io::Result<()> {
    let raft = &context.raft;
    match kind {
        APPEND => {
            let rpc: AppendEntriesRequest<TypeConfig> = network::decode(body)?;
            if rpc.vote.leader_id().voted_for() != Some(context.me) {
                // Another node leads: this one must stop reading alone
                // before openraft sees the message (see `lease.rs`).
                context.lease.lose();
            }
            reply(socket, raft.append_entries(rpc).await).await
        }
        VOTE => {
            let rpc: VoteRequest<u64> = network::decode(body)?;
            if rpc.vote.leader_id().voted_for() != Some(context.me) {
                context.lease.lose();
            }
            reply(socket, raft.vote(rpc).await).await
        }
        SNAPSHOT => {
            let rpc: InstallSnapshotRequest<TypeConfig> = network::decode(body)?;
            reply(socket, raft.install_snapshot(rpc).await).await
        }
        HELLO => {
            let info = NodeInfo {
                id: context.me,
                native: context.shared.addresses.native,
                resp: context.shared.addresses.resp,
                initialized: raft.is_initialized().await.unwrap_or(false),
            };
            network::write_frame(socket, OK, &info).await
        }
        other => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unknown RPC kind {other}"),
        )),
    }
}

async fn reply<S: AsyncWrite + Unpin, T: serde::Serialize, E: serde::Serialize>(
    socket: &mut S,
    result: Result<T, E>,
) -> io::Result<()> {
    match result {
        Ok(value) => network::write_frame(socket, OK, &value).await,
        Err(e) => network::write_frame(socket, FAILED, &e).await,
    }
}
