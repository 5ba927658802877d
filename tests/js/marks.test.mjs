// extension/lib/marks.js: the like / save / dismiss state kept per paper, its undoing, and its
// correction by the server's list of saved papers.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  MARKS_KEY, FEEDBACK_TYPES, applyFeedback, createMarkStore, isMarked, pendingSaveIds,
  reconcileSaved, toggleEvent, trimMarks,
} from "../../extension/lib/marks.js";

function fakeStorage(initial = {}) {
  const data = structuredClone(initial);
  const writes = [];
  return {
    data,
    writes,
    async get(keys) {
      const out = {};
      for (const k of keys) if (k in data) out[k] = structuredClone(data[k]);
      return out;
    },
    async set(obj) {
      await new Promise((resolve) => setTimeout(resolve, 1)); // writes take time, as in a browser
      writes.push(structuredClone(obj));
      for (const [k, v] of Object.entries(obj)) data[k] = structuredClone(v);
    },
  };
}

test("the event types are DESIGN.md's feedback types", () => {
  assert.deepEqual([...FEEDBACK_TYPES].sort(), ["dismiss", "like", "save", "undismiss", "unlike", "unsave"]);
});

test("a pressed button sends the undoing event, an unpressed one the event", () => {
  assert.equal(toggleEvent("like", false), "like");
  assert.equal(toggleEvent("like", true), "unlike");
  assert.equal(toggleEvent("save", false), "save");
  assert.equal(toggleEvent("save", true), "unsave");
});

test("each event sets or clears its one mark, and leaves the others alone", () => {
  let marks = {};
  marks = applyFeedback(marks, "arxiv:1", "like", 10);
  marks = applyFeedback(marks, "arxiv:1", "save", 11);
  assert.deepEqual(marks["arxiv:1"], { like: true, save: true, at: 11 });
  const before = marks;
  marks = applyFeedback(marks, "arxiv:1", "unlike", 12);
  assert.deepEqual(marks["arxiv:1"], { like: false, save: true, at: 12 });
  assert.equal(before["arxiv:1"].like, true, "the old object is not changed");
  marks = applyFeedback(marks, "arxiv:1", "unsave", 13);
  marks = applyFeedback(marks, "arxiv:2", "dismiss", 14);
  assert.equal(isMarked(marks, "arxiv:1", "like"), false);
  assert.equal(isMarked(marks, "arxiv:1", "save"), false);
  assert.equal(isMarked(marks, "arxiv:2", "dismiss"), true);
  marks = applyFeedback(marks, "arxiv:2", "undismiss", 15);
  assert.equal(isMarked(marks, "arxiv:2", "dismiss"), false);
  assert.equal(isMarked(marks, "arxiv:3", "like"), false);
  assert.equal(isMarked(null, "arxiv:3", "like"), false);
  assert.equal(applyFeedback(marks, "arxiv:1", "open", 16), marks, "not feedback: unchanged");
  assert.equal(applyFeedback(marks, "", "like", 16), marks);
});

test("at most MAX marks: the ones changed longest ago go first", () => {
  let marks = {};
  for (let i = 0; i < 5; i++) marks[`p${i}`] = { like: true, at: 100 + i };
  marks = trimMarks(marks, 3);
  assert.deepEqual(Object.keys(marks).sort(), ["p2", "p3", "p4"]);
});

test("the server's saved list sets save marks it knows of", () => {
  const marks = { a: { like: true, at: 5 } };
  const next = reconcileSaved(marks, { savedIds: ["a", "b"], since: 100 });
  assert.deepEqual(next.a, { like: true, save: true, at: 5 });
  assert.equal(next.b.save, true);
  assert.deepEqual(marks, { a: { like: true, at: 5 } }, "the old object is not changed");
});

test("a complete list clears save marks it does not hold; a partial one never clears", () => {
  const marks = { a: { save: true, at: 5 }, b: { save: true, like: true, at: 6 }, c: { save: true, at: 7 } };
  const partial = reconcileSaved(marks, { savedIds: ["c"], complete: false, since: 100 });
  assert.equal(partial, marks, "nothing to change");
  const complete = reconcileSaved(marks, { savedIds: ["c"], complete: true, since: 100 });
  assert.equal(complete.a, undefined, "an entry with no mark left is dropped");
  assert.deepEqual(complete.b, { save: false, like: true, at: 6 });
  assert.deepEqual(complete.c, { save: true, at: 7 });
});

test("marks newer than the list, or with a save/unsave still queued, are kept", () => {
  const marks = {
    savedAfter: { save: true, at: 150 }, // saved after the list was asked for
    unsavedAfter: { save: false, at: 150 }, // unsaved after: the list still has it
    queuedSave: { save: true, at: 50 }, // its save waits in the outbox
    queuedUnsave: { save: false, at: 50 },
    stale: { save: false, at: 50 }, // unsaved long ago, but the server says saved
  };
  const next = reconcileSaved(marks, {
    savedIds: ["unsavedAfter", "queuedUnsave", "stale"],
    complete: true,
    since: 100,
    pendingIds: ["queuedSave", "queuedUnsave"],
  });
  assert.equal(next.savedAfter.save, true);
  assert.equal(next.unsavedAfter.save, false);
  assert.equal(next.queuedSave.save, true);
  assert.equal(next.queuedUnsave.save, false);
  assert.equal(next.stale.save, true, "the server wins over an old mark");
});

test("the outbox's save and unsave papers are the pending ones", () => {
  const queue = [
    { type: "open", paper: { id: "o" } },
    { type: "save", paper: { id: "s" } },
    { type: "unsave", paper: { id: "u" } },
    { type: "like", paper: { id: "l" } },
    { type: "save", paper: { id: "s" } },
    null,
  ];
  assert.deepEqual(pendingSaveIds(queue), ["s", "u"]);
  assert.deepEqual(pendingSaveIds(undefined), []);
});

test("the store: clicks in quick succession all stay, each with its queued event", async () => {
  const storage = fakeStorage();
  let t = 1000;
  const store = createMarkStore({ storage, now: () => t++ });
  const queued = [];
  const also = (type) => async () => queued.push(type);
  await Promise.all([
    store.apply("p", "like", also("like")),
    store.apply("p", "save", also("save")),
    store.apply("q", "dismiss", also("dismiss")),
  ]);
  const marks = storage.data[MARKS_KEY];
  assert.equal(marks.p.like, true);
  assert.equal(marks.p.save, true);
  assert.equal(marks.q.dismiss, true);
  assert.deepEqual(queued, ["like", "save", "dismiss"]);
  assert.deepEqual(await store.apply("p", "unlike", also("unlike")), { like: false, save: true, at: 1003 });
  assert.equal((await store.read()).p.like, false);
});

test("the store: no mark is written when queueing its event fails", async () => {
  const storage = fakeStorage();
  const store = createMarkStore({ storage });
  await assert.rejects(store.apply("p", "like", async () => { throw new Error("storage full"); }));
  assert.deepEqual(await store.read(), {});
  await store.apply("p", "save");
  assert.equal((await store.read()).p.save, true, "the store still works after a failure");
});

test("the store: reconcile reads the outbox in the same turn, and writes only on change", async () => {
  const storage = fakeStorage({ [MARKS_KEY]: { p: { save: true, at: 5 }, q: { save: true, at: 5 } } });
  const store = createMarkStore({ storage, now: () => 200 });
  await store.reconcile({ savedIds: ["p", "q"], complete: true, since: 100, pending: async () => [] });
  assert.equal(storage.writes.length, 0);
  await store.reconcile({ savedIds: [], complete: true, since: 100, pending: async () => ["q"] });
  assert.deepEqual(storage.data[MARKS_KEY], { q: { save: true, at: 5 } });
  await store.clear();
  assert.deepEqual(await store.read(), {});
});
