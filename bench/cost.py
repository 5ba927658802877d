"""What an answer costs, against references measured in the same run (the scoring issue's budgets).

Two parts, each a ratio so that the machine's drift between hours cancels out:

* ``http`` (one client, a real ``nextpaper serve``): the app's own time per request, from its
  ``Server-Timing`` header, for a first recommendation (every request a user not asked for
  before), similar papers (every paper new) and, as the reference, ``GET /api/v1/papers/<id>``
  (a token check and one row). The three are sent in turn, request after request, so drift
  touches all three alike. Budgets: recommendation p50 <= 4x the paper read, similar <= 3x.
* ``in_process`` (no HTTP, one thread, one BLAS thread): the serving object's first
  recommendation (nothing kept from earlier calls), a ``since=`` answer, and, as the
  reference, a brute-force scan of the model's ALS item factors with a top-20 (on large scale
  500k x 64 float32), measured in rounds of blocks of each; with the overlap of each served
  top-20 with the top-20 over every paper, each scored against the whole text profile (no
  postings budget).
  Budgets: p50 <= 0.15x and p99 <= 0.4x the scan's p50 at >= 95% overlap; a ``since=``
  answer's p50 <= 2x a plain one. Also reported, as a figure: the *storage floor*, what a
  first recommendation reads and writes whatever its scoring costs (the reader's history,
  the rows of the papers it answers and of those its reasons cite, the items' JSON), timed
  after the answers in each round (so with those rows freshly read: a low estimate).

    .venv/bin/python bench/cost.py --dataset ../shared/data/citeulike-t --part http
    .venv/bin/python bench/cost.py --scale large --part in_process

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import http.client
import json
import time
from pathlib import Path
from urllib.parse import quote

import common
import numpy as np

HTTP_BUDGETS = {"recommendation_vs_paper": 4.0, "similar_vs_paper": 3.0}
SCAN_BUDGETS = {"p50": 0.15, "p99": 0.4}
SINCE_BUDGET = 2.0
OVERLAP_BUDGET = 0.95


def _server_ms(conn: http.client.HTTPConnection, path: str, token: str) -> float:
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200 or not body:
        raise RuntimeError(f"GET {path} answered {resp.status}")
    return float(resp.getheader("Server-Timing").partition(";dur=")[2])


def _ms(values: list[float]) -> dict[str, float]:
    return common.summary([v / 1000 for v in values])


def http_part(home: Path, count: int) -> dict:
    users = common.sample_users(home, count, seed=1)
    papers = common.sample_papers(home, count, seed=2)
    tokens = common.issue_tokens(home, users)
    times: dict[str, list[float]] = {"recommendation": [], "similar": [], "paper": []}
    with common.Server(home, require_model=True) as server:
        conn = http.client.HTTPConnection(common.HOST, server.port, timeout=60)
        warm = tokens[users[0]]
        for path in ("/api/v1/health", f"/api/v1/papers/{quote(papers[0], safe='')}"):
            _server_ms(conn, path, warm)
        for user, paper in zip(users, papers, strict=False):
            token = tokens[user]
            pid = quote(paper, safe="")
            times["paper"].append(_server_ms(conn, f"/api/v1/papers/{pid}", token))
            times["recommendation"].append(_server_ms(conn, "/api/v1/recommendations?n=20", token))
            times["similar"].append(_server_ms(conn, f"/api/v1/papers/{pid}/similar?n=10", token))
        conn.close()
    p50 = {name: float(np.median(v)) for name, v in times.items()}
    ratios = {
        "recommendation_vs_paper": p50["recommendation"] / p50["paper"],
        "similar_vs_paper": p50["similar"] / p50["paper"],
    }
    return {
        "server_time": {name: _ms(v) for name, v in times.items()},
        "ratios_of_p50": {k: round(v, 2) for k, v in ratios.items()},
        "budget": {k: common.verdict(ratios[k], b) for k, b in HTTP_BUDGETS.items()},
    }


def _answered_ids(answer: dict) -> list[str]:
    """The papers an answer holds and those its reasons cite, as the serving object reads them."""
    from server.serving.reasons import cited_papers

    ids = [item["paper"]["id"] for item in answer["items"]]
    for item in answer["items"]:
        ids += cited_papers(item["reasons"])
    return ids


def in_process_part(home: Path, count: int, since: str) -> dict:
    from server.serving.runtime import limit_blas_threads
    from server.serving.service import Serving
    from server.store import storage
    from server.store.db import connect

    serving = Serving(home / "models")
    loaded = serving.current()
    limit_blas_threads()
    if loaded is None:
        raise SystemExit("the published model did not load (see the log above)")
    model = loaded.model
    db = connect(home / "nextpaper.db")
    users = common.sample_users(home, count, seed=1)
    factors = np.ascontiguousarray(model.als.item_factors, np.float32)
    rng = np.random.default_rng(0)

    def scan() -> None:
        scores = factors @ rng.standard_normal(factors.shape[1]).astype(np.float32)
        top = np.argpartition(-scores, 19)[:20]
        top[np.argsort(-scores[top])]

    def first(user: str, day: str | None) -> None:
        serving.answers.clear()
        serving.recommendations(db, user, n=20, since=day)

    for user in users[:3]:  # first calls build caches
        first(user, None)
        first(user, since)
        scan()
    answered = {user: _answered_ids(serving.recommendations(db, user, n=20)) for user in users}

    def floor(user: str) -> None:
        storage.user_history(db, user)
        papers = storage.get_papers(db, answered[user])
        json.dumps([papers.get(paper_id) for paper_id in answered[user]])

    times: dict[str, list[float]] = {"recommendation": [], "since": [], "scan": [], "floor": []}
    # in rounds of blocks: drift touches all three alike, and a call does not pay for the CPU
    # caches that a 128 MB scan just before it flushed
    block = 25
    for start in range(0, len(users), block):
        for name, call in (
            ("scan", lambda _u: scan()),
            ("recommendation", lambda u: first(u, None)),
            ("since", lambda u: first(u, since)),
            ("floor", floor),
        ):
            for user in users[start : start + block]:
                t = time.perf_counter()
                call(user)
                times[name].append(time.perf_counter() - t)
    histories = [storage.user_history(db, user) for user in users]
    overlaps = {
        name: common.overlaps(*common.served_and_exact(model, histories, since=day)[:2])
        for name, day in (("plain", None), ("since", since))
    }
    db.close()
    stats = {name: common.summary(v) for name, v in times.items()}
    scan_p50 = stats["scan"]["p50_ms"]
    rec = stats["recommendation"]
    ratios = {
        "p50": rec["p50_ms"] / scan_p50,
        "p99": rec["p99_ms"] / scan_p50,
        "since_p50_vs_plain_p50": stats["since"]["p50_ms"] / rec["p50_ms"],
        "storage_floor_p50": stats["floor"]["p50_ms"] / scan_p50,
    }
    overlap = float(np.mean(overlaps["plain"])) if overlaps["plain"] else 0.0
    return {
        "model": loaded.summary(),
        "scan_shape": list(factors.shape),
        "since": since,
        "wall_time": stats,
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        "overlap_with_every_paper": {
            name: {
                "mean": round(float(np.mean(v)), 4) if v else None,
                "users_at_0.95_or_more": round(float(np.mean(np.asarray(v) >= 0.95)), 4)
                if v
                else None,
            }
            for name, v in overlaps.items()
        },
        "budget": {
            **{
                f"recommendation_{k}_vs_scan": common.verdict(ratios[k], b)
                for k, b in SCAN_BUDGETS.items()
            },
            "since_vs_plain": common.verdict(ratios["since_p50_vs_plain_p50"], SINCE_BUDGET),
            "overlap": common.verdict(overlap, OVERLAP_BUDGET, lower_is_better=False),
            "overlap_since": common.verdict(
                float(np.mean(overlaps["since"])) if overlaps["since"] else 0.0,
                OVERLAP_BUDGET,
                lower_is_better=False,
            ),
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.common_args(ap)
    ap.add_argument("--dataset", type=Path, help="a dataset directory instead of a scale")
    ap.add_argument("--part", choices=("http", "in_process", "both"), default="both")
    ap.add_argument("--count", type=int, default=300, help="users (and papers) asked about")
    ap.add_argument("--since", default="2025-07-01", help="date for the since= answers")
    args = ap.parse_args()
    home, _ = common.prepared_home(args.scale, data=args.dataset)
    result = {
        "benchmark": "cost",
        "data": args.dataset.resolve().name if args.dataset else args.scale,
        "machine": common.machine(),
    }
    if args.part in ("http", "both"):
        result["http"] = http_part(home, args.count)
    if args.part in ("in_process", "both"):
        result["in_process"] = in_process_part(home, args.count, args.since)
    common.emit(result)


if __name__ == "__main__":
    main()
