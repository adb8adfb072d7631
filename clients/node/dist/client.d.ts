/**
 * The client: the engine's operations as typed async methods over a pool of
 * pipelined connections. Each method builds a Call with the shared codec
 * and runs it, so this module holds no wire logic.
 *
 * Calls made concurrently share connections: they are written together and
 * their replies matched in order, so `Promise.all` of a thousand `get`s is
 * a few writes, not a thousand round trips.
 *
 * With `nearCache` the client keeps the sessions it reads in memory
 * (near-cache.ts): `get` answers from there while the server's event log
 * says they are unchanged, and the client's own writes drop its entries
 * first.
 */
import type { IdLike } from "./ids";
import { NearCache, type NearCacheStats } from "./near-cache";
import { type ClientOptions, type ResolvedOptions } from "./options";
import { type PoolStats } from "./pool";
import * as p from "./protocol";
import type { BytesLike, CreateOptions, KeyTtl, ScanPage, Session, SessionEvent, SessionInfo } from "./types";
export declare class Client {
    readonly options: ResolvedOptions;
    /** The near cache, when the client was made with `nearCache`. */
    readonly nearCache: NearCache | undefined;
    private readonly pool;
    /**
     * `new Client("sessiond://127.0.0.1:7878", { tokenFile, caFile })` or
     * `new Client({ host, port, ... })`. Nothing connects until the first
     * call; connections the server closed are replaced on the next one.
     * Idle connections do not keep the process alive; `close()` ends them.
     */
    constructor(url?: string | ClientOptions, options?: ClientOptions);
    /** Run one prepared call (any builder of the `protocol` module). */
    execute<T>(call: p.Call<T>): Promise<T>;
    /** Connections and calls in flight, for metrics and tests. */
    poolStats(): PoolStats;
    /** The near cache's counters; undefined without one. */
    nearCacheStats(): NearCacheStats | undefined;
    /** Stop the near cache, let calls in flight finish, then close every connection; later calls fail. */
    close(): Promise<void>;
    ping(): Promise<void>;
    /** The server's counters by name (`sessions`, `keys`, `connections`, ...). */
    stats(): Promise<Record<string, number>>;
    /**
     * Create a session for `owner`; resolves with its 22-character id.
     * Timeouts are seconds (absent: the server's default; 0: none).
     */
    create(owner: BytesLike, options?: CreateOptions): Promise<string>;
    /**
     * The session, touched (its idle deadline slides). NotFound if it is gone.
     * With a near cache, a hit is answered from memory and touched within a
     * second by the cache's toucher.
     */
    get(id: IdLike): Promise<Session>;
    /** The session without touching it. */
    peek(id: IdLike): Promise<Session>;
    /**
     * Replace the data (and touch); resolves with the new version. With
     * `expectedVersion` it rejects with VersionMismatch if another write came first.
     */
    update(id: IdLike, data: BytesLike, options?: {
        expectedVersion?: number;
    }): Promise<number>;
    /** Slide the idle deadline; resolves with the new expires-at (Unix seconds). */
    touch(id: IdLike): Promise<number>;
    /** End the session; resolves with whether a live one was there. */
    delete(id: IdLike): Promise<boolean>;
    /** Give the session a new id (at login); the old one stops working. */
    rotate(id: IdLike): Promise<string>;
    /** The owner's live sessions, most recently seen first (a devices list). */
    list(owner: BytesLike): Promise<SessionInfo[]>;
    count(owner: BytesLike): Promise<number>;
    /** End the owner's sessions except `keep` ("log out everywhere else"); resolves with how many ended. */
    deleteOwner(owner: BytesLike, options?: {
        keep?: IdLike;
    }): Promise<number>;
    /**
     * The session events after seq `after` (the last one handled; 0 at
     * first), oldest first, at most `max`; when none is there yet the server
     * waits up to `timeoutMs` (at most 60 000) for one and answers `[]` if
     * none comes. Resuming after the last seq returned gets every event
     * exactly once, in order. Throws EventsGap (with `oldest_kept`) when
     * retention dropped events after `after`. A waiting read holds its
     * connection: give waiting readers a client of their own.
     */
    readEvents(after: number, options?: {
        max?: number;
        timeoutMs?: number;
    }): Promise<SessionEvent[]>;
    /** `delete` whose `ended` event carries `note` ("logout"; at most 256 bytes). */
    deleteWithNote(id: IdLike, note: BytesLike): Promise<boolean>;
    /** `deleteOwner` whose `ended` events carry `note` ("kick"). */
    deleteOwnerWithNote(owner: BytesLike, note: BytesLike, options?: {
        keep?: IdLike;
    }): Promise<number>;
    /** Set a plain key; `ttlMs` absent: no TTL. */
    setKey(key: BytesLike, value: BytesLike, options?: {
        ttlMs?: number;
    }): Promise<void>;
    /** The key's value, or null. */
    getKey(key: BytesLike): Promise<Buffer | null>;
    deleteKey(key: BytesLike): Promise<boolean>;
    /** Set (ms), remove (null) or zero (delete the key) a TTL; resolves false if there is no key. */
    expireKey(key: BytesLike, ttlMs: number | null): Promise<boolean>;
    ttl(key: BytesLike): Promise<KeyTtl>;
    /**
     * Add `delta` to a decimal integer key (a missing key counts as 0);
     * resolves with the new value. Rejects with ProtocolError if the value is
     * beyond 2^53 (it has been applied then): use `incrBig` for such counters.
     */
    incr(key: BytesLike, delta?: number | bigint): Promise<number>;
    /** `incr` with the full signed 64-bit range. */
    incrBig(key: BytesLike, delta?: number | bigint): Promise<bigint>;
    /** INCRBY that gives a key without a TTL (a new counter) `ttlMs`, in one change; not retried after an unknown outcome. */
    incrWithTtl(key: BytesLike, delta: number | bigint, ttlMs: number): Promise<bigint>;
    /** One step of a walk over the keys matching `match` (Redis's glob rules); see {@link scanKeys}. */
    scan(cursor?: bigint | number, options?: {
        count?: number;
        match?: BytesLike;
    }): Promise<ScanPage>;
    /**
     * NODE_ADD: make node `id`, whose raft endpoint is `raftAddr`, a member of
     * the replication group (answered by the leader; a standalone server
     * rejects with Unavailable). Not retried: follow NotLeader yourself.
     */
    nodeAdd(id: bigint | number, raftAddr: string): Promise<void>;
    /** NODE_REMOVE: take node `id` out of the replication group (see {@link nodeAdd}). */
    nodeRemove(id: bigint | number): Promise<void>;
    /** Every key matching `match`, walking the cursor to its end: each key present throughout comes once. */
    scanKeys(match?: BytesLike, count?: number): AsyncGenerator<Buffer>;
}
