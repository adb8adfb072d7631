//! Publish/subscribe: SUBSCRIBE, PSUBSCRIBE, UNSUBSCRIBE, PUNSUBSCRIBE,
//! PUBLISH, PUBSUB; and the pushes a subscriber's connection writes.
//!
//! The registry and the mailboxes are `pubsub.rs` of the server; this file
//! only speaks Redis's words. A (un)subscribe answers once per channel,
//! each answer `[kind, channel, subscriptions]`, written as a RESP3 push
//! or a RESP2 array, as Redis does. A RESP2 connection with subscriptions
//! is in subscriber mode (only the commands [`allowed_while_subscribed`]
//! names); a RESP3 one may send anything, its messages arriving as pushes
//! between replies.

use bytes::{Bytes, BytesMut};

use super::count;
use crate::pubsub::{Kind, MAX_SUBSCRIPTIONS, Message, Overflowed, Subscriber};
use crate::resp::args::Args;
use crate::resp::client::Client;
use crate::resp::errors::RespError;
use crate::resp::reply::{Protocol, Value};
use crate::resp::spec::Reply;

/// `SUBSCRIBE channel [channel ...]`.
pub(crate) fn subscribe(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    add(client, Kind::Channel, args.rest())
}

/// `PSUBSCRIBE pattern [pattern ...]`.
pub(crate) fn psubscribe(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    add(client, Kind::Pattern, args.rest())
}

/// `UNSUBSCRIBE [channel ...]`: the channels named, or every one.
pub(crate) fn unsubscribe(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    remove(client, Kind::Channel, args.rest())
}

/// `PUNSUBSCRIBE [pattern ...]`: the patterns named, or every one.
pub(crate) fn punsubscribe(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    remove(client, Kind::Pattern, args.rest())
}

/// `PUBLISH channel message`: how many subscriptions received it.
pub(crate) fn publish(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let channel = args.bytes()?;
    let message = args.bytes()?;
    Ok(count(client.shared.pubsub.publish(channel, message)))
}

/// `PUBSUB CHANNELS [pattern] | NUMSUB [channel ...] | NUMPAT | HELP`.
pub(crate) fn pubsub(client: &mut Client<'_>, mut args: Args<'_>) -> Reply {
    let hub = &client.shared.pubsub;
    let sub = String::from_utf8_lossy(args.bytes()?).to_ascii_lowercase();
    let rest = args.rest();
    match (sub.as_str(), rest) {
        ("channels", [] | [_]) => {
            let pattern = rest.first().map(|p| &p[..]);
            Ok(Value::Array(
                hub.channels(pattern)
                    .into_iter()
                    .map(|name| Value::Bulk(name.to_vec()))
                    .collect(),
            ))
        }
        ("numsub", channels) => Ok(Value::Array(
            channels
                .iter()
                .flat_map(|c| [Value::Bulk(c.to_vec()), count(hub.subscribers(c))])
                .collect(),
        )),
        ("numpat", []) => Ok(count(hub.patterns())),
        ("help", []) => Ok(Value::Array(
            [
                "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CHANNELS [<pattern>]",
                "    Return the currently active channels matching a <pattern> (default: '*').",
                "NUMPAT",
                "    Return number of subscriptions to patterns.",
                "NUMSUB [<channel> ...]",
                "    Return the number of subscribers for the specified channels, excluding",
                "    pattern subscriptions(default: no channels).",
                "HELP",
                "    Print this help.",
            ]
            .into_iter()
            .map(Value::Simple)
            .collect(),
        )),
        _ => Err(RespError::unknown_subcommand(&sub, "PUBSUB")),
    }
}

/// Whether a RESP2 connection in subscriber mode may run `name` (Redis's
/// list; the rest are refused with [`subscriber_mode_refusal`]).
pub(crate) fn allowed_while_subscribed(name: &str) -> bool {
    matches!(
        name,
        "ping" | "subscribe" | "unsubscribe" | "psubscribe" | "punsubscribe" | "quit" | "reset"
    )
}

/// Redis's refusal of another command in subscriber mode.
pub(crate) fn subscriber_mode_refusal(name: &str) -> RespError {
    RespError::other(format!(
        "Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET \
         are allowed in this context"
    ))
}

/// PING's answer in RESP2 subscriber mode: `["pong", message or ""]`.
pub(crate) fn subscribed_pong(message: Option<&Bytes>) -> Value {
    Value::Array(vec![
        Value::text("pong"),
        Value::Bulk(message.map_or_else(Vec::new, |m| m.to_vec())),
    ])
}

/// Writes the messages waiting for this connection, until `output` has
/// grown by `up_to` bytes; `Err` if its mailbox overflowed while it did
/// not read (the connection must close).
pub(crate) fn write_messages(
    subscriber: &Subscriber<'_>,
    protocol: Protocol,
    output: &mut BytesMut,
    up_to: usize,
) -> Result<(), Overflowed> {
    let until = output.len() + up_to;
    subscriber.mailbox().drain(|message| {
        push(message_items(message)).encode(protocol, output);
        output.len() < until
    })
}

fn message_items(message: Message) -> Vec<Value> {
    let bulk = |b: Bytes| Value::Bulk(b.to_vec());
    match message.pattern {
        None => vec![
            Value::text("message"),
            bulk(message.channel),
            bulk(message.payload),
        ],
        Some(pattern) => vec![
            Value::text("pmessage"),
            bulk(pattern),
            bulk(message.channel),
            bulk(message.payload),
        ],
    }
}

fn push(items: Vec<Value>) -> Value {
    Value::Push(items)
}

fn kind_words(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Channel => ("subscribe", "unsubscribe"),
        Kind::Pattern => ("psubscribe", "punsubscribe"),
    }
}

fn add(client: &mut Client<'_>, kind: Kind, names: &[Bytes]) -> Reply {
    let cap = client.shared.config.max_output_buffer;
    let hub = &client.shared.pubsub;
    let subscriber = client
        .subscriber
        .get_or_insert_with(|| Subscriber::new(hub, cap));
    let (word, _) = kind_words(kind);
    let mut replies = Vec::with_capacity(names.len());
    for name in names {
        if !subscriber.add(kind, name) {
            replies.push(Value::from(RespError::other(format!(
                "a connection may hold at most {MAX_SUBSCRIPTIONS} subscriptions"
            ))));
            break;
        }
        replies.push(push(vec![
            Value::text(word),
            Value::Bulk(name.to_vec()),
            count(subscriber.count()),
        ]));
    }
    Ok(Value::Replies(replies))
}

fn remove(client: &mut Client<'_>, kind: Kind, names: &[Bytes]) -> Reply {
    let (_, word) = kind_words(kind);
    let Some(subscriber) = client.subscriber.as_mut() else {
        // Never subscribed: the answers say so with the count 0.
        return Ok(Value::Replies(unsubscribed_from_none(word, names, 0)));
    };
    let names: Vec<Bytes> = match names {
        [] => subscriber.subscribed(kind),
        names => names.to_vec(),
    };
    if names.is_empty() {
        let replies = unsubscribed_from_none(word, &[], subscriber.count());
        settle(client);
        return Ok(Value::Replies(replies));
    }
    let mut replies = Vec::with_capacity(names.len());
    for name in names {
        subscriber.remove(kind, &name);
        replies.push(push(vec![
            Value::text(word),
            Value::Bulk(name.to_vec()),
            count(subscriber.count()),
        ]));
    }
    settle(client);
    Ok(Value::Replies(replies))
}

/// Answers to an unsubscribe from nothing: one per name, or, with no
/// names, one with a null name; `left` is the subscriptions of the other
/// kind, which the answers count.
fn unsubscribed_from_none(word: &'static str, names: &[Bytes], left: usize) -> Vec<Value> {
    let answer = |name: Value| push(vec![Value::text(word), name, count(left)]);
    match names {
        [] => vec![answer(Value::Null)],
        names => names
            .iter()
            .map(|n| answer(Value::Bulk(n.to_vec())))
            .collect(),
    }
}

/// A connection left with no subscriptions leaves subscriber mode (and
/// gives its mailbox back).
fn settle(client: &mut Client<'_>) {
    if client.subscriber.as_ref().is_some_and(|s| s.count() == 0) {
        client.subscriber = None;
    }
}

/// `RESET`'s part: every subscription ends, with no answers.
pub(crate) fn reset(client: &mut Client<'_>) {
    client.subscriber = None;
}
