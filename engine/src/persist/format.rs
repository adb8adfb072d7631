//! The bytes of the data directory's files: a file header, then framed,
//! checksummed records. protocol/PERSISTENCE.md is the specification; this
//! module is its one implementation, for both writing and reading.
//!
//! Every integer is little-endian (the files stay on the machine that
//! wrote them, and every machine we run on is little-endian, so writing
//! costs no byte swaps).
//!
//! A record's frame carries two checksums: one of its length alone and one
//! of its body. The first is what lets recovery tell a torn last record (a
//! crash mid-write: the length is good but the body runs past the end of
//! the file) from damage (a flipped bit in a length would otherwise make a
//! record in the middle look like one that runs past the end, and recovery
//! would cut everything after it as if it were a torn tail).

use crate::hash_value::HashValue;
use crate::keys::{KeyEntry, ValueRef};

/// The first 8 bytes of every file.
pub(crate) const MAGIC: [u8; 8] = *b"SESSIOND";
/// The format version this build writes. It reads every version up to it.
/// Version 2 added the HASH and BATCH records, version 3 the EVENT and
/// EVENTS_NEXT records of the session event log; an older reader refuses
/// them by the header rather than as damage.
pub(crate) const FORMAT_VERSION: u16 = 3;
/// Bytes of the file header.
pub(crate) const FILE_HEADER: usize = 24;
/// Bytes of a record's frame before its body.
pub(crate) const FRAME: usize = 12;
/// The largest record body any version writes: a session or key with the
/// largest data the store can be configured for, and room for the rest.
/// A length above it is damage, not data.
pub(crate) const MAX_BODY: usize = 1 << 30;

/// Which kind of file a header starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// An append-only log of mutations.
    Log = 1,
    /// A snapshot of the whole store, ending with a [`Entry::End`] record.
    Snapshot = 2,
}

/// Writes a file header: magic, format version, kind, generation, and a
/// checksum of those 20 bytes.
pub(crate) fn file_header(kind: FileKind, generation: u64) -> [u8; FILE_HEADER] {
    let mut header = [0u8; FILE_HEADER];
    header[..8].copy_from_slice(&MAGIC);
    header[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[10] = kind as u8;
    header[12..20].copy_from_slice(&generation.to_le_bytes());
    let crc = crc32fast::hash(&header[..20]);
    header[20..24].copy_from_slice(&crc.to_le_bytes());
    header
}

/// Checks a file header; returns its format version and generation.
pub(crate) fn read_file_header(bytes: &[u8], kind: FileKind) -> Result<(u16, u64), String> {
    let Some(header) = bytes.get(..FILE_HEADER) else {
        return Err(format!("shorter than the {FILE_HEADER}-byte file header"));
    };
    if header[..8] != MAGIC {
        return Err("not a sessiond file (wrong magic)".into());
    }
    if crc32fast::hash(&header[..20]) != le32(&header[20..24]) {
        return Err("file header checksum mismatch".into());
    }
    let version = u16::from_le_bytes([header[8], header[9]]);
    if version == 0 || version > FORMAT_VERSION {
        return Err(format!(
            "format version {version}; this build reads 1 to {FORMAT_VERSION}"
        ));
    }
    if header[10] != kind as u8 {
        return Err(format!(
            "a file of kind {}, expected {}",
            header[10], kind as u8
        ));
    }
    Ok((version, le64(&header[12..20])))
}

/// Appends one framed record to `out`, the body written by `body`.
pub(crate) fn frame(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME]);
    body(out);
    let len = (out.len() - start - FRAME) as u32;
    let body_crc = crc32fast::hash(&out[start + FRAME..]);
    let len_bytes = len.to_le_bytes();
    out[start..start + 4].copy_from_slice(&len_bytes);
    out[start + 4..start + 8].copy_from_slice(&crc32fast::hash(&len_bytes).to_le_bytes());
    out[start + 8..start + 12].copy_from_slice(&body_crc.to_le_bytes());
}

/// What reading the frame at some offset found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Framed<'a> {
    /// A whole record: its body, and the offset just past it.
    Record(&'a [u8], usize),
    /// The clean end of the file.
    End,
    /// A record cut short by the end of the file: what a crash in the
    /// middle of a write leaves. Only acceptable at the end of the newest
    /// log.
    Torn(&'static str),
    /// Bytes that are no record: checksum mismatch, impossible length.
    Damaged(&'static str),
}

/// Reads the frame at `at` in `file`.
pub(crate) fn next_frame(file: &[u8], at: usize) -> Framed<'_> {
    let rest = &file[at..];
    if rest.is_empty() {
        return Framed::End;
    }
    if rest.len() < FRAME {
        return Framed::Torn("a record header cut short");
    }
    let len_bytes = &rest[..4];
    if crc32fast::hash(len_bytes) != le32(&rest[4..8]) {
        // A file that ends in zeros was extended by the file system but the
        // data never landed (a crash between the two): a torn tail too.
        if rest.iter().all(|&b| b == 0) {
            return Framed::Torn("zeros after the last record");
        }
        return Framed::Damaged("record length checksum mismatch");
    }
    let len = le32(len_bytes) as usize;
    if len > MAX_BODY {
        return Framed::Damaged("record longer than any record can be");
    }
    let Some(body) = rest.get(FRAME..FRAME + len) else {
        return Framed::Torn("a record body cut short");
    };
    if crc32fast::hash(body) != le32(&rest[8..12]) {
        return match FRAME + len == rest.len() {
            // The last record, whole in length but not in content: the
            // file system kept the size of a write but not all its pages.
            true => Framed::Torn("the last record's checksum does not match"),
            false => Framed::Damaged("record checksum mismatch"),
        };
    }
    Framed::Record(body, at + FRAME + len)
}

/// One record's meaning. Records describe the state a mutation left, not
/// the operation, so that replaying a record twice, or on top of a
/// snapshot that already holds its effect, changes nothing (see
/// `snapshot.rs` for why that matters).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Entry<'a> {
    /// A session as it now is: its packed image (see `record.rs`).
    Session(&'a [u8]),
    /// A session was seen at this second (sliding expiry); applied as
    /// "at least", so an older touch never moves it back.
    Touch { id: [u8; 16], last_seen: u32 },
    /// A session ended: deleted, rotated away, kicked or evicted.
    EndSession { id: [u8; 16] },
    /// A string key as it now is. `deadline_ms` 0: no TTL.
    Str {
        key: &'a [u8],
        deadline_ms: u64,
        value: &'a [u8],
    },
    /// A set key as it now is: its members, each `u32` length + bytes.
    Set {
        key: &'a [u8],
        deadline_ms: u64,
        members: &'a [u8],
    },
    /// A hash key as it now is: its fields, each `u32` length + name,
    /// `u64` deadline (0: none), `u32` length + value.
    Hash {
        key: &'a [u8],
        deadline_ms: u64,
        fields: &'a [u8],
    },
    /// A key is gone.
    EndKey { key: &'a [u8] },
    /// The last record of a snapshot, with the number before it.
    End { records: u64 },
    /// Several keys' records (STRING, SET, END_KEY bodies, each `u32`
    /// length + body) that one command changed together (MSETNX, SMOVE,
    /// RENAMENX): one record, so a crash keeps all of them or none.
    /// Format version 2.
    Batch(&'a [u8]),
    /// A session event, packed as the event log keeps it (`events.rs`).
    /// In a log, it follows the change's own records in the same append;
    /// in a snapshot, the window of kept events. Format version 3.
    Event(&'a [u8]),
    /// A snapshot's record of the seq the next event gets, which the
    /// events kept may not tell (retention may have dropped them all).
    /// Format version 3.
    EventsNext { next_seq: u64 },
    /// A change to the event log's consumer groups (`event_groups.rs`
    /// encodes its body); in a snapshot, the changes that rebuild them.
    /// Format version 3.
    Group(&'a [u8]),
}

const SESSION: u8 = 1;
const TOUCH: u8 = 2;
const END_SESSION: u8 = 3;
const STR: u8 = 4;
const SET: u8 = 5;
const END_KEY: u8 = 6;
const END: u8 = 7;
const HASH: u8 = 8;
/// Taken well above the others so that record kinds added on other
/// branches keep their numbers.
const BATCH: u8 = 16;
/// Taken well above BATCH, for the same reason.
const EVENT: u8 = 32;
const EVENTS_NEXT: u8 = 33;
const GROUP: u8 = 34;

impl Entry<'_> {
    /// Writes the record body (tag and fields).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Entry::Session(image) => {
                out.push(SESSION);
                out.extend_from_slice(image);
            }
            Entry::Touch { id, last_seen } => {
                out.push(TOUCH);
                out.extend_from_slice(id);
                out.extend_from_slice(&last_seen.to_le_bytes());
            }
            Entry::EndSession { id } => {
                out.push(END_SESSION);
                out.extend_from_slice(id);
            }
            Entry::Str {
                key,
                deadline_ms,
                value,
            } => key_body(out, STR, key, *deadline_ms, value),
            Entry::Set {
                key,
                deadline_ms,
                members,
            } => key_body(out, SET, key, *deadline_ms, members),
            Entry::Hash {
                key,
                deadline_ms,
                fields,
            } => key_body(out, HASH, key, *deadline_ms, fields),
            Entry::EndKey { key } => {
                out.push(END_KEY);
                out.extend_from_slice(key);
            }
            Entry::End { records } => {
                out.push(END);
                out.extend_from_slice(&records.to_le_bytes());
            }
            Entry::Batch(packed) => {
                out.push(BATCH);
                out.extend_from_slice(packed);
            }
            Entry::Event(image) => {
                out.push(EVENT);
                out.extend_from_slice(image);
            }
            Entry::EventsNext { next_seq } => {
                out.push(EVENTS_NEXT);
                out.extend_from_slice(&next_seq.to_le_bytes());
            }
            Entry::Group(change) => {
                out.push(GROUP);
                out.extend_from_slice(change);
            }
        }
    }

    /// Reads a record body. Checksums have already vouched for the bytes,
    /// so a failure here means a writer bug or a format this build does not
    /// know, and is reported as damage.
    pub(crate) fn decode(body: &[u8]) -> Result<Entry<'_>, &'static str> {
        let (&tag, rest) = body.split_first().ok_or("an empty record")?;
        let id = |rest: &[u8]| -> Result<[u8; 16], &'static str> {
            rest.get(..16)
                .and_then(|b| b.try_into().ok())
                .ok_or("a record too short for a session id")
        };
        Ok(match tag {
            SESSION => Entry::Session(rest),
            TOUCH if rest.len() == 20 => Entry::Touch {
                id: id(rest)?,
                last_seen: le32(&rest[16..20]),
            },
            END_SESSION if rest.len() == 16 => Entry::EndSession { id: id(rest)? },
            STR | SET | HASH => {
                if rest.len() < 10 {
                    return Err("a key record too short");
                }
                let deadline_ms = le64(&rest[..8]);
                let key_len = usize::from(u16::from_le_bytes([rest[8], rest[9]]));
                let key = rest
                    .get(10..10 + key_len)
                    .ok_or("a key longer than its record")?;
                let value = &rest[10 + key_len..];
                match tag {
                    STR => Entry::Str {
                        key,
                        deadline_ms,
                        value,
                    },
                    SET => Entry::Set {
                        key,
                        deadline_ms,
                        members: value,
                    },
                    _ => Entry::Hash {
                        key,
                        deadline_ms,
                        fields: value,
                    },
                }
            }
            END_KEY => Entry::EndKey { key: rest },
            END if rest.len() == 8 => Entry::End {
                records: le64(rest),
            },
            BATCH => Entry::Batch(rest),
            EVENT => Entry::Event(rest),
            GROUP => Entry::Group(rest),
            EVENTS_NEXT if rest.len() == 8 => Entry::EventsNext {
                next_seq: le64(rest),
            },
            TOUCH | END_SESSION | END | EVENTS_NEXT => {
                return Err("a record of the wrong length");
            }
            _ => return Err("an unknown record type"),
        })
    }
}

/// A plain key's record as the key now is, handed to `f`: the one place
/// that turns a key into a record, for the log and for snapshots alike.
pub(crate) fn with_key_entry<R>(entry: &KeyEntry, f: impl FnOnce(&Entry<'_>) -> R) -> R {
    let (key, deadline_ms) = (entry.key(), entry.deadline().unwrap_or(0));
    match entry.value() {
        ValueRef::Str(value) => f(&Entry::Str {
            key,
            deadline_ms,
            value,
        }),
        ValueRef::Set(set) => f(&Entry::Set {
            key,
            deadline_ms,
            members: &pack_members(set.members()),
        }),
        ValueRef::Hash(hash) => f(&Entry::Hash {
            key,
            deadline_ms,
            fields: &pack_fields(hash),
        }),
    }
}

/// Packs a hash's fields as a [`Entry::Hash`] record carries them.
fn pack_fields(hash: &HashValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(hash.bytes());
    for (field, value, deadline) in hash.iter() {
        out.extend_from_slice(&(field.len() as u32).to_le_bytes());
        out.extend_from_slice(field);
        out.extend_from_slice(&deadline.unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(value);
    }
    out
}

/// Unpacks what [`pack_fields`] packed into a hash value.
pub(crate) fn unpack_fields(mut bytes: &[u8]) -> Result<HashValue, &'static str> {
    const CUT: &str = "a hash field cut short";
    let mut hash = HashValue::default();
    while !bytes.is_empty() {
        let len = le32(bytes.get(..4).ok_or(CUT)?) as usize;
        let field = bytes.get(4..4 + len).ok_or(CUT)?;
        let rest = &bytes[4 + len..];
        let deadline = le64(rest.get(..8).ok_or(CUT)?);
        let value_len = le32(rest.get(8..12).ok_or(CUT)?) as usize;
        let value = rest.get(12..12 + value_len).ok_or(CUT)?;
        hash.set(field, value, false);
        if deadline != 0 {
            hash.set_deadline(field, Some(deadline));
        }
        bytes = &rest[12 + value_len..];
    }
    Ok(hash)
}

/// Packs record bodies as an [`Entry::Batch`] carries them (the same
/// framing as a set's members).
pub(crate) fn pack_bodies(bodies: &[Vec<u8>]) -> Vec<u8> {
    pack_members(bodies.iter().map(Vec::as_slice))
}

/// Packs set members as a [`Entry::Set`] record carries them.
fn pack_members<'m>(members: impl Iterator<Item = &'m [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for member in members {
        out.extend_from_slice(&(member.len() as u32).to_le_bytes());
        out.extend_from_slice(member);
    }
    out
}

/// Unpacks what [`pack_members`] packed.
pub(crate) fn unpack_members(mut bytes: &[u8]) -> Result<Vec<&[u8]>, &'static str> {
    let mut members = Vec::new();
    while !bytes.is_empty() {
        let len = bytes.get(..4).ok_or("a set member cut short")?;
        let len = le32(len) as usize;
        let member = bytes.get(4..4 + len).ok_or("a set member cut short")?;
        members.push(member);
        bytes = &bytes[4 + len..];
    }
    Ok(members)
}

fn key_body(out: &mut Vec<u8>, tag: u8, key: &[u8], deadline_ms: u64, value: &[u8]) {
    out.push(tag);
    out.extend_from_slice(&deadline_ms.to_le_bytes());
    out.extend_from_slice(&(key.len() as u16).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(value);
}

fn le32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"))
}

fn le64(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(entries: &[Entry<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        for entry in entries {
            frame(&mut out, |b| entry.encode(b));
        }
        out
    }

    #[test]
    fn records_round_trip() {
        let file = framed(&[
            Entry::Touch {
                id: [7; 16],
                last_seen: 99,
            },
            Entry::Str {
                key: b"k",
                deadline_ms: 5,
                value: b"v",
            },
            Entry::End { records: 3 },
        ]);
        let Framed::Record(body, next) = next_frame(&file, 0) else {
            panic!("a record");
        };
        assert!(matches!(
            Entry::decode(body),
            Ok(Entry::Touch { id, last_seen: 99 }) if id == [7; 16]
        ));
        let Framed::Record(body, next) = next_frame(&file, next) else {
            panic!("a record");
        };
        assert!(matches!(
            Entry::decode(body),
            Ok(Entry::Str {
                key: b"k",
                deadline_ms: 5,
                value: b"v"
            })
        ));
        let Framed::Record(body, next) = next_frame(&file, next) else {
            panic!("a record");
        };
        assert!(matches!(Entry::decode(body), Ok(Entry::End { records: 3 })));
        assert_eq!(next_frame(&file, next), Framed::End);
    }

    #[test]
    fn a_cut_last_record_is_torn_and_a_flipped_byte_before_the_end_is_damage() {
        let file = framed(&[Entry::End { records: 0 }, Entry::EndKey { key: b"abc" }]);
        let first = FRAME + 9;
        for cut in 1..file.len() - first {
            let short = &file[..first + cut];
            assert!(
                matches!(next_frame(short, first), Framed::Torn(_)),
                "cut at {cut}"
            );
        }
        for at in 0..first {
            let mut bad = file.clone();
            bad[at] ^= 0x40;
            assert!(
                matches!(next_frame(&bad, 0), Framed::Damaged(_)),
                "flip at {at}"
            );
        }
        let mut zeros = file[..first].to_vec();
        zeros.extend_from_slice(&[0; 40]);
        assert!(matches!(next_frame(&zeros, first), Framed::Torn(_)));
    }

    #[test]
    fn a_batch_carries_key_records_whole() {
        let bodies: Vec<Vec<u8>> = [
            Entry::Str {
                key: b"a",
                deadline_ms: 0,
                value: b"1",
            },
            Entry::EndKey { key: b"b" },
        ]
        .iter()
        .map(|e| {
            let mut body = Vec::new();
            e.encode(&mut body);
            body
        })
        .collect();
        let packed = pack_bodies(&bodies);
        let file = framed(&[Entry::Batch(&packed)]);
        let Framed::Record(body, _) = next_frame(&file, 0) else {
            panic!("a record");
        };
        assert_eq!(body[0], BATCH);
        let Ok(Entry::Batch(inner)) = Entry::decode(body) else {
            panic!("a batch");
        };
        let inner = unpack_members(inner).unwrap();
        assert_eq!(inner, [&bodies[0][..], &bodies[1][..]]);
        assert!(matches!(
            Entry::decode(inner[1]),
            Ok(Entry::EndKey { key: b"b" })
        ));
    }

    #[test]
    fn headers_check_magic_version_and_kind() {
        let header = file_header(FileKind::Log, 7);
        assert_eq!(
            read_file_header(&header, FileKind::Log),
            Ok((FORMAT_VERSION, 7))
        );
        // Version 1 (before HASH and BATCH) is still read.
        let mut old = header;
        old[8] = 1;
        let crc = crc32fast::hash(&old[..20]);
        old[20..24].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(read_file_header(&old, FileKind::Log), Ok((1, 7)));
        assert!(read_file_header(&header, FileKind::Snapshot).is_err());
        let mut future = header;
        future[8] = 9;
        let crc = crc32fast::hash(&future[..20]);
        future[20..24].copy_from_slice(&crc.to_le_bytes());
        let err = read_file_header(&future, FileKind::Log).unwrap_err();
        assert!(err.contains("format version 9"), "{err}");
        assert!(read_file_header(b"GET / HTTP/1.1\r\n\r\nxxxxxx", FileKind::Log).is_err());
    }
}
