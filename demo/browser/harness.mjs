// Starting the demo and a sessiond daemon for the browser tests, and the
// few steps every flow repeats. See test.mjs for the flows.

import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const screenshots = resolve(repo, process.env.SCREENSHOT_DIR ?? 'target/screenshots');
export const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

function required(name) {
  const value = process.env[name];
  if (!value || !existsSync(value)) {
    throw new Error(`${name} must name an existing binary (got ${JSON.stringify(value)}); scripts/test.sh sets it`);
  }
  return value;
}

const demoBin = required('DEMO_BIN');
const sessiondBin = required('SESSIOND_BIN');
if (!existsSync(chromiumPath)) {
  throw new Error(`no Chromium at ${chromiumPath}: install Debian's chromium package or set CHROMIUM`);
}

export const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
export const ANDROID = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36';
export const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1';

const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** Starts a process; resolves once `ready` matches its output so far. */
function launch(bin, args, env, ready) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    const state = { output: '' };
    const timer = setTimeout(() => reject(new Error(`${bin} did not start in 30 s:\n${state.output}`)), 30_000);
    const read = (chunk) => {
      state.output += chunk;
      if (timer && ready(state.output)) {
        clearTimeout(timer);
        resolvePromise({ child, state });
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.on('exit', (code) => {
      children.delete(child);
      clearTimeout(timer);
      reject(new Error(`${bin} exited with ${code}:\n${state.output}`));
    });
  });
}

function freePort() {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePromise(port));
    });
  });
}

async function waitForPort(port) {
  for (let i = 0; i < 300; i++) {
    const open = await new Promise((ok) => {
      const socket = connect(port, '127.0.0.1');
      socket.on('connect', () => { socket.destroy(); ok(true); });
      socket.on('error', () => ok(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}

/** A sessiond daemon on a free port (or `port`), with an auth token, in memory. */
export async function startDaemon(previous) {
  const port = previous?.port ?? await freePort();
  const token = previous?.token ?? 'browser-test-token-' + randomBytes(24).toString('hex');
  const tokenFile = previous?.tokenFile ?? join(mkdtempSync(join(tmpdir(), 'sessiond-demo-')), 'token');
  writeFileSync(tokenFile, token + '\n');
  const child = spawn(sessiondBin, ['--listen', `127.0.0.1:${port}`, '--log-level', 'warn'], {
    env: { ...process.env, SESSIOND_AUTH_TOKEN: token },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.add(child);
  const exited = new Promise((ok) => child.on('exit', () => { children.delete(child); ok(); }));
  await waitForPort(port);
  return {
    url: `sessiond://127.0.0.1:${port}`, port, token, tokenFile, child,
    stop: async () => { child.kill('SIGTERM'); await exited; },
  };
}

/**
 * The demo on a free port, on the embedded store or on a daemon of its own
 * (accounts are per demo process, so demos must not share a daemon's
 * owners); its URL, the passwords it printed, and its log so far.
 * `opts.store` reuses a daemon, `opts.port` a port, `opts.dataDir` keeps
 * the embedded store on disk.
 */
export async function startDemo(kind, extra = [], opts = {}) {
  const port = opts.port ?? await freePort();
  const args = ['--listen', `127.0.0.1:${port}`, ...extra];
  const store = kind === 'daemon' ? (opts.store ?? await startDaemon()) : null;
  if (store) args.push('--store', store.url, '--store-token-file', store.tokenFile);
  if (opts.dataDir) args.push('--data-dir', opts.dataDir);
  const { child, state } = await launch(demoBin, args, {}, (out) => /on http:\/\/[\d.:]+/.test(out) && /^\s+admin\s+\S+/m.test(out));
  const password = (name) => state.output.match(new RegExp(`^\\s+${name}\\s+(\\S+)`, 'm'))[1];
  const exited = new Promise((ok) => child.on('exit', ok));
  const demo = {
    url: `http://127.0.0.1:${port}`,
    port,
    store,
    accounts: { alice: password('alice'), bob: password('bob'), admin: password('admin') },
    log: () => state.output,
    /** Stops the demo (and its daemon, as replaced since, unless `keepStore`). */
    stop: async ({ keepStore = false } = {}) => {
      child.kill('SIGINT');
      await exited;
      if (demo.store && !keepStore) await demo.store.stop();
    },
  };
  return demo;
}

export function shoot(page, name) {
  mkdirSync(screenshots, { recursive: true });
  return page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true });
}

/** A new browser profile (cookies of its own) with a user agent. */
export async function device(browser, demo, userAgent, options = {}) {
  const context = await browser.newContext({
    userAgent, baseURL: demo.url, viewport: { width: 1000, height: 800 }, ...options,
  });
  const page = await context.newPage();
  // Every 404 a page meets (a missing favicon, say) is recorded.
  page.missing = [];
  page.on('response', (r) => { if (r.status() === 404) page.missing.push(r.url()); });
  return page;
}

export async function signIn(page, name, password) {
  if (!page.url().includes('/login')) await page.goto('/login');
  await page.fill('input[name=username]', name);
  await page.fill('input[name=password]', password);
  await page.click('form.card button[type=submit]');
  await page.waitForLoadState();
}

/** A new device signed in as `name`, on its devices page. */
export async function signedIn(browser, demo, userAgent, name, options) {
  const page = await device(browser, demo, userAgent, options);
  await signIn(page, name, demo.accounts[name]);
  await page.waitForURL(/\/devices$/);
  return page;
}

/** The page is the login page, saying why the session ended. */
export async function assertEnded(page, why, text) {
  await page.waitForURL(new RegExp(`/login\\?ended=${why}`));
  assert.match(await page.textContent('.notice'), text);
}
