"""What the web app's pages cost, against the API calls they are built on (the web app issue's
budgets).

A real ``nextpaper serve`` on the scale's home, one client, the app's own time per request from
its ``Server-Timing`` header. Each sampled reader is signed in twice: once as a web session
(the page's reader) and once by token (the API's reader), so that each page and its API call
are both a first answer for a reader (nothing kept from an earlier call). Readers come in
turn, page then API, so the machine's drift touches both alike:

* ``/`` (For you) against ``GET /api/v1/recommendations``; the *New today* and *Trending*
  tabs against ``/api/v1/new`` and ``/api/v1/trending``;
* a paper's page, visited after the feed as a reader does, against its similar papers;
* ``/saved``, ``/history``, ``/settings`` against ``/api/v1/saved``, ``/api/v1/history``,
  ``/api/v1/settings``; ``/admin`` against ``/api/v1/admin/model``.

The readers are the same sampled users in every run, and keep their API tokens from run to run
(``HOME/bench-pages-tokens.json``): a new token per reader per run would pile up in the home,
and the Settings page, which lists a reader's live tokens, would grow a row with every run.

The database file is read once first, so that the OS caches it as it does for a server that
has run a while (``--cold`` skips it): else a page's first reads of paper rows (titles, which
its API call does not read) are disk reads, a figure of the disk rather than of the code.

Budget: each page's p50 <= 2x its API call's p50. And the pictures (a reader with a year of
daily reading, added to the home once, and the admin's): each drawn in < 100 ms of server time.

    .venv/bin/python bench/pages.py --scale large

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import common
import numpy as np

PAGE_BUDGET = 2.0
PICTURE_BUDGET_MS = 100.0
YEAR_READER = "bench-year-reader"
PICTURES = ("/history/reading.svg", "/history/topics.svg")
ADMIN_PICTURES = ("/admin/catalog.svg", "/admin/events.svg")


def _pairs(paper: str) -> dict[str, tuple[str, str]]:
    pid = urllib.parse.quote(paper, safe="")
    return {
        "feed": ("/", "/api/v1/recommendations?n=20"),
        "new": ("/?tab=new", "/api/v1/new?days=1&n=20"),
        "trending": ("/?tab=trending", "/api/v1/trending?days=7&n=20"),
        "paper": (f"/papers/{pid}", f"/api/v1/papers/{pid}/similar?n=10"),
        "saved": ("/saved", "/api/v1/saved"),
        "history": ("/history", "/api/v1/history"),
        "settings": ("/settings", "/api/v1/settings"),
    }


class _Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Client:
    """One reader at the server: a web session (cookies) and an API token."""

    def __init__(self, port: int, token: str):
        self.base = f"http://{common.HOST}:{port}"
        self.token = token
        cookies = urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        self.opener = urllib.request.build_opener(cookies)
        self.no_redirect = urllib.request.build_opener(cookies, _Stay)

    def sign_in(self) -> None:
        page = self.opener.open(self.base + "/").read().decode()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode({"token": self.token, "csrf_token": csrf, "next": ""})
        request = urllib.request.Request(self.base + "/sign-in", data=form.encode())
        request.add_header("Referer", self.base + "/")
        try:  # not to the feed it leads to: that would answer the feed before it is measured
            self.no_redirect.open(request).read()
        except urllib.error.HTTPError as answer:
            if answer.code != 303:
                raise

    def page_ms(self, path: str) -> float:
        with self.opener.open(self.base + path) as response:
            response.read()
            if response.status != 200 or response.url.rstrip("/") != (self.base + path).rstrip("/"):
                raise RuntimeError(f"GET {path} answered {response.status} at {response.url}")
            return _server_ms(response)

    def api_ms(self, path: str) -> float:
        request = urllib.request.Request(self.base + path)
        request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request) as response:
            response.read()
            return _server_ms(response)


def _server_ms(response) -> float:
    return float(response.headers["Server-Timing"].partition(";dur=")[2])


def add_year_reader(home: Path, papers: list[str]) -> None:
    """A reader who opened three papers a day, and read two, for the last 365 days (once)."""
    from server.store import storage
    from server.store.db import open_database

    db = open_database(home / "nextpaper.db")
    try:
        if storage.get_user(db, YEAR_READER) is not None:
            return
        today = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
        rows = []
        for day in range(365):
            when = today - timedelta(days=day)
            for k in range(3):
                paper = papers[(day * 3 + k) % len(papers)]
                ts = (when + timedelta(minutes=10 * k)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
                base = {"user_id": YEAR_READER, "ts": ts, "paper_id": paper}
                rows.append({**base, "event_id": f"y{day}-{k}", "type": "open", "dwell_ms": None})
                if k < 2:
                    rows.append(
                        {**base, "event_id": f"y{day}-{k}r", "type": "read", "dwell_ms": 600_000}
                    )
        storage.import_events(db, rows)
    finally:
        db.close()


TOKENS_FILE = "bench-pages-tokens.json"


def reader_tokens(home: Path, users: list[str]) -> dict[str, str]:
    """A token for each of ``users``: the one an earlier run issued while it still signs its
    reader in, else a new one; kept in ``HOME/bench-pages-tokens.json`` for the next run."""
    from server.http import auth
    from server.store.db import open_database

    path = home / TOKENS_FILE
    kept = json.loads(path.read_text()) if path.exists() else {}
    db = open_database(home / "nextpaper.db")
    try:
        tokens = {}
        for user_id in users:
            caller = auth.authenticate(db, kept.get(user_id, ""))
            if caller is not None and caller.user_id == user_id:
                tokens[user_id] = kept[user_id]
    finally:
        db.close()
    missing = [user_id for user_id in users if user_id not in tokens]
    if missing:
        tokens.update(common.issue_tokens(home, missing))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({**kept, **tokens}, f)
    return tokens


def _p50(values: list[float]) -> float:
    return float(np.median(values))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.common_args(ap)
    ap.add_argument("--count", type=int, default=40, help="readers for each of page and API")
    ap.add_argument("--rounds", type=int, default=20, help="requests per picture")
    ap.add_argument("--cold", action="store_true", help="do not read the database in first")
    args = ap.parse_args()
    home, _ = common.prepared_home(args.scale)
    papers = common.sample_papers(home, 2 * args.count + 1100, seed=3)
    add_year_reader(home, papers[2 * args.count :])
    users = common.sample_users(home, 2 * args.count, seed=4)
    tokens = reader_tokens(home, [*users, YEAR_READER])
    admin_token = (home / "admin-token").read_text().strip()
    cached_s = None if args.cold else common.read_into_page_cache(home / "nextpaper.db")
    times: dict[str, dict[str, list[float]]] = {}
    pictures: dict[str, list[float]] = {}
    with common.Server(home, require_model=True) as server:
        for i in range(args.count):
            page_reader = Client(server.port, tokens[users[2 * i]])
            api_reader = Client(server.port, tokens[users[2 * i + 1]])
            page_reader.sign_in()
            # each its own paper: an answer kept for one would make the other look cheap
            on_page, on_api = _pairs(papers[2 * i]), _pairs(papers[2 * i + 1])
            for name, (page, _) in on_page.items():
                kept = times.setdefault(name, {"page": [], "api": []})
                kept["page"].append(page_reader.page_ms(page))
                kept["api"].append(api_reader.api_ms(on_api[name][1]))
        admin = Client(server.port, admin_token)
        admin.sign_in()
        kept = times["admin"] = {"page": [], "api": []}
        for _ in range(args.rounds):
            kept["page"].append(admin.page_ms("/admin"))
            kept["api"].append(admin.api_ms("/api/v1/admin/model"))
        reader = Client(server.port, tokens[YEAR_READER])
        reader.sign_in()
        for _ in range(args.rounds):
            for path in PICTURES:
                pictures.setdefault(path, []).append(reader.page_ms(path))
            for path in ADMIN_PICTURES:
                pictures.setdefault(path, []).append(admin.page_ms(path))
    ratios = {name: _p50(t["page"]) / _p50(t["api"]) for name, t in times.items()}
    result = {
        "benchmark": "pages",
        "scale": args.scale,
        "machine": common.machine(),
        "code": common.code_version(),
        "database_read_in_first_s": None if cached_s is None else round(cached_s, 1),
        "server_ms_p50": {
            name: {"page": round(_p50(t["page"]), 2), "api": round(_p50(t["api"]), 2)}
            for name, t in times.items()
        },
        "page_vs_api": {name: round(r, 2) for name, r in ratios.items()},
        "pictures_ms": {
            path: {"p50": round(_p50(v), 2), "max": round(max(v), 2)}
            for path, v in pictures.items()
        },
        "budget": {
            **{f"{name}_page": common.verdict(r, PAGE_BUDGET) for name, r in ratios.items()},
            **{
                f"picture {path}": common.verdict(max(v), PICTURE_BUDGET_MS)
                for path, v in pictures.items()
            },
        },
    }
    common.emit(result)


if __name__ == "__main__":
    main()
