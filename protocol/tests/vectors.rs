//! Golden vectors: `protocol/vectors/v1.json` is generated from the list
//! in this file, so it never drifts from the codec, and every vector in the
//! committed file must decode to its value and re-encode byte for byte.
//!
//! Regenerate the file after a deliberate change with
//! `UPDATE_VECTORS=1 cargo test -p sessiond-protocol --test vectors`.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use bytes::BytesMut;
use serde_json::{Map, Value, json};
use sessiond_protocol::wire::{
    CacheMode, ClientHello, DEFAULT_MAX_FRAME, ErrorCode, HandshakeError, Reply, Request, Response,
    ServerError, ServerHello, decode_request, decode_response, encode_request, encode_response,
};
use sessiond_protocol::{
    EndReason, Event, EventKind, KeyTtl, Labels, LimitPolicy, NewSession, OwnerLimit, Session,
    SessionId, SessionInfo, StoreError,
};

const VECTORS_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/v1.json");

// ---------------------------------------------------------------------------
// The vectors
// ---------------------------------------------------------------------------

/// What a vector holds, as a Rust value.
enum Message {
    Request(Request),
    Response(Response),
    ClientHello(ClientHello),
    ServerHello(ServerHello),
    /// A request body that must not decode, and the code it is answered with.
    BadRequest(Vec<u8>, ErrorCode),
}

struct Vector {
    name: &'static str,
    note: &'static str,
    message: Message,
}

fn request(name: &'static str, note: &'static str, req: Request) -> Vector {
    Vector {
        name,
        note,
        message: Message::Request(req),
    }
}

fn reply(name: &'static str, note: &'static str, reply: Reply) -> Vector {
    Vector {
        name,
        note,
        message: Message::Response(Ok(reply)),
    }
}

fn error(name: &'static str, note: &'static str, err: impl Into<ServerError>) -> Vector {
    Vector {
        name,
        note,
        message: Message::Response(Err(err.into())),
    }
}

fn bad_request(name: &'static str, note: &'static str, body: &[&[u8]], code: ErrorCode) -> Vector {
    Vector {
        name,
        note,
        message: Message::BadRequest(body.concat(), code),
    }
}

const ID_A: SessionId = SessionId::from_bytes([
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
]);
const ID_B: SessionId = SessionId::from_bytes([
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
]);
const OWNER: &[u8] = b"user:42";
const DATA: &[u8] = br#"{"cart":[]}"#;
const KEY: &[u8] = b"rate:192.0.2.7";
/// 2026-01-01T00:00:00Z.
const CREATED: u64 = 1_767_225_600;
/// A KEY_SCAN cursor mid-walk: shard 1 (the top 12 bits), position 0x2a.
/// Opaque to clients; above 2^32 so that it tests all 64 bits, below 2^53
/// so that it survives JSON readers that hold numbers as doubles (real
/// cursors do not: clients keep them as 64-bit integers).
const SCAN_CURSOR: u64 = (1 << 52) | 0x2a;

fn labels() -> Labels {
    Labels::new()
        .with("ua", "Firefox on Linux")
        .with("ip", "192.0.2.7")
        .with("place", "Zürich")
}

/// A session with an idle timeout, an absolute deadline and labels.
fn info_a() -> SessionInfo {
    SessionInfo {
        id: ID_A,
        labels: labels(),
        created_at: CREATED,
        last_seen_at: CREATED + 120,
        idle_timeout: Duration::from_secs(1800),
        absolute_deadline: Some(CREATED + 86_400),
        expires_at: CREATED + 120 + 1800,
        version: 3,
    }
}

/// A session with only an idle timeout and no labels.
fn info_b() -> SessionInfo {
    SessionInfo {
        id: ID_B,
        labels: Labels::new(),
        created_at: CREATED + 60,
        last_seen_at: CREATED + 60,
        idle_timeout: Duration::from_secs(900),
        absolute_deadline: None,
        expires_at: CREATED + 60 + 900,
        version: 1,
    }
}

/// A `bytes16` field, for bodies assembled by hand.
fn b16(bytes: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

fn vectors() -> Vec<Vector> {
    let mut all = request_vectors();
    all.extend(reply_vectors());
    all.extend(error_vectors());
    all.extend(hello_vectors());
    all.extend(bad_request_vectors());
    all
}

fn request_vectors() -> Vec<Vector> {
    let key = || KEY.to_vec();
    vec![
        request("ping", "PING", Request::Ping),
        request(
            "auth",
            "AUTH with the token \"s3cret\"",
            Request::Auth {
                token: b"s3cret".to_vec(),
            },
        ),
        request("stats", "STATS", Request::Stats),
        request(
            "create_no_flags",
            "CREATE with no flags: the server generates the id and applies its default timeouts and owner limit; no labels, empty data",
            Request::Create(NewSession::new(OWNER)),
        ),
        request(
            "create_all_flags",
            "CREATE with every flag: a caller-chosen id, idle timeout 30 min, absolute lifetime 1 day, at most 3 sessions evicting the least recently seen; three labels (one value not ASCII) and data",
            Request::Create(
                NewSession::new(OWNER)
                    .with_id(ID_A)
                    .idle_timeout(Duration::from_secs(1800))
                    .absolute_lifetime(Duration::from_secs(86_400))
                    .owner_limit(Some(OwnerLimit {
                        max_sessions: 3,
                        policy: LimitPolicy::EvictOldest,
                    }))
                    .labels(labels())
                    .data(DATA),
            ),
        ),
        request(
            "create_limit_reject",
            "CREATE with only flag bit 3: at most 5 sessions, refusing more",
            Request::Create(NewSession::new(OWNER).owner_limit(Some(OwnerLimit {
                max_sessions: 5,
                policy: LimitPolicy::Reject,
            }))),
        ),
        request(
            "create_no_limit",
            "CREATE with flag bit 3 and policy 0: no per-owner limit for this session (the u32 is 0 and ignored)",
            Request::Create(NewSession::new(OWNER).owner_limit(None)),
        ),
        request(
            "create_absolute_only",
            "CREATE with idle timeout present and 0 (none) and an absolute lifetime of 1 hour",
            Request::Create(
                NewSession::new(OWNER)
                    .idle_timeout(Duration::ZERO)
                    .absolute_lifetime(Duration::from_secs(3600)),
            ),
        ),
        request(
            "get_touch",
            "GET, sliding the idle deadline",
            Request::Get {
                id: ID_A,
                touch: true,
            },
        ),
        request(
            "get_peek",
            "GET without touching",
            Request::Get {
                id: ID_A,
                touch: false,
            },
        ),
        request(
            "update_unconditional",
            "UPDATE with no expected version",
            Request::Update {
                id: ID_A,
                expected_version: None,
                data: DATA.to_vec(),
            },
        ),
        request(
            "update_expected_version",
            "UPDATE only if the session is at version 3",
            Request::Update {
                id: ID_A,
                expected_version: Some(3),
                data: DATA.to_vec(),
            },
        ),
        request("touch", "TOUCH", Request::Touch { id: ID_A }),
        request("delete", "DELETE", Request::Delete { id: ID_A }),
        request("rotate", "ROTATE", Request::Rotate { id: ID_A }),
        request(
            "list",
            "LIST the owner's sessions",
            Request::List {
                owner: OWNER.to_vec(),
            },
        ),
        request(
            "count",
            "COUNT the owner's sessions",
            Request::Count {
                owner: OWNER.to_vec(),
            },
        ),
        request(
            "delete_owner_all",
            "DELETE_OWNER ending every session of the owner",
            Request::DeleteOwner {
                owner: OWNER.to_vec(),
                keep: None,
            },
        ),
        request(
            "delete_owner_keep",
            "DELETE_OWNER ending every session but one (log out other devices)",
            Request::DeleteOwner {
                owner: OWNER.to_vec(),
                keep: Some(ID_A),
            },
        ),
        request(
            "key_set_no_ttl",
            "KEY_SET without a TTL",
            Request::KeySet {
                key: key(),
                ttl: None,
                value: b"17".to_vec(),
            },
        ),
        request(
            "key_set_ttl",
            "KEY_SET with a TTL of 60 000 ms",
            Request::KeySet {
                key: key(),
                ttl: Some(Duration::from_secs(60)),
                value: b"17".to_vec(),
            },
        ),
        request("key_get", "KEY_GET", Request::KeyGet { key: key() }),
        request(
            "key_delete",
            "KEY_DELETE",
            Request::KeyDelete { key: key() },
        ),
        request(
            "key_expire_ttl",
            "KEY_EXPIRE setting a TTL of 1 500 ms",
            Request::KeyExpire {
                key: key(),
                ttl: Some(Duration::from_millis(1500)),
            },
        ),
        request(
            "key_expire_remove_ttl",
            "KEY_EXPIRE with the TTL absent: the key no longer expires",
            Request::KeyExpire {
                key: key(),
                ttl: None,
            },
        ),
        request(
            "key_expire_zero",
            "KEY_EXPIRE with a TTL of 0: the key is deleted",
            Request::KeyExpire {
                key: key(),
                ttl: Some(Duration::ZERO),
            },
        ),
        request("key_ttl", "KEY_TTL", Request::KeyTtl { key: key() }),
        request(
            "key_incr",
            "KEY_INCR by -2 (two's complement)",
            Request::KeyIncr {
                key: key(),
                delta: -2,
            },
        ),
        request(
            "key_incr_ttl",
            "KEY_INCR_TTL by 1, a new counter living 15 minutes",
            Request::KeyIncrTtl {
                key: key(),
                delta: 1,
                ttl: Duration::from_secs(900),
            },
        ),
        request(
            "key_scan_start",
            "KEY_SCAN's first step: cursor 0, about 100 keys looked at, no pattern (every key)",
            Request::KeyScan {
                cursor: 0,
                count: 100,
                pattern: None,
            },
        ),
        request(
            "key_scan_pattern",
            "KEY_SCAN going on from a cursor the previous step returned, about 10 keys looked at, only keys matching the glob \"rate:*\"",
            Request::KeyScan {
                cursor: SCAN_CURSOR,
                count: 10,
                pattern: Some(b"rate:*".to_vec()),
            },
        ),
        request(
            "node_add",
            "NODE_ADD: node 4 joins the replication group, its raft endpoint at 192.0.2.14:7900",
            Request::NodeAdd {
                id: 4,
                raft_addr: "192.0.2.14:7900".into(),
            },
        ),
        request(
            "node_remove",
            "NODE_REMOVE: node 2 leaves the replication group",
            Request::NodeRemove { id: 2 },
        ),
        request(
            "events_read",
            "EVENTS_READ: at most 100 events after seq 41, waiting up to 5 000 ms for one if none is there yet",
            Request::EventsRead {
                after: 41,
                max: 100,
                timeout: Duration::from_millis(5000),
            },
        ),
        request(
            "events_read_now",
            "EVENTS_READ from the start (after 0), at most 1 000, answered at once (timeout 0)",
            Request::EventsRead {
                after: 0,
                max: 1000,
                timeout: Duration::ZERO,
            },
        ),
        request(
            "cache_register_strict",
            "CACHE_REGISTER: this connection is a strict near cache's invalidation connection",
            Request::CacheRegister {
                mode: CacheMode::Strict,
            },
        ),
        request(
            "cache_register_relaxed",
            "CACHE_REGISTER in relaxed mode: nothing waits for this cache",
            Request::CacheRegister {
                mode: CacheMode::Relaxed,
            },
        ),
        request(
            "delete_noted",
            "DELETE_NOTED: DELETE whose ended event carries the note \"logout\"",
            Request::DeleteNoted {
                id: ID_A,
                note: b"logout".to_vec(),
            },
        ),
        request(
            "delete_owner_noted",
            "DELETE_OWNER_NOTED: DELETE_OWNER keeping one session, each ended event carrying the note \"kick\"",
            Request::DeleteOwnerNoted {
                owner: OWNER.to_vec(),
                keep: Some(ID_A),
                note: b"kick".to_vec(),
            },
        ),
        request(
            "delete_owner_noted_empty",
            "DELETE_OWNER_NOTED with no session kept and an empty note (none)",
            Request::DeleteOwnerNoted {
                owner: OWNER.to_vec(),
                keep: None,
                note: Vec::new(),
            },
        ),
    ]
}

/// Events of one session's life, one of each kind.
fn events() -> Vec<Event> {
    let at = CREATED * 1000;
    let event = |seq: u64, at_ms: u64, kind: EventKind, id: SessionId| Event {
        seq,
        at_ms,
        kind,
        id,
        owner: OWNER.to_vec(),
        labels: labels(),
    };
    vec![
        event(42, at, EventKind::Created, ID_A),
        event(43, at + 1500, EventKind::Updated, ID_A),
        event(44, at + 1500, EventKind::Rotated { new_id: ID_B }, ID_A),
        event(
            45,
            at + 60_000,
            EventKind::Ended {
                reason: EndReason::Deleted,
                note: Some(b"logout".to_vec()),
            },
            ID_B,
        ),
        Event {
            labels: Labels::new(),
            ..event(
                46,
                at + 1_800_000,
                EventKind::Ended {
                    reason: EndReason::IdleExpired,
                    note: None,
                },
                ID_A,
            )
        },
    ]
}

fn reply_vectors() -> Vec<Vector> {
    vec![
        reply("reply_done", "DONE", Reply::Done),
        reply("reply_id", "ID of a new session", Reply::Id(ID_A)),
        reply(
            "reply_session",
            "SESSION: owner, data and info (idle timeout, absolute deadline, three labels)",
            Reply::Session(Session {
                owner: OWNER.to_vec(),
                data: DATA.to_vec(),
                info: info_a(),
            }),
        ),
        reply("reply_version", "VERSION 4", Reply::Version(4)),
        reply(
            "reply_time",
            "TIME: a new expires-at, in Unix seconds",
            Reply::Time(CREATED + 1920),
        ),
        reply("reply_bool_true", "BOOL true", Reply::Bool(true)),
        reply("reply_bool_false", "BOOL false", Reply::Bool(false)),
        reply(
            "reply_list",
            "LIST of two sessions, most recently seen first; the second has no absolute deadline (0) and no labels",
            Reply::List(vec![info_a(), info_b()]),
        ),
        reply(
            "reply_list_empty",
            "LIST of no sessions",
            Reply::List(vec![]),
        ),
        reply("reply_count", "COUNT 2", Reply::Count(2)),
        reply(
            "reply_value",
            "VALUE of an existing key",
            Reply::Value(Some(b"17".to_vec())),
        ),
        reply(
            "reply_value_absent",
            "VALUE of a missing key",
            Reply::Value(None),
        ),
        reply(
            "reply_ttl_missing",
            "TTL of a missing key: kind 0, 0 ms",
            Reply::Ttl(KeyTtl::Missing),
        ),
        reply(
            "reply_ttl_persistent",
            "TTL of a key without a TTL: kind 1, 0 ms",
            Reply::Ttl(KeyTtl::Persistent),
        ),
        reply(
            "reply_ttl_expires",
            "TTL of a key expiring in 59 250 ms: kind 2",
            Reply::Ttl(KeyTtl::ExpiresIn(Duration::from_millis(59_250))),
        ),
        reply(
            "reply_integer",
            "INTEGER -15 (two's complement)",
            Reply::Integer(-15),
        ),
        reply(
            "reply_stats",
            "STATS with three statistics, one above 2^32",
            Reply::Stats(vec![
                ("sessions".into(), 2),
                ("keys".into(), 1),
                ("bytes_used".into(), 5_000_000_000),
            ]),
        ),
        reply(
            "reply_scan",
            "SCAN: the cursor to send next and the two keys this step found",
            Reply::Scan {
                cursor: SCAN_CURSOR,
                keys: vec![KEY.to_vec(), b"rate:198.51.100.1".to_vec()],
            },
        ),
        reply(
            "reply_scan_done",
            "SCAN of the last step: cursor 0 (the walk is over), no keys in this step",
            Reply::Scan {
                cursor: 0,
                keys: vec![],
            },
        ),
        reply(
            "reply_events",
            "EVENTS: created, updated, rotated (new id in the second id field), ended (deleted, with a note), ended (idle_expired, no labels, no note)",
            Reply::Events(events()),
        ),
        reply(
            "reply_events_empty",
            "EVENTS of none: the wait ran out with nothing new",
            Reply::Events(vec![]),
        ),
        reply(
            "reply_cache",
            "CACHE: read events after seq 4242; the server's bound is 1 000 ms",
            Reply::Cache {
                head: 4242,
                bound: Duration::from_millis(1000),
            },
        ),
    ]
}

fn error_vectors() -> Vec<Vector> {
    vec![
        error("error_not_found", "NOT_FOUND", StoreError::NotFound),
        error("error_id_taken", "ID_TAKEN", StoreError::IdTaken),
        error(
            "error_bad_owner",
            "BAD_OWNER: an owner of 300 bytes, the limit being 256",
            StoreError::BadOwner { len: 300, max: 256 },
        ),
        error(
            "error_too_large",
            "TOO_LARGE: 2 000 000 bytes of data, the limit being 1 MiB",
            StoreError::TooLarge {
                len: 2_000_000,
                max: 1 << 20,
            },
        ),
        error(
            "error_bad_key",
            "BAD_KEY: an empty key, the limit being 4096",
            StoreError::BadKey { len: 0, max: 4096 },
        ),
        error(
            "error_bad_labels",
            "BAD_LABELS: the message carries the reason after \"invalid labels: \"",
            StoreError::BadLabels("at most 16 labels".into()),
        ),
        error(
            "error_bad_timeout",
            "BAD_TIMEOUT: the message carries the reason after \"invalid timeout: \"",
            StoreError::BadTimeout(
                "a session needs an idle timeout or an absolute lifetime".into(),
            ),
        ),
        error(
            "error_session_limit",
            "SESSION_LIMIT: the owner already has 3 sessions",
            StoreError::SessionLimit { limit: 3 },
        ),
        error(
            "error_version_mismatch",
            "VERSION_MISMATCH: expected 3, the session is at 4",
            StoreError::VersionMismatch {
                expected: 3,
                actual: 4,
            },
        ),
        error(
            "error_out_of_memory",
            "OUT_OF_MEMORY: used, limit and needed bytes (u64, above 2^32)",
            StoreError::OutOfMemory {
                used: 5_368_000_000,
                limit: 5_368_709_120,
                needed: 1_048_576,
            },
        ),
        error(
            "error_not_an_integer",
            "NOT_AN_INTEGER",
            StoreError::NotAnInteger,
        ),
        error("error_overflow", "OVERFLOW", StoreError::Overflow),
        error("error_wrong_type", "WRONG_TYPE", StoreError::WrongType),
        error(
            "error_persistence",
            "PERSISTENCE: writes refused, the data directory is full",
            StoreError::Persistence("No space left on device (os error 28)".into()),
        ),
        error(
            "error_events_gap",
            "EVENTS_GAP: events after seq 10 were dropped by retention; the oldest kept is 5 000",
            ServerError::EventsGap {
                after: 10,
                oldest_kept: 5000,
            },
        ),
        error(
            "error_auth_required",
            "AUTH_REQUIRED",
            ServerError::AuthRequired,
        ),
        error("error_auth_failed", "AUTH_FAILED", ServerError::AuthFailed),
        error(
            "error_unknown_op",
            "UNKNOWN_OP for opcode 0x7f",
            ServerError::UnknownOp(0x7f),
        ),
        error(
            "error_malformed",
            "MALFORMED: the message carries the reason after \"malformed request: \"",
            ServerError::Malformed("truncated id: needs 16 bytes, 10 left".into()),
        ),
        error(
            "error_frame_too_large",
            "FRAME_TOO_LARGE: the limit is 2 MiB; the server closes the connection",
            ServerError::FrameTooLarge {
                max: DEFAULT_MAX_FRAME,
            },
        ),
        error(
            "error_unsupported_version",
            "UNSUPPORTED_VERSION: the server speaks versions 1 to 1; it closes the connection",
            ServerError::UnsupportedVersion {
                lowest: 1,
                highest: 1,
            },
        ),
        error(
            "error_bad_handshake",
            "BAD_HANDSHAKE: the message carries the reason after \"bad handshake: \"; the server closes the connection",
            HandshakeError::BadMagic(*b"SSNX"),
        ),
        error(
            "error_shutting_down",
            "SHUTTING_DOWN; the server closes the connection",
            ServerError::ShuttingDown,
        ),
        error(
            "error_busy",
            "BUSY; the server closes the connection",
            ServerError::Busy,
        ),
        error(
            "error_not_leader",
            "NOT_LEADER: not executed; the leader's native-protocol address follows the message",
            ServerError::NotLeader {
                leader: Some("192.0.2.11:7878".into()),
            },
        ),
        error(
            "error_not_leader_unknown",
            "NOT_LEADER with an empty leader address: no leader is known (an election is under way); not executed",
            ServerError::NotLeader { leader: None },
        ),
        error(
            "error_unavailable",
            "UNAVAILABLE: the message carries the reason after \"unavailable: \"; a write's outcome is unknown",
            ServerError::Unavailable("no quorum within 2 s".into()),
        ),
    ]
}

fn hello_vectors() -> Vec<Vector> {
    let server = |auth_required| ServerHello {
        version: 1,
        auth_required,
        max_frame: DEFAULT_MAX_FRAME,
    };
    vec![
        Vector {
            name: "client_hello",
            note: "the client hello of a client speaking version 1",
            message: Message::ClientHello(ClientHello { version: 1 }),
        },
        Vector {
            name: "server_hello_open",
            note: "the server hello: version 1, no authentication, frames up to 2 MiB",
            message: Message::ServerHello(server(false)),
        },
        Vector {
            name: "server_hello_auth",
            note: "the server hello: version 1, authentication required, frames up to 2 MiB",
            message: Message::ServerHello(server(true)),
        },
    ]
}

fn bad_request_vectors() -> Vec<Vector> {
    let owner = b16(OWNER);
    let no_labels_no_data: &[u8] = &[0, 0, 0, 0, 0];
    vec![
        bad_request(
            "bad_unknown_opcode",
            "opcode 0x7f is not defined",
            &[&[0x7f]],
            ErrorCode::UnknownOp,
        ),
        bad_request(
            "bad_truncated_id",
            "GET whose id has only 10 of its 16 bytes",
            &[&[0x11], &ID_A.as_bytes()[..10]],
            ErrorCode::Malformed,
        ),
        bad_request(
            "bad_truncated_data",
            "KEY_SET whose value claims 100 bytes and has 2",
            &[&[0x20], &b16(KEY), &[0], &[0, 0, 0, 100], b"17"],
            ErrorCode::Malformed,
        ),
        bad_request(
            "bad_surplus_byte",
            "PING followed by a byte",
            &[&[0x01, 0x00]],
            ErrorCode::Malformed,
        ),
        bad_request(
            "bad_reserved_create_flag",
            "CREATE with flag bit 4 (reserved) set",
            &[&[0x10, 0x10], &owner, no_labels_no_data],
            ErrorCode::Malformed,
        ),
        bad_request(
            "bad_bool",
            "GET whose touch is 2",
            &[&[0x11], ID_A.as_bytes(), &[2]],
            ErrorCode::Malformed,
        ),
        bad_request(
            "bad_presence_byte",
            "UPDATE whose opt<u32> presence byte is 2",
            &[&[0x12], ID_A.as_bytes(), &[2, 0, 0, 0, 3], &[0, 0, 0, 0]],
            ErrorCode::Malformed,
        ),
        bad_request(
            "bad_scan_truncated_count",
            "KEY_SCAN whose u32 count has only 2 of its 4 bytes",
            &[&[0x26], &[0; 8], &[0, 0]],
            ErrorCode::Malformed,
        ),
        bad_request(
            "bad_limit_policy",
            "CREATE with limit policy 3",
            &[&[0x10, 0x08, 0, 0, 0, 3, 3], &owner, no_labels_no_data],
            ErrorCode::Malformed,
        ),
        bad_request(
            "bad_label_utf8",
            "CREATE with a label value that is not UTF-8",
            &[
                &[0x10, 0x00],
                &owner,
                &[1, 1, b'k', 0, 1, 0xff],
                &[0, 0, 0, 0],
            ],
            ErrorCode::Malformed,
        ),
        bad_request(
            "bad_events_read_truncated",
            "EVENTS_READ whose u32 timeout has only 2 of its 4 bytes",
            &[&[0x2a], &[0; 8], &[0, 0, 0, 10], &[0, 0]],
            ErrorCode::Malformed,
        ),
        bad_request(
            "bad_cache_register_mode",
            "CACHE_REGISTER with mode 3 (only 1 strict and 2 relaxed exist)",
            &[&[0x2d, 3]],
            ErrorCode::Malformed,
        ),
        bad_request(
            "bad_duplicate_label",
            "CREATE with the label key \"k\" twice",
            &[
                &[0x10, 0x00],
                &owner,
                &[2, 1, b'k', 0, 1, b'a', 1, b'k', 0, 1, b'b'],
                &[0, 0, 0, 0],
            ],
            ErrorCode::Malformed,
        ),
    ]
}

// ---------------------------------------------------------------------------
// Bytes and fields of a vector
// ---------------------------------------------------------------------------

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex {text}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn request_frame(req: &Request) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_request(req, &mut out);
    out.to_vec()
}

fn response_frame(resp: &Response) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_response(resp, &mut out);
    out.to_vec()
}

impl Message {
    fn kind(&self) -> &'static str {
        match self {
            Message::Request(_) => "request",
            Message::Response(_) => "response",
            Message::ClientHello(_) => "client_hello",
            Message::ServerHello(_) => "server_hello",
            Message::BadRequest(..) => "bad_request",
        }
    }

    /// The bytes: whole frames for messages, raw hellos, bare bad bodies.
    fn bytes(&self) -> Vec<u8> {
        match self {
            Message::Request(req) => request_frame(req),
            Message::Response(resp) => response_frame(resp),
            Message::ClientHello(hello) => hello.encode().to_vec(),
            Message::ServerHello(hello) => hello.encode().to_vec(),
            Message::BadRequest(body, _) => body.clone(),
        }
    }
}

impl Vector {
    fn to_json(&self) -> Value {
        let mut vector = json!({
            "name": self.name,
            "kind": self.message.kind(),
            "note": self.note,
            "hex": hex(&self.message.bytes()),
        });
        let object = vector.as_object_mut().unwrap();
        match &self.message {
            Message::Request(req) => object.insert("fields".into(), describe_request(req)),
            Message::Response(resp) => object.insert("fields".into(), describe_response(resp)),
            Message::ClientHello(hello) => {
                object.insert("fields".into(), json!({ "version": hello.version }))
            }
            Message::ServerHello(hello) => object.insert(
                "fields".into(),
                json!({
                    "version": hello.version,
                    "auth_required": hello.auth_required,
                    "max_frame": hello.max_frame,
                }),
            ),
            Message::BadRequest(_, code) => object.insert("error".into(), code.name().into()),
        };
        vector
    }
}

fn generated_file() -> String {
    let vectors: Vec<Value> = vectors().iter().map(Vector::to_json).collect();
    let file = json!({ "version": 1, "vectors": vectors });
    serde_json::to_string_pretty(&file).unwrap() + "\n"
}

/// `{ first, ...rest }`, keeping `first` in front.
fn with_first(first: (&str, Value), rest: Value) -> Value {
    let mut object = Map::new();
    object.insert(first.0.into(), first.1);
    match rest {
        Value::Object(rest) => object.extend(rest),
        other => panic!("not an object: {other}"),
    }
    Value::Object(object)
}

fn describe_labels(labels: &Labels) -> Value {
    labels.iter().map(|(k, v)| json!([k, v])).collect()
}

fn describe_millis(ttl: Option<Duration>) -> Value {
    json!(ttl.map(|ttl| u64::try_from(ttl.as_millis()).unwrap()))
}

fn describe_info(info: &SessionInfo) -> Value {
    json!({
        "id": info.id.to_string(),
        "created": info.created_at,
        "last_seen": info.last_seen_at,
        "idle_secs": info.idle_timeout.as_secs(),
        "absolute_deadline": info.absolute_deadline,
        "expires_at": info.expires_at,
        "version": info.version,
        "labels": describe_labels(&info.labels),
    })
}

fn describe_limit(limit: Option<Option<OwnerLimit>>) -> Value {
    match limit {
        None => Value::Null,
        Some(None) => json!({ "max_sessions": 0, "policy": "none" }),
        Some(Some(OwnerLimit {
            max_sessions,
            policy,
        })) => json!({
            "max_sessions": max_sessions,
            "policy": match policy {
                LimitPolicy::Reject => "reject",
                LimitPolicy::EvictOldest => "evict_oldest",
            },
        }),
    }
}

fn describe_request(req: &Request) -> Value {
    let fields = match req {
        Request::Ping | Request::Stats => json!({}),
        Request::Auth { token } => json!({ "token_hex": hex(token) }),
        Request::Create(new) => json!({
            "id": new.id.map(|id| id.to_string()),
            "idle_secs": new.idle.map(|idle| idle.as_secs()),
            "absolute_secs": new.absolute.map(|absolute| absolute.as_secs()),
            "limit": describe_limit(new.limit),
            "owner_hex": hex(&new.owner),
            "labels": describe_labels(&new.labels),
            "data_hex": hex(&new.data),
        }),
        Request::Get { id, touch } => json!({ "id": id.to_string(), "touch": touch }),
        Request::Update {
            id,
            expected_version,
            data,
        } => json!({
            "id": id.to_string(),
            "expected_version": expected_version,
            "data_hex": hex(data),
        }),
        Request::Touch { id } | Request::Delete { id } | Request::Rotate { id } => {
            json!({ "id": id.to_string() })
        }
        Request::List { owner } | Request::Count { owner } => json!({ "owner_hex": hex(owner) }),
        Request::DeleteOwner { owner, keep } => json!({
            "owner_hex": hex(owner),
            "keep": keep.map(|id| id.to_string()),
        }),
        Request::KeySet { key, ttl, value } => json!({
            "key_hex": hex(key),
            "ttl_ms": describe_millis(*ttl),
            "value_hex": hex(value),
        }),
        Request::KeyGet { key } | Request::KeyDelete { key } | Request::KeyTtl { key } => {
            json!({ "key_hex": hex(key) })
        }
        Request::KeyExpire { key, ttl } => json!({
            "key_hex": hex(key),
            "ttl_ms": describe_millis(*ttl),
        }),
        Request::KeyIncr { key, delta } => json!({ "key_hex": hex(key), "delta": delta }),
        Request::KeyIncrTtl { key, delta, ttl } => json!({
            "key_hex": hex(key),
            "delta": delta,
            "ttl_ms": describe_millis(Some(*ttl)),
        }),
        Request::KeyScan {
            cursor,
            count,
            pattern,
        } => json!({
            "cursor": cursor,
            "count": count,
            "pattern_hex": pattern.as_deref().map(hex),
        }),
        Request::NodeAdd { id, raft_addr } => json!({ "id": id, "raft_addr": raft_addr }),
        Request::NodeRemove { id } => json!({ "id": id }),
        Request::EventsRead {
            after,
            max,
            timeout,
        } => json!({
            "after": after,
            "max": max,
            "timeout_ms": describe_millis(Some(*timeout)),
        }),
        Request::DeleteNoted { id, note } => json!({
            "id": id.to_string(),
            "note_hex": hex(note),
        }),
        Request::DeleteOwnerNoted { owner, keep, note } => json!({
            "owner_hex": hex(owner),
            "keep": keep.map(|id| id.to_string()),
            "note_hex": hex(note),
        }),
        Request::CacheRegister { mode } => json!({ "mode": mode.code() }),
    };
    with_first(("op", req.name().into()), fields)
}

fn describe_response(resp: &Response) -> Value {
    match resp {
        Ok(reply) => with_first(("status", "ok".into()), describe_reply(reply)),
        Err(err) => with_first(("status", "error".into()), describe_error(err)),
    }
}

fn describe_reply(reply: &Reply) -> Value {
    let (name, fields) = match reply {
        Reply::Done => ("done", json!({})),
        Reply::Id(id) => ("id", json!({ "id": id.to_string() })),
        Reply::Session(session) => (
            "session",
            json!({
                "owner_hex": hex(&session.owner),
                "data_hex": hex(&session.data),
                "info": describe_info(&session.info),
            }),
        ),
        Reply::Version(version) => ("version", json!({ "version": version })),
        Reply::Time(time) => ("time", json!({ "time": time })),
        Reply::Bool(value) => ("bool", json!({ "value": value })),
        Reply::List(infos) => (
            "list",
            json!({ "sessions": infos.iter().map(describe_info).collect::<Vec<_>>() }),
        ),
        Reply::Count(count) => ("count", json!({ "count": count })),
        Reply::Value(value) => ("value", json!({ "value_hex": value.as_deref().map(hex) })),
        Reply::Ttl(ttl) => {
            let (kind, left) = match ttl {
                KeyTtl::Missing => ("missing", None),
                KeyTtl::Persistent => ("persistent", None),
                KeyTtl::ExpiresIn(left) => ("expires", Some(*left)),
            };
            let ms = describe_millis(left);
            (
                "ttl",
                json!({ "kind": kind, "ms": if ms.is_null() { json!(0) } else { ms } }),
            )
        }
        Reply::Integer(value) => ("integer", json!({ "value": value })),
        Reply::Stats(stats) => (
            "stats",
            json!({ "stats": stats.iter().map(|(name, value)| json!([name, value])).collect::<Vec<_>>() }),
        ),
        Reply::Scan { cursor, keys } => (
            "scan",
            json!({
                "cursor": cursor,
                "keys_hex": keys.iter().map(|key| hex(key)).collect::<Vec<_>>(),
            }),
        ),
        Reply::Events(events) => (
            "events",
            json!({ "events": events.iter().map(describe_event).collect::<Vec<_>>() }),
        ),
        Reply::Cache { head, bound } => (
            "cache",
            json!({ "head": head, "bound_ms": describe_millis(Some(*bound)) }),
        ),
    };
    with_first(("reply", name.into()), fields)
}

fn describe_event(event: &Event) -> Value {
    let (reason, new_id, note) = match &event.kind {
        EventKind::Rotated { new_id } => (None, Some(new_id.to_string()), None),
        EventKind::Ended { reason, note } => (Some(reason.name()), None, note.as_deref().map(hex)),
        EventKind::Created | EventKind::Updated => (None, None, None),
    };
    json!({
        "seq": event.seq,
        "at_ms": event.at_ms,
        "kind": event.kind.name(),
        "reason": reason,
        "id": event.id.to_string(),
        "new_id": new_id,
        "owner_hex": hex(&event.owner),
        "labels": describe_labels(&event.labels),
        "note_hex": note,
    })
}

fn describe_error(err: &ServerError) -> Value {
    let details = match err {
        ServerError::Store(
            StoreError::BadOwner { len, max }
            | StoreError::TooLarge { len, max }
            | StoreError::BadKey { len, max },
        ) => json!({ "length": len, "max": max }),
        ServerError::Store(StoreError::SessionLimit { limit }) => json!({ "limit": limit }),
        ServerError::Store(StoreError::VersionMismatch { expected, actual }) => {
            json!({ "expected": expected, "actual": actual })
        }
        ServerError::Store(StoreError::OutOfMemory {
            used,
            limit,
            needed,
        }) => json!({ "used": used, "limit": limit, "needed": needed }),
        ServerError::UnknownOp(op) => json!({ "opcode": op }),
        ServerError::FrameTooLarge { max } => json!({ "max": max }),
        ServerError::UnsupportedVersion { lowest, highest } => {
            json!({ "lowest": lowest, "highest": highest })
        }
        ServerError::NotLeader { leader } => json!({ "leader": leader.as_deref().unwrap_or("") }),
        ServerError::EventsGap { after, oldest_kept } => {
            json!({ "after": after, "oldest_kept": oldest_kept })
        }
        _ => json!({}),
    };
    let code = err.code();
    let mut fields = json!({
        "code": code.name(),
        "code_value": code as u8,
        "message": err.to_string(),
    });
    fields
        .as_object_mut()
        .unwrap()
        .extend(details.as_object().unwrap().clone());
    fields
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

/// Whether this run rewrites the golden file.
fn updating() -> bool {
    std::env::var_os("UPDATE_VECTORS").is_some_and(|v| v == "1")
}

/// The vectors of the golden file; while it is being rewritten, the new
/// ones (so that the other tests need not race the write).
fn committed_vectors() -> Vec<Value> {
    let text = if updating() {
        generated_file()
    } else {
        std::fs::read_to_string(VECTORS_PATH)
            .unwrap_or_else(|e| panic!("{VECTORS_PATH}: {e}; run with UPDATE_VECTORS=1"))
    };
    let file: Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(file["version"], 1);
    file["vectors"]
        .as_array()
        .expect("a list of vectors")
        .clone()
}

#[test]
fn committed_file_matches_the_generator() {
    let generated = generated_file();
    if updating() {
        std::fs::write(VECTORS_PATH, &generated).expect("write the vectors");
        return;
    }
    let committed = std::fs::read_to_string(VECTORS_PATH).unwrap_or_default();
    assert!(
        committed == generated,
        "{VECTORS_PATH} is out of date: regenerate it with \
         UPDATE_VECTORS=1 cargo test -p sessiond-protocol --test vectors"
    );
}

#[test]
fn every_committed_vector_decodes_and_reencodes() {
    let generated: HashMap<&str, Vector> = vectors().into_iter().map(|v| (v.name, v)).collect();
    let committed = committed_vectors();
    assert_eq!(committed.len(), generated.len(), "names must be unique");
    for vector in committed {
        let name = vector["name"].as_str().unwrap();
        let expected = &generated[name].message;
        let bytes = unhex(vector["hex"].as_str().unwrap());
        assert_eq!(vector["kind"], expected.kind(), "{name}");
        match expected {
            Message::Request(req) => {
                let decoded = decode_request(&bytes[4..]).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(&decoded, req, "{name}");
                assert_eq!(request_frame(&decoded), bytes, "{name}");
                assert_eq!(describe_request(&decoded), vector["fields"], "{name}");
            }
            Message::Response(resp) => {
                let decoded =
                    decode_response(&bytes[4..]).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(&decoded, resp, "{name}");
                assert_eq!(response_frame(&decoded), bytes, "{name}");
                assert_eq!(describe_response(&decoded), vector["fields"], "{name}");
            }
            Message::ClientHello(hello) => {
                let decoded = ClientHello::decode(&bytes.try_into().unwrap()).unwrap();
                assert_eq!(&decoded, hello, "{name}");
                assert_eq!(vector["fields"]["version"], decoded.version, "{name}");
            }
            Message::ServerHello(hello) => {
                let decoded = ServerHello::decode(&bytes.try_into().unwrap()).unwrap();
                assert_eq!(&decoded, hello, "{name}");
                assert_eq!(vector["fields"]["auth_required"], decoded.auth_required);
            }
            Message::BadRequest(_, code) => {
                let err = decode_request(&bytes).expect_err(name);
                assert_eq!(err.code(), *code, "{name}: {err}");
                assert_eq!(vector["error"], code.name(), "{name}");
            }
        }
    }
}

#[test]
fn frames_carry_their_body_length() {
    for vector in committed_vectors() {
        if matches!(vector["kind"].as_str(), Some("request" | "response")) {
            let bytes = unhex(vector["hex"].as_str().unwrap());
            let len = u32::from_be_bytes(bytes[..4].try_into().unwrap());
            assert_eq!(len as usize, bytes.len() - 4, "{}", vector["name"]);
        }
    }
}

#[test]
fn vectors_cover_every_opcode_tag_and_code() {
    let all = vectors();
    let opcodes: BTreeSet<u8> = all
        .iter()
        .filter_map(|v| match &v.message {
            Message::Request(req) => Some(req.opcode()),
            _ => None,
        })
        .collect();
    let spec_opcodes: BTreeSet<u8> = [0x01, 0x02, 0x03]
        .into_iter()
        .chain(0x10..=0x18)
        .chain(0x20..=0x2d)
        .collect();
    assert_eq!(opcodes, spec_opcodes);

    let tags: BTreeSet<u8> = all
        .iter()
        .filter_map(|v| match &v.message {
            Message::Response(Ok(reply)) => Some(reply.tag()),
            _ => None,
        })
        .collect();
    assert_eq!(tags, (0x00..=0x0e).collect());

    let mut codes: Vec<ErrorCode> = all
        .iter()
        .filter_map(|v| match &v.message {
            Message::Response(Err(err)) => Some(err.code()),
            _ => None,
        })
        .collect();
    // A code may have several vectors (NOT_LEADER with and without a
    // leader), next to each other.
    codes.dedup();
    assert_eq!(codes, ErrorCode::ALL);
}

/// A few frames written out by hand from SPEC.md, so that the golden file
/// is checked against the specification and not only against the encoder.
#[test]
fn some_vectors_match_the_spec_by_hand() {
    let hex_of = |name: &str| {
        let vectors = committed_vectors();
        let vector = vectors.iter().find(|v| v["name"] == name).unwrap();
        vector["hex"].as_str().unwrap().to_owned()
    };
    assert_eq!(hex_of("ping"), "0000000101");
    assert_eq!(hex_of("client_hello"), "53534e4400010000");
    assert_eq!(
        hex_of("server_hello_auth"),
        "53534e440001000100200000_00000000".replace('_', "")
    );
    assert_eq!(
        hex_of("get_touch"),
        "00000012 11 000102030405060708090a0b0c0d0e0f 01".replace(' ', "")
    );
    assert_eq!(
        hex_of("key_incr"),
        "00000019 25 000e 726174653a3139322e302e322e37 fffffffffffffffe".replace(' ', "")
    );
    // length, tag 0x10, flags 0, owner "user:42", no labels, empty data
    assert_eq!(
        hex_of("create_no_flags"),
        "00000010 10 00 0007 757365723a3432 00 00000000".replace(' ', "")
    );
    // opcode 0x26, cursor 2^52 + 42, count 10, pattern present: "rate:*"
    assert_eq!(
        hex_of("key_scan_pattern"),
        "00000016 26 001000000000002a 0000000a 01 0006 726174653a2a".replace(' ', "")
    );
    // opcode 0x28, node id 2
    assert_eq!(
        hex_of("node_remove"),
        "00000009 28 0000000000000002".replace(' ', "")
    );
    // status 41, message, then the str16 leader address
    let message = hex(b"not the leader: the leader is 192.0.2.11:7878");
    let leader = hex(b"192.0.2.11:7878");
    assert_eq!(
        hex_of("error_not_leader"),
        format!("00000041 29 002d {message} 000f {leader}").replace(' ', "")
    );
    assert_eq!(hex_of("reply_done"), "000000020000");
    // status 0, tag 0x0C, cursor 0, no keys
    assert_eq!(
        hex_of("reply_scan_done"),
        "0000000e 00 0c 0000000000000000 00000000".replace(' ', "")
    );
    assert_eq!(
        hex_of("reply_ttl_expires"),
        "0000000b 00 09 02 000000000000e772".replace(' ', "")
    );
    // status 9, message, expected 3, actual 4
    let message = hex(b"version mismatch: expected 3, session is at 4");
    assert_eq!(
        hex_of("error_version_mismatch"),
        format!("00000038 09 002d {message} 00000003 00000004").replace(' ', "")
    );
}
