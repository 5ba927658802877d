"""Synthetic scale check: fit time per component, model size, load time and request
latency of the hybrid at N papers x U users x E events (power-law, topic-clustered).

    .venv/bin/python bench/recommender_scale.py --papers 500000 --users 100000 --events 5000000

Also fits a bare ALS (64 factors x 15 iterations) for the training-time ratio.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from recommender import HybridRecommender, build_interactions
from recommender.collaborative import ALSModel


def synthetic(n_papers: int, n_users: int, n_events: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    n_topics = 50
    vocab_per_topic = 400
    paper_topic = rng.integers(n_topics, size=n_papers)
    words = rng.integers(vocab_per_topic, size=(n_papers, 40))
    generic = rng.integers(2000, size=(n_papers, 20))
    texts = [
        " ".join(f"t{paper_topic[i]}w{w}" for w in words[i])
        + " "
        + " ".join(f"g{w}" for w in generic[i])
        for i in range(n_papers)
    ]
    pop = rng.zipf(1.6, size=n_papers).astype(np.float64)
    user_topic = rng.integers(n_topics, size=n_users)
    activity = rng.lognormal(0, 1.0, size=n_users)
    users = rng.choice(n_users, size=n_events, p=activity / activity.sum())
    by_topic = [np.flatnonzero(paper_topic == t) for t in range(n_topics)]
    probs = [pop[idx] / pop[idx].sum() for idx in by_topic]
    papers = np.empty(n_events, np.int64)
    topic = np.where(
        rng.random(n_events) < 0.8, user_topic[users], rng.integers(n_topics, size=n_events)
    )
    for t in range(n_topics):
        sel = np.flatnonzero(topic == t)
        papers[sel] = rng.choice(by_topic[t], size=sel.size, p=probs[t])
    ids = [f"s:{i}" for i in range(n_papers)]
    rows = (
        (f"u{u}", ids[p], "open", None)
        for u, p in zip(users.tolist(), papers.tolist(), strict=True)
    )
    return ids, texts, rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--papers", type=int, default=100_000)
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()
    t0 = time.perf_counter()
    ids, texts, rows = synthetic(args.papers, args.users, args.events)
    gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    inter = build_interactions(rows, paper_ids=ids)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ALSModel(factors=64, iterations=15, random_state=0).fit(inter.matrix)
    als_s = time.perf_counter() - t0
    model = HybridRecommender().fit(inter, texts)
    peak_fit_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with tempfile.TemporaryDirectory() as tmp:
        model.save(tmp)
        size_mb = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 2**20
        t0 = time.perf_counter()
        served = HybridRecommender.load(tmp)
        load_s = time.perf_counter() - t0
        m = inter.matrix
        rng = np.random.default_rng(1)
        lat = []
        with threadpool_limits(1, "blas"):
            for u in rng.choice(m.shape[0], size=args.requests, replace=False):
                hist = [(served.paper_ids[j], "open", None) for j in m[u].indices]
                t1 = time.perf_counter()
                served.recommend(hist, n=20)
                lat.append((time.perf_counter() - t1) * 1e3)
    print(
        json.dumps(
            {
                "papers": args.papers,
                "users": inter.n_users,
                "events": args.events,
                "nnz": int(inter.matrix.nnz),
                "generate_s": round(gen_s, 1),
                "build_interactions_s": round(build_s, 1),
                "bare_als_64x15_s": round(als_s, 1),
                "hybrid_fit_s": round(model.fit_seconds, 1),
                "hybrid_fit_timings": model.fit_timings,
                "fit_ratio_to_bare_als": round(model.fit_seconds / als_s, 2),
                "peak_rss_mb_during_fit": round(peak_fit_mb),
                "model_files_mb": round(size_mb),
                "load_s": round(load_s, 2),
                "recommend_ms_p50": round(float(np.percentile(lat, 50)), 1),
                "recommend_ms_p99": round(float(np.percentile(lat, 99)), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
