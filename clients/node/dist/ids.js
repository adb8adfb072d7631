"use strict";
/**
 * Session ids (SPEC.md §1): 16 random bytes, written as 22 characters of
 * unpadded base64url. Parsing is strict so that every id has exactly one
 * text form: a cookie cannot be re-spelled into another name for the same
 * session.
 */
Object.defineProperty(exports, "__esModule", { value: true });
exports.idToText = idToText;
exports.idFromText = idFromText;
exports.isSessionId = isSessionId;
exports.idBytes = idBytes;
exports.generateSessionId = generateSessionId;
exports.routingSlot = routingSlot;
const node_crypto_1 = require("node:crypto");
const TEXT_FORM = /^[A-Za-z0-9_-]{22}$/;
/** The 22-character text form of a 16-byte id. */
function idToText(raw) {
    if (raw.length !== 16)
        throw new RangeError(`a session id is 16 bytes, got ${raw.length}`);
    return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("base64url");
}
/**
 * Parse the text form: exactly 22 base64url characters whose 4 unused low
 * bits are zero. Node's own decoder is lenient (it skips bad characters and
 * ignores trailing bits), hence the round trip check.
 */
function idFromText(text) {
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
function isSessionId(text) {
    if (typeof text !== "string" || !TEXT_FORM.test(text))
        return false;
    return Buffer.from(text, "base64url").toString("base64url") === text;
}
/** Either form of an id, as the 16 bytes the wire carries. */
function idBytes(id) {
    if (typeof id === "string")
        return idFromText(id);
    if (id.length !== 16)
        throw new RangeError(`a session id is 16 bytes, got ${id.length}`);
    return Buffer.from(id);
}
/**
 * A fresh id from the OS CSPRNG, as random as the server's own (128 bits),
 * for callers that must name a session before creating it (express-session
 * decides the cookie value before the store sees the session).
 */
function generateSessionId() {
    return idToText((0, node_crypto_1.randomBytes)(16));
}
/** The routing slot (the first 14 bits); opaque in protocol version 1. */
function routingSlot(id) {
    const raw = idBytes(id);
    return ((raw[0] << 8) | raw[1]) >> 2;
}
