// The side panel's kept lists (extension/lib/kept.js): the last answer of For you and of the
// related lists of the last few papers, and how old a kept answer is, in words.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_ITEMS, MAX_RELATED, ageText, keepList, keptList, listName } from "../../extension/lib/kept.js";

const item = (id) => ({ paper: { id, title: id }, score: 1, reasons: [] });

test("each list keeps its own last answer", () => {
  assert.equal(listName(null), "for-you");
  assert.equal(listName("arxiv:2301.00001"), "related:arxiv:2301.00001");
  let kept = keepList(undefined, "for-you", [item("a"), item("b")], 1000);
  kept = keepList(kept, "related:arxiv:1", [item("c")], 2000);
  kept = keepList(kept, "for-you", [item("d")], 3000); // a newer answer replaces the older
  assert.deepEqual(keptList(kept, "for-you"), { at: 3000, items: [item("d")] });
  assert.deepEqual(keptList(kept, "related:arxiv:1"), { at: 2000, items: [item("c")] });
  assert.equal(keptList(kept, "related:arxiv:2"), null);
  assert.equal(keptList(null, "for-you"), null);
  assert.equal(keptList({ "for-you": { at: "x", items: [] } }, "for-you"), null); // not ours
});

test("only the related lists of the last few papers are kept, and short lists", () => {
  let kept = keepList({}, "for-you", [item("f")], 0);
  for (let i = 0; i < MAX_RELATED + 5; i++) kept = keepList(kept, `related:p${i}`, [item(`r${i}`)], 100 + i);
  const related = Object.keys(kept).filter((k) => k.startsWith("related:"));
  assert.equal(related.length, MAX_RELATED);
  assert.equal(keptList(kept, "related:p0"), null); // the oldest went
  assert.ok(keptList(kept, `related:p${MAX_RELATED + 4}`));
  assert.ok(keptList(kept, "for-you")); // For you is never pushed out
  const long = keepList({}, "for-you", Array.from({ length: 50 }, (_, i) => item(`x${i}`)), 1);
  assert.equal(long["for-you"].items.length, MAX_ITEMS);
});

test("ages in words", () => {
  const now = 10 * 86_400_000;
  const ago = (ms) => ageText(now - ms, now);
  assert.equal(ago(0), "just now");
  assert.equal(ago(59_000), "just now");
  assert.equal(ago(60_000), "1 minute ago");
  assert.equal(ago(12 * 60_000), "12 minutes ago");
  assert.equal(ago(60 * 60_000), "1 hour ago");
  assert.equal(ago(5 * 3_600_000), "5 hours ago");
  assert.equal(ago(26 * 3_600_000), "yesterday");
  assert.equal(ago(3 * 86_400_000), "3 days ago");
  assert.equal(ageText(now + 5000, now), "just now"); // a clock set back
});
