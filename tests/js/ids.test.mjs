// The shared id vectors (tests/data/id_vectors.json) against extension/lib/ids.js.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  InvalidPaper,
  canonicalId,
  normalizeId,
  normalizeUrl,
  paperIdFromUrl,
} from "../../extension/lib/ids.js";

const vectors = JSON.parse(readFileSync(new URL("../data/id_vectors.json", import.meta.url), "utf8"));
const functions = {
  paper_id_from_url: paperIdFromUrl,
  normalize_url: normalizeUrl,
  normalize_id: normalizeId,
  canonical_id: canonicalId,
};

for (const [name, fn] of Object.entries(functions)) {
  test(`${name}: every shared vector`, () => {
    assert.ok(vectors[name].length > 5);
    for (const c of vectors[name]) {
      if (c.error) {
        assert.throws(() => fn(c.in), InvalidPaper, `${name}(${JSON.stringify(c.in)}) should throw`);
      } else {
        assert.equal(fn(c.in), c.out, `${name}(${JSON.stringify(c.in)})`);
      }
    }
  });
}

test("ids are idempotent on every vector output", () => {
  for (const c of [...vectors.paper_id_from_url, ...vectors.normalize_id, ...vectors.canonical_id]) {
    if (!c.error) assert.equal(normalizeId(c.out), c.out);
  }
});

test("wrong types throw InvalidPaper only", () => {
  for (const v of [null, undefined, 42, [], {}, true]) {
    assert.throws(() => normalizeId(v), InvalidPaper);
    assert.throws(() => paperIdFromUrl(v), InvalidPaper);
  }
  assert.throws(() => canonicalId(null), InvalidPaper);
  assert.throws(() => canonicalId([]), InvalidPaper);
});

test("random strings never throw anything but InvalidPaper", () => {
  const alphabet = "abcdefhpsv0123456789.:/-?#=&%@[]\\ ABCDEF\u00e9\u2028";
  let seed = 7;
  const rand = (n) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
  const prefixes = ["", "https://", "http://arxiv.org/abs/", "https://doi.org/", "doi:", "arxiv:", "url:https://"];
  for (let i = 0; i < 3000; i++) {
    let s = prefixes[rand(prefixes.length)];
    for (let j = rand(30); j > 0; j--) s += alphabet[rand(alphabet.length)];
    for (const fn of [normalizeId, paperIdFromUrl, normalizeUrl]) {
      try {
        const out = fn(s);
        if (fn !== normalizeUrl) assert.equal(normalizeId(out), out);
        else assert.equal(normalizeUrl(out), out);
      } catch (e) {
        if (!(e instanceof InvalidPaper)) throw e;
      }
    }
  }
});
