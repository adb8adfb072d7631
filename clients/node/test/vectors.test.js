"use strict";
// Every golden vector of protocol/vectors/v1.json, byte for byte, in both directions.

const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { test: nodeTest } = require("node:test");

const test = (name, fn) => nodeTest(name, { timeout: 60_000 }, fn);

const sessiond = require("sessiond");
const { protocol: p, events: ev, ERROR_CLASSES, ServerError, UnknownError, ProtocolError } = sessiond;
const { Writer, Reader, DecodeError } = require("../dist/codec");
const { decodeRequest, encodeOk, encodeError, UnknownOpcode } = require("../dist/server-codec");
const { REPO } = require("./helpers/daemon");

const VECTORS = JSON.parse(fs.readFileSync(path.join(REPO, "protocol", "vectors", "v1.json"), "utf8")).vectors;
const ofKind = (kind) => VECTORS.filter((v) => v.kind === kind);
const h = (x) => Buffer.from(x, "hex");

test("the file has every kind of vector", () => {
  assert.deepEqual(new Set(VECTORS.map((v) => v.kind)), new Set(["request", "response", "client_hello", "server_hello", "bad_request"]));
  assert.ok(ofKind("request").length >= 28 && ofKind("response").length >= 40, "fewer vectors than expected");
});

/** The API call the vector's fields describe. */
function buildRequest(f) {
  switch (f.op) {
    case "ping": return p.ping();
    case "auth": return p.auth(h(f.token_hex));
    case "stats": return p.stats();
    case "create": {
      const opts = { data: h(f.data_hex), labels: Object.fromEntries(f.labels) };
      if (f.id !== null) opts.id = f.id;
      if (f.idle_secs !== null) opts.idleSecs = f.idle_secs;
      if (f.absolute_secs !== null) opts.lifetimeSecs = f.absolute_secs;
      if (f.limit !== null) opts.limit = { maxSessions: f.limit.max_sessions, policy: f.limit.policy };
      return p.create(h(f.owner_hex), opts);
    }
    case "get": return p.get(f.id, f.touch);
    case "update": return p.update(f.id, h(f.data_hex), f.expected_version ?? undefined);
    case "touch": return p.touch(f.id);
    case "delete": return p.del(f.id);
    case "rotate": return p.rotate(f.id);
    case "list": return p.list(h(f.owner_hex));
    case "count": return p.count(h(f.owner_hex));
    case "delete_owner": return p.deleteOwner(h(f.owner_hex), f.keep ?? undefined);
    case "key_set": return p.keySet(h(f.key_hex), h(f.value_hex), f.ttl_ms ?? undefined);
    case "key_get": return p.keyGet(h(f.key_hex));
    case "key_delete": return p.keyDelete(h(f.key_hex));
    case "key_expire": return p.keyExpire(h(f.key_hex), f.ttl_ms);
    case "key_ttl": return p.keyTtl(h(f.key_hex));
    case "key_incr": return p.keyIncr(h(f.key_hex), f.delta);
    case "key_incr_ttl": return p.keyIncrTtl(h(f.key_hex), f.delta, f.ttl_ms);
    case "key_scan": return p.keyScan(f.cursor, f.count, f.pattern_hex === null ? undefined : h(f.pattern_hex));
    case "node_add": return p.nodeAdd(f.id, f.raft_addr);
    case "node_remove": return p.nodeRemove(f.id);
    case "events_read": return ev.eventsRead(f.after, f.max, f.timeout_ms);
    case "delete_noted": return ev.deleteNoted(f.id, h(f.note_hex));
    case "delete_owner_noted": return ev.deleteOwnerNoted(h(f.owner_hex), f.keep ?? undefined, h(f.note_hex));
    case "cache_register": return p.cacheRegister(p.CACHE_MODES[f.mode - 1]);
    default: throw new Error(`no builder for ${f.op}`);
  }
}

/** Our decoder's output in the vector file's JSON shape. */
function asJson(decoded) {
  const out = {};
  for (const [k, v] of Object.entries(decoded)) {
    if (Buffer.isBuffer(v)) out[`${k}_hex`] = v.toString("hex");
    else if (typeof v === "bigint") out[k] = Number(v);
    else out[k] = v;
  }
  return out;
}

for (const v of ofKind("request")) {
  test(`request ${v.name} encodes and decodes`, () => {
    const frame = h(v.hex);
    assert.equal(buildRequest(v.fields).frame.toString("hex"), v.hex);
    assert.deepEqual(asJson(decodeRequest(frame.subarray(4))), v.fields);
  });
}

const infoJson = (i) => ({
  id: i.id, created: i.created, last_seen: i.lastSeen, idle_secs: i.idleSecs,
  absolute_deadline: i.absoluteDeadline, expires_at: i.expiresAt, version: i.version,
  labels: Object.entries(i.labels),
});
const infoOf = (j) => ({
  id: j.id, created: j.created, lastSeen: j.last_seen, idleSecs: j.idle_secs,
  absoluteDeadline: j.absolute_deadline, expiresAt: j.expires_at, version: j.version,
  labels: Object.fromEntries(j.labels),
});
const ZERO_ID = Buffer.alloc(16);
const eventJson = (e) => ({
  seq: e.seq, at_ms: e.atMs, kind: e.kind, reason: e.reason, id: e.id, new_id: e.newId,
  owner_hex: e.owner.toString("hex"), labels: Object.entries(e.labels), note_hex: e.note === null ? null : e.note.toString("hex"),
});
const eventOf = (j) => ({
  seq: j.seq, atMs: j.at_ms, kind: j.kind, reason: j.reason, id: j.id, newId: j.new_id,
  owner: h(j.owner_hex), labels: Object.fromEntries(j.labels), note: j.note_hex === null ? null : h(j.note_hex),
});

// reply name -> [a call reading it, value -> JSON fields, (JSON fields, writer) -> bytes]
const REPLIES = {
  done: [p.ping(), () => ({}), () => {}],
  id: [p.rotate(ZERO_ID), (x) => ({ id: x }), (f, w) => w.id(f.id)],
  session: [
    p.get(ZERO_ID),
    (s) => ({ owner_hex: s.owner.toString("hex"), data_hex: s.data.toString("hex"), info: infoJson(s.info) }),
    (f, w) => w.bytes16(h(f.owner_hex)).bytes32(h(f.data_hex)).info(infoOf(f.info)),
  ],
  version: [p.update(ZERO_ID, ""), (x) => ({ version: x }), (f, w) => w.u32(f.version)],
  time: [p.touch(ZERO_ID), (x) => ({ time: x }), (f, w) => w.u64(f.time)],
  bool: [p.del(ZERO_ID), (x) => ({ value: x }), (f, w) => w.bool(f.value)],
  list: [
    p.list("o"),
    (xs) => ({ sessions: xs.map(infoJson) }),
    (f, w) => { w.u32(f.sessions.length); for (const i of f.sessions) w.info(infoOf(i)); },
  ],
  count: [p.count("o"), (x) => ({ count: x }), (f, w) => w.u32(f.count)],
  value: [
    p.keyGet("k"),
    (x) => ({ value_hex: x === null ? null : x.toString("hex") }),
    (f, w) => w.opt(f.value_hex === null ? null : h(f.value_hex), (w, b) => w.bytes32(b)),
  ],
  ttl: [p.keyTtl("k"), (t) => ({ kind: t.kind, ms: t.ms }), (f, w) => w.u8(p.TTL_KINDS.indexOf(f.kind)).u64(f.ms)],
  integer: [p.keyIncr("k"), (x) => ({ value: Number(x) }), (f, w) => w.i64(f.value)],
  scan: [
    p.keyScan(0, 1),
    (page) => ({ cursor: Number(page.cursor), keys_hex: page.keys.map((k) => k.toString("hex")) }),
    (f, w) => { w.u64(f.cursor).u32(f.keys_hex.length); for (const k of f.keys_hex) w.bytes16(h(k)); },
  ],
  events: [
    ev.eventsRead(0),
    (xs) => ({ events: xs.map(eventJson) }),
    (f, w) => { w.u32(f.events.length); for (const e of f.events) ev.writeEvent(w, eventOf(e)); },
  ],
  cache: [p.cacheRegister("strict"), (c) => ({ head: c.head, bound_ms: c.boundMs }), (f, w) => w.u64(f.head).u32(f.bound_ms)],
  stats: [
    p.stats(),
    (d) => ({ stats: Object.entries(d) }),
    (f, w) => { w.u16(f.stats.length); for (const [n, x] of f.stats) w.str8(n).u64(x); },
  ],
};

for (const v of ofKind("response")) {
  test(`response ${v.name} decodes and encodes`, () => {
    const frame = h(v.hex);
    const f = v.fields;
    if (f.status === "ok") {
      const [call, toJson, build] = REPLIES[f.reply];
      assert.equal(call.tag, frame[5]);
      const { status, reply, ...expected } = f;
      assert.deepEqual(toJson(call.parse(frame.subarray(4))), expected);
      assert.equal(encodeOk(call.tag, (w) => build(f, w)).toString("hex"), v.hex);
    } else {
      const cls = ERROR_CLASSES.get(f.code_value);
      assert.ok(cls, `no class for ${f.code}`);
      const err = captured(() => p.ping().parse(frame.subarray(4)));
      assert.ok(err instanceof ServerError);
      assert.equal(err.constructor, cls);
      assert.equal(err.codeName, f.code);
      assert.equal(cls.codeName, f.code);
      assert.equal(err.code, f.code_value);
      assert.equal(err.message, f.message);
      const { status, code, code_value, message, ...detail } = f;
      assert.deepEqual({ ...err.details }, detail);
      for (const [k, x] of Object.entries(detail)) assert.equal(err[k], x, k);
      assert.equal(encodeError(err).toString("hex"), v.hex);
    }
  });
}

/** The error `fn` throws (assert.throws returns nothing). */
function captured(fn) {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error("did not throw");
}

test("every error code of SPEC.md §10 has its class and a vector", () => {
  const spec = fs.readFileSync(path.join(REPO, "protocol", "SPEC.md"), "utf8");
  const section = spec.slice(spec.indexOf("## 10. Errors"), spec.indexOf("## 11."));
  const rows = [...section.matchAll(/^\| (\d+) \| ([A-Z_]+) \|/gm)].map((m) => [Number(m[1]), m[2]]);
  assert.ok(rows.length >= 23, `parsed only ${rows.length} codes from SPEC.md`);
  for (const [code, name] of rows) {
    const cls = ERROR_CLASSES.get(code);
    assert.ok(cls, `no class for ${name} (${code})`);
    assert.equal(cls.codeName, name);
    // The class is exported under its CamelCase name.
    const camel = name.toLowerCase().replace(/(^|_)([a-z])/g, (_, __, c) => c.toUpperCase());
    assert.equal(sessiond[camel], cls, `sessiond.${camel}`);
  }
  assert.equal(ERROR_CLASSES.size, rows.length);
  const vectorCodes = new Set(ofKind("response").filter((v) => v.fields.status === "error").map((v) => v.fields.code_value));
  assert.deepEqual(vectorCodes, new Set(ERROR_CLASSES.keys()));
});

test("every reply tag has a vector", () => {
  const tags = new Set(ofKind("response").filter((v) => v.fields.status === "ok").map((v) => v.fields.reply));
  assert.deepEqual(tags, new Set(Object.keys(REPLIES)));
});

for (const v of ofKind("client_hello")) {
  test(`client hello ${v.name}`, () => assert.equal(p.clientHello(v.fields.version).toString("hex"), v.hex));
}

for (const v of ofKind("server_hello")) {
  test(`server hello ${v.name}`, () => {
    const hello = p.parseServerHello(h(v.hex));
    assert.deepEqual(hello, { version: v.fields.version, authRequired: v.fields.auth_required, maxFrame: v.fields.max_frame });
    assert.equal(p.serverHello(hello).toString("hex"), v.hex);
  });
}

test("a server hello with an unknown flag is refused", () => {
  assert.throws(() => p.parseServerHello(h("53534e44000100030020000000000000")), ProtocolError);
});

for (const v of ofKind("bad_request")) {
  test(`bad request ${v.name} is refused as ${v.error}`, () => {
    const expected = { UNKNOWN_OP: UnknownOpcode, MALFORMED: DecodeError }[v.error];
    assert.ok(expected, v.error);
    assert.throws(() => decodeRequest(h(v.hex)), (e) => e.constructor === expected);
  });
}

test("an unknown error code is still an error, with its message", () => {
  const body = new Writer().u8(99).str16("future error").raw(Buffer.from([1, 2])).body();
  const err = captured(() => p.ping().parse(body));
  assert.ok(err instanceof UnknownError);
  assert.equal(err.code, 99);
  assert.equal(err.message, "future error");
});

test("a reply with the wrong tag or surplus bytes is a ProtocolError", () => {
  assert.throws(() => p.ping().parse(Buffer.from([0, 5, 1])), ProtocolError);
  assert.throws(() => p.ping().parse(Buffer.from([0, 0, 1])), /surplus/);
  assert.throws(() => p.count("o").parse(Buffer.from([0, 7, 0])), /truncated/);
});

test("id text form (SPEC.md §1)", () => {
  const raw = Buffer.from("000102030405060708090a0b0c0d0eff", "hex");
  assert.equal(sessiond.idToText(raw), "AAECAwQFBgcICQoLDA0O_w");
  assert.deepEqual(sessiond.idFromText("AAECAwQFBgcICQoLDA0O_w"), raw);
  assert.equal(sessiond.routingSlot(raw), 0);
  for (const bad of ["AAECAwQFBgcICQoLDA0O_x", "AAECAwQFBgcICQoLDA0O_", "AAECAwQFBgcICQoLDA0O+w", "AAECAwQFBgcICQoLDA0O_w=", "AAECAwQFBgcICQoLDA0O_w "]) {
    assert.throws(() => sessiond.idFromText(bad), RangeError, bad);
    assert.equal(sessiond.isSessionId(bad), false, bad);
  }
  const fresh = new Set(Array.from({ length: 100 }, () => sessiond.generateSessionId()));
  assert.equal(fresh.size, 100);
  for (const id of fresh) assert.equal(sessiond.idToText(sessiond.idFromText(id)), id);
});

test("the frame reader joins split frames and refuses a zero length", () => {
  const { FrameReader } = require("../dist/codec");
  const frames = Buffer.concat([p.ping().frame, p.count("abc").frame]);
  const r = new FrameReader(1024);
  const bodies = [];
  for (const byte of frames) {
    r.push(Buffer.from([byte]));
    for (let b = r.next(); b; b = r.next()) bodies.push(b.toString("hex"));
  }
  assert.deepEqual(bodies, [p.ping().frame.subarray(4).toString("hex"), p.count("abc").frame.subarray(4).toString("hex")]);
  r.push(Buffer.from([0, 0, 0, 0]));
  assert.throws(() => r.next(), DecodeError);
  const reader = new Reader(Buffer.from([0, 1]));
  reader.u8();
  assert.throws(() => reader.end(), DecodeError);
});
