//! The transaction commands: MULTI, EXEC, DISCARD, WATCH, UNWATCH, with
//! Redis 7's replies. The queue and the watched keys are the connection's
//! (`resp/transaction.rs`, `resp/watches.rs`); EXEC runs the queue through
//! the store-wide gate's exclusive side (`gate.rs`), so no other client's
//! command runs in between.
//!
//! In a replication group EXEC proposes its queue as one entry of the log,
//! which every node applies under the gate (`resp/replicated.rs`); WATCH
//! is refused there (docs/replication.md).

use super::{monitor, ok};
use crate::outcome::Outcome;
use crate::resp::args::Args;
use crate::resp::client::Client;
use crate::resp::errors::RespError;
use crate::resp::reply::Value;
use crate::resp::spec::Reply;
use crate::resp::transaction::{EXECABORT, MAX_QUEUED, Queue};

/// What a group answers WATCH.
const IN_A_GROUP: &str = "WATCH is refused in a replication group: whether a watched key \
                          changed is not decided by the replicated log, the same on every node";

/// `MULTI`.
pub(crate) fn multi(client: &mut Client<'_>, _: Args<'_>) -> Reply {
    if client.tx.in_multi() {
        return Err(RespError::other("MULTI calls can not be nested"));
    }
    client.tx.queue = Some(Queue::default());
    ok()
}

/// `DISCARD`.
pub(crate) fn discard(client: &mut Client<'_>, _: Args<'_>) -> Reply {
    if !client.tx.in_multi() {
        return Err(RespError::other("DISCARD without MULTI"));
    }
    client.tx.discard();
    ok()
}

/// `EXEC`: the queue's replies in one array; EXECABORT if a command was
/// refused while queueing; the null array if a watched key changed.
pub(crate) fn exec(client: &mut Client<'_>, _: Args<'_>) -> Reply {
    let Some(queue) = client.tx.queue.take() else {
        return Err(RespError::other("EXEC without MULTI"));
    };
    if queue.aborted {
        client.tx.discard();
        return Err(RespError::Coded(EXECABORT.into()));
    }
    let shared = client.shared;
    let _alone = shared.gate.exclusive();
    let changed = client
        .tx
        .watched()
        .is_some_and(|watching| watching.changed(client.store));
    client.tx.unwatch();
    if changed {
        return Ok(Value::NullArray);
    }
    let mut replies = Vec::with_capacity(queue.commands.len());
    let mut protocol = client.protocol;
    client.in_exec = true;
    for queued in queue.commands {
        monitor::feed_start(client, queued.spec, &queued.name, &queued.args);
        let reply = (queued.spec.run)(client, Args::new(queued.spec.name, &queued.args));
        monitor::feed(client, queued.spec, &queued.name, &queued.args);
        client
            .policy
            .count(Some(queued.index), Outcome::of_resp(&reply));
        replies.push(reply.unwrap_or_else(Value::from));
        if client.protocol != protocol {
            // A queued HELLO switched the protocol: Redis wrote the
            // replies before it in the old one (and HELLO's own in the new).
            let before = replies.len() - 1;
            for earlier in &mut replies[..before] {
                if !matches!(earlier, Value::Encoded(_)) {
                    let mut bytes = bytes::BytesMut::new();
                    earlier.encode(protocol, &mut bytes);
                    *earlier = Value::Encoded(bytes.to_vec());
                }
            }
            protocol = client.protocol;
        }
    }
    client.in_exec = false;
    Ok(Value::Array(replies))
}

/// `WATCH key [key ...]`.
pub(crate) fn watch(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    if client.tx.in_multi() {
        return Err(RespError::other("WATCH inside MULTI is not allowed"));
    }
    if client.shared.replication().is_some() {
        return Err(RespError::other(IN_A_GROUP));
    }
    let max_bytes = client.shared.config.max_input_buffer;
    let store = client.store;
    let watching = client.tx.watching();
    // No point in watching more once a watched key has changed.
    if watching.is_dirty() {
        return ok();
    }
    for key in args.rest() {
        let (count, bytes) = watching.size();
        if count >= MAX_QUEUED || bytes + key.len() > max_bytes {
            return Err(RespError::other(format!(
                "too many watched keys (at most {MAX_QUEUED} keys and {max_bytes} bytes of them)"
            )));
        }
        watching.watch(store, key);
    }
    ok()
}

/// `UNWATCH`.
pub(crate) fn unwatch(client: &mut Client<'_>, _: Args<'_>) -> Reply {
    client.tx.unwatch();
    ok()
}
