"use strict";
/**
 * Live daemons for the tests: started from $SESSIOND_BIN (or the repo's
 * cargo target directory), each on a free loopback port, restartable on
 * that port, and always killed when the test process ends, even when a
 * test failed. A missing binary fails loudly: live tests never skip.
 */

const { spawn } = require("node:child_process");
const fs = require("node:fs");
const net = require("node:net");
const path = require("node:path");

const REPO = path.resolve(__dirname, "..", "..", "..", "..");

function findBinary() {
  const candidates = [];
  if (process.env.SESSIOND_BIN) {
    candidates.push(process.env.SESSIOND_BIN);
  } else {
    const roots = [process.env.CARGO_TARGET_DIR, path.join(REPO, "target")].filter(Boolean);
    for (const root of roots) candidates.push(path.join(root, "debug", "sessiond"), path.join(root, "release", "sessiond"));
  }
  for (const c of candidates) {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      if (fs.statSync(c).isFile()) return c;
    } catch {
      // try the next one
    }
  }
  throw new Error(
    `sessiond binary not found (looked at: ${candidates.join(", ")}). ` +
      "Build it with `cargo build --bin sessiond` or set SESSIOND_BIN to its path.",
  );
}

/**
 * Ports this process has handed out: never handed out twice.
 */
const handedOut = new Set();

/** Whether `port` can be listened on now. */
function bindable(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

/**
 * A port free for a daemon to listen on. Chosen below the kernel's
 * ephemeral range (32768 and up), so that no outgoing connection of a test
 * can take it between now and the daemon's bind: asking the kernel for
 * port 0 gave ports of that range, and CI once saw a raft port taken
 * before its member bound it. Bounded at 500 tries.
 */
async function freePort() {
  for (let i = 0; i < 500; i++) {
    const port = 20000 + Math.floor(Math.random() * 12768);
    if (handedOut.has(port)) continue;
    if (await bindable(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error("no free port below the ephemeral range in 500 tries");
}

const running = new Set();
process.on("exit", () => {
  for (const d of running) d.proc?.kill("SIGKILL");
});

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Daemon {
  constructor(args = [], env = {}) {
    this.binary = findBinary();
    this.args = args;
    this.env = { ...process.env, ...env };
    if (!("SESSIOND_AUTH_TOKEN" in env)) delete this.env.SESSIOND_AUTH_TOKEN;
    this.proc = undefined;
    this.port = 0;
    this.stderr = "";
  }

  /** Start a daemon on a fresh port; resolves once it accepts connections. */
  static async start(args = [], env = {}) {
    const d = new Daemon(args, env);
    d.port = await freePort();
    await d.start();
    return d;
  }

  get url() {
    return `sessiond://127.0.0.1:${this.port}`;
  }

  /** (Re)start on this daemon's port; bounded at 15 s. */
  async start() {
    const argv = ["--listen", `127.0.0.1:${this.port}`, "--log-level", "warn", ...this.args];
    const proc = spawn(this.binary, argv, { env: this.env, stdio: ["ignore", "ignore", "pipe"] });
    this.proc = proc;
    running.add(this);
    proc.stderr.on("data", (c) => (this.stderr += c));
    let exited = false;
    proc.once("exit", () => (exited = true));
    const deadline = Date.now() + 15000;
    while (Date.now() < deadline) {
      if (exited) throw new Error(`sessiond exited with ${proc.exitCode}: ${this.stderr}`);
      if (await canConnect(this.port)) return;
      await sleep(20);
    }
    throw new Error(`sessiond did not listen on port ${this.port} within 15 s: ${this.stderr}`);
  }

  /** SIGKILL, and wait until the process is gone. */
  async kill() {
    const proc = this.proc;
    this.proc = undefined;
    running.delete(this);
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGKILL");
    await gone;
  }
}

/** A unique owner name per call, so tests never see each other's sessions. */
let counter = 0;
function owner(prefix = "user") {
  return `${prefix}:${process.pid}:${Date.now()}:${++counter}`;
}

module.exports = { Daemon, findBinary, freePort, owner, sleep, REPO };
