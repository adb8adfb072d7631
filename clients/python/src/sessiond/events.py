"""The session event log's requests and reply (SPEC.md §8, §9; docs/events.md).

EVENTS_READ reads the events after a seq, waiting up to a timeout for one;
DELETE_NOTED and DELETE_OWNER_NOTED are the deletes whose ``ended`` events
carry a note. Built on the codec in :mod:`sessiond.protocol`, like every
other call.
"""

from __future__ import annotations

from typing import Callable, List, Optional

from .protocol import (
    OP_DELETE_NOTED,
    OP_DELETE_OWNER_NOTED,
    OP_EVENTS_READ,
    TAG_BOOL,
    TAG_COUNT,
    TAG_EVENTS,
    BytesLike,
    Call,
    DecodeError,
    IdLike,
    Reader,
    Writer,
    _b,
    _call,
    id_bytes,
    id_to_text,
    owner_keep,
)
from .types import Event

#: Event kinds and end reasons by their wire codes (1 on).
KINDS = ("created", "rotated", "updated", "ended")
REASONS = ("deleted", "owner_deleted", "limit_evicted", "memory_evicted", "idle_expired", "absolute_expired")
#: Longest note a delete may carry, in bytes.
MAX_NOTE = 256
#: Longest an EVENTS_READ waits, in seconds (the server caps it there).
MAX_WAIT = 60.0

_NO_ID = b"\0" * 16


def read_event(r: Reader) -> Event:
    """One ``event``: its fixed layout for every kind (SPEC.md §9)."""
    seq, at_ms, kind, reason = r.u64("seq"), r.u64("time"), r.u8("kind"), r.u8("reason")
    sid, new_id = r.id(), r.take(16, "new id")
    owner, labels, note = r.bytes16("owner"), r.labels(), r.bytes16("note")
    if not 1 <= kind <= len(KINDS):
        raise DecodeError(f"unknown event kind {kind}")
    name = KINDS[kind - 1]
    if name == "ended":
        if not 1 <= reason <= len(REASONS):
            raise DecodeError(f"unknown end reason {reason}")
    elif reason or note:
        raise DecodeError(f"a {name} event with a reason or a note")
    return Event(
        seq,
        at_ms,
        name,
        sid,
        owner,
        labels,
        REASONS[reason - 1] if name == "ended" else None,
        id_to_text(new_id) if name == "rotated" else None,
        note or None,
    )


def _read_events(r: Reader) -> List[Event]:
    return [read_event(r) for _ in range(r.u32("event count"))]


def write_event(w: Writer, e: Event) -> Writer:
    """The inverse of :func:`read_event` (fakes and the golden vectors)."""
    w.u64(e.seq).u64(e.at_ms).u8(KINDS.index(e.kind) + 1)
    w.u8(0 if e.reason is None else REASONS.index(e.reason) + 1)
    w.raw(id_bytes(e.id)).raw(_NO_ID if e.new_id is None else id_bytes(e.new_id))
    return w.bytes16(e.owner).labels(e.labels).bytes16(e.note or b"")


def events_read(after: int = 0, max_events: int = 100, timeout: float = 0.0) -> Call[List[Event]]:
    """EVENTS_READ: the events after seq ``after``, at most ``max_events``
    (the server gives at most 1 000), waiting up to ``timeout`` seconds (at
    most 60; 0: not at all) for one when there is none yet."""
    wait = min(max(timeout, 0.0), MAX_WAIT)
    ms = int(wait * 1000)
    build: Callable[[Writer], object] = lambda w: w.u64(after).u32(max_events).u32(ms)
    call = _call(OP_EVENTS_READ, TAG_EVENTS, _read_events, build)
    return Call(call.frame, call.tag, call.read, wait)


def _note(note: Optional[BytesLike]) -> bytes:
    raw = b"" if note is None else _b(note)
    if len(raw) > MAX_NOTE:
        raise ValueError(f"a note is at most {MAX_NOTE} bytes, got {len(raw)}")
    return raw


def delete_noted(session_id: IdLike, note: Optional[BytesLike]) -> Call[bool]:
    """DELETE_NOTED: DELETE whose ``ended`` event carries ``note``."""
    raw, text = id_bytes(session_id), _note(note)
    return _call(OP_DELETE_NOTED, TAG_BOOL, Reader.bool, lambda w: w.raw(raw).bytes16(text))


def delete_owner_noted(owner: BytesLike, keep: Optional[IdLike], note: Optional[BytesLike]) -> Call[int]:
    """DELETE_OWNER_NOTED: DELETE_OWNER whose ``ended`` events carry ``note``."""
    text = _note(note)
    return _call(OP_DELETE_OWNER_NOTED, TAG_COUNT, Reader.u32, lambda w: owner_keep(w, owner, keep).bytes16(text))
