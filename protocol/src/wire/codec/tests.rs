//! The codec's own tests: every message both ways, and what decoding refuses.

use std::time::Duration;

use bytes::{BufMut, BytesMut};

use super::request::create_flag;
use super::*;
use crate::wire::message::{ErrorCode, Reply};
use crate::{Labels, LimitPolicy, NewSession, OwnerLimit, SessionId, SessionInfo, StoreError};

const ID: SessionId = SessionId::from_bytes([
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
]);

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

/// Bytes assembled by hand from SPEC.md, independently of the encoder.
fn spec_bytes(parts: &[&[u8]]) -> Vec<u8> {
    let body = parts.concat();
    let mut frame = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    frame.extend(body);
    frame
}

#[test]
fn ping_is_five_bytes() {
    assert_eq!(request_frame(&Request::Ping), [0, 0, 0, 1, 0x01]);
}

#[test]
fn create_layout_follows_the_spec() {
    let new = NewSession::new("u")
        .with_id(ID)
        .idle_timeout(Duration::from_secs(1800))
        .absolute_lifetime(Duration::from_secs(86_400))
        .owner_limit(Some(OwnerLimit {
            max_sessions: 3,
            policy: LimitPolicy::EvictOldest,
        }))
        .labels(Labels::new().with("k", "v"))
        .data(*b"d");
    let expected = spec_bytes(&[
        &[0x10, 0b1111],
        ID.as_bytes(),
        &1800u32.to_be_bytes(),
        &86_400u32.to_be_bytes(),
        &[0, 0, 0, 3, 2],
        &[0, 1, b'u'],
        &[1, 1, b'k', 0, 1, b'v'],
        &[0, 0, 0, 1, b'd'],
    ]);
    assert_eq!(request_frame(&Request::Create(new)), expected);

    let minimal = spec_bytes(&[&[0x10, 0, 0, 1, b'u', 0, 0, 0, 0, 0]]);
    assert_eq!(
        request_frame(&Request::Create(NewSession::new("u"))),
        minimal
    );
}

#[test]
fn create_limit_has_three_states() {
    let decode = |limit: &[u8]| {
        let body = [
            &[0x10, create_flag::LIMIT],
            limit,
            &[0, 1, b'u', 0, 0, 0, 0, 0],
        ]
        .concat();
        decode_request(&body).map(|req| match req {
            Request::Create(new) => new.limit,
            other => panic!("{other:?}"),
        })
    };
    assert_eq!(decode(&[0, 0, 0, 9, 0]), Ok(Some(None)));
    assert_eq!(
        decode(&[0, 0, 0, 9, 1]),
        Ok(Some(Some(OwnerLimit {
            max_sessions: 9,
            policy: LimitPolicy::Reject
        })))
    );
    assert!(matches!(
        decode(&[0, 0, 0, 9, 3]),
        Err(ServerError::Malformed(_))
    ));
}

#[test]
fn create_refuses_reserved_flags() {
    let body = [0x10, 0x10, 0, 1, b'u', 0, 0, 0, 0, 0];
    assert_eq!(
        decode_request(&body),
        Err(ServerError::Malformed(
            "invalid CREATE flags 16: expected reserved bits 4-7 clear".into()
        ))
    );
}

#[test]
fn ttls_travel_in_whole_milliseconds_rounded_up() {
    let req = Request::KeyExpire {
        key: b"k".to_vec(),
        ttl: Some(Duration::from_micros(1_001)),
    };
    let frame = request_frame(&req);
    assert_eq!(
        frame,
        spec_bytes(&[&[0x23, 0, 1, b'k', 1], &2u64.to_be_bytes()])
    );
    assert_eq!(
        decode_request(&frame[4..]),
        Ok(Request::KeyExpire {
            key: b"k".to_vec(),
            ttl: Some(Duration::from_millis(2)),
        })
    );
}

#[test]
fn request_errors() {
    assert_eq!(decode_request(&[0x7f]), Err(ServerError::UnknownOp(0x7f)));
    assert_eq!(
        decode_request(&[]),
        Err(ServerError::Malformed(
            "truncated opcode: needs 1 bytes, 0 left".into()
        ))
    );
    assert_eq!(
        decode_request(&[0x01, 0]),
        Err(ServerError::Malformed(
            "1 surplus bytes after the last field".into()
        ))
    );
    let bad_bool = [&[0x11][..], ID.as_bytes(), &[2]].concat();
    assert!(matches!(
        decode_request(&bad_bool),
        Err(ServerError::Malformed(_))
    ));
}

#[test]
fn error_layout_follows_the_spec() {
    let err = ServerError::from(StoreError::VersionMismatch {
        expected: 7,
        actual: 9,
    });
    let message = err.to_string();
    let expected = spec_bytes(&[
        &[9],
        &u16::try_from(message.len()).unwrap().to_be_bytes(),
        message.as_bytes(),
        &[0, 0, 0, 7, 0, 0, 0, 9],
    ]);
    let frame = response_frame(&Err(err.clone()));
    assert_eq!(frame, expected);
    assert_eq!(decode_response(&frame[4..]), Ok(Err(err)));
}

#[test]
fn error_texts_survive_the_trip() {
    for err in [
        ServerError::from(StoreError::BadLabels("too many".into())),
        ServerError::from(StoreError::BadTimeout("".into())),
        ServerError::Malformed("truncated id".into()),
        ServerError::BadHandshake("wrong magic".into()),
    ] {
        let frame = response_frame(&Err(err.clone()));
        assert_eq!(decode_response(&frame[4..]), Ok(Err(err)));
    }
}

#[test]
fn an_unprefixed_message_is_kept_whole() {
    let body = [&[ErrorCode::BadLabels as u8, 0, 3][..], b"odd"].concat();
    assert_eq!(
        decode_response(&body),
        Ok(Err(StoreError::BadLabels("odd".into()).into()))
    );
}

#[test]
fn long_messages_are_cut_on_a_character_boundary() {
    // "malformed request: " is 19 bytes, then 3-byte characters: the
    // cut at 65 535 falls inside one, so 65 533 bytes remain.
    let err = ServerError::Malformed("€".repeat(30_000));
    let frame = response_frame(&Err(err));
    let len = usize::from(u16::from_be_bytes([frame[5], frame[6]]));
    assert_eq!(len, 65_533);
    assert!(std::str::from_utf8(&frame[7..7 + len]).is_ok());
    assert!(matches!(
        decode_response(&frame[4..]),
        Ok(Err(ServerError::Malformed(_)))
    ));
}

#[test]
fn response_errors() {
    assert_eq!(
        decode_response(&[0, 0x0f]),
        Err(DecodeError::UnknownTag(0x0f))
    );
    assert_eq!(
        decode_response(&[16, 0, 0]),
        Err(DecodeError::UnknownErrorCode(16))
    );
    assert_eq!(decode_response(&[0, 0, 0]), Err(DecodeError::Surplus(1)));
    assert!(matches!(
        decode_response(&[0, 0x09, 1, 0, 0, 0, 0, 0, 0, 0, 5]),
        Err(DecodeError::Invalid { field: "TTL", .. })
    ));
    assert!(matches!(
        decode_response(&[0, 0x09, 3, 0, 0, 0, 0, 0, 0, 0, 0]),
        Err(DecodeError::Invalid {
            field: "TTL kind",
            ..
        })
    ));
}

#[test]
fn a_list_claiming_four_billion_sessions_is_refused_cheaply() {
    assert!(matches!(
        decode_response(&[0, 0x06, 0xff, 0xff, 0xff, 0xff, 0]),
        Err(DecodeError::Truncated { .. })
    ));
}

#[test]
fn absolute_deadline_zero_means_none() {
    let info = SessionInfo {
        id: ID,
        labels: Labels::new(),
        created_at: 1,
        last_seen_at: 2,
        idle_timeout: Duration::from_secs(3),
        absolute_deadline: None,
        expires_at: 5,
        version: 1,
    };
    let frame = response_frame(&Ok(Reply::List(vec![info.clone()])));
    assert_eq!(frame[4 + 2 + 4 + 16 + 8 + 8 + 4..][..8], [0; 8]);
    assert_eq!(
        decode_response(&frame[4..]),
        Ok(Ok(Reply::List(vec![info])))
    );
}

#[test]
fn frames_split_off_in_order() {
    let mut buf = BytesMut::new();
    encode_request(&Request::Ping, &mut buf);
    encode_request(&Request::Stats, &mut buf);
    buf.put_slice(&[0, 0]);
    assert_eq!(
        next_frame(&mut buf, 16).unwrap().as_deref(),
        Some(&[0x01][..])
    );
    assert_eq!(
        next_frame(&mut buf, 16).unwrap().as_deref(),
        Some(&[0x03][..])
    );
    assert_eq!(next_frame(&mut buf, 16), Ok(None));
    assert_eq!(buf.len(), 2);
}

#[test]
fn incomplete_frames_wait() {
    let mut buf = BytesMut::from(&[0, 0, 0, 3, 1, 2][..]);
    assert_eq!(next_frame(&mut buf, 16), Ok(None));
    buf.put_u8(3);
    assert_eq!(
        next_frame(&mut buf, 16).unwrap().as_deref(),
        Some(&[1, 2, 3][..])
    );
    assert!(buf.is_empty());
}

#[test]
fn bad_lengths_lose_the_framing() {
    let mut empty = BytesMut::from(&[0, 0, 0, 0][..]);
    assert_eq!(next_frame(&mut empty, 16), Err(FrameError::Empty));
    assert_eq!(empty.len(), 4);

    let mut huge = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
    let err = next_frame(&mut huge, DEFAULT_MAX_FRAME).unwrap_err();
    assert_eq!(
        err,
        FrameError::TooLarge {
            len: u32::MAX,
            max: DEFAULT_MAX_FRAME
        }
    );
    assert_eq!(
        ServerError::from(err),
        ServerError::FrameTooLarge {
            max: DEFAULT_MAX_FRAME
        }
    );
    assert!(huge.capacity() < 1024);
}

#[test]
fn the_limit_itself_is_allowed() {
    let mut buf = BytesMut::from(&[0, 0, 0, 2, 1, 2][..]);
    assert!(next_frame(&mut buf, 2).unwrap().is_some());
}

#[test]
fn events_refuse_unknown_kinds_and_reasons_out_of_place() {
    use crate::{EndReason, Event, EventKind};
    let event = Event {
        seq: 7,
        at_ms: 1,
        kind: EventKind::Ended {
            reason: EndReason::OwnerDeleted,
            note: Some(b"kick".to_vec()),
        },
        id: ID,
        owner: b"o".to_vec(),
        labels: Labels::new(),
    };
    let frame = response_frame(&Ok(Reply::Events(vec![event.clone()])));
    let body = &frame[4..];
    assert_eq!(decode_response(body), Ok(Ok(Reply::Events(vec![event]))));
    // status, tag, u32 count, u64 seq, u64 time: the kind is at 22, the
    // reason at 23.
    let (kind, reason) = (2 + 4 + 16, 2 + 4 + 16 + 1);
    let with = |at: usize, value: u8| {
        let mut bad = body.to_vec();
        bad[at] = value;
        decode_response(&bad)
    };
    assert!(matches!(
        with(kind, 5),
        Err(DecodeError::Invalid {
            field: "event kind",
            ..
        })
    ));
    assert!(matches!(
        with(reason, 0),
        Err(DecodeError::Invalid {
            field: "end reason",
            ..
        })
    ));
    assert!(matches!(
        with(reason, 7),
        Err(DecodeError::Invalid {
            field: "end reason",
            ..
        })
    ));
    // A created event with a reason, or with a note, is no event.
    assert!(matches!(
        with(kind, 1),
        Err(DecodeError::Invalid {
            field: "end reason",
            ..
        })
    ));
    let mut noted = body.to_vec();
    (noted[kind], noted[reason]) = (1, 0);
    assert!(matches!(
        decode_response(&noted),
        Err(DecodeError::Invalid {
            field: "note length",
            ..
        })
    ));
}

#[test]
fn peek_reads_names_the_gets_of_complete_frames_and_takes_nothing() {
    let id = SessionId::random();
    let mut buf = BytesMut::new();
    encode_request(&Request::Get { id, touch: true }, &mut buf);
    encode_request(
        &Request::KeySet {
            key: b"other".to_vec(),
            value: b"v".to_vec(),
            ttl: None,
        },
        &mut buf,
    );
    encode_request(
        &Request::KeyGet {
            key: b"k1".to_vec(),
        },
        &mut buf,
    );
    encode_request(
        &Request::KeyGet {
            key: b"k2".to_vec(),
        },
        &mut buf,
    );
    let whole = buf.len();
    // A frame still arriving is not looked at.
    let mut partial = BytesMut::new();
    encode_request(
        &Request::KeyGet {
            key: b"k3".to_vec(),
        },
        &mut partial,
    );
    buf.extend_from_slice(&partial[..partial.len() - 1]);

    let reads: Vec<_> = peek_reads(&buf, 16).collect();
    assert_eq!(
        reads,
        [
            ReadTarget::Session(id),
            ReadTarget::Key(b"k1"),
            ReadTarget::Key(b"k2")
        ]
    );
    assert_eq!(buf.len(), whole + partial.len() - 1, "nothing taken");
    // `max` counts frames, reads or not.
    assert_eq!(peek_reads(&buf, 2).count(), 1);
    // A truncated body or a length past the buffer ends the look quietly.
    assert_eq!(peek_reads(&[0, 0, 0, 1, 0x21], 16).count(), 0);
    assert_eq!(peek_reads(&[0xff, 0xff, 0xff, 0xff, 0x21], 16).count(), 0);
}
