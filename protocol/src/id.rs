//! Session ids: 128 random bits, shown as 22 characters of base64url.
//!
//! The layout is specified in `protocol/SPEC.md` ("Session ids"). In short:
//! an id is 16 bytes; in version 1 every bit comes from the operating
//! system's CSPRNG. The first 14 bits double as the *routing slot* a client
//! can use to pick a shard from the id alone; because the bits are random,
//! slots are uniform today, and a future clustered server may choose ids
//! within its own slot range while keeping 114 random bits.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Number of slots a routing slot ranges over (`0..ROUTING_SLOTS`).
pub const ROUTING_SLOTS: u16 = 1 << 14;

/// A session id: 16 bytes, generated from the OS CSPRNG or supplied by a
/// caller that makes its own random ids (tower-sessions does).
///
/// Ids compare with ordinary equality, not in constant time: they are looked
/// up in hash tables keyed by a secret seed, so an attacker cannot steer a
/// guess into the bucket of a real id and time the comparison there byte by
/// byte. Secrets that are compared directly (auth tokens) use `subtle`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId([u8; 16]);

impl SessionId {
    /// Length of the binary form in bytes.
    pub const LEN: usize = 16;
    /// Length of the text form in characters.
    pub const TEXT_LEN: usize = 22;

    /// A fresh id of 128 bits from the operating system's CSPRNG.
    ///
    /// # Panics
    /// If the operating system cannot provide randomness. There is no safe
    /// fallback for a bearer secret, so this is treated like running out of
    /// memory.
    pub fn random() -> Self {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the OS CSPRNG is unavailable");
        SessionId(bytes)
    }

    /// Wraps 16 bytes chosen by the caller.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        SessionId(bytes)
    }

    /// The binary form.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The first 8 bytes as a big-endian integer.
    ///
    /// The store keeps two live sessions from sharing a prefix, so indexes
    /// can refer to a session by these 8 bytes instead of all 16.
    pub fn prefix(&self) -> u64 {
        u64::from_be_bytes(self.0[..8].try_into().expect("8 bytes"))
    }

    /// The routing slot: the first 14 bits, in `0..ROUTING_SLOTS`.
    pub fn routing_slot(&self) -> u16 {
        u16::from_be_bytes([self.0[0], self.0[1]]) >> 2
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; Self::TEXT_LEN];
        let n = URL_SAFE_NO_PAD
            .encode_slice(self.0, &mut buf)
            .expect("16 bytes always encode to 22 characters");
        debug_assert_eq!(n, Self::TEXT_LEN);
        f.write_str(std::str::from_utf8(&buf).expect("base64 is ASCII"))
    }
}

impl fmt::Debug for SessionId {
    /// Debug output shows only the routing slot and a short prefix, so a
    /// session id logged by accident does not hand out a working credential.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.to_string();
        write!(f, "SessionId({}…)", &text[..4])
    }
}

/// Why a string is not a session id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseSessionIdError {
    /// Not exactly 22 characters.
    #[error("a session id is 22 characters, got {0}")]
    Length(usize),
    /// A character outside base64url, or non-zero unused trailing bits
    /// (so that every id has exactly one text form).
    #[error("a session id is base64url text (A-Z a-z 0-9 - _) in canonical form")]
    Alphabet,
}

impl FromStr for SessionId {
    type Err = ParseSessionIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != Self::TEXT_LEN {
            return Err(ParseSessionIdError::Length(s.len()));
        }
        let mut bytes = [0u8; 16];
        // 22 characters carry 132 bits; the base64 engine rejects any text
        // whose 4 unused bits are not zero, which keeps the form canonical.
        match URL_SAFE_NO_PAD.decode_slice(s, &mut bytes) {
            Ok(16) => Ok(SessionId(bytes)),
            _ => Err(ParseSessionIdError::Alphabet),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_vector() {
        let id = SessionId::from_bytes([
            0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d,
            0x0e, 0xff,
        ]);
        assert_eq!(id.to_string(), "AAECAwQFBgcICQoLDA0O_w");
        assert_eq!(id.prefix(), 0x0001_0203_0405_0607);
        assert_eq!(id.routing_slot(), 0);
    }

    #[test]
    fn routing_slot_uses_first_fourteen_bits() {
        let mut bytes = [0u8; 16];
        bytes[0] = 0xff;
        bytes[1] = 0xff;
        assert_eq!(
            SessionId::from_bytes(bytes).routing_slot(),
            ROUTING_SLOTS - 1
        );
        bytes[1] = 0b1111_1100;
        assert_eq!(
            SessionId::from_bytes(bytes).routing_slot(),
            ROUTING_SLOTS - 1
        );
        bytes[1] = 0b1111_1000;
        assert_eq!(
            SessionId::from_bytes(bytes).routing_slot(),
            ROUTING_SLOTS - 2
        );
    }

    #[test]
    fn random_ids_differ_and_are_cookie_safe() {
        let a = SessionId::random();
        let b = SessionId::random();
        assert_ne!(a, b);
        let text = a.to_string();
        assert!(
            text.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }

    #[test]
    fn rejects_bad_text() {
        assert_eq!(
            "short".parse::<SessionId>(),
            Err(ParseSessionIdError::Length(5))
        );
        assert_eq!(
            "AAECAwQFBgcICQoLDA0O/w".parse::<SessionId>(),
            Err(ParseSessionIdError::Alphabet)
        );
        // Same bytes, but the unused low bits of the last character set.
        assert_eq!(
            "AAECAwQFBgcICQoLDA0O_x".parse::<SessionId>(),
            Err(ParseSessionIdError::Alphabet)
        );
    }

    #[test]
    fn debug_does_not_leak_the_id() {
        let id = SessionId::random();
        let debug = format!("{id:?}");
        assert!(!debug.contains(&id.to_string()));
    }

    proptest! {
        #[test]
        fn text_round_trips(bytes in any::<[u8; 16]>()) {
            let id = SessionId::from_bytes(bytes);
            let text = id.to_string();
            prop_assert_eq!(text.len(), SessionId::TEXT_LEN);
            prop_assert_eq!(text.parse::<SessionId>(), Ok(id));
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(s in "\\PC{0,40}") {
            let _ = s.parse::<SessionId>();
        }
    }
}
