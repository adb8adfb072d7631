//! What a RESP connection knows about its client, as handlers see it.

use std::sync::Arc;

use bytes::Bytes;
use sessiond::Store;

use super::reply::Protocol;
use crate::Shared;
use crate::clients::ClientEntry;
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
    /// Its subscriptions and mailbox, once it has subscribed
    /// (`cmd/pubsub.rs`); in RESP2 it is then in subscriber mode.
    pub subscriber: Option<crate::pubsub::Subscriber<'a>>,
    /// Its place among the monitors, once it has sent MONITOR
    /// (`cmd/monitor.rs`).
    pub monitor: Option<crate::monitor::Tap<'a>>,
    /// Set while EXEC runs its queue, whose commands must each answer
    /// (MONITOR is refused there, as Redis's deny-blocking clients).
    pub in_exec: bool,
    /// An XREAD BLOCK waiting for events (`blocking.rs`): while it is
    /// parked the connection reads no more requests.
    pub blocked: Option<super::blocking::Blocked>,
    /// Its place in the registry of connections (CLIENT LIST, KILL);
    /// `None` for the replicated log's connection of its own.
    pub entry: Option<Arc<ClientEntry>>,
    /// CLIENT REPLY OFF: no answers until CLIENT REPLY ON.
    pub reply_off: bool,
    /// CLIENT REPLY SKIP: the next command's answer is dropped.
    pub skip_next: bool,
    /// The table index of the last command found, tried first for the
    /// next one ([`Table::lookup_hinted`](super::spec::Table::lookup_hinted)).
    pub last_found: usize,
}

impl Client<'_> {
    /// A connection of the server's own (the replicated log's), which no
    /// client sees.
    pub(crate) fn internal(shared: &Shared) -> Client<'_> {
        Client {
            shared,
            store: &shared.store,
            policy: Policy::new(shared, &shared.stats.resp),
            protocol: Protocol::Resp2,
            name: None,
            id: 0,
            quit: false,
            stale_reads: false,
            parser: super::Parser::default(),
            streaming: None,
            entry: None,
            subscriber: None,
            monitor: None,
            in_exec: false,
            blocked: None,
            reply_off: false,
            skip_next: false,
            last_found: 0,
            tx: super::transaction::Transaction::new(shared.watches.clone(), 0),
        }
    }

    /// Names the connection (CLIENT SETNAME, HELLO SETNAME, RESET).
    pub(crate) fn set_name(&mut self, name: Option<Bytes>) {
        if let Some(entry) = &self.entry {
            entry.set_name(name.clone());
        }
        self.name = name;
    }

    /// Switches the protocol (HELLO, RESET).
    pub(crate) fn set_protocol(&mut self, protocol: Protocol) {
        if let Some(entry) = &self.entry {
            entry.set_resp(match protocol {
                Protocol::Resp2 => 2,
                Protocol::Resp3 => 3,
            });
        }
        self.protocol = protocol;
    }
}
