// The outbox (extension/lib/queue.js) with fake storage, fetch and clock.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createQueue, backoffDelay, QUEUE_KEY, SYNC_KEY, REJECTED_KEY, MAX_BATCH } from "../../extension/lib/queue.js";

function fakeStorage() {
  const data = {};
  return {
    data,
    async get(keys) {
      const out = {};
      for (const k of keys) if (k in data) out[k] = structuredClone(data[k]);
      return out;
    },
    async set(obj) {
      for (const [k, v] of Object.entries(obj)) data[k] = structuredClone(v);
    },
  };
}

/** A backend that stores events by id, like the real one. `mode` switches its behaviour. */
function fakeBackend() {
  const server = { stored: new Map(), calls: [], mode: "ok" };
  server.fetch = async (url, init) => {
    const body = JSON.parse(init.body);
    server.calls.push({ url, init, body });
    if (server.mode === "down") throw new TypeError("Failed to fetch");
    const reply = (status, obj) => ({ ok: status < 300, status, json: async () => obj });
    if (server.mode === "500") return reply(500, { error: { code: "internal", message: "boom", status: 500 } });
    if (server.mode === "401") return reply(401, { error: { code: "unauthorized", message: "bad token", status: 401 } });
    if (server.mode === "400-if-many" && body.events.length > 1) return reply(400, { error: { code: "bad", message: "x", status: 400 } });
    if (body.events.length > 1000) return reply(413, { error: { code: "too_many", message: "x", status: 413 } });
    let accepted = 0, duplicates = 0;
    const rejected = [];
    body.events.forEach((e, index) => {
      if (e.type === "bogus") return rejected.push({ index, code: "bad_type", message: "no such type" });
      if (server.stored.has(e.id)) duplicates++;
      else (server.stored.set(e.id, e), accepted++);
    });
    return reply(200, { accepted, duplicates, rejected });
  };
  return server;
}

function setup() {
  const storage = fakeStorage();
  const server = fakeBackend();
  const clock = { t: 1_700_000_000_000 };
  let n = 0;
  const queue = createQueue({
    storage,
    fetch: server.fetch,
    now: () => clock.t,
    uuid: () => `id-${++n}`,
    random: () => 0.5,
  });
  const cfg = { backendUrl: "http://127.0.0.1:5000/", token: "tok" };
  return { storage, server, clock, queue, cfg };
}

const open = (i) => ({ type: "open", paper: { id: `arxiv:2401.0000${i}` } });

test("backoff doubles from 2 s and is capped at 10 minutes", () => {
  assert.equal(backoffDelay(1, () => 0.5), 2000);
  assert.equal(backoffDelay(2, () => 0.5), 4000);
  assert.equal(backoffDelay(5, () => 0.5), 32000);
  assert.equal(backoffDelay(50, () => 0.5), 600000);
  assert.ok(backoffDelay(3, () => 0) >= 6400 && backoffDelay(3, () => 0.9999) <= 9600);
});

test("enqueue gives each event one id and a timestamp, and keeps order", async () => {
  const { queue, storage } = setup();
  const made = await queue.enqueue([open(1), open(2)]);
  assert.deepEqual(made.map((e) => e.id), ["id-1", "id-2"]);
  assert.equal(made[0].ts, new Date(1_700_000_000_000).toISOString());
  assert.deepEqual(storage.data[QUEUE_KEY].map((e) => e.id), ["id-1", "id-2"]);
});

test("flush posts a batch with the token and empties the queue after the reply", async () => {
  const { queue, server, cfg, storage } = setup();
  await queue.enqueue([open(1), open(2)]);
  const r = await queue.flush(cfg);
  assert.equal(r.sent, 2);
  assert.equal(r.remaining, 0);
  assert.equal(server.calls.length, 1);
  assert.equal(server.calls[0].url, "http://127.0.0.1:5000/api/v1/events");
  assert.equal(server.calls[0].init.headers.Authorization, "Bearer tok");
  assert.deepEqual(storage.data[QUEUE_KEY], []);
  assert.equal(server.stored.size, 2);
});

test("not configured: nothing is sent, nothing is lost", async () => {
  const { queue, server } = setup();
  await queue.enqueue([open(1)]);
  const r = await queue.flush({ backendUrl: "", token: "" });
  assert.equal(r.notConfigured, true);
  assert.equal(r.remaining, 1);
  assert.equal(server.calls.length, 0);
});

test("backend down: events stay, retries back off, then arrive once with the same ids", async () => {
  const { queue, server, cfg, clock, storage } = setup();
  server.mode = "down";
  await queue.enqueue([open(1)]);
  let r = await queue.flush(cfg);
  assert.equal(r.remaining, 1);
  assert.equal(r.nextAttemptAt, clock.t + 2000);
  assert.equal(storage.data[SYNC_KEY].attempts, 1);
  // Too early: no request at all.
  clock.t += 1000;
  r = await queue.flush(cfg);
  assert.equal(server.calls.length, 1);
  clock.t += 1000;
  r = await queue.flush(cfg);
  assert.equal(server.calls.length, 2);
  assert.equal(r.nextAttemptAt, clock.t + 4000);
  server.mode = "500";
  clock.t += 4000;
  r = await queue.flush(cfg);
  assert.equal(r.nextAttemptAt, clock.t + 8000);
  server.mode = "ok";
  clock.t += 8000;
  r = await queue.flush(cfg);
  assert.equal(r.sent, 1);
  assert.deepEqual([...server.stored.keys()], ["id-1"]);
  assert.deepEqual(new Set(server.calls.map((c) => c.body.events[0].id)), new Set(["id-1"]));
  assert.equal(storage.data[SYNC_KEY].attempts, 0);
});

test("force ignores the backoff clock (a user's retry)", async () => {
  const { queue, server, cfg } = setup();
  server.mode = "down";
  await queue.enqueue([open(1)]);
  await queue.flush(cfg);
  server.mode = "ok";
  const r = await queue.flush({ ...cfg, force: true });
  assert.equal(r.sent, 1);
});

test("a reply lost after the server stored the batch: resent with the same ids, counted once", async () => {
  const { server, cfg, storage, clock } = setup();
  const real = server.fetch;
  let lose = true;
  const lossy = async (url, init) => {
    const res = await real(url, init);
    if (lose) throw new TypeError("connection reset");
    return res;
  };
  let n = 0;
  const q = createQueue({ storage, fetch: lossy, now: () => clock.t, uuid: () => `u-${++n}`, random: () => 0.5 });
  await q.enqueue([open(1), open(2)]);
  let r = await q.flush(cfg);
  assert.equal(r.remaining, 2);
  lose = false;
  clock.t += 60_000;
  r = await q.flush(cfg);
  assert.equal(r.remaining, 0);
  assert.equal(server.calls.length, 2);
  assert.deepEqual(server.calls[0].body.events.map((e) => e.id), server.calls[1].body.events.map((e) => e.id));
  assert.equal(server.stored.size, 2);
});

test("401: no retry loop, events kept, flagged unauthorized", async () => {
  const { queue, server, cfg, storage } = setup();
  server.mode = "401";
  await queue.enqueue([open(1)]);
  const r = await queue.flush(cfg);
  assert.equal(r.unauthorized, true);
  assert.equal(r.nextAttemptAt, null);
  assert.equal(storage.data[QUEUE_KEY].length, 1);
  assert.equal(storage.data[SYNC_KEY].unauthorized, true);
});

test("rejected events are done but logged", async () => {
  const { queue, cfg, storage } = setup();
  await queue.enqueue([open(1), { type: "bogus", paper: { id: "x:1" } }, open(3)]);
  const r = await queue.flush(cfg);
  assert.equal(r.sent, 2);
  assert.deepEqual(storage.data[QUEUE_KEY], []);
  assert.equal(storage.data[REJECTED_KEY].length, 1);
  assert.equal(storage.data[REJECTED_KEY][0].code, "bad_type");
  assert.equal(storage.data[REJECTED_KEY][0].event.type, "bogus");
});

test("batches hold at most 1000 events", async () => {
  const { queue, server, cfg } = setup();
  await queue.enqueue(Array.from({ length: 2345 }, (_, i) => open(i)));
  const r = await queue.flush(cfg);
  assert.equal(r.sent, 2345);
  assert.deepEqual(server.calls.map((c) => c.body.events.length), [MAX_BATCH, MAX_BATCH, 345]);
  assert.equal(server.stored.size, 2345);
});

test("a batch refused as a whole is split until the bad event stands alone", async () => {
  const { queue, server, cfg, storage } = setup();
  server.mode = "400-if-many";
  await queue.enqueue([open(1), open(2), open(3)]);
  const r = await queue.flush(cfg);
  assert.equal(r.remaining, 0);
  assert.equal(server.stored.size, 3);
  assert.deepEqual(storage.data[QUEUE_KEY], []);
});

test("events queued while a flush is in flight are kept and sent", async () => {
  const { queue, server, cfg, storage } = setup();
  await queue.enqueue([open(1)]);
  let release;
  const gate = new Promise((r) => (release = r));
  const real = server.fetch;
  let calls = 0;
  const slow = async (url, init) => {
    if (calls++ === 0) await gate;
    return real(url, init);
  };
  const q = createQueue({ storage, fetch: slow, uuid: () => `x-${Math.random()}` });
  const flushing = q.flush(cfg);
  await q.enqueue([open(2)]);
  release();
  const r = await flushing;
  assert.equal(r.remaining, 0);
  assert.equal(server.stored.size, 2);
  void queue;
});
