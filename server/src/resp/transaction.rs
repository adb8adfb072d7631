//! A connection's transaction: the queue between MULTI and EXEC, and its
//! watched keys (`watches.rs`). The commands are in `cmd/transactions.rs`;
//! the dispatch (`mod.rs`) asks [`Transaction::queues`] whether a command
//! is queued rather than run, and flags the transaction when a command is
//! refused while it queues (Redis's EXECABORT).
//!
//! A queue is bounded: at most [`MAX_QUEUED`] commands, and their bytes
//! (arguments plus a fixed cost per command and argument) at most the
//! connection's input cap (`--max-input-buffer`), since a queued command
//! is input kept for later. Past either, the queue is dropped, the client
//! is told so, and EXEC answers EXECABORT: the transaction is discarded
//! but the connection stays in MULTI, so that the rest of a pipelined
//! transaction is not run one command at a time. The arguments are copied
//! when queued, so the queue holds what it counts, not the read buffers
//! the arguments were cut from.

use std::sync::Arc;

use bytes::Bytes;

use super::errors::RespError;
use super::reply::Value;
use super::spec::{Reply, Spec};
use super::watches::{Watches, Watching};

/// Most commands one transaction queues.
pub(crate) const MAX_QUEUED: usize = 100_000;

/// Bytes counted for a queued command beyond its arguments' own, and for
/// each argument: what the queue's entry and a `Bytes` cost.
const COMMAND_OVERHEAD: usize = 64;
const ARG_OVERHEAD: usize = 32;

/// EXEC's answer when a command was refused while queueing.
pub(crate) const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";

/// Redis's answer to a queued command.
pub(crate) const QUEUED: &str = "QUEUED";

/// One queued command.
pub(crate) struct Queued {
    /// Its index in the table (its STATS counter).
    pub index: usize,
    pub spec: &'static Spec,
    /// The name as the client spelled it (MONITOR shows it so).
    pub name: Bytes,
    /// The arguments after the name.
    pub args: Vec<Bytes>,
}

/// The state between MULTI and EXEC.
#[derive(Default)]
pub(crate) struct Queue {
    pub commands: Vec<Queued>,
    bytes: usize,
    /// A command was refused while queueing (or the queue overflowed):
    /// EXEC answers EXECABORT.
    pub aborted: bool,
}

/// A connection's transaction state.
pub(crate) struct Transaction {
    /// `Some` between MULTI and EXEC or DISCARD.
    pub queue: Option<Queue>,
    /// The watched keys, once WATCH is used.
    watching: Option<Watching>,
    watches: Arc<Watches>,
    client: u64,
}

impl Transaction {
    pub(crate) fn new(watches: Arc<Watches>, client: u64) -> Transaction {
        Transaction {
            queue: None,
            watching: None,
            watches,
            client,
        }
    }

    /// Between MULTI and EXEC.
    pub(crate) fn in_multi(&self) -> bool {
        self.queue.is_some()
    }

    /// A command refused while queueing makes EXEC fail (Redis's
    /// `flagTransaction`).
    pub(crate) fn flag(&mut self) {
        if let Some(queue) = &mut self.queue {
            queue.aborted = true;
        }
    }

    /// Whether `spec` is queued now rather than run: inside MULTI, every
    /// command but the ones that end or manage a transaction, and QUIT and
    /// RESET (Redis 7's list).
    pub(crate) fn queues(&self, spec: &Spec) -> bool {
        self.in_multi()
            && !matches!(
                spec.name,
                "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
            )
    }

    /// Queues a command: QUEUED, or the bound's error.
    pub(crate) fn queue(
        &mut self,
        index: usize,
        spec: &'static Spec,
        name: &Bytes,
        args: &[Bytes],
        max_bytes: usize,
    ) -> Reply {
        let queue = self.queue.as_mut().expect("queue only inside MULTI");
        // A transaction EXEC will discard keeps nothing (as Redis).
        if queue.aborted {
            return Ok(Value::Simple(QUEUED));
        }
        let bytes = COMMAND_OVERHEAD
            + args.iter().map(|a| a.len() + ARG_OVERHEAD).sum::<usize>()
            + spec.name.len();
        if queue.commands.len() >= MAX_QUEUED || queue.bytes + bytes > max_bytes {
            *queue = Queue {
                aborted: true,
                ..Queue::default()
            };
            return Err(RespError::other(format!(
                "MULTI queue limit reached (at most {MAX_QUEUED} commands and {max_bytes} \
                 bytes): EXEC will discard the transaction"
            )));
        }
        queue.bytes += bytes;
        queue.commands.push(Queued {
            index,
            spec,
            name: Bytes::copy_from_slice(name),
            args: args.iter().map(|a| Bytes::copy_from_slice(a)).collect(),
        });
        Ok(Value::Simple(QUEUED))
    }

    /// The connection's watched keys, created on first use.
    pub(crate) fn watching(&mut self) -> &mut Watching {
        let (watches, client) = (&self.watches, self.client);
        self.watching
            .get_or_insert_with(|| Watching::new(watches.clone(), client))
    }

    /// The watched keys, if any were ever watched.
    pub(crate) fn watched(&self) -> Option<&Watching> {
        self.watching.as_ref()
    }

    /// Leaves MULTI and forgets the watched keys (EXEC, DISCARD, RESET).
    pub(crate) fn discard(&mut self) {
        self.queue = None;
        self.unwatch();
    }

    /// Forgets the watched keys (UNWATCH).
    pub(crate) fn unwatch(&mut self) {
        if let Some(watching) = &mut self.watching {
            watching.clear();
        }
    }
}
