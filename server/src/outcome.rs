//! How a request ended, in one vocabulary for both faces, so that the
//! metrics can say "requests by command and outcome" without each face
//! inventing its own labels.
//!
//! An outcome is `ok` or a failure. Failures are the native protocol's
//! error codes (SPEC.md §10), which the Redis face's errors map onto where
//! they mean the same thing (an engine refusal, NOAUTH, WRONGPASS, a
//! non-integer), plus the few that only the Redis face has (syntax, arity,
//! an invalid expire time or cursor, anything else, and `readonly` for a
//! command refused on a node that is not the leader). The outcome is what
//! the face answered: a native GET of a missing session is `not_found`,
//! while a Redis GET of a missing key is an `ok` null.
//!
//! Outcomes are small indices, not strings, so that counting one in a
//! connection's tally is an array increment; the names are built once,
//! for the exposition.

use sessiond_protocol::wire::{ErrorCode, Response};

use crate::resp::RespError;

/// Failures that only the Redis face has, after the error codes.
const RESP_ONLY: [&str; 6] = [
    "syntax",
    "arity",
    "invalid_expire",
    "invalid_cursor",
    "other",
    "readonly",
];

/// How many outcomes there are: `ok`, every error code, the Redis-only
/// failures.
pub(crate) const COUNT: usize = 1 + ErrorCode::ALL.len() + RESP_ONLY.len();

/// How one request ended, as an index below [`COUNT`]; 0 is `ok`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome(u8);

impl Outcome {
    /// The request succeeded.
    pub(crate) const OK: Outcome = Outcome(0);

    /// A failure that travels (or would travel) as this error code.
    pub(crate) fn code(code: ErrorCode) -> Outcome {
        let position = ErrorCode::ALL.iter().position(|c| *c == code);
        // Every code is in ALL (a test checks the names cover it).
        Outcome(1 + position.unwrap_or(0) as u8)
    }

    /// A Redis-only failure, by its place in [`RESP_ONLY`].
    const fn resp_only(index: usize) -> Outcome {
        Outcome((1 + ErrorCode::ALL.len() + index) as u8)
    }

    /// The arity failure, which INFO counts as rejected rather than
    /// failed.
    pub(crate) const fn resp_only_arity() -> Outcome {
        Outcome::resp_only(1)
    }

    /// How a native request ended.
    pub(crate) fn of_native(response: &Response) -> Outcome {
        match response {
            Ok(_) => Outcome::OK,
            Err(error) => Outcome::code(error.code()),
        }
    }

    /// How a Redis command ended.
    pub(crate) fn of_resp<T>(reply: &Result<T, RespError>) -> Outcome {
        let Err(error) = reply else {
            return Outcome::OK;
        };
        match error {
            RespError::Store(e) => Outcome::code(ErrorCode::from(e)),
            RespError::NotAnInteger => Outcome::code(ErrorCode::NotAnInteger),
            RespError::NoAuth => Outcome::code(ErrorCode::AuthRequired),
            RespError::WrongPass => Outcome::code(ErrorCode::AuthFailed),
            RespError::Syntax => Outcome::resp_only(0),
            RespError::Arity(_) => Outcome::resp_only(1),
            RespError::InvalidExpire(_) => Outcome::resp_only(2),
            RespError::InvalidCursor => Outcome::resp_only(3),
            RespError::Other(_) | RespError::Coded(_) => Outcome::resp_only(4),
            // Refused on a node that is not the leader.
            RespError::ReadOnly | RespError::ReplicaRead(_) => Outcome::resp_only(5),
        }
    }

    /// Its index, below [`COUNT`].
    pub(crate) fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// The code word a Redis client saw for each outcome, by index, for
/// INFO errorstats (`ERR` for the generic failures). Errors with codes of
/// their own that have no outcome of their own (`NOPROTO`) count as `ERR`.
pub(crate) fn redis_codes() -> Vec<&'static str> {
    names()
        .iter()
        .map(|name| match name.as_str() {
            "ok" => "",
            "out_of_memory" => "OOM",
            "wrong_type" => "WRONGTYPE",
            "persistence" => "MISCONF",
            "session_limit" => "SESSIONLIMIT",
            "version_mismatch" => "VERSIONMISMATCH",
            "auth_required" => "NOAUTH",
            "auth_failed" => "WRONGPASS",
            "readonly" => "READONLY",
            _ => "ERR",
        })
        .collect()
}

/// The label of every outcome, by index: `ok`, the error codes' names in
/// lower case (`not_found`, `auth_required`, …), the Redis-only failures.
pub(crate) fn names() -> Vec<String> {
    let codes = ErrorCode::ALL.iter().map(|c| c.name().to_ascii_lowercase());
    std::iter::once("ok".to_owned())
        .chain(codes)
        .chain(RESP_ONLY.iter().map(|s| (*s).to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sessiond_protocol::StoreError;
    use sessiond_protocol::wire::{Reply, ServerError};

    fn name(outcome: Outcome) -> String {
        names()[outcome.index()].clone()
    }

    #[test]
    fn every_outcome_has_one_distinct_name() {
        let names = names();
        assert_eq!(names.len(), COUNT);
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), COUNT, "{names:?}");
        for code in ErrorCode::ALL {
            assert_eq!(name(Outcome::code(code)), code.name().to_ascii_lowercase());
        }
    }

    #[test]
    fn both_faces_name_the_same_failure_alike() {
        let native = Outcome::of_native(&Err(ServerError::Store(StoreError::WrongType)));
        let resp = Outcome::of_resp::<()>(&Err(RespError::Store(StoreError::WrongType)));
        assert_eq!(native, resp);
        assert_eq!(name(native), "wrong_type");
        let noauth = Outcome::of_resp::<()>(&Err(RespError::NoAuth));
        assert_eq!(noauth, Outcome::of_native(&Err(ServerError::AuthRequired)));
        assert_eq!(
            name(Outcome::of_resp::<()>(&Err(RespError::Syntax))),
            "syntax"
        );
        assert_eq!(
            name(Outcome::of_resp::<()>(&Err(RespError::Arity("get")))),
            "arity"
        );
        assert_eq!(
            name(Outcome::of_resp::<()>(&Err(RespError::ReadOnly))),
            "readonly"
        );
        assert_eq!(Outcome::of_native(&Ok(Reply::Done)), Outcome::OK);
        // A replication group's refusals.
        let redirect = Outcome::of_native(&Err(ServerError::NotLeader { leader: None }));
        assert_eq!(name(redirect), "not_leader");
        let unavailable = Outcome::of_native(&Err(ServerError::Unavailable("no quorum".into())));
        assert_eq!(name(unavailable), "unavailable");
        assert_eq!(Outcome::of_resp::<()>(&Ok(())), Outcome::OK);
    }
}
