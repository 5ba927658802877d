"""How close the candidate-gathering request path is to scoring every paper, and how fast.

Loads the scale's published model the way the server does and, for a sample of users with
their current histories from the database, compares ``recommend(history)`` (the served path:
candidates gathered from each component, recommender/scoring.py) with
``recommend(history, exact=True)`` with no text postings budget (every paper scored against
the whole profile): the share of the exact top-20 that the
served top-20 contains, and the CPU time of each, one thread, no HTTP.

    .venv/bin/python bench/serve_quality.py --scale large --users 200

Prints one JSON object.
"""

from __future__ import annotations

import argparse

import common


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.common_args(ap)
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument(
        "--served-postings",
        type=int,
        default=None,
        help="postings the served path reads to find text candidates (default: the model's)",
    )
    args = ap.parse_args()
    home, _ = common.prepared_home(args.scale)

    from server.model_versions import ModelStore
    from server.serving.holder import ModelHolder
    from server.serving.runtime import limit_blas_threads
    from server.store import storage
    from server.store.db import connect

    loaded = ModelHolder(ModelStore(home / "models")).get()
    limit_blas_threads()
    if loaded is None:
        raise SystemExit("the published model did not load (see the log above)")
    model = loaded.model
    db = connect(home / "nextpaper.db")
    histories = [storage.user_history(db, u) for u in common.sample_users(home, args.users, 3)]
    db.close()
    model.recommend(histories[0], n=args.n)  # first calls build caches
    model.recommend(histories[0], n=args.n, exact=True)

    if args.served_postings is not None:
        model.params["text_candidate_postings"] = args.served_postings
    served, exact, served_cpu, exact_cpu = common.served_and_exact(model, histories, args.n)
    overlaps = common.overlaps(served, exact)
    common.emit(
        {
            "benchmark": "serve_quality",
            "scale": args.scale,
            "machine": common.machine(),
            "model": loaded.summary(),
            "users": len(histories),
            "n": args.n,
            "served_text_candidate_postings": model.params["text_candidate_postings"],
            "overlap_with_exact": {
                "mean": round(sum(overlaps) / len(overlaps), 4),
                "min": round(min(overlaps), 4),
                "share_of_users_at_or_above_0.95": round(
                    sum(o >= 0.95 for o in overlaps) / len(overlaps), 4
                ),
            },
            "served_cpu": common.summary(served_cpu),
            "exact_cpu": common.summary(exact_cpu),
            "budget": {"overlap": ">= 0.95"},
        }
    )


if __name__ == "__main__":
    main()
