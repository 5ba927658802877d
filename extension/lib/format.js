/**
 * How the side panel words things: reasons, author lines, short abstracts; excluded sites and
 * backend URLs as the options page reads them. Pure (no DOM, no chrome.*), unit-tested under
 * node. Everything returned is plain text or a validated http(s) URL; the caller inserts it
 * with textContent / setAttribute("href"). Title links are lib/links.js's.
 */

import { normalizeUrl } from "./ids.js";

/** Longest reason sentence shown (a server's sentence may quote a long title). */
export const MAX_REASON_CHARS = 200;

/** One reason object from the backend -> the sentence a person reads, or "" for none.
 * The backend's own `text` is used whenever it is a non-empty string; the wording below is
 * only a fallback for servers that send no `text` (and knows only the older reason types). */
export function reasonText(reason, options = {}) {
  if (!reason || typeof reason !== "object") return "";
  if (typeof reason.text === "string" && reason.text.trim()) return shorten(reason.text, MAX_REASON_CHARS);
  return fallbackReasonText(reason, options);
}

/** Today's wording of a reason without `text` (old servers), or "" for an unknown type. */
export function fallbackReasonText(reason, { related = false } = {}) {
  switch (reason.type) {
    case "because_you_read": {
      const title = typeof reason.title === "string" && reason.title.trim() ? reason.title.trim() : reason.paper_id;
      return title ? `Because you read “${shorten(String(title), 90)}”` : "Because of something you read";
    }
    case "similar_text":
      return related ? "Similar in content to this paper" : "Similar in content to what you read";
    case "popular":
      return "Popular with other readers";
    case "fresh":
      return "Recently published";
    case "similar_readers":
      return related ? "Read by people who read this paper" : "Read by people with similar interests";
    default:
      return "";
  }
}

/** All known reasons of an item, de-duplicated, joined with " · " (at most `max`). */
export function reasonsLine(reasons, options = {}, max = 2) {
  const texts = (Array.isArray(reasons) ? reasons : []).map((r) => reasonText(r, options)).filter(Boolean);
  return [...new Set(texts)].slice(0, max).join(" · ");
}

/** "A, B and C" for up to `max` authors, else "A, B, C et al." */
export function authorsLine(authors, max = 3) {
  const list = (Array.isArray(authors) ? authors : []).filter((a) => typeof a === "string" && a.trim()).map((a) => a.trim());
  if (!list.length) return "";
  if (list.length > max) return `${list.slice(0, max).join(", ")} et al.`;
  if (list.length === 1) return list[0];
  return `${list.slice(0, -1).join(", ")} and ${list[list.length - 1]}`;
}

/** Whitespace collapsed, cut at a word boundary near `limit` characters, with an ellipsis. */
export function shorten(text, limit = 280) {
  const clean = String(text ?? "").replace(/\s+/g, " ").trim();
  if (clean.length <= limit) return clean;
  const cut = clean.slice(0, limit);
  const space = cut.lastIndexOf(" ");
  return `${(space > limit * 0.6 ? cut.slice(0, space) : cut).replace(/[\s,.;:]+$/, "")}…`;
}

/** Is `url` on one of the excluded sites? Entries are host names (a leading "*." or "." is
 * allowed); each also covers its subdomains. Pasted URLs are reduced to their host. */
export function isExcluded(url, excludedSites) {
  const m = /^[a-z][a-z0-9+.-]*:\/\/(?:[^/?#@]*@)?(\[[^\]]*\]|[^/?#:]+)/i.exec(String(url || ""));
  if (!m) return false;
  const host = m[1].toLowerCase().replace(/\.$/, "");
  return parseSites(excludedSites).some((site) => host === site || host.endsWith(`.${site}`));
}

/** Excluded-sites text or list -> clean host names. */
export function parseSites(sites) {
  const list = Array.isArray(sites) ? sites : String(sites || "").split(/[\s,]+/);
  return [
    ...new Set(
      list
        .map((s) =>
          String(s)
            .trim()
            .toLowerCase()
            .replace(/^[a-z][a-z0-9+.-]*:\/\//, "")
            .replace(/[/?#].*$/, "")
            .replace(/:\d+$/, "")
            .replace(/^\*?\./, "")
            .replace(/\.$/, ""),
        )
        .filter(Boolean),
    ),
  ];
}

const LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
const HOST_NAME = new RegExp(`^(?=.{1,253}$)${LABEL}(?:\\.${LABEL})*$`);

/** The options page's excluded-sites text -> {sites, bad}. One entry per line or comma, each a
 * host name ("example.com", subdomains included), a domain written "*.example.com", or a pasted
 * http(s) URL (its host is kept). `sites` are the clean host names (non-ASCII names in the
 * punycode that tab URLs show), `bad` the entries that are none of these, as typed. */
export function checkSites(text) {
  const sites = [];
  const bad = [];
  for (const raw of String(text ?? "").split(/[\n,]/)) {
    const entry = raw.trim();
    if (!entry) continue;
    const site = siteFromEntry(entry);
    if (!site) bad.push(entry);
    else if (!sites.includes(site)) sites.push(site);
  }
  return { sites, bad };
}

function siteFromEntry(entry) {
  let host = entry.toLowerCase();
  if (/^[a-z][a-z0-9+.-]*:\/\//.test(host)) {
    if (!/^https?:\/\//.test(host)) return null;
    try {
      host = new URL(host).hostname;
    } catch {
      return null;
    }
  } else {
    host = host.replace(/^\*?\./, "");
    if (/[^\x00-\x7f]/.test(host)) {
      if (/[\s/?#@:\\]/.test(host)) return null;
      try {
        host = new URL(`http://${host}/`).hostname; // to punycode
      } catch {
        return null;
      }
    }
  }
  host = host.replace(/\.$/, "");
  return HOST_NAME.test(host) ? host : null;
}

/** "http://127.0.0.1:5000/" -> "http://127.0.0.1:5000", or null if not an http(s) origin URL. */
export function cleanBackendUrl(text) {
  try {
    const url = normalizeUrl(String(text || "").trim());
    return url.replace(/\/+$/, "").replace(/\?.*$/, "");
  } catch {
    return null;
  }
}

/** Does a backend at this URL need a runtime host permission (anything but this machine)? */
export function needsHostPermission(backendUrl) {
  const m = /^https?:\/\/([^/:]+|\[[^\]]+\])/.exec(backendUrl || "");
  return !(m && ["127.0.0.1", "localhost", "[::1]"].includes(m[1]));
}

/** The host-permission pattern for a backend URL: "https://papers.example.org/*". */
export function originPattern(backendUrl) {
  const m = /^(https?):\/\/([^/:]+|\[[^\]]+\])/.exec(backendUrl || "");
  return m ? `${m[1]}://${m[2]}/*` : null;
}
