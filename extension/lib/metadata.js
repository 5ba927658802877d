/**
 * Which page is a paper, and what it says about itself: (url, document) -> paper or null.
 *
 * Pure: uses only `document.querySelectorAll(selector)`, `document.querySelector(selector)`
 * and `document.title`, and of elements only `getAttribute(name)` and `textContent`, so node
 * tests can hand it a tiny fake DOM. Selectors are simple (tag, .class, #id, descendants).
 *
 * Recognised: arXiv (abs, html), alphaXiv, Hugging Face Papers, OpenReview, Semantic Scholar,
 * ACL Anthology, bioRxiv/medRxiv — by URL (see ids.js) — and any other page with Highwire
 * `citation_*` tags or a DOI meta tag (`citation_doi`, `dc.identifier`, `prism.doi`).
 */

import { arxivId, doiId, normalizeUrl, paperIdFromUrl } from "./ids.js";

const LIMITS = { title: 500, author: 200, authors: 100, abstract: 5000 };

/** Collapse whitespace and trim; cut to `limit` characters (on a word boundary if possible). */
export function cleanText(text, limit = Infinity) {
  const clean = String(text ?? "")
    .replace(/[\s\u00a0]+/g, " ")
    .trim();
  if (clean.length <= limit) return clean;
  const cut = clean.slice(0, limit - 1);
  const space = cut.lastIndexOf(" ");
  return (space > limit * 0.6 ? cut.slice(0, space) : cut) + "…";
}

// Some sites put a little markup inside meta contents (bioRxiv: "<p>...</p>", JATS tags).
// It is removed as text here; nothing from a page is ever parsed as HTML.
const INLINE_MARKUP = /<\/?(?:p|i|b|em|strong|sub|sup|br|span|jats:[a-z-]+)(?:\s[^<>]*)?\/?>/gi;
export const stripMarkup = (text) => String(text ?? "").replace(INLINE_MARKUP, " ");

/** All meta tags as lower-cased name -> [content, ...] (name, property or itemprop). */
export function readMeta(doc) {
  const meta = new Map();
  for (const el of doc.querySelectorAll("meta")) {
    const name = (el.getAttribute("name") || el.getAttribute("property") || el.getAttribute("itemprop") || "")
      .trim()
      .toLowerCase();
    const content = el.getAttribute("content");
    if (!name || content == null) continue;
    const value = cleanText(content);
    if (!value) continue;
    if (!meta.has(name)) meta.set(name, []);
    meta.get(name).push(value);
  }
  return meta;
}

const first = (meta, ...names) => {
  for (const name of names) {
    const values = meta.get(name);
    if (values && values.length) return values[0];
  }
  return "";
};

const textOf = (doc, selector) => {
  const el = doc.querySelector(selector);
  return el ? cleanText(el.textContent) : "";
};

/** "Vaswani, Ashish" -> "Ashish Vaswani"; other forms unchanged. */
export function displayName(name) {
  const clean = cleanText(name, LIMITS.author);
  const parts = clean.split(",");
  if (parts.length === 2 && parts[1].trim() && !/^(jr|sr|ii|iii|iv)\.?$/i.test(parts[1].trim())) {
    return `${parts[1].trim()} ${parts[0].trim()}`;
  }
  return clean;
}

/** First DOI found in the DOI-carrying meta tags, as "doi:..." (or an arxiv: id), or null. */
function doiFromMeta(meta) {
  for (const name of ["citation_doi", "prism.doi", "dc.identifier", "dc.identifier.doi", "bepress_citation_doi"]) {
    for (const value of meta.get(name) || []) {
      const found = doiId(value.replace(/^doi:\s*/i, ""));
      if (found) return found;
    }
  }
  return null;
}

/** ISO date (YYYY-MM-DD) from the usual date formats, or "". */
export function isoDate(text) {
  const m = /^(\d{4})[-/](\d{1,2})[-/](\d{1,2})/.exec(cleanText(text));
  if (!m) return "";
  const [, y, mo, d] = m;
  if (+mo < 1 || +mo > 12 || +d < 1 || +d > 31) return "";
  return `${y}-${mo.padStart(2, "0")}-${d.padStart(2, "0")}`;
}

const stripSuffix = (title, ...patterns) => {
  let t = title;
  for (const p of patterns) t = t.replace(p, "");
  return t.trim();
};

/** Site-specific fallbacks for what the meta tags lack. */
function fromPage(doc, host) {
  if (host.endsWith("arxiv.org")) {
    return {
      title:
        textOf(doc, "h1.ltx_title_document") ||
        stripSuffix(textOf(doc, "h1.title"), /^Title:\s*/),
      authors: [...doc.querySelectorAll(".ltx_authors .ltx_personname")].map((el) =>
        cleanText((el.textContent || "").split("\n").find((l) => l.trim()) || ""),
      ),
      abstract:
        textOf(doc, ".ltx_abstract p") || stripSuffix(textOf(doc, "blockquote.abstract"), /^Abstract:\s*/),
    };
  }
  if (host === "huggingface.co") {
    return {
      title: textOf(doc, "h1"),
      authors: [],
      abstract: textOf(doc, "p.text-gray-600"),
    };
  }
  if (host.endsWith("aclanthology.org")) {
    return { title: textOf(doc, "h2#title"), authors: [], abstract: textOf(doc, ".acl-abstract span") };
  }
  return { title: "", authors: [], abstract: textOf(doc, "#abstract") };
}

const GENERIC_DESCRIPTIONS = /^(join the discussion on this paper page|semantic scholar extracted view of)/i;

/**
 * The paper shown at `url` in `doc`, or null when the page is not a paper.
 * Returns {id, title, authors[], abstract, url, doi?, arxiv_id?, published?}.
 */
export function extractPaper(url, doc) {
  let pageId;
  let pageUrl;
  try {
    pageUrl = normalizeUrl(url);
    pageId = paperIdFromUrl(pageUrl);
  } catch {
    return null;
  }
  const pdf = paperFromPdfUrl(pageUrl);
  if (pdf) return { title: "", authors: [], abstract: "", ...pdf };
  const host = pageUrl.split("/")[2].replace(/^www\./, "").replace(/:\d+$/, "");
  const meta = readMeta(doc);
  const metaDoi = doiFromMeta(meta);
  const metaArxiv = arxivId(first(meta, "citation_arxiv_id"));

  let id = pageId;
  if (pageId.startsWith("url:")) {
    if (metaDoi) id = metaDoi;
    else if (metaArxiv) id = metaArxiv;
    else if (!first(meta, "citation_title")) return null; // not a paper page
  }

  const page = fromPage(doc, host);
  const rawTitle =
    first(meta, "citation_title", "dc.title", "prism.title") ||
    page.title ||
    first(meta, "og:title", "twitter:title") ||
    cleanText(doc.title);
  const title = cleanText(
    stripSuffix(stripMarkup(rawTitle), /^Paper page\s*-\s*/i, /\s*\|\s*(alphaXiv|OpenReview|Semantic Scholar|bioRxiv|medRxiv)$/i, /^\[[^\]]+\]\s*/),
    LIMITS.title,
  );

  let authors = [...(meta.get("citation_author") || [])];
  if (!authors.length) authors = [...(meta.get("dc.creator") || [])];
  if (!authors.length) authors = page.authors;
  authors = [...new Set(authors.map(displayName).filter(Boolean))].slice(0, LIMITS.authors);

  let abstract =
    first(meta, "citation_abstract", "dc.description", "dcterms.abstract") ||
    page.abstract ||
    first(meta, "og:description", "description", "twitter:description");
  if (GENERIC_DESCRIPTIONS.test(abstract)) abstract = page.abstract || "";
  abstract = cleanText(stripSuffix(cleanText(stripMarkup(abstract)), /^Abstract[:.]?\s*/i), LIMITS.abstract);

  const paper = { id, title, authors, abstract, url: pageUrl };
  const doi = id.startsWith("doi:") ? id : metaDoi && metaDoi.startsWith("doi:") ? metaDoi : null;
  if (doi) paper.doi = doi.slice(4);
  const arxiv = id.startsWith("arxiv:") ? id : metaArxiv;
  if (arxiv) paper.arxiv_id = arxiv.slice(6);
  const published = isoDate(
    first(meta, "citation_publication_date", "citation_date", "citation_online_date", "dc.date", "article:published_time"),
  );
  if (published) paper.published = published;
  return paper;
}

/** The PDF-style URLs whose page cannot be read (browser PDF viewer): the paper from the URL. */
export function paperFromPdfUrl(url) {
  let pageUrl;
  let id;
  try {
    pageUrl = normalizeUrl(url);
    id = paperIdFromUrl(pageUrl);
  } catch {
    return null;
  }
  if (id.startsWith("url:")) return null;
  const path = pageUrl.split("?")[0].split("/").slice(3).join("/");
  const pdf = /\.pdf$/i.test(path) || /^(pdf)(\/|$)/.test(path);
  if (!pdf) return null;
  const paper = { id, url: pageUrl };
  if (id.startsWith("arxiv:")) paper.arxiv_id = id.slice(6);
  if (id.startsWith("doi:")) paper.doi = id.slice(4);
  return paper;
}
