//! The engine's entry points for fuzzing (fuzz/, `--features fuzzing`):
//! recovery's own readers of a log and of a snapshot, run over bytes into
//! an in-memory store. Not an API: hidden from the docs, off by default,
//! and free to change.
//!
//! Each function panics when a property fails, so that a fuzzer reports
//! it; the properties are on top of "no panic":
//! - a record that decodes encodes back to the same body (every record
//!   type has one encoding), and the writer's own encoding of what the
//!   store then holds is that body again: the same session image (its
//!   reserved expiry-wheel field aside, which readers ignore), the same
//!   string key, the same set of members (a set's order and duplicates
//!   are not kept, so there only the members must agree);
//! - an end or a touch did what it says: the session or key is gone, the
//!   session's `last seen` is at least the touch's;
//! - once expiry has run over what was loaded and everything left is
//!   ended, the store's memory meter is back to zero and no owner is left
//!   in the owner index (charging and freeing agree).

use std::collections::HashSet;
use std::sync::Arc;

use sessiond_protocol::SessionId;

use super::format::{
    Entry, FILE_HEADER, FileKind, Framed, next_frame, read_file_header, unpack_fields,
    unpack_members, with_key_entry,
};
use super::recovery::{self, LogRead, Restore};
use crate::clock::ManualClock;
use crate::config::StoreConfig;
use crate::store::{Inner, Store};

/// The store's clock while loading: 2023-11-14, so that some fuzzed
/// deadlines are past and expiry has something to drop.
const NOW_MS: u64 = 1_700_000_000_000;

/// Where reading a file stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The file header is wrong (recovery refuses the file).
    Header(String),
    /// A whole file, this long (a snapshot: ending in its END record).
    Whole(usize),
    /// A torn record at this offset, which recovery cuts off (logs only).
    Torn(usize, &'static str),
    /// Damage at this offset, which recovery refuses (or, with `repair`,
    /// cuts off).
    Damaged(usize, &'static str),
}

/// What reading a file came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// Records applied, before the end.
    pub records: usize,
    /// Where reading stopped.
    pub end: End,
}

/// Replays `file`, a log (`log-G.aof`: header and records), as recovery
/// does, into an empty in-memory store, checking the properties above.
/// The header's generation is taken as the file's name would give it.
pub fn replay_log(file: &[u8]) -> Loaded {
    load(
        file,
        FileKind::Log,
        |bytes, apply| match recovery::read_log(bytes, apply) {
            LogRead::Whole(at) => End::Whole(at),
            LogRead::Torn(at, what) => End::Torn(at, what),
            LogRead::Damaged(at, what) => End::Damaged(at, what),
        },
    )
}

/// Loads `file`, a snapshot (`snapshot-G.snap`), as recovery does, into
/// an empty in-memory store, checking the properties above.
pub fn load_snapshot(file: &[u8]) -> Loaded {
    load(
        file,
        FileKind::Snapshot,
        |bytes, apply| match recovery::read_snapshot(bytes, apply) {
            Ok(()) => End::Whole(bytes.len()),
            Err((at, what)) => End::Damaged(at, what),
        },
    )
}

type Apply<'a> = &'a mut dyn FnMut(Entry<'_>) -> Result<(), &'static str>;

fn load(file: &[u8], kind: FileKind, read: impl FnOnce(&[u8], Apply<'_>) -> End) -> Loaded {
    if let Err(what) = read_file_header(file, kind) {
        return Loaded {
            records: 0,
            end: End::Header(what),
        };
    }
    let config = StoreConfig {
        shards: 1,
        background_expiry: false,
        ..StoreConfig::default()
    };
    let store = Store::build(config, Arc::new(ManualClock::new(NOW_MS)), None);
    let inner: &Inner = &store.inner;
    // The bodies of the whole frames, in order: the reader applies them
    // in this order, each one's record as it comes.
    let mut bodies = Vec::new();
    let mut at = FILE_HEADER;
    while let Framed::Record(body, next) = next_frame(file, at) {
        bodies.push(body);
        at = next;
    }
    let mut records = 0;
    let mut owners = HashSet::new();
    let end = read(file, &mut |entry| {
        let body = encoded(&entry);
        assert_eq!(body, bodies[records], "{entry:?} has a second encoding");
        recovery::restore(inner, entry)?;
        check_applied(inner, &entry, &body, &mut owners);
        records += 1;
        Ok(())
    });
    check_accounting(inner, &owners);
    Loaded { records, end }
}

fn encoded(entry: &Entry<'_>) -> Vec<u8> {
    let mut body = Vec::new();
    entry.encode(&mut body);
    body
}

/// Checks that the store holds what the record just applied says, and
/// that the writer's encoding of it is the record's body (`body`, which
/// the caller checked is the record's own).
fn check_applied(inner: &Inner, entry: &Entry<'_>, body: &[u8], owners: &mut HashSet<Vec<u8>>) {
    match *entry {
        Entry::Session(image) => {
            let id = SessionId::from_bytes(image[..16].try_into().expect("an image has an id"));
            let shard = inner.session_shard(id.prefix()).lock();
            let record = shard.get(&id).expect("a restored session is there");
            let held = record.image();
            owners.insert(record.owner().to_vec());
            // Bytes 36..40, the writer's expiry-wheel slot, are ignored.
            let (head, tail) = (..36, 40..);
            assert!(
                held.len() == image.len()
                    && held[head] == image[head]
                    && held[tail.clone()] == image[tail],
                "a session's image changed in the store"
            );
        }
        Entry::Touch { id, last_seen } => {
            let id = SessionId::from_bytes(id);
            if let Some(record) = inner.session_shard(id.prefix()).lock().get(&id) {
                assert!(
                    record.last_seen() >= last_seen,
                    "a touch did not move last seen"
                );
            }
        }
        Entry::EndSession { id } => {
            let id = SessionId::from_bytes(id);
            let shard = inner.session_shard(id.prefix()).lock();
            assert!(shard.get(&id).is_none(), "an ended session is still there");
        }
        Entry::Str { key, .. } | Entry::Set { key, .. } => {
            let shard = inner.key_shard(key).lock();
            let held = shard.get(key).expect("a restored key is there");
            let again = with_key_entry(held, encoded);
            match *entry {
                Entry::Set { members, .. } => {
                    let Ok(Entry::Set {
                        key: key_again,
                        deadline_ms,
                        members: members_again,
                    }) = Entry::decode(&again)
                    else {
                        panic!("a set key is written back as something else");
                    };
                    let sorted = |packed| {
                        let mut members = unpack_members(packed).expect("packed members");
                        members.sort_unstable();
                        members.dedup();
                        members
                    };
                    assert_eq!(key_again, key, "a set's key changed");
                    assert_eq!(
                        &body[1..9],
                        &deadline_ms.to_le_bytes(),
                        "a set's deadline changed"
                    );
                    assert_eq!(
                        sorted(members_again),
                        sorted(members),
                        "a set's members changed"
                    );
                }
                _ => assert_eq!(again, body, "a string key is written back otherwise"),
            }
        }
        Entry::Hash { key, fields, .. } => {
            let shard = inner.key_shard(key).lock();
            let held = shard.get(key).expect("a restored hash is there");
            let hash = held.as_hash().expect("a hash key is restored as a hash");
            let expected = unpack_fields(fields).expect("packed fields");
            assert_eq!(hash.len(), expected.len(), "a hash's fields changed");
        }
        Entry::EndKey { key } => {
            assert!(
                inner.key_shard(key).lock().get(key).is_none(),
                "an ended key is still there"
            );
        }
        // An event restored is the log's newest, with its bytes (unless
        // it repeated a seq already restored: then the log is unchanged).
        Entry::Event(image) => {
            let seq = u64::from_le_bytes(image[..8].try_into().expect("a checked event"));
            assert!(
                inner.events().next_seq() > seq,
                "a restored event's seq is not behind the log's next"
            );
        }
        Entry::EventsNext { next_seq } => {
            assert!(
                inner.events().next_seq() >= next_seq,
                "the next seq moved back"
            );
        }
        // A group change that decoded was applied; one naming a group that
        // a later change destroyed leaves nothing to check.
        Entry::Group(change) => {
            crate::event_groups::GroupChange::decode(change)
                .expect("an applied group change decodes");
        }
        // A batch's keys were each checked by the same code when the
        // writer's tests ran; a fuzzed batch may name one key twice.
        Entry::End { .. } | Entry::Batch(_) => {}
    }
}

/// Runs expiry as recovery does after a load, then ends everything left:
/// the memory meter must be back at zero and the owner index empty.
fn check_accounting(inner: &Inner, owners: &HashSet<Vec<u8>>) {
    inner.drop_expired();
    for shard in inner.session_shards() {
        let ids: Vec<SessionId> = shard.lock().records().map(|r| r.id()).collect();
        for id in ids {
            inner.restore_end(&id);
        }
    }
    for shard in inner.key_shards() {
        let keys: Vec<Vec<u8>> = shard.lock().entries().map(|e| e.key().to_vec()).collect();
        for key in keys {
            inner.restore_key_end(&key);
        }
    }
    assert_eq!(
        inner.memory().used(),
        0,
        "memory is still charged for an empty store"
    );
    for owner in owners {
        let shard = inner.owner_shard(owner).lock();
        assert!(
            shard.get(owner).is_none(),
            "an owner is left in the index with no session"
        );
    }
}
