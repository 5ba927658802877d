// extension/lib/undo.js: one "Undo" offered for a few seconds or until the next action.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createUndo, UNDO_MS } from "../../extension/lib/undo.js";

/** Fake timers driven by hand: `advance(ms)` runs what falls due. */
function fakeClock() {
  let now = 0;
  let next = 1;
  const timers = new Map();
  return {
    setTimer(fn, ms) {
      const id = next++;
      timers.set(id, { fn, at: now + ms });
      return id;
    },
    clearTimer(id) {
      timers.delete(id);
    },
    advance(ms) {
      now += ms;
      for (const [id, t] of [...timers].sort((a, b) => a[1].at - b[1].at)) {
        if (t.at <= now && timers.has(id)) {
          timers.delete(id);
          t.fn();
        }
      }
    },
    get pending() {
      return timers.size;
    },
  };
}

function setup(ms = 5000) {
  const clock = fakeClock();
  const shown = [];
  const undo = createUndo({ ms, onChange: (e) => shown.push(e), setTimer: clock.setTimer, clearTimer: clock.clearTimer });
  return { clock, shown, undo };
}

test("a few seconds by default", () => {
  assert.ok(UNDO_MS >= 4000 && UNDO_MS <= 15000, UNDO_MS);
});

test("undo within the window gives the entry back, once", () => {
  const { clock, shown, undo } = setup();
  undo.offer("a");
  assert.equal(undo.current, "a");
  clock.advance(4999);
  assert.equal(undo.take(), "a");
  assert.equal(undo.take(), null, "only once");
  assert.deepEqual(shown, ["a", null]);
  assert.equal(clock.pending, 0, "its timer is cleared");
});

test("the window closes by itself when the time is up", () => {
  const { clock, shown, undo } = setup();
  undo.offer("a");
  clock.advance(5000);
  assert.equal(undo.current, null);
  assert.equal(undo.take(), null, "too late");
  assert.deepEqual(shown, ["a", null]);
});

test("the next action ends the window without undoing", () => {
  const { clock, shown, undo } = setup();
  undo.offer("a");
  clock.advance(1000);
  undo.end();
  assert.equal(undo.take(), null);
  assert.deepEqual(shown, ["a", null]);
  undo.end(); // nothing offered: nothing happens
  assert.deepEqual(shown, ["a", null]);
});

test("a new offer replaces the old one and gets its own full window", () => {
  const { clock, shown, undo } = setup();
  undo.offer("a");
  clock.advance(4000);
  undo.offer("b");
  clock.advance(4000); // a's timer would have fired at 5000; it must not close b's window
  assert.equal(undo.current, "b");
  clock.advance(1000);
  assert.equal(undo.current, null);
  assert.deepEqual(shown, ["a", null, "b", null]);
});
