//! Stream ids as Redis 7 reads and writes them: `<ms>-<seq>`, two
//! unsigned 64-bit numbers, ordered as the pair.
//!
//! The session event stream (`streams.rs`) names each event
//! `<at_ms>-<seq>`: the event's time and its sequence number. The log's
//! clock never goes backwards and its sequence only goes up, so these ids
//! are strictly increasing, as a stream's must be, and an id a reader got
//! back carries the sequence to resume after.

use std::fmt;

use bytes::Bytes;

use crate::resp::errors::RespError;

/// One stream id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    /// `0-0`, below every entry.
    pub(crate) const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest id.
    pub(crate) const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// The next id up, if there is one (Redis's `streamIncrID`).
    pub(crate) fn next(self) -> Option<StreamId> {
        match (self.seq.checked_add(1), self.ms.checked_add(1)) {
            (Some(seq), _) => Some(StreamId { seq, ..self }),
            (None, Some(ms)) => Some(StreamId { ms, seq: 0 }),
            (None, None) => None,
        }
    }

    /// The next id down, if there is one (Redis's `streamDecrID`).
    pub(crate) fn prev(self) -> Option<StreamId> {
        match (self.seq.checked_sub(1), self.ms.checked_sub(1)) {
            (Some(seq), _) => Some(StreamId { seq, ..self }),
            (None, Some(ms)) => Some(StreamId { ms, seq: u64::MAX }),
            (None, None) => None,
        }
    }

    /// Parses `<ms>-<seq>`, `<ms>` (the sequence then `missing_seq`), and,
    /// unless `strict`, `-` and `+`; Redis's error otherwise.
    pub(crate) fn parse(arg: &[u8], missing_seq: u64, strict: bool) -> Result<StreamId, RespError> {
        match arg {
            b"-" if !strict => return Ok(StreamId::MIN),
            b"+" if !strict => return Ok(StreamId::MAX),
            _ => {}
        }
        // Redis copies the argument to a 128-byte buffer first.
        if arg.len() > 127 {
            return Err(invalid());
        }
        let (ms, seq) = match arg.iter().position(|&b| b == b'-') {
            Some(dash) => (&arg[..dash], Some(&arg[dash + 1..])),
            None => (arg, None),
        };
        let ms = number(ms).ok_or_else(invalid)?;
        let seq = match seq {
            Some(seq) => number(seq).ok_or_else(invalid)?,
            None => missing_seq,
        };
        Ok(StreamId { ms, seq })
    }

    /// A range's bound: `(` before the id makes it exclusive (then `-` and
    /// `+` are refused), Redis's `streamParseIntervalIDOrReply`.
    pub(crate) fn parse_bound(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), RespError> {
        match arg {
            [b'(', rest @ ..] if !rest.is_empty() => {
                Ok((StreamId::parse(rest, missing_seq, true)?, true))
            }
            _ => Ok((StreamId::parse(arg, missing_seq, false)?, false)),
        }
    }

    /// The id as a reply's bulk string.
    pub(crate) fn to_bulk(self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Redis's `string2ull`, which falls back to C's `strtoull`: decimal
/// digits within 64 bits, after optional white space and a `+`.
fn number(text: &[u8]) -> Option<u64> {
    let start = text
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))?;
    let digits = text[start..].strip_prefix(b"+").unwrap_or(&text[start..]);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Redis's error for an id it cannot read.
pub(crate) fn invalid() -> RespError {
    RespError::other("Invalid stream ID specified as stream command argument")
}

/// The ids of an XRANGE (`start`, `end` in that order; XREVRANGE swaps
/// them before), inclusive, or Redis's errors for an empty exclusive one.
pub(crate) fn interval(start: &Bytes, end: &Bytes) -> Result<(StreamId, StreamId), RespError> {
    let (start, start_excluded) = StreamId::parse_bound(start, 0)?;
    let start = match start_excluded {
        true => start
            .next()
            .ok_or_else(|| RespError::other("invalid start ID for the interval"))?,
        false => start,
    };
    let (end, end_excluded) = StreamId::parse_bound(end, u64::MAX)?;
    let end = match end_excluded {
        true => end
            .prev()
            .ok_or_else(|| RespError::other("invalid end ID for the interval"))?,
        false => end,
    };
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    #[test]
    fn ids_parse_as_redis_reads_them() {
        assert_eq!(StreamId::parse(b"5-3", 0, false).unwrap(), id(5, 3));
        assert_eq!(StreamId::parse(b"5", 0, false).unwrap(), id(5, 0));
        assert_eq!(
            StreamId::parse(b"5", u64::MAX, false).unwrap(),
            id(5, u64::MAX)
        );
        assert_eq!(StreamId::parse(b"-", 0, false).unwrap(), StreamId::MIN);
        assert_eq!(StreamId::parse(b"+", 0, false).unwrap(), StreamId::MAX);
        for bad in [&b"-"[..], b"+"] {
            assert!(StreamId::parse(bad, 0, true).is_err());
        }
        for bad in [
            &b""[..],
            b"x",
            b"5-",
            b"-5",
            b"5-x",
            b"5 ",
            b"+-1",
            b"18446744073709551616",
        ] {
            assert!(StreamId::parse(bad, 0, false).is_err(), "{bad:?}");
        }
        // What C's strtoull lets through, Redis does.
        assert_eq!(StreamId::parse(b" +5-01", 0, false).unwrap(), id(5, 1));
        assert_eq!(id(1, 2).to_string(), "1-2");
    }

    #[test]
    fn exclusive_bounds_step_past_the_id() {
        let b = |s: &str| Bytes::copy_from_slice(s.as_bytes());
        // An incomplete end id is its last: `(9` stops just below 9-MAX.
        let below = id(9, u64::MAX - 1);
        assert_eq!(interval(&b("(5-3"), &b("(9")).unwrap(), (id(5, 4), below));
        assert_eq!(
            interval(&b("-"), &b("+")).unwrap(),
            (StreamId::MIN, StreamId::MAX)
        );
        assert!(interval(&b("(-"), &b("+")).is_err());
        let top = format!("({}-{}", u64::MAX, u64::MAX);
        assert!(interval(&b(&top), &b("+")).is_err());
        assert!(interval(&b("-"), &b("(0-0")).is_err());
        assert_eq!(id(3, u64::MAX).next(), Some(id(4, 0)));
        assert_eq!(id(4, 0).prev(), Some(id(3, u64::MAX)));
    }
}
