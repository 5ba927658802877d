// extension/lib/format.js: reason wording, author lines, safe links, excluded sites.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  reasonText, reasonsLine, authorsLine, shorten, isExcluded, parseSites, checkSites,
  cleanBackendUrl, needsHostPermission, originPattern, MAX_REASON_CHARS,
} from "../../extension/lib/format.js";

test("the backend's own reason text is what a person reads", () => {
  const read = {
    type: "because_you_read", paper_id: "arxiv:2401.00001", title: "X", action: "saved",
    text: "You saved “X”; 3 other readers of it also read this",
  };
  assert.equal(reasonText(read), "You saved “X”; 3 other readers of it also read this");
  assert.equal(reasonText({ type: "popular", readers: 5, text: "Read by 5 other readers" }), "Read by 5 other readers");
  assert.equal(reasonText({ type: "fresh", text: "New in the catalog" }), "New in the catalog");
  // the text wins over the type's fallback wording, also in the related view and for new types
  assert.equal(reasonText({ type: "similar_text", text: "Shares “graphs” with this paper" }, { related: true }), "Shares “graphs” with this paper");
  assert.equal(reasonText({ type: "brand_new_type", text: "A reason this panel has never heard of" }), "A reason this panel has never heard of");
  // markup in it is only text (the panel inserts it with textContent)
  assert.equal(reasonText({ type: "popular", text: "<b>Read</b> by 2" }), "<b>Read</b> by 2");
  assert.equal(
    reasonsLine([{ type: "fresh", text: "New in the catalog" }, { type: "popular", readers: 2, text: "Read by 2 other readers" }]),
    "New in the catalog · Read by 2 other readers",
  );
});

test("reason text is tidied: whitespace collapsed, very long sentences shortened", () => {
  assert.equal(reasonText({ type: "fresh", text: "  New \n in   the catalog " }), "New in the catalog");
  const long = reasonText({ type: "because_you_read", text: "You read “" + "word ".repeat(80) + "”" });
  assert.ok(long.length <= MAX_REASON_CHARS + 1, long);
  assert.ok(long.endsWith("…"), long);
});

test("without a usable text, today's wording is the fallback (old servers)", () => {
  for (const text of [undefined, null, "", "   ", 42, { text: "x" }, ["x"]]) {
    assert.equal(reasonText({ type: "popular", readers: 5, text }), "Popular with other readers", String(text));
    assert.equal(
      reasonText({ type: "because_you_read", paper_id: "arxiv:1", title: "Attention", text }),
      "Because you read “Attention”",
    );
  }
  assert.equal(reasonText({ type: "fresh", text: "" }), "Recently published");
  assert.equal(reasonText({ type: "unknown_type", text: "" }), "");
});

test("each reason type has its sentence", () => {
  assert.equal(
    reasonText({ type: "because_you_read", paper_id: "arxiv:2401.00001", title: "Attention Is All You Need" }),
    "Because you read “Attention Is All You Need”",
  );
  assert.equal(reasonText({ type: "because_you_read", paper_id: "arxiv:2401.00001" }), "Because you read “arxiv:2401.00001”");
  assert.equal(reasonText({ type: "similar_text" }), "Similar in content to what you read");
  assert.equal(reasonText({ type: "similar_text" }, { related: true }), "Similar in content to this paper");
  assert.equal(reasonText({ type: "popular" }), "Popular with other readers");
  assert.equal(reasonText({ type: "fresh" }), "Recently published");
  assert.equal(reasonText({ type: "similar_readers" }), "Read by people with similar interests");
  assert.equal(reasonText({ type: "something_new" }), "");
  assert.equal(reasonText(null), "");
  assert.equal(reasonsLine([{ type: "popular" }, { type: "popular" }, { type: "fresh" }, { type: "x" }]), "Popular with other readers · Recently published");
  assert.equal(reasonsLine(undefined), "");
});

test("long titles in reasons are shortened", () => {
  const text = reasonText({ type: "because_you_read", title: "word ".repeat(60) });
  assert.ok(text.length < 110, text);
  assert.ok(text.endsWith("…”"));
});

test("author lines", () => {
  assert.equal(authorsLine([]), "");
  assert.equal(authorsLine(["Ada"]), "Ada");
  assert.equal(authorsLine(["Ada", "Alan"]), "Ada and Alan");
  assert.equal(authorsLine(["A", "B", "C"]), "A, B and C");
  assert.equal(authorsLine(["A", "B", "C", "D"]), "A, B, C et al.");
  assert.equal(authorsLine("not a list"), "");
});

test("shorten", () => {
  assert.equal(shorten("short"), "short");
  assert.equal(shorten("alpha beta gamma delta", 12), "alpha beta…");
});

test("excluded sites cover subdomains and accept pasted URLs", () => {
  const sites = "example.com\n*.private.org, https://secret.net/path";
  assert.deepEqual(parseSites(sites), ["example.com", "private.org", "secret.net"]);
  assert.equal(isExcluded("https://example.com/paper", sites), true);
  assert.equal(isExcluded("https://www.example.com/paper", sites), true);
  assert.equal(isExcluded("https://notexample.com/paper", sites), false);
  assert.equal(isExcluded("https://a.private.org/x", sites), true);
  assert.equal(isExcluded("http://secret.net:8080/x", sites), true);
  assert.equal(isExcluded("https://arxiv.org/abs/2401.00001", sites), false);
  assert.equal(isExcluded("https://arxiv.org/abs/2401.00001", []), false);
  assert.equal(isExcluded("not a url", sites), false);
});

test("backend URL helpers", () => {
  assert.equal(cleanBackendUrl("http://127.0.0.1:5000/"), "http://127.0.0.1:5000");
  assert.equal(cleanBackendUrl(" https://Papers.Example.org "), "https://papers.example.org");
  assert.equal(cleanBackendUrl("ftp://x"), null);
  assert.equal(needsHostPermission("http://127.0.0.1:5000"), false);
  assert.equal(needsHostPermission("http://localhost:8000"), false);
  assert.equal(needsHostPermission("https://papers.example.org"), true);
  assert.equal(originPattern("https://papers.example.org:8443"), "https://papers.example.org/*");
});

test("excluded sites as typed: host names, *.domain or URLs, one per line or comma", () => {
  assert.deepEqual(checkSites("example.com\n*.Private.org, https://secret.net/path\n\n .trailing.dot.  ,localhost\n192.168.1.1"), {
    sites: ["example.com", "private.org", "secret.net", "trailing.dot", "localhost", "192.168.1.1"],
    bad: [],
  });
  assert.deepEqual(checkSites("bücher.example"), { sites: ["xn--bcher-kva.example"], bad: [] });
  assert.deepEqual(checkSites("example.com, example.com"), { sites: ["example.com"], bad: [] });
  assert.deepEqual(checkSites(""), { sites: [], bad: [] });
  // "not a host!!" is one bad entry, not three sites
  assert.deepEqual(checkSites("not a host!!"), { sites: [], bad: ["not a host!!"] });
  const bad = ["a b", "host!!", "-dash.com", "dash-.com", "a..b", "*", "*example.com", "ftp://files.example",
    "example.com/path", "user@example.com", "example.com:8080", "x".repeat(64) + ".com", "bü cher.example",
    "javascript:alert(1)", "exa_mple.com"];
  assert.deepEqual(checkSites(bad.join("\n")), { sites: [], bad });
});
