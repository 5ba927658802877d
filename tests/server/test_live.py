"""A real ``nextpaper serve`` process over HTTP: the scripted client of issue 2, end to end."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from urllib.parse import quote

from tests.conftest import run_cli


class Client:
    def __init__(self, base: str, token: str | None = None):
        self.base = base
        self.token = token

    def call(self, method: str, path: str, body=None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.loads(error.read())


def wait_for(predicate, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


def token_of(home, name: str, *extra: str) -> str:
    return run_cli(home, "users", "add", name, *extra).stdout.strip().splitlines()[-1]


def seed_ids(limit: int) -> list[str]:
    return [f"seed:p{i}" for i in range(limit)]


def open_event(event_id: str, paper_id: str, type_: str = "open") -> dict:
    return {"id": event_id, "type": type_, "ts": "2026-11-28T09:00:00Z", "paper": {"id": paper_id}}


def test_scripted_client_against_a_real_server(live_server, papers_file):
    server = live_server("--no-retrain")
    home = server.home
    alice = Client(server.url, token_of(home, "alice"))
    bob = Client(server.url, token_of(home, "bob"))
    admin = Client(server.url, token_of(home, "root", "--admin"))
    run_cli(home, "papers", "import", str(papers_file))
    ids = seed_ids(30)

    batch = [open_event(f"a{i}", ids[i]) for i in range(5)]
    assert alice.call("POST", "/api/v1/events", {"events": batch}) == (
        200,
        {"accepted": 5, "duplicates": 0, "rejected": []},
    )
    assert alice.call("POST", "/api/v1/events", {"events": batch})[1]["duplicates"] == 5
    mixed = [open_event("a-bad", ids[5], "bogus"), open_event("a5", ids[5])]
    status, body = alice.call("POST", "/api/v1/events", {"events": mixed})
    assert status == 200 and body["accepted"] == 1 and body["rejected"][0]["index"] == 0
    bob.call(
        "POST", "/api/v1/events", {"events": [open_event(f"b{i}", ids[i]) for i in range(3, 12)]}
    )

    status, recs = alice.call("GET", "/api/v1/recommendations?n=10")
    assert status == 200 and len(recs["items"]) == 10
    assert not {item["paper"]["id"] for item in recs["items"]} & set(ids[:6])
    assert all(item["reasons"] for item in recs["items"])

    status, similar = alice.call("GET", f"/api/v1/papers/{quote(ids[20], safe='')}/similar?n=5")
    assert status == 200 and len(similar["items"]) == 5

    # A train from another process is picked up by the running server.
    version = run_cli(home, "train").stdout.strip().splitlines()[-1]
    health = wait_for(lambda: Client(server.url).call("GET", "/api/v1/health")[1]["model"])
    assert health["version"] == version
    status, trained = admin.call("GET", "/api/v1/users/alice/recommendations?n=10")
    assert status == 200 and trained["model_version"] == version
    assert not {item["paper"]["id"] for item in trained["items"]} & set(ids[:6])

    assert alice.call("GET", "/api/v1/history")[1]["total"] == 6
    export = alice.call("GET", "/api/v1/export")[1]
    assert {e["id"] for e in export["events"]} == {f"a{i}" for i in range(6)}
    assert alice.call("DELETE", "/api/v1/history") == (200, {"deleted": 6})
    assert alice.call("GET", "/api/v1/history")[1]["total"] == 0
    assert bob.call("GET", "/api/v1/history")[1]["total"] == 9
    assert bob.call("GET", "/api/v1/export")[1]["user"]["user_id"] == "bob"

    status, error = Client(server.url).call("GET", "/api/v1/history")
    assert status == 401 and error["error"]["code"] == "missing_token"


def test_serve_retrains_in_the_background_and_admin_can_start_one(live_server, papers_file):
    server = live_server("--retrain-events", "5", "--retrain-minutes", "600")
    home = server.home
    alice = Client(server.url, token_of(home, "alice"))
    admin = Client(server.url, token_of(home, "root", "--admin"))
    run_cli(home, "papers", "import", str(papers_file))
    anonymous = Client(server.url)
    first = wait_for(lambda: anonymous.call("GET", "/api/v1/health")[1]["model"])
    ids = seed_ids(10)
    alice.call(
        "POST", "/api/v1/events", {"events": [open_event(f"e{i}", ids[i]) for i in range(6)]}
    )
    second = wait_for(
        lambda: (
            (m := anonymous.call("GET", "/api/v1/health")[1]["model"])
            and m["version"] != first["version"]
            and m
        )
    )
    assert second["users"] == 1

    status, started = admin.call("POST", "/api/v1/admin/train")
    assert status == 202 and started["state"] in {"running", "idle"}
    wait_for(
        lambda: (
            (m := anonymous.call("GET", "/api/v1/health")[1]["model"])
            and m["version"] != second["version"]
        )
    )
    assert alice.call("GET", "/api/v1/recommendations")[0] == 200
