"""Canonical paper ids: one id per paper, however it was opened.

Owns the rules that turn a paper record, a scheme-prefixed id or a page URL into the
canonical, scheme-prefixed id of DESIGN.md (``arxiv:2401.00001``, ``doi:10.1000/xyz``,
``openreview:<forum>``, ``acl:<id>``, ``s2:<40 hex>``, ``url:<normalised url>``).

Pure standard library. ``extension/lib/ids.js`` is its twin: both are checked against the same
vectors in ``tests/data/id_vectors.json``, so change them together. URLs are parsed by hand
(not with ``urllib.parse``) so that both implementations split them the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import unquote

__all__ = [
    "InvalidPaper",
    "canonical_id",
    "identify",
    "normalize_id",
    "normalize_url",
    "paper_id_from_url",
]

MAX_ID_LENGTH = 512
MAX_URL_LENGTH = 2048


class InvalidPaper(ValueError):
    """A paper or id that cannot be identified; the message is shown to API clients."""


# --- helpers shared by every rule -------------------------------------------------------------


def _re(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """Regexes behave as in JavaScript: ASCII \\d, and ``$`` only at the very end."""
    return re.compile(pattern.replace("$", r"\Z"), flags | re.ASCII)


# ASCII whitespace, stripped from both ends.
_EDGE = " \t\n\r\f\v"
# Nothing of this kind may remain inside an id or URL: controls (C0, DEL, C1) and whitespace.
_FORBIDDEN = _re(
    "[\x00-\x20\x7f-\x9f\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")

_SCHEME = _re(r"^([A-Za-z][A-Za-z0-9+.\-]*):(.*)$", re.S)
# Schemes that are never paper ids (they would be dangerous as links).
_BANNED_SCHEMES = {
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
}


def _lower(text: str) -> str:
    """ASCII-only lower-casing (identical in JavaScript, unlike str.lower on Unicode)."""
    return text.translate(_ASCII_LOWER)


def _clean(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str):
        raise InvalidPaper(f"{what} must be a string, not {type(value).__name__}")
    text = value.strip(_EDGE)
    if not text:
        raise InvalidPaper(f"{what} is empty")
    if len(text) > limit:
        raise InvalidPaper(f"{what} is longer than {limit} characters")
    if _FORBIDDEN.search(text):
        raise InvalidPaper(f"{what} contains whitespace or control characters")
    return text


def _checked(paper_id: str) -> str:
    if len(paper_id) > MAX_ID_LENGTH:
        raise InvalidPaper(f"paper id is longer than {MAX_ID_LENGTH} characters")
    return paper_id


# --- arXiv ------------------------------------------------------------------------------------

_ARXIV_NEW = _re(r"^(\d{4}\.\d{4,5})(?:v\d+)?$")
_ARXIV_OLD = _re(r"^([A-Za-z]+(?:-[A-Za-z]+)*)(?:\.[A-Za-z]{2})?/(\d{7})(?:v\d+)?$")
_ARXIV_ID = r"(\d{4}\.\d{4,5}|[A-Za-z]+(?:-[A-Za-z]+)*(?:\.[A-Za-z]{2})?/\d{7})(?:v\d+)?"


def _arxiv(text: str) -> str | None:
    """Bare arXiv id (any version, optional ``arXiv:`` prefix) -> ``arxiv:<id>`` or None."""
    if _lower(text[:6]) == "arxiv:":
        text = text[6:]
    m = _ARXIV_NEW.match(text)
    if m:
        return "arxiv:" + m.group(1)
    m = _ARXIV_OLD.match(text)
    if m:
        # The subject class (math.GT/...) is not part of an old-style id: math/0309136.
        return "arxiv:" + _lower(m.group(1)) + "/" + m.group(2)
    return None


# --- DOI --------------------------------------------------------------------------------------

_DOI = _re(r"^10\.\d+(?:\.\d+)*/.+$", re.S)
_DOI_PREFIX = _re(r"^(?:doi:|https?://(?:dx\.|www\.)?doi\.org/)", re.I)
_ARXIV_DOI = _re(r"^10\.48550/arxiv\.(.+)$", re.S)


def _doi(text: str) -> str | None:
    """DOI, bare or as ``doi:``/doi.org link -> ``doi:<lower>`` (arXiv DOIs -> ``arxiv:``)."""
    text = _DOI_PREFIX.sub("", text, count=1)
    doi = _lower(text)
    if not _DOI.match(doi) or _FORBIDDEN.search(doi):
        return None
    m = _ARXIV_DOI.match(doi)
    if m:
        arxiv = _arxiv(m.group(1))
        if arxiv:
            return arxiv
    return "doi:" + doi


# --- URLs -------------------------------------------------------------------------------------

_URL = _re(r"^//([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#.*)?$", re.S)
_HOST = _re(r"^(?:[A-Za-z0-9._~\-]|[^\x00-\x7f])+$")
_HOST_PORT = _re(r"^([^:\[\]]*)(?::(\d*))?$")
_IPV6_PORT = _re(r"^(\[[0-9A-Fa-f:.]+\])(?::(\d*))?$")
_DEFAULT_PORT = {"http": 80, "https": 443}


def normalize_url(url: str) -> str:
    """A validated http(s) URL: scheme and host lower-cased, credentials, default port and
    fragment dropped, an empty path made ``/``, path and query kept as they are."""
    text = _clean(url, "url", MAX_URL_LENGTH)
    m = _SCHEME.match(text)
    if not m:
        raise InvalidPaper("url must be an absolute http or https URL")
    scheme = _lower(m.group(1))
    if scheme not in _DEFAULT_PORT:
        raise InvalidPaper(f"url must use http or https, not {scheme}:")
    parts = _URL.match(m.group(2))
    if not parts:
        raise InvalidPaper("url must be an absolute http or https URL with a host")
    authority, path, query = parts.group(1), parts.group(2), parts.group(3)
    if "\\" in authority:
        raise InvalidPaper("url has a malformed host")
    hostport = authority.rpartition("@")[2]
    hp = _IPV6_PORT.match(hostport) or _HOST_PORT.match(hostport)
    if not hp:
        raise InvalidPaper("url has a malformed host")
    host, port = _lower(hp.group(1)), hp.group(2)
    if not host or not (host.startswith("[") or _HOST.match(host)):
        raise InvalidPaper("url has no valid host")
    port_part = ""
    if port:
        digits = port.lstrip("0") or "0"
        if len(digits) > 5 or int(digits) > 65535:
            raise InvalidPaper("url has an invalid port")
        if int(digits) != _DEFAULT_PORT[scheme]:
            port_part = ":" + digits
    result = f"{scheme}://{host}{port_part}{path or '/'}"
    if query:
        result += "?" + query
    return result


_ARXIV_PATH = _re(r"^/(?:abs|pdf|html|format|ps)/" + _ARXIV_ID + r"(?:\.pdf)?(?:/.*)?$")
_ALPHAXIV_PATH = _re(r"^/(?:abs|overview|pdf)/" + _ARXIV_ID + r"(?:\.pdf)?/?$")
_HF_PATH = _re(r"^/papers/(\d{4}\.\d{4,5})(?:v\d+)?/?$")
_OPENREVIEW_PATH = _re(r"^/(?:forum|pdf)/?$")
_OPENREVIEW_ID = _re(r"^[A-Za-z0-9_\-]+$")
_S2_PATH = _re(r"^/paper/(?:[^/]+/)?([0-9A-Fa-f]{40})/?$")
_ACL_ID = r"(\d{4}\.[a-z0-9]+(?:-[a-z0-9]+)*\.\d+|[A-Za-z]\d{2}-\d{4})"
_ACL_PATH = _re(r"^/(?:anthology/)?" + _ACL_ID + r"(?:v\d+)?(?:\.pdf|/)?$")
_RXIV_PATH = _re(
    r"^/content/(?:early/\d{4}/\d{2}/\d{2}/)?(10\.1101/(?:\d{4}\.\d{2}\.\d{2}\.)?\d{6,})"
    r"(?:v\d+)?(?:[./].*)?$"
)
_BAD_PERCENT = _re(r"%(?![0-9A-Fa-f]{2})")


def _site(host: str) -> str:
    return host[4:] if host.startswith("www.") else host


def _query_param(query: str | None, name: str) -> str | None:
    for pair in (query or "").split("&"):
        key, sep, value = pair.partition("=")
        if sep and key == name:
            return value
    return None


def _percent_decode(text: str) -> str | None:
    if _BAD_PERCENT.search(text):
        return None
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError:
        return None


def _paper_id_from_normalized(url: str) -> str:
    parts = _URL.match(url[url.index(":") + 1 :])
    assert parts is not None  # url came out of normalize_url
    hostport, path, query = parts.group(1), parts.group(2), parts.group(3)
    host = _site(hostport if hostport.startswith("[") else hostport.partition(":")[0])
    found: str | None = None
    if host == "arxiv.org" or host.endswith(".arxiv.org"):
        m = _ARXIV_PATH.match(path)
        found = _arxiv(m.group(1)) if m else None
    elif host == "alphaxiv.org":
        m = _ALPHAXIV_PATH.match(path)
        found = _arxiv(m.group(1)) if m else None
    elif host == "huggingface.co":
        m = _HF_PATH.match(path)
        found = _arxiv(m.group(1)) if m else None
    elif host == "openreview.net":
        forum = _query_param(query, "id") if _OPENREVIEW_PATH.match(path) else None
        if forum and _OPENREVIEW_ID.match(forum):
            found = "openreview:" + forum
    elif host == "semanticscholar.org":
        m = _S2_PATH.match(path)
        found = "s2:" + _lower(m.group(1)) if m else None
    elif host in ("aclanthology.org", "aclweb.org"):
        m = _ACL_PATH.match(path)
        found = "acl:" + m.group(1) if m else None
    elif host in ("doi.org", "dx.doi.org"):
        decoded = _percent_decode(path[1:])
        found = _doi(decoded) if decoded else None
    elif host in ("biorxiv.org", "medrxiv.org"):
        m = _RXIV_PATH.match(path)
        found = "doi:" + m.group(1) if m else None
    return _checked(found or "url:" + url)


def paper_id_from_url(url: str) -> str:
    """The canonical id of the paper at an http(s) URL; ``url:<normalised>`` for other pages."""
    return _paper_id_from_normalized(normalize_url(url))


_OPENREVIEW_REST = _OPENREVIEW_ID
_ACL_REST = _re(r"^" + _ACL_ID + r"$")
_S2_REST = _re(r"^[0-9A-Fa-f]{40}$")


def normalize_id(paper_id: str) -> str:
    """A scheme-prefixed id in its canonical form; unknown schemes (``seed:``, ``ct:``) are kept
    with the scheme lower-cased; an http(s) URL given as an id is read as a URL."""
    text = _clean(paper_id, "paper id", MAX_ID_LENGTH)
    m = _SCHEME.match(text)
    if not m or not m.group(2):
        raise InvalidPaper(f"paper id {text[:80]!r} has no scheme (like arxiv:, doi: or url:)")
    scheme, rest = _lower(m.group(1)), m.group(2)
    if scheme in _BANNED_SCHEMES:
        raise InvalidPaper(f"paper id cannot use the {scheme}: scheme")
    if scheme in ("http", "https"):
        return paper_id_from_url(text)
    if scheme == "url":
        return paper_id_from_url(rest)
    if scheme == "arxiv":
        found = _arxiv(rest)
        if not found:
            raise InvalidPaper(
                f"{rest[:80]!r} is not an arXiv id (like 2401.00001 or hep-th/9901001)"
            )
        return found
    if scheme == "doi":
        found = _doi(rest)
        if not found:
            raise InvalidPaper(f"{rest[:80]!r} is not a DOI (like 10.1000/xyz)")
        return _checked(found)
    if scheme == "openreview":
        if not _OPENREVIEW_REST.match(rest):
            raise InvalidPaper(f"{rest[:80]!r} is not an OpenReview forum id")
        return "openreview:" + rest
    if scheme == "acl":
        if not _ACL_REST.match(rest):
            raise InvalidPaper(f"{rest[:80]!r} is not an ACL Anthology id (like 2023.acl-long.1)")
        return "acl:" + rest
    if scheme == "s2":
        if not _S2_REST.match(rest):
            raise InvalidPaper(f"{rest[:80]!r} is not a Semantic Scholar id (40 hex digits)")
        return "s2:" + _lower(rest)
    return scheme + ":" + rest


def canonical_id(paper: Mapping) -> str:
    """The canonical id of a paper record: its ``id`` if it has one, else its ``doi``, its
    ``arxiv_id``, or its ``url``. A bare arXiv id or DOI in ``id`` is accepted too."""
    return identify(paper)[0]


# An arXiv abstract or PDF URL already in normal form, the one most events carry: its id is read
# with one match instead of the general rules' URL parsing (2 us against 10 us), and is what
# those rules give (tests/test_ids.py holds the two to the same answers).
_ARXIV_PAGE = _re(
    r"^https?://(?:www\.|export\.)?arxiv\.org/(?:abs|pdf)/(\d{4}\.\d{4,5})(?:v\d+)?(?:\.pdf)?$"
)


def identify(paper: Mapping) -> tuple[str, str | None]:
    """``(canonical id, normalised url or None)`` of a paper record, reading its url once.

    The id is chosen as :func:`canonical_id` says; the url is checked even when the id comes
    from elsewhere, so a record with a ``javascript:`` url is refused whatever its id.
    """
    if not isinstance(paper, Mapping):
        raise InvalidPaper("paper must be a JSON object")
    url = paper.get("url")
    if type(url) is str and all(paper.get(k) in (None, "") for k in ("id", "doi", "arxiv_id")):
        page = _ARXIV_PAGE.match(url)
        if page:
            return "arxiv:" + page.group(1), url
    url = normalize_url(url) if url not in (None, "") else None
    paper_id = paper.get("id")
    if paper_id not in (None, ""):
        text = _clean(paper_id, "paper id", MAX_ID_LENGTH)
        if not _SCHEME.match(text):
            found = _arxiv(text) or _doi(text)
            if found:
                return _checked(found), url
        return normalize_id(text), url
    doi = paper.get("doi")
    if doi not in (None, ""):
        text = _clean(doi, "doi", MAX_ID_LENGTH)
        found = _doi(text)
        if not found:
            raise InvalidPaper(f"doi {text[:80]!r} is not a DOI (like 10.1000/xyz)")
        return _checked(found), url
    arxiv_id = paper.get("arxiv_id")
    if arxiv_id not in (None, ""):
        text = _clean(arxiv_id, "arxiv_id", MAX_ID_LENGTH)
        found = _arxiv(text)
        if not found:
            raise InvalidPaper(f"arxiv_id {text[:80]!r} is not an arXiv id (like 2401.00001)")
        return found, url
    if url is not None:
        return _paper_id_from_normalized(url), url
    raise InvalidPaper("paper needs an id, a doi, an arxiv_id or a url")
