//! What a RESP connection knows about its client, as handlers see it.

use bytes::Bytes;
use sessiond::Store;

use super::reply::Protocol;
use crate::Shared;
use crate::policy::Policy;

/// One RESP connection's state.
pub(crate) struct Client<'a> {
    /// What every connection shares (settings, statistics).
    pub shared: &'a Shared,
    /// The store, which handlers call directly.
    pub store: &'a Store,
    /// Authentication and counting (`policy.rs`).
    pub policy: Policy<'a>,
    /// RESP2 until `HELLO 3`.
    pub protocol: Protocol,
    /// `CLIENT SETNAME`'s.
    pub name: Option<Bytes>,
    /// `CLIENT ID`'s.
    pub id: u64,
    /// Set by QUIT: close after this answer.
    pub quit: bool,
    /// Set by READONLY: on a follower, reads are answered from its own
    /// copy (which may lag the leader) instead of refused, as on a Redis
    /// Cluster replica.
    pub stale_reads: bool,
    /// Where reading the requests stopped, kept between reads so that a
    /// request arriving in pieces is parsed once (`parse.rs`).
    pub parser: super::Parser,
    /// The rest of a large reply being written in pieces
    /// (`reply::Streaming`), sent before the next request is read.
    pub streaming: Option<super::reply::Streaming>,
    /// MULTI's queue and WATCH's keys.
    pub tx: super::transaction::Transaction,
}
