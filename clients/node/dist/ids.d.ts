/**
 * Session ids (SPEC.md §1): 16 random bytes, written as 22 characters of
 * unpadded base64url. Parsing is strict so that every id has exactly one
 * text form: a cookie cannot be re-spelled into another name for the same
 * session.
 */
/** A session id as callers may give it: the text form or the 16 raw bytes. */
export type IdLike = string | Uint8Array;
/** The 22-character text form of a 16-byte id. */
export declare function idToText(raw: Uint8Array): string;
/**
 * Parse the text form: exactly 22 base64url characters whose 4 unused low
 * bits are zero. Node's own decoder is lenient (it skips bad characters and
 * ignores trailing bits), hence the round trip check.
 */
export declare function idFromText(text: string): Buffer;
/** Whether `text` is a well-formed id (without throwing). */
export declare function isSessionId(text: unknown): text is string;
/** Either form of an id, as the 16 bytes the wire carries. */
export declare function idBytes(id: IdLike): Buffer;
/**
 * A fresh id from the OS CSPRNG, as random as the server's own (128 bits),
 * for callers that must name a session before creating it (express-session
 * decides the cookie value before the store sees the session).
 */
export declare function generateSessionId(): string;
/** The routing slot (the first 14 bits); opaque in protocol version 1. */
export declare function routingSlot(id: IdLike): number;
