"use strict";
// The express-session store, through real express, express-session and HTTP.

const assert = require("node:assert/strict");
const { after, before, test: nodeTest } = require("node:test");

const express = require("express");
const session = require("express-session");

const sessiond = require("sessiond");
const { SessiondStore } = require("sessiond/express");
const { Daemon, owner, sleep } = require("./helpers/daemon");
const { Browser } = require("./helpers/browser");

// Every test is bounded in time, so a hang fails instead of stalling CI.
const test = (name, fn) => nodeTest(name, { timeout: 60_000 }, fn);

const HOUR = 3600 * 1000;
let daemon;
let client;
const servers = [];

before(async () => {
  daemon = await Daemon.start();
  client = new sessiond.Client(daemon.url);
});

after(async () => {
  for (const s of servers) s.closeAllConnections?.(), s.close();
  await client?.close();
  await daemon?.kill();
});

/** An app on a store of its own; `hooks.beforeWrite` lets a test hold a request mid-way. */
async function startApp({ storeOptions = {}, sessionOptions = {} } = {}) {
  const store = new SessiondStore({ client, session, labels: (sess) => (sess.ua ? { ua: sess.ua } : undefined), ...storeOptions });
  const hooks = { beforeWrite: async () => undefined };
  const app = express();
  app.use(express.json());
  app.use(session({ store, genid: store.genid, secret: "test secret", resave: false, saveUninitialized: false, cookie: { maxAge: HOUR }, ...sessionOptions }));
  const me = (req) => ({ sid: req.sessionID, user: req.session.userId ?? null, visits: req.session.visits ?? 0 });
  app.get("/me", (req, res) => res.json(me(req)));
  app.post("/visit", (req, res) => {
    req.session.visits = (req.session.visits ?? 0) + 1;
    res.json(me(req));
  });
  app.post("/login", (req, res, next) => {
    req.session.regenerate((err) => {
      if (err) return next(err);
      req.session.userId = req.body.user;
      req.session.ua = req.get("user-agent");
      res.json(me(req));
    });
  });
  app.post("/login-keep-id", (req, res) => {
    req.session.userId = req.body.user;
    res.json(me(req));
  });
  app.post("/slow-write", async (req, res) => {
    await hooks.beforeWrite();
    req.session.visits = (req.session.visits ?? 0) + 1;
    res.json(me(req));
  });
  app.post("/remember-me", (req, res) => {
    req.session.cookie.maxAge = 30 * 24 * HOUR;
    res.json(me(req));
  });
  app.get("/devices", async (req, res) => res.json(await store.listByOwner(req.session.userId)));
  app.post("/logout-others", async (req, res) => res.json({ ended: await store.destroyOwner(req.session.userId, { keep: req.sessionID }) }));
  app.post("/logout", (req, res, next) => req.session.destroy((err) => (err ? next(err) : res.json({}))));
  const server = await new Promise((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  servers.push(server);
  return { store, hooks, base: `http://127.0.0.1:${server.address().port}` };
}

test("an anonymous session is its own owner, with the cookie's age as idle timeout", async () => {
  const { base } = await startApp();
  const b = new Browser(base);
  const first = await b.post("/visit");
  assert.ok(sessiond.isSessionId(first.sid), `${first.sid} is a sessiond id`);
  const second = await b.post("/visit");
  assert.equal(second.sid, first.sid);
  assert.equal(second.visits, 2);
  const listed = await client.list(`anonymous:${first.sid}`);
  assert.deepEqual(listed.map((i) => i.id), [first.sid]);
  assert.equal(listed[0].idleSecs, 3600);
  assert.equal(listed[0].absoluteDeadline, null);
  const stored = await client.peek(first.sid);
  assert.equal(JSON.parse(stored.data).visits, 2);
});

test("login, the devices list, sign out everywhere else, and the revoked device is anonymous", async () => {
  const { base } = await startApp();
  const user = owner();
  const laptop = new Browser(base, "Laptop/1");
  const phone = new Browser(base, "Phone/2");
  const tablet = new Browser(base, "Tablet/3");
  const anonymous = await laptop.post("/visit");
  const sids = {};
  for (const [name, b] of Object.entries({ laptop, phone, tablet })) {
    const r = await b.post("/login", { user });
    assert.equal(r.user, user);
    sids[name] = r.sid;
  }
  // regenerate gave the laptop a new id and ended its anonymous session
  assert.notEqual(sids.laptop, anonymous.sid);
  await assert.rejects(client.peek(anonymous.sid), sessiond.NotFound);

  const devices = await laptop.get("/devices");
  assert.deepEqual(new Set(devices.map((d) => d.id)), new Set(Object.values(sids)));
  assert.deepEqual(new Set(devices.map((d) => d.labels.ua)), new Set(["Laptop/1", "Phone/2", "Tablet/3"]));

  assert.deepEqual(await laptop.post("/logout-others"), { ended: 2 });
  assert.deepEqual((await laptop.get("/devices")).map((d) => d.id), [sids.laptop]);
  assert.equal((await laptop.get("/me")).user, user);
  for (const b of [phone, tablet]) {
    const me = await b.get("/me");
    assert.equal(me.user, null, "a revoked session's next request is anonymous");
    assert.notEqual(me.sid, sids.phone);
  }
});

test("a save from a request that was in flight when its session was revoked is dropped", async () => {
  const { base, hooks } = await startApp();
  const user = owner();
  const victim = new Browser(base);
  const other = new Browser(base);
  const { sid } = await victim.post("/login", { user });
  await other.post("/login", { user });
  let entered;
  let release;
  const inside = new Promise((r) => (entered = r));
  hooks.beforeWrite = () => {
    entered();
    return new Promise((r) => (release = r));
  };
  const pending = victim.post("/slow-write");
  await inside; // the victim's session is loaded; its save comes at the end
  assert.equal(await other.post("/logout-others").then((r) => r.ended), 1);
  release();
  await pending;
  await assert.rejects(client.peek(sid), sessiond.NotFound);
  assert.equal((await victim.get("/me")).user, null);
  assert.equal(await client.count(user), 1);
});

test("a login without regenerate re-creates the session under the user, same id, same data", async () => {
  const { base } = await startApp();
  const user = owner();
  const b = new Browser(base);
  const anon = await b.post("/visit");
  const logged = await b.post("/login-keep-id", { user });
  assert.equal(logged.sid, anon.sid);
  assert.equal(logged.visits, 1);
  assert.deepEqual((await client.list(user)).map((i) => i.id), [anon.sid]);
  assert.deepEqual(await client.list(`anonymous:${anon.sid}`), []);
  assert.equal((await b.post("/visit")).visits, 2);
  assert.equal((await b.get("/me")).user, user);
});

test("touch slides the idle deadline; a new cookie age re-creates with the new timeout", async () => {
  const { base } = await startApp();
  const b = new Browser(base);
  const { sid } = await b.post("/visit");
  const before = (await client.peek(sid)).info;
  await sleep(1100);
  await b.get("/me"); // unmodified: express-session calls touch
  const touched = (await client.peek(sid)).info;
  assert.ok(touched.lastSeen > before.lastSeen && touched.expiresAt > before.expiresAt);
  assert.equal(touched.version, before.version, "a touch writes no data");
  await b.post("/remember-me");
  const remembered = (await client.peek(sid)).info;
  assert.equal(remembered.idleSecs, 30 * 24 * 3600);
  assert.equal((await b.post("/visit")).visits, 2);
});

test("a session expires with its cookie: the next request is anonymous", async () => {
  const { base } = await startApp({ sessionOptions: { cookie: { maxAge: 1500 } } });
  const b = new Browser(base);
  const { sid } = await b.post("/visit");
  assert.equal((await client.peek(sid)).info.idleSecs, 2);
  await sleep(3200);
  const me = await b.get("/me");
  assert.equal(me.visits, 0);
  await assert.rejects(client.peek(sid), sessiond.NotFound);
});

test("logout destroys the session", async () => {
  const { base } = await startApp();
  const b = new Browser(base);
  const { sid } = await b.post("/login", { user: owner() });
  await b.post("/logout");
  await assert.rejects(client.peek(sid), sessiond.NotFound);
  assert.equal((await b.get("/me")).user, null);
});

test("all, length and clear cover this store's sessions and no other", async () => {
  const { base, store } = await startApp();
  const call = (method, ...args) => new Promise((resolve, reject) => store[method](...args, (err, v) => (err ? reject(err) : resolve(v))));
  const sids = [];
  for (let i = 0; i < 3; i++) sids.push((await new Browser(base).post("/visit")).sid);
  const foreign = await client.create(owner(), { data: "not the store's" });
  assert.equal(await call("length"), 3);
  const all = await call("all");
  assert.deepEqual(new Set(Object.keys(all)), new Set(sids));
  assert.equal(all[sids[0]].visits, 1);
  await call("destroy", sids[0]);
  assert.equal(await call("length"), 2);
  await call("clear");
  assert.equal(await call("length"), 0);
  for (const sid of sids) await assert.rejects(client.peek(sid), sessiond.NotFound);
  assert.equal((await client.peek(foreign)).data.toString(), "not the store's");
});

test("without genid, express-session's own ids are mapped to sessiond ids", async () => {
  const { base, store } = await startApp({ sessionOptions: { genid: undefined } });
  const user = owner();
  const a = new Browser(base);
  const b = new Browser(base);
  const { sid } = await a.post("/login", { user });
  await b.post("/login", { user });
  assert.equal(sessiond.isSessionId(sid), false, "express-session's default id");
  const mapped = store.sessiondId(sid);
  assert.ok(sessiond.isSessionId(mapped));
  assert.equal(store.sessiondId(sid), mapped, "the mapping is stable");
  assert.equal(store.sessiondId(mapped), mapped, "a sessiond id maps to itself");
  assert.ok((await client.list(user)).some((i) => i.id === mapped));
  assert.equal(await store.destroyOwner(user, { keep: sid }), 1);
  assert.equal((await a.get("/me")).user, user);
  assert.equal((await b.get("/me")).user, null);
});

test("owner from a dotted field or a function; the store needs express-session and a client", async () => {
  const byPath = new SessiondStore({ client, session, ownerField: "passport.user" });
  assert.equal(byPath.ownerOf("x", { passport: { user: 42 } }), "42");
  const id = sessiond.generateSessionId();
  assert.equal(byPath.ownerOf(id, { passport: {} }), `anonymous:${id}`);
  const byFn = new SessiondStore({ client, session, owner: (s) => s.account && `acct:${s.account}`, anonymousPrefix: "guest:" });
  assert.equal(byFn.ownerOf(id, { account: 7 }), "acct:7");
  assert.equal(byFn.ownerOf(id, {}), `guest:${id}`);
  assert.equal(byFn.idleSecsOf({ cookie: { originalMaxAge: 1001 } }), 2);
  assert.equal(byFn.idleSecsOf({ cookie: { originalMaxAge: null, expires: null } }), 86400);
  assert.equal(byFn.idleSecsOf({ cookie: { originalMaxAge: -5 } }), 0);
  assert.throws(() => new SessiondStore({ client }), /express-session/);
  assert.throws(() => new SessiondStore({ session }), /client/);
});

test("the example app: login, devices page, sign out that device, sign out everywhere else", async () => {
  const { createApp } = require("../examples/devices");
  const server = await new Promise((resolve) => {
    const s = createApp({ client }).listen(0, "127.0.0.1", () => resolve(s));
  });
  servers.push(server);
  const base = `http://127.0.0.1:${server.address().port}`;
  const name = owner("ex");
  const browsers = ["Alpha/1", "Beta/2", "Gamma/3"].map((ua) => new Browser(base, ua));
  const html = (b, method, path, form) => b.send(method, path, { form });
  for (const b of browsers) assert.equal((await html(b, "POST", "/login", { user: name })).location, "/devices");
  const [alpha, beta, gamma] = browsers;
  let page = (await html(alpha, "GET", "/devices")).text;
  for (const ua of ["Alpha/1", "Beta/2", "Gamma/3"]) assert.ok(page.includes(ua), ua);
  assert.equal(page.match(/this device/g).length, 1);
  const ids = [...page.matchAll(/action="\/devices\/([A-Za-z0-9_-]{22})\/sign-out"/g)].map((m) => m[1]);
  assert.equal(ids.length, 2);
  // Sign out that device: the first one listed other than this one.
  await html(alpha, "POST", `/devices/${ids[0]}/sign-out`);
  page = (await html(alpha, "GET", "/devices")).text;
  assert.equal([...page.matchAll(/\/sign-out"/g)].length, 1);
  const statuses = await Promise.all([beta, gamma].map((b) => html(b, "GET", "/devices").then((r) => r.status)));
  assert.deepEqual(statuses.sort(), [200, 302], "one of the two was signed out and is sent to the login page");
  // Sign out everywhere else.
  await html(alpha, "POST", "/sign-out-others");
  page = (await html(alpha, "GET", "/devices")).text;
  assert.ok(page.includes("Alpha/1") && !page.includes("Beta/2") && !page.includes("Gamma/3"));
  for (const b of [beta, gamma]) assert.equal((await html(b, "GET", "/devices")).location, "/");
  assert.equal((await html(alpha, "POST", "/logout")).location, "/");
  assert.equal(await client.count(`user:${name}`), 0);
});
