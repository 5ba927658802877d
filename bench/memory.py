"""Server memory with the model loaded: RSS of ``nextpaper serve`` after warm-up.

Starts ``nextpaper serve --no-retrain`` over the scale's prepared home (model trained by the
real CLI), records RSS right after start (the model is loaded before the server answers),
then after ``--requests`` recommendation, similar-paper and ``since=`` recommendation requests
per client from 4 clients (first calls build caches), and the peak (VmHWM). Also reports the
published model's size on disk, how much of it the server maps and has resident, and the RSS
it would reach once requests had touched every mapped page (a long-running server's ceiling,
but for its bounded caches).

Budget: <= 2 GB (2048 MiB) RSS at large scale.

    .venv/bin/python bench/memory.py --scale small     # ~1 min after preparation
    .venv/bin/python bench/memory.py --scale large

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import urllib.parse

import common

BUDGET_MIB = 2048.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.common_args(ap)
    ap.add_argument("--requests", type=int, default=100, help="per client per route")
    ap.add_argument("--since", default="2025-07-01", help="date for the since= requests")
    args = ap.parse_args()
    home, _ = common.prepared_home(args.scale)
    users = common.sample_users(home, 100, seed=4)
    tokens = common.issue_tokens(home, users)
    papers = common.sample_papers(home, 100, seed=4)
    current = (home / "models" / "CURRENT").read_text().strip()
    folder = home / "models" / current
    model_files = {p.name: round(p.stat().st_size / 2**20, 1) for p in sorted(folder.iterdir())}
    with common.Server(home, require_model=True) as server:
        at_start = server.memory()
        rec = [("GET", "/api/v1/recommendations?n=20", tokens[u], None) for u in users]
        sim = [
            (
                "GET",
                f"/api/v1/papers/{urllib.parse.quote(p, safe='')}/similar?n=10",
                tokens[users[0]],
                None,
            )
            for p in papers
        ]
        since = [  # the costliest request for the heap: candidates from a date's papers
            ("GET", f"/api/v1/recommendations?n=20&since={args.since}", tokens[u], None)
            for u in users
        ]
        jobs = rec + sim + since
        per_client = 3 * args.requests
        lists = [[jobs[(c + 4 * i) % len(jobs)] for i in range(per_client)] for c in range(4)]
        run = common.closed_loop(server.port, lists, max_seconds=120, warmup=0)
        after = server.memory()
        model_pages = common.mapped_from(server.pid, folder)
    common.emit(
        {
            "benchmark": "memory",
            "scale": args.scale,
            "machine": common.machine(),
            "command": f"bench/memory.py --scale {args.scale} (nextpaper serve --no-retrain)",
            "model": server.health.get("model"),
            "model_files_mib": model_files,
            "model_on_disk_mib": round(sum(model_files.values()), 1),
            "rss_at_start_mib": at_start.get("VmRSS"),
            "rss_after_requests_mib": after.get("VmRSS"),
            "peak_rss_mib": after.get("VmHWM"),
            "after_requests_anon_mib": after.get("RssAnon"),
            "after_requests_file_backed_mib": after.get("RssFile"),
            "model_mapped_mib": model_pages["mapped_mib"],
            "model_mapped_resident_mib": model_pages["resident_mib"],
            # what RSS would be once requests had touched every page of the mapped model
            "rss_with_whole_model_resident_mib": round(
                after.get("VmRSS", 0) - model_pages["resident_mib"] + model_pages["mapped_mib"], 1
            ),
            "warmup_requests": run["requests"],
            "warmup_statuses": {str(k): v for k, v in run["statuses"].items()},
            "budget": common.verdict(after.get("VmHWM", 0), BUDGET_MIB)
            | {"what": "peak RSS of the server process, MiB"},
        }
    )


if __name__ == "__main__":
    main()
