//! Publish/subscribe: who listens to which channel, and the mailboxes
//! messages wait in until their subscriber's connection writes them.
//!
//! Connections live on several connection threads, each with its own
//! runtime, so a publisher cannot write to a subscriber's socket. It puts
//! the message in the subscriber's [`Mailbox`] and wakes it (a tokio
//! `Notify`, which works across runtimes and keeps a wake-up that comes
//! before anyone waits); the subscriber's connection loop then writes it
//! as a push (`driver.rs`: [`Answer::pushed`](crate::driver::Answer)).
//!
//! **Bounds.** A mailbox holds at most its cap in bytes (the connection's
//! output cap): a subscriber that does not read is disconnected when it
//! is passed, as Redis's `client-output-buffer-limit pubsub` does, and
//! never slows the publisher or the other subscribers. A publish costs
//! one shared lock of the registry, a hash look-up, and a glob match per
//! pattern subscribed; with nobody subscribed, one atomic load.
//!
//! **Scope.** Messages go to the subscribers of this node. In a
//! replication group a PUBLISH is not replicated (it is not a write to
//! the store): subscribe where you publish.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;

/// Bytes a queued message is charged beyond its channel and payload.
const MESSAGE_OVERHEAD: usize = 64;

/// One published message as a subscriber receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    /// The pattern it matched (`pmessage`), or `None` for a channel
    /// subscription (`message`).
    pub pattern: Option<Bytes>,
    pub channel: Bytes,
    pub payload: Bytes,
}

/// What waits in a [`Mailbox`]: anything that knows the bytes it holds.
pub(crate) trait MailItem {
    /// Bytes charged against the mailbox's cap while it waits.
    fn cost(&self) -> usize;
}

impl MailItem for Message {
    fn cost(&self) -> usize {
        MESSAGE_OVERHEAD
            + self.channel.len()
            + self.payload.len()
            + self.pattern.as_ref().map_or(0, Bytes::len)
    }
}

/// A subscriber's queue of messages not yet written (a MONITOR's queue of
/// lines too: `monitor.rs`).
#[derive(Debug)]
pub(crate) struct Mailbox<T = Message> {
    queue: Mutex<Queue<T>>,
    notify: Notify,
    cap: usize,
}

#[derive(Debug)]
struct Queue<T> {
    messages: VecDeque<T>,
    bytes: usize,
    /// Set when a message did not fit: the connection closes.
    overflowed: bool,
}

impl<T: MailItem> Mailbox<T> {
    /// A mailbox that holds at most `cap` bytes of messages.
    pub(crate) fn new(cap: usize) -> Arc<Mailbox<T>> {
        Arc::new(Mailbox {
            queue: Mutex::new(Queue {
                messages: VecDeque::new(),
                bytes: 0,
                overflowed: false,
            }),
            notify: Notify::new(),
            cap,
        })
    }

    /// Queues a message and wakes the subscriber; false (and the message
    /// dropped, the mailbox marked overflowed) if it would pass the cap.
    pub(crate) fn deliver(&self, message: T) -> bool {
        let cost = message.cost();
        let mut queue = self.queue.lock();
        if queue.overflowed || queue.bytes + cost > self.cap {
            queue.overflowed = true;
            drop(queue);
            self.notify.notify_one();
            return false;
        }
        queue.bytes += cost;
        queue.messages.push_back(message);
        drop(queue);
        self.notify.notify_one();
        true
    }

    /// Takes messages off the front while `take` wants more; `Err` once
    /// the mailbox has overflowed (the subscriber must be disconnected).
    pub(crate) fn drain(&self, mut take: impl FnMut(T) -> bool) -> Result<(), Overflowed> {
        let mut queue = self.queue.lock();
        if queue.overflowed {
            return Err(Overflowed);
        }
        while let Some(message) = queue.messages.pop_front() {
            queue.bytes -= message.cost();
            if !take(message) {
                break;
            }
        }
        Ok(())
    }

    /// Whether messages wait.
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.lock().messages.is_empty()
    }

    /// Resolves when a message has arrived since the last wake-up.
    pub(crate) async fn arrived(&self) {
        self.notify.notified().await;
    }
}

/// A subscriber's mailbox overflowed: it did not read its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Overflowed;

/// Every subscription on this node.
#[derive(Debug, Default)]
pub(crate) struct Hub {
    registry: RwLock<Registry>,
    /// Channel and pattern subscriptions in all, so that a publish with
    /// nobody listening takes no lock.
    subscriptions: AtomicUsize,
}

#[derive(Debug, Default)]
struct Registry {
    channels: HashMap<Bytes, Vec<Arc<Mailbox>>>,
    patterns: HashMap<Bytes, Vec<Arc<Mailbox>>>,
}

/// Which of the two namespaces a subscription is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Channel,
    Pattern,
}

impl Registry {
    fn map(&mut self, kind: Kind) -> &mut HashMap<Bytes, Vec<Arc<Mailbox>>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
        }
    }
}

impl Hub {
    /// Adds `mailbox` to the subscribers of a channel or pattern. The
    /// caller (`Subscriptions`) subscribes each name once.
    pub(crate) fn subscribe(&self, kind: Kind, name: Bytes, mailbox: &Arc<Mailbox>) {
        let mut registry = self.registry.write();
        registry
            .map(kind)
            .entry(name)
            .or_default()
            .push(Arc::clone(mailbox));
        self.subscriptions.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes `mailbox` off a channel's or pattern's subscribers.
    pub(crate) fn unsubscribe(&self, kind: Kind, name: &[u8], mailbox: &Arc<Mailbox>) {
        let mut registry = self.registry.write();
        let map = registry.map(kind);
        let Some(subscribers) = map.get_mut(name) else {
            return;
        };
        if let Some(at) = subscribers.iter().position(|m| Arc::ptr_eq(m, mailbox)) {
            subscribers.swap_remove(at);
            self.subscriptions.fetch_sub(1, Ordering::Relaxed);
        }
        if subscribers.is_empty() {
            map.remove(name);
        }
    }

    /// Whether nobody subscribes to anything: publishing is then a no-op
    /// (keyspace notifications skip building their channel names).
    pub(crate) fn is_empty(&self) -> bool {
        self.subscriptions.load(Ordering::Relaxed) == 0
    }

    /// Delivers `payload` to every subscriber of `channel` and of every
    /// pattern it matches; how many received it (Redis counts a client
    /// once per matching subscription; a subscriber being disconnected
    /// for not reading receives nothing and is not counted).
    pub(crate) fn publish(&self, channel: &[u8], payload: &[u8]) -> usize {
        if self.is_empty() {
            return 0;
        }
        let channel = Bytes::copy_from_slice(channel);
        let payload = Bytes::copy_from_slice(payload);
        let registry = self.registry.read();
        let mut receivers = 0;
        if let Some(subscribers) = registry.channels.get(&channel) {
            for mailbox in subscribers {
                let message = Message {
                    pattern: None,
                    channel: channel.clone(),
                    payload: payload.clone(),
                };
                receivers += usize::from(mailbox.deliver(message));
            }
        }
        for (pattern, subscribers) in &registry.patterns {
            if !sessiond::glob_match(pattern, &channel) {
                continue;
            }
            for mailbox in subscribers {
                let message = Message {
                    pattern: Some(pattern.clone()),
                    channel: channel.clone(),
                    payload: payload.clone(),
                };
                receivers += usize::from(mailbox.deliver(message));
            }
        }
        receivers
    }

    /// The channels with at least one subscriber, matching `pattern` if
    /// one is given (PUBSUB CHANNELS).
    pub(crate) fn channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let registry = self.registry.read();
        let mut names: Vec<Bytes> = registry
            .channels
            .keys()
            .filter(|name| pattern.is_none_or(|p| sessiond::glob_match(p, name)))
            .cloned()
            .collect();
        names.sort();
        names
    }

    /// Subscribers of one channel, patterns not counted (PUBSUB NUMSUB).
    pub(crate) fn subscribers(&self, channel: &[u8]) -> usize {
        self.registry
            .read()
            .channels
            .get(channel)
            .map_or(0, Vec::len)
    }

    /// Pattern subscriptions in all (PUBSUB NUMPAT).
    pub(crate) fn patterns(&self) -> usize {
        self.registry.read().patterns.values().map(Vec::len).sum()
    }
}

/// Most channels and patterns one connection may subscribe to: each
/// costs the hub an entry, and a client must not grow it without bound.
pub(crate) const MAX_SUBSCRIPTIONS: usize = 100_000;

/// One connection's subscriptions and its mailbox; dropping it (the
/// connection closed, or RESET) takes it off the hub.
#[derive(Debug)]
pub(crate) struct Subscriber<'a> {
    hub: &'a Hub,
    mailbox: Arc<Mailbox>,
    channels: BTreeSet<Bytes>,
    patterns: BTreeSet<Bytes>,
}

impl<'a> Subscriber<'a> {
    /// A subscriber whose mailbox holds at most `cap` bytes.
    pub(crate) fn new(hub: &'a Hub, cap: usize) -> Subscriber<'a> {
        Subscriber {
            hub,
            mailbox: Mailbox::new(cap),
            channels: BTreeSet::new(),
            patterns: BTreeSet::new(),
        }
    }

    fn names(&mut self, kind: Kind) -> &mut BTreeSet<Bytes> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
        }
    }

    /// Subscribes to a channel or pattern (once, however often asked);
    /// false if the connection already has [`MAX_SUBSCRIPTIONS`].
    pub(crate) fn add(&mut self, kind: Kind, name: &[u8]) -> bool {
        if self.names(kind).contains(name) {
            return true;
        }
        if self.count() >= MAX_SUBSCRIPTIONS {
            return false;
        }
        let name = Bytes::copy_from_slice(name);
        self.hub.subscribe(kind, name.clone(), &self.mailbox);
        self.names(kind).insert(name);
        true
    }

    /// Unsubscribes from a channel or pattern, if subscribed.
    pub(crate) fn remove(&mut self, kind: Kind, name: &[u8]) {
        if self.names(kind).remove(name) {
            self.hub.unsubscribe(kind, name, &self.mailbox);
        }
    }

    /// The channels or patterns subscribed to, in order.
    pub(crate) fn subscribed(&self, kind: Kind) -> Vec<Bytes> {
        match kind {
            Kind::Channel => self.channels.iter().cloned().collect(),
            Kind::Pattern => self.patterns.iter().cloned().collect(),
        }
    }

    /// Channels and patterns together, as Redis counts in its replies.
    pub(crate) fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Where this connection's messages wait.
    pub(crate) fn mailbox(&self) -> &Mailbox {
        &self.mailbox
    }
}

impl Drop for Subscriber<'_> {
    fn drop(&mut self) {
        for name in std::mem::take(&mut self.channels) {
            self.hub.unsubscribe(Kind::Channel, &name, &self.mailbox);
        }
        for name in std::mem::take(&mut self.patterns) {
            self.hub.unsubscribe(Kind::Pattern, &name, &self.mailbox);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drained(mailbox: &Mailbox) -> Vec<Message> {
        let mut got = Vec::new();
        mailbox
            .drain(|m| {
                got.push(m);
                true
            })
            .unwrap();
        got
    }

    #[test]
    fn a_message_reaches_channel_and_pattern_subscribers_once_each() {
        let hub = Hub::default();
        let (a, b) = (Mailbox::new(1 << 20), Mailbox::new(1 << 20));
        hub.subscribe(Kind::Channel, Bytes::from_static(b"news"), &a);
        hub.subscribe(Kind::Pattern, Bytes::from_static(b"n*"), &a);
        hub.subscribe(Kind::Pattern, Bytes::from_static(b"x*"), &b);
        assert_eq!(hub.publish(b"news", b"hi"), 2);
        assert_eq!(hub.publish(b"other", b"hi"), 0);
        let got = drained(&a);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].pattern, None);
        assert_eq!(got[1].pattern.as_deref(), Some(&b"n*"[..]));
        assert!(drained(&b).is_empty());
        assert_eq!(hub.channels(None), vec![Bytes::from_static(b"news")]);
        assert_eq!(hub.channels(Some(b"z*")), Vec::<Bytes>::new());
        assert_eq!((hub.subscribers(b"news"), hub.patterns()), (1, 2));
        hub.unsubscribe(Kind::Channel, b"news", &a);
        hub.unsubscribe(Kind::Pattern, b"n*", &a);
        hub.unsubscribe(Kind::Pattern, b"x*", &b);
        assert_eq!(hub.publish(b"news", b"hi"), 0);
        assert!(hub.channels(None).is_empty());
        assert_eq!(hub.subscriptions.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_dropped_subscriber_leaves_the_hub() {
        let hub = Hub::default();
        let mut subscriber = Subscriber::new(&hub, 1 << 20);
        assert!(subscriber.add(Kind::Channel, b"a"));
        assert!(subscriber.add(Kind::Channel, b"a"));
        assert!(subscriber.add(Kind::Pattern, b"a*"));
        assert_eq!(subscriber.count(), 2);
        assert_eq!(hub.publish(b"a", b"x"), 2);
        drop(subscriber);
        assert_eq!(hub.publish(b"a", b"x"), 0);
        assert_eq!((hub.channels(None).len(), hub.patterns()), (0, 0));
    }

    #[test]
    fn a_full_mailbox_overflows_and_stays_overflowed() {
        let hub = Hub::default();
        let slow = Mailbox::new(1000);
        let fast = Mailbox::new(1 << 20);
        hub.subscribe(Kind::Channel, Bytes::from_static(b"c"), &slow);
        hub.subscribe(Kind::Channel, Bytes::from_static(b"c"), &fast);
        for _ in 0..20 {
            hub.publish(b"c", &[b'x'; 100]);
        }
        assert_eq!(slow.drain(|_| true), Err(Overflowed));
        assert_eq!(drained(&fast).len(), 20, "the others lose nothing");
    }
}
