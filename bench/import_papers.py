"""``nextpaper papers import`` of an arXiv-metadata-snapshot-format file: time and memory.

Generates (once, cached under ``bench/results/``) snapshot-format files of two lengths with
``bench/arxiv_snapshot.py``, imports each into a fresh home with the real CLI, and records wall
time and the importer's own peak RSS (``os.wait4``). Memory is flat when the peak RSS of the
long file is no more than the short file's plus a small allowance (10% or 32 MiB).

Budgets: 1M lines in <= 5 min; memory flat. At ``--scale large`` the lengths are 100k and 1M
(the budget's file); at small 20k and 100k, with the 1M time extrapolated linearly (reported
as such).

    .venv/bin/python bench/import_papers.py --scale small    # ~3 min
    .venv/bin/python bench/import_papers.py --scale large    # ~10-15 min, ~1.5 GB of files

Prints one JSON object.
"""

from __future__ import annotations

import argparse

import common
from arxiv_snapshot import snapshot_file

BUDGET_SECONDS_1M = 300.0
LENGTHS = {"tiny": (2_000, 10_000), "small": (20_000, 100_000), "large": (100_000, 1_000_000)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.common_args(ap)
    ap.add_argument("--keep-files", action="store_true", help="keep the generated files")
    args = ap.parse_args()
    runs = []
    for lines in LENGTHS[args.scale]:
        common.log(f"snapshot file of {lines} lines ...")
        path = snapshot_file(lines)
        with common.tmp_dir("import-") as home:
            common.log(f"nextpaper papers import ({lines} lines) ...")
            out = common.time_and_rss(
                [*common.nextpaper_cmd(), "--home", str(home), "papers", "import", str(path)],
                timeout=3600,
            )
            db_mib = (home / "nextpaper.db").stat().st_size / 2**20
        runs.append(
            {
                "lines": lines,
                "file_mib": round(path.stat().st_size / 2**20, 1),
                "seconds": out["seconds"],
                "lines_per_second": round(lines / out["seconds"], 1),
                "cpu_seconds": out["cpu_seconds"],
                "cpu_share_of_wall": round(out["cpu_seconds"] / out["seconds"], 2),
                "peak_rss_mib": out["peak_rss_mib"],
                "db_mib": round(db_mib, 1),
                "cli_said": out["stdout_tail"][-1:],
            }
        )
        common.log(f"  {runs[-1]}")
        if not args.keep_files and lines != LENGTHS[args.scale][0]:
            path.unlink(missing_ok=True)
            path.with_suffix(".done").unlink(missing_ok=True)
    short, long = runs
    allowance = max(32.0, 0.10 * short["peak_rss_mib"])
    flat = long["peak_rss_mib"] <= short["peak_rss_mib"] + allowance
    if long["lines"] == 1_000_000:
        t1m, how = long["seconds"], "measured"
    else:
        t1m, how = long["seconds"] * 1_000_000 / long["lines"], "extrapolated linearly"
    # on a busy machine the importer gets only part of a core; its own CPU time is what an
    # idle core would need (the importer is single-threaded)
    cpu1m = long["cpu_seconds"] * 1_000_000 / long["lines"]
    common.emit(
        {
            "benchmark": "import_papers",
            "scale": args.scale,
            "machine": common.machine(),
            "command": "nextpaper --home NEWHOME papers import snapshot-N.jsonl",
            "runs": runs,
            "budget_time": common.verdict(t1m, BUDGET_SECONDS_1M)
            | {"what": f"seconds for 1M lines ({how})"},
            "cpu_seconds_for_1M_lines": round(cpu1m, 1),
            "budget_time_on_idle_core": common.verdict(cpu1m, BUDGET_SECONDS_1M)
            | {"what": "importer CPU seconds for 1M lines (wall time on an idle core)"},
            "budget_memory_flat": {
                "peak_rss_short_mib": short["peak_rss_mib"],
                "peak_rss_long_mib": long["peak_rss_mib"],
                "length_ratio": long["lines"] / short["lines"],
                "allowance_mib": round(allowance, 1),
                "meets": flat,
            },
        }
    )


if __name__ == "__main__":
    main()
