//! How a tower-sessions [`Record`] is kept in a sessiond session: its id,
//! its data and expiry date in the session's data bytes, and its lifetime.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sessiond_protocol::SessionId;
use time::OffsetDateTime;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::session_store::Error;

/// The sessiond id of a tower-sessions id: the same 16 bytes, so both show
/// as the same 22 characters of base64url (the cookie's value is the id in
/// `list`).
pub fn session_id(id: Id) -> SessionId {
    SessionId::from_bytes(id.0.to_le_bytes())
}

/// The tower-sessions id of a sessiond id, the inverse of [`session_id`]:
/// to match an entry of `list(owner)` with `Session::id()`.
pub fn tower_id(id: &SessionId) -> Id {
    Id(i128::from_le_bytes(*id.as_bytes()))
}

/// The longest lifetime asked of the store: the engine refuses timeouts
/// beyond ten years, so an expiry date further out (a "forever" session)
/// lives ten years, which no browser keeps a cookie for anyway.
const MAX_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// The idle timeout that makes sessiond keep a record until its expiry
/// date and no longer than a second or two after; `None` if it is past.
///
/// An idle timeout rather than an absolute lifetime because a save is an
/// `update`, which restarts the idle clock: with `Expiry::OnInactivity`
/// (and tower-sessions' default, two weeks from the last save) each save
/// asks for the same timeout again, so a save stays an update, not a
/// re-create. Whole seconds, rounded up, since that is the engine's
/// resolution: the engine never ends a session before its expiry date,
/// and `load` refuses one past it at once, to the nanosecond.
pub(crate) fn lifetime(expiry_date: OffsetDateTime) -> Option<Duration> {
    let remaining = expiry_date - OffsetDateTime::now_utc();
    if !remaining.is_positive() {
        return None;
    }
    let secs = remaining.whole_seconds().unsigned_abs();
    let rounded_up = secs + u64::from(remaining.subsec_nanoseconds() != 0);
    Some(Duration::from_secs(rounded_up).min(MAX_LIFETIME))
}

/// What a record's session data holds, as JSON:
/// `{"expiry_ns": <Unix nanoseconds>, "data": {...}}`. JSON because the
/// record's values are `serde_json::Value`s already, and because it stays
/// readable from any client (`SESSION.GET` in redis-cli shows it).
#[derive(Serialize)]
struct Stored<'a> {
    expiry_ns: i128,
    data: &'a HashMap<String, serde_json::Value>,
}

/// [`Stored`], read back.
#[derive(Deserialize)]
struct Loaded {
    expiry_ns: i128,
    data: HashMap<String, serde_json::Value>,
}

/// The session data bytes for a record.
pub(crate) fn encode(record: &Record) -> Result<Vec<u8>, Error> {
    let stored = Stored {
        expiry_ns: record.expiry_date.unix_timestamp_nanos(),
        data: &record.data,
    };
    // No session id in errors: they are logged, and an id is a bearer secret.
    serde_json::to_vec(&stored).map_err(|e| Error::Encode(format!("session record as JSON: {e}")))
}

/// The record kept under `id`, from its session data bytes.
pub(crate) fn decode(id: Id, bytes: &[u8]) -> Result<Record, Error> {
    let bad = |why: String| Error::Decode(format!("session data from sessiond: {why}"));
    let loaded: Loaded = serde_json::from_slice(bytes)
        .map_err(|e| bad(format!("not a tower-sessions record: {e}")))?;
    let expiry_date = OffsetDateTime::from_unix_timestamp_nanos(loaded.expiry_ns)
        .map_err(|e| bad(format!("expiry date: {e}")))?;
    Ok(Record {
        id,
        data: loaded.data,
        expiry_date,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keep_their_bytes_and_their_text() {
        let id = Id::default();
        let sid = session_id(id);
        assert_eq!(sid.to_string(), id.to_string());
        assert_eq!(tower_id(&sid), id);
    }

    #[test]
    fn a_record_round_trips_to_the_nanosecond() {
        let mut record = Record {
            id: Id::default(),
            data: Default::default(),
            expiry_date: OffsetDateTime::now_utc() + time::Duration::nanoseconds(1_234_567_891),
        };
        record
            .data
            .insert("n".into(), serde_json::json!({"a": [1, 2.5, null]}));
        let bytes = encode(&record).unwrap();
        assert_eq!(decode(record.id, &bytes).unwrap(), record);
    }

    #[test]
    fn foreign_data_is_a_decode_error() {
        let err = decode(Id::default(), b"cart=1").unwrap_err();
        assert!(matches!(err, Error::Decode(_)), "{err}");
    }

    #[test]
    fn lifetimes_round_up_to_whole_seconds_and_stop_at_ten_years() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(lifetime(now - time::Duration::SECOND), None);
        let soon = lifetime(now + time::Duration::milliseconds(1900)).unwrap();
        assert_eq!(soon, Duration::from_secs(2));
        let forever = lifetime(now + time::Duration::weeks(52 * 100)).unwrap();
        assert_eq!(forever, MAX_LIFETIME);
    }
}
