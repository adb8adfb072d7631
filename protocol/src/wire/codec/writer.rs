//! Writes the field types of SPEC.md §6 onto any [`BufMut`]; the mirror of
//! `reader.rs`.
//!
//! `BufMut` already writes the fixed-width integers big-endian
//! (`put_u8` … `put_i64`); this adds the composite types. Lengths that do
//! not fit their prefix cannot be encoded at all: those methods panic
//! rather than write a frame that says something else (see
//! [`encode_request`](super::encode_request)).

use std::time::Duration;

use bytes::BufMut;

use crate::{Labels, SessionId, SessionInfo};

/// Writes composite field types; implemented for every [`BufMut`].
pub(super) trait WireWrite: BufMut {
    /// A length or count as a `u8`.
    ///
    /// # Panics
    /// If `len` does not fit.
    fn put_len8(&mut self, len: usize) {
        self.put_u8(fit(len));
    }

    /// A length or count as a `u16`.
    ///
    /// # Panics
    /// If `len` does not fit.
    fn put_len16(&mut self, len: usize) {
        self.put_u16(fit(len));
    }

    /// A length or count as a `u32`.
    ///
    /// # Panics
    /// If `len` does not fit.
    fn put_len32(&mut self, len: usize) {
        self.put_u32(fit(len));
    }

    /// A `bool`: 0 or 1.
    fn put_bool(&mut self, value: bool) {
        self.put_u8(value.into());
    }

    /// A duration as a `u32` of whole seconds, rounded up (so that a short
    /// non-zero timeout never becomes 0, which means none) and saturating
    /// at `u32::MAX` (far beyond the ten years a server accepts).
    fn put_secs(&mut self, duration: Duration) {
        let secs = duration
            .as_secs()
            .saturating_add(u64::from(duration.subsec_nanos() > 0));
        self.put_u32(u32::try_from(secs).unwrap_or(u32::MAX));
    }

    /// A duration as a `u64` of whole milliseconds, rounded up (so that a
    /// short non-zero TTL never becomes 0, which deletes a key) and
    /// saturating at `u64::MAX`.
    fn put_millis(&mut self, duration: Duration) {
        let partial = u128::from(!duration.subsec_nanos().is_multiple_of(1_000_000));
        let millis = duration.as_millis() + partial;
        self.put_u64(u64::try_from(millis).unwrap_or(u64::MAX));
    }

    /// A session id: its 16 bytes.
    fn put_id(&mut self, id: &SessionId) {
        self.put_slice(id.as_bytes());
    }

    /// A `bytes16`.
    ///
    /// # Panics
    /// If `bytes` is longer than `u16::MAX`.
    fn put_bytes16(&mut self, bytes: &[u8]) {
        self.put_len16(bytes.len());
        self.put_slice(bytes);
    }

    /// A `bytes32`.
    ///
    /// # Panics
    /// If `bytes` is longer than `u32::MAX`.
    fn put_bytes32(&mut self, bytes: &[u8]) {
        self.put_len32(bytes.len());
        self.put_slice(bytes);
    }

    /// A `str8`.
    ///
    /// # Panics
    /// If `text` is longer than 255 bytes.
    fn put_str8(&mut self, text: &str) {
        self.put_len8(text.len());
        self.put_slice(text.as_bytes());
    }

    /// A `str16`.
    ///
    /// # Panics
    /// If `text` is longer than `u16::MAX` bytes.
    fn put_str16(&mut self, text: &str) {
        self.put_bytes16(text.as_bytes());
    }

    /// An `opt<T>`: a presence byte, then the value written by `put`.
    fn put_opt<T>(&mut self, value: Option<T>, put: impl FnOnce(&mut Self, T)) {
        match value {
            None => self.put_u8(0),
            Some(value) => {
                self.put_u8(1);
                put(self, value);
            }
        }
    }

    /// `labels`: a `u8` count, then per label a `str8` key and a `str16`
    /// value.
    ///
    /// # Panics
    /// If there are more than 255 labels, or a key or value is longer than
    /// its prefix allows (all far beyond the limits of [`Labels`]).
    fn put_labels(&mut self, labels: &Labels) {
        self.put_len8(labels.len());
        for (key, value) in labels.iter() {
            self.put_str8(key);
            self.put_str16(value);
        }
    }

    /// An `info`. A `Some(0)` absolute deadline goes out as 0, which reads
    /// back as none.
    ///
    /// # Panics
    /// As [`put_labels`](WireWrite::put_labels).
    fn put_info(&mut self, info: &SessionInfo) {
        self.put_id(&info.id);
        self.put_u64(info.created_at);
        self.put_u64(info.last_seen_at);
        self.put_secs(info.idle_timeout);
        self.put_u64(info.absolute_deadline.unwrap_or(0));
        self.put_u64(info.expires_at);
        self.put_u32(info.version);
        self.put_labels(&info.labels);
    }
}

impl<B: BufMut + ?Sized> WireWrite for B {}

/// `len` as a narrower length prefix.
///
/// # Panics
/// If it does not fit: the value cannot be encoded.
fn fit<T: TryFrom<usize>>(len: usize) -> T {
    T::try_from(len).unwrap_or_else(|_| {
        panic!(
            "a length of {len} does not fit a {}-byte length prefix",
            size_of::<T>()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(put: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut out = Vec::new();
        put(&mut out);
        out
    }

    #[test]
    fn durations_round_up() {
        let secs = |d| written(|out| out.put_secs(d));
        assert_eq!(secs(Duration::ZERO), [0, 0, 0, 0]);
        assert_eq!(secs(Duration::from_nanos(1)), [0, 0, 0, 1]);
        assert_eq!(secs(Duration::from_millis(1500)), [0, 0, 0, 2]);
        assert_eq!(secs(Duration::MAX), [0xff; 4]);

        let millis = |d| written(|out| out.put_millis(d));
        assert_eq!(millis(Duration::ZERO), [0; 8]);
        assert_eq!(millis(Duration::from_nanos(1)), [0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(
            millis(Duration::from_micros(1_500)),
            [0, 0, 0, 0, 0, 0, 0, 2]
        );
        assert_eq!(millis(Duration::from_millis(7)), [0, 0, 0, 0, 0, 0, 0, 7]);
        assert_eq!(millis(Duration::MAX), [0xff; 8]);
    }

    #[test]
    fn composite_layouts() {
        assert_eq!(written(|out| out.put_bytes16(b"ab")), [0, 2, b'a', b'b']);
        assert_eq!(written(|out| out.put_bytes32(b"a")), [0, 0, 0, 1, b'a']);
        assert_eq!(written(|out| out.put_str8("é")), [2, 0xc3, 0xa9]);
        assert_eq!(
            written(|out| out.put_opt(None::<u8>, |o, v| o.put_u8(v))),
            [0]
        );
        assert_eq!(
            written(|out| out.put_opt(Some(9), |o, v| o.put_u8(v))),
            [1, 9]
        );
        let labels = Labels::new().with("k", "v");
        assert_eq!(
            written(|out| out.put_labels(&labels)),
            [1, 1, b'k', 0, 1, b'v']
        );
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn overlong_fields_cannot_be_encoded() {
        written(|out| out.put_str8(&"x".repeat(256)));
    }
}
