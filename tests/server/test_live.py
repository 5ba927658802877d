"""A real ``nextpaper serve`` process over HTTP: the scripted client of issue 2, end to end."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest

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


SEED = Path(__file__).parents[2] / ".." / "shared" / "data" / "seed-papers.jsonl"
MOE_PAPER = {
    "url": "https://arxiv.org/abs/2612.00042",
    "title": "Load-balanced expert routing for mixture-of-experts LLM serving",
    "abstract": "Mixture-of-experts language models route tokens to experts; we balance "
    "expert load across GPUs when serving MoE models and cut all-to-all communication.",
}


def test_a_one_user_server_never_trained_by_hand(live_server):
    """The seed catalog, one reader, default settings: the server builds its own model, one
    open of a paper new to the catalog leads the next answer and is cited, feedback steers
    and can be undone, and no reason ever claims another reader."""
    if not SEED.is_file():
        pytest.skip(f"shared seed catalog not found at {SEED}")
    server = live_server()
    alice = Client(server.url, token_of(server.home, "alice"))
    run_cli(server.home, "papers", "import", str(SEED))
    anonymous = Client(server.url)
    wait_for(lambda: anonymous.call("GET", "/api/v1/health")[1]["model"])

    def answer():
        status, body = alice.call("GET", "/api/v1/recommendations?n=10")
        assert status == 200
        for item in body["items"]:
            for reason in item["reasons"]:
                assert reason["text"] and "readers" not in reason, item
        return [item["paper"]["id"] for item in body["items"]], body["items"]

    event = {"id": "a1", "type": "open", "ts": "2026-12-07T09:00:00Z", "paper": MOE_PAPER}
    assert alice.call("POST", "/api/v1/events", {"events": [event]})[1]["accepted"] == 1
    ids, items = answer()
    assert "expert" in (items[0]["paper"]["title"] + items[0]["paper"]["abstract"]).lower()
    assert items[0]["reasons"][0]["title"] == MOE_PAPER["title"]
    assert items[0]["reasons"][0]["action"] == "opened"

    def feedback(event_id, type_, paper_id):
        batch = [
            {"id": event_id, "type": type_, "ts": "2026-12-07T09:01:00Z", "paper": {"id": paper_id}}
        ]
        assert alice.call("POST", "/api/v1/events", {"events": batch})[1]["accepted"] == 1

    feedback("d1", "dismiss", ids[0])
    assert ids[0] not in answer()[0]
    feedback("d2", "undismiss", ids[0])
    assert ids[0] in answer()[0]
    feedback("s1", "save", ids[1])
    saved = alice.call("GET", "/api/v1/saved")[1]
    assert [item["paper"]["id"] for item in saved["items"]] == [ids[1]]
    feedback("s2", "unsave", ids[1])
    assert alice.call("GET", "/api/v1/saved")[1]["items"] == []
    # five events: the young deployment retrains on its own, and still claims nobody else
    first = anonymous.call("GET", "/api/v1/health")[1]["model"]["version"]
    wait_for(lambda: anonymous.call("GET", "/api/v1/health")[1]["model"]["version"] != first)
    answer()
