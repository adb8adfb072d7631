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
//! sessiond_fuzz::resp_pipeline(b"\x80*1\r\n$4\r\nPING\r\n");
//! sessiond_fuzz::persist_log(b"\x05\x00\x04garbage");
//! sessiond_fuzz::persist_snapshot(b"SESSIOND\x01\x00\x02");
//! ```
//!
//! The RESP parser and the persistence readers are crate-private; their
//! crates' `fuzzing` feature (enabled here, off elsewhere) gives each a
//! hidden `fuzzing` module that runs them over bytes as the daemon would.

mod alloc;

use bytes::BytesMut;
use sessiond::fuzzing::{End, Loaded};
use sessiond_protocol::wire::handshake::{ClientHello, ServerHello, looks_like_http};
use sessiond_protocol::wire::{DEFAULT_MAX_FRAME, Request, codec};

/// A target's body: arbitrary bytes in, a panic out when it finds a bug.
pub type Target = fn(&[u8]);

/// Every target by name, as `benches/fuzz.sh` and the replay test know them.
pub const TARGETS: &[(&str, Target)] = &[
    ("native_frames", native_frames),
    ("handshake", handshake),
    ("glob", glob),
    ("resp_pipeline", resp_pipeline),
    ("persist_log", persist_log),
    ("persist_snapshot", persist_snapshot),
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

/// The largest RESP argument the target's connection accepts: smaller
/// than any real one (at least 64 KiB), so that inputs of a fuzzer's size
/// reach the limit.
const RESP_MAX_BULK: usize = 1024;

/// The RESP parser (RESP.md) as a connection meets it: `data`'s first
/// byte says where its socket split the rest, which is a pipeline of
/// requests.
///
/// Properties: how the bytes arrive changes nothing (the rest parsed at
/// once, in two reads split where the first byte says, and in reads of 1
/// to 16 bytes (or more, to make at most 64 reads), give the same requests, the same protocol error and the
/// same bytes left waiting); every request parsed, sent again as a RESP
/// array, is read back as itself; and the parser's memory is bounded by
/// its input, whatever lengths the input declares.
pub fn resp_pipeline(data: &[u8]) {
    use sessiond_server::fuzzing::resp_read;
    let Some((&cut, input)) = data.split_first() else {
        return;
    };
    let (whole, peak) = alloc::peak_during(|| resp_read(&[input], RESP_MAX_BULK));
    assert!(
        peak <= 64 * input.len() + 64 * 1024,
        "{peak} bytes allocated for {} of input",
        input.len()
    );
    let at = usize::from(cut) * input.len() / 255;
    let (first, second) = input.split_at(at);
    assert_eq!(
        resp_read(&[first, second], RESP_MAX_BULK),
        whole,
        "read in two at {at}"
    );
    // At most 64 reads, to keep an execution short (the parser reads each
    // byte once however the input is cut, which `resp_read` exercises).
    let size = (usize::from(cut % 16) + 1).max(input.len().div_ceil(64));
    let reads: Vec<&[u8]> = input.chunks(size).collect();
    assert_eq!(
        resp_read(&reads, RESP_MAX_BULK),
        whole,
        "read {size} bytes at a time"
    );
    let mut again = Vec::new();
    for request in &whole.requests {
        again.extend_from_slice(format!("*{}\r\n", request.len()).as_bytes());
        for arg in request {
            again.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            again.extend_from_slice(arg);
            again.extend_from_slice(b"\r\n");
        }
    }
    let resent = resp_read(&[&again], usize::MAX);
    assert_eq!(resent.requests, whole.requests, "a request sent again");
    assert_eq!((resent.error, &resent.pending[..]), (None, &b""[..]));
}

/// Recovery's reader of a log (PERSISTENCE.md §4, §6): `data` is a whole
/// `log-G.aof` if it starts with the magic, and otherwise the bodies of
/// records (each a `u16` length and its bytes) that [`framed`] makes a log
/// of, with right checksums, so that mutations reach the record decoders.
///
/// Properties, besides those the engine's entry point checks itself (a
/// record re-encodes to its bytes, the store holds what it says, memory
/// accounting returns to zero): reading stops within the file, at its end
/// if it is whole; a file framed as the spec says is never read as torn;
/// the file cut where reading stopped (what recovery does to a torn tail,
/// and `--repair` to damage) reads whole, with the same records; and
/// memory is bounded by the input.
pub fn persist_log(data: &[u8]) {
    let file = persist_file(data, 1);
    let loaded = load(&file, sessiond::fuzzing::replay_log);
    let cut_at = match loaded.end {
        End::Header(_) => return,
        End::Whole(len) => {
            assert_eq!(len, file.len(), "a whole log read to its end");
            return;
        }
        End::Torn(at, what) => {
            assert!(
                data.starts_with(b"SESSIOND"),
                "a log framed as the spec says read as torn: {what}"
            );
            at
        }
        End::Damaged(at, _) => at,
    };
    assert!(cut_at <= file.len());
    let cut = sessiond::fuzzing::replay_log(&file[..cut_at]);
    assert_eq!(
        cut,
        Loaded {
            records: loaded.records,
            end: End::Whole(cut_at)
        },
        "the log cut where reading stopped"
    );
}

/// Recovery's reader of a snapshot (PERSISTENCE.md §4–6): `data` as for
/// [`persist_log`], a framed snapshot ending with its END record.
///
/// Properties, besides the engine's own: reading stops within the file;
/// a snapshot that loads has no more records than its bytes can frame;
/// memory is bounded by the input.
pub fn persist_snapshot(data: &[u8]) {
    let file = persist_file(data, 2);
    let loaded = load(&file, sessiond::fuzzing::load_snapshot);
    match loaded.end {
        End::Header(_) => {}
        End::Whole(len) => assert_eq!(len, file.len()),
        End::Torn(..) => panic!("a snapshot is never torn, only damaged"),
        End::Damaged(at, _) => assert!(at <= file.len()),
    }
}

/// Runs a reader under the allocation bound: a store, and what the
/// records put in it, in no more than a few times their bytes (a set's
/// members cost more in a table than packed, hence the factor).
fn load(file: &[u8], reader: fn(&[u8]) -> Loaded) -> Loaded {
    let (loaded, peak) = alloc::peak_during(|| reader(file));
    assert!(
        peak <= 64 * file.len() + 256 * 1024,
        "{peak} bytes allocated for a file of {}",
        file.len()
    );
    // A record is at least its 12-byte frame and a type byte.
    assert!(loaded.records <= file.len() / 13);
    loaded
}

/// `data` if it is a file already (it starts with the magic), otherwise
/// [`framed`] as a file of `kind` (1 log, 2 snapshot).
fn persist_file(data: &[u8], kind: u8) -> Vec<u8> {
    if data.starts_with(b"SESSIOND") {
        return data.to_vec();
    }
    framed(data, kind)
}

/// A file of `kind` as PERSISTENCE.md §3–4 lays it out, written here
/// from the text and not by the engine's writer: a header of generation 1,
/// then a frame for each body cut from `data` (a `u16` little-endian
/// length, then that many bytes, or what is left). A snapshot ends with an
/// END record counting the bodies.
fn framed(mut data: &[u8], kind: u8) -> Vec<u8> {
    let mut file = Vec::with_capacity(data.len() + 64);
    file.extend_from_slice(b"SESSIOND");
    file.extend_from_slice(&1u16.to_le_bytes());
    file.extend_from_slice(&[kind, 0]);
    file.extend_from_slice(&1u64.to_le_bytes());
    let crc = crc32fast::hash(&file);
    file.extend_from_slice(&crc.to_le_bytes());
    let mut bodies = 0u64;
    while let Some((len, rest)) = data.split_first_chunk::<2>() {
        let len = usize::from(u16::from_le_bytes(*len)).min(rest.len());
        let (body, rest) = rest.split_at(len);
        frame(&mut file, body);
        bodies += 1;
        data = rest;
    }
    if kind == 2 {
        let mut end = vec![7];
        end.extend_from_slice(&bodies.to_le_bytes());
        frame(&mut file, &end);
    }
    file
}

/// Appends one record's frame and body.
fn frame(file: &mut Vec<u8>, body: &[u8]) {
    let len = (body.len() as u32).to_le_bytes();
    file.extend_from_slice(&len);
    file.extend_from_slice(&crc32fast::hash(&len).to_le_bytes());
    file.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    file.extend_from_slice(body);
}
