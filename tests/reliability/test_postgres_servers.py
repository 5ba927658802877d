"""Two ``nextpaper serve`` instances on one PostgreSQL database, as real processes: each with a
home of its own, both with ``NEXTPAPER_DATABASE_URL`` and one shared models folder
(``NEXTPAPER_MODELS``). Events taken by either are stored once and seen by both; both answer
alike; a model published through either is served by both; the duties run in one of them; and
``nextpaper backup`` dumps the database with PostgreSQL's own tool."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from tests.conftest import run_cli

from .support import event, make_tokens, request, seed_home, train_here, wait_for

pytestmark = pytest.mark.slow

DUTY_LINE = re.compile(r"server\.jobs\.duties: this process \(pid \d+\) runs the")


def health_version(port: int) -> str | None:
    _, _, body = request(port, "GET", "/api/v1/health")
    model = json.loads(body)["model"]
    return model and model["version"]


def test_two_servers_on_one_postgres_database(live_server, postgres_url, tmp_path):
    models = tmp_path / "shared-models"
    env = {"NEXTPAPER_DATABASE_URL": postgres_url, "NEXTPAPER_MODELS": str(models)}
    home_a, home_b = tmp_path / "a", tmp_path / "b"
    seed_home(home_a, database=postgres_url)
    [admin] = make_tokens(home_a, "root", admin=True, database=postgres_url)
    readers = make_tokens(home_a, "reader0", "reader1", database=postgres_url)
    first = train_here(home_a, database=postgres_url, models=models)
    a = live_server("--retrain-minutes", "600", home_dir=home_a, env=env)
    b = live_server("--retrain-minutes", "600", home_dir=home_b, env=env)
    assert health_version(a.port) == health_version(b.port) == first
    assert not (home_a / "nextpaper.db").exists() and not (home_b / "nextpaper.db").exists()

    # Events through either server, one batch sent to both: stored once, seen by both.
    batch = [event(f"x{i}", {"id": f"seed:p{i}"}) for i in range(5)]
    answers = [
        json.loads(
            request(s.port, "POST", "/api/v1/events", token=readers[0], body={"events": batch})[2]
        )
        for s in (a, b)
    ]
    assert answers[0]["accepted"] == 5 and answers[1]["duplicates"] == 5
    more = [event("y0", {"id": "seed:p42"})]
    request(b.port, "POST", "/api/v1/events", token=readers[1], body={"events": more})
    for server in (a, b):
        history = json.loads(request(server.port, "GET", "/api/v1/history", token=readers[0])[2])
        assert {e["id"] for e in history["events"]} >= {f"x{i}" for i in range(5)}
        other = json.loads(request(server.port, "GET", "/api/v1/history", token=readers[1])[2])
        assert "y0" in {e["id"] for e in other["events"]}

    def recommendations(server, token):
        _, _, body = request(server.port, "GET", "/api/v1/recommendations?n=10", token=token)
        answer = json.loads(body)
        return answer["model_version"], [item["paper"]["id"] for item in answer["items"]]

    for token in readers:
        assert recommendations(a, token) == recommendations(b, token)

    # A model published through either is served by both.
    def publish_through(through, other) -> None:
        before = health_version(other.port)
        status, _, _ = request(through.port, "POST", "/api/v1/admin/train", token=admin)
        assert status == 202
        published = wait_for(
            lambda: (v := health_version(through.port)) != before and v, timeout=120, what="a model"
        )
        wait_for(lambda: health_version(other.port) == published, timeout=30, what="the other")

    publish_through(a, b)
    publish_through(b, a)
    for token in readers:
        assert recommendations(a, token) == recommendations(b, token)

    # The duties (retrains, the daily job) run in one of the two.
    assert len(DUTY_LINE.findall(a.read_log() + b.read_log())) == 1

    # nextpaper backup: a pg_dump that pg_restore reads.
    if shutil.which("pg_dump") is None:
        pytest.skip("PostgreSQL's client tools are not installed")
    dump = tmp_path / "backup.dump"
    run_cli(home_a, "backup", str(dump), env={**os.environ, **env})
    listing = subprocess.run(["pg_restore", "--list", str(dump)], capture_output=True, text=True)
    assert listing.returncode == 0 and "TABLE DATA public events" in listing.stdout
