//! The messages of protocol version 1 as Rust values (SPEC.md §8–10).
//!
//! These are what the codec encodes and decodes, what the server executes
//! and what the client sends; the byte layouts live in `codec.rs`.

use std::time::Duration;

use crate::{Event, KeyTtl, NewSession, Session, SessionId, SessionInfo, StoreError};

/// A request (SPEC.md §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Liveness check; answered even before authentication.
    Ping,
    /// Authenticate the connection with a token.
    Auth {
        /// The shared secret.
        token: Vec<u8>,
    },
    /// Server and store statistics.
    Stats,
    /// Create a session.
    Create(NewSession),
    /// Read a session, touching it or not.
    Get {
        /// Which session.
        id: SessionId,
        /// Slide its idle deadline.
        touch: bool,
    },
    /// Replace a session's data.
    Update {
        /// Which session.
        id: SessionId,
        /// Only if the session is at this version.
        expected_version: Option<u32>,
        /// The new data.
        data: Vec<u8>,
    },
    /// Slide a session's idle deadline.
    Touch {
        /// Which session.
        id: SessionId,
    },
    /// End a session.
    Delete {
        /// Which session.
        id: SessionId,
    },
    /// Give a session a new id.
    Rotate {
        /// Which session.
        id: SessionId,
    },
    /// An owner's live sessions.
    List {
        /// Whose.
        owner: Vec<u8>,
    },
    /// How many live sessions an owner has.
    Count {
        /// Whose.
        owner: Vec<u8>,
    },
    /// End an owner's sessions, but one.
    DeleteOwner {
        /// Whose.
        owner: Vec<u8>,
        /// The session to keep.
        keep: Option<SessionId>,
    },
    /// Set a plain key.
    KeySet {
        /// The key.
        key: Vec<u8>,
        /// Time to live, millisecond resolution; `None` for none.
        ttl: Option<Duration>,
        /// The value.
        value: Vec<u8>,
    },
    /// Read a plain key.
    KeyGet {
        /// The key.
        key: Vec<u8>,
    },
    /// Delete a plain key.
    KeyDelete {
        /// The key.
        key: Vec<u8>,
    },
    /// Set or remove a plain key's time to live (zero deletes the key).
    KeyExpire {
        /// The key.
        key: Vec<u8>,
        /// The new TTL, millisecond resolution; `None` to remove it.
        ttl: Option<Duration>,
    },
    /// A plain key's time to live.
    KeyTtl {
        /// The key.
        key: Vec<u8>,
    },
    /// Add to the integer in a plain key.
    KeyIncr {
        /// The key.
        key: Vec<u8>,
        /// What to add (negative to subtract).
        delta: i64,
    },
    /// Add to the integer in a plain key and, if the key has no time to
    /// live (a new counter), give it `ttl`: one operation, so a counter is
    /// never left without its TTL (a rate limiter's attempt count).
    KeyIncrTtl {
        /// The key.
        key: Vec<u8>,
        /// What to add (negative to subtract).
        delta: i64,
        /// The TTL a key without one gets, millisecond resolution; must be
        /// positive.
        ttl: Duration,
    },
    /// One step of a walk over every plain key: start at cursor 0 and send
    /// each returned cursor back until it is 0 again.
    KeyScan {
        /// Where this step starts: 0, or the cursor the previous step
        /// returned.
        cursor: u64,
        /// About how many keys to look at (0 is taken as 1).
        count: u32,
        /// Only keys matching this Redis glob; `None` for every key.
        pattern: Option<Vec<u8>>,
    },
    /// Add a node to the replication group (an operator's request, answered
    /// by the leader once the group has taken the change).
    NodeAdd {
        /// The new node's id, unique in the group.
        id: u64,
        /// Where the group's members reach the node's raft endpoint
        /// (`host:port`); not the native-protocol address clients use.
        raft_addr: String,
    },
    /// Remove a node from the replication group.
    NodeRemove {
        /// The node's id.
        id: u64,
    },
    /// The session events after a seq (docs/events.md), waiting up to
    /// `timeout` for one when there is none yet.
    EventsRead {
        /// The last seq the reader handled (0 at first).
        after: u64,
        /// Most events in the reply (the server caps it at
        /// [`MAX_EVENTS_READ`]; 0 is taken as 1).
        max: u32,
        /// How long to wait for an event when none is after `after`,
        /// millisecond resolution (at most [`MAX_EVENTS_WAIT`]); zero
        /// answers at once.
        timeout: Duration,
    },
    /// [`Request::Delete`] with a note the `ended` event repeats.
    DeleteNoted {
        /// Which session.
        id: SessionId,
        /// The note ("logout"; at most 256 bytes; empty for none).
        note: Vec<u8>,
    },
    /// [`Request::DeleteOwner`] with a note each `ended` event repeats.
    DeleteOwnerNoted {
        /// Whose.
        owner: Vec<u8>,
        /// The session to keep.
        keep: Option<SessionId>,
        /// The note ("kick"; at most 256 bytes; empty for none).
        note: Vec<u8>,
    },
    /// Makes this connection a near cache's invalidation connection
    /// (SPEC.md §8): its EVENTS_READs acknowledge their `after` from now
    /// on, and in [`CacheMode::Strict`] the session writes that end,
    /// rotate or change a session wait for that acknowledgement.
    CacheRegister {
        /// Strict or relaxed.
        mode: CacheMode,
    },
}

/// How a near cache's server treats it (SPEC.md §8, CACHE_REGISTER).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    /// The writes that end, rotate or change a session are answered
    /// only once this cache has dropped them, or has been cut off.
    Strict,
    /// Nothing waits for this cache; it drops entries as events come.
    Relaxed,
}

impl CacheMode {
    /// The mode's byte on the wire.
    pub fn code(self) -> u8 {
        match self {
            CacheMode::Strict => 1,
            CacheMode::Relaxed => 2,
        }
    }

    /// The mode a byte on the wire names, if any.
    pub fn from_code(code: u8) -> Option<CacheMode> {
        match code {
            1 => Some(CacheMode::Strict),
            2 => Some(CacheMode::Relaxed),
            _ => None,
        }
    }
}

/// Most events one EVENTS_READ returns, whatever it asks for: a reply's
/// size stays bounded (an event repeats its session's labels).
pub const MAX_EVENTS_READ: u32 = 1000;

/// Longest an EVENTS_READ waits for an event.
pub const MAX_EVENTS_WAIT: Duration = Duration::from_secs(60);

impl Request {
    /// The opcode on the wire.
    pub fn opcode(&self) -> u8 {
        match self {
            Request::Ping => 0x01,
            Request::Auth { .. } => 0x02,
            Request::Stats => 0x03,
            Request::Create(_) => 0x10,
            Request::Get { .. } => 0x11,
            Request::Update { .. } => 0x12,
            Request::Touch { .. } => 0x13,
            Request::Delete { .. } => 0x14,
            Request::Rotate { .. } => 0x15,
            Request::List { .. } => 0x16,
            Request::Count { .. } => 0x17,
            Request::DeleteOwner { .. } => 0x18,
            Request::KeySet { .. } => 0x20,
            Request::KeyGet { .. } => 0x21,
            Request::KeyDelete { .. } => 0x22,
            Request::KeyExpire { .. } => 0x23,
            Request::KeyTtl { .. } => 0x24,
            Request::KeyIncr { .. } => 0x25,
            Request::KeyScan { .. } => 0x26,
            Request::NodeAdd { .. } => 0x27,
            Request::NodeRemove { .. } => 0x28,
            Request::KeyIncrTtl { .. } => 0x29,
            Request::EventsRead { .. } => 0x2A,
            Request::DeleteNoted { .. } => 0x2B,
            Request::DeleteOwnerNoted { .. } => 0x2C,
            Request::CacheRegister { .. } => 0x2D,
        }
    }

    /// A short lower-case name, for logs and per-operation statistics.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Ping => "ping",
            Request::Auth { .. } => "auth",
            Request::Stats => "stats",
            Request::Create(_) => "create",
            Request::Get { .. } => "get",
            Request::Update { .. } => "update",
            Request::Touch { .. } => "touch",
            Request::Delete { .. } => "delete",
            Request::Rotate { .. } => "rotate",
            Request::List { .. } => "list",
            Request::Count { .. } => "count",
            Request::DeleteOwner { .. } => "delete_owner",
            Request::KeySet { .. } => "key_set",
            Request::KeyGet { .. } => "key_get",
            Request::KeyDelete { .. } => "key_delete",
            Request::KeyExpire { .. } => "key_expire",
            Request::KeyTtl { .. } => "key_ttl",
            Request::KeyIncr { .. } => "key_incr",
            Request::KeyScan { .. } => "key_scan",
            Request::NodeAdd { .. } => "node_add",
            Request::NodeRemove { .. } => "node_remove",
            Request::KeyIncrTtl { .. } => "key_incr_ttl",
            Request::EventsRead { .. } => "events_read",
            Request::DeleteNoted { .. } => "delete_noted",
            Request::DeleteOwnerNoted { .. } => "delete_owner_noted",
            Request::CacheRegister { .. } => "cache_register",
        }
    }
}

/// A successful reply (SPEC.md §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Done, nothing to return.
    Done,
    /// A session id.
    Id(SessionId),
    /// A session.
    Session(Session),
    /// A session's new version.
    Version(u32),
    /// A time, in Unix seconds.
    Time(u64),
    /// Yes or no.
    Bool(bool),
    /// An owner's sessions, most recently seen first.
    List(Vec<SessionInfo>),
    /// A count.
    Count(u32),
    /// A key's value, if it exists.
    Value(Option<Vec<u8>>),
    /// A key's time to live.
    Ttl(KeyTtl),
    /// An integer.
    Integer(i64),
    /// Named statistics.
    Stats(Vec<(String, u64)>),
    /// One step of a key scan: where the next step starts (0 when the walk
    /// is over) and the keys this step found.
    Scan {
        /// The cursor to send next; 0 once every key has been visited.
        cursor: u64,
        /// The live keys found in this step, possibly none.
        keys: Vec<Vec<u8>>,
    },
    /// Session events, oldest first (possibly none: the wait ran out).
    Events(Vec<Event>),
    /// A near cache registered: where its reading starts and how long
    /// its lease lasts.
    Cache {
        /// The newest event seq logged: the cache reads after it.
        head: u64,
        /// The server's bound: how long a strict write waits for a cache
        /// before it cuts it off, and so the cache's lease.
        bound: Duration,
    },
}

impl Reply {
    /// The reply tag on the wire.
    pub fn tag(&self) -> u8 {
        match self {
            Reply::Done => 0x00,
            Reply::Id(_) => 0x01,
            Reply::Session(_) => 0x02,
            Reply::Version(_) => 0x03,
            Reply::Time(_) => 0x04,
            Reply::Bool(_) => 0x05,
            Reply::List(_) => 0x06,
            Reply::Count(_) => 0x07,
            Reply::Value(_) => 0x08,
            Reply::Ttl(_) => 0x09,
            Reply::Integer(_) => 0x0A,
            Reply::Stats(_) => 0x0B,
            Reply::Scan { .. } => 0x0C,
            Reply::Events(_) => 0x0D,
            Reply::Cache { .. } => 0x0E,
        }
    }
}

/// An error response (SPEC.md §10): a store error, or one of the
/// protocol's own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerError {
    /// The operation failed in the store (codes 1 to 14).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Authenticate first.
    #[error("authentication required")]
    AuthRequired,
    /// Wrong token.
    #[error("authentication failed")]
    AuthFailed,
    /// An opcode this server does not know.
    #[error("unknown operation 0x{0:02x}")]
    UnknownOp(u8),
    /// A body that does not decode.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// A frame longer than the server accepts; the connection closes.
    #[error("frame too large: the limit is {max} bytes")]
    FrameTooLarge {
        /// The server's limit.
        max: u32,
    },
    /// No protocol version in common; the connection closes.
    #[error("unsupported protocol version: this server speaks {lowest} to {highest}")]
    UnsupportedVersion {
        /// Lowest version the server speaks.
        lowest: u16,
        /// Highest version the server speaks.
        highest: u16,
    },
    /// The peer is not a sessiond client; the connection closes.
    #[error("bad handshake: {0}")]
    BadHandshake(String),
    /// The server is stopping; the connection closes.
    #[error("server is shutting down")]
    ShuttingDown,
    /// Too many connections; the connection closes.
    #[error("server busy: too many connections")]
    Busy,
    /// This node of a replication group is not its leader: the request was
    /// not executed and should be sent to the leader, at the address given
    /// if one is known (there is none during an election).
    #[error("{}", not_leader_message(.leader.as_deref()))]
    NotLeader {
        /// The leader's native-protocol address (`host:port`), if this node
        /// knows it.
        leader: Option<String>,
    },
    /// The group could not confirm the request in time (no quorum in
    /// reach, or leadership lost while it waited). A write's outcome is
    /// unknown: it may still be applied. Worth retrying.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Retention has dropped session events after the seq an EVENTS_READ
    /// asked to read after: the reader missed some.
    #[error("events after seq {after} were dropped by retention; the oldest kept is {oldest_kept}")]
    EventsGap {
        /// The seq the reader asked to read after.
        after: u64,
        /// The oldest seq kept (or the next to be logged, if none is).
        oldest_kept: u64,
    },
}

/// NOT_LEADER's text, which says where to go when the node knows.
fn not_leader_message(leader: Option<&str>) -> String {
    match leader {
        Some(leader) => format!("not the leader: the leader is {leader}"),
        None => "not the leader: no leader is known (an election may be under way)".to_owned(),
    }
}

/// The result a response carries.
pub type Response = Result<Reply, ServerError>;

/// Error codes on the wire (SPEC.md §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)] // each is documented in SPEC.md §10
pub enum ErrorCode {
    NotFound = 1,
    IdTaken = 2,
    BadOwner = 3,
    TooLarge = 4,
    BadKey = 5,
    BadLabels = 6,
    BadTimeout = 7,
    SessionLimit = 8,
    VersionMismatch = 9,
    OutOfMemory = 10,
    NotAnInteger = 11,
    Overflow = 12,
    WrongType = 13,
    Persistence = 14,
    EventsGap = 15,
    AuthRequired = 32,
    AuthFailed = 33,
    UnknownOp = 34,
    Malformed = 35,
    FrameTooLarge = 36,
    UnsupportedVersion = 37,
    BadHandshake = 38,
    ShuttingDown = 39,
    Busy = 40,
    NotLeader = 41,
    Unavailable = 42,
}

impl ErrorCode {
    /// Every code, in order.
    pub const ALL: [ErrorCode; 26] = [
        ErrorCode::NotFound,
        ErrorCode::IdTaken,
        ErrorCode::BadOwner,
        ErrorCode::TooLarge,
        ErrorCode::BadKey,
        ErrorCode::BadLabels,
        ErrorCode::BadTimeout,
        ErrorCode::SessionLimit,
        ErrorCode::VersionMismatch,
        ErrorCode::OutOfMemory,
        ErrorCode::NotAnInteger,
        ErrorCode::Overflow,
        ErrorCode::WrongType,
        ErrorCode::Persistence,
        ErrorCode::EventsGap,
        ErrorCode::AuthRequired,
        ErrorCode::AuthFailed,
        ErrorCode::UnknownOp,
        ErrorCode::Malformed,
        ErrorCode::FrameTooLarge,
        ErrorCode::UnsupportedVersion,
        ErrorCode::BadHandshake,
        ErrorCode::ShuttingDown,
        ErrorCode::Busy,
        ErrorCode::NotLeader,
        ErrorCode::Unavailable,
    ];

    /// The code for a byte, if it is one.
    pub fn from_u8(byte: u8) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| *c as u8 == byte)
    }

    /// The code's name as SPEC.md §10 writes it (`NOT_FOUND`, `BAD_OWNER`, …).
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::IdTaken => "ID_TAKEN",
            ErrorCode::BadOwner => "BAD_OWNER",
            ErrorCode::TooLarge => "TOO_LARGE",
            ErrorCode::BadKey => "BAD_KEY",
            ErrorCode::BadLabels => "BAD_LABELS",
            ErrorCode::BadTimeout => "BAD_TIMEOUT",
            ErrorCode::SessionLimit => "SESSION_LIMIT",
            ErrorCode::VersionMismatch => "VERSION_MISMATCH",
            ErrorCode::OutOfMemory => "OUT_OF_MEMORY",
            ErrorCode::NotAnInteger => "NOT_AN_INTEGER",
            ErrorCode::Overflow => "OVERFLOW",
            ErrorCode::WrongType => "WRONG_TYPE",
            ErrorCode::Persistence => "PERSISTENCE",
            ErrorCode::EventsGap => "EVENTS_GAP",
            ErrorCode::AuthRequired => "AUTH_REQUIRED",
            ErrorCode::AuthFailed => "AUTH_FAILED",
            ErrorCode::UnknownOp => "UNKNOWN_OP",
            ErrorCode::Malformed => "MALFORMED",
            ErrorCode::FrameTooLarge => "FRAME_TOO_LARGE",
            ErrorCode::UnsupportedVersion => "UNSUPPORTED_VERSION",
            ErrorCode::BadHandshake => "BAD_HANDSHAKE",
            ErrorCode::ShuttingDown => "SHUTTING_DOWN",
            ErrorCode::Busy => "BUSY",
            ErrorCode::NotLeader => "NOT_LEADER",
            ErrorCode::Unavailable => "UNAVAILABLE",
        }
    }
}

impl From<&StoreError> for ErrorCode {
    /// The code a store error travels as; a face that does not send codes
    /// (the Redis one) still classifies its errors by it.
    fn from(error: &StoreError) -> ErrorCode {
        match error {
            StoreError::NotFound => ErrorCode::NotFound,
            StoreError::IdTaken => ErrorCode::IdTaken,
            StoreError::BadOwner { .. } => ErrorCode::BadOwner,
            StoreError::TooLarge { .. } => ErrorCode::TooLarge,
            StoreError::BadKey { .. } => ErrorCode::BadKey,
            StoreError::BadLabels(_) => ErrorCode::BadLabels,
            StoreError::BadTimeout(_) => ErrorCode::BadTimeout,
            StoreError::SessionLimit { .. } => ErrorCode::SessionLimit,
            StoreError::VersionMismatch { .. } => ErrorCode::VersionMismatch,
            StoreError::OutOfMemory { .. } => ErrorCode::OutOfMemory,
            StoreError::NotAnInteger => ErrorCode::NotAnInteger,
            StoreError::Overflow => ErrorCode::Overflow,
            StoreError::WrongType => ErrorCode::WrongType,
            StoreError::Persistence(_) => ErrorCode::Persistence,
        }
    }
}

impl ServerError {
    /// The code this error travels as.
    pub fn code(&self) -> ErrorCode {
        match self {
            ServerError::Store(e) => ErrorCode::from(e),
            ServerError::AuthRequired => ErrorCode::AuthRequired,
            ServerError::AuthFailed => ErrorCode::AuthFailed,
            ServerError::UnknownOp(_) => ErrorCode::UnknownOp,
            ServerError::Malformed(_) => ErrorCode::Malformed,
            ServerError::FrameTooLarge { .. } => ErrorCode::FrameTooLarge,
            ServerError::UnsupportedVersion { .. } => ErrorCode::UnsupportedVersion,
            ServerError::BadHandshake(_) => ErrorCode::BadHandshake,
            ServerError::ShuttingDown => ErrorCode::ShuttingDown,
            ServerError::Busy => ErrorCode::Busy,
            ServerError::NotLeader { .. } => ErrorCode::NotLeader,
            ServerError::Unavailable(_) => ErrorCode::Unavailable,
            ServerError::EventsGap { .. } => ErrorCode::EventsGap,
        }
    }

    /// Whether the server closes the connection after sending this error.
    pub fn closes_connection(&self) -> bool {
        matches!(
            self,
            ServerError::FrameTooLarge { .. }
                | ServerError::UnsupportedVersion { .. }
                | ServerError::BadHandshake(_)
                | ServerError::ShuttingDown
                | ServerError::Busy
        )
    }
}
