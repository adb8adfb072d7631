"use strict";
/**
 * ioredis's scripting against the RESP listener of one daemon:
 * `defineCommand` (EVALSHA, falling back to EVAL on NOSCRIPT) and `eval`.
 */

const test = require("node:test");
const assert = require("node:assert/strict");

const Redis = require("ioredis");
const { Daemon, freePort } = require("./helpers/daemon");

test("ioredis defineCommand and eval run Lua scripts", async () => {
  const resp = await freePort();
  const daemon = await Daemon.start(["--resp-listen", `127.0.0.1:${resp}`]);
  const redis = new Redis({ port: resp });
  try {
    await redis.script("FLUSH");
    redis.defineCommand("bump", {
      numberOfKeys: 1,
      lua: "return redis.call('incrby', KEYS[1], ARGV[1])",
    });
    assert.equal(await redis.bump("n:hits", 3), 3);
    assert.equal(await redis.bump("n:hits", 4), 7);
    assert.deepEqual(await redis.eval("return {KEYS[1], ARGV[1], 2}", 1, "k", "a"), ["k", "a", 2]);
    await assert.rejects(redis.eval("return redis.error_reply('MINE failed')", 0), /MINE failed/);
    await assert.rejects(
      redis.eval_ro("return redis.call('set', 'x', 'y')", 0),
      /Write commands are not allowed from read-only scripts/,
    );
  } finally {
    redis.disconnect();
    await daemon.kill();
  }
});
