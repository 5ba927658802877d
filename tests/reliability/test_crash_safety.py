"""Crash safety against real processes: ``kill -9`` of the server mid-stream loses no
acknowledged event and stores none twice; a failed or killed training run, or an unloadable model,
leaves the previous model serving; retrains swap models under load without a failed request."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli

from .support import (
    EventStream,
    health_version,
    make_tokens,
    request,
    seed_home,
    train_here,
    wait_for,
)

pytestmark = pytest.mark.slow


def children(pid: int) -> list[int]:
    """Live child processes of ``pid`` (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


# --- (a) kill -9 while four clients post ------------------------------------------------------


def test_every_acknowledged_event_survives_kill_9_exactly_once(live_server):
    home = live_server.home
    names = [f"writer{i}" for i in range(4)]
    tokens = dict(zip(names, make_tokens(home, *names), strict=True))
    server = live_server("--no-retrain", "--threads", "8")
    stream = EventStream(server.port, tokens, alive=lambda: server.process.poll() is None)
    stream.start()
    try:
        wait_for(lambda: stream.acknowledged() >= 800, timeout=60, what="acknowledged events")
    finally:
        server.kill()  # SIGKILL, in the middle of the stream
        stream.stop()

    restarted = live_server("--no-retrain")
    # The client retries what it never heard back about: nothing is counted twice.
    stream.check_stored(home, restarted.port)
    for name in names:
        status, _, body = request(
            restarted.port, "GET", "/api/v1/history?limit=1", token=tokens[name]
        )
        expected = set(stream.acked[name]) | {e["id"] for b in stream.unknown[name] for e in b}
        assert json.loads(body)["total"] == len(expected)


# --- (b) a failed training run ----------------------------------------------------------------


def _recommendations_ok(port: int, token: str) -> str | None:
    status, _, body = request(port, "GET", "/api/v1/recommendations?n=5", token=token)
    assert status == 200, body[:300]
    result = json.loads(body)
    assert len(result["items"]) == 5
    return result["model_version"]


def _steady(port: int, token: str, version: str, seconds: float = 1.5) -> None:
    """For a while (longer than the model check interval) the same version keeps serving."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert health_version(port) == version
        assert _recommendations_ok(port, token) == version
        time.sleep(0.1)


def test_failed_training_and_unloadable_models_leave_the_previous_model_serving(live_server):
    home = live_server.home
    seed_home(home)
    [admin] = make_tokens(home, "root", admin=True)
    [reader] = make_tokens(home, "reader0")
    first = train_here(home)
    server = live_server("--no-retrain")
    assert health_version(server.port) == first
    assert _recommendations_ok(server.port, reader) == first

    # 1. Kill the training child the server started (kill -9, before it can publish).
    status, _, body = request(server.port, "POST", "/api/v1/admin/train", token=admin)
    assert status == 202 and json.loads(body)["state"] == "running"
    kids = wait_for(lambda: children(server.process.pid), timeout=10, what="the training child")
    for kid in kids:
        os.kill(kid, signal.SIGKILL)
    wait_for(lambda: not children(server.process.pid), timeout=20, what="the child to be reaped")
    _steady(server.port, reader, first)
    assert (home / "models" / "CURRENT").read_text().strip() == first
    # The failure is reported, and the next run (started by the same call) succeeds.
    status, _, body = request(server.port, "POST", "/api/v1/admin/train", token=admin)
    report = json.loads(body)
    assert status == 202 and report["last"]["ok"] is False, report
    assert report["model"]["version"] == first
    second = wait_for(
        lambda: (v := health_version(server.port)) != first and v, timeout=90, what="a retrain"
    )
    assert _recommendations_ok(server.port, reader) == second

    # 2. A published version that cannot be loaded: the server keeps the one it has.
    models = home / "models"
    broken = "99990101T000000000000Z-broken"
    shutil.copytree(models / second, models / broken)
    release = json.loads((models / broken / "release.json").read_text())
    (models / broken / "release.json").write_text(json.dumps({**release, "version": broken}))
    for path in (models / broken).iterdir():
        if path.name != "release.json":
            if path.is_dir():
                shutil.rmtree(path)
            path.write_bytes(b"\x00corrupt")
    (models / ".CURRENT.tmp").write_text(broken + "\n")
    os.replace(models / ".CURRENT.tmp", models / "CURRENT")
    _steady(server.port, reader, second, seconds=2.0)
    assert "could not load model version" in server.read_log()

    # 3. A later good version is picked up again without a restart.
    third = train_here(home)
    wait_for(lambda: health_version(server.port) == third, timeout=30, what="the new version")
    assert _recommendations_ok(server.port, reader) == third


# --- (c) retrains under load ------------------------------------------------------------------


def test_retrains_swap_models_under_load_without_a_failed_request(live_server):
    home = live_server.home
    seed_home(home)
    tokens = make_tokens(home, "reader0", "reader1", "reader2")
    first = train_here(home)
    server = live_server("--no-retrain", "--threads", "6")
    failures: list[str] = []
    seen: set[str | None] = set()
    counts = [0]
    stop = threading.Event()

    def hammer(token: str, n: int) -> None:
        paths = [
            "/api/v1/recommendations?n=10",
            "/api/v1/papers/seed%3Ap3/similar?n=5",
            "/api/v1/health",
        ]
        i = n
        while not stop.is_set():
            path = paths[i % len(paths)]
            i += 1
            try:
                status, _, body = request(server.port, "GET", path, token=token, timeout=30)
            except (OSError, http.client.HTTPException) as error:
                failures.append(f"{path}: {error!r}")
                continue
            if status != 200:
                failures.append(f"{path}: {status} {body[:200]!r}")
                continue
            result = json.loads(body)
            seen.add(result["model"]["version"] if "ok" in result else result["model_version"])
            counts[0] += 1
            time.sleep(0.005)

    threads = [threading.Thread(target=hammer, args=(t, n)) for n, t in enumerate(tokens)]
    for thread in threads:
        thread.start()
    versions = [first]
    try:
        for round_ in range(3):
            if round_ == 1:  # from this process (cheaper: no import of the recommender stack)
                versions.append(train_here(home))
            else:  # `nextpaper train` in its own process, against the serving home
                versions.append(run_cli(home, "train", "--quiet").stdout.strip().splitlines()[-1])
            wait_for(
                lambda: versions[-1] in seen, timeout=30, what=f"requests served by {versions[-1]}"
            )
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert not failures, failures[:5]
    assert len(set(versions)) == 4
    assert set(versions) <= seen  # every published version served requests
    assert health_version(server.port) == versions[-1]
    assert counts[0] > 50


def test_a_killed_runs_temp_folder_is_cleaned_up_by_the_next_publish(tmp_path):
    home = tmp_path / "home"
    seed_home(home, papers=30, users=5, per_user=4)
    stale = home / "models" / ".tmp-20200101T000000000000Z-dead00"
    stale.mkdir(parents=True)
    (stale / "factors.npy").write_bytes(b"\0" * 1024)  # what a killed run leaves behind
    train_here(home)
    assert not stale.exists()
