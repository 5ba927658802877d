/**
 * Where a paper's title links to: the paper's own page, else the page its canonical id names
 * (arXiv, DOI, OpenReview, ACL Anthology, Semantic Scholar, url:), else — for ids that name no
 * page, like the seed catalog's `seed:…` — a scholarly search for its title.
 *
 * Pure (no DOM, no chrome.*), unit-tested under node. Ids are read with lib/ids.js, so every id
 * form it accepts links the same way. Every URL returned has passed normalizeUrl: http(s)
 * only, never javascript:/data:, whatever the backend sent.
 */

import { arxivId, doiId, normalizeId, normalizeUrl } from "./ids.js";

/** The search a paper with no page of its own links to (its title is appended). */
export const SEARCH_URL = "https://scholar.google.com/scholar?q=";

function validUrl(text) {
  try {
    return normalizeUrl(text);
  } catch {
    return null;
  }
}

/** The page a paper id names ("arxiv:2401.00001" -> "https://arxiv.org/abs/2401.00001"), or
 * null for ids that name none (seed:, ct:, other imports' schemes) and for malformed ids. */
export function urlFromId(paperId) {
  let id;
  try {
    id = normalizeId(paperId);
  } catch {
    return null;
  }
  const colon = id.indexOf(":");
  const scheme = id.slice(0, colon);
  const rest = id.slice(colon + 1);
  switch (scheme) {
    case "arxiv":
      return validUrl(`https://arxiv.org/abs/${rest}`);
    case "doi":
      return validUrl(`https://doi.org/${rest.split("/").map(encodeURIComponent).join("/")}`);
    case "openreview":
      return validUrl(`https://openreview.net/forum?id=${encodeURIComponent(rest)}`);
    case "acl":
      return validUrl(`https://aclanthology.org/${encodeURIComponent(rest)}/`);
    case "s2":
      return validUrl(`https://www.semanticscholar.org/paper/${rest}`);
    case "url":
      return validUrl(rest);
    default:
      return null;
  }
}

/** The page named by a paper's `doi` or `arxiv_id` field (a record whose id is its own). */
function urlFromField(read, value) {
  if (typeof value !== "string") return null;
  const id = read(value.trim());
  return id ? urlFromId(id) : null;
}

/** A search for a paper's title. */
export function searchUrl(title) {
  return SEARCH_URL + encodeURIComponent(title);
}

/**
 * Where a paper's title links to: `{href, kind}` with kind "page" (the paper's own `url`, else
 * the page its id, `doi` or `arxiv_id` names) or "search" (a search for its title), or null
 * for a paper with neither a page nor a title.
 */
export function paperLink(paper) {
  if (!paper || typeof paper !== "object") return null;
  const page =
    (typeof paper.url === "string" ? validUrl(paper.url) : null) ||
    urlFromId(paper.id) ||
    urlFromField(doiId, paper.doi) ||
    urlFromField(arxivId, paper.arxiv_id);
  if (page) return { href: page, kind: "page" };
  const title = typeof paper.title === "string" ? paper.title.replace(/\s+/g, " ").trim() : "";
  return title ? { href: searchUrl(title), kind: "search" } : null;
}
