/**
 * The session event log's requests and reply (SPEC.md §8, §9;
 * docs/events.md): EVENTS_READ from a seq, waiting up to a timeout, and the
 * deletes whose `ended` events carry a note.
 */
import { type Reader, Writer } from "./codec";
import { type IdLike } from "./ids";
import { Call } from "./protocol";
import type { BytesLike, SessionEvent } from "./types";
export declare const EVENT_KINDS: readonly SessionEvent["kind"][];
export declare const END_REASONS: readonly NonNullable<SessionEvent["reason"]>[];
/** Longest a note may be, in bytes; longest the server waits, in ms. */
export declare const MAX_NOTE = 256;
export declare const MAX_WAIT_MS = 60000;
/** One `event`: the same layout for every kind (SPEC.md §9). */
export declare function readEvent(r: Reader): SessionEvent;
/** The inverse of {@link readEvent} (fakes and the golden vectors). */
export declare function writeEvent(w: Writer, e: SessionEvent): Writer;
/**
 * EVENTS_READ: the events after seq `after`, at most `max` (the server gives
 * at most 1 000), waiting up to `timeoutMs` (at most 60 000; 0: not at all)
 * for one when there is none yet.
 */
export declare function eventsRead(after: number, max?: number, timeoutMs?: number): Call<SessionEvent[]>;
/** DELETE_NOTED: DELETE whose `ended` event carries `note`. */
export declare function deleteNoted(id: IdLike, note?: BytesLike): Call<boolean>;
/** DELETE_OWNER_NOTED: DELETE_OWNER whose `ended` events carry `note`. */
export declare function deleteOwnerNoted(owner: BytesLike, keep?: IdLike, note?: BytesLike): Call<number>;
