"""The hybrid's component settings, compared on VALIDATION users carved from training data.

Training already chooses the blend weights for each deployment (recommender/tuning.py); what it
does not choose are the components' own settings (neighbourhood size, EASE regularisation,
ALS factors, ...), which need a refit each. For each dataset: the evaluation's warm split
(seed 0) gives the training part, the training's own validation split is carved from it, and
for each setting the components are fitted on what is left, the blend is searched as a
training would, and its validation recall@20 is printed with each component's alone. The
test part of the evaluation is never touched. Prints one JSON object.

    .venv/bin/python bench/recommender_tune.py [--datasets citeulike-t movielens-100k]
        [--components '[{"neighbours_k": 50}, {"ease_regularization": 100}]']
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from recommender import HybridRecommender, load_dataset, tuning
from recommender.evaluation import warm_split

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=["citeulike-t", "movielens-100k"])
    ap.add_argument("--users", type=int, default=1000, help="validation users")
    ap.add_argument(
        "--components",
        type=json.loads,
        default=[{}],
        help="JSON list of HybridRecommender settings to compare, e.g. '[{\"neighbours_k\": 50}]'",
    )
    args = ap.parse_args()
    out = {}
    for name in args.datasets:
        ds = load_dataset(DATA / name)
        outer = warm_split(ds.interactions, seed=0)
        val = tuning.validation_split(outer.train, seed=1, max_users=args.users)
        rows = []
        for settings in args.components:
            started = time.perf_counter()
            model = HybridRecommender(**settings, tune=False).fit(val.train, ds.texts, ds.published)
            fit_s = time.perf_counter() - started
            chosen = tuning.search(model.params, tuning.stack(model, val))
            rows.append({"settings": settings, "fit_s": round(fit_s, 2), **chosen.to_dict()})
            print(name, settings, round(chosen.recall, 4), chosen.single, file=sys.stderr)
        out[name] = rows
    print(json.dumps(out))


if __name__ == "__main__":
    main()
