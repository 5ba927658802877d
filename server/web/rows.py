"""Rows of a long table (History's events, Admin's users and digests), escaped once in Python
and written by the template without autoescaping.

A list page writes up to 50 rows of five to nine values. Autoescaping wraps each value in its
own ``Markup`` (a Python-level object per value) and the template looks each attribute up
through the environment; for a page of rows that was most of the page's time. Instead the view
builds each row as a tuple of strings escaped here, and the template unpacks the tuple in its
``for`` and writes the values inside ``{% autoescape false %}``. Every value of such a row goes
through :func:`escaped_row`, so nothing reaches the page unescaped.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

_UNSAFE = re.compile(r"[&<>\"']").search


def escaped_row(*values: Any) -> tuple[str, ...]:
    """``values`` as HTML-escaped strings (quotes too: they go into attributes); ``None`` and
    ``False`` as empty strings, so that a template's ``{% if value %}`` still reads them."""
    return tuple(
        [
            (escape(v) if _UNSAFE(v) else v)
            if type(v) is str
            else ("" if v is None or v is False else escape(str(v)))
            for v in values
        ]
    )
