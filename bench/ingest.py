"""Event ingest: ``POST /api/v1/events`` in batches of 100 from 4 clients, and single events at
200 requests/s (the extension's usual case); every event is counted afterwards.

Runs a real ``nextpaper serve --no-retrain`` (rate limit off) over a copy of the scale's
prepared home (so the 5M-event database at large scale is what the writes land in), then:

* batched: 4 client processes, each with its own user and keep-alive connection, post batches
  of 100 new events (unique ids, ``open``, random catalogue papers by URL) back to back for
  ``--seconds``; throughput = events acknowledged / wall time. With ``--metadata`` the events
  carry what the extension sends (title, authors, a 1,000-character abstract, a date), and
  every other one is for a paper not yet in the catalogue; with ``--new-papers`` every event
  is for a paper not yet in the catalogue (as from a client that makes up its papers);
* single: 8 client processes send one-event posts from 50 users at a fixed total rate of
  200/s for ``--seconds``; latency counts from each request's scheduled time. This runs twice:
  first, before the batched phase, on a server doing nothing else (the extension's usual
  case: the budgeted figure), then again right after the batched phase, while the server is
  still copying that burst's write-ahead log back into the database;
* after stopping the server, the events table is counted per user: ``lost`` = acknowledged
  events that are not stored.

Budgets: >= 20,000 events/s sustained with none lost; single-event p99 <= 20 ms at 200/s.

    .venv/bin/python bench/ingest.py --scale small          # ~2 min
    .venv/bin/python bench/ingest.py --scale large

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import uuid
from datetime import UTC, datetime

import common
import numpy as np

EVENTS_PER_SECOND_BUDGET = 20_000
SINGLE_P99_BUDGET_MS = 20.0


ABSTRACT = ("We study how researchers choose what to read next from the papers they opened. " * 13)[
    :1000
]


def event_paper(paper_id: str, rng, k: int, metadata: bool, new_papers: bool = False) -> dict:
    """The ``paper`` of the ``k``-th event of a batch, for catalogue paper ``paper_id``: by
    URL; with ``metadata``, as the extension sends it (title, authors, a 1,000-character
    abstract and a date), and for even ``k`` a paper the catalogue does not hold yet instead;
    with ``new_papers``, always a paper the catalogue does not hold."""
    arxiv_id = paper_id.removeprefix("arxiv:")
    if new_papers or (metadata and k % 2 == 0):  # ids under 99xx: the catalogue has none
        arxiv_id = f"99{int(rng.integers(10, 100))}.{int(rng.integers(100_000)):05d}"
    paper = {"url": "https://arxiv.org/abs/" + arxiv_id}
    if metadata:
        paper |= {
            "title": f"On paper {arxiv_id}",
            "authors": ["A. Author", "B. Author", "C. Author"],
            "abstract": ABSTRACT,
            "published": "2026-11-01",
        }
    return paper


def make_batches(
    papers, count, size, rng, tag, now, metadata=False, new_papers=False
) -> list[bytes]:
    """Batches of ``open`` events of random catalogue papers (:func:`event_paper`)."""
    out = []
    for b in range(count):
        events = []
        for k in range(size):
            pick = papers[int(rng.integers(len(papers)))]
            paper = event_paper(pick, rng, k, metadata, new_papers)
            events.append(
                {
                    "id": f"{tag}-{b}-{k}",
                    "type": "open",
                    "ts": now,
                    "paper": paper,
                    "dwell_ms": int(rng.integers(1000, 600_000)),
                }
            )
        out.append(json.dumps({"events": events}).encode())
    return out


def fsync_reference(folder, count: int = 200) -> dict:
    """Latency of write + fsync of 4 KiB in the database's folder: the floor under a durable
    (synchronous=FULL) commit on this disk, measured in the same run."""
    import os
    import time

    path = folder / "bench-fsync.tmp"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    times = []
    try:
        for _ in range(count):
            os.write(fd, b"x" * 4096)
            t = time.perf_counter()
            os.fsync(fd)
            times.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        path.unlink()
    return common.summary(times)


def machine_busy_cpu() -> float:
    """CPU seconds the whole machine spent busy so far (not idle, not waiting for I/O)."""
    import os

    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    """CPU seconds of this process's finished children (the load generators)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def stored_counts(home, user_ids) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{home / 'nextpaper.db'}?mode=ro", uri=True)
    try:
        return {
            u: conn.execute("SELECT count(*) FROM events WHERE user_id = ?", [u]).fetchone()[0]
            for u in user_ids
        }
    finally:
        conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.common_args(ap)
    ap.add_argument("--seconds", type=float, default=30, help="length of each phase")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--rate", type=float, default=200, help="single-event posts per second")
    ap.add_argument("--threads", type=int, default=8, help="waitress threads")
    ap.add_argument(
        "--metadata",
        action="store_true",
        help="batched events carry title, authors and abstract, half of them for new papers",
    )
    ap.add_argument(
        "--new-papers",
        action="store_true",
        help="every batched event is for a paper the catalogue does not hold yet",
    )
    args = ap.parse_args()
    options = " --metadata" * args.metadata + " --new-papers" * args.new_papers

    source, _ = common.prepared_home(args.scale, train=False)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    rng = np.random.default_rng(3)
    papers = common.sample_papers(source, 5000, seed=3)
    result = {
        "benchmark": "ingest",
        "scale": args.scale,
        "machine": common.machine(),
        "command": f"bench/ingest.py --scale {args.scale}{options} "
        f"(nextpaper serve --no-retrain --threads {args.threads}, "
        "NEXTPAPER_RATE_LIMIT_PER_SECOND=0)",
        "batched_events": ("with title, authors, abstract" if args.metadata else "by URL")
        + ("; every one" if args.new_papers else "; every other one" if args.metadata else "; none")
        + " for a paper new to the catalogue",
    }
    with common.tmp_dir("ingest-") as tmp:
        common.log("copying the prepared home ...")
        home = common.clone_home(source, tmp / "home")
        run = uuid.uuid4().hex[:8]
        batch_users = [f"bench-batch-{run}-{c}" for c in range(args.clients)]
        single_users = [f"bench-single-{run}-{c}" for c in range(50)]
        tokens = common.issue_tokens(home, batch_users + single_users, create=True)
        result["reference_fsync_4k"] = fsync_reference(home)
        # enough batches for the phase at 4x the budget; the clock bounds the run
        per_client = (
            int(4 * EVENTS_PER_SECOND_BUDGET * args.seconds / args.batch / args.clients) + 1
        )
        common.log(f"building {per_client * args.clients} batches ...")
        jobs = [
            [
                ("POST", "/api/v1/events", tokens[u], body)
                for body in make_batches(
                    papers,
                    per_client,
                    args.batch,
                    rng,
                    f"{run}-{u}",
                    now,
                    args.metadata,
                    args.new_papers,
                )
            ]
            for u in batch_users
        ]
        n_single = int(args.rate * args.seconds)

        def single_posts(phase: str) -> list[tuple]:
            jobs = []
            for i in range(n_single):
                u = single_users[i % len(single_users)]
                pid = papers[int(rng.integers(len(papers)))]
                event = {
                    "id": f"{run}-{phase}-{i}",
                    "type": "open",
                    "ts": now,
                    "paper": {"url": "https://arxiv.org/abs/" + pid.removeprefix("arxiv:")},
                }
                body = json.dumps({"events": [event]}).encode()
                jobs.append(("POST", "/api/v1/events", tokens[u], body))
            return jobs

        def single_phase(server, jobs: list[tuple]) -> dict:
            cpu0 = server.cpu_seconds()
            single = common.open_loop(
                server.port, jobs, rate=args.rate, clients=8, max_seconds=args.seconds
            )
            lat = common.summary(single["latencies"])
            common.log(f"  {lat}")
            return {
                "target_rate": args.rate,
                "achieved_rate": round(single["requests"] / single["elapsed"], 1),
                "requests": single["requests"],
                "statuses": {str(k): v for k, v in single["statuses"].items()},
                "latency_from_schedule": lat,
                "service_time": common.summary(single["service"]),
                "server_cpu_ms_per_request": round(
                    1000 * (server.cpu_seconds() - cpu0) / max(1, single["requests"]), 2
                ),
            }

        quiet_jobs, after_jobs = single_posts("single"), single_posts("after-burst")
        with common.Server(home, threads=args.threads) as server:
            common.log(f"single, on a quiet server: {args.rate}/s for {args.seconds} s ...")
            single = single_phase(server, quiet_jobs)
            common.log(f"batched: {args.clients} clients x batches of {args.batch} ...")
            cpu0 = server.cpu_seconds()
            busy0, clients0 = machine_busy_cpu(), children_cpu()
            batched = common.closed_loop(
                server.port,
                jobs,
                max_seconds=args.seconds,
                warmup=0,
                check_body=lambda raw: json.loads(raw).get("accepted") == args.batch,
            )
            sent_batches = batched["requests"]
            ok_batches = batched["statuses"].get(200, 0)
            events_acked = (ok_batches - batched["bad_bodies"]) * args.batch
            rate = events_acked / batched["elapsed"]
            cpu1 = server.cpu_seconds()
            busy1, clients1 = machine_busy_cpu(), children_cpu()
            common.log(f"  {rate:.0f} events/s, statuses {batched['statuses']}")
            common.log(f"single, right after the batched phase: {args.rate}/s ...")
            after_burst = single_phase(server, after_jobs)
            result["server_memory_mib"] = server.memory()
        stored = stored_counts(home, batch_users + single_users)

    stored_batch = sum(stored[u] for u in batch_users)
    stored_single = sum(stored[u] for u in single_users)
    acked_single = single["statuses"].get("200", 0) + after_burst["statuses"].get("200", 0)
    result["batched"] = {
        "clients": args.clients,
        "batch_size": args.batch,
        "batches_sent": sent_batches,
        "statuses": {str(k): v for k, v in batched["statuses"].items()},
        "batches_not_fully_accepted": batched["bad_bodies"],
        "events_acknowledged": events_acked,
        "events_stored": stored_batch,
        "lost": max(0, events_acked - stored_batch),
        "seconds": round(batched["elapsed"], 2),
        "events_per_second": round(rate, 1),
        "batch_latency": common.summary(batched["latencies"]),
        "server_cpu_us_per_event": round(
            1e6 * (cpu1 - cpu0) / max(1, sent_batches * args.batch), 1
        ),
        "client_cpu_us_per_event": round(
            1e6 * (clients1 - clients0) / max(1, sent_batches * args.batch), 1
        ),
        # On a shared machine the figures above move with what else runs: CPU cores busy
        # during the phase, and how many of them went to neither the server nor the clients.
        "cores_busy": round((busy1 - busy0) / batched["elapsed"], 2),
        "cores_used_by_others": round(
            ((busy1 - busy0) - (cpu1 - cpu0) - (clients1 - clients0)) / batched["elapsed"],
            2,
        ),
        "budget": common.verdict(rate, EVENTS_PER_SECOND_BUDGET, lower_is_better=False)
        | {"none_lost": stored_batch >= events_acked},
    }
    p99 = single["latency_from_schedule"].get("p99_ms", float("nan"))
    result["single"] = single | {
        "budget": common.verdict(p99, SINGLE_P99_BUDGET_MS),
    }
    result["single_after_burst"] = after_burst
    result["single_events_stored"] = stored_single  # both single phases
    result["single_lost"] = max(0, acked_single - stored_single)
    common.emit(result)


if __name__ == "__main__":
    main()
