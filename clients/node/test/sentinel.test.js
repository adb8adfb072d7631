"use strict";
/**
 * ioredis's Sentinel support, unchanged, against a
 * replication group of three daemons: the nodes' RESP addresses are the
 * sentinels, `sessiond` the master's name. The leader is killed between
 * two writes; the client finds the new leader itself.
 */

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const Redis = require("ioredis");
const { Daemon, freePort, sleep } = require("./helpers/daemon");

/** Three members, each with native, RESP and raft ports of its own. */
async function startGroup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sessiond-node-group-"));
  const raft = [await freePort(), await freePort(), await freePort()];
  const nodes = [];
  for (let i = 1; i <= 3; i++) {
    const resp = await freePort();
    const peers = raft.flatMap((port, j) => (j + 1 === i ? [] : ["--peer", `${j + 1}=127.0.0.1:${port}`]));
    const node = await Daemon.start([
      "--node-id", String(i),
      "--raft-listen", `127.0.0.1:${raft[i - 1]}`,
      "--resp-listen", `127.0.0.1:${resp}`,
      "--data-dir", path.join(dir, `node-${i}`),
      ...peers,
    ]);
    node.resp = resp;
    nodes.push(node);
  }
  return nodes;
}

/** The member whose ROLE says master, within 10 s. */
async function leaderOf(nodes) {
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    for (const node of nodes) {
      if (!node.proc) continue;
      const probe = new Redis({ port: node.resp, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      try {
        await probe.connect();
        const role = await probe.call("ROLE");
        if (role[0] === "master") return node;
      } catch {
        // not up, or not answering yet
      } finally {
        probe.disconnect();
      }
    }
    await sleep(50);
  }
  throw new Error("no leader within 10 s");
}

/** Retries `op` until it succeeds, for up to 10 s (a failover's gap). */
async function eventually(op) {
  const deadline = Date.now() + 10000;
  for (;;) {
    try {
      return await op();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(100);
    }
  }
}

test("ioredis with the nodes as sentinels follows a leader's kill", async () => {
  const nodes = await startGroup();
  try {
    const leader = await leaderOf(nodes);
    const redis = new Redis({
      sentinels: nodes.map((n) => ({ host: "127.0.0.1", port: n.resp })),
      name: "sessiond",
      // READONLY from a node that stopped leading: look the master up again.
      reconnectOnError: (err) => err.message.startsWith("READONLY"),
      sentinelRetryStrategy: (times) => (times > 100 ? null : 100),
    });
    // Until the group has elected its leader, the sentinels name none.
    redis.on("error", () => {});
    assert.equal(await eventually(() => redis.set("sess:a", "alice", "EX", 600)), "OK");
    await leader.kill();
    assert.equal(await eventually(() => redis.set("sess:b", "bob", "EX", 600)), "OK");
    assert.equal(await redis.get("sess:a"), "alice", "the write before the kill survived");
    assert.equal(await redis.get("sess:b"), "bob");
    redis.disconnect();
  } finally {
    for (const n of nodes) await n.kill();
  }
});
