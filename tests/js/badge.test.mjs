// The toolbar badge of a recorded paper (extension/lib/badge.js): a check mark once the backend
// has the open, another mark while it waits in the outbox, and why it waits in the tooltip.
import { test } from "node:test";
import assert from "node:assert/strict";
import { BADGES, badgeFor } from "../../extension/lib/badge.js";

const queue = [{ id: "e1", type: "open" }, { id: "e2", type: "read" }];

test("an open that has left the outbox was recorded: a check mark", () => {
  assert.equal(badgeFor("e9", queue, {}).text, "✓");
  assert.equal(badgeFor("e9", [], { lastError: "backend unreachable: x" }), BADGES.sent);
  assert.equal(badgeFor("e1", undefined), BADGES.sent);
});

test("an open still in the outbox shows a different mark, and why it waits", () => {
  assert.equal(badgeFor("e1", queue, {}), BADGES.waiting);
  const offline = badgeFor("e1", queue, { lastError: "backend unreachable: Failed to fetch" });
  assert.equal(offline, BADGES.offline);
  assert.match(offline.title, /can't be reached/);
  const rejected = badgeFor("e1", queue, { lastError: "token rejected", unauthorized: true });
  assert.equal(rejected, BADGES.rejected);
  assert.match(rejected.title, /rejected the token/);
});

test("each mark is short enough for a badge and differs from the recorded one", () => {
  for (const badge of Object.values(BADGES)) {
    assert.ok(badge.text.length >= 1 && badge.text.length <= 2, badge.text);
    assert.match(badge.color, /^#[0-9a-f]{6}$/);
    assert.ok(badge.title.startsWith("NextPaper: "));
  }
  for (const name of ["waiting", "offline", "rejected"]) assert.notEqual(BADGES[name].text, BADGES.sent.text);
});
