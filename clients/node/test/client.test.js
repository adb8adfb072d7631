"use strict";
// Every operation and error against a live daemon, and pipelining.

const assert = require("node:assert/strict");
const { after, before, test: nodeTest } = require("node:test");

// Every test is bounded in time, so a hang fails instead of stalling CI.
const test = (name, fn) => nodeTest(name, { timeout: 60_000 }, fn);

const sessiond = require("sessiond");
const { Client } = sessiond;
const { Daemon, owner, sleep } = require("./helpers/daemon");

let daemon;
let client;

before(async () => {
  daemon = await Daemon.start();
  client = new Client(daemon.url);
});

after(async () => {
  await client?.close();
  await daemon?.kill();
});

test("ping and stats", async () => {
  await client.ping();
  const stats = await client.stats();
  assert.ok("sessions" in stats && "connections" in stats);
  for (const v of Object.values(stats)) assert.equal(typeof v, "number");
});

test("a session's whole life", async () => {
  const o = owner();
  const id = await client.create(o, { data: "hello", labels: { ua: "Firefox", place: "Zürich" }, idleSecs: 60, lifetimeSecs: 3600 });
  assert.equal(id.length, 22);
  assert.ok(sessiond.isSessionId(id));
  const s = await client.get(id);
  assert.equal(s.owner.toString(), o);
  assert.equal(s.data.toString(), "hello");
  assert.equal(s.info.id, id);
  assert.equal(s.info.version, 1);
  assert.deepEqual(s.info.labels, { ua: "Firefox", place: "Zürich" });
  assert.equal(s.info.idleSecs, 60);
  assert.equal(s.info.absoluteDeadline, s.info.created + 3600);
  assert.equal((await client.peek(id)).data.toString(), "hello");

  assert.equal(await client.update(id, "v2"), 2);
  assert.equal(await client.update(id, Buffer.from("v3"), { expectedVersion: 2 }), 3);
  await assert.rejects(client.update(id, "lost", { expectedVersion: 2 }), (e) => {
    assert.ok(e instanceof sessiond.VersionMismatch);
    assert.equal(e.expected, 2);
    assert.equal(e.actual, 3);
    return true;
  });
  assert.ok((await client.touch(id)) >= s.info.expiresAt);

  const rotated = await client.rotate(id);
  assert.notEqual(rotated, id);
  assert.equal((await client.get(rotated)).data.toString(), "v3");
  await assert.rejects(client.get(id), sessiond.NotFound);
  assert.equal(await client.delete(rotated), true);
  assert.equal(await client.delete(rotated), false);
  for (const op of [(x) => client.touch(x), (x) => client.rotate(x), (x) => client.get(x), (x) => client.peek(x), (x) => client.update(x, "")]) {
    await assert.rejects(op(rotated), sessiond.NotFound);
  }
});

test("a peek does not slide the idle deadline, a get does", async () => {
  const id = await client.create(owner(), { idleSecs: 100 });
  const first = (await client.peek(id)).info;
  await sleep(1100);
  assert.equal((await client.peek(id)).info.lastSeen, first.lastSeen);
  const touched = (await client.get(id)).info;
  assert.ok(touched.lastSeen > first.lastSeen, `${touched.lastSeen} > ${first.lastSeen}`);
});

test("caller-chosen ids, and IdTaken", async () => {
  const id = sessiond.generateSessionId();
  assert.equal(await client.create(owner(), { id }), id);
  await assert.rejects(client.create(owner(), { id }), sessiond.IdTaken);
  const raw = require("node:crypto").randomBytes(16);
  assert.equal(await client.create(owner(), { id: raw }), sessiond.idToText(raw));
});

test("list, count and deleteOwner with keep", async () => {
  const o = owner();
  const ids = [];
  for (let i = 0; i < 4; i++) ids.push(await client.create(o, { data: String(i), labels: { n: String(i) } }));
  assert.equal(await client.count(o), 4);
  const listed = await client.list(o);
  assert.deepEqual(new Set(listed.map((i) => i.id)), new Set(ids));
  assert.ok(listed.every((i) => i.labels.n === String(ids.indexOf(i.id))));
  assert.equal(await client.deleteOwner(o, { keep: ids[0] }), 3);
  assert.deepEqual((await client.list(o)).map((i) => i.id), [ids[0]]);
  assert.equal(await client.deleteOwner(o), 1);
  assert.equal(await client.count(o), 0);
  assert.deepEqual(await client.list(o), []);
});

test("owner limits: reject, evict the oldest, none", async () => {
  const o = owner();
  const reject = { maxSessions: 2, policy: "reject" };
  const first = await client.create(o, { limit: reject });
  await client.create(o, { limit: reject });
  await assert.rejects(client.create(o, { limit: reject }), (e) => e instanceof sessiond.SessionLimit && e.limit === 2);
  await sleep(1100);
  await client.get(first); // now the most recently seen: the other one is the oldest
  const third = await client.create(o, { limit: { maxSessions: 2, policy: "evict_oldest" } });
  assert.deepEqual(new Set((await client.list(o)).map((i) => i.id)), new Set([first, third]));
  await client.create(o, { limit: { maxSessions: 0, policy: "none" } });
  assert.equal(await client.count(o), 3);
  assert.throws(() => sessiond.protocol.create(o, { limit: { maxSessions: 1, policy: "sometimes" } }), RangeError);
});

test("the server's configured owner limit applies without a limit option", async () => {
  const d = await Daemon.start(["--max-sessions-per-owner", "1", "--owner-limit-policy", "reject"]);
  const c = new Client(d.url);
  try {
    const o = owner();
    await c.create(o);
    await assert.rejects(c.create(o), (e) => e instanceof sessiond.SessionLimit && e.limit === 1);
    await c.create(o, { limit: { maxSessions: 0, policy: "none" } });
    assert.equal(await c.count(o), 2);
  } finally {
    await c.close();
    await d.kill();
  }
});

test("plain keys: set, get, ttl, expire, incr, delete", async () => {
  const k = `rate:${owner()}`;
  assert.equal(await client.getKey(k), null);
  assert.deepEqual(await client.ttl(k), { kind: "missing", ms: 0 });
  await client.setKey(k, "17");
  assert.equal((await client.getKey(k)).toString(), "17");
  assert.equal((await client.ttl(k)).kind, "persistent");
  assert.equal(await client.incr(k, 3), 20);
  assert.equal(await client.incr(k, -25), -5);
  assert.equal(await client.incrBig(k, 10n), 5n);
  assert.equal(await client.expireKey(k, 60000), true);
  const t = await client.ttl(k);
  assert.equal(t.kind, "expires");
  assert.ok(t.ms > 59000 && t.ms <= 60000, String(t.ms));
  assert.equal(await client.expireKey(k, null), true);
  assert.equal((await client.ttl(k)).kind, "persistent");
  await client.setKey(k, "x", { ttlMs: 50 });
  await sleep(120);
  assert.equal(await client.getKey(k), null);
  await client.setKey(k, "1");
  assert.equal(await client.expireKey(k, 0), true);
  assert.equal(await client.getKey(k), null);
  assert.equal(await client.expireKey(k, 10000), false);
  await client.setKey(k, Buffer.from([0, 255]));
  assert.deepEqual(await client.getKey(k), Buffer.from([0, 255]));
  assert.equal(await client.deleteKey(k), true);
  assert.equal(await client.deleteKey(k), false);
  assert.equal(await client.incr(`fresh:${owner()}`), 1);
});

test("scanKeys walks every matching key exactly once, in pages", async () => {
  const prefix = `scan:${owner()}:`;
  const made = new Set();
  for (let i = 0; i < 1200; i++) made.add(`${prefix}${i}`);
  await Promise.all([...made].map((k) => client.setKey(k, "v")));
  await client.setKey(`other:${owner()}`, "v");
  const seen = [];
  for await (const key of client.scanKeys(`${prefix}*`, 50)) seen.push(key.toString());
  assert.equal(seen.length, made.size, "each key once");
  assert.deepEqual(new Set(seen), made);
  // One step: a bigint cursor to pass back, and at most about `count` keys.
  const page = await client.scan(0n, { count: 10, match: `${prefix}*` });
  assert.equal(typeof page.cursor, "bigint");
  assert.ok(page.keys.length <= 1200);
});

test("store errors come back as their classes", async () => {
  await assert.rejects(client.create(""), (e) => e instanceof sessiond.BadOwner && e.length === 0 && e.max === 256);
  await assert.rejects(client.create("x".repeat(300)), (e) => e instanceof sessiond.BadOwner && e.length === 300);
  await assert.rejects(client.setKey("k", Buffer.alloc(1024 * 1024 + 1)), (e) => e instanceof sessiond.TooLarge && e.max === 1024 * 1024);
  await assert.rejects(client.setKey("", "v"), (e) => e instanceof sessiond.BadKey && e.length === 0 && e.max === 4096);
  await assert.rejects(client.setKey("k".repeat(4097), ""), sessiond.BadKey);
  const labels = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`l${i}`, "v"]));
  await assert.rejects(client.create(owner(), { labels }), (e) => e instanceof sessiond.BadLabels && /label/.test(e.message));
  await assert.rejects(client.create(owner(), { idleSecs: 0, lifetimeSecs: 0 }), sessiond.BadTimeout);
  const k = `n:${owner()}`;
  await client.setKey(k, "abc");
  await assert.rejects(client.incr(k), sessiond.NotAnInteger);
  await client.setKey(k, String(2n ** 63n - 1n));
  await assert.rejects(client.incr(k), sessiond.Overflow);
  await client.setKey(k, String(2n ** 60n));
  await assert.rejects(client.incr(k, 0), sessiond.ProtocolError); // beyond a safe number
  assert.equal(await client.incrBig(k, 0), 2n ** 60n);
  // all of these are ServerErrors and the connection is still fine
  await client.ping();
  assert.equal(client.poolStats().failures, 0);
});

test("a request above max frame is refused here and keeps the connection", async () => {
  const c = new Client(daemon.url, { poolSize: 1 });
  try {
    await c.ping();
    await assert.rejects(c.setKey("big", Buffer.alloc(3 * 1024 * 1024)), (e) => e instanceof sessiond.FrameTooLarge && e.max === 2 * 1024 * 1024);
    await c.ping();
    assert.equal(c.poolStats().opened, 1);
  } finally {
    await c.close();
  }
});

test("out of memory", async () => {
  const d = await Daemon.start(["--memory-limit", "200000", "--memory-policy", "reject"]);
  const c = new Client(d.url);
  try {
    let err;
    for (let i = 0; i < 100 && !err; i++) await c.setKey(`k${i}`, Buffer.alloc(10000)).catch((e) => (err = e));
    assert.ok(err instanceof sessiond.OutOfMemory, String(err));
    assert.equal(err.limit, 200000);
    assert.ok(err.needed > 0 && err.used > 0);
  } finally {
    await c.close();
    await d.kill();
  }
});

test("pipelining: many concurrent calls share one connection, replies in order", async () => {
  const c = new Client(daemon.url, { poolSize: 1 });
  try {
    const o = owner();
    const ids = await Promise.all(Array.from({ length: 500 }, (_, i) => c.create(o, { data: `d${i}` })));
    assert.equal(new Set(ids).size, 500);
    // Mixed operations in one burst: each reply must reach its own caller.
    const k = `ctr:${owner()}`;
    const [sessions, counters, missing, count] = await Promise.all([
      Promise.all(ids.map((id) => c.peek(id))),
      Promise.all(Array.from({ length: 300 }, () => c.incr(k))),
      c.get(sessiond.idToText(Buffer.alloc(16))).catch((e) => e),
      c.count(o),
    ]);
    assert.deepEqual(sessions.map((s) => s.data.toString()), ids.map((_, i) => `d${i}`));
    assert.deepEqual([...counters].sort((a, b) => a - b), Array.from({ length: 300 }, (_, i) => i + 1));
    assert.ok(missing instanceof sessiond.NotFound);
    assert.equal(count, 500);
    const stats = c.poolStats();
    assert.equal(stats.opened, 1, "one connection carried everything");
    assert.equal(stats.inFlight, 0);
  } finally {
    await c.close();
  }
});

test("a pool grows under load up to its size", async () => {
  const c = new Client(daemon.url, { poolSize: 3 });
  try {
    await c.ping();
    const k = `grow:${owner()}`;
    for (let round = 0; round < 20 && c.poolStats().open < 3; round++) {
      await Promise.all(Array.from({ length: 200 }, () => c.incr(k)));
    }
    assert.equal(c.poolStats().open, 3);
    assert.ok(c.poolStats().opened <= 3);
    assert.equal(Number((await c.getKey(k)).toString()) % 200, 0);
  } finally {
    await c.close();
  }
});

test("a closed client refuses calls", async () => {
  const c = new Client(daemon.url);
  await c.ping();
  await c.close();
  await assert.rejects(c.ping(), sessiond.ConnectionError);
});
