"""Fixtures for driving the real extension in Chromium against a real `nextpaper serve`.

Fixture pages (tests/fixtures/sites) are served over local TLS under the sites' real host
names (Chromium's --host-resolver-rules maps them to our server). Chromium is found via
CHROMIUM_PATH or `chromium` on the PATH; without it these tests skip, unless
NEXTPAPER_REQUIRE_BROWSER=1, which turns the skip into a failure.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from relay import Listener, pump

from tests.conftest import LiveServer, initialised, run_cli

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = ROOT / "extension"
SITES = ROOT / "tests" / "fixtures" / "sites"
ARTIFACTS = ROOT / "test-artifacts"

# host -> [(path prefix, fixture file or "PDF")], first match wins.
ROUTES = {
    "arxiv.org": [
        ("/abs/2499.", "SLOW"),  # a page that takes seconds to arrive
        ("/abs/hep-th/", "arxiv-oldstyle.html"),
        ("/abs/", "arxiv-abs.html"),
        ("/html/", "arxiv-html.html"),
        ("/pdf/", "PDF"),
    ],
    "www.alphaxiv.org": [("/abs/", "alphaxiv.html"), ("/overview/", "alphaxiv.html")],
    "huggingface.co": [("/papers/", "huggingface.html")],
    "openreview.net": [("/forum", "openreview.html"), ("/pdf", "PDF")],
    "www.semanticscholar.org": [("/static/spa.js", "spa.js"), ("/paper/", "semanticscholar.html")],
    "aclanthology.org": [("/2023.acl-long.1.pdf", "PDF"), ("/2023.acl-long.1", "acl.html")],
    "www.biorxiv.org": [("/content/", "biorxiv.html")],
    "journals.example.org": [("/", "publisher.html")],
    "cooking.example.com": [("/", "non-paper.html")],
    "evil.example.com": [("/", "hostile.html")],
}
TINY_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--ignore-certificate-errors",
]


def chromium_path() -> str | None:
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")


def require_browser() -> str:
    """Chromium's path, or skip (fail under NEXTPAPER_REQUIRE_BROWSER=1) with a clear reason."""
    path = chromium_path()
    if path:
        return path
    message = "Chromium not found: set CHROMIUM_PATH or put `chromium` on the PATH"
    if os.environ.get("NEXTPAPER_REQUIRE_BROWSER") == "1":
        pytest.fail(f"NEXTPAPER_REQUIRE_BROWSER=1 but {message}")
    pytest.skip(message)


# --- fixture web sites over TLS ---------------------------------------------------------------


class SiteHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server API)
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        path = urllib.parse.urlsplit(self.path).path
        for prefix, target in ROUTES.get(host, []):
            if path.startswith(prefix):
                if target == "PDF":
                    return self._send(200, "application/pdf", TINY_PDF)
                if target == "SLOW":
                    return self._send_slowly((SITES / "arxiv-abs.html").read_bytes())
                kind = "text/javascript" if target.endswith(".js") else "text/html; charset=utf-8"
                return self._send(200, kind, (SITES / target).read_bytes())
        self._send(404, "text/plain", b"not found")

    def _send(self, status, kind, body):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_slowly(self, body, seconds=5.0):
        """The start of the page at once, the rest after ``seconds``: a reader can leave it
        before it has loaded (and before any content script has run)."""
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body[:100])
            self.wfile.flush()
            time.sleep(seconds)
            self.wfile.write(body[100:])
        except OSError:  # the browser went away first
            pass

    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def sites():
    """An HTTPS server for every fixture host; yields its port."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert(*ROUTES)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    server = ThreadingHTTPServer(("127.0.0.1", 0), SiteHandler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)


class TlsProxy(Listener):
    """HTTPS in front of a plain-HTTP server: a remote backend behind a TLS reverse proxy, as
    deployed. Each TLS connection is relayed byte for byte to 127.0.0.1:target_port."""

    def __init__(self, host: str, target_port: int):
        trustme = pytest.importorskip("trustme")
        self.host = host
        self.target_port = target_port
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        trustme.CA().issue_cert(host).configure_cert(self.context)
        self.url = f"https://{host}"
        self.connections = 0
        super().__init__()

    def handle(self, client):
        try:
            tls = self.context.wrap_socket(client, server_side=True)
        except (OSError, ssl.SSLError):
            client.close()
            return
        self.connections += 1
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        back = threading.Thread(
            target=pump, args=(upstream, tls), kwargs={"close_both": True}, daemon=True
        )
        back.start()
        pump(tls, upstream, close_both=True)
        back.join(10)
        tls.close()
        upstream.close()


# --- the real backend -------------------------------------------------------------------------


class Backend(LiveServer):
    """`nextpaper serve` on a fixed port and home, with the CLI and a pool of users beside it."""

    def __init__(self, home: Path):
        super().__init__(home)
        self.pool: queue.Queue | None = None
        self.pool_thread: threading.Thread | None = None

    def cli(self, *args: str) -> str:
        return run_cli(initialised(self.home), *args, timeout=60).stdout

    def new_user(self) -> str:
        """A fresh user's token (from the pool while it lasts, else made now)."""
        while self.pool is not None:
            try:
                token = self.pool.get(timeout=0.5)
            except queue.Empty:
                if self.pool_thread.is_alive():
                    continue
                break  # the pool is used up
            if isinstance(token, BaseException):
                raise token
            return token
        return self.cli("users", "add", f"reader-{uuid.uuid4().hex[:10]}").strip().splitlines()[-1]

    def fill_pool(self, n: int):
        """Create n users in a background thread (each CLI call takes ~2 s; tests overlap it)."""
        self.pool = queue.Queue()

        def work():
            for _ in range(n):
                try:
                    out = self.cli("users", "add", f"reader-{uuid.uuid4().hex[:10]}")
                    self.pool.put(out.strip().splitlines()[-1])
                except BaseException as error:  # noqa: BLE001 (handed to the test that waits)
                    self.pool.put(error)

        self.pool_thread = threading.Thread(target=work, daemon=True)
        self.pool_thread.start()

    def api(self, token: str, path: str, method: str = "GET", body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.loads(error.read() or b"null")

    def history(self, token: str) -> list[dict]:
        status, body = self.api(token, "/api/v1/history?limit=1000")
        assert status == 200, body
        return body["events"]

    def wait_for(self, token: str, predicate, timeout: float = 15.0) -> list[dict]:
        """Poll the user's history until predicate(events) is true; return the events."""
        deadline = time.monotonic() + timeout
        events: list[dict] = []
        while time.monotonic() < deadline:
            events = self.history(token)
            if predicate(events):
                return events
            time.sleep(0.2)
        raise AssertionError(f"backend history never matched; last: {events}")


CATALOG = [
    {
        "id": "arxiv:2301.00001",
        "title": "Graph Priors for Reading Lists",
        "abstract": "We learn reading lists from citation graphs and co-reading signals. "
        "The model recommends papers that close gaps in a reader's background.",
        "authors": ["Emmy Noether", "Sophie Germain", "Mary Somerville", "Ada Lovelace"],
        "url": "https://arxiv.org/abs/2301.00001",
        # the newest papers of the catalog, so that a newcomer's "For you" shows them
        "published": "2026-11-02",
    },
    {
        "id": "arxiv:2301.00002",
        "title": "Attention Experts for Long Documents, Revisited",
        "abstract": "Routing tokens to attention experts scales to book-length inputs.",
        "authors": ["Alan M. Turing"],
        "url": "https://arxiv.org/abs/2301.00002",
        "published": "2023-01-05",
    },
    {
        "id": "doi:10.5555/jrr.2022.001",
        "title": "Implicit Feedback from Reading Time",
        "abstract": "Dwell time is a strong implicit signal for paper recommendation.",
        "authors": ["Grace Hopper", "Karen Spärck Jones"],
        "published": "2022-03-01",
    },
]
HOSTILE = [
    {
        "id": "seed:hostile-1",
        "title": "<img src=x onerror=\"window.pwned=1;document.title='pwned'\">Hostile "
        "<script>window.pwned=2</script>",
        "abstract": '<b>bold?</b> <a href="javascript:alert(1)">click</a> '
        "<img src=x onerror=alert(2)>",
        "authors": ["<script>window.pwned=3</script>"],
        "published": "2026-11-01",
    }
]


@pytest.fixture(scope="session")
def backend(tmp_path_factory):
    """One `nextpaper serve` for the session, with a small catalog (and a hostile paper)."""
    home = tmp_path_factory.mktemp("nextpaper-home")
    server = Backend(home)
    catalog = home / "papers.jsonl"
    catalog.write_text("".join(json.dumps(p) + "\n" for p in CATALOG + HOSTILE), "utf-8")
    server.cli("papers", "import", str(catalog))
    server.start()
    server.fill_pool(18)
    # The server trains its first model in the background at start; wait for it, so that no
    # test's request is the one that loads it (the side panel gives up after 15 s).
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with urllib.request.urlopen(server.url + "/api/v1/health", timeout=10) as response:
            if json.loads(response.read())["model"]:
                break
        time.sleep(0.2)
    else:
        raise AssertionError("the backend published no model in 120 s")
    yield server
    server.pool_thread.join(120)
    server.stop()


# --- the browser ------------------------------------------------------------------------------


class Browser:
    def __init__(self, playwright, user_data_dir: Path, site_port: int, hosts=None):
        """hosts: more {host name: port on 127.0.0.1} to resolve, besides the fixture sites."""
        self.playwright = playwright
        self.user_data_dir = user_data_dir
        self.site_port = site_port
        self.hosts = {**dict.fromkeys(ROUTES, site_port), **(hosts or {})}
        self.context = None
        self.worker = None

    def launch(self):
        rules = ", ".join(f"MAP {host} 127.0.0.1:{port}" for host, port in self.hosts.items())
        self.context = self.playwright.chromium.launch_persistent_context(
            str(self.user_data_dir),
            executable_path=chromium_path(),
            headless=True,
            ignore_https_errors=True,
            args=[
                *BROWSER_ARGS,
                f"--disable-extensions-except={EXTENSION}",
                f"--load-extension={EXTENSION}",
                f"--host-resolver-rules={rules}",
            ],
        )
        workers = self.context.service_workers
        self.worker = workers[0] if workers else self.context.wait_for_event("serviceworker")
        self.extension_id = self.worker.url.split("/")[2]
        return self

    def close(self):
        if self.context:
            self.context.close()
            self.context = None

    def storage(self, *keys):
        return self.worker.evaluate("keys => chrome.storage.local.get(keys)", list(keys))

    def set_storage(self, values: dict):
        self.worker.evaluate("values => chrome.storage.local.set(values)", values)

    def connect(self, backend_url: str, token: str):
        self.set_storage({"backendUrl": backend_url, "token": token})

    def page(self):
        pages = [p for p in self.context.pages if p.url == "about:blank"]
        return pages[0] if pages else self.context.new_page()

    def extension_page(self, name: str):
        page = self.context.new_page()
        page.goto(f"chrome-extension://{self.extension_id}/{name}")
        return page

    def queue(self) -> list[dict]:
        return self.storage("queue").get("queue", [])


@pytest.fixture(scope="session")
def playwright_instance(playwright_session):
    require_browser()
    return playwright_session


@pytest.fixture
def browser(playwright_instance, sites, tmp_path):
    b = Browser(playwright_instance, tmp_path / "profile", sites).launch()
    yield b
    b.close()


@pytest.fixture
def user(backend):
    return backend.new_user()


@pytest.fixture(scope="session")
def artifacts():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
