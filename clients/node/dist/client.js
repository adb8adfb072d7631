"use strict";
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
Object.defineProperty(exports, "__esModule", { value: true });
exports.Client = void 0;
const errors_1 = require("./errors");
const near_cache_1 = require("./near-cache");
const options_1 = require("./options");
const pool_1 = require("./pool");
const ev = require("./events");
const p = require("./protocol");
class Client {
    options;
    /** The near cache, when the client was made with `nearCache`. */
    nearCache;
    pool;
    /**
     * `new Client("sessiond://127.0.0.1:7878", { tokenFile, caFile })` or
     * `new Client({ host, port, ... })`. Nothing connects until the first
     * call; connections the server closed are replaced on the next one.
     * Idle connections do not keep the process alive; `close()` ends them.
     */
    constructor(url, options = {}) {
        const merged = typeof url === "string" ? { ...options, url } : { ...url, ...options };
        this.options = (0, options_1.resolveOptions)(merged);
        this.pool = new pool_1.Pool(this.options);
        this.nearCache = merged.nearCache === undefined ? undefined : new near_cache_1.NearCache(this.options, merged.nearCache, this.pool);
    }
    /** Run one prepared call (any builder of the `protocol` module). */
    execute(call) {
        return this.pool.run(call);
    }
    /** Connections and calls in flight, for metrics and tests. */
    poolStats() {
        return this.pool.stats();
    }
    /** The near cache's counters; undefined without one. */
    nearCacheStats() {
        return this.nearCache?.stats();
    }
    /** Stop the near cache, let calls in flight finish, then close every connection; later calls fail. */
    async close() {
        await this.nearCache?.close();
        await this.pool.close();
    }
    // --- operations (SPEC.md §8) ----------------------------------------------
    ping() {
        return this.execute(p.ping());
    }
    /** The server's counters by name (`sessions`, `keys`, `connections`, ...). */
    stats() {
        return this.execute(p.stats());
    }
    /**
     * Create a session for `owner`; resolves with its 22-character id.
     * Timeouts are seconds (absent: the server's default; 0: none).
     */
    create(owner, options = {}) {
        return this.execute(p.create(owner, options));
    }
    /**
     * The session, touched (its idle deadline slides). NotFound if it is gone.
     * With a near cache, a hit is answered from memory and touched within a
     * second by the cache's toucher.
     */
    get(id) {
        if (this.nearCache !== undefined)
            return this.nearCache.get(id);
        return this.execute(p.get(id, true));
    }
    /** The session without touching it. */
    peek(id) {
        return this.execute(p.get(id, false));
    }
    /**
     * Replace the data (and touch); resolves with the new version. With
     * `expectedVersion` it rejects with VersionMismatch if another write came first.
     */
    update(id, data, options = {}) {
        const call = p.update(id, data, options.expectedVersion);
        this.nearCache?.forget(id);
        return this.execute(call);
    }
    /** Slide the idle deadline; resolves with the new expires-at (Unix seconds). */
    async touch(id) {
        const expiresAt = await this.execute(p.touch(id));
        this.nearCache?.touched(id, expiresAt);
        return expiresAt;
    }
    /** End the session; resolves with whether a live one was there. */
    delete(id) {
        const call = p.del(id);
        this.nearCache?.forget(id);
        return this.execute(call);
    }
    /** Give the session a new id (at login); the old one stops working. */
    rotate(id) {
        const call = p.rotate(id);
        this.nearCache?.forget(id);
        return this.execute(call);
    }
    /** The owner's live sessions, most recently seen first (a devices list). */
    list(owner) {
        return this.execute(p.list(owner));
    }
    count(owner) {
        return this.execute(p.count(owner));
    }
    /** End the owner's sessions except `keep` ("log out everywhere else"); resolves with how many ended. */
    deleteOwner(owner, options = {}) {
        const call = p.deleteOwner(owner, options.keep);
        this.nearCache?.forgetOwner(owner);
        return this.execute(call);
    }
    /**
     * The session events after seq `after` (the last one handled; 0 at
     * first), oldest first, at most `max`; when none is there yet the server
     * waits up to `timeoutMs` (at most 60 000) for one and answers `[]` if
     * none comes. Resuming after the last seq returned gets every event
     * exactly once, in order. Throws EventsGap (with `oldest_kept`) when
     * retention dropped events after `after`. A waiting read holds its
     * connection: give waiting readers a client of their own.
     */
    readEvents(after, options = {}) {
        return this.execute(ev.eventsRead(after, options.max ?? 100, options.timeoutMs ?? 0));
    }
    /** `delete` whose `ended` event carries `note` ("logout"; at most 256 bytes). */
    deleteWithNote(id, note) {
        const call = ev.deleteNoted(id, note);
        this.nearCache?.forget(id);
        return this.execute(call);
    }
    /** `deleteOwner` whose `ended` events carry `note` ("kick"). */
    deleteOwnerWithNote(owner, note, options = {}) {
        const call = ev.deleteOwnerNoted(owner, options.keep, note);
        this.nearCache?.forgetOwner(owner);
        return this.execute(call);
    }
    /** Set a plain key; `ttlMs` absent: no TTL. */
    setKey(key, value, options = {}) {
        return this.execute(p.keySet(key, value, options.ttlMs));
    }
    /** The key's value, or null. */
    getKey(key) {
        return this.execute(p.keyGet(key));
    }
    deleteKey(key) {
        return this.execute(p.keyDelete(key));
    }
    /** Set (ms), remove (null) or zero (delete the key) a TTL; resolves false if there is no key. */
    expireKey(key, ttlMs) {
        return this.execute(p.keyExpire(key, ttlMs));
    }
    ttl(key) {
        return this.execute(p.keyTtl(key));
    }
    /**
     * Add `delta` to a decimal integer key (a missing key counts as 0);
     * resolves with the new value. Rejects with ProtocolError if the value is
     * beyond 2^53 (it has been applied then): use `incrBig` for such counters.
     */
    async incr(key, delta = 1) {
        const value = await this.incrBig(key, delta);
        const n = Number(value);
        if (!Number.isSafeInteger(n))
            throw new errors_1.ProtocolError(`the counter is ${value}, beyond a safe JavaScript number; use incrBig`);
        return n;
    }
    /** `incr` with the full signed 64-bit range. */
    incrBig(key, delta = 1) {
        return this.execute(p.keyIncr(key, delta));
    }
    /** INCRBY that gives a key without a TTL (a new counter) `ttlMs`, in one change; not retried after an unknown outcome. */
    incrWithTtl(key, delta, ttlMs) {
        return this.execute(p.keyIncrTtl(key, delta, ttlMs));
    }
    /** One step of a walk over the keys matching `match` (Redis's glob rules); see {@link scanKeys}. */
    scan(cursor = 0n, options = {}) {
        return this.execute(p.keyScan(cursor, options.count ?? 100, options.match));
    }
    /**
     * NODE_ADD: make node `id`, whose raft endpoint is `raftAddr`, a member of
     * the replication group (answered by the leader; a standalone server
     * rejects with Unavailable). Not retried: follow NotLeader yourself.
     */
    async nodeAdd(id, raftAddr) {
        await this.execute(p.nodeAdd(id, raftAddr));
    }
    /** NODE_REMOVE: take node `id` out of the replication group (see {@link nodeAdd}). */
    async nodeRemove(id) {
        await this.execute(p.nodeRemove(id));
    }
    /** Every key matching `match`, walking the cursor to its end: each key present throughout comes once. */
    async *scanKeys(match, count = 100) {
        let cursor = 0n;
        do {
            const page = await this.scan(cursor, { count, match });
            yield* page.keys;
            cursor = page.cursor;
        } while (cursor !== 0n);
    }
}
exports.Client = Client;
