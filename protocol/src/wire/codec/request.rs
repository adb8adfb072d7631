//! Request bodies (SPEC.md §8): an opcode and the operation's fields, both
//! ways.

use bytes::{BufMut, BytesMut};

use super::DecodeError;
use super::reader::Reader;
use super::writer::WireWrite;
use crate::wire::message::{CacheMode, Request};
use crate::{LimitPolicy, NewSession, OwnerLimit};

/// CREATE's flag bits: which optional fields follow.
pub(super) mod create_flag {
    /// A caller-chosen id.
    pub const ID: u8 = 1 << 0;
    /// An idle timeout.
    pub const IDLE: u8 = 1 << 1;
    /// An absolute lifetime.
    pub const ABSOLUTE: u8 = 1 << 2;
    /// A per-owner limit and its policy.
    pub const LIMIT: u8 = 1 << 3;
    /// Bits 4–7, which must be 0.
    pub const RESERVED: u8 = 0xf0;
}

/// CREATE's limit policies.
mod limit_policy {
    /// No limit (the limit's `u32` is ignored).
    pub const NONE: u8 = 0;
    /// Refuse sessions beyond the limit.
    pub const REJECT: u8 = 1;
    /// End the least recently seen session to make room.
    pub const EVICT_OLDEST: u8 = 2;
}

pub(super) fn put_request(out: &mut BytesMut, req: &Request) {
    out.put_u8(req.opcode());
    match req {
        Request::Ping | Request::Stats => {}
        Request::Auth { token } => out.put_bytes16(token),
        Request::Create(new) => put_new_session(out, new),
        Request::Get { id, touch } => {
            out.put_id(id);
            out.put_bool(*touch);
        }
        Request::Update {
            id,
            expected_version,
            data,
        } => {
            out.put_id(id);
            out.put_opt(*expected_version, BytesMut::put_u32);
            out.put_bytes32(data);
        }
        Request::Touch { id } | Request::Delete { id } | Request::Rotate { id } => out.put_id(id),
        Request::List { owner } | Request::Count { owner } => out.put_bytes16(owner),
        Request::DeleteOwner { owner, keep } => {
            out.put_bytes16(owner);
            out.put_opt(keep.as_ref(), BytesMut::put_id);
        }
        Request::KeySet { key, ttl, value } => {
            out.put_bytes16(key);
            out.put_opt(*ttl, BytesMut::put_millis);
            out.put_bytes32(value);
        }
        Request::KeyGet { key } | Request::KeyDelete { key } | Request::KeyTtl { key } => {
            out.put_bytes16(key);
        }
        Request::KeyExpire { key, ttl } => {
            out.put_bytes16(key);
            out.put_opt(*ttl, BytesMut::put_millis);
        }
        Request::KeyIncr { key, delta } => {
            out.put_bytes16(key);
            out.put_i64(*delta);
        }
        Request::KeyScan {
            cursor,
            count,
            pattern,
        } => {
            out.put_u64(*cursor);
            out.put_u32(*count);
            out.put_opt(pattern.as_deref(), BytesMut::put_bytes16);
        }
        Request::NodeAdd { id, raft_addr } => {
            out.put_u64(*id);
            out.put_str16(raft_addr);
        }
        Request::NodeRemove { id } => out.put_u64(*id),
        Request::KeyIncrTtl { key, delta, ttl } => {
            out.put_bytes16(key);
            out.put_i64(*delta);
            out.put_millis(*ttl);
        }
        Request::EventsRead {
            after,
            max,
            timeout,
        } => {
            out.put_u64(*after);
            out.put_u32(*max);
            // A wait beyond u32 milliseconds (49 days) is capped anyway.
            out.put_u32(u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX));
        }
        Request::CacheRegister { mode } => out.put_u8(mode.code()),
        Request::DeleteNoted { id, note } => {
            out.put_id(id);
            out.put_bytes16(note);
        }
        Request::DeleteOwnerNoted { owner, keep, note } => {
            out.put_bytes16(owner);
            out.put_opt(keep.as_ref(), BytesMut::put_id);
            out.put_bytes16(note);
        }
    }
}

/// The opcodes are those of [`Request::opcode`]; the round-trip tests keep
/// the two tables in step.
pub(super) fn read_request(r: &mut Reader<'_>) -> Result<Request, DecodeError> {
    let request = match r.u8("opcode")? {
        0x01 => Request::Ping,
        0x02 => Request::Auth {
            token: r.bytes16("token")?.to_vec(),
        },
        0x03 => Request::Stats,
        0x10 => Request::Create(read_new_session(r)?),
        0x11 => Request::Get {
            id: r.id("id")?,
            touch: r.bool("touch")?,
        },
        0x12 => Request::Update {
            id: r.id("id")?,
            expected_version: r.opt("expected version", Reader::u32)?,
            data: r.bytes32("data")?.to_vec(),
        },
        0x13 => Request::Touch { id: r.id("id")? },
        0x14 => Request::Delete { id: r.id("id")? },
        0x15 => Request::Rotate { id: r.id("id")? },
        0x16 => Request::List {
            owner: r.bytes16("owner")?.to_vec(),
        },
        0x17 => Request::Count {
            owner: r.bytes16("owner")?.to_vec(),
        },
        0x18 => Request::DeleteOwner {
            owner: r.bytes16("owner")?.to_vec(),
            keep: r.opt("keep", Reader::id)?,
        },
        0x20 => Request::KeySet {
            key: r.bytes16("key")?.to_vec(),
            ttl: r.opt("ttl", Reader::millis)?,
            value: r.bytes32("value")?.to_vec(),
        },
        0x21 => Request::KeyGet {
            key: r.bytes16("key")?.to_vec(),
        },
        0x22 => Request::KeyDelete {
            key: r.bytes16("key")?.to_vec(),
        },
        0x23 => Request::KeyExpire {
            key: r.bytes16("key")?.to_vec(),
            ttl: r.opt("ttl", Reader::millis)?,
        },
        0x24 => Request::KeyTtl {
            key: r.bytes16("key")?.to_vec(),
        },
        0x25 => Request::KeyIncr {
            key: r.bytes16("key")?.to_vec(),
            delta: r.i64("delta")?,
        },
        0x26 => Request::KeyScan {
            cursor: r.u64("cursor")?,
            count: r.u32("count")?,
            pattern: r.opt("pattern", Reader::bytes16)?.map(<[u8]>::to_vec),
        },
        0x27 => Request::NodeAdd {
            id: r.u64("node id")?,
            raft_addr: r.str16("raft address")?.to_owned(),
        },
        0x28 => Request::NodeRemove {
            id: r.u64("node id")?,
        },
        0x29 => Request::KeyIncrTtl {
            key: r.bytes16("key")?.to_vec(),
            delta: r.i64("delta")?,
            ttl: r.millis("ttl")?,
        },
        0x2A => Request::EventsRead {
            after: r.u64("after")?,
            max: r.u32("max")?,
            timeout: std::time::Duration::from_millis(r.u32("timeout")?.into()),
        },
        0x2B => Request::DeleteNoted {
            id: r.id("id")?,
            note: r.bytes16("note")?.to_vec(),
        },
        0x2C => Request::DeleteOwnerNoted {
            owner: r.bytes16("owner")?.to_vec(),
            keep: r.opt("keep", Reader::id)?,
            note: r.bytes16("note")?.to_vec(),
        },
        0x2D => {
            let code = r.u8("mode")?;
            let mode = CacheMode::from_code(code)
                .ok_or_else(|| DecodeError::invalid("near cache mode", code, "1 or 2"))?;
            Request::CacheRegister { mode }
        }
        op => return Err(DecodeError::UnknownOp(op)),
    };
    Ok(request)
}

/// CREATE: flags, the optional fields they announce in bit order, then
/// owner, labels and data.
fn put_new_session(out: &mut BytesMut, new: &NewSession) {
    let flag = |present: bool, bit: u8| if present { bit } else { 0 };
    let flags = flag(new.id.is_some(), create_flag::ID)
        | flag(new.idle.is_some(), create_flag::IDLE)
        | flag(new.absolute.is_some(), create_flag::ABSOLUTE)
        | flag(new.limit.is_some(), create_flag::LIMIT);
    out.put_u8(flags);
    if let Some(id) = &new.id {
        out.put_id(id);
    }
    if let Some(idle) = new.idle {
        out.put_secs(idle);
    }
    if let Some(absolute) = new.absolute {
        out.put_secs(absolute);
    }
    if let Some(limit) = new.limit {
        put_limit(out, limit);
    }
    out.put_bytes16(&new.owner);
    out.put_labels(&new.labels);
    out.put_bytes32(&new.data);
}

fn read_new_session(r: &mut Reader<'_>) -> Result<NewSession, DecodeError> {
    let flags = r.u8("CREATE flags")?;
    if flags & create_flag::RESERVED != 0 {
        return Err(DecodeError::invalid(
            "CREATE flags",
            flags,
            "reserved bits 4-7 clear",
        ));
    }
    let has = |bit: u8| flags & bit != 0;
    Ok(NewSession {
        id: has(create_flag::ID).then(|| r.id("id")).transpose()?,
        idle: has(create_flag::IDLE)
            .then(|| r.secs("idle timeout"))
            .transpose()?,
        absolute: has(create_flag::ABSOLUTE)
            .then(|| r.secs("absolute lifetime"))
            .transpose()?,
        limit: has(create_flag::LIMIT).then(|| read_limit(r)).transpose()?,
        owner: r.bytes16("owner")?.to_vec(),
        labels: r.labels()?,
        data: r.bytes32("data")?.to_vec(),
    })
}

/// A limit: `u32` sessions, `u8` policy. No limit goes out as 0, policy 0.
fn put_limit(out: &mut BytesMut, limit: Option<OwnerLimit>) {
    let (max_sessions, policy) = match limit {
        None => (0, limit_policy::NONE),
        Some(OwnerLimit {
            max_sessions,
            policy: LimitPolicy::Reject,
        }) => (max_sessions, limit_policy::REJECT),
        Some(OwnerLimit {
            max_sessions,
            policy: LimitPolicy::EvictOldest,
        }) => (max_sessions, limit_policy::EVICT_OLDEST),
    };
    out.put_u32(max_sessions);
    out.put_u8(policy);
}

fn read_limit(r: &mut Reader<'_>) -> Result<Option<OwnerLimit>, DecodeError> {
    let max_sessions = r.u32("session limit")?;
    let policy = match r.u8("limit policy")? {
        limit_policy::NONE => return Ok(None),
        limit_policy::REJECT => LimitPolicy::Reject,
        limit_policy::EVICT_OLDEST => LimitPolicy::EvictOldest,
        other => return Err(DecodeError::invalid("limit policy", other, "0, 1 or 2")),
    };
    Ok(Some(OwnerLimit {
        max_sessions,
        policy,
    }))
}
