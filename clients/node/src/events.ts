/**
 * The session event log's requests and reply (SPEC.md §8, §9;
 * docs/events.md): EVENTS_READ from a seq, waiting up to a timeout, and the
 * deletes whose `ended` events carry a note.
 */

import { DecodeError, type Reader, Writer } from "./codec";
import { idBytes, type IdLike } from "./ids";
import { bytesOf, Call, call, Op, Tag } from "./protocol";
import type { BytesLike, SessionEvent } from "./types";

export const EVENT_KINDS: readonly SessionEvent["kind"][] = ["created", "rotated", "updated", "ended"];
export const END_REASONS: readonly NonNullable<SessionEvent["reason"]>[] = [
  "deleted", "owner_deleted", "limit_evicted", "memory_evicted", "idle_expired", "absolute_expired",
];
/** Longest a note may be, in bytes; longest the server waits, in ms. */
export const MAX_NOTE = 256;
export const MAX_WAIT_MS = 60_000;
const NO_ID = Buffer.alloc(16);

/** One `event`: the same layout for every kind (SPEC.md §9). */
export function readEvent(r: Reader): SessionEvent {
  const seq = r.u64("seq");
  const atMs = r.u64("time");
  const kind = r.u8("kind");
  const reason = r.u8("reason");
  const id = r.id();
  const newId = r.id();
  const owner = r.bytes16("owner");
  const labels = r.labels();
  const note = r.bytes16("note");
  const name = EVENT_KINDS[kind - 1];
  if (name === undefined) throw new DecodeError(`unknown event kind ${kind}`);
  if (name === "ended" && END_REASONS[reason - 1] === undefined) throw new DecodeError(`unknown end reason ${reason}`);
  if (name !== "ended" && (reason !== 0 || note.length > 0)) throw new DecodeError(`a ${name} event with a reason or a note`);
  return {
    seq, atMs, kind: name, id, owner, labels,
    reason: name === "ended" ? END_REASONS[reason - 1] : null,
    newId: name === "rotated" ? newId : null,
    note: note.length > 0 ? note : null,
  };
}

/** The inverse of {@link readEvent} (fakes and the golden vectors). */
export function writeEvent(w: Writer, e: SessionEvent): Writer {
  w.u64(e.seq).u64(e.atMs).u8(EVENT_KINDS.indexOf(e.kind) + 1).u8(e.reason === null ? 0 : END_REASONS.indexOf(e.reason) + 1);
  w.raw(idBytes(e.id)).raw(e.newId === null ? NO_ID : idBytes(e.newId));
  return w.bytes16(e.owner).labels(e.labels).bytes16(e.note ?? Buffer.alloc(0));
}

function readEvents(r: Reader): SessionEvent[] {
  const out: SessionEvent[] = [];
  for (let n = r.u32("event count"); n > 0; n--) out.push(readEvent(r));
  return out;
}

/**
 * EVENTS_READ: the events after seq `after`, at most `max` (the server gives
 * at most 1 000), waiting up to `timeoutMs` (at most 60 000; 0: not at all)
 * for one when there is none yet.
 */
export function eventsRead(after: number, max = 100, timeoutMs = 0): Call<SessionEvent[]> {
  const wait = Math.min(Math.max(Math.ceil(timeoutMs), 0), MAX_WAIT_MS);
  const w = new Writer().u8(Op.EVENTS_READ).u64(after).u32(max).u32(wait);
  return new Call(w.frame(), Tag.EVENTS, readEvents, wait);
}

function noteOf(note: BytesLike | undefined): Buffer {
  const raw = note === undefined ? Buffer.alloc(0) : bytesOf(note);
  if (raw.length > MAX_NOTE) throw new RangeError(`a note is at most ${MAX_NOTE} bytes, got ${raw.length}`);
  return raw;
}

/** DELETE_NOTED: DELETE whose `ended` event carries `note`. */
export function deleteNoted(id: IdLike, note?: BytesLike): Call<boolean> {
  const raw = idBytes(id);
  const text = noteOf(note);
  return call(Op.DELETE_NOTED, Tag.BOOL, (r) => r.bool(), (w) => w.raw(raw).bytes16(text));
}

/** DELETE_OWNER_NOTED: DELETE_OWNER whose `ended` events carry `note`. */
export function deleteOwnerNoted(owner: BytesLike, keep?: IdLike, note?: BytesLike): Call<number> {
  const rawKeep = keep === undefined ? undefined : idBytes(keep);
  const text = noteOf(note);
  return call(Op.DELETE_OWNER_NOTED, Tag.COUNT, (r) => r.u32(), (w) =>
    w.bytes16(bytesOf(owner)).opt(rawKeep, (w, v) => w.raw(v)).bytes16(text),
  );
}
