//! Property tests of the codec: random requests and responses survive the
//! trip through a frame, and no input at all — random bytes or mangled
//! valid frames — makes a decoder panic.

use std::borrow::Cow;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use sessiond_protocol::wire::{
    ClientHello, DEFAULT_MAX_FRAME, Reply, Request, Response, ServerError, ServerHello,
    decode_request, decode_response, encode_request, encode_response, looks_like_http, next_frame,
};
use sessiond_protocol::{
    KeyTtl, Labels, LimitPolicy, NewSession, OwnerLimit, Session, SessionId, SessionInfo,
    StoreError,
};

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

fn id() -> impl Strategy<Value = SessionId> {
    any::<[u8; 16]>().prop_map(SessionId::from_bytes)
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

/// An owner within its limit of 1 to 256 bytes.
fn owner() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 1..=256)
}

/// A plain key within its limit of 1 to 4096 bytes (kept short).
fn key() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 1..=64)
}

/// Up to 16 labels, keys of up to 64 bytes, values of up to 256 bytes.
fn labels() -> impl Strategy<Value = Labels> {
    vec(("\\PC{1,16}", "\\PC{0,64}"), 0..=Labels::MAX_LABELS).prop_map(|pairs| {
        pairs
            .into_iter()
            .fold(Labels::new(), |labels, (k, v)| labels.with(k, v))
    })
}

/// Whole seconds, as CREATE and `info` carry them.
fn secs() -> impl Strategy<Value = Duration> {
    any::<u32>().prop_map(|secs| Duration::from_secs(secs.into()))
}

/// Whole milliseconds, as TTLs carry them.
fn millis() -> impl Strategy<Value = Duration> {
    any::<u64>().prop_map(Duration::from_millis)
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,40}"
}

fn owner_limit() -> impl Strategy<Value = Option<Option<OwnerLimit>>> {
    let policy = prop_oneof![Just(LimitPolicy::Reject), Just(LimitPolicy::EvictOldest)];
    prop_oneof![
        Just(None),
        Just(Some(None)),
        (any::<u32>(), policy).prop_map(|(max_sessions, policy)| Some(Some(OwnerLimit {
            max_sessions,
            policy
        }))),
    ]
}

fn new_session() -> impl Strategy<Value = NewSession> {
    (
        owner(),
        bytes(256),
        labels(),
        option::of(secs()),
        option::of(secs()),
        option::of(id()),
        owner_limit(),
    )
        .prop_map(
            |(owner, data, labels, idle, absolute, id, limit)| NewSession {
                owner,
                data,
                labels,
                idle,
                absolute,
                id,
                limit,
            },
        )
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::Ping),
        bytes(64).prop_map(|token| Request::Auth { token }),
        Just(Request::Stats),
        new_session().prop_map(Request::Create),
        (id(), any::<bool>()).prop_map(|(id, touch)| Request::Get { id, touch }),
        (id(), option::of(any::<u32>()), bytes(256)).prop_map(|(id, expected_version, data)| {
            Request::Update {
                id,
                expected_version,
                data,
            }
        }),
        id().prop_map(|id| Request::Touch { id }),
        id().prop_map(|id| Request::Delete { id }),
        id().prop_map(|id| Request::Rotate { id }),
        owner().prop_map(|owner| Request::List { owner }),
        owner().prop_map(|owner| Request::Count { owner }),
        (owner(), option::of(id())).prop_map(|(owner, keep)| Request::DeleteOwner { owner, keep }),
        (key(), option::of(millis()), bytes(256)).prop_map(|(key, ttl, value)| Request::KeySet {
            key,
            ttl,
            value
        }),
        key().prop_map(|key| Request::KeyGet { key }),
        key().prop_map(|key| Request::KeyDelete { key }),
        (key(), option::of(millis())).prop_map(|(key, ttl)| Request::KeyExpire { key, ttl }),
        key().prop_map(|key| Request::KeyTtl { key }),
        (key(), any::<i64>()).prop_map(|(key, delta)| Request::KeyIncr { key, delta }),
        (key(), any::<i64>(), 1..u64::from(u32::MAX)).prop_map(|(key, delta, ms)| {
            Request::KeyIncrTtl {
                key,
                delta,
                ttl: Duration::from_millis(ms),
            }
        }),
        (any::<u64>(), any::<u32>(), option::of(bytes(64))).prop_map(|(cursor, count, pattern)| {
            Request::KeyScan {
                cursor,
                count,
                pattern,
            }
        }),
        (any::<u64>(), text()).prop_map(|(id, raft_addr)| Request::NodeAdd { id, raft_addr }),
        any::<u64>().prop_map(|id| Request::NodeRemove { id }),
    ]
}

fn info() -> impl Strategy<Value = SessionInfo> {
    (
        id(),
        labels(),
        (any::<u64>(), any::<u64>(), any::<u64>()),
        secs(),
        option::of(1..=u64::MAX),
        any::<u32>(),
    )
        .prop_map(
            |(
                id,
                labels,
                (created_at, last_seen_at, expires_at),
                idle_timeout,
                absolute_deadline,
                version,
            )| {
                SessionInfo {
                    id,
                    labels,
                    created_at,
                    last_seen_at,
                    idle_timeout,
                    absolute_deadline,
                    expires_at,
                    version,
                }
            },
        )
}

fn key_ttl() -> impl Strategy<Value = KeyTtl> {
    prop_oneof![
        Just(KeyTtl::Missing),
        Just(KeyTtl::Persistent),
        millis().prop_map(KeyTtl::ExpiresIn),
    ]
}

fn reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        Just(Reply::Done),
        id().prop_map(Reply::Id),
        (owner(), bytes(256), info()).prop_map(|(owner, data, info)| Reply::Session(Session {
            owner,
            data,
            info
        })),
        any::<u32>().prop_map(Reply::Version),
        any::<u64>().prop_map(Reply::Time),
        any::<bool>().prop_map(Reply::Bool),
        vec(info(), 0..4).prop_map(Reply::List),
        any::<u32>().prop_map(Reply::Count),
        option::of(bytes(256)).prop_map(Reply::Value),
        key_ttl().prop_map(Reply::Ttl),
        any::<i64>().prop_map(Reply::Integer),
        vec(("[a-z_]{0,32}", any::<u64>()), 0..8).prop_map(Reply::Stats),
        (any::<u64>(), vec(key(), 0..8)).prop_map(|(cursor, keys)| Reply::Scan { cursor, keys }),
    ]
}

/// A length or limit as the wire carries it (a `u32`).
fn len32() -> impl Strategy<Value = usize> {
    any::<u32>().prop_map(|len| len as usize)
}

fn store_error() -> impl Strategy<Value = StoreError> {
    prop_oneof![
        Just(StoreError::NotFound),
        Just(StoreError::IdTaken),
        (len32(), len32()).prop_map(|(len, max)| StoreError::BadOwner { len, max }),
        (len32(), len32()).prop_map(|(len, max)| StoreError::TooLarge { len, max }),
        (len32(), len32()).prop_map(|(len, max)| StoreError::BadKey { len, max }),
        text().prop_map(|reason| StoreError::BadLabels(Cow::Owned(reason))),
        text().prop_map(|reason| StoreError::BadTimeout(Cow::Owned(reason))),
        any::<u32>().prop_map(|limit| StoreError::SessionLimit { limit }),
        (any::<u32>(), any::<u32>())
            .prop_map(|(expected, actual)| StoreError::VersionMismatch { expected, actual }),
        (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(used, limit, needed)| {
            StoreError::OutOfMemory {
                used,
                limit,
                needed,
            }
        }),
        Just(StoreError::NotAnInteger),
        Just(StoreError::Overflow),
        Just(StoreError::WrongType),
        text().prop_map(|reason| StoreError::Persistence(Cow::Owned(reason))),
    ]
}

fn server_error() -> impl Strategy<Value = ServerError> {
    prop_oneof![
        store_error().prop_map(ServerError::Store),
        Just(ServerError::AuthRequired),
        Just(ServerError::AuthFailed),
        any::<u8>().prop_map(ServerError::UnknownOp),
        text().prop_map(ServerError::Malformed),
        any::<u32>().prop_map(|max| ServerError::FrameTooLarge { max }),
        (any::<u16>(), any::<u16>())
            .prop_map(|(lowest, highest)| ServerError::UnsupportedVersion { lowest, highest }),
        text().prop_map(ServerError::BadHandshake),
        Just(ServerError::ShuttingDown),
        Just(ServerError::Busy),
        // An empty leader means none is known, so a known one is never empty.
        option::of("\\PC{1,40}").prop_map(|leader| ServerError::NotLeader { leader }),
        text().prop_map(ServerError::Unavailable),
    ]
}

fn response() -> impl Strategy<Value = Response> {
    prop_oneof![reply().prop_map(Ok), server_error().prop_map(Err)]
}

/// A way to damage a valid body.
#[derive(Debug, Clone)]
enum Mutation {
    /// XOR a byte (at an index taken modulo the length) with a mask.
    Flip(usize, u8),
    /// Keep only the first bytes.
    Truncate(usize),
    /// Add bytes at the end.
    Append(Vec<u8>),
    /// Insert a byte.
    Insert(usize, u8),
    /// Remove a byte.
    Remove(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=u8::MAX).prop_map(|(at, mask)| Mutation::Flip(at, mask)),
        any::<usize>().prop_map(Mutation::Truncate),
        bytes(8).prop_map(Mutation::Append),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        any::<usize>().prop_map(Mutation::Remove),
    ]
}

impl Mutation {
    fn apply(&self, body: &mut Vec<u8>) {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
        match self {
            Mutation::Flip(i, mask) if !body.is_empty() => {
                let i = at(*i, body.len());
                body[i] ^= mask;
            }
            Mutation::Truncate(len) => body.truncate(at(*len, body.len())),
            Mutation::Append(extra) => body.extend(extra),
            Mutation::Insert(i, byte) => body.insert(at(*i, body.len() + 1), *byte),
            Mutation::Remove(i) if !body.is_empty() => {
                body.remove(at(*i, body.len()));
            }
            Mutation::Flip(..) | Mutation::Remove(_) => {}
        }
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn request_body(req: &Request) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode_request(req, &mut buf);
    let body = next_frame(&mut buf, DEFAULT_MAX_FRAME)
        .expect("a valid frame")
        .expect("a complete frame");
    assert!(buf.is_empty(), "exactly one frame");
    body.to_vec()
}

fn response_body(resp: &Response) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode_response(resp, &mut buf);
    let body = next_frame(&mut buf, DEFAULT_MAX_FRAME)
        .expect("a valid frame")
        .expect("a complete frame");
    assert!(buf.is_empty(), "exactly one frame");
    body.to_vec()
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

proptest! {
    #[test]
    fn requests_round_trip(req in request()) {
        prop_assert_eq!(decode_request(&request_body(&req)), Ok(req));
    }

    #[test]
    fn responses_round_trip(resp in response()) {
        prop_assert_eq!(decode_response(&response_body(&resp)), Ok(resp));
    }

    #[test]
    fn hellos_round_trip(version in any::<u16>(), auth_required in any::<bool>(), max_frame in any::<u32>()) {
        let client = ClientHello { version };
        prop_assert_eq!(ClientHello::decode(&client.encode()), Ok(client));
        let server = ServerHello { version, auth_required, max_frame };
        prop_assert_eq!(ServerHello::decode(&server.encode()), Ok(server));
    }

    /// Pipelined frames arriving in arbitrary pieces come out whole and in
    /// order.
    #[test]
    fn pipelined_frames_split_in_order(
        reqs in vec(request(), 1..8),
        chunk in 1usize..64,
    ) {
        let mut wire = BytesMut::new();
        for req in &reqs {
            encode_request(req, &mut wire);
        }
        let mut buf = BytesMut::new();
        let mut decoded = Vec::new();
        for piece in wire.chunks(chunk) {
            buf.put_slice(piece);
            while let Some(body) = next_frame(&mut buf, DEFAULT_MAX_FRAME).unwrap() {
                decoded.push(decode_request(&body).unwrap());
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(decoded, reqs);
    }

    #[test]
    fn random_bodies_never_panic(body in bytes(512)) {
        let _ = decode_request(&body);
        let _ = decode_response(&body);
        let _ = looks_like_http(&body);
    }

    #[test]
    fn random_buffers_split_safely(data in bytes(512), max_frame in prop_oneof![Just(DEFAULT_MAX_FRAME), any::<u32>(), 0u32..600]) {
        let mut buf = BytesMut::from(&data[..]);
        while let Ok(Some(body)) = next_frame(&mut buf, max_frame) {
            prop_assert!(!body.is_empty());
            prop_assert!(body.len() as u64 <= u64::from(max_frame));
        }
    }

    /// Any 8 or 16 bytes decode or not without panicking; what decodes
    /// encodes back to the same bytes.
    #[test]
    fn random_hellos_are_canonical(client in any::<[u8; 8]>(), server in any::<[u8; 16]>(), magic in any::<bool>()) {
        let (mut client, mut server) = (client, server);
        if magic {
            client[..4].copy_from_slice(b"SSND");
            server[..4].copy_from_slice(b"SSND");
        }
        if let Ok(hello) = ClientHello::decode(&client) {
            prop_assert_eq!(hello.encode(), client);
        }
        if let Ok(hello) = ServerHello::decode(&server) {
            prop_assert_eq!(hello.encode(), server);
        }
    }

    /// Damaged requests never panic, and whatever still decodes is stable:
    /// encoding it and decoding again gives the same request.
    #[test]
    fn mangled_requests_never_panic(req in request(), mutations in vec(mutation(), 1..4)) {
        let mut body = request_body(&req);
        for mutation in &mutations {
            mutation.apply(&mut body);
        }
        if let Ok(decoded) = decode_request(&body) {
            prop_assert_eq!(decode_request(&request_body(&decoded)), Ok(decoded));
        }
    }

    /// Damaged responses never panic, and whatever still decodes is stable.
    #[test]
    fn mangled_responses_never_panic(resp in response(), mutations in vec(mutation(), 1..4)) {
        let mut body = response_body(&resp);
        for mutation in &mutations {
            mutation.apply(&mut body);
        }
        if let Ok(decoded) = decode_response(&body) {
            prop_assert_eq!(decode_response(&response_body(&decoded)), Ok(decoded));
        }
    }
}
