"""Where a paper leads outside NextPaper: its own URL, else the pages its canonical id names
(arXiv, DOI, OpenReview, ACL Anthology, Semantic Scholar, or the URL a ``url:`` id was made
from), else the pages its ``arxiv_id``/``doi`` fields name.

One rule for every place that links a paper: the web app's titles and paper pages
(:mod:`server.web.paper_links`, which falls back on a search for the title) and the digests'
and feeds' items (:mod:`server.jobs.digest`, which fall back on the paper's page here). Only
``http`` and ``https`` URLs are followed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

SEARCH = "https://www.semanticscholar.org/search?"


def _http(url: Any) -> str | None:
    if isinstance(url, str) and url.lower().startswith(("http://", "https://")):
        return url
    return None


def _from_id(paper_id: str) -> list[tuple[str, str]]:
    """``(label, href)`` of the pages a canonical id names."""
    scheme, _, rest = paper_id.partition(":")
    if not rest:
        return []
    if scheme == "arxiv":
        return [
            ("arXiv", f"https://arxiv.org/abs/{rest}"),
            ("PDF", f"https://arxiv.org/pdf/{rest}"),
        ]
    if scheme == "doi":
        return [("DOI", f"https://doi.org/{quote(rest, safe='/')}")]
    if scheme == "openreview":
        return [("OpenReview", f"https://openreview.net/forum?{urlencode({'id': rest})}")]
    if scheme == "acl":
        return [("ACL Anthology", f"https://aclanthology.org/{quote(rest, safe='')}/")]
    if scheme == "s2":
        return [("Semantic Scholar", f"https://www.semanticscholar.org/paper/{quote(rest)}")]
    if scheme == "url" and _http(rest):
        return [("Web page", rest)]
    return []


def search_link(paper: dict[str, Any]) -> str:
    return SEARCH + urlencode({"q": paper.get("title") or paper["id"]})


def paper_links(paper: dict[str, Any]) -> list[tuple[str, str]]:
    """Every outside link of a paper, ``(label, href)``, best first, without repeats; a search
    for its title when nothing else is known."""
    found: list[tuple[str, str]] = []
    if _http(paper.get("url")):
        found.append(("Paper page", paper["url"]))
    found += _from_id(str(paper.get("id", "")))
    if paper.get("arxiv_id"):
        found += _from_id(f"arxiv:{paper['arxiv_id']}")
    if paper.get("doi"):
        found += _from_id(f"doi:{paper['doi']}")
    unique: dict[str, str] = {}
    for label, href in found:
        unique.setdefault(href, label)
    links = [(label, href) for href, label in unique.items()]
    return links or [("Search for it", search_link(paper))]


def outside_link(paper: dict[str, Any]) -> str | None:
    """The paper's best outside page (the first of :func:`paper_links` but a search, found
    without building the rest: a list links up to 50 papers), or None when none is known."""
    if url := _http(paper.get("url")):
        return url
    for paper_id in (
        str(paper.get("id", "")),
        f"arxiv:{paper['arxiv_id']}" if paper.get("arxiv_id") else "",
        f"doi:{paper['doi']}" if paper.get("doi") else "",
    ):
        if found := _from_id(paper_id):
            return found[0][1]
    return None
