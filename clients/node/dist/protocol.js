"use strict";
/**
 * The requests and replies of protocol version 1 (SPEC.md §5, §8–10) as
 * pure functions. A request is built as a {@link Call}: its complete frame
 * plus the function that turns the reply body into the value the API
 * returns, so that connections only move frames and hand bodies back.
 */
Object.defineProperty(exports, "__esModule", { value: true });
exports.CACHE_MODES = exports.Call = exports.TTL_KINDS = exports.POLICIES = exports.Tag = exports.Op = exports.MAX_RESPONSE = exports.VERSION = exports.MAGIC = void 0;
exports.bytesOf = bytesOf;
exports.clientHello = clientHello;
exports.parseServerHello = parseServerHello;
exports.serverHello = serverHello;
exports.parseError = parseError;
exports.call = call;
exports.wholeSecs = wholeSecs;
exports.ping = ping;
exports.auth = auth;
exports.stats = stats;
exports.create = create;
exports.get = get;
exports.update = update;
exports.touch = touch;
exports.del = del;
exports.rotate = rotate;
exports.list = list;
exports.count = count;
exports.deleteOwner = deleteOwner;
exports.keySet = keySet;
exports.keyGet = keyGet;
exports.keyDelete = keyDelete;
exports.keyExpire = keyExpire;
exports.keyTtl = keyTtl;
exports.keyIncr = keyIncr;
exports.keyIncrTtl = keyIncrTtl;
exports.keyScan = keyScan;
exports.nodeAdd = nodeAdd;
exports.nodeRemove = nodeRemove;
exports.cacheRegister = cacheRegister;
const codec_1 = require("./codec");
const errors_1 = require("./errors");
const ids_1 = require("./ids");
exports.MAGIC = Buffer.from("SSND", "latin1");
exports.VERSION = 1;
/** The largest response body accepted (SPEC.md §6: at least 256 MiB). */
exports.MAX_RESPONSE = 256 * 1024 * 1024;
exports.Op = {
    PING: 0x01, AUTH: 0x02, STATS: 0x03,
    CREATE: 0x10, GET: 0x11, UPDATE: 0x12, TOUCH: 0x13, DELETE: 0x14, ROTATE: 0x15,
    LIST: 0x16, COUNT: 0x17, DELETE_OWNER: 0x18,
    KEY_SET: 0x20, KEY_GET: 0x21, KEY_DELETE: 0x22, KEY_EXPIRE: 0x23, KEY_TTL: 0x24, KEY_INCR: 0x25,
    KEY_SCAN: 0x26, NODE_ADD: 0x27, NODE_REMOVE: 0x28, KEY_INCR_TTL: 0x29,
    EVENTS_READ: 0x2a, DELETE_NOTED: 0x2b, DELETE_OWNER_NOTED: 0x2c, CACHE_REGISTER: 0x2d,
};
exports.Tag = {
    DONE: 0x00, ID: 0x01, SESSION: 0x02, VERSION: 0x03, TIME: 0x04, BOOL: 0x05,
    LIST: 0x06, COUNT: 0x07, VALUE: 0x08, TTL: 0x09, INTEGER: 0x0a, STATS: 0x0b,
    SCAN: 0x0c, EVENTS: 0x0d, CACHE: 0x0e,
};
exports.POLICIES = ["none", "reject", "evict_oldest"];
exports.TTL_KINDS = ["missing", "persistent", "expires"];
/** Owners, keys, tokens and data: strings go as UTF-8. */
function bytesOf(v) {
    return typeof v === "string" ? Buffer.from(v, "utf8") : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}
// --- handshake (§5) ----------------------------------------------------------
function clientHello(version = exports.VERSION) {
    const b = Buffer.alloc(8);
    exports.MAGIC.copy(b);
    b.writeUInt16BE(version, 4);
    return b;
}
/** Decode the 16-byte server hello; refuse what a v1 client must refuse. */
function parseServerHello(data) {
    if (data.length !== 16 || !data.subarray(0, 4).equals(exports.MAGIC)) {
        throw new errors_1.ProtocolError("the server did not answer with a sessiond hello");
    }
    const version = data.readUInt16BE(4);
    const flags = data.readUInt16BE(6);
    if (version !== exports.VERSION)
        throw new errors_1.ProtocolError(`the server chose protocol version ${version}; this client speaks ${exports.VERSION}`);
    if (flags & ~1)
        throw new errors_1.ProtocolError(`unknown handshake flags 0x${flags.toString(16).padStart(4, "0")}`);
    return { version, authRequired: (flags & 1) === 1, maxFrame: data.readUInt32BE(8) };
}
function serverHello(hello) {
    const b = Buffer.alloc(16);
    exports.MAGIC.copy(b);
    b.writeUInt16BE(hello.version, 4);
    b.writeUInt16BE(hello.authRequired ? 1 : 0, 6);
    b.writeUInt32BE(hello.maxFrame, 8);
    return b;
}
// --- responses (§9, §10) -----------------------------------------------------
/** The error for an error body whose code byte has been read. */
function parseError(code, r) {
    const message = r.str16("message");
    const cls = errors_1.ERROR_CLASSES.get(code);
    // An unknown code's detail fields are unknowable: stop at the message (§10).
    if (cls === undefined)
        return new errors_1.UnknownError(message, {}, code);
    const details = {};
    for (const [name, kind] of cls.fields)
        details[name] = r[kind](name);
    r.end();
    return new cls(message, details);
}
/** One request: its frame and how to read its reply. */
class Call {
    frame;
    tag;
    read;
    waitMs;
    constructor(frame, tag, read, 
    /** Milliseconds the server may hold the request (an EVENTS_READ's wait), beyond the request timeout. */
    waitMs = 0) {
        this.frame = frame;
        this.tag = tag;
        this.read = read;
        this.waitMs = waitMs;
    }
    /** The request body's length (what `max frame` bounds). */
    get bodyLength() {
        return this.frame.length - 4;
    }
    /**
     * The reply's value; throws the server's error for an error response and
     * ProtocolError for a body that breaks the protocol (wrong tag, bad bytes).
     */
    parse(body) {
        const r = new codec_1.Reader(body);
        let tag;
        try {
            const status = r.u8("status");
            if (status !== 0)
                throw parseError(status, r);
            tag = r.u8("reply tag");
        }
        catch (e) {
            if (e instanceof codec_1.DecodeError)
                throw new errors_1.ProtocolError(`undecodable response: ${e.message}`);
            throw e;
        }
        if (tag !== this.tag)
            throw new errors_1.ProtocolError(`expected reply tag 0x${hex(this.tag)}, got 0x${hex(tag)}`);
        try {
            const value = this.read(r);
            r.end();
            return value;
        }
        catch (e) {
            if (e instanceof codec_1.DecodeError)
                throw new errors_1.ProtocolError(`undecodable reply: ${e.message}`);
            throw e;
        }
    }
}
exports.Call = Call;
function hex(n) {
    return n.toString(16).padStart(2, "0");
}
function call(op, tag, read, build) {
    const w = new codec_1.Writer().u8(op);
    build?.(w);
    return new Call(w.frame(), tag, read);
}
const done = () => undefined;
const readId = (r) => r.id();
const readU32 = (r) => r.u32();
const readBool = (r) => r.bool();
function readSession(r) {
    const owner = r.bytes16("owner");
    const data = r.bytes32("data");
    return { owner, data, info: r.info() };
}
function readList(r) {
    const out = [];
    for (let n = r.u32("count"); n > 0; n--)
        out.push(r.info());
    return out;
}
function readStats(r) {
    const out = {};
    for (let n = r.u16("count"); n > 0; n--) {
        const name = r.str8("name");
        out[name] = r.u64(name);
    }
    return out;
}
function readTtl(r) {
    const kind = r.u8("ttl kind");
    const ms = r.u64("ms");
    if (kind >= exports.TTL_KINDS.length)
        throw new codec_1.DecodeError(`unknown TTL kind ${kind}`);
    return { kind: exports.TTL_KINDS[kind], ms };
}
/** Whole seconds, rounded up (§2); for the API's second-valued options. */
function wholeSecs(v, what) {
    if (typeof v !== "number" || !(v >= 0) || !Number.isFinite(v))
        throw new RangeError(`${what} must be a number of seconds >= 0, got ${v}`);
    return Math.ceil(v);
}
function wholeMs(v) {
    if (typeof v !== "number" || !(v >= 0) || !Number.isFinite(v))
        throw new RangeError(`a TTL must be a number of milliseconds >= 0, got ${v}`);
    return Math.ceil(v);
}
// --- requests (§8) -----------------------------------------------------------
function ping() {
    return call(exports.Op.PING, exports.Tag.DONE, done);
}
function auth(token) {
    return call(exports.Op.AUTH, exports.Tag.DONE, done, (w) => w.bytes16(bytesOf(token)));
}
function stats() {
    return call(exports.Op.STATS, exports.Tag.STATS, readStats);
}
/** CREATE: an absent timeout means the server's default, 0 means none. */
function create(owner, opts = {}) {
    const rawId = opts.id === undefined ? undefined : (0, ids_1.idBytes)(opts.id);
    const idle = opts.idleSecs === undefined ? undefined : wholeSecs(opts.idleSecs, "idleSecs");
    const life = opts.lifetimeSecs === undefined ? undefined : wholeSecs(opts.lifetimeSecs, "lifetimeSecs");
    const limit = opts.limit;
    let policy = 0;
    if (limit !== undefined) {
        policy = exports.POLICIES.indexOf(limit.policy);
        if (policy < 0)
            throw new RangeError(`limit policy must be one of ${exports.POLICIES.join(", ")}, not ${JSON.stringify(limit.policy)}`);
    }
    const flags = (rawId ? 1 : 0) | (idle !== undefined ? 2 : 0) | (life !== undefined ? 4 : 0) | (limit ? 8 : 0);
    return call(exports.Op.CREATE, exports.Tag.ID, readId, (w) => {
        w.u8(flags);
        if (rawId)
            w.raw(rawId);
        if (idle !== undefined)
            w.u32(idle);
        if (life !== undefined)
            w.u32(life);
        if (limit)
            w.u32(limit.maxSessions).u8(policy);
        w.bytes16(bytesOf(owner)).labels(opts.labels ?? {}).bytes32(bytesOf(opts.data ?? ""));
    });
}
/** GET; `touch` false reads without sliding the idle deadline (a peek). */
function get(id, touch = true) {
    const raw = (0, ids_1.idBytes)(id);
    return call(exports.Op.GET, exports.Tag.SESSION, readSession, (w) => w.raw(raw).bool(touch));
}
function update(id, data, expectedVersion) {
    const raw = (0, ids_1.idBytes)(id);
    return call(exports.Op.UPDATE, exports.Tag.VERSION, readU32, (w) => w.raw(raw).opt(expectedVersion, (w, v) => w.u32(v)).bytes32(bytesOf(data)));
}
function touch(id) {
    const raw = (0, ids_1.idBytes)(id);
    return call(exports.Op.TOUCH, exports.Tag.TIME, (r) => r.u64("time"), (w) => w.raw(raw));
}
function del(id) {
    const raw = (0, ids_1.idBytes)(id);
    return call(exports.Op.DELETE, exports.Tag.BOOL, readBool, (w) => w.raw(raw));
}
function rotate(id) {
    const raw = (0, ids_1.idBytes)(id);
    return call(exports.Op.ROTATE, exports.Tag.ID, readId, (w) => w.raw(raw));
}
function list(owner) {
    return call(exports.Op.LIST, exports.Tag.LIST, readList, (w) => w.bytes16(bytesOf(owner)));
}
function count(owner) {
    return call(exports.Op.COUNT, exports.Tag.COUNT, readU32, (w) => w.bytes16(bytesOf(owner)));
}
function deleteOwner(owner, keep) {
    const rawKeep = keep === undefined ? undefined : (0, ids_1.idBytes)(keep);
    return call(exports.Op.DELETE_OWNER, exports.Tag.COUNT, readU32, (w) => w.bytes16(bytesOf(owner)).opt(rawKeep, (w, v) => w.raw(v)));
}
/** KEY_SET; `ttlMs` absent: no TTL. */
function keySet(key, value, ttlMs) {
    const ms = ttlMs === undefined ? undefined : wholeMs(ttlMs);
    return call(exports.Op.KEY_SET, exports.Tag.DONE, done, (w) => w.bytes16(bytesOf(key)).opt(ms, (w, v) => w.u64(v)).bytes32(bytesOf(value)));
}
function keyGet(key) {
    return call(exports.Op.KEY_GET, exports.Tag.VALUE, (r) => (r.present("value") ? r.bytes32("value") : null), (w) => w.bytes16(bytesOf(key)));
}
function keyDelete(key) {
    return call(exports.Op.KEY_DELETE, exports.Tag.BOOL, readBool, (w) => w.bytes16(bytesOf(key)));
}
/** KEY_EXPIRE; `ttlMs` null removes the TTL, 0 deletes the key. */
function keyExpire(key, ttlMs) {
    const ms = ttlMs === null ? null : wholeMs(ttlMs);
    return call(exports.Op.KEY_EXPIRE, exports.Tag.BOOL, readBool, (w) => w.bytes16(bytesOf(key)).opt(ms, (w, v) => w.u64(v)));
}
function keyTtl(key) {
    return call(exports.Op.KEY_TTL, exports.Tag.TTL, readTtl, (w) => w.bytes16(bytesOf(key)));
}
function keyIncr(key, delta = 1) {
    return call(exports.Op.KEY_INCR, exports.Tag.INTEGER, (r) => r.i64("integer"), (w) => w.bytes16(bytesOf(key)).i64(delta));
}
/**
 * KEY_INCR_TTL: add `delta` and give a key without a TTL (a new counter)
 * `ttlMs`, in one change, so a rate limiter's counter never lacks its window.
 */
function keyIncrTtl(key, delta, ttlMs) {
    const ms = wholeMs(ttlMs);
    if (ms <= 0)
        throw new RangeError("a counter's TTL must be positive");
    return call(exports.Op.KEY_INCR_TTL, exports.Tag.INTEGER, (r) => r.i64("integer"), (w) => w.bytes16(bytesOf(key)).i64(delta).u64(ms));
}
/**
 * KEY_SCAN: one step of a walk over the plain keys. Start at cursor 0 and
 * pass back each returned cursor until it comes back 0; a key present for
 * the whole walk is returned exactly once. `count` is a hint.
 */
function keyScan(cursor, count, pattern) {
    const match = pattern === undefined ? undefined : bytesOf(pattern);
    return call(exports.Op.KEY_SCAN, exports.Tag.SCAN, readScan, (w) => w.u64(cursor).u32(count).opt(match, (w, v) => w.bytes16(v)));
}
/** NODE_ADD: make node `id`, whose raft endpoint is at `raftAddr`, a member of the replication group. */
function nodeAdd(id, raftAddr) {
    return call(exports.Op.NODE_ADD, exports.Tag.DONE, done, (w) => w.u64(id).str16(raftAddr));
}
/** NODE_REMOVE: take node `id` out of the replication group. */
function nodeRemove(id) {
    return call(exports.Op.NODE_REMOVE, exports.Tag.DONE, done, (w) => w.u64(id));
}
function readScan(r) {
    const cursor = r.u64Big("cursor");
    const n = r.u32("key count");
    const keys = [];
    for (let i = 0; i < n; i++)
        keys.push(r.bytes16("key"));
    return { cursor, keys };
}
/** CACHE_REGISTER's mode byte (SPEC.md §8): strict writes wait for the cache's acknowledgement. */
exports.CACHE_MODES = ["strict", "relaxed"];
/**
 * CACHE_REGISTER: make this connection a near cache's invalidation
 * connection (docs/events.md, "Near cache"). The reply gives the newest seq
 * logged (read events after it) and the server's bound in ms.
 */
function cacheRegister(mode) {
    const byte = exports.CACHE_MODES.indexOf(mode) + 1;
    if (byte === 0)
        throw new RangeError(`a near cache's mode is "strict" or "relaxed", not ${JSON.stringify(mode)}`);
    return call(exports.Op.CACHE_REGISTER, exports.Tag.CACHE, (r) => ({ head: r.u64("head"), boundMs: r.u32("bound") }), (w) => w.u8(byte));
}
