"use strict";
/**
 * ioredis's `multi()` (MULTI … EXEC) and a WATCH retry against the RESP
 * listener of one daemon.
 */

const test = require("node:test");
const assert = require("node:assert/strict");

const Redis = require("ioredis");
const { Daemon, freePort } = require("./helpers/daemon");

test("ioredis multi() is a transaction, and WATCH aborts it", async () => {
  const resp = await freePort();
  const daemon = await Daemon.start(["--resp-listen", `127.0.0.1:${resp}`]);
  const redis = new Redis({ port: resp });
  const other = new Redis({ port: resp });
  try {
    const replies = await redis.multi().set("n:k", "1").incr("n:k").sadd("n:s", "a").get("n:k").exec();
    assert.deepEqual(replies, [[null, "OK"], [null, 2], [null, 1], [null, "2"]]);
    // A run-time error is that command's; the others run.
    const mixed = await redis.multi().incr("n:k").sadd("n:k", "x").exec();
    assert.equal(mixed[0][1], 3);
    assert.match(String(mixed[1][0]), /WRONGTYPE/);
    // A watched key changed by another client: EXEC answers null.
    await redis.watch("n:k");
    await other.set("n:k", "changed");
    assert.equal(await redis.multi().set("n:k", "mine").exec(), null);
    assert.equal(await redis.get("n:k"), "changed");
  } finally {
    redis.disconnect();
    other.disconnect();
    await daemon.kill();
  }
});
