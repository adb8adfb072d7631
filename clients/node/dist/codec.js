"use strict";
/**
 * The field types of SPEC.md §6, big-endian, and the framing of a byte
 * stream into bodies. Pure and synchronous: the request builders, the
 * connection and the golden-vector tests all share this one implementation.
 */
Object.defineProperty(exports, "__esModule", { value: true });
exports.FrameReader = exports.Reader = exports.Writer = exports.DecodeError = void 0;
const ids_1 = require("./ids");
/** Bytes that do not decode: the server's MALFORMED, the client's ProtocolError. */
class DecodeError extends Error {
    constructor(message) {
        super(message);
        this.name = "DecodeError";
    }
}
exports.DecodeError = DecodeError;
const U32_MAX = 0xffff_ffff;
const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;
function checkInt(v, max, what) {
    if (!Number.isInteger(v) || v < 0 || v > max)
        throw new RangeError(`${what} must be an integer in 0..${max}, got ${v}`);
}
/** Appends fields to a growing list of chunks; `frame()` prefixes the length. */
class Writer {
    chunks = [];
    size = 0;
    push(b) {
        this.chunks.push(b);
        this.size += b.length;
        return this;
    }
    u8(v) {
        checkInt(v, 0xff, "u8");
        return this.push(Buffer.from([v]));
    }
    u16(v) {
        checkInt(v, 0xffff, "u16");
        const b = Buffer.allocUnsafe(2);
        b.writeUInt16BE(v);
        return this.push(b);
    }
    u32(v) {
        checkInt(v, U32_MAX, "u32");
        const b = Buffer.allocUnsafe(4);
        b.writeUInt32BE(v);
        return this.push(b);
    }
    u64(v) {
        const big = BigInt(v);
        if (big < 0n || big > U64_MAX)
            throw new RangeError(`u64 out of range: ${v}`);
        const b = Buffer.allocUnsafe(8);
        b.writeBigUInt64BE(big);
        return this.push(b);
    }
    i64(v) {
        const big = BigInt(v);
        if (big < I64_MIN || big > I64_MAX)
            throw new RangeError(`i64 out of range: ${v}`);
        const b = Buffer.allocUnsafe(8);
        b.writeBigInt64BE(big);
        return this.push(b);
    }
    bool(v) {
        return this.u8(v ? 1 : 0);
    }
    raw(v) {
        return this.push(Buffer.from(v));
    }
    id(text) {
        return this.raw((0, ids_1.idFromText)(text));
    }
    bytes16(v) {
        if (v.length > 0xffff)
            throw new RangeError(`${v.length} bytes do not fit a 16-bit length`);
        return this.u16(v.length).raw(v);
    }
    bytes32(v) {
        if (v.length > U32_MAX)
            throw new RangeError(`${v.length} bytes do not fit a 32-bit length`);
        return this.u32(v.length).raw(v);
    }
    str8(v) {
        const b = Buffer.from(v, "utf8");
        if (b.length > 0xff)
            throw new RangeError(`${JSON.stringify(v.slice(0, 20))}... is longer than 255 bytes`);
        return this.u8(b.length).raw(b);
    }
    str16(v) {
        return this.bytes16(Buffer.from(v, "utf8"));
    }
    /** `opt<T>`: a presence byte, then the value if there is one. */
    opt(v, write) {
        if (v === null || v === undefined)
            return this.u8(0);
        this.u8(1);
        write(this, v);
        return this;
    }
    labels(labels) {
        const entries = Object.entries(labels);
        if (entries.length > 0xff)
            throw new RangeError("more than 255 labels");
        this.u8(entries.length);
        for (const [k, v] of entries)
            this.str8(k).str16(v);
        return this;
    }
    info(i) {
        this.id(i.id).u64(i.created).u64(i.lastSeen).u32(i.idleSecs);
        this.u64(i.absoluteDeadline ?? 0).u64(i.expiresAt).u32(i.version);
        return this.labels(i.labels);
    }
    /** The body written so far. */
    body() {
        return Buffer.concat(this.chunks, this.size);
    }
    /** The body as a frame: 4-byte length, then the body. */
    frame() {
        const head = Buffer.allocUnsafe(4);
        head.writeUInt32BE(this.size);
        return Buffer.concat([head, ...this.chunks], this.size + 4);
    }
}
exports.Writer = Writer;
/** Reads fields off one body; every short read is a DecodeError. */
class Reader {
    data;
    pos = 0;
    constructor(data) {
        this.data = data;
    }
    get remaining() {
        return this.data.length - this.pos;
    }
    take(n, what = "field") {
        if (this.remaining < n)
            throw new DecodeError(`truncated ${what}: needs ${n} bytes, ${this.remaining} left`);
        const out = this.data.subarray(this.pos, this.pos + n);
        this.pos += n;
        return out;
    }
    u8(what = "u8") {
        return this.take(1, what)[0];
    }
    u16(what = "u16") {
        return this.take(2, what).readUInt16BE();
    }
    u32(what = "u32") {
        return this.take(4, what).readUInt32BE();
    }
    /** A u64 as a number; values past 2^53 (no time, count or size is) are refused, not rounded. */
    u64(what = "u64") {
        const v = this.take(8, what).readBigUInt64BE();
        if (v > BigInt(Number.MAX_SAFE_INTEGER))
            throw new DecodeError(`${what} ${v} is beyond 2^53`);
        return Number(v);
    }
    /** A u64 whole, for values that use all 64 bits (a SCAN cursor). */
    u64Big(what = "u64") {
        return this.take(8, what).readBigUInt64BE();
    }
    i64(what = "i64") {
        return this.take(8, what).readBigInt64BE();
    }
    bool(what = "bool") {
        const v = this.u8(what);
        if (v > 1)
            throw new DecodeError(`${what} is ${v}, not 0 or 1`);
        return v === 1;
    }
    /** The presence byte of an `opt<T>`. */
    present(what = "option") {
        return this.bool(`${what} presence`);
    }
    id() {
        return (0, ids_1.idToText)(this.take(16, "id"));
    }
    bytes16(what = "bytes") {
        return this.take(this.u16(`${what} length`), what);
    }
    bytes32(what = "bytes") {
        return this.take(this.u32(`${what} length`), what);
    }
    utf8(raw, what) {
        try {
            return new TextDecoder("utf-8", { fatal: true }).decode(raw);
        }
        catch {
            throw new DecodeError(`${what} is not UTF-8`);
        }
    }
    str8(what = "string") {
        return this.utf8(this.take(this.u8(`${what} length`), what), what);
    }
    str16(what = "string") {
        return this.utf8(this.bytes16(what), what);
    }
    labels() {
        const pairs = [];
        const seen = new Set();
        for (let n = this.u8("label count"); n > 0; n--) {
            const key = this.str8("label key");
            const value = this.str16("label value");
            if (seen.has(key))
                throw new DecodeError(`label key ${JSON.stringify(key)} appears twice`);
            seen.add(key);
            pairs.push([key, value]);
        }
        // fromEntries defines own properties, so a "__proto__" label stays a label.
        return Object.fromEntries(pairs);
    }
    info() {
        const id = this.id();
        const created = this.u64("created");
        const lastSeen = this.u64("last seen");
        const idleSecs = this.u32("idle timeout");
        const deadline = this.u64("absolute deadline");
        const expiresAt = this.u64("expires at");
        const version = this.u32("version");
        return { id, created, lastSeen, idleSecs, absoluteDeadline: deadline || null, expiresAt, version, labels: this.labels() };
    }
    /** Bodies are consumed exactly (§6): surplus bytes are an error. */
    end() {
        if (this.remaining !== 0)
            throw new DecodeError(`${this.remaining} surplus bytes`);
    }
}
exports.Reader = Reader;
/**
 * Cuts a byte stream into frame bodies. Chunks are kept as they arrive and
 * joined only once a whole frame is there, so a large reply arriving in
 * many pieces is copied once, not once per piece.
 */
class FrameReader {
    maxBody;
    chunks = [];
    buffered = 0;
    /** @param maxBody the largest body accepted; longer lengths are a ProtocolError for the caller. */
    constructor(maxBody) {
        this.maxBody = maxBody;
    }
    push(chunk) {
        this.chunks.push(chunk);
        this.buffered += chunk.length;
    }
    get length() {
        return this.buffered;
    }
    /** The first `n` buffered bytes, left in place; undefined if fewer are there. */
    peek(n) {
        if (this.buffered < n)
            return undefined;
        if (this.chunks.length > 1)
            this.chunks = [Buffer.concat(this.chunks, this.buffered)];
        return this.chunks[0].subarray(0, n);
    }
    /** Remove and return the first `n` buffered bytes, or undefined if fewer are there. */
    take(n) {
        if (this.buffered < n)
            return undefined;
        const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
        const out = all.subarray(0, n);
        const rest = all.subarray(n);
        this.chunks = rest.length > 0 ? [rest] : [];
        this.buffered = rest.length;
        return out;
    }
    /** The next whole body, undefined until one has arrived; throws DecodeError on a bad length. */
    next() {
        if (this.buffered < 4)
            return undefined;
        const head = this.chunks[0].length >= 4 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
        const length = head.readUInt32BE(0);
        if (length === 0 || length > this.maxBody)
            throw new DecodeError(`response frame of ${length} bytes`);
        if (this.buffered < 4 + length)
            return undefined;
        this.take(4);
        return this.take(length);
    }
}
exports.FrameReader = FrameReader;
