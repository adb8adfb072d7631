/**
 * The requests and replies of protocol version 1 (SPEC.md §5, §8–10) as
 * pure functions. A request is built as a {@link Call}: its complete frame
 * plus the function that turns the reply body into the value the API
 * returns, so that connections only move frames and hand bodies back.
 */
import { Reader, Writer } from "./codec";
import { ServerError } from "./errors";
import { type IdLike } from "./ids";
import type { BytesLike, CacheRegistration, CreateOptions, KeyTtl, LimitPolicy, NearCacheMode, ScanPage, ServerHello, Session, SessionInfo } from "./types";
export declare const MAGIC: Buffer<ArrayBuffer>;
export declare const VERSION = 1;
/** The largest response body accepted (SPEC.md §6: at least 256 MiB). */
export declare const MAX_RESPONSE: number;
export declare const Op: {
    readonly PING: 1;
    readonly AUTH: 2;
    readonly STATS: 3;
    readonly CREATE: 16;
    readonly GET: 17;
    readonly UPDATE: 18;
    readonly TOUCH: 19;
    readonly DELETE: 20;
    readonly ROTATE: 21;
    readonly LIST: 22;
    readonly COUNT: 23;
    readonly DELETE_OWNER: 24;
    readonly KEY_SET: 32;
    readonly KEY_GET: 33;
    readonly KEY_DELETE: 34;
    readonly KEY_EXPIRE: 35;
    readonly KEY_TTL: 36;
    readonly KEY_INCR: 37;
    readonly KEY_SCAN: 38;
    readonly NODE_ADD: 39;
    readonly NODE_REMOVE: 40;
    readonly KEY_INCR_TTL: 41;
    readonly EVENTS_READ: 42;
    readonly DELETE_NOTED: 43;
    readonly DELETE_OWNER_NOTED: 44;
    readonly CACHE_REGISTER: 45;
};
export declare const Tag: {
    readonly DONE: 0;
    readonly ID: 1;
    readonly SESSION: 2;
    readonly VERSION: 3;
    readonly TIME: 4;
    readonly BOOL: 5;
    readonly LIST: 6;
    readonly COUNT: 7;
    readonly VALUE: 8;
    readonly TTL: 9;
    readonly INTEGER: 10;
    readonly STATS: 11;
    readonly SCAN: 12;
    readonly EVENTS: 13;
    readonly CACHE: 14;
};
export declare const POLICIES: readonly LimitPolicy[];
export declare const TTL_KINDS: readonly KeyTtl["kind"][];
/** Owners, keys, tokens and data: strings go as UTF-8. */
export declare function bytesOf(v: BytesLike): Buffer;
export declare function clientHello(version?: number): Buffer;
/** Decode the 16-byte server hello; refuse what a v1 client must refuse. */
export declare function parseServerHello(data: Buffer): ServerHello;
export declare function serverHello(hello: ServerHello): Buffer;
/** The error for an error body whose code byte has been read. */
export declare function parseError(code: number, r: Reader): ServerError;
/** One request: its frame and how to read its reply. */
export declare class Call<T> {
    readonly frame: Buffer;
    readonly tag: number;
    private readonly read;
    /** Milliseconds the server may hold the request (an EVENTS_READ's wait), beyond the request timeout. */
    readonly waitMs: number;
    constructor(frame: Buffer, tag: number, read: (r: Reader) => T, 
    /** Milliseconds the server may hold the request (an EVENTS_READ's wait), beyond the request timeout. */
    waitMs?: number);
    /** The request body's length (what `max frame` bounds). */
    get bodyLength(): number;
    /**
     * The reply's value; throws the server's error for an error response and
     * ProtocolError for a body that breaks the protocol (wrong tag, bad bytes).
     */
    parse(body: Buffer): T;
}
export declare function call<T>(op: number, tag: number, read: (r: Reader) => T, build?: (w: Writer) => unknown): Call<T>;
/** Whole seconds, rounded up (§2); for the API's second-valued options. */
export declare function wholeSecs(v: number, what: string): number;
export declare function ping(): Call<void>;
export declare function auth(token: BytesLike): Call<void>;
export declare function stats(): Call<Record<string, number>>;
/** CREATE: an absent timeout means the server's default, 0 means none. */
export declare function create(owner: BytesLike, opts?: CreateOptions): Call<string>;
/** GET; `touch` false reads without sliding the idle deadline (a peek). */
export declare function get(id: IdLike, touch?: boolean): Call<Session>;
export declare function update(id: IdLike, data: BytesLike, expectedVersion?: number): Call<number>;
export declare function touch(id: IdLike): Call<number>;
export declare function del(id: IdLike): Call<boolean>;
export declare function rotate(id: IdLike): Call<string>;
export declare function list(owner: BytesLike): Call<SessionInfo[]>;
export declare function count(owner: BytesLike): Call<number>;
export declare function deleteOwner(owner: BytesLike, keep?: IdLike): Call<number>;
/** KEY_SET; `ttlMs` absent: no TTL. */
export declare function keySet(key: BytesLike, value: BytesLike, ttlMs?: number): Call<void>;
export declare function keyGet(key: BytesLike): Call<Buffer | null>;
export declare function keyDelete(key: BytesLike): Call<boolean>;
/** KEY_EXPIRE; `ttlMs` null removes the TTL, 0 deletes the key. */
export declare function keyExpire(key: BytesLike, ttlMs: number | null): Call<boolean>;
export declare function keyTtl(key: BytesLike): Call<KeyTtl>;
export declare function keyIncr(key: BytesLike, delta?: number | bigint): Call<bigint>;
/**
 * KEY_INCR_TTL: add `delta` and give a key without a TTL (a new counter)
 * `ttlMs`, in one change, so a rate limiter's counter never lacks its window.
 */
export declare function keyIncrTtl(key: BytesLike, delta: number | bigint, ttlMs: number): Call<bigint>;
/**
 * KEY_SCAN: one step of a walk over the plain keys. Start at cursor 0 and
 * pass back each returned cursor until it comes back 0; a key present for
 * the whole walk is returned exactly once. `count` is a hint.
 */
export declare function keyScan(cursor: bigint | number, count: number, pattern?: BytesLike): Call<ScanPage>;
/** NODE_ADD: make node `id`, whose raft endpoint is at `raftAddr`, a member of the replication group. */
export declare function nodeAdd(id: bigint | number, raftAddr: string): Call<void>;
/** NODE_REMOVE: take node `id` out of the replication group. */
export declare function nodeRemove(id: bigint | number): Call<void>;
/** CACHE_REGISTER's mode byte (SPEC.md §8): strict writes wait for the cache's acknowledgement. */
export declare const CACHE_MODES: readonly NearCacheMode[];
/**
 * CACHE_REGISTER: make this connection a near cache's invalidation
 * connection (docs/events.md, "Near cache"). The reply gives the newest seq
 * logged (read events after it) and the server's bound in ms.
 */
export declare function cacheRegister(mode: NearCacheMode): Call<CacheRegistration>;
