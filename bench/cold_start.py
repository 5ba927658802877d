"""Serving before the first model: recommendations and similar papers on a freshly imported
history (the state right after ``nextpaper events import``, before ``nextpaper train``).

DESIGN.md: recommendations and similar papers work from the first request, before any model
was trained (popular and fresh papers; text similarity). This copies the scale's prepared
database *without* its models, starts ``nextpaper serve --no-retrain`` and times a few requests
of each kind (bounded: ``--requests`` each, 120 s timeout per request).

    .venv/bin/python bench/cold_start.py --scale small     # ~1-3 min

Prints one JSON object (latencies as figures; see serve.py).
"""

from __future__ import annotations

import argparse
import shutil
import time
import urllib.parse

import common


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.common_args(ap)
    ap.add_argument("--requests", type=int, default=5)
    args = ap.parse_args()
    source, _ = common.prepared_home(args.scale, train=False)
    users = common.sample_users(source, args.requests, seed=5)
    papers = common.sample_papers(source, args.requests, seed=5)
    result = {
        "benchmark": "cold_start",
        "scale": args.scale,
        "machine": common.machine(),
        "command": f"bench/cold_start.py --scale {args.scale} (database copied without models/)",
    }
    with common.tmp_dir("cold-") as tmp:
        home = tmp / "home"
        home.mkdir()
        for name in ("nextpaper.db", "nextpaper.db-wal"):
            if (source / name).exists():
                shutil.copy2(source / name, home / name)
        tokens = common.issue_tokens(home, users)
        routes = {
            "recommendations": [("/api/v1/recommendations?n=20", tokens[u]) for u in users],
            "recommendations_since": [
                ("/api/v1/recommendations?n=20&since=2025-07-01", tokens[u]) for u in users
            ],
            "similar": [
                (f"/api/v1/papers/{urllib.parse.quote(p, safe='')}/similar?n=10", tokens[users[0]])
                for p in papers
            ],
        }
        with common.Server(home) as server:
            result["model"] = server.health.get("model")
            for name, reqs in routes.items():
                times, statuses = [], {}
                for path, token in reqs:
                    t = time.perf_counter()
                    status, _ = common.request(server.port, "GET", path, token=token, timeout=120)
                    times.append(time.perf_counter() - t)
                    statuses[str(status)] = statuses.get(str(status), 0) + 1
                stats = common.summary(times)
                stats["statuses"] = statuses
                result[name] = stats
                common.log(f"{name}: {stats}")
    common.emit(result)


if __name__ == "__main__":
    main()
