/**
 * The near cache (docs/events.md, "Near cache"): the sessions this process
 * read recently, answered from memory with no round trip, while the
 * server's event log says which entries to drop.
 *
 * Three parts, so that the rules can be tested without a server:
 * - {@link Lru}: the entries, bounded by count and bytes, least recently
 *   used out first, with an owner index for DELETE_OWNER.
 * - {@link CacheState}: the rules of the algorithm (steps 1-7) over the
 *   LRU, with the clocks passed in: the lease, the epoch, what an answer
 *   renews and what a lost connection drops.
 * - {@link NearCache}: the dedicated connection that registers and reads
 *   events in a loop (waiting a third of the bound; see `run`), misses sent
 *   through the client's pool, and the coalesced toucher.
 *
 * The cache needs a connection of its own although Node is single-threaded:
 * a waiting EVENTS_READ holds its connection's later requests (SPEC.md §8).
 */
import { type IdLike } from "./ids";
import type { ResolvedOptions } from "./options";
import type { Pool } from "./pool";
import type { BytesLike, CacheRegistration, NearCacheMode, Session, SessionEvent } from "./types";
export interface NearCacheOptions {
    /** "strict" (default): a revoke returns only once this cache dropped the session; "relaxed": within a moment. */
    mode?: NearCacheMode;
    /** Most sessions kept (default 10 000). */
    maxEntries?: number;
    /** Most bytes kept, counting data, owner and labels (default 64 MiB). */
    maxBytes?: number;
}
export interface ResolvedNearCacheOptions {
    mode: NearCacheMode;
    maxEntries: number;
    maxBytes: number;
}
/** What the cache did since it was made, and what it holds now. */
export interface NearCacheStats {
    /** Lookups answered from memory. */
    hits: number;
    /** Lookups that went to the server. */
    misses: number;
    /** Entries dropped because the session changed or ended (an event, or a write through this client). */
    invalidations: number;
    /** Entries dropped to keep within maxEntries / maxBytes. */
    evictions: number;
    /** Times the cache's connection was lost and everything dropped. */
    resets: number;
    entries: number;
    bytes: number;
}
export declare function resolveNearCacheOptions(o?: NearCacheOptions): ResolvedNearCacheOptions;
/** The bytes an entry counts for (step 7): data, owner and labels. */
export declare function sizeOf(s: Session): number;
/** A copy the caller may change without changing the cache. */
export declare function copySession(s: Session): Session;
/** The text form of either form of an id (the cache's key). */
export declare function idText(id: IdLike): string;
/**
 * Entries by id in a Map, whose insertion order is the recency order: a use
 * moves the entry to the end, eviction takes from the front.
 */
export declare class Lru {
    readonly maxEntries: number;
    readonly maxBytes: number;
    private readonly entries;
    private readonly owners;
    bytes: number;
    evictions: number;
    constructor(maxEntries: number, maxBytes: number);
    get size(): number;
    /** The entry without changing its recency. */
    peek(id: string): Session | undefined;
    /** The entry, now the most recently used. */
    use(id: string): Session | undefined;
    /**
     * Keep `session` under `id` as the most recently used, evicting the least
     * recently used beyond the bounds. A session larger than maxBytes alone
     * is not kept (false).
     */
    put(id: string, session: Session): boolean;
    /** Drop one entry; whether there was one. */
    delete(id: string): boolean;
    /** Drop the owner's entries; how many there were. */
    deleteOwner(owner: Uint8Array): number;
    /** Drop everything; how many entries there were. */
    clear(): number;
}
/**
 * The algorithm's rules over the entries. Times are passed in: `now` is
 * performance.now() (monotonic, and it runs on while the process is
 * stopped, which is what makes a SIGSTOPped cache stop serving), `unixMs`
 * is Date.now() (for the server's expires-at, which is Unix seconds).
 */
export declare class CacheState {
    readonly lru: Lru;
    /**
     * Moves whenever an entry may have become stale without this cache
     * knowing which answer it overtook: an event, a write through this
     * client, a gap, a lost or new connection. A miss keeps its answer only
     * if the epoch did not move while it was out (step 3).
     */
    epoch: number;
    /** performance.now() before which entries may be served: `sent + bound` of the latest answer handled. */
    lease: number;
    /** A registration was answered on the current connection: events after `after` will all come. */
    live: boolean;
    /** The seq of the last event handled (the next EVENTS_READ's `after`, which acknowledges it). */
    after: number;
    boundMs: number;
    hits: number;
    misses: number;
    invalidations: number;
    resets: number;
    constructor(maxEntries: number, maxBytes: number);
    /**
     * A hit only while the lease runs and the session is alive by its last
     * known expires-at (the server keeps a session through the whole of
     * that second); anything else is a miss.
     */
    lookup(id: string, now: number, unixMs: number): Session | undefined;
    /** Taken before a miss's GET; -1 while no registration holds, so that nothing read then is kept. */
    ticket(): number;
    /** Keep a miss's answer if nothing moved since its ticket; whether it was kept. */
    fill(ticket: number, id: string, session: Session): boolean;
    /** CACHE_REGISTER, sent at `sent`, was answered (step 1). */
    registered(sent: number, reg: CacheRegistration): void;
    /** An EVENTS_READ sent at `sent` was answered with `events`: drop what they touch, renew the lease (step 2). */
    applied(sent: number, events: readonly SessionEvent[]): void;
    /** EVENTS_GAP: events were missed, so anything may be stale; resume after the oldest kept. */
    gap(sent: number, oldestKept: number): void;
    /** The connection ended or erred (step 5): nothing is served until a new registration. */
    lost(counted: boolean): void;
    /** A write through this client is about to change or end `id` (step 4). */
    forget(id: string): void;
    /** DELETE_OWNER through this client (step 4). */
    forgetOwner(owner: Uint8Array): void;
    drop(id: string): void;
    /** A TOUCH answered with the session's new expires-at. */
    refresh(id: string, expiresAt: number): void;
    stats(): NearCacheStats;
}
/**
 * The running cache of a Client. Its loop starts with the first lookup
 * (nothing connects until the first call) and runs until `close`; its
 * connection and timers never keep the process alive.
 */
export declare class NearCache {
    private readonly opts;
    private readonly pool;
    readonly options: ResolvedNearCacheOptions;
    private readonly state;
    private running;
    /** Settles when the registration attempt under way has succeeded or failed. */
    private attempt;
    private conn;
    private closed;
    private failures;
    /** Cuts a back-off short (for close). */
    private wake;
    /** Sessions hit since the last flush: each gets one TOUCH. */
    private readonly marked;
    private flushTimer;
    private flushing;
    /** Why the latest connection or registration failed, for diagnostics. */
    lastError: Error | undefined;
    constructor(opts: ResolvedOptions, options: NearCacheOptions, pool: Pool);
    /**
     * The session: from memory on a hit, else a GET through the pool (which
     * touches it) kept for the next time. A hit marks the session for the
     * toucher. Rejects NotFound as GET does.
     */
    get(id: IdLike): Promise<Session>;
    /** Drop `id` before a write through the client changes or ends it. */
    forget(id: IdLike): void;
    /** Drop the owner's entries before a DELETE_OWNER through the client. */
    forgetOwner(owner: BytesLike): void;
    /** A TOUCH through the client answered: the entry's expires-at moves with it. */
    touched(id: IdLike, expiresAt: number): void;
    /**
     * Have the toucher touch `id` within a second instead of a TOUCH now;
     * false (nothing done) if the session is not served from this cache.
     */
    touchSoon(id: IdLike): boolean;
    stats(): NearCacheStats;
    /** Stop the loop and the toucher (pending touches are sent first); drop everything. */
    close(): Promise<void>;
    /** Start the loop if it is not running; resolves once the attempt under way settled. */
    private registering;
    /** Steps 1, 2 and 5: register, read events until the connection fails, drop everything, again. */
    private run;
    private pause;
    /** Step 6: a hit marks its session; the first mark after a flush schedules the next one a second on. */
    private mark;
    /** One TOUCH per marked session; its answer refreshes the entry, NOT_FOUND drops it. */
    private flush;
}
