//! What travels through the replicated log: a [`Batch`] of writes as the
//! leader stamped them, and what applying one answers ([`Applied`]).
//!
//! A write is replicated as the request itself (the native frame's body,
//! or the RESP command's arguments), not as its effect: every node runs it
//! through the same handler on the same state, so both faces stay one
//! command layer and every command is replicated without a second
//! description of it. What would make two nodes differ is fixed by the
//! leader first: the time (`at_ms`) and any session ids the command may
//! draw (`ids`); see `engine/src/replica.rs`.

use std::fmt;
use std::io::Cursor;

use bytes::Bytes;
use openraft::BasicNode;
use serde::{Deserialize, Serialize};
use sessiond_protocol::wire::Response;

use crate::resp::RespReply;

openraft::declare_raft_types!(
    /// The group's types: node ids are `--node-id`, a node's record in
    /// the membership is its `--raft-listen` address.
    pub(crate) TypeConfig:
        D = Batch,
        R = Applied,
        NodeId = u64,
        Node = BasicNode,
);

/// The raft handle.
pub(crate) type Raft = openraft::Raft<TypeConfig>;
/// A log entry.
pub(crate) type Entry = openraft::Entry<TypeConfig>;
/// A log position.
pub(crate) type LogId = openraft::LogId<u64>;

/// One log entry's writes, all stamped with one time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Batch {
    /// The leader's clock when it proposed the batch (Unix ms); every node
    /// runs the writes as of this time (never earlier than the previous
    /// batch's, so time in the log never runs backwards).
    pub at_ms: u64,
    /// Sliding-expiry touches the leader answered since its last batch:
    /// `(session id, last seen in Unix seconds)`, applied first.
    pub touches: Vec<([u8; 16], u32)>,
    /// The writes, in the order they are applied.
    pub ops: Vec<Op>,
}

impl Batch {
    /// `ops` stamped with the store's time, carrying the touches deferred
    /// since the last batch.
    pub(crate) fn stamped(store: &sessiond::Store, ops: Vec<Op>) -> Batch {
        Batch {
            at_ms: store.now_ms(),
            touches: store
                .take_touches()
                .into_iter()
                .map(|(id, seen)| (*id.as_bytes(), seen))
                .collect(),
            ops,
        }
    }
}

/// One write.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Op {
    /// A native request's frame body (SPEC.md §8).
    Native {
        /// The body, as the client sent it.
        body: Bytes,
        /// Session ids drawn by the leader, for a CREATE without one or a
        /// ROTATE.
        ids: Vec<[u8; 16]>,
    },
    /// A Redis command: its name and arguments.
    Resp {
        /// The name first.
        args: Vec<Bytes>,
        /// As for [`Op::Native`].
        ids: Vec<[u8; 16]>,
    },
    /// A Redis transaction's queue (EXEC): its commands, each an
    /// [`Op::Resp`], applied one after another under the store-wide gate's
    /// exclusive side on every node, so that no other client's command
    /// runs in between.
    Transaction {
        /// The queued commands, in order.
        commands: Vec<Op>,
    },
}

/// What one write answered, in its face's terms.
#[derive(Debug)]
pub(crate) enum OpReply {
    /// A native response.
    Native(Response),
    /// A RESP reply.
    Resp(RespReply),
    /// A transaction's replies, one per queued command.
    Transaction(Vec<RespReply>),
}

/// The answers to a batch's writes, one per op, in order.
///
/// They go back to the connection that proposed the batch on this node
/// and never over the network, so they have no serialized form; openraft
/// asks for serde on every type it carries, and this type's says so.
#[derive(Default)]
pub(crate) struct Applied(pub Vec<OpReply>);

impl fmt::Debug for Applied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Applied({} replies)", self.0.len())
    }
}

impl Serialize for Applied {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_unit()
    }
}

impl<'de> Deserialize<'de> for Applied {
    fn deserialize<D: serde::Deserializer<'de>>(input: D) -> Result<Applied, D::Error> {
        <()>::deserialize(input).map(|()| Applied::default())
    }
}
