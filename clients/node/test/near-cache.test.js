"use strict";
// The near cache against a live daemon: hits without a round trip, other
// clients' writes invalidating (strict: by the time they return; relaxed:
// within a moment), the bounds, the coalesced toucher, an app server
// stopped with SIGSTOP, and the express store through real express.

const assert = require("node:assert/strict");
const { execFile, fork } = require("node:child_process");
const path = require("node:path");
const { after, before, test: nodeTest } = require("node:test");

const express = require("express");
const session = require("express-session");

const sessiond = require("sessiond");
const { Client, NotFound } = sessiond;
const { SessiondStore } = require("sessiond/express");
const { Daemon, owner, sleep } = require("./helpers/daemon");
const { Browser } = require("./helpers/browser");

const test = (name, fn) => nodeTest(name, { timeout: 60_000 }, fn);

/** The SIGSTOP test's bound: a strict write waits about this long for a stopped cache. */
const SHORT_BOUND = 300;
let daemon; // the default bound (1 s)
let short; // --near-cache-bound 300
let plain; // a client without a cache: the "other app server"
const clients = [];
const servers = [];

before(async () => {
  [daemon, short] = await Promise.all([Daemon.start(), Daemon.start(["--near-cache-bound", String(SHORT_BOUND)])]);
  plain = new Client(daemon.url);
});

after(async () => {
  for (const s of servers) s.closeAllConnections?.(), s.close();
  await Promise.all(clients.map((c) => c.close()));
  await plain?.close();
  await Promise.all([daemon?.kill(), short?.kill()]);
});

/** A client with a near cache, closed after the tests. */
function cached(nearCache = {}, url = daemon.url) {
  const c = new Client(url, { nearCache });
  clients.push(c);
  return c;
}

const stat = async (name, client = plain) => (await client.stats())[name];

/** Poll `fn` until it is truthy or `ms` pass; resolves with the time it took. */
async function within(ms, fn) {
  const start = performance.now();
  while (!(await fn())) {
    if (performance.now() - start > ms) throw new Error(`not within ${ms} ms`);
    await sleep(5);
  }
  return performance.now() - start;
}

test("a hit after the first get makes no round trip, and hands out a copy", async () => {
  const c = cached();
  const id = await plain.create(owner(), { data: "hello", labels: { ua: "x" } });
  assert.equal((await c.get(id)).data.toString(), "hello");
  const gets = await stat("ops_get");
  for (let i = 0; i < 100; i++) {
    const s = await c.get(id);
    assert.equal(s.data.toString(), "hello");
    assert.equal(s.info.labels.ua, "x");
    s.data.fill(0); // the caller's copy, not the cache's
    s.info.labels.ua = "changed";
  }
  assert.equal(await stat("ops_get"), gets, "no GET reached the server");
  const st = c.nearCacheStats();
  assert.deepEqual([st.hits, st.misses, st.entries], [100, 1, 1]);
  assert.equal(st.bytes, "hello".length + Buffer.byteLength((await plain.peek(id)).owner) + "ua".length + "x".length);
  assert.equal((await stat("near_caches_strict")) >= 1, true, "the cache registered as strict");
});

test("strict: once another client's delete, update, rotate or deleteOwner returns, the cache no longer serves the old state", async () => {
  const c = cached({ mode: "strict" });
  const user = owner();
  const id = await plain.create(user, { data: "v1" });
  await c.get(id);
  await c.get(id);
  assert.equal(c.nearCacheStats().hits, 1);

  await plain.update(id, "v2");
  assert.equal((await c.get(id)).data.toString(), "v2", "right after the update returned, no sleep");

  const newId = await plain.rotate(id);
  await assert.rejects(c.get(id), NotFound, "a rotation ends the old id");
  assert.equal((await c.get(newId)).data.toString(), "v2");
  assert.equal((await c.get(newId)).data.toString(), "v2");

  await plain.delete(newId);
  await assert.rejects(c.get(newId), NotFound, "right after the delete returned, no sleep");

  const a = await plain.create(user, { data: "a" });
  const b = await plain.create(user, { data: "b" });
  const other = await plain.create(owner(), { data: "other" });
  for (const x of [a, b, other, a, b, other]) await c.get(x);
  const before = c.nearCacheStats();
  assert.equal(before.entries, 3);
  assert.equal(await plain.deleteOwnerWithNote(user, "kick"), 2);
  await assert.rejects(c.get(a), NotFound);
  await assert.rejects(c.get(b), NotFound);
  assert.equal((await c.get(other)).data.toString(), "other");
  const st = c.nearCacheStats();
  assert.equal(st.hits, before.hits + 1, "only the other owner's session was still served");
  assert.ok(st.invalidations >= 5, `invalidations ${st.invalidations}`);
});

test("the cached client's own writes drop its entries first: it reads its writes", async () => {
  const c = cached({ mode: "relaxed" });
  const user = owner();
  const id = await c.create(user, { data: "v1" });
  await c.get(id);
  await c.update(id, "v2");
  assert.equal((await c.get(id)).data.toString(), "v2");
  const newId = await c.rotate(id);
  await assert.rejects(c.get(id), NotFound);
  await c.get(newId);
  await c.deleteWithNote(newId, "logout");
  await assert.rejects(c.get(newId), NotFound);
  const x = await c.create(user, { data: "x" });
  await c.get(x);
  await c.deleteOwner(user);
  await assert.rejects(c.get(x), NotFound);
});

test("relaxed: another client's delete invalidates within a bounded wait", async () => {
  const c = cached({ mode: "relaxed" });
  const id = await plain.create(owner(), { data: "v" });
  await c.get(id);
  await c.get(id);
  assert.equal(c.nearCacheStats().hits, 1);
  assert.ok((await stat("near_caches_relaxed")) >= 1);
  await plain.delete(id);
  const took = await within(1000, () => c.get(id).then(() => false, (e) => e instanceof NotFound));
  assert.ok(took < 1000, `invalidated after ${took} ms`);
});

test("bounds: entries and bytes, least recently used out first, evictions counted", async () => {
  const user = owner("b");
  const byCount = cached({ maxEntries: 5 });
  const ids = [];
  for (let i = 0; i < 10; i++) ids.push(await plain.create(user, { data: `s${i}` }));
  for (const id of ids) await byCount.get(id);
  let st = byCount.nearCacheStats();
  assert.deepEqual([st.entries, st.evictions], [5, 5]);
  await byCount.get(ids[9]);
  assert.equal(byCount.nearCacheStats().hits, 1, "the newest is kept");
  await byCount.get(ids[0]);
  assert.equal(byCount.nearCacheStats().hits, 1, "the oldest was evicted");

  const each = 300 + Buffer.byteLength(user); // data + owner, no labels
  const byBytes = cached({ maxBytes: 3 * each + 10 });
  const big = [];
  for (let i = 0; i < 6; i++) big.push(await plain.create(user, { data: "x".repeat(300) }));
  for (const id of big) await byBytes.get(id);
  st = byBytes.nearCacheStats();
  assert.deepEqual([st.entries, st.bytes, st.evictions], [3, 3 * each, 3]);
  const tooBig = await plain.create(user, { data: "y".repeat(4 * each) });
  await byBytes.get(tooBig);
  assert.deepEqual([byBytes.nearCacheStats().entries, byBytes.nearCacheStats().evictions], [3, 3], "a session over the bound alone is not kept");
});

test("coalesced touches: hits are touched once a second, and keep a 2 s idle session alive through 5 s of hits", async () => {
  // A daemon of its own: the other tests' caches touch what they hit, too.
  const own = await Daemon.start();
  const admin = new Client(own.url);
  const stat = async (name) => (await admin.stats())[name];
  try {
    const c = cached({}, own.url);
    const id = await admin.create(owner(), { data: "t", idleSecs: 2 });
    await c.get(id);
    const [gets, touches] = [await stat("ops_get"), await stat("ops_touch")];
    const end = performance.now() + 5000;
    let hits = 0;
    while (performance.now() < end) {
      assert.equal((await c.get(id)).data.toString(), "t");
      hits++;
      await sleep(10);
    }
    const touched = (await stat("ops_touch")) - touches;
    assert.equal((await stat("ops_get")) - gets, 0, "every get was a hit");
    assert.ok(hits > 100, `${hits} hits`);
    assert.ok(touched >= 3 && touched <= 6, `${touched} TOUCH for ${hits} hits in 5 s`);
    assert.equal((await admin.peek(id)).data.toString(), "t", "alive after 5 s, on touches alone");
    assert.equal(c.nearCacheStats().misses, 1);
  } finally {
    await admin.close();
    await own.kill();
  }
});

test("a near cache keeps no process alive: one that never closes its client still exits", async () => {
  const script = [
    'const { Client } = require("sessiond");',
    "const c = new Client(process.argv[1], { nearCache: {} });",
    '(async () => { const id = await c.create("u", { data: "x" }); await c.get(id); await c.get(id);',
    "  console.log(JSON.stringify(c.nearCacheStats())); })();",
  ].join("\n");
  const start = performance.now();
  const out = await new Promise((resolve, reject) =>
    execFile(process.execPath, ["-e", script, daemon.url], { cwd: path.join(__dirname, ".."), timeout: 20_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
  assert.equal(JSON.parse(out).hits, 1, "the cache was running");
  assert.ok(performance.now() - start < 10_000);
});

/** A child app server with a near cache in `mode` on `url`, asked over IPC; see helpers/near-cache-child.js. */
async function childApp(url, mode) {
  const child = fork(path.join(__dirname, "helpers", "near-cache-child.js"), [url, mode], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const replies = [];
  let wake;
  child.on("message", (m) => {
    replies.push(m);
    wake?.();
  });
  const next = async () => {
    while (replies.length === 0) await new Promise((r) => (wake = r));
    return replies.shift();
  };
  assert.deepEqual(await next(), { ready: true });
  return {
    child,
    ask: (id) => (child.send({ id }), next()),
    async end() {
      child.kill("SIGCONT");
      child.disconnect();
      await new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)));
    },
  };
}

test("SIGSTOP: a stopped app server's strict cache is cut off, the delete returns about a bound later, and the resumed cache does not serve", async () => {
  const app = await childApp(short.url, "strict");
  const other = new Client(short.url);
  try {
    const id = await other.create(owner(), { data: "secret" });
    assert.equal((await app.ask(id)).data, "secret");
    const hit = await app.ask(id);
    assert.equal(hit.data, "secret");
    assert.equal(hit.stats.hits, 1, "the child serves it from its cache");
    const closedBefore = await stat("near_cache_closed", other);

    app.child.kill("SIGSTOP");
    await sleep(50);
    const start = performance.now();
    assert.equal(await other.delete(id), true);
    const took = performance.now() - start;
    assert.ok(took < SHORT_BOUND + 700, `the delete waited ${took} ms for a stopped cache (bound ${SHORT_BOUND} ms)`);
    assert.equal(await stat("near_cache_closed", other), closedBefore + 1, "the server cut the stopped cache off");

    app.child.kill("SIGCONT");
    const after = await app.ask(id);
    assert.equal(after.error, "NotFound", `the resumed child served ${JSON.stringify(after)}`);
    assert.equal(after.stats.hits, 1);
  } finally {
    await app.end();
    await other.close();
  }
});

test("SIGSTOP: writes do not wait for a stopped relaxed cache", async () => {
  // On the 1 s bound: a wait for the stopped cache would take about that
  // long, far from a round trip even on a loaded machine.
  const app = await childApp(daemon.url, "relaxed");
  const other = new Client(daemon.url);
  try {
    // A strict cache of an earlier test on this daemon that went without
    // closing (the "keeps no process alive" one) is waited for until its
    // last lease runs out, up to the bound: one delete first lets it, so
    // that the delete timed below waits for nothing but the stopped cache.
    await other.delete(await other.create(owner(), { data: "settle" }));
    const id = await other.create(owner(), { data: "v" });
    await app.ask(id);
    assert.equal((await app.ask(id)).stats.hits, 1);
    const closedBefore = await stat("near_cache_closed", other);
    app.child.kill("SIGSTOP");
    await sleep(50);
    const start = performance.now();
    assert.equal(await other.delete(id), true);
    const took = performance.now() - start;
    assert.ok(took < 500, `the delete took ${took} ms`);
    assert.equal(await stat("near_cache_closed", other), closedBefore, "a relaxed cache is never cut off");
  } finally {
    await app.end();
    await other.close();
  }
});

test("the express store with a near cache: requests served from memory, a revoke from another store signs out the next request", async () => {
  const client = cached({ mode: "strict" });
  const store = new SessiondStore({ client, session });
  const app = express();
  app.use(express.json());
  app.use(session({ store, genid: store.genid, secret: "near cache", resave: false, saveUninitialized: false, cookie: { maxAge: 3600_000 } }));
  app.get("/me", (req, res) => res.json({ sid: req.sessionID, user: req.session.userId ?? null }));
  app.post("/login", (req, res, next) =>
    req.session.regenerate((err) => {
      if (err) return next(err);
      req.session.userId = req.body.user;
      res.json({ sid: req.sessionID, user: req.session.userId });
    }),
  );
  const server = await new Promise((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  servers.push(server);
  const b = new Browser(`http://127.0.0.1:${server.address().port}`);
  const user = owner("web");
  const { sid } = await b.post("/login", { user });
  assert.equal((await b.get("/me")).user, user);
  const [gets, touches] = [await stat("ops_get"), await stat("ops_touch")];
  const hits = client.nearCacheStats().hits;
  for (let i = 0; i < 10; i++) assert.equal((await b.get("/me")).user, user);
  assert.equal(client.nearCacheStats().hits, hits + 10, "each request's session came from memory");
  assert.equal((await stat("ops_get")) - gets, 0);
  assert.ok((await stat("ops_touch")) - touches <= 2, "express-session's touches were coalesced");

  // Another app server (a store on a client of its own) signs the user out.
  const elsewhere = new SessiondStore({ client: plain, session });
  assert.equal(await elsewhere.destroyOwner(user), 1);
  const me = await b.get("/me");
  assert.equal(me.user, null, "the next request is signed out, no sleep");
  assert.notEqual(me.sid, sid);
});
