"use strict";
// The near cache's rules without a server: the LRU's bounds, the lease, the
// epoch that keeps an overtaken answer out, what a gap, a lost connection
// and the client's own writes drop; the CACHE_REGISTER codec; and the loop
// against a fake server (reconnect, EVENTS_GAP), which a live daemon cannot
// be made to show on demand.

const assert = require("node:assert/strict");
const net = require("node:net");
const { test: nodeTest } = require("node:test");

const test = (name, fn) => nodeTest(name, { timeout: 60_000 }, fn);

const sessiond = require("sessiond");
const { protocol: p, Client, ClientError, NotFound } = sessiond;
const { Lru, CacheState, sizeOf, resolveNearCacheOptions } = require("../dist/near-cache");
const { decodeRequest, encodeOk, encodeError } = require("../dist/server-codec");
const { DecodeError, FrameReader } = require("../dist/codec");
const { writeEvent } = require("../dist/events");
const { sleep } = require("./helpers/daemon");

const FAR = 4_000_000_000; // an expires-at (Unix seconds) far ahead
const NOW = Date.parse("2026-12-03T12:00:00Z");

function session({ owner = "user:1", data = "d", labels = {}, expiresAt = FAR, id = sessiond.generateSessionId() } = {}) {
  return {
    owner: Buffer.from(owner),
    data: Buffer.from(data),
    info: { id, created: 1, lastSeen: 1, idleSecs: 60, absoluteDeadline: null, expiresAt, version: 1, labels },
  };
}

function event(seq, kind, id, newId = null) {
  return { seq, atMs: NOW, kind, reason: kind === "ended" ? "deleted" : null, id, newId, owner: Buffer.from("o"), labels: {}, note: null };
}

const ids = (n) => Array.from({ length: n }, () => sessiond.generateSessionId());

test("an entry counts its data, owner and labels", () => {
  assert.equal(sizeOf(session({ owner: "ab", data: "cde", labels: { k: "vv", é: "x" } })), 2 + 3 + 1 + 2 + 2 + 1);
});

test("the LRU keeps within its entry bound, least recently used out first", () => {
  const lru = new Lru(3, 1 << 20);
  const [a, b, c, d] = ids(4);
  for (const id of [a, b, c]) assert.equal(lru.put(id, session({ id })), true);
  assert.ok(lru.use(a), "a is now the most recent");
  lru.put(d, session({ id: d }));
  assert.equal(lru.size, 3);
  assert.equal(lru.evictions, 1);
  assert.equal(lru.peek(b), undefined, "b was the least recently used");
  for (const id of [a, c, d]) assert.ok(lru.peek(id), id);
});

test("the LRU keeps within its byte bound; a session larger than the bound is not kept", () => {
  const lru = new Lru(100, 100);
  const [a, b, c, big] = ids(4);
  lru.put(a, session({ data: "x".repeat(40), owner: "o" }));
  lru.put(b, session({ data: "x".repeat(40), owner: "o" }));
  assert.equal(lru.bytes, 82);
  lru.put(c, session({ data: "x".repeat(40), owner: "o" }));
  assert.deepEqual([lru.size, lru.bytes, lru.evictions], [2, 82, 1]);
  assert.equal(lru.peek(a), undefined);
  assert.equal(lru.put(big, session({ data: "x".repeat(100), owner: "o" })), false);
  assert.deepEqual([lru.size, lru.bytes], [2, 82], "a refused entry evicts nothing");
  // Replacing an entry counts its new size only.
  lru.put(b, session({ data: "", owner: "o" }));
  assert.deepEqual([lru.size, lru.bytes], [2, 42]);
});

test("the LRU's owner index drops an owner's entries and no other", () => {
  const lru = new Lru(100, 1 << 20);
  const [a, b, c] = ids(3);
  lru.put(a, session({ owner: "user:1" }));
  lru.put(b, session({ owner: "user:1" }));
  lru.put(c, session({ owner: "user:2" }));
  assert.equal(lru.deleteOwner(Buffer.from("user:1")), 2);
  assert.equal(lru.deleteOwner(Buffer.from("user:1")), 0);
  assert.deepEqual([lru.size, lru.bytes], [1, sizeOf(session({ owner: "user:2" }))]);
  assert.ok(lru.peek(c));
  // Owners are bytes: two that differ only past UTF-8 are two owners.
  const [d, e] = ids(2);
  lru.put(d, { ...session(), owner: Buffer.from([0xff, 0x01]) });
  lru.put(e, { ...session(), owner: Buffer.from([0xfe, 0x01]) });
  assert.equal(lru.deleteOwner(Buffer.from([0xff, 0x01])), 1);
  assert.ok(lru.peek(e));
  assert.equal(lru.clear(), 2);
  assert.deepEqual([lru.size, lru.bytes], [0, 0]);
});

/** A state registered at time 0 with `bound` ms and head 10. */
function registered(bound = 1000) {
  const s = new CacheState(100, 1 << 20);
  s.registered(0, { head: 10, boundMs: bound });
  return s;
}

test("a hit only while the lease runs: sent + bound of the latest answer handled", () => {
  const s = registered(1000);
  const [a] = ids(1);
  assert.equal(s.fill(s.ticket(), a, session()), true);
  assert.ok(s.lookup(a, 999, NOW), "inside the lease from the registration");
  assert.equal(s.lookup(a, 1000, NOW), undefined, "not at sent + bound");
  assert.ok(s.lru.peek(a), "an entry out of lease is kept for when the lease is renewed");
  s.applied(600, []); // an EVENTS_READ sent at 600 answered with nothing
  assert.equal(s.after, 10);
  assert.ok(s.lookup(a, 1599, NOW));
  assert.equal(s.lookup(a, 1600, NOW), undefined);
  assert.deepEqual([s.stats().hits, s.stats().misses], [2, 2]);
});

test("an entry past its session's expires-at is never served", () => {
  const s = registered();
  const [a] = ids(1);
  const expiresAt = Math.floor(NOW / 1000);
  s.fill(s.ticket(), a, session({ expiresAt }));
  assert.ok(s.lookup(a, 1, expiresAt * 1000 + 999), "alive through its expires-at second, as the server keeps it");
  assert.equal(s.lookup(a, 1, (expiresAt + 1) * 1000), undefined);
  assert.equal(s.lru.peek(a), undefined, "and dropped");
  // A touch's answer moves it on, never back.
  const [b] = ids(1);
  s.fill(s.ticket(), b, session({ expiresAt }));
  s.refresh(b, expiresAt + 5);
  s.refresh(b, expiresAt + 2);
  assert.equal(s.lru.peek(b).info.expiresAt, expiresAt + 5);
  assert.ok(s.lookup(b, 1, (expiresAt + 3) * 1000));
});

test("events drop their ids (a rotation's new id too) and move the epoch; a miss overtaken by one is not kept", () => {
  const s = registered();
  const [a, b, c, fresh] = ids(4);
  for (const id of [a, b, c]) s.fill(s.ticket(), id, session());
  const ticket = s.ticket(); // a miss for `fresh` goes out
  s.applied(100, [event(11, "ended", a), event(12, "rotated", b, c)]);
  assert.equal(s.after, 12);
  for (const id of [a, b, c]) assert.equal(s.lru.peek(id), undefined, id);
  assert.equal(s.stats().invalidations, 3);
  assert.equal(s.fill(ticket, fresh, session()), false, "its answer may predate the events");
  assert.equal(s.fill(s.ticket(), fresh, session()), true);
});

test("nothing read while no registration holds is kept, even once one does", () => {
  const s = new CacheState(100, 1 << 20);
  const [a] = ids(1);
  const before = s.ticket();
  assert.equal(before, -1);
  s.registered(0, { head: 5, boundMs: 1000 });
  assert.equal(s.fill(before, a, session()), false, "its GET may have been served before the head the cache reads from");
  assert.equal(s.lookup(a, 1, NOW), undefined);
});

test("a lost connection drops everything, ends the lease, counts a reset, and voids the misses out", () => {
  const s = registered();
  const [a, b] = ids(2);
  s.fill(s.ticket(), a, session());
  const ticket = s.ticket();
  s.lost(true);
  assert.deepEqual([s.live, s.lease, s.stats().entries, s.stats().bytes, s.stats().resets], [false, 0, 0, 0, 1]);
  assert.equal(s.fill(ticket, b, session()), false);
  s.lost(true);
  assert.equal(s.stats().resets, 1, "a connection that never registered is no reset");
  s.registered(5000, { head: 20, boundMs: 300 });
  assert.deepEqual([s.after, s.lease], [20, 5300]);
});

test("EVENTS_GAP drops everything and resumes after the oldest kept", () => {
  const s = registered();
  const [a, b] = ids(2);
  s.fill(s.ticket(), a, session());
  const ticket = s.ticket();
  s.gap(700, 50);
  assert.deepEqual([s.after, s.lease, s.stats().entries, s.stats().invalidations], [49, 1700, 0, 1]);
  assert.equal(s.fill(ticket, b, session()), false);
});

test("the client's own writes drop its entries first: one id, or an owner's", () => {
  const s = registered();
  const [a, b, c] = ids(3);
  s.fill(s.ticket(), a, session({ owner: "u1" }));
  s.fill(s.ticket(), b, session({ owner: "u1" }));
  s.fill(s.ticket(), c, session({ owner: "u2" }));
  const ticket = s.ticket();
  s.forget(a);
  assert.equal(s.lru.peek(a), undefined);
  assert.equal(s.fill(ticket, a, session()), false, "a read in flight during one's own write is not kept");
  s.forgetOwner(Buffer.from("u1"));
  assert.equal(s.lru.peek(b), undefined);
  assert.ok(s.lru.peek(c));
  assert.equal(s.stats().invalidations, 2);
});

test("near cache options: defaults and refusals", () => {
  assert.deepEqual(resolveNearCacheOptions({}), { mode: "strict", maxEntries: 10_000, maxBytes: 64 * 1024 * 1024 });
  assert.deepEqual(resolveNearCacheOptions({ mode: "relaxed", maxEntries: 5, maxBytes: 99 }), { mode: "relaxed", maxEntries: 5, maxBytes: 99 });
  assert.throws(() => resolveNearCacheOptions({ mode: "eventual" }), ClientError);
  assert.throws(() => resolveNearCacheOptions({ maxEntries: 0 }), ClientError);
  assert.throws(() => new Client({ nearCache: { maxBytes: 1.5 } }), /maxBytes/);
  assert.equal(new Client().nearCacheStats(), undefined);
});

test("CACHE_REGISTER and its CACHE reply, both directions", () => {
  assert.equal(p.cacheRegister("strict").frame.toString("hex"), "000000022d01");
  assert.equal(p.cacheRegister("relaxed").frame.toString("hex"), "000000022d02");
  assert.deepEqual(decodeRequest(Buffer.from("2d02", "hex")), { op: "cache_register", mode: 2 });
  assert.throws(() => decodeRequest(Buffer.from("2d03", "hex")), DecodeError);
  assert.throws(() => decodeRequest(Buffer.from("2d", "hex")), DecodeError);
  assert.throws(() => p.cacheRegister("eventual"), RangeError);
  const reply = encodeOk(p.Tag.CACHE, (w) => w.u64(41).u32(1000));
  assert.equal(reply.toString("hex"), "0000000e000e" + "0000000000000029" + "000003e8");
  assert.deepEqual(p.cacheRegister("strict").parse(reply.subarray(4)), { head: 41, boundMs: 1000 });
});

// --- the loop against a fake server ---------------------------------------

/**
 * A server speaking enough of the protocol for a near cache: the hello,
 * CACHE_REGISTER, EVENTS_READ (answered by `onRead`) and GET/TOUCH on one
 * session. `conns` are its sockets, so a test can cut them.
 */
async function fakeServer({ onRead, bound = 400, session: stored, touchGone = false }) {
  const conns = new Set();
  const log = [];
  const server = net.createServer((sock) => {
    conns.add(sock);
    sock.on("close", () => conns.delete(sock));
    sock.on("error", () => undefined);
    let hello = false;
    const frames = new FrameReader(1 << 20);
    let pending = Buffer.alloc(0);
    sock.on("data", async (chunk) => {
      if (!hello) {
        pending = Buffer.concat([pending, chunk]);
        if (pending.length < 8) return;
        hello = true;
        sock.write(p.serverHello({ version: 1, authRequired: false, maxFrame: 1 << 20 }));
        chunk = pending.subarray(8);
      }
      frames.push(chunk);
      for (let body = frames.next(); body; body = frames.next()) {
        const req = decodeRequest(body);
        log.push(req);
        if (req.op === "cache_register") sock.write(encodeOk(p.Tag.CACHE, (w) => w.u64(10).u32(bound)));
        else if (req.op === "events_read") {
          const answer = await onRead(req, sock);
          if (answer !== undefined && !sock.destroyed) sock.write(answer);
        } else if (req.op === "get") sock.write(encodeOk(p.Tag.SESSION, (w) => w.bytes16(stored.owner).bytes32(stored.data).info(stored.info)));
        else if (req.op === "touch") sock.write(touchGone ? encodeError(new NotFound("no such session")) : encodeOk(p.Tag.TIME, (w) => w.u64(FAR)));
        else throw new Error(`the fake server got ${req.op}`);
      }
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { port: server.address().port, conns, log, close: () => new Promise((r) => (server.close(r), conns.forEach((c) => c.destroy()))) };
}

const eventsReply = (events) => encodeOk(p.Tag.EVENTS, (w) => { w.u32(events.length); for (const e of events) writeEvent(w, e); });

test("fake server: a hit after the first get; EVENTS_GAP drops everything and resumes after oldest kept - 1", async () => {
  const stored = session();
  const id = stored.info.id;
  let gapNow = false;
  const srv = await fakeServer({
    session: stored,
    onRead: async (req) => {
      if (gapNow) {
        gapNow = false;
        return encodeError(new sessiond.EventsGap("gone", { after: req.after, oldest_kept: 77 }));
      }
      await sleep(Math.min(req.timeout_ms, 50));
      return eventsReply([]);
    },
  });
  const client = new Client({ port: srv.port, nearCache: {} });
  try {
    await client.get(id);
    await client.get(id);
    assert.deepEqual([client.nearCacheStats().hits, client.nearCacheStats().misses, client.nearCacheStats().entries], [1, 1, 1]);
    assert.equal(srv.log.filter((r) => r.op === "get").length, 1);
    const reads = srv.log.filter((r) => r.op === "events_read");
    assert.equal(reads[0].after, 10, "the first read is after the registration's head");
    assert.equal(reads[0].timeout_ms, 133, "waiting a third of the bound, so that the lease never lapses between answers");
    assert.equal(reads[0].max, 1000);
    gapNow = true;
    const deadline = Date.now() + 5000;
    while (client.nearCacheStats().entries > 0 && Date.now() < deadline) await sleep(10);
    assert.equal(client.nearCacheStats().entries, 0);
    while (!srv.log.some((r) => r.op === "events_read" && r.after === 76) && Date.now() < deadline) await sleep(10);
    assert.ok(srv.log.some((r) => r.op === "events_read" && r.after === 76), "resumed after oldest kept - 1");
    assert.equal(client.nearCacheStats().resets, 0, "a gap is not a lost connection");
  } finally {
    await client.close();
    await srv.close();
  }
});

test("fake server: a cache whose lease ran out serves nothing; a cut connection resets and registers again", async () => {
  const stored = session();
  const id = stored.info.id;
  let hold = false;
  const srv = await fakeServer({
    session: stored,
    bound: 300,
    onRead: async (req) => {
      // While `hold`, an answer never comes (a server that lost track of us).
      if (hold) return undefined;
      await sleep(Math.min(req.timeout_ms, 30));
      return eventsReply([]);
    },
  });
  const client = new Client({ port: srv.port, nearCache: {}, backoff: { minMs: 10, maxMs: 50 } });
  try {
    await client.get(id);
    await client.get(id);
    assert.equal(client.nearCacheStats().hits, 1);
    hold = true;
    await sleep(400); // beyond the bound: the lease is out
    await client.get(id);
    assert.equal(client.nearCacheStats().hits, 1, "no hit without a lease");
    const gets = srv.log.filter((r) => r.op === "get").length;
    assert.equal(gets, 2);
    hold = false;
    for (const c of srv.conns) c.destroy(); // every connection, the cache's included
    const deadline = Date.now() + 5000;
    while (srv.log.filter((r) => r.op === "cache_register").length < 2 && Date.now() < deadline) await sleep(10);
    assert.equal(srv.log.filter((r) => r.op === "cache_register").length, 2, "registered again");
    assert.equal(client.nearCacheStats().resets, 1);
    assert.equal(client.nearCacheStats().entries, 0);
    await client.get(id);
    await client.get(id);
    assert.equal(client.nearCacheStats().hits, 2, "served again under the new registration's lease");
  } finally {
    await client.close();
    await srv.close();
  }
});

test("fake server: hits are touched once a second in one TOUCH each; a TOUCH that finds the session gone drops its entry", async () => {
  const stored = session();
  const id = stored.info.id;
  const srv = await fakeServer({
    session: stored,
    touchGone: true,
    onRead: async (req) => {
      await sleep(Math.min(req.timeout_ms, 30));
      return eventsReply([]);
    },
  });
  const client = new Client({ port: srv.port, nearCache: {} });
  try {
    await client.get(id);
    for (let i = 0; i < 50; i++) await client.get(id);
    assert.equal(client.nearCacheStats().hits, 50);
    assert.equal(srv.log.filter((r) => r.op === "touch").length, 0, "not at once");
    const deadline = Date.now() + 3000;
    while (client.nearCacheStats().entries > 0 && Date.now() < deadline) await sleep(20);
    assert.equal(srv.log.filter((r) => r.op === "touch").length, 1, "one TOUCH for 50 hits");
    assert.equal(client.nearCacheStats().entries, 0, "NOT_FOUND dropped the entry");
    await client.get(id);
    assert.equal(client.nearCacheStats().misses, 2);
  } finally {
    await client.close();
    await srv.close();
  }
});
