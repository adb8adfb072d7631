"use strict";
/**
 * ioredis against the RESP listener as apps use it: a WATCH retry loop
 * that really retries, a hash with field TTLs, and a psubscribe that hears
 * keyspace `expired` events of a key nobody reads.
 */

const test = require("node:test");
const assert = require("node:assert/strict");

const Redis = require("ioredis");
const { Daemon, freePort } = require("./helpers/daemon");

test("a WATCH retry loop, field TTLs and expired events through ioredis", async () => {
  const resp = await freePort();
  const daemon = await Daemon.start(["--resp-listen", `127.0.0.1:${resp}`]);
  const redis = new Redis({ port: resp });
  const other = new Redis({ port: resp });
  const sub = new Redis({ port: resp });
  try {
    // Retry until EXEC runs: another client writes during the first try.
    await redis.set("k:seats", "5");
    let attempts = 0;
    for (;;) {
      attempts += 1;
      assert.ok(attempts < 5, "retried without end");
      await redis.watch("k:seats");
      const seats = Number(await redis.get("k:seats"));
      if (attempts === 1) await other.decr("k:seats");
      const done = await redis.multi().set("k:seats", String(seats - 1)).exec();
      if (done !== null) break;
    }
    assert.equal(attempts, 2);
    assert.equal(await redis.get("k:seats"), "3");

    // A hash with a field TTL: HLEN stops counting it at its deadline.
    // The field's deadline comes before the token's below, so by the time
    // the token's expired event is heard the field has expired too.
    await redis.hset("k:devices", "phone", "{}", "laptop", "{}");
    assert.deepEqual(await redis.call("HPEXPIRE", "k:devices", "1000", "FIELDS", "1", "laptop"), [1]);
    assert.equal(await redis.hlen("k:devices"), 2);

    // The expired event, with nobody reading the key.
    assert.equal(await redis.config("SET", "notify-keyspace-events", "Ex"), "OK");
    const heard = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no expired event within 5 s")), 5000);
      sub.on("pmessage", (pattern, channel, key) => {
        if (key === "k:token") {
          clearTimeout(timer);
          resolve([pattern, channel, key]);
        }
      });
    });
    await sub.psubscribe("__keyevent@0__:expired");
    await redis.set("k:token", "x", "PX", 1500);
    assert.deepEqual(await heard, ["__keyevent@0__:expired", "__keyevent@0__:expired", "k:token"]);
    assert.equal(await redis.hlen("k:devices"), 1);
    assert.equal(await redis.config("SET", "notify-keyspace-events", ""), "OK");
  } finally {
    redis.disconnect();
    other.disconnect();
    sub.disconnect();
    await daemon.kill();
  }
});
