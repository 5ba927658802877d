"""Server CPU per ingested event, in process: steadier than ``bench/ingest.py`` for comparing
variants of the ingest code on a busy machine.

Builds a small scratch home (5,000 catalogue papers, one user), then posts pre-built batches of
100 ``open`` events (unique ids, random catalogue papers by URL, as ``bench/ingest.py`` sends
them) through Flask's test client, one request at a time, so every batch is its own commit.
Batches naming every paper once go first, unmeasured: ``bench/ingest.py`` posts hundreds of
thousands of events over its 5,000 papers, so the server's memory of papers and ids is warm
there, and the figures here should describe that state. Reports CPU microseconds per event
(user + system, medians over ``--rounds`` rounds):

* ``request``: the request thread inside the WSGI app (routing, auth, JSON, validation, the
  response), not counting the wait for the writer;
* ``writer``: the writer thread inside ``EventWriter._write`` (building rows, SQLite, commit);
* ``process``: the whole process over the round, test client included (a constant extra).

With ``--metadata`` the measured batches carry what the extension sends, half of them for new
papers, as ``bench/ingest.py --metadata`` posts them.

Waitress's HTTP work is not measured here; ``bench/ingest.py`` measures the real server.

    .venv/bin/python bench/ingest_cpu.py            # about 30 s

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime

import common
import numpy as np
from ingest import event_paper


def seed_home(home, papers: int) -> tuple[list[str], str]:
    """A home with ``papers`` arXiv papers (title, abstract, authors, url) and one user."""
    from server.http import auth
    from server.store import storage
    from server.store.db import open_database

    db = open_database(home / "nextpaper.db")
    try:
        ids = [f"2401.{i:05d}" for i in range(1, papers + 1)]
        storage.upsert_papers(
            db,
            [
                {
                    "paper_id": "arxiv:" + i,
                    "title": f"Paper {i}",
                    "abstract": "An abstract of about a thousand characters. " * 23,
                    "authors": ["A. Author", "B. Author"],
                    "url": "https://arxiv.org/abs/" + i,
                    "arxiv_id": i,
                    "published": "2024-01-15",
                }
                for i in ids
            ],
        )
        storage.create_user(db, "bench")
        return ids, auth.issue_token(db, "bench")
    finally:
        db.close()


def make_batches(
    picks: list[str], size: int, rng, tag: str, now: str, metadata: bool = False
) -> list[bytes]:
    """Batches of ``size`` events naming the papers in ``picks`` in turn, as
    ``bench/ingest.py`` sends them (:func:`ingest.event_paper`)."""
    return [
        json.dumps(
            {
                "events": [
                    {
                        "id": f"{tag}-{start + k}",
                        "type": "open",
                        "ts": now,
                        "paper": event_paper(pid, rng, k, metadata),
                        "dwell_ms": int(rng.integers(1000, 600_000)),
                    }
                    for k, pid in enumerate(picks[start : start + size])
                ]
            }
        ).encode()
        for start in range(0, len(picks), size)
    ]


class Harness:
    """A scratch home, the app over it with its writer timed, and pre-built batches to post."""

    def __init__(
        self, home, *, papers: int, batch: int, batches: int, metadata: bool = False, seed: int = 3
    ):
        from server import create_app
        from server.store.writer import EventWriter

        self.spent = {"request": 0.0, "writer": 0.0}
        spent = self.spent
        write = EventWriter._write

        def timed_write(db, jobs, known=None):
            t = time.thread_time()
            try:
                return write(db, jobs, known)
            finally:
                spent["writer"] += time.thread_time() - t

        EventWriter._write = staticmethod(timed_write)  # type: ignore[method-assign]
        ids, token = seed_home(home, papers)
        app = create_app({"HOME": str(home), "RATE_LIMIT_PER_SECOND": 0, "TESTING": True})
        wsgi = app.wsgi_app

        def timed_wsgi(environ, start_response):
            t = time.thread_time()
            try:
                return wsgi(environ, start_response)
            finally:
                spent["request"] += time.thread_time() - t

        app.wsgi_app = timed_wsgi  # type: ignore[method-assign]
        self.client = app.test_client()
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.batch = batch
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        rng = np.random.default_rng(seed)
        # every paper once first, as a server that has run a while has seen them all; then
        # papers at random
        warm = (ids * batch)[: -(-len(ids) // batch) * batch]
        self.warm_bodies = make_batches(warm, batch, rng, "w", now)
        picks = [ids[i] for i in rng.integers(len(ids), size=batches * batch)]
        self.bodies = iter(make_batches(picks, batch, rng, "e", now, metadata))

    def warm_up(self) -> None:
        """Post batches naming every catalogue paper once (not measured)."""
        for body in self.warm_bodies:
            self.client.post("/api/v1/events", data=body, headers=self.headers)

    def post(self, count: int) -> dict[str, float]:
        """Post the next ``count`` batches; CPU microseconds per event spent on them."""
        self.spent.update(request=0.0, writer=0.0)
        start = time.process_time()
        for _ in range(count):
            response = self.client.post(
                "/api/v1/events", data=next(self.bodies), headers=self.headers
            )
            if response.status_code != 200 or response.get_json()["accepted"] != self.batch:
                raise RuntimeError(f"unexpected answer {response.status_code}: {response.data!r}")
        events = count * self.batch
        return {
            "request": 1e6 * self.spent["request"] / events,
            "writer": 1e6 * self.spent["writer"] / events,
            "process": 1e6 * (time.process_time() - start) / events,
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--papers", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--batches", type=int, default=200, help="batches per round")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument(
        "--metadata",
        action="store_true",
        help="measured events carry title, authors and abstract, half of them for new papers "
        "(as bench/ingest.py --metadata)",
    )
    args = ap.parse_args()

    with common.tmp_dir("ingest-cpu-") as tmp:
        harness = Harness(
            tmp,
            papers=args.papers,
            batch=args.batch,
            batches=args.rounds * args.batches,
            metadata=args.metadata,
        )
        harness.warm_up()
        rounds = [harness.post(args.batches) for _ in range(args.rounds)]

    result = {
        "benchmark": "ingest_cpu",
        "machine": common.machine(),
        "command": f"bench/ingest_cpu.py --batch {args.batch} --batches {args.batches} "
        f"--rounds {args.rounds}{' --metadata' * args.metadata}",
        "cpu_us_per_event": {
            name: round(statistics.median(r[name] for r in rounds), 2) for name in rounds[0]
        },
        "cpu_us_per_event_min": {
            name: round(min(r[name] for r in rounds), 2) for name in rounds[0]
        },
        "rounds": [{name: round(value, 1) for name, value in r.items()} for r in rounds],
    }
    common.emit(result)


if __name__ == "__main__":
    main()
