"""Fit the hybrid on a dataset and time recommend()/similar() per request, one BLAS thread.

    .venv/bin/python bench/recommender_latency.py [DATASET] [--users 300]

Prints one JSON object: fit seconds, save/load seconds, p50/p99 latencies in ms.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from recommender import HybridRecommender, load_dataset

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset", nargs="?", default="citeulike-t")
    ap.add_argument("--users", type=int, default=300)
    args = ap.parse_args()
    ds = load_dataset(DATA / args.dataset)
    t0 = time.perf_counter()
    model = HybridRecommender().fit(ds.interactions, ds.texts, ds.published)
    fit_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        model.save(tmp)
        save_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        model = HybridRecommender.load(tmp)
        load_s = time.perf_counter() - t0
        m = ds.interactions.matrix
        rng = np.random.default_rng(0)
        users = rng.choice(m.shape[0], size=min(args.users, m.shape[0]), replace=False)
        rec_ms, sim_ms, hist_len = [], [], []
        with threadpool_limits(1, "blas"):
            model.recommend([(ds.paper_ids[0], "open", None)])  # warm caches
            for u in users:
                hist = [(ds.paper_ids[j], "open", None) for j in m[u].indices]
                hist_len.append(len(hist))
                t0 = time.perf_counter()
                model.recommend(hist, n=20)
                rec_ms.append((time.perf_counter() - t0) * 1e3)
                t0 = time.perf_counter()
                model.similar(hist[0][0], n=10)
                sim_ms.append((time.perf_counter() - t0) * 1e3)
    print(
        json.dumps(
            {
                "dataset": args.dataset,
                "papers": model.n_papers,
                "users": model.n_users,
                "fit_seconds": round(fit_s, 2),
                "save_seconds": round(save_s, 3),
                "load_seconds": round(load_s, 3),
                "median_history": float(np.median(hist_len)),
                "recommend_ms_p50": round(float(np.percentile(rec_ms, 50)), 2),
                "recommend_ms_p99": round(float(np.percentile(rec_ms, 99)), 2),
                "similar_ms_p50": round(float(np.percentile(sim_ms, 50)), 2),
                "similar_ms_p99": round(float(np.percentile(sim_ms, 99)), 2),
            }
        )
    )


if __name__ == "__main__":
    main()
