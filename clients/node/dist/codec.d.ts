/**
 * The field types of SPEC.md §6, big-endian, and the framing of a byte
 * stream into bodies. Pure and synchronous: the request builders, the
 * connection and the golden-vector tests all share this one implementation.
 */
import type { Labels, SessionInfo } from "./types";
/** Bytes that do not decode: the server's MALFORMED, the client's ProtocolError. */
export declare class DecodeError extends Error {
    constructor(message: string);
}
/** Appends fields to a growing list of chunks; `frame()` prefixes the length. */
export declare class Writer {
    private chunks;
    private size;
    private push;
    u8(v: number): this;
    u16(v: number): this;
    u32(v: number): this;
    u64(v: number | bigint): this;
    i64(v: number | bigint): this;
    bool(v: boolean): this;
    raw(v: Uint8Array): this;
    id(text: string): this;
    bytes16(v: Uint8Array): this;
    bytes32(v: Uint8Array): this;
    str8(v: string): this;
    str16(v: string): this;
    /** `opt<T>`: a presence byte, then the value if there is one. */
    opt<T>(v: T | null | undefined, write: (w: this, v: T) => unknown): this;
    labels(labels: Labels): this;
    info(i: SessionInfo): this;
    /** The body written so far. */
    body(): Buffer;
    /** The body as a frame: 4-byte length, then the body. */
    frame(): Buffer;
}
/** Reads fields off one body; every short read is a DecodeError. */
export declare class Reader {
    private readonly data;
    private pos;
    constructor(data: Buffer);
    get remaining(): number;
    take(n: number, what?: string): Buffer;
    u8(what?: string): number;
    u16(what?: string): number;
    u32(what?: string): number;
    /** A u64 as a number; values past 2^53 (no time, count or size is) are refused, not rounded. */
    u64(what?: string): number;
    /** A u64 whole, for values that use all 64 bits (a SCAN cursor). */
    u64Big(what?: string): bigint;
    i64(what?: string): bigint;
    bool(what?: string): boolean;
    /** The presence byte of an `opt<T>`. */
    present(what?: string): boolean;
    id(): string;
    bytes16(what?: string): Buffer;
    bytes32(what?: string): Buffer;
    private utf8;
    str8(what?: string): string;
    str16(what?: string): string;
    labels(): Labels;
    info(): SessionInfo;
    /** Bodies are consumed exactly (§6): surplus bytes are an error. */
    end(): void;
}
/**
 * Cuts a byte stream into frame bodies. Chunks are kept as they arrive and
 * joined only once a whole frame is there, so a large reply arriving in
 * many pieces is copied once, not once per piece.
 */
export declare class FrameReader {
    private readonly maxBody;
    private chunks;
    private buffered;
    /** @param maxBody the largest body accepted; longer lengths are a ProtocolError for the caller. */
    constructor(maxBody: number);
    push(chunk: Buffer): void;
    get length(): number;
    /** The first `n` buffered bytes, left in place; undefined if fewer are there. */
    peek(n: number): Buffer | undefined;
    /** Remove and return the first `n` buffered bytes, or undefined if fewer are there. */
    take(n: number): Buffer | undefined;
    /** The next whole body, undefined until one has arrived; throws DecodeError on a bad length. */
    next(): Buffer | undefined;
}
