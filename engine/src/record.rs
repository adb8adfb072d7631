//! A session as the store keeps it: one allocation of packed bytes.
//!
//! Memory per session is a headline figure, so a stored session is a single
//! thin byte buffer ([`ThinBytes`]) rather than a struct of `Vec`s and
//! `String`s: one allocation instead of four, an 8-byte table slot, no
//! capacity slack, and 4-byte times.
//!
//! ```text
//! offset  size  field
//!      0    16  id
//!     16     4  created        Unix seconds
//!     20     4  last seen      Unix seconds
//!     24     4  idle timeout   seconds, 0 = none
//!     28     4  absolute       Unix seconds, 0 = none
//!     32     4  version
//!     36     4  wheel second   the expiry-wheel bucket holding this session
//!     40     2  owner length
//!     42     2  labels length
//!     44     …  owner bytes, encoded labels, data
//! ```
//!
//! Times are whole seconds in `u32`, which lasts until 2106. A session is
//! alive through the whole of its `expires_at` second and dead from the
//! next: it never expires early, and at most one second late.

use std::time::Duration;

use sessiond_protocol::{Labels, SessionId, SessionInfo};

use crate::thin::ThinBytes;

const CREATED: usize = 16;
const LAST_SEEN: usize = 20;
const IDLE: usize = 24;
const ABSOLUTE: usize = 28;
const VERSION: usize = 32;
const WHEEL_AT: usize = 36;
const OWNER_LEN: usize = 40;
const LABELS_LEN: usize = 42;
const HEADER: usize = 44;

/// The times a new session starts with.
pub(crate) struct Times {
    pub now: u32,
    pub idle: u32,
    pub absolute: u32,
}

/// One stored session.
pub(crate) struct SessionRecord(ThinBytes);

impl SessionRecord {
    /// Packs a new session. `labels` is already encoded by [`encode_labels`].
    pub(crate) fn new(
        id: SessionId,
        owner: &[u8],
        labels: &[u8],
        data: &[u8],
        times: &Times,
        version: u32,
    ) -> Self {
        let mut record = SessionRecord::blank(owner.len(), labels.len(), data.len());
        let bytes = record.0.as_mut_slice();
        bytes[..16].copy_from_slice(id.as_bytes());
        let fields = [times.now, times.now, times.idle, times.absolute, version, 0];
        for (i, field) in fields.into_iter().enumerate() {
            bytes[16 + 4 * i..20 + 4 * i].copy_from_slice(&field.to_le_bytes());
        }
        bytes[HEADER..HEADER + owner.len()].copy_from_slice(owner);
        let labels_at = HEADER + owner.len();
        bytes[labels_at..labels_at + labels.len()].copy_from_slice(labels);
        bytes[labels_at + labels.len()..].copy_from_slice(data);
        record
    }

    /// The same session with other data, a new version, seen at `now`.
    pub(crate) fn with_data(&self, data: &[u8], now: u32) -> Self {
        let keep = HEADER + self.owner_len() + self.labels_len();
        let mut record = SessionRecord::blank(self.owner_len(), self.labels_len(), data.len());
        let bytes = record.0.as_mut_slice();
        bytes[..keep].copy_from_slice(&self.bytes()[..keep]);
        bytes[keep..].copy_from_slice(data);
        record.put(VERSION, self.version().wrapping_add(1));
        record.put(LAST_SEEN, now.max(self.last_seen()));
        record
    }

    /// The packed bytes, as persistence writes them (see
    /// protocol/PERSISTENCE.md: the layout above, the wheel field ignored).
    pub(crate) fn image(&self) -> &[u8] {
        self.bytes()
    }

    /// A record from an image [`SessionRecord::image`] wrote, checked so
    /// that no later accessor can index out of bounds.
    pub(crate) fn from_image(image: &[u8]) -> Result<Self, &'static str> {
        if image.len() < HEADER {
            return Err("a session image shorter than its header");
        }
        let len16 = |at: usize| usize::from(u16::from_le_bytes([image[at], image[at + 1]]));
        let (owner, labels) = (len16(OWNER_LEN), len16(LABELS_LEN));
        if owner == 0 || HEADER + owner + labels > image.len() {
            return Err("a session image whose lengths do not fit");
        }
        // The owner index and every face assume the protocol's limit: a
        // file (or a peer's snapshot) must not slip a longer one in.
        if owner > sessiond_protocol::limits::MAX_OWNER_LEN {
            return Err("a session image whose owner is longer than 256 bytes");
        }
        let labels_at = HEADER + owner;
        if !labels_well_formed(&image[labels_at..labels_at + labels]) {
            return Err("a session image with malformed labels");
        }
        let mut record = SessionRecord(ThinBytes::zeroed(image.len()));
        record.0.as_mut_slice().copy_from_slice(image);
        record.put(WHEEL_AT, 0);
        Ok(record)
    }

    /// A zeroed record with room for the given parts and their lengths set.
    fn blank(owner: usize, labels: usize, data: usize) -> Self {
        let mut record = SessionRecord(ThinBytes::zeroed(HEADER + owner + labels + data));
        let bytes = record.0.as_mut_slice();
        bytes[OWNER_LEN..OWNER_LEN + 2].copy_from_slice(&(owner as u16).to_le_bytes());
        bytes[LABELS_LEN..LABELS_LEN + 2].copy_from_slice(&(labels as u16).to_le_bytes());
        record
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_slice()
    }

    /// Replaces the id in place (rotation keeps everything else).
    pub(crate) fn set_id(&mut self, id: SessionId) {
        self.0.as_mut_slice()[..16].copy_from_slice(id.as_bytes());
    }

    pub(crate) fn id(&self) -> SessionId {
        SessionId::from_bytes(self.bytes()[..16].try_into().expect("16 bytes"))
    }

    /// The id's first 8 bytes, the key of every index.
    /// Starts loading the record into the CPU's cache ([`ThinBytes::prefetch`]).
    pub(crate) fn prefetch(&self) {
        self.0.prefetch();
    }

    pub(crate) fn prefix(&self) -> u64 {
        u64::from_be_bytes(self.bytes()[..8].try_into().expect("8 bytes"))
    }

    pub(crate) fn has_id(&self, id: &SessionId) -> bool {
        &self.bytes()[..16] == id.as_bytes()
    }

    pub(crate) fn created(&self) -> u32 {
        self.get(CREATED)
    }

    pub(crate) fn last_seen(&self) -> u32 {
        self.get(LAST_SEEN)
    }

    /// Sliding expiry: pushes `last seen` forward (never back, should the
    /// wall clock step backwards).
    pub(crate) fn touch(&mut self, now: u32) {
        if now > self.last_seen() {
            self.put(LAST_SEEN, now);
        }
    }

    pub(crate) fn idle(&self) -> u32 {
        self.get(IDLE)
    }

    pub(crate) fn absolute(&self) -> u32 {
        self.get(ABSOLUTE)
    }

    pub(crate) fn version(&self) -> u32 {
        self.get(VERSION)
    }

    pub(crate) fn wheel_at(&self) -> u32 {
        self.get(WHEEL_AT)
    }

    pub(crate) fn set_wheel_at(&mut self, second: u32) {
        self.put(WHEEL_AT, second);
    }

    /// The last second in which the session is alive.
    pub(crate) fn expires_at(&self) -> u32 {
        let idle = match self.idle() {
            0 => u32::MAX,
            idle => self.last_seen().saturating_add(idle),
        };
        match self.absolute() {
            0 => idle,
            absolute => idle.min(absolute),
        }
    }

    /// Whether the session is dead at `now`.
    pub(crate) fn is_expired(&self, now: u32) -> bool {
        now > self.expires_at()
    }

    /// The first second at which it is dead: its expiry-wheel bucket.
    pub(crate) fn due_second(&self) -> u32 {
        self.expires_at().saturating_add(1)
    }

    pub(crate) fn owner(&self) -> &[u8] {
        &self.bytes()[HEADER..HEADER + self.owner_len()]
    }

    pub(crate) fn data(&self) -> &[u8] {
        &self.bytes()[HEADER + self.owner_len() + self.labels_len()..]
    }

    /// Bytes of the allocation: what memory accounting charges, plus a
    /// fixed overhead per entry added by the caller.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn info(&self) -> SessionInfo {
        let start = HEADER + self.owner_len();
        let absolute = self.absolute();
        SessionInfo {
            id: self.id(),
            labels: decode_labels(&self.bytes()[start..start + self.labels_len()]),
            created_at: self.created().into(),
            last_seen_at: self.last_seen().into(),
            idle_timeout: Duration::from_secs(self.idle().into()),
            absolute_deadline: (absolute != 0).then_some(absolute.into()),
            expires_at: self.expires_at().into(),
            version: self.version(),
        }
    }

    /// The labels as [`encode_labels`] packed them (events repeat them).
    pub(crate) fn labels_bytes(&self) -> &[u8] {
        let start = HEADER + self.owner_len();
        &self.bytes()[start..start + self.labels_len()]
    }

    /// Why the session ends if it ends now, past its deadline: the
    /// earlier of its two deadlines.
    pub(crate) fn expiry_reason(&self) -> sessiond_protocol::EndReason {
        let idle_deadline = match self.idle() {
            0 => u32::MAX,
            idle => self.last_seen().saturating_add(idle),
        };
        match self.absolute() {
            0 => sessiond_protocol::EndReason::IdleExpired,
            absolute if absolute <= idle_deadline => sessiond_protocol::EndReason::AbsoluteExpired,
            _ => sessiond_protocol::EndReason::IdleExpired,
        }
    }

    fn owner_len(&self) -> usize {
        u16::from_le_bytes([self.bytes()[OWNER_LEN], self.bytes()[OWNER_LEN + 1]]).into()
    }

    fn labels_len(&self) -> usize {
        u16::from_le_bytes([self.bytes()[LABELS_LEN], self.bytes()[LABELS_LEN + 1]]).into()
    }

    fn get(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.bytes()[at..at + 4].try_into().expect("4 bytes"))
    }

    fn put(&mut self, at: usize, value: u32) {
        self.0.as_mut_slice()[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }
}

/// Packs labels as `key length (u8), key, value length (u16 LE), value`
/// per label. The caller has checked them (`limits::check_labels`), so
/// each length fits its prefix.
pub(crate) fn encode_labels(labels: &Labels) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in labels.iter() {
        out.push(key.len() as u8);
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(&(value.len() as u16).to_le_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    out
}

/// The (key, value) pairs [`encode_labels`] packed, in order; `None` in
/// place of a pair that runs past the end (only a damaged image has one).
fn label_pairs(mut bytes: &[u8]) -> impl Iterator<Item = Option<(&[u8], &[u8])>> {
    std::iter::from_fn(move || {
        let (&key_len, rest) = bytes.split_first()?;
        let key_len = usize::from(key_len);
        let pair = rest.get(key_len..key_len + 2).and_then(|len| {
            let value_len = usize::from(u16::from_le_bytes([len[0], len[1]]));
            let end = key_len + 2 + value_len;
            Some((&rest[..key_len], rest.get(key_len + 2..end)?, end))
        });
        bytes = pair.map_or(&[], |(_, _, end)| &rest[end..]);
        Some(pair.map(|(key, value, _)| (key, value)))
    })
}

/// Whether `bytes` is a sequence of labels as [`encode_labels`] packs them.
pub(crate) fn labels_well_formed(bytes: &[u8]) -> bool {
    label_pairs(bytes).all(|pair| {
        pair.is_some_and(|(key, value)| {
            std::str::from_utf8(key).is_ok() && std::str::from_utf8(value).is_ok()
        })
    })
}

/// Unpacks what [`encode_labels`] packed.
pub(crate) fn decode_labels(bytes: &[u8]) -> Labels {
    let mut labels = Labels::new();
    for (key, value) in label_pairs(bytes).map_while(|pair| pair) {
        // Both halves were &str when encoded, so they are valid UTF-8.
        labels.insert(
            String::from_utf8_lossy(key).into_owned(),
            String::from_utf8_lossy(value).into_owned(),
        );
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SessionRecord {
        let labels = encode_labels(&Labels::new().with("ua", "Firefox").with("ip", "::1"));
        let times = Times {
            now: 1000,
            idle: 60,
            absolute: 5000,
        };
        SessionRecord::new(SessionId::random(), b"alice", &labels, b"data!", &times, 1)
    }

    #[test]
    fn an_image_with_an_owner_over_the_limit_is_refused() {
        let times = Times {
            now: 1000,
            idle: 60,
            absolute: 0,
        };
        let long = vec![b'o'; 257];
        let record = SessionRecord::new(SessionId::random(), &long, &[], b"d", &times, 1);
        assert!(SessionRecord::from_image(record.image()).is_err());
        let fits = SessionRecord::new(SessionId::random(), &long[..256], &[], b"d", &times, 1);
        assert!(SessionRecord::from_image(fits.image()).is_ok());
    }

    #[test]
    fn fields_round_trip() {
        let r = sample();
        assert_eq!(r.owner(), b"alice");
        assert_eq!(r.data(), b"data!");
        assert_eq!(
            (r.created(), r.last_seen(), r.idle(), r.absolute()),
            (1000, 1000, 60, 5000)
        );
        let info = r.info();
        assert_eq!(info.labels.get("ua"), Some("Firefox"));
        assert_eq!(info.labels.get("ip"), Some("::1"));
        assert_eq!(info.version, 1);
        assert_eq!(r.len(), HEADER + 5 + info_labels_len() + 5);
    }

    fn info_labels_len() -> usize {
        (1 + 2 + 2 + 7) + (1 + 2 + 2 + 3)
    }

    #[test]
    fn expiry_is_the_earlier_of_idle_and_absolute() {
        let mut r = sample();
        assert_eq!(r.expires_at(), 1060);
        assert!(!r.is_expired(1060));
        assert!(r.is_expired(1061));
        r.touch(4990);
        assert_eq!(r.expires_at(), 5000, "touch never passes the absolute cap");
        r.touch(10);
        assert_eq!(
            r.last_seen(),
            4990,
            "a clock stepping back does not un-touch"
        );
    }

    #[test]
    fn new_data_bumps_version_and_keeps_the_rest() {
        let r = sample();
        let r2 = r.with_data(b"longer data", 1010);
        assert_eq!(r2.data(), b"longer data");
        assert_eq!(r2.owner(), b"alice");
        assert_eq!(r2.version(), 2);
        assert_eq!(r2.last_seen(), 1010);
        assert_eq!(r2.info().labels, r.info().labels);
    }
}
