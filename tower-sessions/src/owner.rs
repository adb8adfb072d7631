//! Which owner a record's session is filed under: the value of a field of
//! the record's data (the user id a login put there), so that
//! tower-sessions applications get sessiond's device lists and
//! log-out-everywhere.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;
use tower_sessions_core::session::Record;
use tower_sessions_core::session_store::Error;

use super::record::session_id;
use sessiond_protocol::MAX_OWNER_LEN;

/// What a session without a user is filed under: this prefix and its own
/// id, so every anonymous session is an owner of its own. One shared
/// placeholder would make a single owner of every visitor: a hot lock, a
/// handle list as long as the site's traffic, and the store's per-owner
/// limit ending visitors' sessions.
pub const ANONYMOUS_OWNER_PREFIX: &str = "anonymous:";

/// Where axum-login keeps the logged-in user's id, as a JSON pointer for
/// [`SessiondSessionStore::with_owner_pointer`](super::SessiondSessionStore::with_owner_pointer):
/// the `user_id` of its `"axum-login.data"` entry.
pub const AXUM_LOGIN_USER_ID: &str = "/axum-login.data/user_id";

/// A closure that names a record's owner.
pub(crate) type OwnerFn = dyn Fn(&Record) -> Option<Vec<u8>> + Send + Sync;

/// How the owner is found in a record.
#[derive(Clone)]
pub(crate) enum OwnerRule {
    /// No owners: every session is anonymous.
    Anonymous,
    /// A JSON pointer into the data, whose first segment is the key.
    Pointer(String),
    /// The application's own closure.
    Custom(Arc<OwnerFn>),
}

impl OwnerRule {
    /// The pointer to a top-level key of the data.
    pub(crate) fn field(key: &str) -> Self {
        OwnerRule::Pointer(format!("/{}", key.replace('~', "~0").replace('/', "~1")))
    }

    /// The owner of `record`: the user it names, or its anonymous
    /// placeholder. An error if the name is longer than an owner may be.
    pub(crate) fn owner_of(&self, record: &Record) -> Result<Vec<u8>, Error> {
        let named = match self {
            OwnerRule::Anonymous => None,
            OwnerRule::Pointer(pointer) => lookup(record, pointer).and_then(owner_text),
            OwnerRule::Custom(f) => f(record).filter(|owner| !owner.is_empty()),
        };
        let Some(owner) = named else {
            return Ok(format!("{ANONYMOUS_OWNER_PREFIX}{}", session_id(record.id)).into_bytes());
        };
        if owner.len() > MAX_OWNER_LEN {
            return Err(Error::Encode(format!(
                "the session's owner ({self:?}) is {} bytes; sessiond allows at most {MAX_OWNER_LEN}",
                owner.len()
            )));
        }
        Ok(owner)
    }
}

impl fmt::Debug for OwnerRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OwnerRule::Anonymous => f.write_str("no owner field"),
            OwnerRule::Pointer(pointer) => write!(f, "owner at {pointer}"),
            OwnerRule::Custom(_) => f.write_str("owner from a closure"),
        }
    }
}

/// The value at a JSON pointer into the record's data: the first segment
/// names the key, the rest points into its value.
fn lookup<'a>(record: &'a Record, pointer: &str) -> Option<&'a Value> {
    let path = pointer.strip_prefix('/')?;
    let (key, rest) = match path.find('/') {
        Some(at) => (&path[..at], &path[at..]),
        None => (path, ""),
    };
    let key = key.replace("~1", "/").replace("~0", "~");
    record.data.get(&key)?.pointer(rest)
}

/// An owner from a JSON value: a string as it is, a number (or any other
/// value) as its JSON text, so user id `42` and `"42"` are the same owner.
/// Null and the empty string name nobody.
fn owner_text(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.as_bytes().to_vec()),
        other => Some(other.to_string().into_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::OffsetDateTime;
    use tower_sessions_core::session::Id;

    fn record(data: Value) -> Record {
        let Value::Object(map) = data else {
            panic!("an object")
        };
        Record {
            id: Id::default(),
            data: map.into_iter().collect(),
            expiry_date: OffsetDateTime::now_utc(),
        }
    }

    fn owner(rule: &OwnerRule, data: Value) -> String {
        String::from_utf8(rule.owner_of(&record(data)).unwrap()).unwrap()
    }

    #[test]
    fn a_field_names_the_owner_as_text() {
        let rule = OwnerRule::field("user_id");
        assert_eq!(owner(&rule, json!({"user_id": "alice"})), "alice");
        assert_eq!(owner(&rule, json!({"user_id": 42})), "42");
    }

    #[test]
    fn keys_with_slashes_and_tildes_are_escaped() {
        let rule = OwnerRule::field("a/b~c");
        assert_eq!(owner(&rule, json!({"a/b~c": "bob"})), "bob");
    }

    #[test]
    fn axum_login_keeps_the_user_id_inside_its_entry() {
        let rule = OwnerRule::Pointer(AXUM_LOGIN_USER_ID.into());
        let data = json!({"axum-login.data": {"user_id": 7, "auth_hash": [1, 2]}});
        assert_eq!(owner(&rule, data), "7");
    }

    #[test]
    fn a_record_without_a_user_is_its_own_anonymous_owner() {
        let rule = OwnerRule::field("user_id");
        for data in [
            json!({}),
            json!({"user_id": null}),
            json!({"user_id": ""}),
            json!({"axum-login.data": {"user_id": null}}),
        ] {
            let record = record(data);
            let owner = rule.owner_of(&record).unwrap();
            let expected = format!("anonymous:{}", record.id);
            assert_eq!(owner, expected.as_bytes());
        }
    }

    #[test]
    fn a_closure_may_name_the_owner() {
        let rule = OwnerRule::Custom(Arc::new(|r: &Record| {
            let team = r.data.get("team")?.as_str()?;
            Some(format!("team:{team}").into_bytes())
        }));
        assert_eq!(owner(&rule, json!({"team": "red"})), "team:red");
        assert!(owner(&rule, json!({})).starts_with(ANONYMOUS_OWNER_PREFIX));
    }

    #[test]
    fn an_owner_longer_than_sessiond_allows_is_an_encode_error() {
        let rule = OwnerRule::field("user_id");
        let err = rule
            .owner_of(&record(json!({"user_id": "x".repeat(257)})))
            .unwrap_err();
        assert!(
            matches!(err, Error::Encode(ref m) if m.contains("257 bytes")),
            "{err}"
        );
    }
}
