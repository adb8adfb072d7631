"use strict";
// Connections: auth, TLS, timeouts, BUSY, raw protocol errors, and
// recovery after the server is killed and restarted on the same port.

const assert = require("node:assert/strict");
const fs = require("node:fs");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");
const { after, before, test: nodeTest } = require("node:test");

// Every test is bounded in time, so a hang fails instead of stalling CI.
const test = (name, fn) => nodeTest(name, { timeout: 60_000 }, fn);

const sessiond = require("sessiond");
const { Client, protocol } = sessiond;
const { Daemon, freePort, owner, sleep } = require("./helpers/daemon");

const FIXTURES = path.join(__dirname, "fixtures");
const CERT = path.join(FIXTURES, "localhost.crt");
const KEY = path.join(FIXTURES, "localhost.key");

let tmp;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sessiond-node-"));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Run `fn(daemon)` against a daemon of its own, killed afterwards whatever happens. */
async function withDaemon(args, fn) {
  const d = await Daemon.start(args);
  try {
    await fn(d);
  } finally {
    await d.kill();
  }
}

/**
 * SIGSTOP the daemon and give the signal time to land: threads already on a
 * CPU run on for a moment, and could still answer what is sent right away.
 */
async function stop(d) {
  d.proc.kill("SIGSTOP");
  await sleep(50);
}

/** Run `fn(client)` and close the client afterwards. */
async function using(client, fn) {
  try {
    await fn(client);
  } finally {
    await client.close();
  }
}

test("auth: the right token from an option, a file or the URL; none; a wrong one", async () => {
  const tokenFile = path.join(tmp, "token");
  fs.writeFileSync(tokenFile, "s3cret-token-padded-to-the-32-byte-minimum\n");
  await withDaemon(["--auth-token-file", tokenFile], async (d) => {
    await using(new Client(d.url, { token: "s3cret-token-padded-to-the-32-byte-minimum" }), async (c) => {
      assert.ok(await c.create(owner(), { data: "x" }));
    });
    // A token file loses its surrounding whitespace, as the server and the
    // other clients read it.
    const clientFile = path.join(tmp, "client-token");
    fs.writeFileSync(clientFile, " \ts3cret-token-padded-to-the-32-byte-minimum\r\n\n");
    await using(new Client(d.url, { tokenFile: clientFile }), async (c) => {
      assert.equal(typeof (await c.stats()).sessions, "number");
    });
    await using(new Client(`sessiond://:s3cret-token-padded-to-the-32-byte-minimum@127.0.0.1:${d.port}`), async (c) => {
      await c.stats();
    });
    await using(new Client(d.url), async (c) => {
      await c.ping(); // PING is answered before AUTH
      await assert.rejects(c.create(owner()), sessiond.AuthRequired);
      await assert.rejects(c.stats(), sessiond.AuthRequired);
    });
    await using(new Client(d.url, { token: "wrong" }), async (c) => {
      await assert.rejects(c.ping(), sessiond.AuthFailed);
      assert.equal(c.poolStats().open, 0);
    });
  });
  const empty = path.join(tmp, "empty");
  fs.writeFileSync(empty, "\n");
  assert.throws(() => new Client({ tokenFile: empty }), /empty/);
  assert.throws(() => new Client({ tokenFile: path.join(tmp, "missing") }), sessiond.ClientError);
  assert.deepEqual(sessiond.readTokenFile(path.join(tmp, "client-token")), Buffer.from("s3cret-token-padded-to-the-32-byte-minimum"));
});

test("TLS: verified against a CA file; refused without it or under another name", async () => {
  await withDaemon(["--tls-cert", CERT, "--tls-key", KEY], async (d) => {
    await using(new Client(`sessiond+tls://localhost:${d.port}`, { caFile: CERT }), async (c) => {
      const id = await c.create(owner(), { data: "secret" });
      assert.equal((await c.get(id)).data.toString(), "secret");
    });
    await using(new Client({ host: "127.0.0.1", port: d.port, tls: true, caFile: CERT }), async (c) => {
      await c.ping(); // the certificate names the IP too
    });
    // Verification is on by default: a self-signed certificate is refused.
    await using(new Client(`sessiond+tls://localhost:${d.port}`), async (c) => {
      await assert.rejects(c.ping(), (e) => e instanceof sessiond.ConnectionError && /TLS|certificate/i.test(e.message));
    });
    await using(new Client({ host: "127.0.0.1", port: d.port, caFile: CERT, servername: "example.com" }), async (c) => {
      await assert.rejects(c.ping(), sessiond.ConnectionError);
    });
    // A plain client against a TLS server fails clearly, not by hanging.
    await using(new Client(`sessiond://127.0.0.1:${d.port}`, { connectTimeoutMs: 2000 }), async (c) => {
      const t = performance.now();
      await assert.rejects(c.ping(), sessiond.ClientError);
      assert.ok(performance.now() - t < 3000);
    });
  });
});

test("connect timeout: a listener that never answers the hello", async () => {
  const sockets = [];
  const srv = net.createServer((s) => sockets.push(s));
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  try {
    await using(new Client({ port: srv.address().port, connectTimeoutMs: 300 }), async (c) => {
      const t = performance.now();
      await assert.rejects(c.ping(), sessiond.TimeoutError);
      const took = performance.now() - t;
      assert.ok(took >= 250 && took < 2000, `took ${took} ms`);
    });
  } finally {
    for (const s of sockets) s.destroy();
    srv.close();
  }
});

test("request timeout: a stopped server; the connection is dropped and replaced", async () => {
  await withDaemon([], async (d) => {
    await using(new Client(d.url, { requestTimeoutMs: 300, poolSize: 1 }), async (c) => {
      await c.ping();
      await stop(d);
      try {
        const t = performance.now();
        const [first, second] = await Promise.allSettled([c.ping(), c.count(owner())]);
        const took = performance.now() - t;
        assert.ok(first.reason instanceof sessiond.TimeoutError, String(first.reason));
        // The call behind it shares its fate: the connection's framing is unknown now.
        assert.ok(second.reason instanceof sessiond.ConnectionError, String(second.reason));
        assert.ok(took >= 250 && took < 3000, `took ${took} ms`);
      } finally {
        d.proc.kill("SIGCONT");
      }
      await c.ping();
      assert.equal(c.poolStats().opened, 2);
    });
  });
});

test("reconnect: in-flight calls fail when the server dies; the pool recovers after a restart", async () => {
  await withDaemon([], async (d) => {
    await using(new Client(d.url, { backoff: { minMs: 20, maxMs: 200 }, poolSize: 2 }), async (c) => {
      const k = `k:${owner()}`;
      await c.setKey(k, "before");
      // Calls written to a stopped server are in flight when it is killed.
      await stop(d);
      const inFlight = Promise.allSettled([c.incr(k), c.getKey(k), c.ping()]);
      await sleep(50);
      assert.ok(c.poolStats().inFlight >= 3);
      await d.kill();
      const settled = await inFlight;
      for (const s of settled) assert.ok(s.status === "rejected" && s.reason instanceof sessiond.ConnectionError, String(s.reason));
      // Nobody listening: a clear ConnectionError, fast.
      await assert.rejects(c.ping(), sessiond.ConnectionError);

      await d.start(); // same port
      let recovered;
      const deadline = Date.now() + 10000;
      for (let i = 0; i < 200 && Date.now() < deadline && recovered === undefined; i++) {
        try {
          await c.setKey(k, "after restart");
          recovered = i;
        } catch (e) {
          assert.ok(e instanceof sessiond.ConnectionError, String(e));
          await sleep(25);
        }
      }
      assert.notEqual(recovered, undefined, "the client did not reconnect within 10 s");
      assert.equal((await c.getKey(k)).toString(), "after restart");
      assert.equal(c.poolStats().failures, 0);
      assert.ok(c.poolStats().opened >= 2);
    });
  });
});

test("backoff doubles from min to max, spread over its upper half", () => {
  const { Pool } = require("../dist/pool");
  const pool = new Pool({ backoff: { minMs: 50, maxMs: 5000 } });
  for (const [n, full] of [[0, 50], [1, 100], [3, 400], [7, 5000], [40, 5000]]) {
    for (let i = 0; i < 20; i++) {
      const d = pool.delay(n);
      assert.ok(d >= full / 2 && d <= full, `delay(${n}) = ${d}`);
    }
  }
});

test("BUSY: a server at its connection limit", async () => {
  await withDaemon(["--max-connections", "1"], async (d) => {
    await using(new Client(d.url, { poolSize: 1, backoff: { minMs: 10, maxMs: 20 } }), async (a) => {
      // The readiness probe holds the only slot until the server sees it close.
      for (let i = 0; i < 100; i++) {
        try {
          await a.ping();
          break;
        } catch (e) {
          if (!(e instanceof sessiond.Busy || e instanceof sessiond.ConnectionError)) throw e;
          await sleep(30);
        }
      }
      await a.ping();
      await using(new Client(d.url), async (b) => {
        await assert.rejects(b.ping(), sessiond.Busy);
      });
      await a.ping();
    });
  });
});

test("UNKNOWN_OP and MALFORMED keep the framing", async () => {
  await withDaemon([], async (d) => {
    await using(new Client(d.url, { poolSize: 1 }), async (c) => {
      const raw = (body) => {
        const frame = Buffer.alloc(4 + body.length);
        frame.writeUInt32BE(body.length);
        Buffer.from(body).copy(frame, 4);
        return new protocol.Call(frame, protocol.Tag.DONE, () => undefined);
      };
      await assert.rejects(c.execute(raw([0x7f])), (e) => e instanceof sessiond.UnknownOp && e.opcode === 0x7f);
      await assert.rejects(c.execute(raw(Buffer.from("1100010203040506070809", "hex"))), (e) => e instanceof sessiond.Malformed && /truncated/.test(e.message));
      await c.ping();
      assert.equal(c.poolStats().opened, 1);
    });
  });
});

test("options: URLs, defaults and mistakes", async () => {
  const c = new Client("sessiond+tls://:tok%40en@example.com:9999", { caFile: CERT });
  assert.equal(c.options.host, "example.com");
  assert.equal(c.options.port, 9999);
  assert.equal(c.options.token.toString(), "tok@en");
  assert.equal(c.options.tls.servername, "example.com");
  assert.equal(c.options.tls.rejectUnauthorized, true);
  const plain = new Client();
  assert.equal(plain.options.host, "127.0.0.1");
  assert.equal(plain.options.port, 7878);
  assert.equal(plain.options.tls, undefined);
  assert.throws(() => new Client("redis://localhost"), sessiond.ClientError);
  assert.throws(() => new Client({ token: "a", tokenFile: CERT }), sessiond.ClientError);
  assert.throws(() => new Client({ requestTimeoutMs: -1 }), sessiond.ClientError);
  await using(new Client({ port: await freePort() }), async (refused) => {
    await assert.rejects(refused.ping(), sessiond.ConnectionError);
  });
});
