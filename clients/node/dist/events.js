"use strict";
/**
 * The session event log's requests and reply (SPEC.md §8, §9;
 * docs/events.md): EVENTS_READ from a seq, waiting up to a timeout, and the
 * deletes whose `ended` events carry a note.
 */
Object.defineProperty(exports, "__esModule", { value: true });
exports.MAX_WAIT_MS = exports.MAX_NOTE = exports.END_REASONS = exports.EVENT_KINDS = void 0;
exports.readEvent = readEvent;
exports.writeEvent = writeEvent;
exports.eventsRead = eventsRead;
exports.deleteNoted = deleteNoted;
exports.deleteOwnerNoted = deleteOwnerNoted;
const codec_1 = require("./codec");
const ids_1 = require("./ids");
const protocol_1 = require("./protocol");
exports.EVENT_KINDS = ["created", "rotated", "updated", "ended"];
exports.END_REASONS = [
    "deleted", "owner_deleted", "limit_evicted", "memory_evicted", "idle_expired", "absolute_expired",
];
/** Longest a note may be, in bytes; longest the server waits, in ms. */
exports.MAX_NOTE = 256;
exports.MAX_WAIT_MS = 60_000;
const NO_ID = Buffer.alloc(16);
/** One `event`: the same layout for every kind (SPEC.md §9). */
function readEvent(r) {
    const seq = r.u64("seq");
    const atMs = r.u64("time");
    const kind = r.u8("kind");
    const reason = r.u8("reason");
    const id = r.id();
    const newId = r.id();
    const owner = r.bytes16("owner");
    const labels = r.labels();
    const note = r.bytes16("note");
    const name = exports.EVENT_KINDS[kind - 1];
    if (name === undefined)
        throw new codec_1.DecodeError(`unknown event kind ${kind}`);
    if (name === "ended" && exports.END_REASONS[reason - 1] === undefined)
        throw new codec_1.DecodeError(`unknown end reason ${reason}`);
    if (name !== "ended" && (reason !== 0 || note.length > 0))
        throw new codec_1.DecodeError(`a ${name} event with a reason or a note`);
    return {
        seq, atMs, kind: name, id, owner, labels,
        reason: name === "ended" ? exports.END_REASONS[reason - 1] : null,
        newId: name === "rotated" ? newId : null,
        note: note.length > 0 ? note : null,
    };
}
/** The inverse of {@link readEvent} (fakes and the golden vectors). */
function writeEvent(w, e) {
    w.u64(e.seq).u64(e.atMs).u8(exports.EVENT_KINDS.indexOf(e.kind) + 1).u8(e.reason === null ? 0 : exports.END_REASONS.indexOf(e.reason) + 1);
    w.raw((0, ids_1.idBytes)(e.id)).raw(e.newId === null ? NO_ID : (0, ids_1.idBytes)(e.newId));
    return w.bytes16(e.owner).labels(e.labels).bytes16(e.note ?? Buffer.alloc(0));
}
function readEvents(r) {
    const out = [];
    for (let n = r.u32("event count"); n > 0; n--)
        out.push(readEvent(r));
    return out;
}
/**
 * EVENTS_READ: the events after seq `after`, at most `max` (the server gives
 * at most 1 000), waiting up to `timeoutMs` (at most 60 000; 0: not at all)
 * for one when there is none yet.
 */
function eventsRead(after, max = 100, timeoutMs = 0) {
    const wait = Math.min(Math.max(Math.ceil(timeoutMs), 0), exports.MAX_WAIT_MS);
    const w = new codec_1.Writer().u8(protocol_1.Op.EVENTS_READ).u64(after).u32(max).u32(wait);
    return new protocol_1.Call(w.frame(), protocol_1.Tag.EVENTS, readEvents, wait);
}
function noteOf(note) {
    const raw = note === undefined ? Buffer.alloc(0) : (0, protocol_1.bytesOf)(note);
    if (raw.length > exports.MAX_NOTE)
        throw new RangeError(`a note is at most ${exports.MAX_NOTE} bytes, got ${raw.length}`);
    return raw;
}
/** DELETE_NOTED: DELETE whose `ended` event carries `note`. */
function deleteNoted(id, note) {
    const raw = (0, ids_1.idBytes)(id);
    const text = noteOf(note);
    return (0, protocol_1.call)(protocol_1.Op.DELETE_NOTED, protocol_1.Tag.BOOL, (r) => r.bool(), (w) => w.raw(raw).bytes16(text));
}
/** DELETE_OWNER_NOTED: DELETE_OWNER whose `ended` events carry `note`. */
function deleteOwnerNoted(owner, keep, note) {
    const rawKeep = keep === undefined ? undefined : (0, ids_1.idBytes)(keep);
    const text = noteOf(note);
    return (0, protocol_1.call)(protocol_1.Op.DELETE_OWNER_NOTED, protocol_1.Tag.COUNT, (r) => r.u32(), (w) => w.bytes16((0, protocol_1.bytesOf)(owner)).opt(rawKeep, (w, v) => w.raw(v)).bytes16(text));
}
