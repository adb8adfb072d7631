//! The fuzz targets of sessiond: each a function from arbitrary bytes to
//! nothing, which panics when it finds a bug.
//!
//! A target does more than call a decoder: where the input decodes, it
//! checks a property that the decoder's users rely on, so the fuzzer
//! finds wrong answers and not only crashes. The libFuzzer harness
//! (`fuzz/libfuzzer`, run by `benches/fuzz.sh TARGET SECONDS`) calls these
//! functions; `tests/replay.rs` runs every input of `fuzz/corpus/TARGET`
//! and `fuzz/regressions/TARGET` through them on stable, so a regression
//! fails `cargo test`.
//!
//! ```
//! // Any bytes at all: garbage is refused, never a panic.
//! sessiond_fuzz::native_frames(b"\x00\x00\x00\x05\x03garbage");
//! sessiond_fuzz::handshake(b"GET / HTTP/1.1\r\n");
//! sessiond_fuzz::glob(b"h*llo\x00hello");
//! ```

use bytes::BytesMut;
use sessiond_protocol::wire::handshake::{ClientHello, ServerHello, looks_like_http};
use sessiond_protocol::wire::{DEFAULT_MAX_FRAME, Request, codec};

/// A target's body: arbitrary bytes in, a panic out when it finds a bug.
pub type Target = fn(&[u8]);

/// Every target by name, as `benches/fuzz.sh` and the replay test know them.
pub const TARGETS: &[(&str, Target)] = &[
    ("native_frames", native_frames),
    ("handshake", handshake),
    ("glob", glob),
];

/// The native protocol's framing and both decoders (SPEC.md §7–9), as a
/// server and a client meet them: `data` is a stream of frames.
///
/// Properties: framing never panics and never yields more bytes than were
/// given; a message survives its own encoding unchanged; and a request
/// encodes back to exactly the bytes it came from (one encoding per
/// request, which is what makes the vectors meaningful), except where
/// SPEC.md lets a field be ignored. A response's error message is free
/// text, so there only the decoded value must agree.
pub fn native_frames(data: &[u8]) {
    let mut buf = BytesMut::from(data);
    let mut taken = 0;
    while let Ok(Some(body)) = codec::next_frame(&mut buf, DEFAULT_MAX_FRAME) {
        taken += 4 + body.len();
        assert!(
            taken <= data.len(),
            "framing yielded more than it was given"
        );
        if let Ok(request) = codec::decode_request(&body) {
            let mut again = BytesMut::new();
            codec::encode_request(&request, &mut again);
            assert_eq!(
                codec::decode_request(&again[4..]).as_ref(),
                Ok(&request),
                "a request changed in its own encoding"
            );
            if !has_ignored_fields(&request) {
                assert_eq!(&again[4..], &body[..], "{request:?} has a second encoding");
            }
        }
        if let Ok(response) = codec::decode_response(&body) {
            let mut again = BytesMut::new();
            codec::encode_response(&response, &mut again);
            let decoded = codec::decode_response(&again[4..]);
            assert_eq!(
                decoded.as_ref(),
                Ok(&response),
                "a response changed in its own encoding"
            );
        }
    }
}

/// Whether a request carries a field that SPEC.md §8 says is ignored, so
/// that its bytes may differ from the canonical encoding: the `u32` of a
/// CREATE limit whose policy is "no limit".
fn has_ignored_fields(request: &Request) -> bool {
    matches!(request, Request::Create(new) if new.limit == Some(None))
}

/// The handshake (SPEC.md §5): both hellos and the HTTP sniff.
///
/// Property: a hello that decodes encodes back to the same bytes, and the
/// HTTP sniff never claims a real client hello.
pub fn handshake(data: &[u8]) {
    let _ = looks_like_http(data);
    if let Some(bytes) = data.first_chunk::<{ ClientHello::LEN }>()
        && let Ok(hello) = ClientHello::decode(bytes)
    {
        assert_eq!(&hello.encode(), bytes);
        assert!(!looks_like_http(bytes), "a client hello looked like HTTP");
    }
    if let Some(bytes) = data.first_chunk::<{ ServerHello::LEN }>()
        && let Ok(hello) = ServerHello::decode(bytes)
    {
        assert_eq!(&hello.encode(), bytes);
    }
}

/// Redis's glob matching (KEYS, SCAN MATCH): `data` is a pattern and a
/// string split at the first NUL.
///
/// Properties: no panic and no runaway time (libFuzzer's timeout catches
/// exponential backtracking); a pattern without special characters
/// matches exactly itself; `*` matches everything; a string always
/// matches itself with its special characters escaped.
pub fn glob(data: &[u8]) {
    let (pattern, string) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &b""[..]),
    };
    let matched = sessiond::glob_match(pattern, string);
    let special = |b: &u8| matches!(b, b'*' | b'?' | b'[' | b'\\');
    if !pattern.iter().any(special) {
        assert_eq!(matched, pattern == string, "a literal pattern");
    }
    if !string.is_empty() {
        assert!(sessiond::glob_match(b"*", string), "* matches every key");
    }
    let mut escaped = Vec::with_capacity(string.len() * 2);
    for &b in string {
        if special(&b) || b == b']' || b == b'^' || b == b'-' {
            escaped.push(b'\\');
        }
        escaped.push(b);
    }
    assert!(
        sessiond::glob_match(&escaped, string),
        "an escaped string matches itself"
    );
}
