//! The limits of SPEC.md §3 and the one check of each, shared by the
//! engine (which enforces them) and the clients (which refuse a request
//! the server would refuse, without a round trip).
//!
//! Each check answers with the [`StoreError`] the store itself gives, so a
//! caller sees the same error embedded, through a client, or from the
//! daemon.

use std::time::Duration;

use crate::wire::Request;
use crate::{Labels, StoreError};

/// Longest owner, in bytes.
pub const MAX_OWNER_LEN: usize = 256;

/// Longest plain key, in bytes.
pub const MAX_KEY_LEN: usize = 4096;

/// Largest session data or value whatever a configuration says: a length
/// is a `u32` on the wire and in the engine's records, and the whole frame
/// or record must fit one too, so 1 MiB is kept for the other fields (an
/// owner and labels take at most about 18 KiB).
pub const MAX_DATA_LEN: usize = u32::MAX as usize - (1 << 20);

/// Longest idle timeout or absolute lifetime, in seconds: ten years.
pub const MAX_TIMEOUT_SECS: u32 = 10 * 366 * 24 * 3600;

/// Longest auth token the handshake can carry (a `u16` length).
pub const MAX_TOKEN_LEN: usize = u16::MAX as usize;

/// Longest KEY_SCAN pattern: what its `u16` length can say. Longer than a
/// key may be, since a glob can be longer than what it matches (`\x`
/// matches one byte, `*` none).
pub const MAX_PATTERN_LEN: usize = u16::MAX as usize;

/// An owner must be 1 to [`MAX_OWNER_LEN`] bytes.
pub fn check_owner(owner: &[u8]) -> Result<(), StoreError> {
    if owner.is_empty() || owner.len() > MAX_OWNER_LEN {
        return Err(StoreError::BadOwner {
            len: owner.len(),
            max: MAX_OWNER_LEN,
        });
    }
    Ok(())
}

/// A plain key must be 1 to [`MAX_KEY_LEN`] bytes.
pub fn check_key(key: &[u8]) -> Result<(), StoreError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(StoreError::BadKey {
            len: key.len(),
            max: MAX_KEY_LEN,
        });
    }
    Ok(())
}

/// Data or a value of `len` bytes must be at most `max` (a store's
/// configured limit) and never more than [`MAX_DATA_LEN`].
pub fn check_data_len(len: usize, max: usize) -> Result<(), StoreError> {
    let max = max.min(MAX_DATA_LEN);
    if len > max {
        return Err(StoreError::TooLarge { len, max });
    }
    Ok(())
}

/// A KEY_SCAN pattern must be at most [`MAX_PATTERN_LEN`] bytes; it is
/// refused as a key would be ([`StoreError::BadKey`]), since it stands for
/// keys. An empty pattern is allowed: it matches only the empty key, so it
/// finds nothing, as a read of a key that could not exist does.
pub fn check_pattern(pattern: &[u8]) -> Result<(), StoreError> {
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(StoreError::BadKey {
            len: pattern.len(),
            max: MAX_PATTERN_LEN,
        });
    }
    Ok(())
}

/// At most [`Labels::MAX_LABELS`] labels, keys of 1 to
/// [`Labels::MAX_KEY_LEN`] bytes, values of at most
/// [`Labels::MAX_VALUE_LEN`] bytes.
pub fn check_labels(labels: &Labels) -> Result<(), StoreError> {
    let bad = |why: &'static str| Err(StoreError::BadLabels(why.into()));
    if labels.len() > Labels::MAX_LABELS {
        return bad("more than 16 labels");
    }
    for (key, value) in labels.iter() {
        if key.is_empty() || key.len() > Labels::MAX_KEY_LEN {
            return bad("a label key must be 1 to 64 bytes");
        }
        if value.len() > Labels::MAX_VALUE_LEN {
            return bad("a label value must be at most 1024 bytes");
        }
    }
    Ok(())
}

/// A timeout in whole seconds, rounded up so that it is never shorter than
/// asked; at most [`MAX_TIMEOUT_SECS`].
pub fn timeout_secs(d: Duration) -> Result<u32, StoreError> {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    u32::try_from(secs)
        .ok()
        .filter(|s| *s <= MAX_TIMEOUT_SECS)
        .ok_or(StoreError::BadTimeout("longer than 10 years".into()))
}

/// A delete's note must fit [`crate::MAX_EVENT_NOTE`] (the store's own
/// check, which a client makes before sending).
fn check_note(note: &[u8]) -> Result<(), Option<StoreError>> {
    match note.len() {
        len if len > crate::MAX_EVENT_NOTE => Err(Some(StoreError::TooLarge {
            len,
            max: crate::MAX_EVENT_NOTE,
        })),
        _ => Ok(()),
    }
}

/// Checks a request against the limits that do not depend on a server's
/// configuration, answering as the server would. Data and values are
/// checked only against what the wire can carry; a server's own limit is
/// its to enforce. An auth token or a raft address too long for its
/// `bytes16` / `str16` field is no store error but the caller's
/// configuration: it is reported as `Err(None)`.
pub fn check_request(request: &Request) -> Result<(), Option<StoreError>> {
    match request {
        Request::Ping | Request::Stats => Ok(()),
        Request::Auth { token } if token.len() > MAX_TOKEN_LEN => Err(None),
        Request::Auth { .. } => Ok(()),
        Request::Create(new) => {
            check_owner(&new.owner)?;
            check_labels(&new.labels)?;
            Ok(check_data_len(new.data.len(), MAX_DATA_LEN)?)
        }
        Request::Get { .. }
        | Request::Touch { .. }
        | Request::Delete { .. }
        | Request::Rotate { .. } => Ok(()),
        Request::Update { data, .. } => Ok(check_data_len(data.len(), MAX_DATA_LEN)?),
        Request::List { owner } | Request::Count { owner } | Request::DeleteOwner { owner, .. } => {
            Ok(check_owner(owner)?)
        }
        Request::KeySet { key, value, .. } => {
            check_key(key)?;
            Ok(check_data_len(value.len(), MAX_DATA_LEN)?)
        }
        Request::KeyGet { key }
        | Request::KeyDelete { key }
        | Request::KeyExpire { key, .. }
        | Request::KeyTtl { key }
        | Request::KeyIncr { key, .. }
        | Request::KeyIncrTtl { key, .. } => Ok(check_key(key)?),
        Request::KeyScan { pattern, .. } => Ok(pattern.as_deref().map_or(Ok(()), check_pattern)?),
        Request::NodeAdd { raft_addr, .. } if raft_addr.len() > usize::from(u16::MAX) => Err(None),
        Request::NodeAdd { .. } | Request::NodeRemove { .. } => Ok(()),
        Request::EventsRead { .. } | Request::CacheRegister { .. } => Ok(()),
        Request::DeleteNoted { note, .. } => check_note(note),
        Request::DeleteOwnerNoted { owner, note, .. } => {
            check_owner(owner)?;
            check_note(note)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewSession;

    #[test]
    fn requests_beyond_the_limits_are_refused_with_the_stores_error() {
        let long = vec![b'x'; 70_000];
        let err = check_request(&Request::Count {
            owner: long.clone(),
        })
        .unwrap_err();
        assert_eq!(
            err,
            Some(StoreError::BadOwner {
                len: 70_000,
                max: 256
            })
        );
        let err = check_request(&Request::KeyGet { key: Vec::new() }).unwrap_err();
        assert!(matches!(err, Some(StoreError::BadKey { len: 0, .. })));
        let mut labels = Labels::new();
        for i in 0..17 {
            labels.insert(format!("k{i}"), "v");
        }
        let err = check_request(&Request::Create(NewSession::new("u").labels(labels))).unwrap_err();
        assert!(matches!(err, Some(StoreError::BadLabels(_))));
        let labels = Labels::new().with("k", "v".repeat(2000));
        let err = check_request(&Request::Create(NewSession::new("u").labels(labels))).unwrap_err();
        assert!(matches!(err, Some(StoreError::BadLabels(_))));
        assert_eq!(check_request(&Request::Auth { token: long }), Err(None));
        assert!(check_request(&Request::Create(NewSession::new("u").data(vec![0; 10]))).is_ok());
    }

    #[test]
    fn a_scan_pattern_is_held_to_what_its_length_field_carries() {
        let scan = |pattern: Option<Vec<u8>>| Request::KeyScan {
            cursor: 0,
            count: 10,
            pattern,
        };
        assert!(check_request(&scan(None)).is_ok());
        assert!(check_request(&scan(Some(Vec::new()))).is_ok());
        // Longer than any key, still a pattern that can match one.
        assert!(check_request(&scan(Some(vec![b'*'; MAX_KEY_LEN * 2]))).is_ok());
        assert!(check_request(&scan(Some(vec![b'*'; MAX_PATTERN_LEN]))).is_ok());
        assert_eq!(
            check_request(&scan(Some(vec![b'*'; MAX_PATTERN_LEN + 1]))),
            Err(Some(StoreError::BadKey {
                len: MAX_PATTERN_LEN + 1,
                max: MAX_PATTERN_LEN
            }))
        );
    }

    #[test]
    fn label_limits_hold_at_their_bounds() {
        let too_many = (0..17).fold(Labels::new(), |l, i| l.with(format!("k{i}"), "v"));
        assert!(check_labels(&too_many).is_err());
        assert!(check_labels(&Labels::new().with("", "v")).is_err());
        assert!(check_labels(&Labels::new().with("k".repeat(65), "v")).is_err());
        assert!(check_labels(&Labels::new().with("k", "v".repeat(1025))).is_err());
        assert!(check_labels(&Labels::new().with("k".repeat(64), "v".repeat(1024))).is_ok());
    }

    #[test]
    fn timeouts_round_up_and_stop_at_ten_years() {
        assert_eq!(timeout_secs(Duration::from_millis(1500)), Ok(2));
        assert_eq!(timeout_secs(Duration::from_secs(5)), Ok(5));
        let ten_years = Duration::from_secs(u64::from(MAX_TIMEOUT_SECS));
        assert_eq!(timeout_secs(ten_years), Ok(MAX_TIMEOUT_SECS));
        assert!(matches!(
            timeout_secs(ten_years + Duration::from_secs(1)),
            Err(StoreError::BadTimeout(_))
        ));
    }

    #[test]
    fn data_is_held_to_the_smaller_of_the_two_limits() {
        assert!(check_data_len(10, 10).is_ok());
        assert_eq!(
            check_data_len(11, 10),
            Err(StoreError::TooLarge { len: 11, max: 10 })
        );
        assert_eq!(
            check_data_len(MAX_DATA_LEN + 1, usize::MAX),
            Err(StoreError::TooLarge {
                len: MAX_DATA_LEN + 1,
                max: MAX_DATA_LEN
            })
        );
    }
}
