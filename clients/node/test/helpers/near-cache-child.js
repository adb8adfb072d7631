"use strict";
/**
 * An app server of its own for the near cache's SIGSTOP tests: a client
 * with a near cache on the URL given as argv[2], in the mode argv[3]
 * (default strict), driven over IPC. Each
 * message `{ id }` is answered `{ data, stats }` or `{ error, stats }`, the
 * error being the class name (NotFound).
 */

const { Client } = require("sessiond");

const client = new Client(process.argv[2], { nearCache: { mode: process.argv[3] ?? "strict" } });

process.on("message", async ({ id }) => {
  try {
    const s = await client.get(id);
    process.send({ data: s.data.toString(), stats: client.nearCacheStats() });
  } catch (e) {
    process.send({ error: e.constructor.name, message: e.message, stats: client.nearCacheStats() });
  }
});
process.on("disconnect", () => void client.close().finally(() => process.exit(0)));
process.send({ ready: true });
