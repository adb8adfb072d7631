"use strict";
/**
 * A small express app on sessiond: log in, see your devices, sign out one
 * of them or every other one.
 *
 *   SESSIOND_BIN=/path/to/sessiond npm run example   # starts its own daemon
 *   SESSIOND_URL=sessiond://127.0.0.1:7878 npm run example
 *
 * then open http://127.0.0.1:3000 in two browsers (or a private window).
 * There are no passwords: any name logs in. PORT changes the app's port.
 */

const { spawn } = require("node:child_process");
const net = require("node:net");

const express = require("express");
const session = require("express-session");
const { Client } = require("sessiond");
const { SessiondStore } = require("sessiond/express");

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font:16px system-ui;max-width:44rem;margin:2rem auto}table{border-collapse:collapse;width:100%}
td,th{padding:.4rem;border-bottom:1px solid #ddd;text-align:left}form{display:inline}</style></head>
<body><h1>${esc(title)}</h1>${body}</body></html>`;
}

/** The app, on a sessiond client; exported for the tests. */
function createApp({ client, secret = "change me: sessiond example" }) {
  const store = new SessiondStore({
    client,
    session,
    ownerField: "userId",
    // Shown in the devices list without reading every session's data.
    labels: (sess) => (sess.device ? { device: sess.device } : undefined),
  });
  const app = express();
  app.use(express.urlencoded({ extended: false }));
  app.use(
    session({
      store,
      genid: store.genid, // cookie ids are sessiond ids, the ones the devices list shows
      secret,
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 7 * 24 * 3600 * 1000, sameSite: "lax", httpOnly: true },
    }),
  );

  const signedIn = (req, res, next) => (req.session.userId ? next() : res.redirect("/"));

  app.get("/", (req, res) => {
    if (req.session.userId) return res.redirect("/devices");
    res.send(page("Sign in", `<form method="post" action="/login"><input name="user" placeholder="your name" required autofocus> <button>Sign in</button></form>`));
  });

  app.post("/login", (req, res, next) => {
    const user = String(req.body.user ?? "").trim();
    if (!user) return res.redirect("/");
    // A new id at login, against session fixation; the old anonymous session ends.
    req.session.regenerate((err) => {
      if (err) return next(err);
      req.session.userId = `user:${user}`;
      req.session.name = user;
      req.session.device = (req.get("user-agent") ?? "unknown").slice(0, 200);
      res.redirect("/devices");
    });
  });

  app.get("/devices", signedIn, async (req, res) => {
    const mine = store.sessiondId(req.sessionID);
    const rows = (await store.listByOwner(req.session.userId)).map((d) => {
      const action =
        d.id === mine
          ? "<b>this device</b>"
          : `<form method="post" action="/devices/${esc(d.id)}/sign-out"><button>Sign out that device</button></form>`;
      return `<tr><td>${esc(d.labels.device ?? "?")}</td><td>${new Date(d.lastSeen * 1000).toISOString()}</td><td>${action}</td></tr>`;
    });
    res.send(
      page(
        `Devices of ${req.session.name}`,
        `<table><tr><th>Device</th><th>Last seen</th><th></th></tr>${rows.join("")}</table>
<p><form method="post" action="/sign-out-others"><button>Sign out everywhere else</button></form>
<form method="post" action="/logout"><button>Sign out</button></form></p>`,
      ),
    );
  });

  app.post("/devices/:id/sign-out", signedIn, async (req, res) => {
    // Only one of the user's own sessions: check the id against their list.
    const devices = await store.listByOwner(req.session.userId);
    if (devices.some((d) => d.id === req.params.id)) await client.delete(req.params.id);
    res.redirect("/devices");
  });

  app.post("/sign-out-others", signedIn, async (req, res) => {
    await store.destroyOwner(req.session.userId, { keep: req.sessionID });
    res.redirect("/devices");
  });

  app.post("/logout", (req, res, next) => req.session.destroy((err) => (err ? next(err) : res.redirect("/"))));

  return app;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Start $SESSIOND_BIN on a free port (killed when we exit), or use $SESSIOND_URL. */
async function daemonUrl() {
  if (!process.env.SESSIOND_BIN) return process.env.SESSIOND_URL ?? "sessiond://127.0.0.1:7878";
  const port = await freePort();
  const proc = spawn(process.env.SESSIOND_BIN, ["--listen", `127.0.0.1:${port}`, "--log-level", "warn"], { stdio: "inherit" });
  const stop = () => proc.kill();
  process.on("exit", stop);
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(0));
  for (let i = 0; i < 150; i++) {
    const up = await new Promise((r) => net.connect(port, "127.0.0.1").once("connect", function () { this.destroy(); r(true); }).once("error", () => r(false)));
    if (up) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  console.log(`started ${process.env.SESSIOND_BIN} on 127.0.0.1:${port}`);
  return `sessiond://127.0.0.1:${port}`;
}

async function main() {
  const url = await daemonUrl();
  const client = new Client(url, { token: process.env.SESSIOND_AUTH_TOKEN });
  await client.ping();
  const port = Number(process.env.PORT ?? 3000);
  createApp({ client }).listen(port, "127.0.0.1", () => console.log(`devices example on http://127.0.0.1:${port} (sessiond at ${url})`));
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}

module.exports = { createApp };
