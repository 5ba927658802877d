"""Full retrain (`nextpaper train`: SQLite events -> published model) against a bare ALS fit.

Budget: the full retrain takes at most 1.5x a bare ``implicit`` ALS fit (64 factors,
15 iterations, CPU, one BLAS thread as the project trains) on the same matrix, measured in the
same run. Steps:

1. the scale's dataset is generated and imported into a cached home (``bench/common.py``);
2. reference: in a child process, the confidence matrix is read from the database exactly as
   training reads it, then only ``AlternatingLeastSquares.fit`` is timed;
3. ``nextpaper --home HOME train --quiet`` as a child process: wall time and peak RSS;
4. (``--breakdown``, default on) the same ``server.training.train_and_publish`` in a child
   process with timers wrapped around its stages (catalog + interactions read, text fit,
   item neighbours, ALS, publish) to show where the time goes.

    .venv/bin/python bench/train.py --scale small      # ~1 min after the first preparation
    .venv/bin/python bench/train.py --scale large      # ~10 min (import once: ~15 min more)

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
    from server import storage
    from server.db import open_database

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


def breakdown(home: Path) -> dict:
    """Child-process body: train_and_publish with timers around its stages."""
    import recommender
    import recommender.hybrid as hybrid
    from server import storage
    from server.db import open_database
    from server.models import ModelStore
    from server.training import train_and_publish

    times: dict[str, float] = {}

    def timed(name, fn):
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                times[name] = times.get(name, 0.0) + time.perf_counter() - t

        return wrapper

    def timed_iter(name, fn):
        def wrapper(*a, **k):
            t = time.perf_counter()
            for row in fn(*a, **k):
                times[name] = times.get(name, 0.0) + time.perf_counter() - t
                yield row
                t = time.perf_counter()
            times[name] = times.get(name, 0.0) + time.perf_counter() - t

        return wrapper

    storage.iter_catalog = timed_iter("read_catalog_sql", storage.iter_catalog)
    recommender.build_interactions = timed(
        "read_events_and_build_matrix", recommender.build_interactions
    )
    hybrid.TextModel.fit = timed("text_tfidf_fit", hybrid.TextModel.fit)
    hybrid.item_neighbours = timed("item_neighbours_rp3beta", hybrid.item_neighbours)
    hybrid.ALSModel.fit = timed("als_fit", hybrid.ALSModel.fit)
    hybrid.HybridRecommender.fit = timed("hybrid_fit_total", hybrid.HybridRecommender.fit)
    ModelStore.publish = timed("save_and_publish", ModelStore.publish)
    db = open_database(home / "nextpaper.db")
    t = time.perf_counter()
    try:
        result = train_and_publish(db, ModelStore(home / "models"))
    finally:
        db.close()
    total = time.perf_counter() - t
    stages = {k: round(v, 3) for k, v in times.items()}
    hybrid_rest = times.get("hybrid_fit_total", 0) - sum(
        times.get(k, 0) for k in ("text_tfidf_fit", "item_neighbours_rp3beta", "als_fit")
    )
    stages["hybrid_fit_other"] = round(hybrid_rest, 3)
    stages["total"] = round(total, 3)
    return {"stages_seconds": stages, "version": result["version"]}


def child(kind: str, home: Path) -> dict:
    """Run ``kind`` (reference or breakdown) in a fresh interpreter; peak RSS included."""
    out = common.time_and_rss(
        [sys.executable, str(Path(__file__).resolve()), f"--_child={kind}", str(home)]
    )
    body = json.loads(out["stdout_tail"][-1])
    body["process_seconds"] = out["seconds"]
    body["peak_rss_mib"] = out["peak_rss_mib"]
    return body


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.common_args(ap)
    ap.add_argument("--no-breakdown", action="store_true")
    ap.add_argument("--_child", help=argparse.SUPPRESS)
    ap.add_argument("home", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        fn = reference_fit if args._child == "reference" else breakdown
        print(json.dumps(fn(args.home)))
        return

    home, prep = common.prepared_home(args.scale, train=False)
    common.log("reference: bare implicit ALS fit ...")
    ref = child("reference", home)
    common.log(f"reference ALS fit {ref['als_fit_seconds']} s; nextpaper train ...")
    train = common.time_and_rss([*common.nextpaper_cmd(), "--home", str(home), "train", "--quiet"])
    # the published model now serves the other benchmarks (no second training for them)
    info_path = home / "bench-prepare.json"
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    info["train"] = {**train, "code": common.code_fingerprint()}
    info_path.write_text(json.dumps(info, indent=2))
    result = {
        "benchmark": "train",
        "scale": args.scale,
        "machine": common.machine(),
        "command": f"nextpaper --home HOME train --quiet (HOME = bench/results/home-{args.scale})",
        "matrix": {"shape": ref["matrix_shape"], "nnz": ref["matrix_nnz"]},
        "reference_bare_als_fit_seconds": ref["als_fit_seconds"],
        "reference_peak_rss_mib": ref["peak_rss_mib"],
        "train_seconds": train["seconds"],
        "train_peak_rss_mib": train["peak_rss_mib"],
        "train_cpu_user_seconds": train["user_cpu_seconds"],
        "ratio_train_to_bare_als": round(train["seconds"] / ref["als_fit_seconds"], 3),
        "budget": {
            "what": f"nextpaper train <= {BUDGET_RATIO} x bare ALS fit",
            **common.verdict(train["seconds"] / ref["als_fit_seconds"], BUDGET_RATIO),
            "allowed_seconds": round(BUDGET_RATIO * ref["als_fit_seconds"], 3),
        },
    }
    if not args.no_breakdown:
        common.log("breakdown of train_and_publish ...")
        result["breakdown"] = child("breakdown", home)
    if "events_import" in prep:
        result["preparation"] = {
            k: {"seconds": v["seconds"], "peak_rss_mib": v["peak_rss_mib"]}
            for k, v in prep.items()
            if isinstance(v, dict) and "seconds" in v
        }
    common.emit(result)


if __name__ == "__main__":
    main()
