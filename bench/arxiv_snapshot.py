"""A synthetic file in the format of arXiv's metadata snapshot (Kaggle
``arxiv-metadata-oai-snapshot.json``): one JSON object per line with ``id``, ``submitter``,
``authors``, ``title``, ``comments``, ``journal-ref``, ``doi``, ``report-no``,
``categories``, ``license``, ``abstract``, ``versions`` (``[{"version", "created"}]``, RFC 2822
dates), ``update_date`` and ``authors_parsed``.

Like the real file: bare ids (new style ``YYMM.NNNNN`` and ~5% old style ``hep-th/9901001``,
unique), titles and abstracts with line breaks and runs of spaces, abstracts of 120-250 words
built from a pool of generated sentences, many nulls in the optional fields, 1-4 versions.
Seeded; about 1.5 kB a line (1M lines: ~1.5 GB, about 1-2 minutes).

    .venv/bin/python bench/arxiv_snapshot.py --lines 1000000 --out bench/results/snapshot-1M.jsonl

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import numpy as np
from generate import draw, make_vocabulary, zipf_cdf

CATEGORIES = (
    "cs.LG cs.AI cs.CL cs.CV stat.ML math.OC math.PR math.AP hep-th hep-ph quant-ph "
    "astro-ph.CO astro-ph.GA cond-mat.mes-hall cond-mat.str-el gr-qc physics.optics q-bio.NC "
    "econ.EM eess.SP"
).split()
OLD_ARCHIVES = ["hep-th", "hep-ph", "math", "cond-mat", "astro-ph", "quant-ph", "gr-qc"]
LICENSES = [
    None,
    "http://arxiv.org/licenses/nonexclusive-distrib/1.0/",
    "http://creativecommons.org/licenses/by/4.0/",
    "http://creativecommons.org/licenses/by-nc-sa/4.0/",
]


def _wrap(text: str, width: int = 78) -> str:
    out, line = [], 0
    for w in text.split(" "):
        if out and line + len(w) > width:
            out.append("\n")
            line = 0
        elif out:
            out.append(" ")
        out.append(w)
        line += len(w) + 1
    return "".join(out)


def write_snapshot(path: Path, lines: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    vocab = make_vocabulary(rng, 20_000)
    cdf = zipf_cdf(len(vocab), 1.0, offset=3.0)
    # a pool of sentences, wrapped like the snapshot's ~80 columns; an abstract is a random
    # run of them
    n_pool = 50_000
    lengths = rng.integers(8, 30, n_pool)
    words = vocab[draw(rng, cdf, int(lengths.sum()))].tolist()
    pool, titles, at = [], [], 0
    for n in lengths.tolist():
        s = " ".join(words[at : at + n])
        s = s[0].upper() + s[1:]
        titles.append(" ".join(words[at : at + min(n, 12)]).capitalize())
        pool.append(_wrap(s + "."))
        at += n
    firsts = [w[0].upper() + "." for w in make_vocabulary(rng, 2000)]
    lasts = [w.capitalize() for w in make_vocabulary(rng, 6000)]
    start = datetime(2007, 4, 1, tzinfo=UTC)
    span_s = int((datetime(2025, 12, 31, tzinfo=UTC) - start).total_seconds())
    created_s = np.sort(rng.integers(0, span_s, lines))
    counters: dict[str, int] = {}
    n_bytes = 0
    t0 = time.perf_counter()
    step = 10_000
    with open(path, "w", encoding="utf-8") as f:
        for lo in range(0, lines, step):
            m = min(step, lines - lo)
            old = rng.random(m) < 0.05
            archive = rng.integers(len(OLD_ARCHIVES), size=m)
            n_auth = np.minimum(rng.geometric(0.3, m), 25)
            first_i = rng.integers(len(firsts), size=int(n_auth.sum())).tolist()
            last_i = rng.integers(len(lasts), size=int(n_auth.sum())).tolist()
            n_sent = rng.integers(6, 12, m)
            sent_i = rng.integers(n_pool, size=int(n_sent.sum())).tolist()
            n_versions = np.minimum(rng.geometric(0.6, m), 4)
            n_cats = rng.integers(1, 4, m)
            cat_i = rng.integers(len(CATEGORIES), size=(m, 3)).tolist()
            pages = rng.integers(4, 40, m).tolist()
            figures = rng.integers(0, 12, m).tolist()
            u = rng.random((m, 4)).tolist()
            volume = rng.integers(50, 110, m).tolist()
            prefix = rng.integers(1000, 9999, m).tolist()
            lic = rng.integers(len(LICENSES), size=m).tolist()
            chunk: list[str] = []
            a = s = 0
            for k in range(m):
                i = lo + k
                created = start + timedelta(seconds=int(created_s[i]))
                ym = created.strftime("%y%m")
                pid = None
                if old[k]:
                    key = f"{OLD_ARCHIVES[archive[k]]}/{ym}"
                    counters[key] = counters.get(key, 0) + 1
                    if counters[key] < 1000:
                        pid = f"{key}{counters[key]:03d}"
                if pid is None:
                    counters[ym] = counters.get(ym, 0) + 1
                    pid = f"{ym}.{counters[ym]:05d}" if ym >= "1501" else f"{ym}.{counters[ym]:04d}"
                na = int(n_auth[k])
                parsed = [[lasts[last_i[a + j]], firsts[first_i[a + j]], ""] for j in range(na)]
                a += na
                names = [f"{p[1]} {p[0]}" for p in parsed]
                authors = ", ".join(names[:-1]) + (" and " if na > 1 else "") + names[-1]
                ns = int(n_sent[k])
                first_sentence = sent_i[s]
                abstract = "  " + "\n".join(pool[j] for j in sent_i[s : s + ns]) + "\n"
                s += ns
                title = titles[first_sentence]
                cut = title.find(" ", 50)
                if cut > 0:  # the snapshot wraps long titles
                    title = title[:cut] + "\n " + title[cut:]
                nv = int(n_versions[k])
                created_text = format_datetime(created, usegmt=True)
                versions = [{"version": "v1", "created": created_text}] + [
                    {
                        "version": f"v{v + 1}",
                        "created": format_datetime(created + timedelta(days=30 * v), usegmt=True),
                    }
                    for v in range(1, nv)
                ]
                updated = created + timedelta(days=30 * (nv - 1))
                record = {
                    "id": pid,
                    "submitter": names[0],
                    "authors": authors,
                    "title": title,
                    "comments": f"{pages[k]} pages, {figures[k]} figures"
                    if u[k][0] < 0.7
                    else None,
                    "journal-ref": f"Phys. Rev. D {volume[k]} ({created.year})"
                    if u[k][1] < 0.3
                    else None,
                    "doi": f"10.{prefix[k]}/synth.{i}" if u[k][2] < 0.4 else None,
                    "report-no": None if u[k][3] < 0.9 else f"REPORT-{created.year}-{i}",
                    "categories": " ".join(
                        dict.fromkeys(CATEGORIES[c] for c in cat_i[k][: n_cats[k]])
                    ),
                    "license": LICENSES[lic[k]],
                    "abstract": abstract,
                    "versions": versions,
                    "update_date": f"{updated.year:04d}-{updated.month:02d}-{updated.day:02d}",
                    "authors_parsed": parsed,
                }
                chunk.append(json.dumps(record, ensure_ascii=False))
            block = "\n".join(chunk) + "\n"
            n_bytes += len(block.encode("utf-8"))
            f.write(block)
    return {
        "lines": lines,
        "bytes": n_bytes,
        "seconds": round(time.perf_counter() - t0, 2),
        "out": str(path),
    }


def snapshot_file(lines: int, seed: int = 0) -> Path:
    """A cached snapshot file of ``lines`` lines under bench/results/."""
    path = Path(__file__).resolve().parent / "results" / f"snapshot-{lines}-s{seed}.jsonl"
    done = path.with_suffix(".done")
    if not done.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        info = write_snapshot(path, lines, seed)
        done.write_text(json.dumps(info))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    json.dump(write_snapshot(args.out, args.lines, args.seed), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
