"""Full retrain (`nextpaper train`: SQLite events -> published model) against a bare ALS fit.

Budget: the full retrain takes at most 1.5x a bare ``implicit`` ALS fit (64 factors,
15 iterations, CPU, one BLAS thread as the project trains) on the same matrix, measured in the
same run. Steps:

1. the scale's dataset is generated and imported into a cached home (``bench/common.py``);
2. reference: in a child process, the confidence matrix is read from the database exactly as
   training reads it, then only ``AlternatingLeastSquares.fit`` is timed;
3. ``nextpaper --home HOME train --quiet`` as a child process ("training"): wall time and
   peak RSS. It starts from whatever the home holds; after a fresh import, or when the
   previous model or the kept events predate this code, it reads every event and fits ALS
   from scratch;
4. new events arrive: 1% of the stored count, from new users reading papers drawn from the
   stored events (so popular papers come up as often as they do there);
5. ``nextpaper train`` again ("retrain", the budgeted figure): it reads only the new events
   and continues ALS from the previous model (server/jobs/training.py, recommender/hybrid.py);
6. the new users' events are erased again, so the home's dataset stays the same.

Each run's breakdown comes from what it published: the release's reading time and the
model's own stage timings (text, neighbours, EASE, ALS, ALS index); "save" is the rest.

    .venv/bin/python bench/train.py --scale small      # ~1 min after the first preparation
    .venv/bin/python bench/train.py --scale large      # ~5 min (import once: ~45 min more)

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import common

BUDGET_RATIO = 1.5


def _read_matrix(home: Path):
    from recommender import build_interactions
    from server.store import storage
    from server.store.db import open_database

    db = open_database(home / "nextpaper.db")
    try:
        ids = [row[0] for row in storage.iter_catalog(db)]
        inter = build_interactions(storage.iter_interactions(db), paper_ids=ids)
    finally:
        db.close()
    return inter


def reference_fit(home: Path) -> dict:
    """Child-process body: bare implicit ALS on the training matrix."""
    import numpy as np
    import scipy.sparse as sp
    from implicit.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    inter = _read_matrix(home)
    x = sp.csr_matrix(inter.matrix, dtype=np.float32)
    read_s = time.perf_counter() - t0
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=64,
            iterations=15,
            regularization=0.05,
            alpha=2.0,
            random_state=0,
            use_gpu=False,
        )
        t1 = time.perf_counter()
        model.fit(x, show_progress=False)
        fit_s = time.perf_counter() - t1
    return {
        "matrix_shape": list(x.shape),
        "matrix_nnz": int(x.nnz),
        "read_matrix_seconds": round(read_s, 3),
        "als_fit_seconds": round(fit_s, 3),
    }


def child(home: Path) -> dict:
    """The reference fit in a fresh interpreter; peak RSS included."""
    out = common.time_and_rss(
        [sys.executable, str(Path(__file__).resolve()), "--_child=reference", str(home)]
    )
    body = json.loads(out["stdout_tail"][-1])
    body["process_seconds"] = out["seconds"]
    body["peak_rss_mib"] = out["peak_rss_mib"]
    return body


def train(home: Path) -> dict:
    """``nextpaper train`` in a child process, with the breakdown of what it published."""
    run = common.time_and_rss([*common.nextpaper_cmd(), "--home", str(home), "train", "--quiet"])
    folder = home / "models" / (home / "models" / "CURRENT").read_text().strip()
    release = json.loads((folder / "release.json").read_text())
    manifest = json.loads((folder / "manifest.json").read_text())
    stages = {"read_catalog_and_events": release["read_seconds"], **manifest["fit_timings"]}
    # the release's fit_seconds end where saving starts; the rest of the run is the
    # interpreter's start, imports, saving and publishing
    stages["fit_other"] = round(release["fit_seconds"] - sum(stages.values()), 3)
    stages["start_save_and_publish"] = round(run["seconds"] - release["fit_seconds"], 3)
    return {
        "seconds": run["seconds"],
        "peak_rss_mib": run["peak_rss_mib"],
        "cpu_user_seconds": run["user_cpu_seconds"],
        "als_warm_start": manifest.get("als_warm_start", False),
        "stages_seconds": stages,
    }


def add_new_events(home: Path, share: float, seed: int = 0) -> tuple[list[str], int]:
    """``share`` of the stored event count as opens by new users (50 each) of papers drawn
    from the stored events; returns (the new users, the events added)."""
    import random

    from server.store import storage
    from server.store.db import open_database

    db = open_database(home / "nextpaper.db")
    try:
        total = storage.last_event_seq(db)
        count = max(50, int(share * storage.count_events(db)))
        rng = random.Random(seed)
        papers: list[str] = []
        while len(papers) < count:  # erased events leave gaps in the numbers
            row = db.execute(
                "SELECT paper_id FROM events WHERE seq = ?", [rng.randint(1, total)]
            ).fetchone()
            if row:
                papers.append(row[0])
        users = [f"bench-retrain-{i}" for i in range((len(papers) + 49) // 50)]
        stamp = "2026-11-29T12:00:00Z"
        rows = [
            {
                "user_id": users[i // 50],
                "event_id": f"bench-retrain-{i}",
                "type": "open",
                "ts": stamp,
                "paper_id": paper,
                "dwell_ms": None,
            }
            for i, paper in enumerate(papers)
        ]
        added = storage.import_events(db, rows)
    finally:
        db.close()
    return users, added


def erase(home: Path, users: list[str]) -> None:
    from server.store import storage
    from server.store.db import open_database

    db = open_database(home / "nextpaper.db")
    try:
        for user in users:
            storage.delete_history(db, user)
    finally:
        db.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.common_args(ap)
    ap.add_argument("--new-events", type=float, default=0.01, help="share added before the retrain")
    ap.add_argument("--_child", help=argparse.SUPPRESS)
    ap.add_argument("home", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        print(json.dumps(reference_fit(args.home)))
        return

    home, prep = common.prepared_home(args.scale, train=False)
    common.log("reference: bare implicit ALS fit ...")
    ref = child(home)
    common.log(f"reference ALS fit {ref['als_fit_seconds']} s; nextpaper train ...")
    first = train(home)
    common.log(f"  {first}")
    users, added = add_new_events(home, args.new_events)
    common.log(f"{added} new events from {len(users)} new users; nextpaper train again ...")
    try:
        again = train(home)
    finally:
        erase(home, users)
    common.log(f"  {again}")
    # the published model now serves the other benchmarks (no second training for them)
    info_path = home / "bench-prepare.json"
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    info["train"] = {**again, "code": common.code_fingerprint()}
    info_path.write_text(json.dumps(info, indent=2))
    bare = ref["als_fit_seconds"]
    result = {
        "benchmark": "train",
        "scale": args.scale,
        "machine": common.machine(),
        "command": f"nextpaper --home HOME train --quiet (HOME = bench/results/home-{args.scale})",
        "matrix": {"shape": ref["matrix_shape"], "nnz": ref["matrix_nnz"]},
        "reference_bare_als_fit_seconds": bare,
        "reference_peak_rss_mib": ref["peak_rss_mib"],
        "training": {**first, "ratio_to_bare_als": round(first["seconds"] / bare, 3)},
        "retrain": {
            **again,
            "new_events": added,
            "new_users": len(users),
            "ratio_to_bare_als": round(again["seconds"] / bare, 3),
        },
        "budget": {
            "what": f"retrain (nextpaper train) <= {BUDGET_RATIO} x bare ALS fit",
            **common.verdict(again["seconds"] / bare, BUDGET_RATIO),
            "allowed_seconds": round(BUDGET_RATIO * bare, 3),
        },
    }
    if "events_import" in prep:
        result["preparation"] = {
            k: {"seconds": v["seconds"], "peak_rss_mib": v["peak_rss_mib"]}
            for k, v in prep.items()
            if isinstance(v, dict) and "seconds" in v
        }
    common.emit(result)


if __name__ == "__main__":
    main()
