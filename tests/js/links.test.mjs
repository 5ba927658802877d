// Where paper titles link to (extension/lib/links.js): the paper's page from its url or its
// canonical id, in every id form lib/ids.js accepts; a title search for ids that name no page
// (the seed catalog's); never anything but http(s).
import { test } from "node:test";
import assert from "node:assert/strict";
import { paperLink, urlFromId, SEARCH_URL } from "../../extension/lib/links.js";

const page = (href) => ({ href, kind: "page" });

test("each id scheme links to its page", () => {
  assert.equal(urlFromId("arxiv:2401.00001"), "https://arxiv.org/abs/2401.00001");
  assert.equal(urlFromId("arxiv:hep-th/9901001"), "https://arxiv.org/abs/hep-th/9901001");
  assert.equal(urlFromId("arxiv:2401.00001v3"), "https://arxiv.org/abs/2401.00001"); // as ids.js: no version
  assert.equal(urlFromId("doi:10.1000/xyz"), "https://doi.org/10.1000/xyz");
  assert.equal(urlFromId("doi:10.1000/ABC"), "https://doi.org/10.1000/abc"); // canonical: lower-cased
  assert.equal(
    urlFromId("doi:10.1002/(sici)1097-4571(199806)49:8<693::aid-asi4>3.0.co;2-0"),
    "https://doi.org/10.1002/(sici)1097-4571(199806)49%3A8%3C693%3A%3Aaid-asi4%3E3.0.co%3B2-0",
  );
  assert.equal(urlFromId("doi:10.1000/a?b#c"), "https://doi.org/10.1000/a%3Fb%23c"); // stays one path
  assert.equal(urlFromId("openreview:rJ4km2R5t7"), "https://openreview.net/forum?id=rJ4km2R5t7");
  assert.equal(urlFromId("acl:2023.acl-long.1"), "https://aclanthology.org/2023.acl-long.1/");
  assert.equal(urlFromId("acl:P19-1001"), "https://aclanthology.org/P19-1001/");
  assert.equal(urlFromId("s2:" + "a".repeat(40)), "https://www.semanticscholar.org/paper/" + "a".repeat(40));
  assert.equal(urlFromId("url:https://Example.com/p?q=1#frag"), "https://example.com/p?q=1");
  assert.equal(urlFromId("url:https://arxiv.org/pdf/2401.00001v2"), "https://arxiv.org/abs/2401.00001");
});

test("ids that name no page, or are malformed, give no page", () => {
  for (const id of ["seed:graph-learning", "ct:123", "arxiv:not-an-id", "openreview:a b", "acl:nope",
    "s2:123", "url:javascript:alert(1)", "javascript:alert(1)", "", null, undefined, 42]) {
    assert.equal(urlFromId(id), null, String(id));
  }
});

test("a paper's own url comes first, and only when it is http(s)", () => {
  assert.deepEqual(paperLink({ id: "seed:1", url: "https://example.com/x" }), page("https://example.com/x"));
  assert.deepEqual(
    paperLink({ id: "arxiv:2401.00001", url: "javascript:alert(1)" }),
    page("https://arxiv.org/abs/2401.00001"),
  );
  assert.deepEqual(paperLink({ id: "arxiv:2401.00001" }), page("https://arxiv.org/abs/2401.00001"));
});

test("a record with its own id links through its doi or arxiv_id field", () => {
  assert.deepEqual(paperLink({ id: "seed:x", doi: "10.5555/Jrr.1", title: "T" }), page("https://doi.org/10.5555/jrr.1"));
  assert.deepEqual(paperLink({ id: "seed:x", arxiv_id: "2401.00001v2", title: "T" }), page("https://arxiv.org/abs/2401.00001"));
  assert.deepEqual(paperLink({ id: "seed:x", doi: "not a doi", title: "T" }).kind, "search");
});

test("papers with no page get a search for their title", () => {
  const seed = { id: "seed:multilingual-universal", title: "Multilingual  Universal\nSentence Encoder" };
  assert.deepEqual(paperLink(seed), {
    href: SEARCH_URL + "Multilingual%20Universal%20Sentence%20Encoder",
    kind: "search",
  });
  assert.ok(SEARCH_URL.startsWith("https://"));
  const hostile = paperLink({ id: "seed:h", title: '<img src=x onerror="alert(1)">&q=evil#frag', url: "data:text/html,x" });
  assert.equal(hostile.kind, "search");
  assert.equal(new URL(hostile.href).searchParams.get("q"), '<img src=x onerror="alert(1)">&q=evil#frag');
  assert.equal(new URL(hostile.href).hash, "");
});

test("no page and no title: no link", () => {
  assert.equal(paperLink({ id: "seed:1" }), null);
  assert.equal(paperLink({ id: "seed:1", title: "   " }), null);
  assert.equal(paperLink(null), null);
  assert.equal(paperLink("arxiv:2401.00001"), null);
});
