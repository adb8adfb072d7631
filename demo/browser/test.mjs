// The demo app in a real browser: headless Chromium (Debian's package),
// driven by playwright-core, on the embedded store and on a sessiond
// daemon. Each browser context is a separate profile with its own cookies,
// so two contexts are two devices. The flows are those of issue 18, as a
// first-time visitor meets them.
//
//   DEMO_BIN       the sessiond-demo binary (required)
//   SESSIOND_BIN   the sessiond binary, for the daemon run (required)
//   CHROMIUM       the browser (default /usr/bin/chromium)
//   SCREENSHOT_DIR where pages are saved (default target/screenshots)
//
// Run: node --test --test-concurrency=1 demo/browser/test.mjs

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import {
  ANDROID, FIREFOX, IPHONE, assertEnded, chromiumPath, device, shoot, signIn, signedIn, startDaemon, startDemo,
} from './harness.mjs';

/** Runs `body` with a fresh demo, stopped afterwards whatever happens. */
async function withDemo(kind, extra, body) {
  const demo = await startDemo(kind, extra);
  try {
    await body(demo);
  } finally {
    await demo.stop();
  }
}

/** Runs every flow against one store ("embedded" or "daemon"). */
function flows(kind) {
  describe(`demo on the ${kind} store`, () => {
    let browser;
    const embedded = kind === 'embedded';

    before(async () => {
      browser = await chromium.launch({
        executablePath: chromiumPath,
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
      });
    });

    after(async () => {
      await browser?.close();
    });

    test('flow 1: a first visit is asked to sign in, not told a session ended', () => withDemo(kind, [], async (demo) => {
      const page = await device(browser, demo, FIREFOX);
      await page.goto('/');
      await page.waitForURL(/\/login\?next=\/devices$/);
      assert.equal(await page.locator('.notice').count(), 0);
      assert.doesNotMatch(await page.textContent('main'), /ended/);
      const me = await page.request.get('/api/me');
      assert.equal(me.status(), 401);
      assert.equal((await me.json()).code, 'not_signed_in');
      if (embedded) await shoot(page, 'login');
    }));

    test('flow 2: "Get a token" reuses one refresh session; a full account is told on the page', () => withDemo(kind, ['--max-sessions', '2'], async (demo) => {
      const page = await signedIn(browser, demo, FIREFOX, 'alice');
      await page.goto('/jwt');
      for (let i = 0; i < 3; i++) {
        await page.click('#issue');
        await page.waitForURL(/\/jwt$/);
      }
      await page.goto('/devices');
      assert.equal(await page.locator('li.card').count(), 2, 'this browser and one refresh session');
      const other = await device(browser, demo, ANDROID);
      await signIn(other, 'alice', demo.accounts.alice);
      assert.match(await other.textContent('.error'), /already signed in on 2 devices, the most allowed/);
      assert.equal(await other.title(), 'Sign in · sessiond demo');
      // With the account full, a token is refused on the JWT page itself.
      await page.goto('/devices');
      await page.locator('li.card:not(.current)').getByRole('button', { name: 'Revoke' }).click();
      await page.click('#confirm');
      await signIn(other, 'alice', demo.accounts.alice);
      await other.waitForURL(/\/devices$/);
      await page.goto('/jwt');
      await page.click('#issue');
      await page.waitForURL(/\/jwt$/);
      assert.match(await page.textContent('#outcome'), /No token: a token needs a refresh session/);
      assert.match(await page.textContent('header'), /Sign out alice/);
    }));

    test('flows 3 and 4: password mistakes show on the form and lock nobody out', () => withDemo(kind, [], async (demo) => {
      const page = await signedIn(browser, demo, FIREFOX, 'alice');
      const fill = async (current, next, confirm) => {
        await page.fill('input[name=current]', current);
        await page.fill('input[name=new]', next);
        await page.fill('input[name=confirm]', confirm);
        await page.click('form[action="/password"] button');
        await page.waitForLoadState();
      };
      await fill(demo.accounts.alice, 'a-new-long-password', 'another-long-password');
      assert.match(await page.textContent('#password-error'), /differ/);
      for (let i = 0; i < 4; i++) {
        await fill('wrong-password', 'a-new-long-password', 'a-new-long-password');
        assert.match(await page.textContent('#password-error'), /current password is not right/);
        assert.match(await page.textContent('header'), /Sign out alice/);
      }
      if (embedded) await shoot(page, 'password-error');
      await fill('wrong-password', 'a-new-long-password', 'a-new-long-password');
      await assertEnded(page, 'wrong-passwords', /too many wrong current passwords/);
      // Sign-ins were never paused: the same and another device sign in.
      await signIn(page, 'alice', demo.accounts.alice);
      await page.waitForURL(/\/devices$/);
      await signedIn(browser, demo, ANDROID, 'alice');
    }));

    test('flows 5 and 13: unknown addresses and refusals are pages in words, with the menu', () => withDemo(kind, [], async (demo) => {
      const page = await signedIn(browser, demo, FIREFOX, 'alice');
      let response = await page.goto('/no-such-page');
      assert.equal(response.status(), 404);
      assert.equal(await page.textContent('h1'), 'Not found');
      assert.match(await page.textContent('header'), /Sign out alice/);
      response = await page.goto('/jwt/issue');
      assert.equal(response.status(), 405);
      assert.equal(await page.textContent('h1'), 'Nothing to show here');
      response = await page.goto('/admin');
      assert.equal(response.status(), 403);
      assert.equal(await page.title(), 'Not for this account · sessiond demo');
      assert.match(await page.textContent('header'), /Devices/);
      if (embedded) await shoot(page, 'error');
      for (const title of ['Conflict', 'Forbidden', 'Unauthorized', 'Too Many Requests']) {
        assert.doesNotMatch(await page.title(), new RegExp(title));
      }
    }));

    test('flows 6 and 10: JWT results are a GET, times are local with UTC in a tooltip', () => withDemo(kind, [], async (demo) => {
      const page = await signedIn(browser, demo, FIREFOX, 'alice', { timezoneId: 'Asia/Tokyo' });
      await page.goto('/jwt');
      await page.click('#issue');
      await page.waitForURL(/\/jwt$/);
      const verdicts = page.locator('.verdicts li');
      assert.equal(await verdicts.count(), 3);
      for (let i = 0; i < 3; i++) assert.match(await verdicts.nth(i).textContent(), /Accepted, for/);
      await page.click('#revoke-session');
      await page.waitForURL(/\/jwt$/);
      assert.match(await verdicts.nth(0).textContent(), /Accepted/, 'a plain JWT cannot be taken back');
      assert.match(await verdicts.nth(1).textContent(), /Accepted/);
      assert.match(await verdicts.nth(2).textContent(), /Refused. The session this token belongs to has ended/);
      await page.click('#revoke-denylist');
      await page.waitForURL(/\/jwt$/);
      assert.match(await verdicts.nth(1).textContent(), /Refused. This token was revoked/);
      assert.match(await verdicts.nth(0).textContent(), /Accepted/);
      // A reload re-submits nothing: it is a GET of /jwt.
      const before = await page.textContent('pre.token');
      const reload = await page.reload();
      assert.equal(reload.request().method(), 'GET');
      assert.equal(await page.textContent('pre.token'), before);
      // iat and exp are times in this browser's zone, UTC on hover.
      const exp = page.locator('table.claims time').nth(1);
      assert.match(await exp.getAttribute('title'), / UTC$/);
      assert.match(await exp.textContent(), /^in 4 min|^in 5 min|^in \d+ s/);
      assert.equal(await exp.getAttribute('data-local'), 'yes');
      assert.doesNotMatch(await page.textContent('table.claims'), /\b1[0-9]{9}\b/, 'no raw Unix seconds');
      if (embedded) await shoot(page, 'jwt');
      await page.goto('/devices');
      const seen = page.locator('li.card.current time').nth(1);
      assert.match(await seen.textContent(), /^just now \(/);
      const utc = await seen.getAttribute('title');
      const local = await page.evaluate((iso) => new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' }), await seen.getAttribute('datetime'));
      assert.ok((await seen.textContent()).includes(local), `${await seen.textContent()} vs ${local} (${utc})`);
      // Most recently used first, this device on a same-second tie.
      assert.equal(await page.locator('li.card').first().getAttribute('class'), 'card current');
    }));

    // Flow 7 is the daemon's alone: an embedded store is in the app's own
    // process and cannot be down while the app runs.
    if (!embedded) test('flow 7: a store that is down is said at once, with a way to try again', async () => {
      await withDemo(kind, [], async (demo) => {
        const page = await signedIn(browser, demo, FIREFOX, 'alice');
        await demo.store.stop();
        const started = Date.now();
        const response = await page.goto('/devices');
        assert.ok(Date.now() - started < 3000, `${Date.now() - started} ms`);
        assert.equal(response.status(), 503);
        assert.match(await page.textContent('.error'), /cannot be reached right now/);
        assert.doesNotMatch(await page.textContent('main'), /timed out/);
        assert.equal(await page.getAttribute('#retry', 'href'), '');
        assert.match(demo.log(), /session store unavailable/);
        // Back up (in memory, so empty): "Try again" works, and says why.
        demo.store = await startDaemon(demo.store);
        await page.click('#retry');
        await assertEnded(page, 'store-restarted', /restarted without keeping its sessions/);
      });
    });

    test('flow 8: after the store lost its sessions the page says so, not "signed out elsewhere"', async () => {
      const demo = await startDemo(kind);
      let again = null;
      try {
        const page = await signedIn(browser, demo, FIREFOX, 'alice');
        if (embedded) {
          // The embedded store in memory lives and dies with the app.
          await demo.stop();
          again = await startDemo(kind, [], { port: demo.port });
          await page.goto('/devices');
          await assertEnded(page, 'expired-or-lost', /lost when the session store restarted/);
        } else {
          await demo.store.stop();
          demo.store = await startDaemon(demo.store);
          await page.goto('/devices');
          await assertEnded(page, 'store-restarted', /restarted without keeping its sessions/);
          assert.match(demo.log(), /lost its data/);
        }
        assert.doesNotMatch(await page.textContent('.notice'), /another device|administrator/);
      } finally {
        await (again ?? demo).stop();
      }
    });

    test('flow 9: a restart of the demo keeps JWTs valid (the key is in the store)', async () => {
      const dataDir = embedded ? mkdtempSync(join(tmpdir(), 'sessiond-demo-data-')) : undefined;
      const demo = await startDemo(kind, [], { dataDir });
      let again = null;
      try {
        const page = await signedIn(browser, demo, FIREFOX, 'alice');
        await page.goto('/jwt');
        await page.click('#issue');
        await page.waitForURL(/\/jwt$/);
        await demo.stop({ keepStore: true });
        again = await startDemo(kind, [], { port: demo.port, store: demo.store, dataDir });
        await page.reload();
        const verdicts = page.locator('.verdicts li');
        for (let i = 0; i < 3; i++) assert.match(await verdicts.nth(i).textContent(), /Accepted/);
        assert.doesNotMatch(await page.textContent('main'), /not a token this app signed/);
      } finally {
        await (again ?? demo).stop();
      }
    });

    test('flows 11 and 12: kick, revoke and "log out all others" ask first; the admin notice is not from the URL', () => withDemo(kind, [], async (demo) => {
      const alice = await signedIn(browser, demo, FIREFOX, 'alice');
      const phone = await signedIn(browser, demo, ANDROID, 'alice');
      const admin = await signedIn(browser, demo, FIREFOX, 'admin');
      await admin.goto('/admin?kicked=bob&ended=999');
      assert.equal(await admin.locator('.notice').count(), 0);
      await admin.locator('tr[data-account=admin]').getByRole('button', { name: 'Kick' }).click();
      assert.match(await admin.textContent('#warning'), /your own account/);
      await admin.click('#cancel');
      await admin.waitForURL(/\/admin$/);
      if (embedded) await shoot(admin, 'admin');
      await admin.locator('tr[data-account=alice]').getByRole('button', { name: 'Kick' }).click();
      assert.match(await admin.textContent('main'), /This ends 2 sessions of alice/);
      if (embedded) await shoot(admin, 'confirm-kick');
      await admin.click('#confirm');
      await admin.waitForURL(/\/admin$/);
      assert.equal(await admin.textContent('.notice'), 'alice was signed out everywhere: 2 sessions ended.');
      await admin.reload();
      assert.equal(await admin.locator('.notice').count(), 0, 'said once');
      // Alice's open page goes to the sign-in page by itself.
      await assertEnded(alice, 'kicked', /administrator signed this account out/);

      // Revoke and "log out all other devices" ask too.
      const here = await signedIn(browser, demo, FIREFOX, 'alice');
      await signIn(phone, 'alice', demo.accounts.alice);
      await here.reload();
      await here.locator('li.card:not(.current)').getByRole('button', { name: 'Revoke' }).click();
      assert.match(await here.textContent('h1'), /Sign out Chrome 131 on Android\?/);
      await here.click('#cancel');
      await here.click('#logout-others');
      assert.match(await here.textContent('main'), /other device signed in to this account will be signed out/);
      await here.click('#confirm');
      await here.waitForURL(/notice=others/);
      // The phone's open page goes to the sign-in page by itself, as
      // Alice's did when she was kicked. (Navigating it meanwhile would race
      // that redirect: a goto the page's own navigation cuts off never loads.)
      await assertEnded(phone, 'others', /Log out all other devices/);
      // And a page asked for with the ended session's cookie says so too.
      await phone.goto('/jwt');
      await assertEnded(phone, 'others', /Log out all other devices/);
    }));

    test('flow 14: back where you were after signing in; eviction names the device; no 404s; nosniff', () => withDemo(kind, ['--max-sessions', '2', '--limit-policy', 'evict-oldest'], async (demo) => {
      const first = await signedIn(browser, demo, ANDROID, 'alice', { viewport: { width: 390, height: 844 } });
      await new Promise((r) => setTimeout(r, 1100));
      await signedIn(browser, demo, IPHONE, 'alice');
      await new Promise((r) => setTimeout(r, 1100));
      const page = await device(browser, demo, FIREFOX);
      await page.goto('/jwt');
      await page.waitForURL(/\/login\?next=\/jwt$/);
      await signIn(page, 'alice', demo.accounts.alice);
      await page.waitForURL(/\/jwt$/);
      assert.match(await page.textContent('#outcome'), /the one used least recently, Chrome 131 on Android, was signed out/);
      // The evicted phone's open page shows the sign-in page by itself.
      await assertEnded(first, 'evicted', /make room/);
      if (embedded) await shoot(first, 'login-after-eviction');
      await page.goto('/devices');
      if (embedded) await shoot(page, 'devices');
      assert.deepEqual([...page.missing, ...first.missing], []);
      const css = await page.request.get('/style.css');
      assert.equal(css.headers()['x-content-type-options'], 'nosniff');
      const cookies = await page.context().cookies();
      const sid = cookies.find((c) => c.name === '__Host-sid');
      assert.ok(sid && sid.secure && sid.httpOnly && sid.sameSite === 'Lax', JSON.stringify(cookies));
    }));

    test('two devices on a phone and a laptop; revoke the other; it is told why', () => withDemo(kind, [], async (demo) => {
      const phone = await signedIn(browser, demo, ANDROID, 'bob', { viewport: { width: 390, height: 844 } });
      const laptop = await signedIn(browser, demo, FIREFOX, 'bob');
      const mine = laptop.locator('li.card.current');
      assert.match(await mine.textContent(), /Firefox 133 on Linux/);
      const other = laptop.locator('li.card:not(.current)');
      assert.match(await other.textContent(), /Chrome 131 on Android/);
      if (embedded) {
        await phone.reload();
        await shoot(phone, 'devices-phone');
      }
      await other.getByRole('button', { name: 'Revoke' }).click();
      await laptop.click('#confirm');
      await laptop.waitForURL(/notice=revoked/);
      assert.equal(await laptop.locator('li.card').count(), 1);
      // The phone's open page goes to the sign-in page by itself.
      await assertEnded(phone, 'revoked', /signed out from another of your devices/);
      if (embedded) await shoot(phone, 'login-after-revoke');
    }));

    test('live: an open page shows the sign-in page by itself when another device revokes it; the admin sees it happen', () => withDemo(kind, [], async (demo) => {
      const admin = await signedIn(browser, demo, FIREFOX, 'admin');
      await admin.goto('/admin');
      const phone = await signedIn(browser, demo, ANDROID, 'bob');
      const laptop = await signedIn(browser, demo, FIREFOX, 'bob');
      // The admin's open page lists the sign-ins as they happen.
      await admin.locator('#feed li.signin', { hasText: 'bob signed in on Firefox 133 on Linux' }).waitFor();
      await laptop.locator('li.card:not(.current)').getByRole('button', { name: 'Revoke' }).click();
      await laptop.click('#confirm');
      await laptop.waitForURL(/notice=revoked/);
      // Nobody touches the phone: its open page hears the end and shows
      // the sign-in page, which says why.
      await assertEnded(phone, 'revoked', /signed out from another of your devices/);
      await admin.locator('#feed li.signout', { hasText: 'bob signed out of Chrome 131 on Android' }).waitFor();
      if (embedded) await shoot(admin, 'admin-live-feed');
    }));
  });
}

flows('embedded');
flows('daemon');
