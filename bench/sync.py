"""``nextpaper papers sync`` of a day's arXiv harvest: seconds to store 2,000 new papers and
make them searchable by text.

Serves N synthetic records (arXiv metadata format, ~200-word abstracts, 1,000 a page) from the
test suite's OAI-PMH server on 127.0.0.1 with ``ARXIV_REQUEST_INTERVAL=0``, and runs the real
CLI against it: into a copy of the scale's prepared home (``bench/results/home-SCALE``: its
database and its current model) when one exists, else into a fresh home. Times the harvest,
process start to exit: imports, the migration check, storing the papers and adding them to the
served model from their text (``papers sync`` does that when a model exists), then checks that
the published model finds each of 20 new papers among the 10 closest to its own text, and
runs the sync again, which must add nothing.

Budget: a day's harvest of 2,000 new papers stored and searchable by text within 60 s, not
counting the request interval (the interval is 0 here), without a retrain.

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


def synthetic_records(count: int, seed: int = 0, vocabulary: list[str] = WORDS) -> list[Record]:
    """``count`` records dated today, their titles and abstracts drawn from ``vocabulary``."""
    rng = random.Random(seed)
    today = datetime.now(UTC).date().isoformat()
    records = []
    for i in range(count):
        words = [rng.choice(vocabulary) for _ in range(rng.randint(150, 200))]
        records.append(
            Record(
                f"2612.{i + 10000:05d}",
                today,
                title=" ".join(rng.choice(vocabulary) for _ in range(10)).capitalize(),
                abstract=" ".join(words) + ".",
                categories=rng.choice(["cs.LG", "cs.LG stat.ML", "cs.CL cs.LG", "cs.LG cs.AI"]),
                created=today,
                authors=[(f"Author{rng.randint(1, 10**6)}", "A. B.") for _ in range(4)],
            )
        )
    return records


def found_by_text(home, records: list[Record]) -> dict | None:
    """How many of ``records`` the published model ranks among the 10 papers closest to their
    own title and abstract (None without a model)."""
    from recommender import HybridRecommender

    current = home / "models" / "CURRENT"
    if not current.exists():
        return None
    model = HybridRecommender.load(home / "models" / current.read_text().strip())
    hits = 0
    for record in records:
        text = f"{record.title} {record.abstract}"
        near = model.similar(f"query:{record.id}", n=10, text=text)
        hits += any(r.paper_id == f"arxiv:{record.id}" for r in near)
    return {"checked": len(records), "found": hits, "model_papers": model.n_papers}


def catalog_words(home, papers: int = 2000) -> list[str]:
    """The words of ``papers`` abstracts of the home's catalog (the generated catalogs speak
    their own language: new papers in it can match the model's vocabulary)."""
    with sqlite3.connect(home / "nextpaper.db") as conn:
        rows = conn.execute(
            "SELECT abstract FROM papers WHERE abstract != '' LIMIT ?", (papers,)
        ).fetchall()
    return sorted({word.strip(".,").lower() for (text,) in rows for word in text.split()})


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
            current = prepared / "models" / "CURRENT"
            if current.exists():
                version = current.read_text().strip()
                (home / "models").mkdir()
                shutil.copytree(prepared / "models" / version, home / "models" / version)
                shutil.copy2(current, home / "models" / "CURRENT")
                source += " and its model"
        else:
            common.run_measured([*cli, "init"])
            source = "fresh home"
        before = count_papers(home)
        words = catalog_words(home) if source != "fresh home" else WORDS
        records = synthetic_records(args.records, vocabulary=words or WORDS)
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
        found = found_by_text(home, records[:: max(1, len(records) // 20)])
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
            "found_by_text": found,
            "second_run_seconds": again["seconds"],
            "second_run_summary": again["stdout_tail"][-1:],
            "budget": common.verdict(first["seconds"], BUDGET_SECONDS),
            "machine": common.machine(),
        }
    )


if __name__ == "__main__":
    main()
