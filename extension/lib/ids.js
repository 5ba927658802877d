/**
 * Canonical paper ids — the JavaScript twin of server/ids.py.
 *
 * One id per paper however it was opened: arxiv:2401.00001, doi:10.1000/xyz,
 * openreview:<forum>, acl:<id>, s2:<40 hex>, url:<normalised url>. Both implementations are
 * checked against tests/data/id_vectors.json; change them together. URLs are split by hand
 * (not with `new URL`) so both sides split them the same way.
 */

export const MAX_ID_LENGTH = 512;
export const MAX_URL_LENGTH = 2048;

export class InvalidPaper extends Error {
  constructor(message) {
    super(message);
    this.name = "InvalidPaper";
  }
}

const EDGE = /^[ \t\n\r\f\v]+|[ \t\n\r\f\v]+$/g;
const FORBIDDEN =
  /[\x00-\x20\x7f-\x9f\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]/;
const SCHEME = /^([A-Za-z][A-Za-z0-9+.\-]*):([\s\S]*)$/;
const BANNED_SCHEMES = new Set([
  "javascript",
  "vbscript",
  "data",
  "file",
  "blob",
  "about",
  "view-source",
  "chrome",
  "chrome-extension",
  "moz-extension",
]);

const lower = (text) => text.replace(/[A-Z]+/g, (s) => s.toLowerCase());
const codePoints = (text) => Array.from(text).length;
const short = (text) => JSON.stringify(Array.from(text).slice(0, 80).join(""));

function clean(value, what, limit) {
  if (typeof value !== "string") {
    throw new InvalidPaper(`${what} must be a string, not ${value === null ? "null" : typeof value}`);
  }
  const text = value.replace(EDGE, "");
  if (!text) throw new InvalidPaper(`${what} is empty`);
  if (codePoints(text) > limit) throw new InvalidPaper(`${what} is longer than ${limit} characters`);
  if (FORBIDDEN.test(text)) throw new InvalidPaper(`${what} contains whitespace or control characters`);
  return text;
}

function checked(paperId) {
  if (codePoints(paperId) > MAX_ID_LENGTH) {
    throw new InvalidPaper(`paper id is longer than ${MAX_ID_LENGTH} characters`);
  }
  return paperId;
}

// --- arXiv ------------------------------------------------------------------------------------

const ARXIV_NEW = /^(\d{4}\.\d{4,5})(?:v\d+)?$/;
const ARXIV_OLD = /^([A-Za-z]+(?:-[A-Za-z]+)*)(?:\.[A-Za-z]{2})?\/(\d{7})(?:v\d+)?$/;
const ARXIV_ID = String.raw`(\d{4}\.\d{4,5}|[A-Za-z]+(?:-[A-Za-z]+)*(?:\.[A-Za-z]{2})?/\d{7})(?:v\d+)?`;

/** Bare arXiv id (any version, optional "arXiv:" prefix) -> "arxiv:<id>" or null. */
export function arxivId(text) {
  if (lower(text.slice(0, 6)) === "arxiv:") text = text.slice(6);
  let m = ARXIV_NEW.exec(text);
  if (m) return "arxiv:" + m[1];
  m = ARXIV_OLD.exec(text);
  if (m) return "arxiv:" + lower(m[1]) + "/" + m[2];
  return null;
}

// --- DOI --------------------------------------------------------------------------------------

const DOI = /^10\.\d+(?:\.\d+)*\/[\s\S]+$/;
const DOI_PREFIX = /^(?:doi:|https?:\/\/(?:dx\.|www\.)?doi\.org\/)/i;
const ARXIV_DOI = /^10\.48550\/arxiv\.([\s\S]+)$/;

/** A DOI, bare or as doi:/doi.org link -> "doi:<lower>" (arXiv DOIs -> "arxiv:"), or null. */
export function doiId(text) {
  const doi = lower(text.replace(DOI_PREFIX, ""));
  if (!DOI.test(doi) || FORBIDDEN.test(doi)) return null;
  const m = ARXIV_DOI.exec(doi);
  if (m) {
    const arxiv = arxivId(m[1]);
    if (arxiv) return arxiv;
  }
  return "doi:" + doi;
}

// --- URLs -------------------------------------------------------------------------------------

const URL_PARTS = /^\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#[\s\S]*)?$/;
const HOST = /^(?:[A-Za-z0-9._~\-]|[^\x00-\x7f])+$/;
const HOST_PORT = /^([^:\[\]]*)(?::(\d*))?$/;
const IPV6_PORT = /^(\[[0-9A-Fa-f:.]+\])(?::(\d*))?$/;
const DEFAULT_PORT = { http: 80, https: 443 };

/** A validated http(s) URL: scheme and host lower-cased, credentials, default port and
 * fragment dropped, an empty path made "/", path and query kept as they are. */
export function normalizeUrl(url) {
  const text = clean(url, "url", MAX_URL_LENGTH);
  const m = SCHEME.exec(text);
  if (!m) throw new InvalidPaper("url must be an absolute http or https URL");
  const scheme = lower(m[1]);
  if (!(scheme === "http" || scheme === "https")) {
    throw new InvalidPaper(`url must use http or https, not ${scheme}:`);
  }
  const parts = URL_PARTS.exec(m[2]);
  if (!parts) throw new InvalidPaper("url must be an absolute http or https URL with a host");
  const [, authority, path] = parts;
  const query = parts[3];
  if (authority.includes("\\")) throw new InvalidPaper("url has a malformed host");
  const hostport = authority.slice(authority.lastIndexOf("@") + 1);
  const hp = IPV6_PORT.exec(hostport) || HOST_PORT.exec(hostport);
  if (!hp) throw new InvalidPaper("url has a malformed host");
  const host = lower(hp[1]);
  const port = hp[2];
  if (!host || !(host.startsWith("[") || HOST.test(host))) {
    throw new InvalidPaper("url has no valid host");
  }
  let portPart = "";
  if (port) {
    const digits = port.replace(/^0+/, "") || "0";
    if (digits.length > 5 || Number(digits) > 65535) throw new InvalidPaper("url has an invalid port");
    if (Number(digits) !== DEFAULT_PORT[scheme]) portPart = ":" + digits;
  }
  let result = `${scheme}://${host}${portPart}${path || "/"}`;
  if (query) result += "?" + query;
  return result;
}

const ARXIV_PATH = new RegExp(String.raw`^/(?:abs|pdf|html|format|ps)/${ARXIV_ID}(?:\.pdf)?(?:/[\s\S]*)?$`);
const ALPHAXIV_PATH = new RegExp(String.raw`^/(?:abs|overview|pdf)/${ARXIV_ID}(?:\.pdf)?/?$`);
const HF_PATH = /^\/papers\/(\d{4}\.\d{4,5})(?:v\d+)?\/?$/;
const OPENREVIEW_PATH = /^\/(?:forum|pdf)\/?$/;
const OPENREVIEW_ID = /^[A-Za-z0-9_\-]+$/;
const S2_PATH = /^\/paper\/(?:[^/]+\/)?([0-9A-Fa-f]{40})\/?$/;
const ACL_ID = String.raw`(\d{4}\.[a-z0-9]+(?:-[a-z0-9]+)*\.\d+|[A-Za-z]\d{2}-\d{4})`;
const ACL_PATH = new RegExp(String.raw`^/(?:anthology/)?${ACL_ID}(?:v\d+)?(?:\.pdf|/)?$`);
const RXIV_PATH = new RegExp(
  String.raw`^/content/(?:early/\d{4}/\d{2}/\d{2}/)?(10\.1101/(?:\d{4}\.\d{2}\.\d{2}\.)?\d{6,})` +
    String.raw`(?:v\d+)?(?:[./][\s\S]*)?$`,
);
const BAD_PERCENT = /%(?![0-9A-Fa-f]{2})/;

function queryParam(query, name) {
  for (const pair of (query || "").split("&")) {
    const i = pair.indexOf("=");
    if (i >= 0 && pair.slice(0, i) === name) return pair.slice(i + 1);
  }
  return null;
}

function percentDecode(text) {
  if (BAD_PERCENT.test(text)) return null;
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}

function paperIdFromNormalized(url) {
  const parts = URL_PARTS.exec(url.slice(url.indexOf(":") + 1));
  const [, hostport, path, query] = parts;
  let host = hostport.startsWith("[") ? hostport : hostport.split(":")[0];
  if (host.startsWith("www.")) host = host.slice(4);
  let found = null;
  let m;
  if (host === "arxiv.org" || host.endsWith(".arxiv.org")) {
    m = ARXIV_PATH.exec(path);
    found = m ? arxivId(m[1]) : null;
  } else if (host === "alphaxiv.org") {
    m = ALPHAXIV_PATH.exec(path);
    found = m ? arxivId(m[1]) : null;
  } else if (host === "huggingface.co") {
    m = HF_PATH.exec(path);
    found = m ? arxivId(m[1]) : null;
  } else if (host === "openreview.net") {
    const forum = OPENREVIEW_PATH.test(path) ? queryParam(query, "id") : null;
    if (forum && OPENREVIEW_ID.test(forum)) found = "openreview:" + forum;
  } else if (host === "semanticscholar.org") {
    m = S2_PATH.exec(path);
    found = m ? "s2:" + lower(m[1]) : null;
  } else if (host === "aclanthology.org" || host === "aclweb.org") {
    m = ACL_PATH.exec(path);
    found = m ? "acl:" + m[1] : null;
  } else if (host === "doi.org" || host === "dx.doi.org") {
    const decoded = percentDecode(path.slice(1));
    found = decoded ? doiId(decoded) : null;
  } else if (host === "biorxiv.org" || host === "medrxiv.org") {
    m = RXIV_PATH.exec(path);
    found = m ? "doi:" + m[1] : null;
  }
  return checked(found || "url:" + url);
}

/** The canonical id of the paper at an http(s) URL; "url:<normalised>" for other pages. */
export function paperIdFromUrl(url) {
  return paperIdFromNormalized(normalizeUrl(url));
}

const ACL_REST = new RegExp(`^${ACL_ID}$`);
const S2_REST = /^[0-9A-Fa-f]{40}$/;

/** A scheme-prefixed id in canonical form; unknown schemes (seed:, ct:) kept, scheme lower-cased. */
export function normalizeId(paperId) {
  const text = clean(paperId, "paper id", MAX_ID_LENGTH);
  const m = SCHEME.exec(text);
  if (!m || !m[2]) {
    throw new InvalidPaper(`paper id ${short(text)} has no scheme (like arxiv:, doi: or url:)`);
  }
  const scheme = lower(m[1]);
  const rest = m[2];
  if (BANNED_SCHEMES.has(scheme)) throw new InvalidPaper(`paper id cannot use the ${scheme}: scheme`);
  if (scheme === "http" || scheme === "https") return paperIdFromUrl(text);
  if (scheme === "url") return paperIdFromUrl(rest);
  if (scheme === "arxiv") {
    const found = arxivId(rest);
    if (!found) throw new InvalidPaper(`${short(rest)} is not an arXiv id (like 2401.00001 or hep-th/9901001)`);
    return found;
  }
  if (scheme === "doi") {
    const found = doiId(rest);
    if (!found) throw new InvalidPaper(`${short(rest)} is not a DOI (like 10.1000/xyz)`);
    return checked(found);
  }
  if (scheme === "openreview") {
    if (!OPENREVIEW_ID.test(rest)) throw new InvalidPaper(`${short(rest)} is not an OpenReview forum id`);
    return "openreview:" + rest;
  }
  if (scheme === "acl") {
    if (!ACL_REST.test(rest)) throw new InvalidPaper(`${short(rest)} is not an ACL Anthology id`);
    return "acl:" + rest;
  }
  if (scheme === "s2") {
    if (!S2_REST.test(rest)) throw new InvalidPaper(`${short(rest)} is not a Semantic Scholar id`);
    return "s2:" + lower(rest);
  }
  return scheme + ":" + rest;
}

const present = (value) => value !== undefined && value !== null && value !== "";

/** The canonical id of a paper record: its id, else doi, else arxiv_id, else url. */
export function canonicalId(paper) {
  if (typeof paper !== "object" || paper === null || Array.isArray(paper)) {
    throw new InvalidPaper("paper must be a JSON object");
  }
  if (present(paper.id)) {
    const text = clean(paper.id, "paper id", MAX_ID_LENGTH);
    if (!SCHEME.test(text)) {
      const found = arxivId(text) || doiId(text);
      if (found) return checked(found);
    }
    return normalizeId(text);
  }
  if (present(paper.doi)) {
    const text = clean(paper.doi, "doi", MAX_ID_LENGTH);
    const found = doiId(text);
    if (!found) throw new InvalidPaper(`doi ${short(text)} is not a DOI (like 10.1000/xyz)`);
    return checked(found);
  }
  if (present(paper.arxiv_id)) {
    const text = clean(paper.arxiv_id, "arxiv_id", MAX_ID_LENGTH);
    const found = arxivId(text);
    if (!found) throw new InvalidPaper(`arxiv_id ${short(text)} is not an arXiv id`);
    return found;
  }
  if (present(paper.url)) return paperIdFromUrl(paper.url);
  throw new InvalidPaper("paper needs an id, a doi, an arxiv_id or a url");
}
