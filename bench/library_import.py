"""``nextpaper library import`` of a Zotero-sized library in each format: time and memory.

Generates a seeded library of N entries as Zotero writes them (half arXiv preprints with an
arXiv DOI and an ``arXiv:… [cs]`` note, a third journal articles with a DOI, the rest known by a
URL only; 150-word abstracts; protective braces and LaTeX accents in BibTeX titles and names)
as BibTeX, then as RIS and CSL-JSON through the project's own exporters (which write
Zotero's tags), and imports each into a fresh home with the real CLI, twice: the second import
adds nothing and measures the idempotent path.

Budget: a 5,000-entry library (a large personal one) imports in <= 30 s in every format.
Sizes: tiny 500, small 5,000, large 20,000 entries (the 5,000 figure extrapolated linearly
when another size ran).

    .venv/bin/python bench/library_import.py --scale small

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import random
import sys

import common

sys.path.insert(0, str(common.ROOT))
from server.library import export_library  # noqa: E402

BUDGET_SECONDS_5K = 30.0
ENTRIES = {"tiny": 500, "small": 5_000, "large": 20_000}
SURNAMES = ['Sch{\\"o}lkopf', 'M{\\"u}ller', "Garc{\\'i}a", "Smith", "Wang", "Dupont", "Kaiser"]
GIVEN = ["Bernhard", "Klaus", "Mar{\\'i}a", "Jane", "Li", "Jos{\\'e}", "{\\L}ukasz"]
WORDS = (
    "attention graph neural network retrieval language model vision convolution robust "
    "learning sparse kernel bayesian inference optimisation policy reward transformer "
    "embedding contrastive diffusion generative adversarial causal federated privacy"
).split()


def _decoded(text: str) -> str:
    return (
        text.replace('{\\"o}', "ö")
        .replace('{\\"u}', "ü")
        .replace("{\\'i}", "í")
        .replace("{\\'e}", "é")
        .replace("{\\L}", "Ł")
    )


def bibtex_library(count: int, seed: int = 0) -> tuple[str, list[dict]]:
    """A Zotero-style BibTeX export of ``count`` entries, and the same papers as dicts."""
    rng = random.Random(seed)
    out, papers = [], []
    for i in range(count):
        words = [rng.choice(WORDS) for _ in range(rng.randint(5, 10))]
        title = " ".join("{" + w.title() + "}" if k % 2 else w for k, w in enumerate(words))
        authors = [f"{rng.choice(SURNAMES)}, {rng.choice(GIVEN)}" for _ in range(rng.randint(1, 8))]
        abstract = " ".join(rng.choice(WORDS) for _ in range(150)) + " (50\\% better)."
        year = rng.randint(1995, 2025)
        kind = i % 6
        fields = [
            ("title", title),
            ("abstract", abstract),
            ("urldate", f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"),
            ("author", " and ".join(authors)),
            ("month", rng.choice(["jan", "may", "aug", "dec"])),
            ("year", str(year)),
        ]
        if kind < 3:
            arxiv = f"{year % 100:02d}{rng.randint(1, 12):02d}.{i:05d}"
            fields += [
                ("url", f"http://arxiv.org/abs/{arxiv}"),
                ("doi", f"10.48550/arXiv.{arxiv}"),
                ("note", f"arXiv:{arxiv} [cs]"),
                ("publisher", "arXiv"),
            ]
            entry_type, paper_id = "misc", f"arxiv:{arxiv}"
        elif kind < 5:
            doi = f"10.1000/bench.{i}"
            fields += [("doi", doi), ("journal", "Journal of {Benchmarks}")]
            entry_type, paper_id = "article", f"doi:{doi}"
        else:
            url = f"https://proceedings.example.org/paper/{year}/{i}-Abstract.html"
            fields += [("url", url), ("booktitle", "Proceedings of {Benchmarks}")]
            entry_type, paper_id = "inproceedings", f"url:{url}"
        body = ",\n".join(f"\t{name} = {{{value}}}" for name, value in fields)
        out.append(f"@{entry_type}{{entry_{i},\n{body},\n}}\n")
        papers.append(
            {
                "id": paper_id,
                "title": _decoded(" ".join(words)),
                "abstract": abstract.replace("\\%", "%"),
                "authors": [_decoded(" ".join(reversed(a.split(", ")))) for a in authors],
                "published": f"{year}-01-01",
                "url": dict(fields).get("url"),
                "doi": dict(fields).get("doi"),
            }
        )
    return "\n".join(out), papers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.common_args(ap)
    args = ap.parse_args()
    count = ENTRIES[args.scale]
    runs = []
    with common.tmp_dir("library-") as folder:
        bib, papers = bibtex_library(count)
        files = {"bibtex": folder / "library.bib"}
        files["bibtex"].write_text(bib, encoding="utf-8")
        for name, suffix in (("ris", "ris"), ("csl-json", "json")):
            files[name] = folder / f"library.{suffix}"
            files[name].write_text(export_library(papers, name), encoding="utf-8")
        for name, path in files.items():
            home = folder / f"home-{name}"
            common.run_measured([*common.nextpaper_cmd(), "--home", str(home), "users", "add", "u"])
            cmd = [
                *common.nextpaper_cmd(),
                "--home",
                str(home),
                "library",
                "import",
                "u",
                str(path),
            ]
            common.log(f"nextpaper library import ({name}, {count} entries) ...")
            first = common.time_and_rss(cmd, timeout=3600)
            again = common.time_and_rss(cmd, timeout=3600)
            runs.append(
                {
                    "format": name,
                    "entries": count,
                    "file_mib": round(path.stat().st_size / 2**20, 2),
                    "seconds": first["seconds"],
                    "cpu_seconds": first["cpu_seconds"],
                    "entries_per_second": round(count / first["seconds"], 1),
                    "peak_rss_mib": first["peak_rss_mib"],
                    "again_seconds": again["seconds"],
                    "cli_said": first["stdout_tail"][-1:],
                    "again_said": again["stdout_tail"][-1:],
                }
            )
            common.log(f"  {runs[-1]}")
    slowest = max(run["seconds"] for run in runs) * 5_000 / count
    how = "measured" if count == 5_000 else "extrapolated linearly"
    common.emit(
        {
            "benchmark": "library_import",
            "scale": args.scale,
            "machine": common.machine(),
            "command": "nextpaper --home NEWHOME library import u library.{bib,ris,json}",
            "runs": runs,
            "budget_time": common.verdict(slowest, BUDGET_SECONDS_5K)
            | {"what": f"seconds for 5,000 entries, slowest format ({how})"},
        }
    )


if __name__ == "__main__":
    main()
