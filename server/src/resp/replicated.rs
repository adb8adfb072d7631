//! The Redis face on a member of a replication group.
//!
//! A command is one of three kinds here. A write (the table's `write`
//! flag) is proposed to the group's log with its arguments and answered
//! with what applying it returned. A read (`readonly`, and SESSION.GET,
//! whose touch the leader keeps and sends on in batches) waits until this
//! node may answer alone (`Replication::readable`). Anything else
//! (connection and server commands) is answered here on any node. On a
//! follower, reads and writes are refused with Redis's READONLY error
//! (`errors::follower_refusal`), which is what makes a Sentinel-aware
//! client look for the new master.

use bytes::{Bytes, BytesMut};
use sessiond_protocol::SessionId;

use super::args::Args;
use super::client::Client;
use super::errors::{RespError, follower_refusal};
use super::reply::Value;
use super::spec::{Flag, Reply, Spec};
use super::table::COMMANDS;
use crate::Shared;
use crate::outcome::Outcome;
use crate::replication::{Op, OpReply, Refusal, Replication};

/// What the group must do for a command before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Write,
    Exec,
    /// EVAL / EVALSHA: one entry of the log, re-run on every node.
    Script,
    /// EVAL_RO / EVALSHA_RO: a read, on the scripting thread.
    ScriptRead,
    Read,
    Local,
    AddNode,
    RemoveNode,
}

fn kind(spec: &Spec) -> Kind {
    match spec.name {
        "session.get" => Kind::Read,
        "node.add" => Kind::AddNode,
        "node.remove" => Kind::RemoveNode,
        "exec" => Kind::Exec,
        "eval" | "evalsha" => Kind::Script,
        "eval_ro" | "evalsha_ro" => Kind::ScriptRead,
        _ if spec.flags.contains(&Flag::Write) => Kind::Write,
        _ if spec.flags.contains(&Flag::Readonly) => Kind::Read,
        _ => Kind::Local,
    }
}

/// Whether the command may draw a fresh session id (fixed by the leader
/// before it proposes, so every node draws the same). SPOP takes its
/// random choice from one (`engine/src/set_ops.rs`), so every node pops
/// the same members.
fn draws_id(spec: &Spec) -> bool {
    matches!(spec.name, "session.create" | "session.rotate" | "spop")
}

/// Most writes proposed as one entry.
const MAX_BATCH: usize = 256;

/// Writes read from one connection's input, waiting to be proposed
/// together.
#[derive(Default)]
pub(super) struct Pending {
    ops: Vec<Op>,
    /// Each op's command index, for counting.
    kinds: Vec<usize>,
}

impl Pending {
    pub(super) fn is_full(&self) -> bool {
        self.ops.len() >= MAX_BATCH
    }

    pub(super) fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// Queues the command if it is a write this node will propose: in a
/// group, authenticated, with a known name and the right arity. Anything
/// else (`false`) takes the ordinary path, which answers every refusal.
pub(super) fn queue(
    client: &Client<'_>,
    pending: &mut Pending,
    name: &Bytes,
    args: &[Bytes],
) -> bool {
    // Inside MULTI a write is queued, for EXEC to propose with the rest.
    if client.shared.replication().is_none()
        || !client.policy.authenticated()
        || client.tx.in_multi()
    {
        return false;
    }
    let Some((index, spec)) = COMMANDS.lookup(name) else {
        return false;
    };
    if kind(spec) != Kind::Write || !spec.accepts(args.len() + 1) {
        return false;
    }
    // Shown to monitors as it is proposed: its answer comes with the
    // entry's, and nothing of this connection runs in between.
    super::cmd::monitor::feed(client, spec, name, args);
    pending.ops.push(write_op(spec, name, args));
    pending.kinds.push(index);
    true
}

/// Proposes what is queued and writes the answers, in order.
pub(super) async fn flush(client: &mut Client<'_>, pending: &mut Pending, output: &mut BytesMut) {
    if pending.ops.is_empty() {
        return;
    }
    let Some(replication) = client.shared.replication() else {
        return;
    };
    let ops = std::mem::take(&mut pending.ops);
    let kinds = std::mem::take(&mut pending.kinds);
    let replies = propose(client.shared, replication, ops).await;
    for (kind, reply) in kinds.into_iter().zip(replies) {
        client.policy.count(Some(kind), Outcome::of_resp(&reply));
        reply
            .unwrap_or_else(Value::from)
            .encode(client.protocol, output);
    }
}

/// Proposes `ops` as one entry: one reply per op, in order (the same
/// refusal for each if the group did not take them).
async fn propose(shared: &Shared, replication: &Replication, ops: Vec<Op>) -> Vec<Reply> {
    let count = ops.len();
    match replication.propose(shared, ops).await {
        Ok(replies) if replies.len() == count => replies
            .into_iter()
            .map(|reply| match reply {
                OpReply::Resp(reply) => reply,
                OpReply::Native(_) | OpReply::Transaction(_) => {
                    Err(RespError::Other("a native answer to a RESP write".into()))
                }
            })
            .collect(),
        outcome => {
            let error = match outcome {
                Err(refusal) => refusal_error(shared, refusal, true),
                Ok(_) => {
                    RespError::Other("the log applied the writes but returned no answers".into())
                }
            };
            (0..count).map(|_| Err(error.clone())).collect()
        }
    }
}

/// A refusal in Redis's words: READONLY on a follower (for a write or a
/// read), UNAVAILABLE when the group could not confirm in time.
fn refusal_error(shared: &Shared, refusal: Refusal, write: bool) -> RespError {
    match refusal {
        Refusal::NotLeader { .. } => follower_refusal(write, &shared.group_view()),
        Refusal::Unavailable(why) => RespError::Coded(format!("UNAVAILABLE {why}").into()),
    }
}

/// The log's form of a write: its arguments, and a drawn id if it may
/// need one.
fn write_op(spec: &Spec, name: &Bytes, args: &[Bytes]) -> Op {
    let mut all = Vec::with_capacity(args.len() + 1);
    all.push(name.clone());
    all.extend_from_slice(args);
    let ids = if draws_id(spec) {
        vec![*SessionId::random().as_bytes()]
    } else {
        Vec::new()
    };
    Op::Resp { args: all, ids }
}

pub(super) async fn run(
    client: &mut Client<'_>,
    replication: &Replication,
    spec: &'static Spec,
    name: &Bytes,
    args: &[Bytes],
) -> Reply {
    let kind = kind(spec);
    let shared = client.shared;
    let refused = |refusal| refusal_error(shared, refusal, kind == Kind::Write);
    match kind {
        Kind::Local => {
            let _pass = client.shared.gate.command();
            (spec.run)(client, Args::new(spec.name, args))
        }
        Kind::Exec => exec(client, replication).await,
        Kind::Script => script(client, replication, spec, args).await,
        Kind::ScriptRead => {
            match replication.readable().await {
                Ok(()) => {}
                Err(Refusal::NotLeader { .. }) if client.stale_reads => {}
                Err(refusal) => return Err(refused(refusal)),
            }
            super::cmd::scripting::run_async(client, spec, args).await
        }
        Kind::Read => {
            match replication.readable().await {
                Ok(()) => {}
                // READONLY was sent: this node's copy will do.
                Err(Refusal::NotLeader { .. }) if client.stale_reads => {}
                Err(refusal) => return Err(refused(refusal)),
            }
            // A transaction applied from the log holds this off (`gate.rs`).
            let _pass = client.shared.gate.command();
            (spec.run)(client, Args::new(spec.name, args))
        }
        Kind::AddNode => {
            let mut args = Args::new(spec.name, args);
            let id = node_id(&mut args)?;
            let addr = String::from_utf8_lossy(args.bytes()?).into_owned();
            replication.add_node(id, addr).await.map_err(refused)?;
            Ok(Value::Simple("OK"))
        }
        Kind::RemoveNode => {
            let mut args = Args::new(spec.name, args);
            let id = node_id(&mut args)?;
            replication.remove_node(id).await.map_err(refused)?;
            Ok(Value::Simple("OK"))
        }
        Kind::Write => {
            let op = write_op(spec, name, args);
            let mut replies = propose(client.shared, replication, vec![op]).await;
            replies.pop().expect("one answer per op")
        }
    }
}

/// Whether a command may be queued by MULTI in a group: what the log can
/// run on every node alike (the data commands, and PING, ECHO and UNWATCH,
/// which touch nothing); not the commands that change or describe this
/// connection or this node.
pub(super) fn queueable(spec: &Spec) -> bool {
    matches!(kind(spec), Kind::Write | Kind::Read)
        || matches!(spec.name, "ping" | "echo" | "unwatch")
}

/// EXEC in a group: the queue proposed as one entry of the log, which
/// every node applies under the store-wide gate's exclusive side; the
/// replies are the leader's.
async fn exec(client: &mut Client<'_>, replication: &Replication) -> Reply {
    let Some(queue) = client.tx.queue.take() else {
        return Err(RespError::other("EXEC without MULTI"));
    };
    client.tx.discard();
    if queue.aborted {
        return Err(RespError::Coded(super::transaction::EXECABORT.into()));
    }
    if queue.commands.is_empty() {
        return Ok(Value::Array(Vec::new()));
    }
    let commands = queue
        .commands
        .iter()
        .map(|queued| {
            let name = Bytes::from_static(queued.spec.name.as_bytes());
            write_op(queued.spec, &name, &queued.args)
        })
        .collect();
    let shared = client.shared;
    let proposed = replication
        .propose(shared, vec![Op::Transaction { commands }])
        .await
        .map_err(|refusal| refusal_error(shared, refusal, true))?;
    let replies = match proposed.into_iter().next() {
        Some(OpReply::Transaction(replies)) if replies.len() == queue.commands.len() => replies,
        _ => {
            return Err(RespError::other(
                "the log applied the transaction but returned no answers",
            ));
        }
    };
    for (queued, reply) in queue.commands.iter().zip(&replies) {
        client
            .policy
            .count(Some(queued.index), Outcome::of_resp(reply));
    }
    Ok(Value::Array(
        replies
            .into_iter()
            .map(|reply| reply.unwrap_or_else(Value::from))
            .collect(),
    ))
}

/// EVAL or EVALSHA in a group: proposed as a transaction of one EVAL
/// (EVALSHA with the body this node has cached, as followers may not),
/// which every node applies under the gate's exclusive side, as of the
/// leader's time; the reply is the leader's.
async fn script(
    client: &mut Client<'_>,
    replication: &Replication,
    spec: &Spec,
    args: &[Bytes],
) -> Reply {
    let all = super::cmd::scripting::as_eval(client, spec, args)?;
    let op = Op::Resp {
        args: all,
        ids: Vec::new(),
    };
    let shared = client.shared;
    let proposed = replication
        .propose(shared, vec![Op::Transaction { commands: vec![op] }])
        .await
        .map_err(|refusal| refusal_error(shared, refusal, true))?;
    match proposed.into_iter().next() {
        Some(OpReply::Transaction(mut replies)) if replies.len() == 1 => {
            replies.pop().expect("one reply")
        }
        _ => Err(RespError::other(
            "the log applied the script but returned no answer",
        )),
    }
}

/// A node id argument: a positive integer.
fn node_id(args: &mut Args<'_>) -> Result<u64, RespError> {
    u64::try_from(args.integer()?)
        .ok()
        .filter(|id| *id > 0)
        .ok_or(RespError::Other(
            "node id must be a positive integer".into(),
        ))
}
