//! Why a Redis command failed, and Redis's words for it, in one place:
//! clients and the differential test compare the texts byte for byte.
//!
//! Handlers return a [`RespError`], never a reply built by hand, so that
//! an engine error reads the same whichever command met it, and `?` on a
//! store call is all a handler writes.

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;

use bytes::Bytes;
use sessiond_protocol::StoreError;

use super::reply::Value;
use crate::replication::{GroupView, Role};

/// A failed command; its `Display` is the whole error line, code first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RespError {
    /// An option or argument Redis does not accept there.
    #[error("ERR syntax error")]
    Syntax,
    /// An argument that must be an integer (as Redis's `string2ll` reads).
    #[error("ERR value is not an integer or out of range")]
    NotAnInteger,
    /// The argument count does not fit the command.
    #[error("ERR wrong number of arguments for '{0}' command")]
    Arity(&'static str),
    /// A TTL that is not positive or whose deadline overflows.
    #[error("ERR invalid expire time in '{0}' command")]
    InvalidExpire(&'static str),
    /// A SCAN cursor that is not an unsigned decimal.
    #[error("ERR invalid cursor")]
    InvalidCursor,
    /// The connection must authenticate first.
    #[error("NOAUTH Authentication required.")]
    NoAuth,
    /// A wrong token, or a user other than `default`.
    #[error("WRONGPASS invalid username-password pair or user is disabled.")]
    WrongPass,
    /// A write sent to a node that is not the leader. Redis's own text:
    /// clients map the `READONLY` code to a read-only error, on which
    /// redis-py's sentinel-managed connections drop the link and ask the
    /// sentinels for the master again.
    #[error("READONLY You can't write against a read only replica.")]
    ReadOnly,
    /// A read sent to a node that is not the leader. A follower may be
    /// behind the leader, so it does not answer reads: a session a user
    /// just logged out of must not come back from a lagging node. The code
    /// is `READONLY` so that clients rediscover the master as they do for
    /// a write; the text says where the leader is.
    #[error("READONLY You can't read against a replica of this group: {0}")]
    ReplicaRead(LeaderAt),
    /// The engine refused; spelled by [`store_text`].
    #[error("{}", store_text(.0))]
    Store(#[from] StoreError),
    /// Any other error with Redis's generic `ERR` code.
    #[error("ERR {0}")]
    Other(Cow<'static, str>),
    /// An error line with a code of its own (`NOPROTO …`).
    #[error("{0}")]
    Coded(Cow<'static, str>),
}

impl RespError {
    /// An `ERR` error with this message.
    pub(crate) fn other(message: impl Into<Cow<'static, str>>) -> RespError {
        RespError::Other(message.into())
    }

    /// Redis's `unknown command` error, quoting the name as it was spelled
    /// and up to the first 16 arguments (128 characters of each).
    pub(crate) fn unknown_command(name: &[u8], args: &[Bytes]) -> RespError {
        let mut text = format!(
            "unknown command '{}', with args beginning with: ",
            String::from_utf8_lossy(name)
        );
        for arg in args.iter().take(16) {
            let arg = String::from_utf8_lossy(arg);
            let arg: String = arg.chars().take(128).collect();
            text.push_str(&format!("'{arg}' "));
        }
        RespError::Other(text.into())
    }

    /// `unknown subcommand …` for CLIENT and COMMAND.
    pub(crate) fn unknown_subcommand(sub: &str, command: &str) -> RespError {
        RespError::other(format!(
            "unknown subcommand or wrong number of arguments for '{sub}'. Try {command} HELP."
        ))
    }
}

/// Where a refused client should go instead, as the refusal words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeaderAt {
    /// The leader's Redis-protocol listener.
    Addr(SocketAddr),
    /// A leader is known, but not (yet) its Redis-protocol address.
    Unaddressed(u64),
    /// No leader: an election is under way or this node has not heard of
    /// one yet.
    Unknown,
}

impl LeaderAt {
    /// The leader as `view` knows it. A candidate has none, whatever it
    /// last heard: it is voting because that leader went quiet.
    pub(crate) fn of(view: &GroupView) -> LeaderAt {
        let Some(id) = view.leader.filter(|_| view.role != Role::Candidate) else {
            return LeaderAt::Unknown;
        };
        match view.leader_member().and_then(|m| m.resp_addr) {
            Some(addr) => LeaderAt::Addr(addr),
            None => LeaderAt::Unaddressed(id),
        }
    }
}

impl fmt::Display for LeaderAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeaderAt::Addr(addr) => write!(f, "the leader is at {addr}"),
            LeaderAt::Unaddressed(id) => {
                write!(f, "the leader is node {id}, whose address is not known yet")
            }
            LeaderAt::Unknown => f.write_str("no leader is elected yet"),
        }
    }
}

/// What a node that does not serve (a follower, learner or candidate)
/// answers a command that touches the data: Redis's read-only error for a
/// write, and for a read the same code with the leader's address. The
/// dispatch calls it for commands flagged `write` (`spec_is_write`) or
/// `readonly`; commands with neither (ROLE, INFO, SENTINEL, PING…) answer
/// on every node.
pub(crate) fn follower_refusal(spec_is_write: bool, view: &GroupView) -> RespError {
    match spec_is_write {
        true => RespError::ReadOnly,
        false => RespError::ReplicaRead(LeaderAt::of(view)),
    }
}

impl From<RespError> for Value {
    fn from(error: RespError) -> Value {
        Value::Error(error.to_string())
    }
}

/// An engine error in Redis's words where Redis has them, in `ERR` and
/// the engine's words where it has none.
fn store_text(error: &StoreError) -> String {
    match error {
        StoreError::NotAnInteger => RespError::NotAnInteger.to_string(),
        StoreError::Overflow => "ERR increment or decrement would overflow".into(),
        StoreError::OutOfMemory { .. } => {
            "OOM command not allowed when used memory > 'maxmemory'.".into()
        }
        StoreError::WrongType => {
            "WRONGTYPE Operation against a key holding the wrong kind of value".into()
        }
        // Redis's prefix for "writes refused until the disk is fixed".
        StoreError::Persistence(why) => {
            format!("MISCONF Errors writing to the append-only log: {why}")
        }
        // Key commands miss only in RENAME; session commands answer a
        // missing session with null before it gets here.
        StoreError::NotFound => "ERR no such key".into(),
        StoreError::SessionLimit { limit } => {
            format!("SESSIONLIMIT owner already has {limit} sessions")
        }
        StoreError::VersionMismatch { expected, actual } => {
            format!("VERSIONMISMATCH expected {expected}, session is at {actual}")
        }
        other => format!("ERR {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_as_redis_writes_them() {
        assert_eq!(
            RespError::Arity("get").to_string(),
            "ERR wrong number of arguments for 'get' command"
        );
        assert_eq!(
            RespError::from(StoreError::WrongType).to_string(),
            "WRONGTYPE Operation against a key holding the wrong kind of value"
        );
        assert_eq!(
            RespError::from(StoreError::IdTaken).to_string(),
            "ERR session id is already in use"
        );
        let args = [Bytes::from("a"), Bytes::from("b")];
        assert_eq!(
            RespError::unknown_command(b"FOOBAR", &args).to_string(),
            "ERR unknown command 'FOOBAR', with args beginning with: 'a' 'b' "
        );
    }

    /// A follower's view of a group of three led by node 2, whose RESP
    /// listener is on port 6002.
    fn follower_view() -> GroupView {
        use crate::replication::MemberView;
        let members = (1..=3u16)
            .map(|id| MemberView {
                id: u64::from(id),
                raft_addr: format!("127.0.0.1:{}", 9000 + id),
                native_addr: None,
                resp_addr: Some(SocketAddr::from(([127, 0, 0, 1], 6000 + id))),
                voter: true,
                matched_index: None,
            })
            .collect();
        GroupView {
            role: Role::Follower,
            node_id: 1,
            term: 3,
            leader: Some(2),
            members,
            last_log_index: 10,
            applied_index: 10,
        }
    }

    #[test]
    fn a_follower_refuses_writes_in_redis_words_and_reads_with_the_leader() {
        let view = follower_view();
        // Byte for byte what a Redis replica answers a write.
        assert_eq!(
            follower_refusal(true, &view).to_string(),
            "READONLY You can't write against a read only replica."
        );
        assert_eq!(
            follower_refusal(false, &view).to_string(),
            "READONLY You can't read against a replica of this group: the leader is at \
             127.0.0.1:6002"
        );
        let mut unaddressed = view.clone();
        unaddressed.members[1].resp_addr = None;
        assert_eq!(
            follower_refusal(false, &unaddressed).to_string(),
            "READONLY You can't read against a replica of this group: the leader is node 2, \
             whose address is not known yet"
        );
        for role in [Role::Follower, Role::Candidate] {
            let leaderless = GroupView {
                role,
                leader: (role == Role::Candidate).then_some(2),
                ..view.clone()
            };
            assert_eq!(
                follower_refusal(false, &leaderless).to_string(),
                "READONLY You can't read against a replica of this group: no leader is \
                 elected yet"
            );
            assert_eq!(follower_refusal(true, &leaderless), RespError::ReadOnly);
        }
    }
}
