"""Helpers shared by the reliability tests: the error-shape check, raw HTTP, CLI users."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

from tests.conftest import initialised, run_cli

TS = "2026-11-20T10:00:00Z"


def event(event_id: str, paper: dict, type_: str = "open", **extra) -> dict:
    return {"id": event_id, "type": type_, "ts": TS, "paper": paper, **extra}


def check_error_body(body: Any, status: int) -> dict:
    """``body`` (parsed JSON) is the one error shape with ``status``; return its inner dict."""
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "status"}, error
    assert isinstance(error["code"], str) and error["code"], error
    assert error["code"].replace("_", "").isalnum() and error["code"].islower(), error
    assert isinstance(error["message"], str) and error["message"], error
    assert error["status"] == status, error
    return error


def assert_error(response, status: int, code: str | None = None) -> dict:
    """A Flask test-client response is an error in the one shape."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    error = check_error_body(response.get_json(), status)
    if code is not None:
        assert error["code"] == code, error
    return error


def add_user(home: Path, name: str, admin: bool = False) -> str:
    """Create a user with the real CLI; return its token (the last line of stdout)."""
    args = ["users", "add", name] + (["--admin"] if admin else [])
    return run_cli(initialised(home), *args).stdout.strip().splitlines()[-1]


def request(
    port: int,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, dict[str, str], bytes]:
    """One request over a fresh http.client connection: ``(status, headers, body)``."""
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        all_headers.setdefault("Content-Type", "application/json")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=all_headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def raw_exchange(port: int, data: bytes | list[bytes], timeout: float = 20) -> bytes:
    """Send raw bytes (or chunks of them), half-close, and read the whole answer."""
    chunks = data if isinstance(data, list) else [data]
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            for chunk in chunks:
                sock.sendall(chunk)
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading everything
        received = bytearray()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                part = sock.recv(65536)
            except ConnectionResetError:
                break
            if not part:
                break
            received += part
        return bytes(received)


def parse_raw(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    """The first HTTP response in ``answer``: ``(status, lower-cased headers, body)``."""
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = body[: int(headers["content-length"])]
    return status, headers, body


def seed_home(
    home: Path, papers: int = 200, users: int = 30, per_user: int = 12, *, database: str = ""
) -> list[str]:
    """Fill a home (or ``database``, a PostgreSQL URL) with a small synthetic catalog and
    reading history; return the paper ids."""
    import random

    from server.store import storage
    from server.store.db import open_database

    rng = random.Random(7)
    words = "graph neural retrieval sparse language vision robot proof kernel bayes causal".split()
    catalog = []
    for i in range(papers):
        a, b, c = rng.sample(words, 3)
        catalog.append(
            {
                "paper_id": f"seed:p{i}",
                "title": f"{a.title()} {b} {i}",
                "abstract": f"We study {a}, {b} and {c}.",
                "published": "2025-01-01",
            }
        )
    rows = [
        {
            "user_id": f"reader{u}",
            "event_id": f"r{u}-{p}",
            "type": "open",
            "ts": "2026-01-01T00:00:00.000000Z",
            "paper_id": f"seed:p{p}",
            "dwell_ms": None,
        }
        for u in range(users)
        for p in rng.sample(range(papers), per_user)
    ]
    home.mkdir(parents=True, exist_ok=True)
    db = open_database(database or home / "nextpaper.db")
    try:
        storage.upsert_papers(db, catalog)
        storage.import_events(db, rows)
    finally:
        db.close()
    return [p["paper_id"] for p in catalog]


def health_version(port: int) -> str | None:
    status, _, body = request(port, "GET", "/api/v1/health", timeout=10)
    assert status == 200, body
    model = json.loads(body)["model"]
    return model and model["version"]


def wait_for(predicate, timeout: float = 60, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def make_tokens(home: Path, *names: str, admin: bool = False, database: str = "") -> list[str]:
    """Tokens for users (created when missing), straight through storage: no CLI start-up."""
    from server.http import auth
    from server.store import storage
    from server.store.db import open_database

    db = open_database(database or home / "nextpaper.db")
    try:
        tokens = []
        for name in names:
            if storage.get_user(db, name) is None:
                storage.create_user(db, name, is_admin=admin)
            tokens.append(auth.issue_token(db, name))
        return tokens
    finally:
        db.close()


def train_here(home: Path, *, database: str = "", models: Path | None = None) -> str:
    """Train and publish from this (test) process: another process than the server's."""
    from server.jobs.training import train_and_publish
    from server.model_versions import ModelStore
    from server.store.db import open_database

    db = open_database(database or home / "nextpaper.db")
    try:
        return train_and_publish(db, ModelStore(models or home / "models"))["version"]
    finally:
        db.close()


class EventStream:
    """Writers posting batches of new ``open`` events to a live server, one thread per user,
    each batch on a new connection, until :meth:`stop`; and what became of every batch:
    acknowledged (200, all accepted), refused (any other answer), or unanswered (the
    connection failed: in flight, stored or not)."""

    def __init__(self, port: int, tokens: dict[str, str], *, alive=lambda: True, size: int = 25):
        self.port, self.tokens, self.alive, self.size = port, tokens, alive, size
        self.acked: dict[str, list[str]] = {name: [] for name in tokens}
        self.unknown: dict[str, list[list[dict]]] = {name: [] for name in tokens}
        self.refused: list[tuple[int, bytes]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._write, args=(n,)) for n in tokens]

    def start(self) -> EventStream:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def acknowledged(self) -> int:
        return sum(map(len, self.acked.values()))

    def _write(self, name: str) -> None:
        k = 0
        while not self._stop.is_set():
            batch = [
                event(f"{name}-{k}-{j}", {"id": f"seed:w{(k + j) % 40}"}) for j in range(self.size)
            ]
            k += 1
            try:
                status, _, body = request(
                    self.port,
                    "POST",
                    "/api/v1/events",
                    token=self.tokens[name],
                    body={"events": batch},
                    timeout=15,
                )
            except (OSError, http.client.HTTPException):
                self.unknown[name].append(batch)
                if not self.alive():
                    return
                continue
            if status == 200 and json.loads(body)["accepted"] == len(batch):
                self.acked[name].extend(e["id"] for e in batch)
            else:
                self.refused.append((status, body[:200]))

    def check_stored(self, home: Path, port: int) -> None:
        """Nothing refused; every acknowledged event stored once and nothing invented; each
        unanswered batch, retried at ``port`` as a client would, is then stored once."""
        assert not self.refused, self.refused[:3]
        for name, token in self.tokens.items():
            acked = set(self.acked[name])
            stored = stored_event_ids(home, name)
            assert len(stored) == len(set(stored)), "an event was stored twice"
            missing = acked - set(stored)
            assert not missing, f"{len(missing)} acknowledged events of {name} were lost"
            in_flight = {e["id"] for batch in self.unknown[name] for e in batch}
            assert set(stored) <= acked | in_flight  # nothing invented
            for batch in self.unknown[name]:
                status, _, body = request(
                    port, "POST", "/api/v1/events", token=token, body={"events": batch}
                )
                result = json.loads(body)
                assert status == 200 and result["accepted"] + result["duplicates"] == len(batch)
            stored = stored_event_ids(home, name)
            assert len(stored) == len(set(stored)) == len(acked | in_flight)


def stored_event_ids(home: Path, user_id: str) -> list[str]:
    """The ids of a user's stored events, read from the home's SQLite file."""
    import sqlite3

    conn = sqlite3.connect(f"file:{home / 'nextpaper.db'}?mode=ro", uri=True)
    try:
        return [
            r[0] for r in conn.execute("SELECT event_id FROM events WHERE user_id = ?", [user_id])
        ]
    finally:
        conn.close()
