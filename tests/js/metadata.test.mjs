// extension/lib/metadata.js on fixture pages resembling each site family's real markup.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseHTML } from "./fakedom.mjs";
import { extractPaper, paperFromPdfUrl, displayName, isoDate, cleanText } from "../../extension/lib/metadata.js";

const page = (name) => parseHTML(readFileSync(new URL(`../fixtures/sites/${name}`, import.meta.url), "utf8"));
const SPARSE = "Sparse Mixtures of Attention Experts for Long Documents";

test("arXiv abs page: citation tags, versions dropped, names in display order", () => {
  const p = extractPaper("https://arxiv.org/abs/2401.00001v2", page("arxiv-abs.html"));
  assert.deepEqual(p, {
    id: "arxiv:2401.00001",
    title: SPARSE,
    authors: ["Ada Lovelace", "Alan M. Turing", "Grace Hopper"],
    abstract:
      "We study sparse mixtures of attention experts that scale to long documents. Routing each token to two of sixty-four experts keeps the cost linear while matching dense attention on five benchmarks.",
    url: "https://arxiv.org/abs/2401.00001v2",
    arxiv_id: "2401.00001",
    published: "2024-01-01",
  });
});

test("arXiv old-style id", () => {
  const p = extractPaper("https://arxiv.org/abs/hep-th/9901001v1", page("arxiv-oldstyle.html"));
  assert.equal(p.id, "arxiv:hep-th/9901001");
  assert.equal(p.arxiv_id, "hep-th/9901001");
  assert.deepEqual(p.authors, ["Edwina Witten"]);
  assert.equal(p.published, "1999-01-04");
});

test("arXiv HTML (LaTeXML) page without meta tags", () => {
  const p = extractPaper("https://arxiv.org/html/2401.00001v2", page("arxiv-html.html"));
  assert.equal(p.id, "arxiv:2401.00001");
  assert.equal(p.title, SPARSE);
  assert.deepEqual(p.authors, ["Ada Lovelace", "Alan M. Turing"]);
  assert.equal(p.abstract, "We study sparse mixtures of attention experts that scale to long documents.");
});

test("alphaXiv page: site suffix removed from the title", () => {
  const p = extractPaper("https://www.alphaxiv.org/abs/2401.00001", page("alphaxiv.html"));
  assert.equal(p.id, "arxiv:2401.00001");
  assert.equal(p.title, SPARSE);
  assert.equal(p.abstract, "We study sparse mixtures of attention experts that scale to long documents.");
});

test("Hugging Face paper page: generic description ignored, abstract from the page", () => {
  const p = extractPaper("https://huggingface.co/papers/2401.00001", page("huggingface.html"));
  assert.equal(p.id, "arxiv:2401.00001");
  assert.equal(p.title, SPARSE);
  assert.equal(p.abstract, "We study sparse mixtures of attention experts that scale to long documents.");
});

test("OpenReview forum", () => {
  const p = extractPaper("https://openreview.net/forum?id=rJ4km2R5t7", page("openreview.html"));
  assert.equal(p.id, "openreview:rJ4km2R5t7");
  assert.equal(p.title, "Learning to Rank Papers with Graph Priors");
  assert.deepEqual(p.authors, ["Emmy Noether", "Sophie Germain"]);
  assert.match(p.abstract, /^We propose graph priors/);
  assert.equal(p.published, "2023-09-22");
});

test("Semantic Scholar: s2 id from the URL, DOI kept as a field", () => {
  const url = "https://www.semanticscholar.org/paper/Attention-Routing-Somerville-Babbage/0123456789abcdef0123456789ABCDEF01234567";
  const p = extractPaper(url, page("semanticscholar.html"));
  assert.equal(p.id, "s2:0123456789abcdef0123456789abcdef01234567");
  assert.equal(p.title, "Attention Routing in Citation Graphs");
  assert.deepEqual(p.authors, ["Mary Somerville", "Charles Babbage"]);
  assert.equal(p.doi, "10.1234/arcg.2022.7");
  assert.equal(p.abstract, "", "the 'extracted view of' boilerplate is not an abstract");
});

test("ACL Anthology page: entities decoded, acl id wins over the DOI", () => {
  const p = extractPaper("https://aclanthology.org/2023.acl-long.1/", page("acl.html"));
  assert.equal(p.id, "acl:2023.acl-long.1");
  assert.equal(p.doi, "10.18653/v1/2023.acl-long.1");
  assert.deepEqual(p.authors, ["Karen Spärck Jones", "Aravind Joshi"]);
  assert.equal(p.abstract, "Summaries of dialogues are short & useful; we show it on <three> corpora.");
  assert.equal(p.published, undefined, "2023/7 is not a full date");
});

test("bioRxiv: versioned URL, markup inside the abstract meta removed", () => {
  const p = extractPaper("https://www.biorxiv.org/content/10.1101/2020.03.01.123456v2", page("biorxiv.html"));
  assert.equal(p.id, "doi:10.1101/2020.03.01.123456");
  assert.equal(p.doi, "10.1101/2020.03.01.123456");
  assert.equal(p.abstract, "We recommend protein folding papers to structural biologists.");
  assert.deepEqual(p.authors, ["Rosalind Franklin", "Dorothy Hodgkin"]);
  assert.equal(p.published, "2020-03-02");
});

test("any publisher page with citation tags and a DOI", () => {
  const p = extractPaper("https://journals.example.org/jrr/article/42?ref=toc#abstract", page("publisher.html"));
  assert.equal(p.id, "doi:10.5555/jrr.2021.042");
  assert.equal(p.url, "https://journals.example.org/jrr/article/42?ref=toc");
  assert.deepEqual(p.authors, ["Srinivasa Ramanujan", "G. H. Hardy"]);
  assert.equal(p.published, "2021-06-15");
  assert.match(p.abstract, /^Implicit feedback is plentiful/);
});

test("a page with only a DOI meta tag", () => {
  const p = extractPaper("https://notes.example.net/cold-starts", page("doi-only.html"));
  assert.equal(p.id, "doi:10.5555/note.7");
  assert.equal(p.title, "A Note on Cold Starts");
});

test("citation tags without a DOI: the page URL is the id", () => {
  const doc = parseHTML('<html><head><meta name="citation_title" content="A Preprint"></head></html>');
  assert.equal(extractPaper("https://lab.example.edu/preprint.html", doc).id, "url:https://lab.example.edu/preprint.html");
});

test("everything else is ignored", () => {
  assert.equal(extractPaper("https://cooking.example.com/recipes", page("non-paper.html")), null);
  assert.equal(extractPaper("https://arxiv.org/list/cs.LG/recent", page("non-paper.html")), null);
  assert.equal(extractPaper("chrome://newtab/", page("non-paper.html")), null);
  assert.equal(extractPaper("file:///tmp/x.html", page("publisher.html")), null);
});

test("hostile page text stays text (no markup is interpreted here or later)", () => {
  const p = extractPaper("https://evil.example.com/paper", page("hostile.html"));
  assert.equal(p.id, "doi:10.6666/evil.1");
  assert.match(p.title, /<img src=x onerror=/);
  assert.match(p.title, /<script>window.pwned=1<\/script>/);
});

test("PDF URLs are papers from the URL alone", () => {
  assert.deepEqual(paperFromPdfUrl("https://arxiv.org/pdf/2401.00001v2"), {
    id: "arxiv:2401.00001",
    url: "https://arxiv.org/pdf/2401.00001v2",
    arxiv_id: "2401.00001",
  });
  assert.equal(paperFromPdfUrl("https://arxiv.org/pdf/hep-th/9901001v1.pdf").id, "arxiv:hep-th/9901001");
  assert.equal(paperFromPdfUrl("https://openreview.net/pdf?id=rJ4km2R5t7").id, "openreview:rJ4km2R5t7");
  assert.equal(paperFromPdfUrl("https://aclanthology.org/2023.acl-long.1.pdf").id, "acl:2023.acl-long.1");
  assert.equal(
    paperFromPdfUrl("https://www.biorxiv.org/content/10.1101/2020.03.01.123456v1.full.pdf").doi,
    "10.1101/2020.03.01.123456",
  );
  assert.equal(paperFromPdfUrl("https://arxiv.org/abs/2401.00001"), null, "not a PDF");
  assert.equal(paperFromPdfUrl("https://example.com/menu.pdf"), null, "unknown PDFs are not papers");
});

test("helpers", () => {
  assert.equal(displayName("Turing, Alan M."), "Alan M. Turing");
  assert.equal(displayName("King, Jr."), "King, Jr.");
  assert.equal(displayName("Ada Lovelace"), "Ada Lovelace");
  assert.equal(isoDate("2024/1/5"), "2024-01-05");
  assert.equal(isoDate("2024-01-05T10:00:00Z"), "2024-01-05");
  assert.equal(isoDate("2024"), "");
  assert.equal(cleanText("  a \n b  "), "a b");
  assert.equal(cleanText("one two three four five", 16), "one two three…");
});

test("a PDF viewer page yields the paper from its URL and no page text", () => {
  const viewer = parseHTML("<html><head><title>2401.00001v2.pdf</title></head><body><embed type='application/pdf'></body></html>");
  assert.deepEqual(extractPaper("https://arxiv.org/pdf/2401.00001v2", viewer), {
    title: "",
    authors: [],
    abstract: "",
    id: "arxiv:2401.00001",
    url: "https://arxiv.org/pdf/2401.00001v2",
    arxiv_id: "2401.00001",
  });
});
