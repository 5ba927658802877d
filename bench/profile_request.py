"""Where a recommendation / similar-papers request spends its time, without HTTP.

Loads the scale's published model the way the server does, then calls the server's own
serving object (``server.serving.service.Serving``: ``recommendations`` and ``similar``) for a
sample of users and papers, single-threaded with one BLAS thread, under ``cProfile``. Reports
per-call wall and CPU time, and the functions with the largest cumulative and own time (project
code, scipy/numpy kernels and SQLite calls), so a missed latency budget points at a line.

    .venv/bin/python bench/profile_request.py --scale small     # ~1 min after preparation

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import common


def _top(stats: pstats.Stats, key: str, count: int, calls: int) -> list[dict]:
    rows = []
    for (file, line, name), (_cc, nc, tt, ct, _callers) in stats.stats.items():
        rows.append(
            {
                "function": f"{file.replace(str(common.ROOT) + '/', '')}:{line}({name})",
                "calls_per_request": round(nc / calls, 2),
                "own_ms_per_request": round(1000 * tt / calls, 3),
                "cumulative_ms_per_request": round(1000 * ct / calls, 3),
            }
        )
    field = "cumulative_ms_per_request" if key == "cumulative" else "own_ms_per_request"
    rows = [r for r in rows if "site-packages/click" not in r["function"]]
    rows.sort(key=lambda r: -r[field])
    return rows[:count]


def profile(fn, args_list, top: int) -> dict:
    for a in args_list[:3]:
        fn(*a)  # first calls build caches
    wall0, cpu0 = time.perf_counter(), time.process_time()
    per = []
    for a in args_list:
        t = time.perf_counter()
        fn(*a)
        per.append(time.perf_counter() - t)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    prof = cProfile.Profile()
    prof.enable()
    for a in args_list:
        fn(*a)
    prof.disable()
    stats = pstats.Stats(prof)
    n = len(args_list)
    return {
        "calls": n,
        "latency": common.summary(per),
        "cpu_ms_per_call": round(1000 * cpu / n, 3),
        "wall_ms_per_call": round(1000 * wall / n, 3),
        "top_cumulative": _top(stats, "cumulative", top, n),
        "top_own": _top(stats, "own", top, n),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.common_args(ap)
    ap.add_argument("--calls", type=int, default=60)
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    home, _ = common.prepared_home(args.scale)

    from server.serving.runtime import limit_blas_threads
    from server.serving.service import Serving
    from server.store import storage
    from server.store.db import connect

    t = time.perf_counter()
    serving = Serving(home / "models")
    loaded = serving.current()
    load_seconds = time.perf_counter() - t
    limit_blas_threads()
    if loaded is None:
        raise SystemExit("the published model did not load (see the log above)")
    db = connect(home / "nextpaper.db")
    users = common.sample_users(home, args.calls, seed=1)
    papers = [storage.get_paper(db, p) for p in common.sample_papers(home, args.calls, seed=2)]
    history_sizes = [storage.count_events(db, u) for u in users]
    result = {
        "benchmark": "profile_request",
        "scale": args.scale,
        "machine": common.machine(),
        "model": loaded.summary(),
        "model_load_seconds": round(load_seconds, 2),
        "history_events_of_sampled_users": {
            "median": sorted(history_sizes)[len(history_sizes) // 2],
            "max": max(history_sizes),
        },
        # every call a first answer: nothing kept from the calls before
        "recommendations": profile(
            lambda u: serving.answers.clear() or serving.recommendations(db, u, n=20),
            [(u,) for u in users],
            args.top,
        ),
        "similar": profile(
            lambda p: serving.answers.clear() or serving.similar(db, p, n=10),
            [(p,) for p in papers],
            args.top,
        ),
    }
    db.close()
    common.emit(result)


if __name__ == "__main__":
    main()
