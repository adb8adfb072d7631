//! MONITOR: each command the server runs, told as one line to every
//! connection that asked.
//!
//! A line is Redis's: `+<seconds>.<microseconds> [0 <ip:port>] "arg" …`,
//! or `[0 lua]` for a command a script ran, each argument quoted as
//! Redis's `sdscatrepr` quotes (printable bytes as they are, `"` and `\`
//! escaped, `\n \r \t \a \b` by name, any other byte as `\xHH`). The line
//! is a status reply whatever the monitor's protocol, as in Redis.
//!
//! **Cost.** With no monitor, feeding a command is one relaxed load. With
//! monitors, the line is built once per command and each monitor gets a
//! cheap clone of it in its own mailbox (`pubsub.rs`'s, which wakes its
//! connection on its own thread). Which commands are shown, and which
//! arguments hidden, is the Redis face's business (`resp/cmd/monitor.rs`).
//!
//! **Bounds.** Redis leaves a monitor's output unbounded; here it is
//! bounded by the connection's output cap, as a subscriber's is: a monitor
//! that stops reading is disconnected, and never slows the commands it
//! watches nor the other monitors.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use parking_lot::RwLock;

use crate::pubsub::{MailItem, Mailbox};

/// Bytes a waiting line is charged beyond its text.
const LINE_OVERHEAD: usize = 32;

/// One line, ready to write, shared by every monitor it goes to.
#[derive(Debug, Clone)]
pub(crate) struct Line(pub Bytes);

impl MailItem for Line {
    fn cost(&self) -> usize {
        LINE_OVERHEAD + self.0.len()
    }
}

/// Who ran a command, as the line names it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Origin {
    /// A client connected from this address.
    Peer(SocketAddr),
    /// A script's `redis.call`.
    Lua,
}

/// Every monitor of this node.
#[derive(Debug, Default)]
pub(crate) struct Monitors {
    mailboxes: RwLock<Vec<Arc<Mailbox<Line>>>>,
    /// How many there are, read without the lock by every command.
    count: AtomicUsize,
}

impl Monitors {
    /// Whether nobody monitors: then feeding is a no-op and callers skip
    /// building the arguments.
    pub(crate) fn is_empty(&self) -> bool {
        self.count.load(Ordering::Relaxed) == 0
    }

    /// Tells every monitor that `origin` ran the command `argv` (its name
    /// first, as the client spelled it).
    pub(crate) fn feed<'b>(&self, origin: Origin, argv: impl IntoIterator<Item = &'b [u8]>) {
        if self.is_empty() {
            return;
        }
        let line = Line(render(SystemTime::now(), origin, argv));
        for mailbox in self.mailboxes.read().iter() {
            // One that overflows is closed by its own connection.
            mailbox.deliver(line.clone());
        }
    }

    fn add(&self, mailbox: &Arc<Mailbox<Line>>) {
        self.mailboxes.write().push(Arc::clone(mailbox));
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn remove(&self, mailbox: &Arc<Mailbox<Line>>) {
        let mut mailboxes = self.mailboxes.write();
        if let Some(at) = mailboxes.iter().position(|m| Arc::ptr_eq(m, mailbox)) {
            mailboxes.swap_remove(at);
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A connection's place among the monitors; dropping it (the connection
/// closed, or RESET) ends its monitoring.
#[derive(Debug)]
pub(crate) struct Tap<'a> {
    monitors: &'a Monitors,
    mailbox: Arc<Mailbox<Line>>,
}

impl<'a> Tap<'a> {
    /// Starts monitoring, with at most `cap` bytes of lines waiting.
    pub(crate) fn new(monitors: &'a Monitors, cap: usize) -> Tap<'a> {
        let mailbox = Mailbox::new(cap);
        monitors.add(&mailbox);
        Tap { monitors, mailbox }
    }

    /// Where this connection's lines wait.
    pub(crate) fn mailbox(&self) -> &Mailbox<Line> {
        &self.mailbox
    }
}

impl Drop for Tap<'_> {
    fn drop(&mut self) {
        self.monitors.remove(&self.mailbox);
    }
}

/// The line for one command at `now`.
fn render<'b>(now: SystemTime, origin: Origin, argv: impl IntoIterator<Item = &'b [u8]>) -> Bytes {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut line = String::with_capacity(64);
    let _ = write!(line, "+{}.{:06} ", since.as_secs(), since.subsec_micros());
    match origin {
        Origin::Peer(addr) => {
            let _ = write!(line, "[0 {addr}]");
        }
        Origin::Lua => line.push_str("[0 lua]"),
    }
    let mut line = line.into_bytes();
    for arg in argv {
        line.push(b' ');
        quote(arg, &mut line);
    }
    line.extend_from_slice(b"\r\n");
    Bytes::from(line)
}

/// `arg` in double quotes, escaped as Redis's `sdscatrepr` does.
fn quote(arg: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in arg {
        match b {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            // C's isprint in the C locale: space to tilde.
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(&[
                b'\\',
                b'x',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 15)],
            ]),
        }
    }
    out.push(b'"');
}

/// Lower-case hex digits, as `%02x` prints them.
const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_line_quotes_as_redis_does() {
        let at = UNIX_EPOCH + Duration::from_micros(1_796_293_230_000_042);
        let addr: SocketAddr = "127.0.0.1:48466".parse().unwrap();
        let argv: [&[u8]; 3] = [b"set", b"c", b"a\x01\xff b\t\"\\\n\r\x07\x08~"];
        let line = render(at, Origin::Peer(addr), argv);
        assert_eq!(
            &line[..],
            &b"+1796293230.000042 [0 127.0.0.1:48466] \"set\" \"c\" \
               \"a\\x01\\xff b\\t\\\"\\\\\\n\\r\\a\\b~\"\r\n"[..]
        );
        let lua = render(at, Origin::Lua, [&b"get"[..], b""]);
        assert_eq!(
            &lua[..],
            &b"+1796293230.000042 [0 lua] \"get\" \"\"\r\n"[..]
        );
    }

    #[test]
    fn only_taps_in_place_are_fed() {
        let monitors = Monitors::default();
        assert!(monitors.is_empty());
        let tap = Tap::new(&monitors, 1 << 20);
        let other = Tap::new(&monitors, 1 << 20);
        monitors.feed(Origin::Lua, [&b"ping"[..]]);
        drop(other);
        monitors.feed(Origin::Lua, [&b"echo"[..], b"x"]);
        let mut got = Vec::new();
        tap.mailbox()
            .drain(|line| {
                got.push(line.0);
                true
            })
            .unwrap();
        assert_eq!(got.len(), 2);
        assert!(got[1].ends_with(b"[0 lua] \"echo\" \"x\"\r\n"));
        drop(tap);
        assert!(monitors.is_empty());
    }

    #[test]
    fn a_monitor_that_does_not_read_overflows_alone() {
        let monitors = Monitors::default();
        let slow = Tap::new(&monitors, 500);
        let fast = Tap::new(&monitors, 1 << 20);
        for _ in 0..20 {
            monitors.feed(Origin::Lua, [&[b'x'; 100][..]]);
        }
        assert!(slow.mailbox().drain(|_| true).is_err());
        let mut lines = 0;
        fast.mailbox()
            .drain(|_| {
                lines += 1;
                true
            })
            .unwrap();
        assert_eq!(lines, 20);
    }
}
