//! Writing Redis-protocol replies, in RESP2 or (after `HELLO 3`) RESP3.
//!
//! One value type covers both: RESP3's richer types fall back to their
//! RESP2 forms (a null bulk string for null, a flat array for a map),
//! exactly as Redis answers a RESP2 client (a set as an array). Booleans
//! and doubles come with the commands that return them.

use bytes::{BufMut, BytesMut};

use sessiond_protocol::decimal::Decimal;

/// The protocol a connection speaks, chosen by `HELLO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// RESP2, the default.
    Resp2,
    /// RESP3, after `HELLO 3`.
    Resp3,
}

/// A reply.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// `+OK`
    Simple(&'static str),
    /// `-ERR …`: the text includes its code (`ERR`, `WRONGTYPE`, …).
    Error(String),
    Integer(i64),
    Bulk(Vec<u8>),
    /// Null (RESP2: the null bulk string).
    Null,
    /// Null where an array was due (RESP2: `*-1`, the null array; RESP3:
    /// null), as Redis answers `SENTINEL get-master-addr-by-name` for a
    /// name it does not know: a RESP2 client tells the two nulls apart.
    NullArray,
    Array(Vec<Value>),
    /// A set (RESP3 `~`; RESP2: an array), as SMEMBERS answers.
    Set(Vec<Value>),
    /// A map (RESP2: a flat array of keys and values).
    Map(Vec<(Value, Value)>),
    /// A reply already encoded, written as is: EXEC's replies made before
    /// a queued HELLO changed the protocol, which Redis wrote in the old
    /// one.
    Encoded(Vec<u8>),
    /// Out-of-band data (RESP3 `>`; RESP2: an array): pub/sub messages and
    /// (un)subscribe confirmations.
    Push(Vec<Value>),
    /// Several replies to one command, one after the other (SUBSCRIBE
    /// answers once per channel).
    Replies(Vec<Value>),
    /// Text for people (RESP3 `=` with the `txt` format; RESP2: a bulk
    /// string), as Redis answers INFO and CLIENT LIST.
    Verbatim(Vec<u8>),
    /// No answer at all (CLIENT REPLY OFF and SKIP themselves).
    Silent,
}

impl Value {
    /// `-ERR message`.
    pub(crate) fn err(message: impl std::fmt::Display) -> Value {
        Value::Error(format!("ERR {message}"))
    }

    /// A bulk string from text.
    pub(crate) fn text(text: impl Into<String>) -> Value {
        Value::Bulk(text.into().into_bytes())
    }

    /// Appends the reply to `out`.
    pub(crate) fn encode(&self, protocol: Protocol, out: &mut BytesMut) {
        match self {
            Value::Simple(text) => line(out, b'+', text.as_bytes()),
            Value::Error(text) => {
                // An error line must not break the framing.
                let clean: Vec<u8> = text
                    .bytes()
                    .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b })
                    .collect();
                line(out, b'-', &clean);
            }
            Value::Integer(n) => header(out, b':', *n),
            Value::Bulk(bytes) => {
                header(out, b'$', bytes.len() as i64);
                out.put_slice(bytes);
                out.put_slice(b"\r\n");
            }
            Value::Verbatim(text) => match protocol {
                Protocol::Resp2 => Value::Bulk(text.clone()).encode(protocol, out),
                Protocol::Resp3 => {
                    header(out, b'=', text.len() as i64 + 4);
                    out.put_slice(b"txt:");
                    out.put_slice(text);
                    out.put_slice(b"\r\n");
                }
            },
            Value::Silent => {}
            Value::Null => match protocol {
                Protocol::Resp2 => out.put_slice(b"$-1\r\n"),
                Protocol::Resp3 => out.put_slice(b"_\r\n"),
            },
            Value::NullArray => match protocol {
                Protocol::Resp2 => out.put_slice(b"*-1\r\n"),
                Protocol::Resp3 => out.put_slice(b"_\r\n"),
            },
            Value::Array(items) => items_of(out, b'*', items, protocol),
            Value::Encoded(bytes) => out.put_slice(bytes),
            Value::Set(items) => {
                let kind = match protocol {
                    Protocol::Resp3 => b'~',
                    Protocol::Resp2 => b'*',
                };
                items_of(out, kind, items, protocol);
            }
            Value::Map(pairs) => {
                match protocol {
                    Protocol::Resp3 => header(out, b'%', pairs.len() as i64),
                    Protocol::Resp2 => header(out, b'*', 2 * pairs.len() as i64),
                }
                for (key, value) in pairs {
                    key.encode(protocol, out);
                    value.encode(protocol, out);
                }
            }
            Value::Push(items) => {
                let kind = match protocol {
                    Protocol::Resp3 => b'>',
                    Protocol::Resp2 => b'*',
                };
                items_of(out, kind, items, protocol);
            }
            Value::Replies(replies) => {
                for reply in replies {
                    reply.encode(protocol, out);
                }
            }
        }
    }
}

/// An aggregate reply written in pieces: its header first, then as many
/// items as fit a piece each time the connection asks, so that a reply of
/// a million keys (KEYS, SMEMBERS, SESSION.LIST) is never encoded whole;
/// a client that stops reading is closed at its output cap before the
/// rest is encoded at all. The items themselves are held as the store
/// returned them.
pub(crate) struct Streaming {
    items: std::vec::IntoIter<Value>,
    protocol: Protocol,
}

/// Items above which an aggregate is written in pieces.
const STREAM_ABOVE: usize = 1024;

impl Streaming {
    /// Starts writing `value` to `out`: the whole of it if it is small or
    /// not an array or set (`None`), else its header and the stream of
    /// its items, which [`Streaming::write`] goes on with.
    pub(crate) fn start(value: Value, protocol: Protocol, out: &mut BytesMut) -> Option<Streaming> {
        let (kind, items) = match value {
            Value::Array(items) if items.len() > STREAM_ABOVE => (b'*', items),
            Value::Set(items) if items.len() > STREAM_ABOVE => match protocol {
                Protocol::Resp3 => (b'~', items),
                Protocol::Resp2 => (b'*', items),
            },
            other => {
                other.encode(protocol, out);
                return None;
            }
        };
        header(out, kind, items.len() as i64);
        Some(Streaming {
            items: items.into_iter(),
            protocol,
        })
    }

    /// Writes items until `out` holds `until` bytes or none are left;
    /// whether the reply is done.
    pub(crate) fn write(&mut self, out: &mut BytesMut, until: usize) -> bool {
        while out.len() < until {
            match self.items.next() {
                Some(item) => item.encode(self.protocol, out),
                None => return true,
            }
        }
        self.items.len() == 0
    }
}

/// An aggregate's header and its items.
fn items_of(out: &mut BytesMut, kind: u8, items: &[Value], protocol: Protocol) {
    header(out, kind, items.len() as i64);
    for item in items {
        item.encode(protocol, out);
    }
}

/// A type byte, a decimal number and CRLF (integers and the lengths of
/// bulk strings and aggregates), written without allocating: this runs
/// for nearly every reply.
fn header(out: &mut BytesMut, kind: u8, n: i64) {
    out.put_u8(kind);
    out.put_slice(Decimal::of(n).as_bytes());
    out.put_slice(b"\r\n");
}

fn line(out: &mut BytesMut, kind: u8, text: &[u8]) {
    out.put_u8(kind);
    out.put_slice(text);
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(value: Value, protocol: Protocol) -> Vec<u8> {
        let mut out = BytesMut::new();
        value.encode(protocol, &mut out);
        out.to_vec()
    }

    #[test]
    fn resp2_forms() {
        let p = Protocol::Resp2;
        assert_eq!(wire(Value::Simple("OK"), p), b"+OK\r\n");
        assert_eq!(wire(Value::err("no"), p), b"-ERR no\r\n");
        assert_eq!(wire(Value::Integer(-3), p), b":-3\r\n");
        assert_eq!(wire(Value::Bulk(b"hi".to_vec()), p), b"$2\r\nhi\r\n");
        assert_eq!(wire(Value::Null, p), b"$-1\r\n");
        assert_eq!(wire(Value::NullArray, p), b"*-1\r\n");
        let map = Value::Map(vec![(Value::text("k"), Value::Integer(1))]);
        assert_eq!(wire(map, p), b"*2\r\n$1\r\nk\r\n:1\r\n");
        assert_eq!(
            wire(Value::Array(vec![Value::Integer(1), Value::Null]), p),
            b"*2\r\n:1\r\n$-1\r\n"
        );
    }

    #[test]
    fn resp3_forms() {
        let p = Protocol::Resp3;
        assert_eq!(wire(Value::Null, p), b"_\r\n");
        assert_eq!(wire(Value::NullArray, p), b"_\r\n");
        let map = Value::Map(vec![(Value::text("k"), Value::Integer(1))]);
        assert_eq!(wire(map, p), b"%1\r\n$1\r\nk\r\n:1\r\n");
        assert_eq!(wire(Value::Array(vec![Value::Null]), p), b"*1\r\n_\r\n");
        let set = Value::Set(vec![Value::text("a")]);
        assert_eq!(wire(set.clone(), p), b"~1\r\n$1\r\na\r\n");
        assert_eq!(wire(set, Protocol::Resp2), b"*1\r\n$1\r\na\r\n");
        let text = Value::Verbatim(b"a:1\r\n".to_vec());
        assert_eq!(wire(text.clone(), p), b"=9\r\ntxt:a:1\r\n\r\n");
        assert_eq!(wire(text, Protocol::Resp2), b"$5\r\na:1\r\n\r\n");
        assert_eq!(wire(Value::Silent, p), b"");
    }

    #[test]
    fn numbers_are_written_in_full() {
        let p = Protocol::Resp2;
        for n in [0, 7, -1, 10, 1234567890, i64::MAX, i64::MIN] {
            assert_eq!(wire(Value::Integer(n), p), format!(":{n}\r\n").into_bytes());
        }
    }

    #[test]
    fn a_large_aggregate_is_written_in_pieces_as_it_would_be_whole() {
        for protocol in [Protocol::Resp2, Protocol::Resp3] {
            let items: Vec<Value> = (0..5000).map(|i| Value::text(format!("key:{i}"))).collect();
            let whole = wire(Value::Set(items.clone()), protocol);
            let mut out = BytesMut::new();
            let mut stream = Streaming::start(Value::Set(items), protocol, &mut out)
                .expect("5000 items are streamed");
            let mut pieces = 1;
            while !stream.write(&mut out, pieces * 1000) {
                assert!(out.len() < pieces * 1000 + 64, "a piece stops at its size");
                pieces += 1;
            }
            assert!(pieces > 10);
            assert_eq!(out.to_vec(), whole);
            let mut small = BytesMut::new();
            assert!(Streaming::start(Value::Array(vec![]), protocol, &mut small).is_none());
            assert_eq!(&small[..], b"*0\r\n");
        }
    }

    #[test]
    fn errors_never_break_the_framing() {
        assert_eq!(
            wire(Value::err("a\r\nb"), Protocol::Resp2),
            b"-ERR a  b\r\n"
        );
    }
}
