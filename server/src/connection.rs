//! One client connection of the native protocol: the handshake, then
//! frames in, replies out, through the loop in `driver.rs` (which gives
//! pipelining and write coalescing).
//!
//! What may run before authentication, the cost of a wrong token and the
//! counting of requests are the connection policy's (`policy.rs`), which
//! the RESP face applies too; here PING and AUTH are the requests allowed
//! in before AUTH.
//!
//! A request that breaks the framing (a length of 0 or above the limit)
//! ends the connection after an error frame, since nothing after it can be
//! trusted. A frame that frames but does not decode (unknown opcode,
//! malformed body) gets an error reply and the connection carries on.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sessiond_protocol::wire::codec::{self, FrameError};
use sessiond_protocol::wire::handshake::{self, ClientHello, ServerHello};
use sessiond_protocol::wire::{Reply, Request, Response, ServerError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::timeout;
use tracing::debug;

use crate::Shared;
use crate::commands;
use crate::driver::{self, Answer, FLUSH_AT, Next, linger};
use crate::outcome::Outcome;
use crate::policy::{Attempt, Policy};
use crate::replication::{Op, OpReply, Refusal, Replication};
use crate::stats::op_index;

/// What a connection knows about its client.
struct Client<'a> {
    shared: &'a Shared,
    policy: Policy<'a>,
}

/// Serves one connection until the client leaves, errs or idles out, or
/// the server shuts down.
pub(crate) async fn serve<S>(
    mut stream: S,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if !handshake(&mut stream, &shared).await? {
        return Ok(());
    }
    let mut client = Client {
        shared: &shared,
        policy: Policy::new(&shared, &shared.stats.native),
    };
    driver::drive(stream, &mut client, &shared, shutdown).await
}

/// Reads the client's hello and answers it. Returns false (after telling
/// the peer why, where it can understand) if the connection must close.
async fn handshake<S>(stream: &mut S, shared: &Shared) -> io::Result<bool>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut hello = [0u8; 8];
    match timeout(
        shared.config.handshake_timeout,
        stream.read_exact(&mut hello),
    )
    .await
    {
        Ok(Ok(_)) => {}
        Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            debug!("no handshake in time");
            return Ok(false);
        }
    }
    if handshake::looks_like_http(&hello) {
        debug!("an HTTP client on the native port");
        stream.write_all(handshake::HTTP_REPLY).await?;
        linger(stream).await;
        return Ok(false);
    }
    let refusal = match ClientHello::decode(&hello) {
        Err(e) => ServerError::BadHandshake(e.to_string()),
        Ok(client) => match handshake::negotiate(client.version) {
            Err(e) => e,
            Ok(version) => {
                let reply = ServerHello {
                    version,
                    auth_required: shared.credentials.current().token.is_some(),
                    max_frame: shared.config.max_frame,
                };
                stream.write_all(&reply.encode()).await?;
                return Ok(true);
            }
        },
    };
    debug!(error = %refusal, "refusing handshake");
    send_error(stream, refusal).await?;
    Ok(false)
}

/// Writes one error frame before or instead of the normal loop, then
/// closes.
pub(crate) async fn send_error<S>(stream: &mut S, error: ServerError) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut frame = BytesMut::new();
    codec::encode_response(&Err(error), &mut frame);
    stream.write_all(&frame).await?;
    linger(stream).await;
    Ok(())
}

impl Answer for Client<'_> {
    /// Answers every complete frame in `input`. A frame that breaks the
    /// framing is answered with an error and closes the connection.
    async fn answer(&mut self, input: &mut BytesMut, output: &mut BytesMut) -> Next {
        let max_frame = self.shared.config.max_frame;
        let next = loop {
            if output.len() >= FLUSH_AT {
                break Next::More;
            }
            let body = match codec::next_frame(input, max_frame) {
                Ok(Some(body)) => body,
                Ok(None) => break Next::Read,
                Err(e) => {
                    let error = match e {
                        FrameError::TooLarge { .. } => {
                            ServerError::FrameTooLarge { max: max_frame }
                        }
                        other => ServerError::Malformed(other.to_string()),
                    };
                    debug!(%error, "framing lost");
                    codec::encode_response(&Err(error), output);
                    break Next::Close;
                }
            };
            let (kind, response, close) = match codec::decode_request(&body) {
                Ok(request) => {
                    let kind = op_index(&request);
                    let (response, close) = self.run(request, body).await;
                    (Some(kind), response, close)
                }
                Err(error) => (None, Err(error), false),
            };
            self.policy.count(kind, Outcome::of_native(&response));
            codec::encode_response(&response, output);
            if close {
                break Next::Close;
            }
        };
        self.policy.report();
        next
    }

    fn answered(&mut self, took: Duration) {
        self.policy.answered(took);
    }
}

impl Client<'_> {
    /// The connection policy's gate, then the command layer. Also says
    /// whether the connection must close after the response.
    async fn run(&mut self, request: Request, body: Bytes) -> (Response, bool) {
        let before_auth = || matches!(request, Request::Ping | Request::Auth { .. });
        if !self.policy.admits(before_auth) {
            return (Err(ServerError::AuthRequired), false);
        }
        match request {
            Request::Auth { token } => {
                let response = match self.policy.authenticate(&token) {
                    Attempt::NoToken | Attempt::Accepted => Ok(Reply::Done),
                    Attempt::Refused => Err(ServerError::AuthFailed),
                };
                self.policy.pause().await;
                (response, self.policy.must_close())
            }
            request => {
                let shared = self.shared;
                let response = match shared.replication() {
                    Some(replication) => replicated(shared, replication, request, body).await,
                    None => commands::execute(&shared.store, &shared.stats, request),
                };
                (response, false)
            }
        }
    }
}

/// A request on a member of a replication group: a write goes through the
/// log (with the ids it may draw fixed here, on the leader); a read waits
/// until this node may answer it alone; membership changes go to openraft.
async fn replicated(
    shared: &crate::Shared,
    replication: &Replication,
    request: Request,
    body: Bytes,
) -> Response {
    let refused = |refusal: Refusal| match refusal {
        Refusal::NotLeader { native, .. } => ServerError::NotLeader {
            leader: native.map(|a| a.to_string()),
        },
        Refusal::Unavailable(why) => ServerError::Unavailable(why),
    };
    match &request {
        Request::Ping | Request::Auth { .. } | Request::Stats => {
            commands::execute(&shared.store, &shared.stats, request)
        }
        Request::NodeAdd { id, raft_addr } => replication
            .add_node(*id, raft_addr.clone())
            .await
            .map(|()| Reply::Done)
            .map_err(refused),
        Request::NodeRemove { id } => replication
            .remove_node(*id)
            .await
            .map(|()| Reply::Done)
            .map_err(refused),
        Request::Get { .. }
        | Request::List { .. }
        | Request::Count { .. }
        | Request::KeyGet { .. }
        | Request::KeyTtl { .. }
        | Request::KeyScan { .. } => {
            replication.readable().await.map_err(refused)?;
            commands::execute(&shared.store, &shared.stats, request)
        }
        write => {
            let draws = matches!(write, Request::Create(new) if new.id.is_none())
                || matches!(write, Request::Rotate { .. });
            let ids = if draws {
                vec![*sessiond_protocol::SessionId::random().as_bytes()]
            } else {
                Vec::new()
            };
            let op = Op::Native { body, ids };
            match replication.propose(shared, vec![op]).await {
                Ok(mut replies) => match replies.pop() {
                    Some(OpReply::Native(response)) => response,
                    _ => Err(ServerError::Unavailable(
                        "the log applied the write but returned no answer".into(),
                    )),
                },
                Err(refusal) => Err(refused(refusal)),
            }
        }
    }
}
