"""Where a paper leads: its title's link and the list of links on its page.

A paper's own ``url`` first; else a page derived from its canonical id (arXiv, DOI,
OpenReview, ACL Anthology, Semantic Scholar, or the URL a ``url:`` id was made from), or from
its ``arxiv_id``/``doi`` fields; else a search for its title, so every title is a link.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from flask import request

SEARCH = "https://www.semanticscholar.org/search?"
# What werkzeug's path converter leaves unquoted in a URL path (a URL path segment's safe set).
PATH_SAFE = "!$&'()*+,/:;=@"


def paper_page(paper_id: str, **args: str) -> str:
    """The paper's page here: what ``url_for("web.paper", paper_id=…, **args)`` builds, without
    a URL-map lookup for each of the up to 50 cards or rows of a page."""
    path = paper_path(request.script_root, paper_id)
    return f"{path}?{urlencode(args)}" if args else path


def paper_path(script_root: str, paper_id: str) -> str:
    """:func:`paper_page` without arguments, under ``script_root`` (``request.script_root``,
    which a list of 50 rows looks up once)."""
    return f"{script_root}/papers/{quote(paper_id, safe=PATH_SAFE)}"


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


def title_link(paper: dict[str, Any]) -> str:
    """Where a paper's title links: its best outside page (the first of :func:`paper_links`,
    found without building the rest: a list page links up to 50 titles), else a search."""
    if url := _http(paper.get("url")):
        return url
    for paper_id in (
        str(paper.get("id", "")),
        f"arxiv:{paper['arxiv_id']}" if paper.get("arxiv_id") else "",
        f"doi:{paper['doi']}" if paper.get("doi") else "",
    ):
        if found := _from_id(paper_id):
            return found[0][1]
    return search_link(paper)
