/**
 * The requests and replies of protocol version 1 (SPEC.md §5, §8–10) as
 * pure functions. A request is built as a {@link Call}: its complete frame
 * plus the function that turns the reply body into the value the API
 * returns, so that connections only move frames and hand bodies back.
 */

import { DecodeError, Reader, Writer } from "./codec";
import { ERROR_CLASSES, ProtocolError, ServerError, UnknownError } from "./errors";
import { idBytes, type IdLike } from "./ids";
import type { BytesLike, CacheRegistration, CreateOptions, KeyTtl, LimitPolicy, NearCacheMode, ScanPage, ServerHello, Session, SessionInfo } from "./types";

export const MAGIC = Buffer.from("SSND", "latin1");
export const VERSION = 1;
/** The largest response body accepted (SPEC.md §6: at least 256 MiB). */
export const MAX_RESPONSE = 256 * 1024 * 1024;

export const Op = {
  PING: 0x01, AUTH: 0x02, STATS: 0x03,
  CREATE: 0x10, GET: 0x11, UPDATE: 0x12, TOUCH: 0x13, DELETE: 0x14, ROTATE: 0x15,
  LIST: 0x16, COUNT: 0x17, DELETE_OWNER: 0x18,
  KEY_SET: 0x20, KEY_GET: 0x21, KEY_DELETE: 0x22, KEY_EXPIRE: 0x23, KEY_TTL: 0x24, KEY_INCR: 0x25,
  KEY_SCAN: 0x26, NODE_ADD: 0x27, NODE_REMOVE: 0x28, KEY_INCR_TTL: 0x29,
  EVENTS_READ: 0x2a, DELETE_NOTED: 0x2b, DELETE_OWNER_NOTED: 0x2c, CACHE_REGISTER: 0x2d,
} as const;

export const Tag = {
  DONE: 0x00, ID: 0x01, SESSION: 0x02, VERSION: 0x03, TIME: 0x04, BOOL: 0x05,
  LIST: 0x06, COUNT: 0x07, VALUE: 0x08, TTL: 0x09, INTEGER: 0x0a, STATS: 0x0b,
  SCAN: 0x0c, EVENTS: 0x0d, CACHE: 0x0e,
} as const;

export const POLICIES: readonly LimitPolicy[] = ["none", "reject", "evict_oldest"];
export const TTL_KINDS: readonly KeyTtl["kind"][] = ["missing", "persistent", "expires"];

/** Owners, keys, tokens and data: strings go as UTF-8. */
export function bytesOf(v: BytesLike): Buffer {
  return typeof v === "string" ? Buffer.from(v, "utf8") : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

// --- handshake (§5) ----------------------------------------------------------

export function clientHello(version = VERSION): Buffer {
  const b = Buffer.alloc(8);
  MAGIC.copy(b);
  b.writeUInt16BE(version, 4);
  return b;
}

/** Decode the 16-byte server hello; refuse what a v1 client must refuse. */
export function parseServerHello(data: Buffer): ServerHello {
  if (data.length !== 16 || !data.subarray(0, 4).equals(MAGIC)) {
    throw new ProtocolError("the server did not answer with a sessiond hello");
  }
  const version = data.readUInt16BE(4);
  const flags = data.readUInt16BE(6);
  if (version !== VERSION) throw new ProtocolError(`the server chose protocol version ${version}; this client speaks ${VERSION}`);
  if (flags & ~1) throw new ProtocolError(`unknown handshake flags 0x${flags.toString(16).padStart(4, "0")}`);
  return { version, authRequired: (flags & 1) === 1, maxFrame: data.readUInt32BE(8) };
}

export function serverHello(hello: ServerHello): Buffer {
  const b = Buffer.alloc(16);
  MAGIC.copy(b);
  b.writeUInt16BE(hello.version, 4);
  b.writeUInt16BE(hello.authRequired ? 1 : 0, 6);
  b.writeUInt32BE(hello.maxFrame, 8);
  return b;
}

// --- responses (§9, §10) -----------------------------------------------------

/** The error for an error body whose code byte has been read. */
export function parseError(code: number, r: Reader): ServerError {
  const message = r.str16("message");
  const cls = ERROR_CLASSES.get(code);
  // An unknown code's detail fields are unknowable: stop at the message (§10).
  if (cls === undefined) return new UnknownError(message, {}, code);
  const details: Record<string, number | string> = {};
  for (const [name, kind] of cls.fields) details[name] = r[kind](name);
  r.end();
  return new cls(message, details);
}

/** One request: its frame and how to read its reply. */
export class Call<T> {
  constructor(
    readonly frame: Buffer,
    readonly tag: number,
    private readonly read: (r: Reader) => T,
    /** Milliseconds the server may hold the request (an EVENTS_READ's wait), beyond the request timeout. */
    readonly waitMs = 0,
  ) {}

  /** The request body's length (what `max frame` bounds). */
  get bodyLength(): number {
    return this.frame.length - 4;
  }

  /**
   * The reply's value; throws the server's error for an error response and
   * ProtocolError for a body that breaks the protocol (wrong tag, bad bytes).
   */
  parse(body: Buffer): T {
    const r = new Reader(body);
    let tag: number;
    try {
      const status = r.u8("status");
      if (status !== 0) throw parseError(status, r);
      tag = r.u8("reply tag");
    } catch (e) {
      if (e instanceof DecodeError) throw new ProtocolError(`undecodable response: ${e.message}`);
      throw e;
    }
    if (tag !== this.tag) throw new ProtocolError(`expected reply tag 0x${hex(this.tag)}, got 0x${hex(tag)}`);
    try {
      const value = this.read(r);
      r.end();
      return value;
    } catch (e) {
      if (e instanceof DecodeError) throw new ProtocolError(`undecodable reply: ${e.message}`);
      throw e;
    }
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}

export function call<T>(op: number, tag: number, read: (r: Reader) => T, build?: (w: Writer) => unknown): Call<T> {
  const w = new Writer().u8(op);
  build?.(w);
  return new Call(w.frame(), tag, read);
}

const done = (): void => undefined;
const readId = (r: Reader): string => r.id();
const readU32 = (r: Reader): number => r.u32();
const readBool = (r: Reader): boolean => r.bool();

function readSession(r: Reader): Session {
  const owner = r.bytes16("owner");
  const data = r.bytes32("data");
  return { owner, data, info: r.info() };
}

function readList(r: Reader): SessionInfo[] {
  const out: SessionInfo[] = [];
  for (let n = r.u32("count"); n > 0; n--) out.push(r.info());
  return out;
}

function readStats(r: Reader): Record<string, number> {
  const out: Record<string, number> = {};
  for (let n = r.u16("count"); n > 0; n--) {
    const name = r.str8("name");
    out[name] = r.u64(name);
  }
  return out;
}

function readTtl(r: Reader): KeyTtl {
  const kind = r.u8("ttl kind");
  const ms = r.u64("ms");
  if (kind >= TTL_KINDS.length) throw new DecodeError(`unknown TTL kind ${kind}`);
  return { kind: TTL_KINDS[kind], ms };
}

/** Whole seconds, rounded up (§2); for the API's second-valued options. */
export function wholeSecs(v: number, what: string): number {
  if (typeof v !== "number" || !(v >= 0) || !Number.isFinite(v)) throw new RangeError(`${what} must be a number of seconds >= 0, got ${v}`);
  return Math.ceil(v);
}

function wholeMs(v: number): number {
  if (typeof v !== "number" || !(v >= 0) || !Number.isFinite(v)) throw new RangeError(`a TTL must be a number of milliseconds >= 0, got ${v}`);
  return Math.ceil(v);
}

// --- requests (§8) -----------------------------------------------------------

export function ping(): Call<void> {
  return call(Op.PING, Tag.DONE, done);
}

export function auth(token: BytesLike): Call<void> {
  return call(Op.AUTH, Tag.DONE, done, (w) => w.bytes16(bytesOf(token)));
}

export function stats(): Call<Record<string, number>> {
  return call(Op.STATS, Tag.STATS, readStats);
}

/** CREATE: an absent timeout means the server's default, 0 means none. */
export function create(owner: BytesLike, opts: CreateOptions = {}): Call<string> {
  const rawId = opts.id === undefined ? undefined : idBytes(opts.id);
  const idle = opts.idleSecs === undefined ? undefined : wholeSecs(opts.idleSecs, "idleSecs");
  const life = opts.lifetimeSecs === undefined ? undefined : wholeSecs(opts.lifetimeSecs, "lifetimeSecs");
  const limit = opts.limit;
  let policy = 0;
  if (limit !== undefined) {
    policy = POLICIES.indexOf(limit.policy);
    if (policy < 0) throw new RangeError(`limit policy must be one of ${POLICIES.join(", ")}, not ${JSON.stringify(limit.policy)}`);
  }
  const flags = (rawId ? 1 : 0) | (idle !== undefined ? 2 : 0) | (life !== undefined ? 4 : 0) | (limit ? 8 : 0);
  return call(Op.CREATE, Tag.ID, readId, (w) => {
    w.u8(flags);
    if (rawId) w.raw(rawId);
    if (idle !== undefined) w.u32(idle);
    if (life !== undefined) w.u32(life);
    if (limit) w.u32(limit.maxSessions).u8(policy);
    w.bytes16(bytesOf(owner)).labels(opts.labels ?? {}).bytes32(bytesOf(opts.data ?? ""));
  });
}

/** GET; `touch` false reads without sliding the idle deadline (a peek). */
export function get(id: IdLike, touch = true): Call<Session> {
  const raw = idBytes(id);
  return call(Op.GET, Tag.SESSION, readSession, (w) => w.raw(raw).bool(touch));
}

export function update(id: IdLike, data: BytesLike, expectedVersion?: number): Call<number> {
  const raw = idBytes(id);
  return call(Op.UPDATE, Tag.VERSION, readU32, (w) =>
    w.raw(raw).opt(expectedVersion, (w, v) => w.u32(v)).bytes32(bytesOf(data)),
  );
}

export function touch(id: IdLike): Call<number> {
  const raw = idBytes(id);
  return call(Op.TOUCH, Tag.TIME, (r) => r.u64("time"), (w) => w.raw(raw));
}

export function del(id: IdLike): Call<boolean> {
  const raw = idBytes(id);
  return call(Op.DELETE, Tag.BOOL, readBool, (w) => w.raw(raw));
}

export function rotate(id: IdLike): Call<string> {
  const raw = idBytes(id);
  return call(Op.ROTATE, Tag.ID, readId, (w) => w.raw(raw));
}

export function list(owner: BytesLike): Call<SessionInfo[]> {
  return call(Op.LIST, Tag.LIST, readList, (w) => w.bytes16(bytesOf(owner)));
}

export function count(owner: BytesLike): Call<number> {
  return call(Op.COUNT, Tag.COUNT, readU32, (w) => w.bytes16(bytesOf(owner)));
}

export function deleteOwner(owner: BytesLike, keep?: IdLike): Call<number> {
  const rawKeep = keep === undefined ? undefined : idBytes(keep);
  return call(Op.DELETE_OWNER, Tag.COUNT, readU32, (w) => w.bytes16(bytesOf(owner)).opt(rawKeep, (w, v) => w.raw(v)));
}

/** KEY_SET; `ttlMs` absent: no TTL. */
export function keySet(key: BytesLike, value: BytesLike, ttlMs?: number): Call<void> {
  const ms = ttlMs === undefined ? undefined : wholeMs(ttlMs);
  return call(Op.KEY_SET, Tag.DONE, done, (w) => w.bytes16(bytesOf(key)).opt(ms, (w, v) => w.u64(v)).bytes32(bytesOf(value)));
}

export function keyGet(key: BytesLike): Call<Buffer | null> {
  return call(Op.KEY_GET, Tag.VALUE, (r) => (r.present("value") ? r.bytes32("value") : null), (w) => w.bytes16(bytesOf(key)));
}

export function keyDelete(key: BytesLike): Call<boolean> {
  return call(Op.KEY_DELETE, Tag.BOOL, readBool, (w) => w.bytes16(bytesOf(key)));
}

/** KEY_EXPIRE; `ttlMs` null removes the TTL, 0 deletes the key. */
export function keyExpire(key: BytesLike, ttlMs: number | null): Call<boolean> {
  const ms = ttlMs === null ? null : wholeMs(ttlMs);
  return call(Op.KEY_EXPIRE, Tag.BOOL, readBool, (w) => w.bytes16(bytesOf(key)).opt(ms, (w, v) => w.u64(v)));
}

export function keyTtl(key: BytesLike): Call<KeyTtl> {
  return call(Op.KEY_TTL, Tag.TTL, readTtl, (w) => w.bytes16(bytesOf(key)));
}

export function keyIncr(key: BytesLike, delta: number | bigint = 1): Call<bigint> {
  return call(Op.KEY_INCR, Tag.INTEGER, (r) => r.i64("integer"), (w) => w.bytes16(bytesOf(key)).i64(delta));
}

/**
 * KEY_INCR_TTL: add `delta` and give a key without a TTL (a new counter)
 * `ttlMs`, in one change, so a rate limiter's counter never lacks its window.
 */
export function keyIncrTtl(key: BytesLike, delta: number | bigint, ttlMs: number): Call<bigint> {
  const ms = wholeMs(ttlMs);
  if (ms <= 0) throw new RangeError("a counter's TTL must be positive");
  return call(Op.KEY_INCR_TTL, Tag.INTEGER, (r) => r.i64("integer"), (w) => w.bytes16(bytesOf(key)).i64(delta).u64(ms));
}

/**
 * KEY_SCAN: one step of a walk over the plain keys. Start at cursor 0 and
 * pass back each returned cursor until it comes back 0; a key present for
 * the whole walk is returned exactly once. `count` is a hint.
 */
export function keyScan(cursor: bigint | number, count: number, pattern?: BytesLike): Call<ScanPage> {
  const match = pattern === undefined ? undefined : bytesOf(pattern);
  return call(Op.KEY_SCAN, Tag.SCAN, readScan, (w) => w.u64(cursor).u32(count).opt(match, (w, v) => w.bytes16(v)));
}

/** NODE_ADD: make node `id`, whose raft endpoint is at `raftAddr`, a member of the replication group. */
export function nodeAdd(id: bigint | number, raftAddr: string): Call<void> {
  return call(Op.NODE_ADD, Tag.DONE, done, (w) => w.u64(id).str16(raftAddr));
}

/** NODE_REMOVE: take node `id` out of the replication group. */
export function nodeRemove(id: bigint | number): Call<void> {
  return call(Op.NODE_REMOVE, Tag.DONE, done, (w) => w.u64(id));
}

function readScan(r: Reader): ScanPage {
  const cursor = r.u64Big("cursor");
  const n = r.u32("key count");
  const keys: Buffer[] = [];
  for (let i = 0; i < n; i++) keys.push(r.bytes16("key"));
  return { cursor, keys };
}

/** CACHE_REGISTER's mode byte (SPEC.md §8): strict writes wait for the cache's acknowledgement. */
export const CACHE_MODES: readonly NearCacheMode[] = ["strict", "relaxed"];

/**
 * CACHE_REGISTER: make this connection a near cache's invalidation
 * connection (docs/events.md, "Near cache"). The reply gives the newest seq
 * logged (read events after it) and the server's bound in ms.
 */
export function cacheRegister(mode: NearCacheMode): Call<CacheRegistration> {
  const byte = CACHE_MODES.indexOf(mode) + 1;
  if (byte === 0) throw new RangeError(`a near cache's mode is "strict" or "relaxed", not ${JSON.stringify(mode)}`);
  return call(Op.CACHE_REGISTER, Tag.CACHE, (r) => ({ head: r.u64("head"), boundMs: r.u32("bound") }), (w) => w.u8(byte));
}
