/**
 * Session ids (SPEC.md §1): 16 random bytes, written as 22 characters of
 * unpadded base64url. Parsing is strict so that every id has exactly one
 * text form: a cookie cannot be re-spelled into another name for the same
 * session.
 */

import { randomBytes } from "node:crypto";

/** A session id as callers may give it: the text form or the 16 raw bytes. */
export type IdLike = string | Uint8Array;

const TEXT_FORM = /^[A-Za-z0-9_-]{22}$/;

/** The 22-character text form of a 16-byte id. */
export function idToText(raw: Uint8Array): string {
  if (raw.length !== 16) throw new RangeError(`a session id is 16 bytes, got ${raw.length}`);
  return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("base64url");
}

/**
 * Parse the text form: exactly 22 base64url characters whose 4 unused low
 * bits are zero. Node's own decoder is lenient (it skips bad characters and
 * ignores trailing bits), hence the round trip check.
 */
export function idFromText(text: string): Buffer {
  if (typeof text !== "string" || !TEXT_FORM.test(text)) {
    throw new RangeError(`not a session id: ${JSON.stringify(text)}`);
  }
  const raw = Buffer.from(text, "base64url");
  if (raw.length !== 16 || raw.toString("base64url") !== text) {
    throw new RangeError(`not a session id (non-zero trailing bits): ${JSON.stringify(text)}`);
  }
  return raw;
}

/** Whether `text` is a well-formed id (without throwing). */
export function isSessionId(text: unknown): text is string {
  if (typeof text !== "string" || !TEXT_FORM.test(text)) return false;
  return Buffer.from(text, "base64url").toString("base64url") === text;
}

/** Either form of an id, as the 16 bytes the wire carries. */
export function idBytes(id: IdLike): Buffer {
  if (typeof id === "string") return idFromText(id);
  if (id.length !== 16) throw new RangeError(`a session id is 16 bytes, got ${id.length}`);
  return Buffer.from(id);
}

/**
 * A fresh id from the OS CSPRNG, as random as the server's own (128 bits),
 * for callers that must name a session before creating it (express-session
 * decides the cookie value before the store sees the session).
 */
export function generateSessionId(): string {
  return idToText(randomBytes(16));
}

/** The routing slot (the first 14 bits); opaque in protocol version 1. */
export function routingSlot(id: IdLike): number {
  const raw = idBytes(id);
  return ((raw[0] << 8) | raw[1]) >> 2;
}
