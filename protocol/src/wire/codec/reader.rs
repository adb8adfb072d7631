//! A cursor over a frame body that reads the field types of SPEC.md §6.
//!
//! Every read checks that its bytes are there before it looks at them, so
//! the decoders built on it cannot panic, and every length or count taken
//! from the wire is weighed against the bytes that remain before anything
//! is allocated for it: a body of `n` bytes never costs much more than `n`
//! bytes of memory, whatever it claims to hold.

use std::time::Duration;

use super::DecodeError;
use crate::{Labels, SessionId, SessionInfo};

/// What every read returns.
pub(super) type Result<T> = std::result::Result<T, DecodeError>;

/// The shape of the primitive reads (a field name for errors, a value), so
/// that [`Reader::opt`] can wrap any of them.
pub(super) type Read<'a, T> = fn(&mut Reader<'a>, &'static str) -> Result<T>;

/// Fewest bytes an `info` takes on the wire (no labels): id, created, last
/// seen, idle timeout, absolute deadline, expires at, version, label count.
const MIN_INFO_LEN: usize = 16 + 8 + 8 + 4 + 8 + 8 + 4 + 1;

/// Reads fields off the front of a body, in order.
///
/// Each read names the field it reads (`"owner"`, `"expected version"`),
/// which only serves to make a [`DecodeError`] say where the body went
/// wrong.
pub(super) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader at the start of `body`.
    pub(super) fn new(body: &'a [u8]) -> Self {
        Reader { rest: body }
    }

    /// Ends the read: a body must be consumed exactly (SPEC.md §6).
    pub(super) fn finish(self) -> Result<()> {
        match self.rest.len() {
            0 => Ok(()),
            surplus => Err(DecodeError::Surplus(surplus)),
        }
    }

    /// The next `len` bytes.
    fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8]> {
        if len > self.rest.len() {
            return Err(self.truncated(field, len));
        }
        let (head, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(head)
    }

    /// The next `N` bytes, as an array.
    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N]> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or_else(|| self.truncated(field, N))?;
        self.rest = rest;
        Ok(*head)
    }

    fn truncated(&self, field: &'static str, needed: usize) -> DecodeError {
        DecodeError::Truncated {
            field,
            needed,
            left: self.rest.len(),
        }
    }

    /// A `u8`.
    pub(super) fn u8(&mut self, field: &'static str) -> Result<u8> {
        self.array(field).map(|[byte]| byte)
    }

    /// A big-endian `u16`.
    pub(super) fn u16(&mut self, field: &'static str) -> Result<u16> {
        self.array(field).map(u16::from_be_bytes)
    }

    /// A big-endian `u32`.
    pub(super) fn u32(&mut self, field: &'static str) -> Result<u32> {
        self.array(field).map(u32::from_be_bytes)
    }

    /// A big-endian `u64`.
    pub(super) fn u64(&mut self, field: &'static str) -> Result<u64> {
        self.array(field).map(u64::from_be_bytes)
    }

    /// A big-endian two's complement `i64`.
    pub(super) fn i64(&mut self, field: &'static str) -> Result<i64> {
        self.array(field).map(i64::from_be_bytes)
    }

    /// A `u32` length or count (which always fits a `usize` on the
    /// platforms Rust's standard library supports with 32 or more bits;
    /// elsewhere it saturates and the following read fails as truncated).
    pub(super) fn len32(&mut self, field: &'static str) -> Result<usize> {
        self.u32(field)
            .map(|len| usize::try_from(len).unwrap_or(usize::MAX))
    }

    /// A `bool`: 0 or 1, nothing else.
    pub(super) fn bool(&mut self, field: &'static str) -> Result<bool> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(DecodeError::invalid(field, other, "0 or 1")),
        }
    }

    /// A `u32` of whole seconds.
    pub(super) fn secs(&mut self, field: &'static str) -> Result<Duration> {
        self.u32(field).map(|secs| Duration::from_secs(secs.into()))
    }

    /// A `u64` of whole milliseconds.
    pub(super) fn millis(&mut self, field: &'static str) -> Result<Duration> {
        self.u64(field).map(Duration::from_millis)
    }

    /// A session id: 16 bytes.
    pub(super) fn id(&mut self, field: &'static str) -> Result<SessionId> {
        self.array(field).map(SessionId::from_bytes)
    }

    /// A `bytes16`: `u16` length, then the bytes.
    pub(super) fn bytes16(&mut self, field: &'static str) -> Result<&'a [u8]> {
        let len = self.u16(field)?;
        self.take(len.into(), field)
    }

    /// A `bytes32`: `u32` length, then the bytes.
    pub(super) fn bytes32(&mut self, field: &'static str) -> Result<&'a [u8]> {
        let len = self.len32(field)?;
        self.take(len, field)
    }

    /// A `str8`: `u8` length, then UTF-8.
    pub(super) fn str8(&mut self, field: &'static str) -> Result<&'a str> {
        let len = self.u8(field)?;
        let bytes = self.take(len.into(), field)?;
        utf8(bytes, field)
    }

    /// A `str16`: `u16` length, then UTF-8.
    pub(super) fn str16(&mut self, field: &'static str) -> Result<&'a str> {
        let bytes = self.bytes16(field)?;
        utf8(bytes, field)
    }

    /// An `opt<T>`: a presence byte (0 or 1), then `T` read by `read` if
    /// present.
    pub(super) fn opt<T>(&mut self, field: &'static str, read: Read<'a, T>) -> Result<Option<T>> {
        match self.u8(field)? {
            0 => Ok(None),
            1 => read(self, field).map(Some),
            other => Err(DecodeError::invalid(
                field,
                other,
                "a presence byte (0 or 1)",
            )),
        }
    }

    /// `count` items read by `read`, with room reserved for no more items
    /// than the remaining bytes can hold at `min_len` bytes each.
    pub(super) fn counted<T>(
        &mut self,
        count: usize,
        min_len: usize,
        mut read: impl FnMut(&mut Self) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut items = Vec::with_capacity(count.min(self.rest.len() / min_len));
        for _ in 0..count {
            items.push(read(self)?);
        }
        Ok(items)
    }

    /// `labels`: a `u8` count, then per label a `str8` key and a `str16`
    /// value. A key that appears twice is refused rather than silently
    /// replaced.
    pub(super) fn labels(&mut self) -> Result<Labels> {
        let count = self.u8("label count")?;
        let mut labels = Labels::new();
        for _ in 0..count {
            let key = self.str8("label key")?;
            let value = self.str16("label value")?;
            if labels.get(key).is_some() {
                return Err(DecodeError::DuplicateLabel(key.to_owned()));
            }
            labels.insert(key, value);
        }
        Ok(labels)
    }

    /// An `info`: what a device list shows of a session.
    pub(super) fn info(&mut self) -> Result<SessionInfo> {
        // Struct fields are evaluated in the order written, which is the
        // order on the wire.
        Ok(SessionInfo {
            id: self.id("id")?,
            created_at: self.u64("created")?,
            last_seen_at: self.u64("last seen")?,
            idle_timeout: self.secs("idle timeout")?,
            absolute_deadline: match self.u64("absolute deadline")? {
                0 => None,
                deadline => Some(deadline),
            },
            expires_at: self.u64("expires at")?,
            version: self.u32("version")?,
            labels: self.labels()?,
        })
    }

    /// A `u32` count, then that many `info`s.
    pub(super) fn infos(&mut self) -> Result<Vec<SessionInfo>> {
        let count = self.len32("session count")?;
        self.counted(count, MIN_INFO_LEN, Self::info)
    }
}

fn utf8<'a>(bytes: &'a [u8], field: &'static str) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8 { field })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_big_endian_integers() {
        let body = [
            1, 2, 3, 4, 5, 6, 7, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
        ];
        let mut r = Reader::new(&body);
        assert_eq!(r.u16("a"), Ok(0x0102));
        assert_eq!(r.u32("b"), Ok(0x0304_0506));
        assert_eq!(r.u8("c"), Ok(7));
        assert_eq!(r.u8("d"), Ok(8));
        assert_eq!(r.i64("e"), Ok(-2));
        assert_eq!(r.finish(), Ok(()));
    }

    #[test]
    fn truncation_names_the_field() {
        let mut r = Reader::new(&[0, 5, b'a', b'b']);
        assert_eq!(
            r.bytes16("owner"),
            Err(DecodeError::Truncated {
                field: "owner",
                needed: 5,
                left: 2
            })
        );
    }

    #[test]
    fn surplus_is_an_error() {
        let mut r = Reader::new(&[1, 2]);
        r.u8("x").unwrap();
        assert_eq!(r.finish(), Err(DecodeError::Surplus(1)));
    }

    #[test]
    fn bools_and_presence_bytes_are_zero_or_one() {
        assert!(Reader::new(&[2]).bool("touch").is_err());
        assert!(Reader::new(&[2, 0, 0, 0, 0]).opt("v", Reader::u32).is_err());
        assert_eq!(Reader::new(&[0]).opt("v", Reader::u32), Ok(None));
        assert_eq!(
            Reader::new(&[1, 0, 0, 0, 9]).opt("v", Reader::u32),
            Ok(Some(9))
        );
    }

    #[test]
    fn strings_must_be_utf8() {
        assert_eq!(
            Reader::new(&[2, 0xc3, 0x28]).str8("label key"),
            Err(DecodeError::InvalidUtf8 { field: "label key" })
        );
        assert_eq!(Reader::new(&[0, 2, 0xc3, 0xa9]).str16("s"), Ok("é"));
    }

    #[test]
    fn duplicate_label_keys_are_refused() {
        let body = [2, 1, b'k', 0, 1, b'a', 1, b'k', 0, 1, b'b'];
        assert_eq!(
            Reader::new(&body).labels(),
            Err(DecodeError::DuplicateLabel("k".into()))
        );
    }

    #[test]
    fn a_huge_count_reserves_only_what_the_body_can_hold() {
        // Reserving room for 4 billion infos up front would abort the test.
        let mut body = vec![0xff, 0xff, 0xff, 0xff];
        body.extend([0; MIN_INFO_LEN * 2]);
        let mut r = Reader::new(&body);
        assert!(matches!(r.infos(), Err(DecodeError::Truncated { .. })));
    }
}
