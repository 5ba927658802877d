"""Pages of a long list (the saved papers, the history): which slice ``?page=N`` asks for, and
the links to the pages around it. A page number that is not a whole number of at least 1 is a
400 page; one past the end shows an empty page with a link back."""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort, request

PER_PAGE = 50


@dataclass(frozen=True)
class Paging:
    """Page ``number`` (from 1) of ``total`` rows, ``size`` rows a page."""

    number: int
    total: int
    size: int = PER_PAGE

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def newer(self) -> int | None:
        """The page before (newer rows), if any."""
        return min(self.number - 1, self.pages) if self.number > 1 else None

    @property
    def older(self) -> int | None:
        """The page after (older rows), if any."""
        return self.number + 1 if self.number < self.pages else None


def requested_page() -> int:
    """The ``page`` argument of this request (default 1)."""
    raw = request.args.get("page", "1")
    if not raw.isdigit() or int(raw) < 1 or len(raw) > 9:
        abort(400, f"There is no page {raw!r}: pages are numbered from 1.")
    return int(raw)
