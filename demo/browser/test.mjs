// The demo app in a real browser: headless Chromium (Debian's package),
// driven by playwright-core, on the embedded store and on a sessiond
// daemon. Each browser context is a separate profile with its own cookies,
// so two contexts are two devices.
//
//   DEMO_BIN       the sessiond-demo binary (required)
//   SESSIOND_BIN   the sessiond binary, for the daemon run (required)
//   CHROMIUM       the browser (default /usr/bin/chromium)
//   SCREENSHOT_DIR where pages are saved (default target/screenshots)
//
// Run: node --test --test-concurrency=1 demo/browser/test.mjs

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const screenshots = resolve(repo, process.env.SCREENSHOT_DIR ?? 'target/screenshots');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

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

const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
const ANDROID = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36';
const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1';

const children = new Set();

/** Starts a process and resolves once `ready` matches its output so far. */
function launch(bin, args, env, ready) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let output = '';
    const timer = setTimeout(() => reject(new Error(`${bin} did not start in 30 s:\n${output}`)), 30_000);
    const read = (chunk) => {
      output += chunk;
      const match = ready(output);
      if (match) {
        clearTimeout(timer);
        resolvePromise({ child, output, match });
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.on('exit', (code) => {
      children.delete(child);
      clearTimeout(timer);
      reject(new Error(`${bin} exited with ${code}:\n${output}`));
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
  const { connect } = await import('node:net');
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

/** A sessiond daemon on a free port, with an auth token. */
async function startDaemon() {
  const port = await freePort();
  const token = 'browser-test-token-' + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
  const dir = mkdtempSync(join(tmpdir(), 'sessiond-demo-'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, token + '\n');
  const child = spawn(sessiondBin, ['--listen', `127.0.0.1:${port}`, '--log-level', 'warn'], {
    env: { ...process.env, SESSIOND_AUTH_TOKEN: token },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  await waitForPort(port);
  return { url: `sessiond://127.0.0.1:${port}`, tokenFile, child };
}

/**
 * The demo on a free port, on the embedded store or on a daemon of its own
 * (accounts are per demo process, so demos must not share a daemon's
 * owners); its URL and the passwords it printed.
 */
async function startDemo(kind, extra = []) {
  const args = ['--listen', '127.0.0.1:0', ...extra];
  const store = kind === 'daemon' ? await startDaemon() : null;
  if (store) args.push('--store', store.url, '--store-token-file', store.tokenFile);
  const { child, match } = await launch(demoBin, args, {}, (out) => {
    const url = out.match(/on (http:\/\/[\d.:]+)/);
    const admin = out.match(/^\s+admin\s+(\S+)/m);
    return url && admin ? out : null;
  });
  const password = (name) => match.match(new RegExp(`^\\s+${name}\\s+(\\S+)`, 'm'))[1];
  return {
    url: match.match(/on (http:\/\/[\d.:]+)/)[1],
    accounts: { alice: password('alice'), bob: password('bob'), admin: password('admin') },
    stop: () => {
      child.kill('SIGINT');
      store?.child.kill('SIGTERM');
    },
  };
}

function shoot(page, name) {
  mkdirSync(screenshots, { recursive: true });
  return page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true });
}

/** Runs every flow against one store ("embedded" or "daemon"). */
function flows(kind) {
  describe(`demo on the ${kind} store`, () => {
    let browser;

    before(async () => {
      browser = await chromium.launch({
        executablePath: chromiumPath,
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
      });
    });

    after(async () => {
      await browser?.close();
    });

    /** A new browser profile (cookies of its own) with a user agent. */
    async function device(demo, userAgent, viewport = { width: 1000, height: 800 }) {
      const context = await browser.newContext({ userAgent, viewport, baseURL: demo.url });
      return context.newPage();
    }

    async function signIn(page, name, password) {
      await page.goto('/login');
      await page.fill('input[name=username]', name);
      await page.fill('input[name=password]', password);
      await page.click('button[type=submit]');
    }

    /** A new device signed in as `name`, on its devices page. */
    async function signedIn(demo, userAgent, name, viewport) {
      const page = await device(demo, userAgent, viewport);
      await signIn(page, name, demo.accounts[name]);
      await page.waitForURL(/\/devices$/);
      return page;
    }

    async function assertSignedOut(page) {
      await page.waitForURL(/\/login\?notice=ended$/);
      assert.match(await page.textContent('.notice'), /Your session has ended/);
    }

    test('two devices; revoke the other; it lands on the login page at its next click', async () => {
      const demo = await startDemo(kind);
      try {
        const laptop = await device(demo, FIREFOX);
        const phone = await device(demo, ANDROID, { width: 390, height: 844 });
        if (kind === 'embedded') {
          await laptop.goto('/login');
          await shoot(laptop, 'login');
        }
        await signIn(phone, 'alice', demo.accounts.alice);
        await phone.waitForURL(/\/devices$/);
        await signIn(laptop, 'alice', demo.accounts.alice);
        await laptop.waitForURL(/\/devices$/);

        const cards = laptop.locator('li.card');
        assert.equal(await cards.count(), 2);
        const mine = laptop.locator('li.card.current');
        assert.match(await mine.textContent(), /Firefox 133 on Linux/);
        assert.match(await mine.textContent(), /this device/);
        const other = laptop.locator('li.card:not(.current)');
        assert.match(await other.textContent(), /Chrome 131 on Android/);
        if (kind === 'embedded') {
          await shoot(laptop, 'devices');
          await phone.reload();
          await shoot(phone, 'devices-phone');
        }

        await other.getByRole('button', { name: 'Revoke' }).click();
        await laptop.waitForURL(/notice=revoked/);
        assert.equal(await laptop.locator('li.card').count(), 1);

        await phone.getByRole('link', { name: 'Devices' }).click();
        await assertSignedOut(phone);
        if (kind === 'embedded') await shoot(phone, 'login-after-revoke');
      } finally {
        demo.stop();
      }
    });

    test('log out all other devices', async () => {
      const demo = await startDemo(kind);
      try {
        const pages = [];
        for (const agent of [FIREFOX, ANDROID, IPHONE]) {
          pages.push(await signedIn(demo, agent, 'bob'));
        }
        const [here, ...others] = pages;
        await here.reload();
        assert.equal(await here.locator('li.card').count(), 3);
        await here.click('#logout-others');
        await here.waitForURL(/notice=others/);
        assert.equal(await here.locator('li.card').count(), 1);
        for (const page of others) {
          await page.getByRole('link', { name: 'Sessions vs JWT' }).click();
          await assertSignedOut(page);
        }
        await here.getByRole('link', { name: 'Devices' }).click();
        await here.waitForURL(/\/devices$/);
      } finally {
        demo.stop();
      }
    });

    test('admin kick ends every session of the account', async () => {
      const demo = await startDemo(kind);
      try {
        const alice = await signedIn(demo, FIREFOX, 'alice');
        const admin = await signedIn(demo, FIREFOX, 'admin');

        await admin.getByRole('link', { name: 'Admin' }).click();
        const row = admin.locator('tr[data-account=alice]');
        assert.equal((await row.locator('.count').textContent()).trim(), '1');
        if (kind === 'embedded') await shoot(admin, 'admin');
        await row.getByRole('button', { name: 'Kick' }).click();
        await admin.waitForURL(/kicked=alice/);
        assert.match(await admin.textContent('.notice'), /alice was signed out everywhere: 1 session/);
        assert.equal((await admin.locator('tr[data-account=alice] .count').textContent()).trim(), '0');

        await alice.getByRole('link', { name: 'Devices' }).click();
        await assertSignedOut(alice);
        // Not an admin: no admin page.
        await signIn(alice, 'alice', demo.accounts.alice);
        await alice.waitForURL(/\/devices$/);
        const response = await alice.goto('/admin');
        assert.equal(response.status(), 403);
      } finally {
        demo.stop();
      }
    });

    test('the limit refuses a third device with a clear message', async () => {
      const demo = await startDemo(kind, ['--max-sessions', '2', '--limit-policy', 'refuse']);
      try {
        for (const agent of [FIREFOX, ANDROID]) {
          await signedIn(demo, agent, 'alice');
        }
        const third = await device(demo, IPHONE);
        await signIn(third, 'alice', demo.accounts.alice);
        assert.match(await third.textContent('.error'), /already signed in on 2 devices, the most allowed/);
        assert.match(third.url(), /\/login$/);
        if (kind === 'embedded') await shoot(third, 'login-limit');
      } finally {
        demo.stop();
      }
    });

    test('the limit evicts the least recently used device', async () => {
      const demo = await startDemo(kind, ['--max-sessions', '2', '--limit-policy', 'evict-oldest']);
      try {
        const first = await signedIn(demo, FIREFOX, 'alice');
        // Last-seen times are in seconds: let the second device be later.
        await new Promise((r) => setTimeout(r, 1100));
        const second = await signedIn(demo, ANDROID, 'alice');
        await new Promise((r) => setTimeout(r, 1100));
        const third = await device(demo, IPHONE);
        await signIn(third, 'alice', demo.accounts.alice);
        await third.waitForURL(/notice=evicted/);
        assert.match(await third.textContent('.notice'), /used least recently was signed out/);
        await first.getByRole('link', { name: 'Devices' }).click();
        await assertSignedOut(first);
        await second.getByRole('link', { name: 'Devices' }).click();
        await second.waitForURL(/\/devices$/);
      } finally {
        demo.stop();
      }
    });

    test('the JWT page: revoke with and without the denylist; a session ends at once', async () => {
      const demo = await startDemo(kind);
      try {
        const page = await signedIn(demo, FIREFOX, 'alice');
        await page.getByRole('link', { name: 'Sessions vs JWT' }).click();
        await page.click('#issue');
        await page.click('#check');
        assert.match(await page.textContent('#outcome'), /^Accepted/);
        await page.click('#revoke-plain');
        assert.match(await page.textContent('#outcome'), /Revoked without the denylist/);
        await page.click('#check');
        assert.match(await page.textContent('#outcome'), /^Accepted/);
        await page.click('#revoke-denylist');
        await page.click('#check');
        assert.match(await page.textContent('#outcome'), /Rejected: invalid access token: revoked/);
        if (kind === 'embedded') await shoot(page, 'jwt');
        await page.click('#end-session');
        await assertSignedOut(page);
      } finally {
        demo.stop();
      }
    });
  });
}

flows('embedded');
flows('daemon');

process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
