"use strict";
// The session event log against a live daemon: reads resumed by seq, a
// waiting read woken by the next event, notes on deletes.

const assert = require("node:assert/strict");
const { after, before, test: nodeTest } = require("node:test");

const test = (name, fn) => nodeTest(name, { timeout: 60_000 }, fn);

const { Client, EventsGap } = require("sessiond");
const { Daemon } = require("./helpers/daemon");

let daemon;

before(async () => {
  daemon = await Daemon.start(["--events-max", "50"]);
});

after(async () => {
  await daemon?.kill();
});

test("events come once, in order, with their notes; a waiting read wakes on the next one", async () => {
  // A waiting read holds its connection: the reader has a client of its own.
  const reader = new Client(daemon.url);
  const writer = new Client(daemon.url);
  try {
    const waiting = reader.readEvents(0, { timeoutMs: 60_000 });
    const id = await writer.create("user:n");
    const first = await waiting;
    assert.deepEqual(first.map((e) => [e.seq, e.kind, e.id]), [[1, "created", id]]);
    const newId = await writer.rotate(id);
    assert.equal(await writer.deleteWithNote(newId, "logout"), true);
    const rest = await reader.readEvents(1);
    assert.deepEqual(rest.map((e) => [e.seq, e.kind, e.reason]), [[2, "rotated", null], [3, "ended", "deleted"]]);
    assert.equal(rest[0].newId, newId);
    assert.equal(rest[1].note.toString(), "logout");
    assert.deepEqual(await reader.readEvents(3, { timeoutMs: 100 }), []);
    for (let i = 0; i < 60; i++) await writer.create("user:m");
    await assert.rejects(reader.readEvents(0), (e) => e instanceof EventsGap && e.oldest_kept === 14);
  } finally {
    await reader.close();
    await writer.close();
  }
});
