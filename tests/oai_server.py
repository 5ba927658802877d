"""A small OAI-PMH 2.0 data provider on 127.0.0.1 that answers as arXiv's does.

Written from the OAI-PMH 2.0 specification (the ``<OAI-PMH>`` envelope with ``responseDate`` and
``request``, ``ListRecords`` with ``metadataPrefix``, ``set``, ``from`` and ``until``, paging by
``resumptionToken`` with ``cursor`` and ``completeListSize``, errors as ``<error code=…>`` in a
200 answer, ``noRecordsMatch`` for an empty list, sets as a hierarchy: ``physics`` holds
``physics:hep-th``) and arXiv's ``arXiv`` metadata format (``<arXiv
xmlns="http://arxiv.org/OAI/arXiv/">`` with ``id``, ``created``, ``updated``, ``authors``,
``title``, ``categories``, ``doi``, ``abstract`` …). Only ``ListRecords`` is served: it is all a
harvester needs.

Faults are planned by request number (1 for the first request this server receives):
``server.fail(n, "503", retry_after=1)``, ``"500"``, ``"truncated"`` (a 200 whose page stops
inside its last record, as when a connection breaks: a recovering parser still finds the
records before it, and no resumption token), ``"html"`` (a 200 with an HTML page), ``"drop"``
(the connection closed without an answer). Every request is logged with its arrival time
(``time.monotonic``), its query and its headers, for tests of the harvester's manners.

Used by ``tests/server/test_sync.py`` and ``bench/sync.py``.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape, quoteattr

PHYSICS_ARCHIVES = {
    "astro-ph",
    "cond-mat",
    "gr-qc",
    "hep-ex",
    "hep-lat",
    "hep-ph",
    "hep-th",
    "math-ph",
    "nlin",
    "nucl-ex",
    "nucl-th",
    "physics",
    "quant-ph",
}


def set_spec(category: str) -> str:
    """The OAI set of a category's archive: ``cs.LG`` → ``cs``, ``hep-th`` → ``physics:hep-th``."""
    archive = category.split(".")[0]
    return f"physics:{archive}" if archive in PHYSICS_ARCHIVES else archive


@dataclass
class Record:
    """One arXiv article as the ``arXiv`` metadata format describes it."""

    id: str
    datestamp: str
    title: str = "A paper"
    abstract: str = "An abstract."
    categories: str = "cs.LG"
    created: str = "2024-01-01"
    updated: str | None = None
    authors: list[tuple[str, ...]] = field(default_factory=lambda: [("Doe", "Jane")])
    doi: str | None = None
    deleted: bool = False

    @property
    def sets(self) -> list[str]:
        return list(dict.fromkeys(set_spec(c) for c in self.categories.split()))

    def xml(self) -> str:
        sets = "".join(f"<setSpec>{escape(s)}</setSpec>" for s in self.sets)
        status = ' status="deleted"' if self.deleted else ""
        header = (
            f"<header{status}><identifier>oai:arXiv.org:{escape(self.id)}</identifier>"
            f"<datestamp>{self.datestamp}</datestamp>{sets}</header>"
        )
        if self.deleted:
            return f"<record>{header}</record>"
        authors = "".join(_author(*parts) for parts in self.authors)
        optional = ""
        if self.updated:
            optional += f"<updated>{self.updated}</updated>"
        metadata = (
            '<arXiv xmlns="http://arxiv.org/OAI/arXiv/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi:schemaLocation="http://arxiv.org/OAI/arXiv/ http://arxiv.org/OAI/arXiv.xsd">'
            f"<id>{escape(self.id)}</id><created>{self.created}</created>{optional}"
            f"<authors>{authors}</authors>"
            f"<title>{escape(self.title)}</title>"
            f"<categories>{escape(self.categories)}</categories>"
            "<comments>12 pages, 3 figures</comments>"
            + (f"<doi>{escape(self.doi)}</doi>" if self.doi else "")
            + "<license>http://creativecommons.org/licenses/by/4.0/</license>"
            f"<abstract>  {escape(self.abstract)}\n</abstract></arXiv>"
        )
        return f"<record>{header}<metadata>{metadata}</metadata></record>"


def _author(keyname: str, forenames: str | None = None, suffix: str | None = None) -> str:
    parts = f"<keyname>{escape(keyname)}</keyname>"
    if forenames:
        parts += f"<forenames>{escape(forenames)}</forenames>"
    if suffix:
        parts += f"<suffix>{escape(suffix)}</suffix>"
    return f"<author>{parts}</author>"


@dataclass
class Request:
    at: float  # time.monotonic() on arrival
    query: dict[str, str]
    headers: dict[str, str]


class OaiServer:
    """``with OaiServer(records, page_size=2) as oai:`` serves ``oai.url`` until the block ends."""

    def __init__(self, records: list[Record] | None = None, *, page_size: int = 100):
        self.records = list(records or [])
        self.page_size = page_size
        self.requests: list[Request] = []
        self._faults: dict[int, tuple[str, dict]] = {}
        self._lists: dict[str, list[Record]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/oai"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> OaiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def fail(self, request_number: int, kind: str, **options) -> None:
        """Answer the ``request_number``-th request (counted from 1) with a fault."""
        self._faults[request_number] = (kind, options)

    def pages_served(self) -> int:
        return len(self.requests)

    # --- the protocol ----------------------------------------------------------------------

    def answer(self, query: dict[str, str]) -> str:
        """The XML document answering one request (``query``: its arguments)."""
        args = {k: v for k, v in query.items() if k != "verb"}
        verb = query.get("verb")
        if verb != "ListRecords":
            return self._error(query, "badVerb", "only ListRecords is served here")
        if "resumptionToken" in args:
            if len(args) > 1:
                return self._error(query, "badArgument", "resumptionToken is exclusive")
            return self._page(query, args["resumptionToken"])
        if args.get("metadataPrefix") != "arXiv":
            return self._error(query, "cannotDisseminateFormat", "only arXiv here")
        unknown = set(args) - {"metadataPrefix", "set", "from", "until"}
        if unknown:
            return self._error(query, "badArgument", f"unknown arguments {sorted(unknown)}")
        try:
            low = date.fromisoformat(args["from"]) if "from" in args else date.min
            high = date.fromisoformat(args["until"]) if "until" in args else date.max
        except ValueError:
            return self._error(query, "badArgument", "from and until are YYYY-MM-DD")
        wanted = args.get("set")
        matching = [
            r
            for r in self.records
            if low <= date.fromisoformat(r.datestamp) <= high
            and (wanted is None or any(s == wanted or s.startswith(wanted + ":") for s in r.sets))
        ]
        if not matching:
            return self._error(query, "noRecordsMatch", "no records in this range")
        key = str(next(self._ids))
        self._lists[key] = matching
        return self._page(query, f"{key}|0")

    def _page(self, query: dict[str, str], token: str) -> str:
        key, _, cursor = token.partition("|")
        matching = self._lists.get(key)
        if matching is None or not cursor.isdigit():
            return self._error(query, "badResumptionToken", "unknown or expired token")
        start = int(cursor)
        page = matching[start : start + self.page_size]
        end = start + len(page)
        size = len(matching)
        body = "".join(r.xml() for r in page)
        if end < size:
            body += (
                f'<resumptionToken cursor="{start}" completeListSize="{size}">'
                f"{escape(key)}|{end}</resumptionToken>"
            )
        elif start > 0:  # the last page of a paged list carries an empty token
            body += f'<resumptionToken cursor="{start}" completeListSize="{size}"/>'
        return self._envelope(query, f"<ListRecords>{body}</ListRecords>")

    def _error(self, query: dict[str, str], code: str, message: str) -> str:
        return self._envelope(query, f'<error code="{code}">{escape(message)}</error>')

    def _envelope(self, query: dict[str, str], body: str) -> str:
        attrs = "".join(f" {k}={quoteattr(v)}" for k, v in query.items())
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi:schemaLocation="http://www.openarchives.org/OAI/2.0/ '
            'http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd">'
            f"<responseDate>{now}</responseDate>"
            f"<request{attrs}>{escape(self.url)}</request>{body}</OAI-PMH>\n"
        )

    # --- HTTP ------------------------------------------------------------------------------

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                arrived = time.monotonic()
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                with server._lock:
                    server.requests.append(Request(arrived, query, dict(self.headers.items())))
                    number = len(server.requests)
                    kind, options = server._faults.pop(number, (None, {}))
                    body = server.answer(query) if parts.path == "/oai" else ""
                if kind == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                if kind == "503":
                    self._send(503, b"busy", {"Retry-After": str(options.get("retry_after", 1))})
                    return
                if kind == "500":
                    self._send(500, b"<html><body>Internal Server Error</body></html>")
                    return
                if kind == "text":  # a body that is not XML at all, from a proxy say
                    self._send(options.get("status", 200), b"Bad Gateway")
                    return
                if kind == "html":
                    self._send(200, b"<html><body><p>Maintenance<br></body></html>")
                    return
                data = body.encode("utf-8")
                if kind == "truncated":  # cut inside the last record: its token is lost too
                    data = data[: data.rindex(b"<record>") + 40]
                if parts.path != "/oai":
                    self._send(404, b"not found")
                    return
                self._send(200, data, {"Content-Type": "text/xml; charset=utf-8"})

            def _send(self, status: int, data: bytes, headers: dict | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
