"""Where a paper leads on the pages: its page here, and its title's link, the paper's best
outside page (:mod:`server.outside_links`), else a search for its title, so every title is a
link.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from flask import request

from ..outside_links import outside_link, search_link

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


def title_link(paper: dict[str, Any]) -> str:
    """Where a paper's title links: its best outside page, else a search for it."""
    return outside_link(paper) or search_link(paper)
