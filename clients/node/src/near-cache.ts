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

import { Connection } from "./connection";
import { ClientError, EventsGap, NotFound } from "./errors";
import { eventsRead } from "./events";
import { idToText, type IdLike } from "./ids";
import type { ResolvedOptions } from "./options";
import type { Pool } from "./pool";
import { bytesOf, CACHE_MODES, cacheRegister, get as getCall, touch as touchCall } from "./protocol";
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

/** Largest EVENTS_READ batch the server gives (SPEC.md §8). */
const BATCH = 1000;
/** A session is touched for its hits at most this often (step 6). */
const FLUSH_MS = 1000;

export function resolveNearCacheOptions(o: NearCacheOptions = {}): ResolvedNearCacheOptions {
  const mode = o.mode ?? "strict";
  if (!CACHE_MODES.includes(mode)) throw new ClientError(`nearCache.mode must be "strict" or "relaxed", not ${JSON.stringify(mode)}`);
  const whole = (v: number | undefined, fallback: number, what: string): number => {
    if (v === undefined) return fallback;
    if (!Number.isInteger(v) || v < 1) throw new ClientError(`nearCache.${what} must be a positive integer, got ${v}`);
    return v;
  };
  return { mode, maxEntries: whole(o.maxEntries, 10_000, "maxEntries"), maxBytes: whole(o.maxBytes, 64 * 1024 * 1024, "maxBytes") };
}

/** The bytes an entry counts for (step 7): data, owner and labels. */
export function sizeOf(s: Session): number {
  let n = s.data.length + s.owner.length;
  for (const [k, v] of Object.entries(s.info.labels)) n += Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}

/** A copy the caller may change without changing the cache. */
export function copySession(s: Session): Session {
  return { owner: Buffer.from(s.owner), data: Buffer.from(s.data), info: { ...s.info, labels: { ...s.info.labels } } };
}

/** The text form of either form of an id (the cache's key). */
export function idText(id: IdLike): string {
  return typeof id === "string" ? id : idToText(id);
}

interface Entry {
  session: Session;
  /** The owner as a latin1 string: one character per byte, so any owner bytes make a key. */
  owner: string;
  bytes: number;
}

/**
 * Entries by id in a Map, whose insertion order is the recency order: a use
 * moves the entry to the end, eviction takes from the front.
 */
export class Lru {
  private readonly entries = new Map<string, Entry>();
  private readonly owners = new Map<string, Set<string>>();
  bytes = 0;
  evictions = 0;

  constructor(
    readonly maxEntries: number,
    readonly maxBytes: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The entry without changing its recency. */
  peek(id: string): Session | undefined {
    return this.entries.get(id)?.session;
  }

  /** The entry, now the most recently used. */
  use(id: string): Session | undefined {
    const e = this.entries.get(id);
    if (e === undefined) return undefined;
    this.entries.delete(id);
    this.entries.set(id, e);
    return e.session;
  }

  /**
   * Keep `session` under `id` as the most recently used, evicting the least
   * recently used beyond the bounds. A session larger than maxBytes alone
   * is not kept (false).
   */
  put(id: string, session: Session): boolean {
    this.delete(id);
    const bytes = sizeOf(session);
    if (bytes > this.maxBytes) return false;
    const owner = session.owner.toString("latin1");
    this.entries.set(id, { session, owner, bytes });
    this.bytes += bytes;
    let ids = this.owners.get(owner);
    if (ids === undefined) this.owners.set(owner, (ids = new Set()));
    ids.add(id);
    while (this.entries.size > this.maxEntries || this.bytes > this.maxBytes) {
      const oldest = this.entries.keys().next().value as string;
      this.delete(oldest);
      this.evictions++;
    }
    return true;
  }

  /** Drop one entry; whether there was one. */
  delete(id: string): boolean {
    const e = this.entries.get(id);
    if (e === undefined) return false;
    this.entries.delete(id);
    this.bytes -= e.bytes;
    const ids = this.owners.get(e.owner);
    ids?.delete(id);
    if (ids?.size === 0) this.owners.delete(e.owner);
    return true;
  }

  /** Drop the owner's entries; how many there were. */
  deleteOwner(owner: Uint8Array): number {
    const ids = this.owners.get(Buffer.from(owner.buffer, owner.byteOffset, owner.byteLength).toString("latin1"));
    if (ids === undefined) return 0;
    let n = 0;
    for (const id of [...ids]) if (this.delete(id)) n++;
    return n;
  }

  /** Drop everything; how many entries there were. */
  clear(): number {
    const n = this.entries.size;
    this.entries.clear();
    this.owners.clear();
    this.bytes = 0;
    return n;
  }
}

/**
 * The algorithm's rules over the entries. Times are passed in: `now` is
 * performance.now() (monotonic, and it runs on while the process is
 * stopped, which is what makes a SIGSTOPped cache stop serving), `unixMs`
 * is Date.now() (for the server's expires-at, which is Unix seconds).
 */
export class CacheState {
  readonly lru: Lru;
  /**
   * Moves whenever an entry may have become stale without this cache
   * knowing which answer it overtook: an event, a write through this
   * client, a gap, a lost or new connection. A miss keeps its answer only
   * if the epoch did not move while it was out (step 3).
   */
  epoch = 0;
  /** performance.now() before which entries may be served: `sent + bound` of the latest answer handled. */
  lease = 0;
  /** A registration was answered on the current connection: events after `after` will all come. */
  live = false;
  /** The seq of the last event handled (the next EVENTS_READ's `after`, which acknowledges it). */
  after = 0;
  boundMs = 0;
  hits = 0;
  misses = 0;
  invalidations = 0;
  resets = 0;

  constructor(maxEntries: number, maxBytes: number) {
    this.lru = new Lru(maxEntries, maxBytes);
  }

  /**
   * A hit only while the lease runs and the session is alive by its last
   * known expires-at (the server keeps a session through the whole of
   * that second); anything else is a miss.
   */
  lookup(id: string, now: number, unixMs: number): Session | undefined {
    const s = now < this.lease ? this.lru.peek(id) : undefined;
    if (s !== undefined && Math.floor(unixMs / 1000) <= s.info.expiresAt) {
      this.hits++;
      return this.lru.use(id);
    }
    if (s !== undefined) this.lru.delete(id); // expired: never served again
    this.misses++;
    return undefined;
  }

  /** Taken before a miss's GET; -1 while no registration holds, so that nothing read then is kept. */
  ticket(): number {
    return this.live ? this.epoch : -1;
  }

  /** Keep a miss's answer if nothing moved since its ticket; whether it was kept. */
  fill(ticket: number, id: string, session: Session): boolean {
    if (ticket < 0 || ticket !== this.epoch) return false;
    return this.lru.put(id, session);
  }

  /** CACHE_REGISTER, sent at `sent`, was answered (step 1). */
  registered(sent: number, reg: CacheRegistration): void {
    this.after = reg.head;
    this.boundMs = reg.boundMs;
    this.live = true;
    this.epoch++;
    this.lease = sent + reg.boundMs;
  }

  /** An EVENTS_READ sent at `sent` was answered with `events`: drop what they touch, renew the lease (step 2). */
  applied(sent: number, events: readonly SessionEvent[]): void {
    for (const e of events) {
      this.drop(e.id);
      if (e.newId !== null) this.drop(e.newId);
    }
    if (events.length > 0) {
      this.epoch++;
      this.after = events[events.length - 1].seq;
    }
    this.lease = sent + this.boundMs;
  }

  /** EVENTS_GAP: events were missed, so anything may be stale; resume after the oldest kept. */
  gap(sent: number, oldestKept: number): void {
    this.invalidations += this.lru.clear();
    this.epoch++;
    this.after = oldestKept - 1;
    this.lease = sent + this.boundMs;
  }

  /** The connection ended or erred (step 5): nothing is served until a new registration. */
  lost(counted: boolean): void {
    if (counted && this.live) this.resets++;
    this.lru.clear();
    this.live = false;
    this.lease = 0;
    this.epoch++;
  }

  /** A write through this client is about to change or end `id` (step 4). */
  forget(id: string): void {
    this.epoch++;
    this.drop(id);
  }

  /** DELETE_OWNER through this client (step 4). */
  forgetOwner(owner: Uint8Array): void {
    this.epoch++;
    this.invalidations += this.lru.deleteOwner(owner);
  }

  drop(id: string): void {
    if (this.lru.delete(id)) this.invalidations++;
  }

  /** A TOUCH answered with the session's new expires-at. */
  refresh(id: string, expiresAt: number): void {
    const s = this.lru.peek(id);
    if (s !== undefined && expiresAt > s.info.expiresAt) s.info.expiresAt = expiresAt;
  }

  stats(): NearCacheStats {
    return {
      hits: this.hits,
      misses: this.misses,
      invalidations: this.invalidations,
      evictions: this.lru.evictions,
      resets: this.resets,
      entries: this.lru.size,
      bytes: this.lru.bytes,
    };
  }
}

/**
 * The running cache of a Client. Its loop starts with the first lookup
 * (nothing connects until the first call) and runs until `close`; its
 * connection and timers never keep the process alive.
 */
export class NearCache {
  readonly options: ResolvedNearCacheOptions;
  private readonly state: CacheState;
  private running: Promise<void> | undefined;
  /** Settles when the registration attempt under way has succeeded or failed. */
  private attempt: Promise<void> | undefined;
  private conn: Connection | undefined;
  private closed = false;
  private failures = 0;
  /** Cuts a back-off short (for close). */
  private wake: (() => void) | undefined;
  /** Sessions hit since the last flush: each gets one TOUCH. */
  private readonly marked = new Set<string>();
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  /** Why the latest connection or registration failed, for diagnostics. */
  lastError: Error | undefined;

  constructor(
    private readonly opts: ResolvedOptions,
    options: NearCacheOptions,
    private readonly pool: Pool,
  ) {
    this.options = resolveNearCacheOptions(options);
    this.state = new CacheState(this.options.maxEntries, this.options.maxBytes);
  }

  /**
   * The session: from memory on a hit, else a GET through the pool (which
   * touches it) kept for the next time. A hit marks the session for the
   * toucher. Rejects NotFound as GET does.
   */
  async get(id: IdLike): Promise<Session> {
    const key = idText(id);
    const hit = this.state.lookup(key, performance.now(), Date.now());
    if (hit !== undefined) {
      this.mark(key);
      return copySession(hit);
    }
    const call = getCall(id, true); // a malformed id fails here, before anything connects
    // Before the first registration (or during a reconnection) wait for
    // the attempt under way, so that this answer can be kept; in a back-off
    // do not wait.
    if (!this.state.live && !this.closed) await this.registering();
    const ticket = this.state.ticket();
    let session: Session;
    try {
      session = await this.pool.run(call);
    } catch (e) {
      if (e instanceof NotFound) this.state.drop(key);
      throw e;
    }
    if (!this.closed) this.state.fill(ticket, key, copySession(session));
    return session;
  }

  /** Drop `id` before a write through the client changes or ends it. */
  forget(id: IdLike): void {
    this.state.forget(idText(id));
  }

  /** Drop the owner's entries before a DELETE_OWNER through the client. */
  forgetOwner(owner: BytesLike): void {
    this.state.forgetOwner(bytesOf(owner));
  }

  /** A TOUCH through the client answered: the entry's expires-at moves with it. */
  touched(id: IdLike, expiresAt: number): void {
    this.state.refresh(idText(id), expiresAt);
  }

  /**
   * Have the toucher touch `id` within a second instead of a TOUCH now;
   * false (nothing done) if the session is not served from this cache.
   */
  touchSoon(id: IdLike): boolean {
    const key = idText(id);
    if (!(performance.now() < this.state.lease) || this.state.lru.peek(key) === undefined) return false;
    this.mark(key);
    return true;
  }

  stats(): NearCacheStats {
    return this.state.stats();
  }

  /** Stop the loop and the toucher (pending touches are sent first); drop everything. */
  async close(): Promise<void> {
    if (this.closed) return this.running;
    this.closed = true;
    this.wake?.();
    this.conn?.destroy();
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    await this.flushing;
    await this.flush();
    await this.running;
    this.state.lost(false);
  }

  /** Start the loop if it is not running; resolves once the attempt under way settled. */
  private registering(): Promise<void> {
    this.running ??= this.run();
    return this.attempt ?? Promise.resolve();
  }

  /** Steps 1, 2 and 5: register, read events until the connection fails, drop everything, again. */
  private async run(): Promise<void> {
    while (!this.closed) {
      let settle!: () => void;
      this.attempt = new Promise<void>((resolve) => (settle = resolve));
      let conn: Connection | undefined;
      try {
        conn = await Connection.open(this.opts);
        if (this.closed) break;
        this.conn = conn;
        let sent = performance.now();
        this.state.registered(sent, await conn.send(cacheRegister(this.options.mode)));
        // Only now: a get may be waiting for the registration, and that
        // must keep the process alive; the reads that follow must not.
        conn.background = true;
        this.failures = 0;
        settle();
        for (;;) {
          // A third of the bound (SPEC.md: at most half). The lease in force
          // runs from when the previous read was sent, so it must outlast
          // two waits and two round trips: with half the bound it would run
          // out just before each answer arrives, and every lookup in that
          // moment would miss.
          const wait = Math.max(1, Math.floor(this.state.boundMs / 3));
          sent = performance.now();
          try {
            this.state.applied(sent, await conn.send(eventsRead(this.state.after, BATCH, wait)));
          } catch (e) {
            if (!(e instanceof EventsGap)) throw e;
            this.state.gap(sent, e.oldest_kept);
          }
        }
      } catch (e) {
        this.lastError = e as Error;
      } finally {
        settle();
        this.attempt = undefined;
        conn?.destroy();
        this.conn = undefined;
        this.state.lost(!this.closed);
      }
      if (!this.closed) await this.pause(this.pool.delay(this.failures++));
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    }).finally(() => (this.wake = undefined));
  }

  /** Step 6: a hit marks its session; the first mark after a flush schedules the next one a second on. */
  private mark(id: string): void {
    this.marked.add(id);
    if (this.flushTimer !== undefined || this.closed) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.flushing = this.flush().finally(() => (this.flushing = undefined));
    }, FLUSH_MS);
    this.flushTimer.unref();
  }

  /** One TOUCH per marked session; its answer refreshes the entry, NOT_FOUND drops it. */
  private async flush(): Promise<void> {
    const ids = [...this.marked];
    this.marked.clear();
    await Promise.all(
      ids.map((id) =>
        this.pool.run(touchCall(id)).then(
          (expiresAt) => this.state.refresh(id, expiresAt),
          (e) => {
            // Other failures (the server is unreachable) are left to the
            // next hit: a cache without a connection serves nothing anyway.
            if (e instanceof NotFound) this.state.drop(id);
          },
        ),
      ),
    );
  }
}
