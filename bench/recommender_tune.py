"""Tune the hybrid's defaults on VALIDATION splits carved from the training data.

For each dataset: the evaluation's own warm split (seed 0) gives the training part; a
second warm split of that training part (seed 1) gives train' / validation. Components
are fitted on train' only and blend weights are searched on validation users. The test
part of the evaluation is never touched. Prints one JSON object.

    .venv/bin/python bench/recommender_tune.py [--datasets citeulike-t movielens-100k]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from recommender import HybridRecommender, load_dataset, scoring
from recommender.baselines import EASE
from recommender.evaluation import Split, cold_split, warm_split

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def metrics(
    scores: np.ndarray, split: Split, users: np.ndarray, k: int = 20
) -> tuple[float, float]:
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    train = split.train.matrix[users]
    s = scores.copy()
    if split.candidates is None:
        r, c = train.nonzero()
        s[r, c] = -np.inf
        truth = split.test[users]
    else:
        truth = split.test[users][:, split.candidates]
    top = np.argpartition(-s, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(s, top, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    rec, nd = [], []
    for i in range(users.size):
        rel = truth.indices[truth.indptr[i] : truth.indptr[i + 1]]
        hits = np.isin(top[i], rel)
        n_rel = min(k, rel.size)
        rec.append(hits.sum() / n_rel)
        nd.append((hits * disc).sum() / disc[:n_rel].sum())
    return float(np.mean(rec)), float(np.mean(nd))


def components(model: HybridRecommender, split: Split, users: np.ndarray) -> dict:
    """Every validation user's components over the split's papers (recommender.scoring's
    one path), stacked per component as float32 (n_users, n_papers), with ``evidence``."""
    rows = split.train.matrix[users]
    stacked: dict[str, list[np.ndarray]] = {c: [] for c in scoring.COMPONENTS}
    evidence = np.zeros(users.size)
    for i in range(users.size):
        lo, hi = rows.indptr[i], rows.indptr[i + 1]
        keep = rows.data[lo:hi] > 0
        sig = scoring.signal(model, rows.indices[lo:hi][keep], rows.data[lo:hi][keep])
        _, comp, _ = scoring.components(model, sig, split.candidates)
        evidence[i] = sig.evidence
        for c in scoring.COMPONENTS:
            stacked[c].append(comp.get(c, np.zeros_like(comp["pop"])).astype(np.float32))
    return {**{c: np.vstack(v) for c, v in stacked.items()}, "evidence": evidence[:, None]}


def blended(params: dict, comp: dict) -> np.ndarray:
    """The scores ``params`` give the stacked components (scoring.blend, every user at once)."""
    parts = scoring.blend(params, comp, comp["evidence"])
    return sum(parts[c] for c in scoring.COMPONENTS)


BLEND_GRID = {
    "w_ease": [0.0, 0.5, 1.0, 2.0],
    "w_als": [0.0, 0.25, 0.5, 1.0],
    "w_text": [0.5, 1.0, 2.0],
    "text_floor": [0.0, 0.1, 0.2, 0.4],
    "history_half": [2.0, 5.0, 10.0, 20.0],
    "als_half": [0.0, 10.0, 30.0, 100.0],
    "w_pop": [0.0, 0.02, 0.05],
}


def tune_blend(model, comp, split, users, grid=BLEND_GRID, rounds=2):
    """Coordinate ascent over the blend grid from the model's defaults; objective
    recall@20 + nDCG@20 on the validation users."""
    cache = {}

    def score(params):
        key = tuple(sorted(params.items()))
        if key not in cache:
            r, n = metrics(blended({**model.params, **params}, comp), split, users)
            cache[key] = (r, n)
        return cache[key]

    current = {n: model.params[n] for n in grid}
    for _ in range(rounds):
        for name, values in grid.items():
            trials = []
            for v in values:
                trial = {**current, name: v}
                r, n = score(trial)
                trials.append((r + n, v))
            current[name] = max(trials)[1]
    r, n = score(current)
    return [
        {**p, "recall": rn[0], "ndcg": rn[1]} for p, rn in [(dict(k), v) for k, v in cache.items()]
    ] + [{**current, "recall": r, "ndcg": n, "chosen": True}]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=["citeulike-t", "movielens-100k"])
    ap.add_argument("--max-users", type=int, default=3000)
    ap.add_argument("--component-grid", action="store_true")
    ap.add_argument("--protocol", default="warm")
    ap.add_argument("--ease-lambdas", type=float, nargs="*", default=[])
    ap.add_argument(
        "--grid",
        type=json.loads,
        default=None,
        help="JSON dict overriding the blend grid (single values = just evaluate)",
    )
    ap.add_argument(
        "--components",
        type=json.loads,
        default=None,
        help="JSON list of HybridRecommender params to fit, e.g. '[{\"neighbours_k\": 50}]'",
    )
    args = ap.parse_args()
    out = {}
    for name in args.datasets:
        ds = load_dataset(DATA / name)
        outer = (
            warm_split(ds.interactions, seed=0)
            if args.protocol == "warm"
            else cold_split(ds.interactions, seed=0)
        )
        inner = (warm_split if args.protocol == "warm" else cold_split)(outer.train, seed=1)
        rng = np.random.default_rng(0)
        users = inner.users
        if users.size > args.max_users:
            users = np.sort(rng.choice(users, args.max_users, replace=False))
        comp_grid = args.components or [{}]
        if args.component_grid:
            comp_grid = [
                {"neighbours_kind": "rp3beta", "rp3_beta": b, "neighbours_k": k}
                for b in (0.3, 0.5, 0.7)
                for k in (50, 100, 200)
            ] + [{"neighbours_kind": kind} for kind in ("bm25", "cosine")]
        per = []
        for lam in args.ease_lambdas:
            t0 = time.perf_counter()
            ease = EASE(lam).fit(inner.train, ds.texts, None)
            sc = np.vstack(
                [
                    ease.scores(inner.train.matrix[users[i : i + 500]], None, inner.candidates)
                    for i in range(0, users.size, 500)
                ]
            )
            r = metrics(sc, inner, users)
            per.append({"ease_lambda": lam, "metrics": r, "fit_s": time.perf_counter() - t0})
            print(name, "EASE", lam, r, file=sys.stderr, flush=True)
            del ease, sc
        for cp in comp_grid:
            t0 = time.perf_counter()
            model = HybridRecommender(**cp).fit(inner.train, ds.texts, ds.published)
            fit_s = time.perf_counter() - t0
            comp = components(model, inner, users)
            res = tune_blend(model, comp, inner, users, grid=args.grid or BLEND_GRID)
            best = res[-1]
            default = blended(model.params, comp)
            d = metrics(default, inner, users)
            only = {c: metrics(comp[c], inner, users) for c in ("knn", "ease", "als", "text")}
            per.append(
                {
                    "component_params": cp,
                    "fit_s": round(fit_s, 2),
                    "best": best,
                    "default": d,
                    "single": only,
                    "all": res,
                }
            )
            print(
                name,
                cp,
                "fit",
                round(fit_s, 1),
                "default",
                d,
                "best",
                best,
                only,
                file=sys.stderr,
                flush=True,
            )
        out[name] = per
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    Path(f"bench/results/tune_{args.protocol}.json").write_text(json.dumps(out))
    print(
        json.dumps(
            {n: [{k: v for k, v in p.items() if k != "all"} for p in v] for n, v in out.items()}
        )
    )


if __name__ == "__main__":
    main()
