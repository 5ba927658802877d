"""Several server processes on one home (``nextpaper serve --workers 2``), as real processes:
gunicorn's arbiter and its workers. A worker killed with -9 loses no acknowledged event and is
replaced; the duties (retrains, the daily job) run in one process and move when it dies; every
worker serves a newly published model; every worker reports the same training status; and
gunicorn's own answers keep the API's error shape."""

from __future__ import annotations

import json
import os
import re
import signal
import time

import pytest

from server.jobs.training import TRAIN_LOCK, _training_lock

from .support import (
    EventStream,
    check_error_body,
    make_tokens,
    parse_raw,
    raw_exchange,
    request,
    seed_home,
    train_here,
    wait_for,
)
from .test_crash_safety import children

pytestmark = pytest.mark.slow

DUTY_LINE = re.compile(r"\[(\d+)\] server\.jobs\.duties: this process \(pid \d+\) runs the")


def workers_of(server, count: int = 2) -> list[int]:
    """The worker processes of the arbiter, once there are ``count`` of them."""
    return wait_for(
        lambda: (kids := children(server.process.pid)) and len(kids) == count and kids,
        timeout=30,
        what=f"{count} workers",
    )


def duty_holders(server) -> list[int]:
    return [int(pid) for pid in DUTY_LINE.findall(server.read_log())]


def test_a_killed_worker_loses_no_acknowledged_event_and_is_replaced(live_server):
    home = live_server.home
    names = [f"writer{i}" for i in range(4)]
    tokens = dict(zip(names, make_tokens(home, *names), strict=True))
    server = live_server("--workers", "2", "--no-retrain")
    first_workers = workers_of(server)
    # each batch on a new connection: they spread over both workers
    stream = EventStream(server.port, tokens).start()
    try:
        wait_for(lambda: stream.acknowledged() >= 800, timeout=60, what="acknowledged events")
        os.kill(first_workers[0], signal.SIGKILL)  # one worker, in the middle of the stream
        at_kill = stream.acknowledged()
        # the server goes on answering, and the arbiter replaces the dead worker
        wait_for(
            lambda: stream.acknowledged() >= at_kill + 400, timeout=60, what="events after the kill"
        )
        replaced = workers_of(server)
        assert first_workers[0] not in replaced and first_workers[1] in replaced
    finally:
        stream.stop()
    stream.check_stored(home, server.port)  # retried: stored once, whichever worker answers


def test_duties_run_in_one_worker_and_move_when_it_dies(live_server):
    seed_home(live_server.home)
    server = live_server("--workers", "2", "--retrain-minutes", "60")
    workers = workers_of(server)
    holder = wait_for(lambda: duty_holders(server), timeout=30, what="a worker taking the duties")
    time.sleep(3)  # longer than the others wait between tries: still one holder
    assert duty_holders(server) == holder and holder[0] in workers
    # the first model is built once, by the holder's scheduler, and every worker serves it
    version = wait_for(
        lambda: (
            (home_models := live_server.home / "models" / "CURRENT").exists()
            and home_models.read_text().strip()
        ),
        timeout=60,
        what="the first model",
    )
    assert server.read_log().count("starting a background retrain") == 1

    os.kill(holder[0], signal.SIGKILL)
    taken = wait_for(
        lambda: len(holders := duty_holders(server)) == 2 and holders, timeout=30, what="take-over"
    )
    assert taken[1] != holder[0] and taken[1] in children(server.process.pid)
    assert (live_server.home / "models" / "CURRENT").read_text().strip() == version


def test_every_worker_serves_a_newly_published_model(live_server):
    home = live_server.home
    seed_home(home)
    first = train_here(home)
    server = live_server("--workers", "2", "--no-retrain")
    workers = workers_of(server)

    def serving(version: str) -> set[int]:
        found = re.findall(
            rf"\[(\d+)\] server\.serving\.holder: serving model version {version}",
            server.read_log(),
        )
        return {int(pid) for pid in found}

    # each worker loads the model after its fork: on a busy machine one may take a while
    wait_for(lambda: serving(first) == set(workers), timeout=30, what="the first model")
    second = train_here(home)  # published by another process
    wait_for(lambda: serving(second) == set(workers), timeout=30, what="both workers")
    for _ in range(10):  # whichever worker answers
        status, _, body = request(server.port, "GET", "/api/v1/health")
        assert json.loads(body)["model"]["version"] == second


def test_every_worker_reports_the_training_that_runs(live_server):
    home = live_server.home
    seed_home(home)
    train_here(home)
    [admin] = make_tokens(home, "root", admin=True)
    server = live_server("--workers", "2", "--no-retrain")
    workers_of(server)

    def states() -> set[str]:
        found = set()
        for _ in range(12):  # new connections, spread over the workers
            status, _, body = request(server.port, "GET", "/api/v1/admin/model", token=admin)
            assert status == 200, body
            found.add(json.loads(body)["training"]["state"])
        return found

    assert states() == {"idle"}
    with _training_lock(home / "models"):  # a training in another process (the CLI's)
        assert (home / "models" / TRAIN_LOCK).exists()
        assert states() == {"running"}
    assert states() == {"idle"}

    # A retrain asked of one worker is reported the same by all once it ended.
    status, _, body = request(server.port, "POST", "/api/v1/admin/train", token=admin)
    assert status == 202, body
    assert states() == {"running"}  # a run takes seconds: its child process starts first
    wait_for(lambda: states() == {"idle"}, timeout=90, what="the retrain to end")
    lasts = set()
    for _ in range(12):
        _, _, body = request(server.port, "GET", "/api/v1/admin/model", token=admin)
        answer = json.loads(body)
        assert answer["training"]["last"]["ok"] is True
        lasts.add(answer["training"]["last"]["version"])
    [published] = lasts  # every worker names the same run
    assert published == (home / "models" / "CURRENT").read_text().strip()


def test_the_workers_own_refusals_keep_the_error_shape(live_server):
    server = live_server("--workers", "2", "--no-retrain")
    for raw in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"):
        status, headers, body = parse_raw(raw_exchange(server.port, raw))
        assert status == 400
        assert headers["content-type"] == "application/json"
        assert headers["x-content-type-options"] == "nosniff"
        check_error_body(json.loads(body), 400)
