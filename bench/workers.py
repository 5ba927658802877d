"""Several server processes: first recommendations a second with 1 and 2 workers, and memory.

The scale-out issue's budgets, measured in one run on the scale's prepared home: ``nextpaper
serve`` (one process, waitress) and ``nextpaper serve --workers 2`` (gunicorn's arbiter and two
workers), started in turn, ``--rounds`` times each, alternating so that the machine's drift
touches both alike. Each gets the same load: 4 clients from ``wrk`` (a load generator in C:
Python clients would take more of the two cores the server needs), back to back, every request
a first recommendation (``GET /api/v1/recommendations?n=20`` for a user not asked before), each
on a new connection (``Connection: close``), so that the kernel spreads connections, and so
requests, over the workers. After the load, the server's memory: the proportional set size
(PSS) summed over its processes, each page shared by them (the memory-mapped model) counted
once in all. The served model's files are read once first, so that the first server started
does not pay alone for reading them from disk.

Budgets: 2 workers answer >= 1.5x the first recommendations a second of 1 (one process uses
about 1.15 cores of this machine's 2, so about 1.7x is the ceiling here); with 2 workers at
large scale the server's PSS <= 2.5 GB (2,560 MiB).

    .venv/bin/python bench/workers.py --scale large

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import shutil

import common
import numpy as np

RATIO_BUDGET = 1.5
PSS_BUDGET_MIB = 2560.0
CLIENTS = 4


def run_once(home, workers: int, users: list[str], tokens: dict[str, str], max_seconds: float):
    """One server with ``workers`` processes under the load; its figures."""
    jobs = [("GET", "/api/v1/recommendations?n=20", tokens[u], None) for u in users]
    per_client = [jobs[c::CLIENTS] for c in range(CLIENTS)]
    with common.Server(home, workers=workers, require_model=True) as server:
        start_s = server.start_seconds
        for _ in range(4 * workers):  # every worker has loaded its model and warmed its paths
            common.request(server.port, "GET", "/api/v1/health")
        cpu0 = server.cpu_seconds()
        run = common.wrk_closed_loop(
            server.port,
            per_client,
            max_seconds=max_seconds,
            needle='"items":[{',
            new_connections=True,
        )
        cpu = server.cpu_seconds() - cpu0
        pss = common.pss_mib(server.pid)
        processes = len(common.process_tree(server.pid))
    requests = run["requests"]
    return {
        "workers": workers,
        "processes": processes,
        "start_seconds": round(start_s, 1),
        "requests": requests,
        "answers_per_second": round(requests / run["elapsed"], 1),
        "p50_ms": run["summary"]["p50_ms"],
        "p99_ms": run["summary"]["p99_ms"],
        "statuses": {str(k): v for k, v in run["statuses"].items()},
        "bad_bodies": run["bad_bodies"],
        "server_cpu_ms_per_request": round(1000 * cpu / max(1, requests), 2),
        "server_cores_used": round(cpu / run["elapsed"], 2),
        "pss_mib": pss,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.common_args(ap)
    ap.add_argument("--rounds", type=int, default=3, help="servers of each kind, alternating")
    ap.add_argument("--requests", type=int, default=800, help="first recommendations per server")
    ap.add_argument("--max-seconds", type=float, default=60)
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        ap.error("this benchmark needs the wrk program (Debian package 'wrk')")
    home, _ = common.prepared_home(args.scale)
    # the served model's files read once, so that the first server does not pay for the disk
    current = (home / "models" / "CURRENT").read_text().strip()
    for path in sorted((home / "models" / current).rglob("*")):
        if path.is_file():
            common.read_into_page_cache(path)
    runs = 2 * args.rounds
    users = common.sample_users(home, runs * args.requests, seed=21)
    tokens = common.issue_tokens(home, users)
    results: dict[int, list[dict]] = {1: [], 2: []}
    for i in range(runs):
        workers = 1 if i % 2 == 0 else 2
        mine = users[i * args.requests : (i + 1) * args.requests]
        common.log(f"{workers} worker(s), round {i // 2 + 1} ...")
        figures = run_once(home, workers, mine, tokens, args.max_seconds)
        common.log(f"  {figures}")
        results[workers].append(figures)
    rate = {w: float(np.median([r["answers_per_second"] for r in rs])) for w, rs in results.items()}
    ratio = rate[2] / rate[1]
    pss_two = max(r["pss_mib"] for r in results[2])
    common.emit(
        {
            "benchmark": "workers",
            "scale": args.scale,
            "machine": common.machine(),
            "code": common.code_version(),
            "command": f"bench/workers.py --scale {args.scale}: {CLIENTS} wrk clients, first "
            "recommendations, a new connection per request, NEXTPAPER_RATE_LIMIT_PER_SECOND=0",
            "runs": results,
            "answers_per_second_median": {f"{w}_workers": r for w, r in rate.items()},
            "two_vs_one": round(ratio, 2),
            "pss_mib_two_workers_max": pss_two,
            "budget": {
                "two_workers_vs_one": common.verdict(ratio, RATIO_BUDGET, lower_is_better=False),
                "pss_two_workers_mib": common.verdict(pss_two, PSS_BUDGET_MIB),
            },
        }
    )


if __name__ == "__main__":
    main()
