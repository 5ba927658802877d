"""PostgreSQL against SQLite: what storing in PostgreSQL costs, on one dataset, in one run.

For each engine in turn, a fresh home (SQLite: ``HOME/nextpaper.db``; PostgreSQL: a new
database on the server given by ``--server-url``, through ``NEXTPAPER_DATABASE_URL``), filled
and trained by the real CLI (``init``, ``papers import``, ``events import``, ``train``: each
timed), then a real ``nextpaper serve``:

* first recommendations (``GET /api/v1/recommendations?n=20``, each for a user not asked
  before) and ``GET /api/v1/papers/<id>``, one client: the app's time per request
  (``Server-Timing``), p50;
* ingest: 4 clients posting batches of 100 new ``open`` events (each client its own users),
  events stored a second.

A server for ``--server-url``: ``python3 tests/postgres.py start DIR`` starts a throwaway one
(durability off, as the tests use it: the ingest figure is then an upper bound) and prints its
URL; ``python3 tests/postgres.py stop DIR`` stops it.

    .venv/bin/python bench/postgres.py --scale small --server-url postgresql://postgres@127.0.0.1:PORT/postgres

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.parse
import uuid
from datetime import UTC, datetime
from pathlib import Path

import common
import numpy as np

CLIENTS = 4
BATCH = 100


def _new_database(server_url: str) -> tuple[str, str]:
    import psycopg

    name = f"nextpaper_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, server_url.rsplit("/", 1)[0] + "/" + name


def _drop_database(server_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _server_ms(port: int, path: str, token: str) -> float:
    import http.client

    conn = http.client.HTTPConnection(common.HOST, port, timeout=60)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        response.read()
        assert response.status == 200, (path, response.status)
        return float(response.getheader("Server-Timing").partition(";dur=")[2])
    finally:
        conn.close()


def measure(engine: str, home: Path, data: Path, env: dict[str, str], args) -> dict:
    os.environ.update(env)  # every CLI child and the server inherit it
    cli = [*common.nextpaper_cmd(), "--home", str(home)]
    figures: dict = {"engine": engine}
    home.mkdir(parents=True)
    common.run_measured([*cli, "init"])
    for step, command in (
        ("papers_import", [*cli, "papers", "import", str(data / "papers.jsonl")]),
        ("events_import", [*cli, "events", "import", str(data / "interactions.csv")]),
        ("train", [*cli, "train", "--quiet"]),
    ):
        common.log(f"{engine}: {step} ...")
        run = common.time_and_rss(command)
        figures[f"{step}_seconds"] = round(run["seconds"], 1)
    users = common.sample_users(home, args.requests, seed=5)
    tokens = common.issue_tokens(home, users)
    writers = [f"bench-writer-{engine}-{i}" for i in range(CLIENTS)]
    writer_tokens = common.issue_tokens(home, writers, create=True)
    papers = common.sample_papers(home, args.requests, seed=6)
    with common.Server(home, require_model=True) as server:
        for user in users[:3]:  # warm up each path once
            _server_ms(server.port, "/api/v1/recommendations?n=20", tokens[user])
        rec = [
            _server_ms(server.port, "/api/v1/recommendations?n=20", tokens[u]) for u in users[3:]
        ]
        one = [
            _server_ms(server.port, f"/api/v1/papers/{urllib.parse.quote(p, safe='')}", tokens[u])
            for p, u in zip(papers, users, strict=False)
        ]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        jobs = [
            [
                (
                    "POST",
                    "/api/v1/events",
                    writer_tokens[writer],
                    json.dumps(
                        {
                            "events": [
                                {
                                    "id": f"{writer}-{b}-{k}",
                                    "type": "open",
                                    "ts": now,
                                    "paper": {"id": papers[(b * BATCH + k) % len(papers)]},
                                }
                                for k in range(BATCH)
                            ]
                        }
                    ).encode(),
                )
                for b in range(args.batches)
            ]
            for writer in writers
        ]
        run = common.closed_loop(server.port, jobs, max_seconds=120, warmup=2)
    figures.update(
        first_recommendation_server_ms_p50=round(float(np.median(rec)), 2),
        paper_server_ms_p50=round(float(np.median(one)), 2),
        ingest_events_per_second=round(run["requests"] * BATCH / run["elapsed"], 0),
        ingest_statuses={str(k): v for k, v in run["statuses"].items()},
    )
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.common_args(ap)
    ap.add_argument("--server-url", required=True, help="a PostgreSQL server's URL")
    ap.add_argument("--requests", type=int, default=200, help="users asked, papers read")
    ap.add_argument("--batches", type=int, default=50, help="event batches per ingest client")
    args = ap.parse_args()
    data = common.dataset_dir(args.scale)
    name, url = _new_database(args.server_url)
    results = []
    try:
        with common.tmp_dir("bench-postgres-") as tmp:
            results.append(measure("sqlite", tmp / "sqlite", data, {}, args))
            os.environ.pop("NEXTPAPER_DATABASE_URL", None)
            results.append(
                measure(
                    "postgresql", tmp / "postgresql", data, {"NEXTPAPER_DATABASE_URL": url}, args
                )
            )
    finally:
        os.environ.pop("NEXTPAPER_DATABASE_URL", None)
        _drop_database(args.server_url, name)
    common.emit(
        {
            "benchmark": "postgres",
            "scale": args.scale,
            "machine": common.machine(),
            "code": common.code_version(),
            "results": results,
        }
    )


if __name__ == "__main__":
    main()
