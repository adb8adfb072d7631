//! Redis's error texts, in one place: clients and the differential test
//! compare them byte for byte.

use super::reply::Value;

/// `ERR syntax error`
pub(crate) const SYNTAX: &str = "syntax error";
/// `ERR invalid cursor` (SCAN)
pub(crate) const INVALID_CURSOR: &str = "invalid cursor";
/// `ERR no such key` (RENAME)
pub(crate) const NO_SUCH_KEY: &str = "no such key";
/// The whole line of a type mismatch, code included.
pub(crate) const WRONGTYPE: &str =
    "WRONGTYPE Operation against a key holding the wrong kind of value";
/// `ERR value is not an integer or out of range`
pub(crate) const NOT_AN_INTEGER: &str = "value is not an integer or out of range";

pub(crate) fn not_an_integer() -> Value {
    Value::err(NOT_AN_INTEGER)
}

/// `ERR invalid expire time in 'set' command`, and so on.
pub(crate) fn invalid_expire(command: &str) -> Value {
    Value::err(format!("invalid expire time in '{command}' command"))
}

pub(crate) fn wrong_arity(name: &str) -> Value {
    Value::err(format!("wrong number of arguments for '{name}' command"))
}

pub(crate) fn wrongpass() -> Value {
    Value::Error("WRONGPASS invalid username-password pair or user is disabled.".into())
}

/// A reply of a kind the command never gives: a bug, reported rather than
/// panicking the connection.
pub(crate) fn unexpected(reply: impl std::fmt::Debug) -> Value {
    Value::err(format!("internal error: unexpected reply {reply:?}"))
}
