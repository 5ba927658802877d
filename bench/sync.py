"""``nextpaper papers sync`` of a day's arXiv harvest: seconds to store 2,000 new papers.

Serves N synthetic records (arXiv metadata format, ~200-word abstracts, 1,000 a page) from the
test suite's OAI-PMH server on 127.0.0.1 with ``ARXIV_REQUEST_INTERVAL=0``, and runs the real
CLI against it: into a copy of the scale's prepared home (``bench/results/home-SCALE``) when one
exists, else into a fresh home. Times the harvest (process start to exit, so imports and the
migration check count) and a second run, which must add nothing.

Budget: a day's harvest of 2,000 new papers stored within 60 s, not counting the request
interval (the interval is 0 here). Making them searchable by text is the model's fold-in,
measured elsewhere.

    .venv/bin/python bench/sync.py --scale large      # copies the large home (~2.3 GB)

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import sys
from datetime import UTC, datetime

import common

sys.path.insert(0, str(common.ROOT))  # the test suite's OAI-PMH server
from tests.oai_server import OaiServer, Record  # noqa: E402

BUDGET_SECONDS = 60.0
WORDS = (
    "model learning network graph language token attention training data sparse dense "
    "retrieval optimisation gradient loss policy reward vision image robust causal inference "
    "benchmark transformer diffusion kernel bayesian estimator regret bandit embedding"
).split()


def synthetic_records(count: int, seed: int = 0) -> list[Record]:
    rng = random.Random(seed)
    today = datetime.now(UTC).date().isoformat()
    records = []
    for i in range(count):
        words = [rng.choice(WORDS) for _ in range(rng.randint(150, 200))]
        records.append(
            Record(
                f"2612.{i + 10000:05d}",
                today,
                title=" ".join(rng.choice(WORDS) for _ in range(10)).capitalize(),
                abstract=" ".join(words) + ".",
                categories=rng.choice(["cs.LG", "cs.LG stat.ML", "cs.CL cs.LG", "cs.LG cs.AI"]),
                created=today,
                authors=[(f"Author{rng.randint(1, 10**6)}", "A. B.") for _ in range(4)],
            )
        )
    return records


def count_papers(home) -> int:
    with sqlite3.connect(home / "nextpaper.db") as conn:
        return conn.execute("SELECT count(*) FROM papers").fetchone()[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.common_args(ap)
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--page-size", type=int, default=1000)
    args = ap.parse_args()
    prepared = common.RESULTS / f"home-{args.scale}"
    with common.tmp_dir("sync-") as home:
        cli = [*common.nextpaper_cmd(), "--home", str(home)]
        if (prepared / "nextpaper.db").exists():
            common.log(f"copying {prepared.name}'s database ...")
            for name in ("nextpaper.db", "nextpaper.db-wal", "nextpaper.db-shm"):
                if (prepared / name).exists():
                    shutil.copy2(prepared / name, home / name)
            source = f"copy of {prepared.name}"
        else:
            common.run_measured([*cli, "init"])
            source = "fresh home"
        before = count_papers(home)
        records = synthetic_records(args.records)
        with OaiServer(records, page_size=args.page_size) as oai:
            env = {
                "NEXTPAPER_ARXIV_CATEGORIES": '["cs.LG"]',
                "NEXTPAPER_ARXIV_OAI_URL": oai.url,
                "NEXTPAPER_ARXIV_REQUEST_INTERVAL": "0",
            }
            common.log(f"nextpaper papers sync ({args.records} records, {source}) ...")
            first = common.time_and_rss([*cli, "papers", "sync"], env=env)
            pages = oai.pages_served()
            again = common.time_and_rss([*cli, "papers", "sync"], env=env)
        added = count_papers(home) - before
    common.emit(
        {
            "benchmark": "sync",
            "scale": args.scale,
            "home": source,
            "catalog_papers_before": before,
            "records": args.records,
            "page_size": args.page_size,
            "requests": pages,
            "papers_added": added,
            "seconds": first["seconds"],
            "peak_rss_mib": first["peak_rss_mib"],
            "summary": first["stdout_tail"][-1:],
            "second_run_seconds": again["seconds"],
            "second_run_summary": again["stdout_tail"][-1:],
            "budget": common.verdict(first["seconds"], BUDGET_SECONDS),
            "machine": common.machine(),
        }
    )


if __name__ == "__main__":
    main()
