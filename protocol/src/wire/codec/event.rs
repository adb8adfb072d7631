//! A session event on the wire (SPEC.md §9, EVENTS): `u64` seq, `u64`
//! time (Unix ms), `u8` kind, `u8` reason, `id` id, `id` new id (zeros
//! unless rotated), `bytes16` owner, `labels`, `bytes16` note (empty:
//! none). One fixed layout for every kind, so a reader that does not
//! know a kind still knows where the next event starts.

use bytes::{BufMut, BytesMut};

use super::DecodeError;
use super::reader::Reader;
use super::writer::WireWrite;
use crate::{EndReason, Event, EventKind, SessionId};

/// The kinds' codes.
mod kind {
    pub const CREATED: u8 = 1;
    pub const ROTATED: u8 = 2;
    pub const UPDATED: u8 = 3;
    pub const ENDED: u8 = 4;
}

/// Fewest bytes an event takes: the fixed fields, empty owner, no
/// labels, empty note.
pub(super) const MIN_EVENT_LEN: usize = 8 + 8 + 1 + 1 + 16 + 16 + 2 + 1 + 2;

pub(super) fn put_event(out: &mut BytesMut, event: &Event) {
    out.put_u64(event.seq);
    out.put_u64(event.at_ms);
    let (code, reason, new_id, note) = match &event.kind {
        EventKind::Created => (kind::CREATED, 0, None, None),
        EventKind::Rotated { new_id } => (kind::ROTATED, 0, Some(new_id), None),
        EventKind::Updated => (kind::UPDATED, 0, None, None),
        EventKind::Ended { reason, note } => (kind::ENDED, reason.code(), None, note.as_deref()),
    };
    out.put_u8(code);
    out.put_u8(reason);
    out.put_id(&event.id);
    out.put_id(new_id.unwrap_or(&SessionId::from_bytes([0; 16])));
    out.put_bytes16(&event.owner);
    out.put_labels(&event.labels);
    out.put_bytes16(note.unwrap_or_default());
}

pub(super) fn read_event(r: &mut Reader<'_>) -> Result<Event, DecodeError> {
    let seq = r.u64("event seq")?;
    let at_ms = r.u64("event time")?;
    let code = r.u8("event kind")?;
    let reason = r.u8("end reason")?;
    let id = r.id("id")?;
    let new_id = r.id("new id")?;
    let owner = r.bytes16("owner")?.to_vec();
    let labels = r.labels()?;
    let note = r.bytes16("note")?;
    let not_ended = |kind: EventKind| match (reason, note.is_empty()) {
        (0, true) => Ok(kind),
        (0, false) => Err(DecodeError::invalid(
            "note length",
            note.len() as u64,
            "0 unless ended",
        )),
        (other, _) => Err(DecodeError::invalid("end reason", other, "0 unless ended")),
    };
    let kind = match code {
        kind::CREATED => not_ended(EventKind::Created)?,
        kind::ROTATED => not_ended(EventKind::Rotated { new_id })?,
        kind::UPDATED => not_ended(EventKind::Updated)?,
        kind::ENDED => EventKind::Ended {
            reason: EndReason::from_code(reason).ok_or(DecodeError::invalid(
                "end reason",
                reason,
                "1 to 6",
            ))?,
            note: (!note.is_empty()).then(|| note.to_vec()),
        },
        other => return Err(DecodeError::invalid("event kind", other, "1 to 4")),
    };
    Ok(Event {
        seq,
        at_ms,
        kind,
        id,
        owner,
        labels,
    })
}
