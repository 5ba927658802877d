"""Synthetic NextPaper workload: a dataset directory in DESIGN.md's format.

Writes ``papers.jsonl`` (our paper shape) and ``interactions.csv``
(``user_id,paper_id,timestamp,type,dwell_ms``) plus ``bench-meta.json`` (the parameters), so
that ``nextpaper papers import DIR/papers.jsonl`` and ``nextpaper events import
DIR/interactions.csv`` load it, and ``nextpaper evaluate DIR`` can read it.

The workload is seeded and has the structure the recommender relies on:

* text: a Zipfian background vocabulary of pseudo-words plus topics, each with its own Zipfian
  word list; a paper has a primary (and often a secondary) topic, a ~10-word title and a
  150-200-word abstract, so text similarity follows topics;
* papers: power-law popularity, published dates spread over 2015-2025 (more papers in later
  years), arXiv-style ids (``arxiv:YYMM.NNNNN``) consistent with the date;
* users: power-law activity (every user has at least one open), 1-3 topics of interest; 80% of
  opens fall in a user's topics (by popularity within the topic), 20% anywhere by popularity;
  about 40% of opens carry a ``dwell_ms``; timestamps follow the paper's publication.

Scales: tiny (500 users x 2k papers x 10k opens), small (10k x 50k x 500k), large
(100k x 500k x 5M). Large takes a few minutes and about 1 GB of disk.

    .venv/bin/python bench/generate.py --scale small --out bench/results/data-small

Prints one JSON object (counts, sizes, seconds).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

SCALES = {
    "tiny": {"users": 500, "papers": 2_000, "opens": 10_000},
    "small": {"users": 10_000, "papers": 50_000, "opens": 500_000},
    "large": {"users": 100_000, "papers": 500_000, "opens": 5_000_000},
}

VOCAB_SIZE = 40_000
TOPIC_WORDS = 400
FIRST_YEAR, LAST_YEAR = 2015, 2025
END_DAY = np.datetime64("2025-12-31")

_ONSETS = "b c d f g h j k l m n p r s t v w z br cr dr fr gr pl pr st tr sp sc th ch sh qu".split()
_VOWELS = "a e i o u ai ea io ou ia".split()
_CODAS = ["", "", "", "n", "r", "s", "l", "m", "x", "nt", "st", "rn", "th"]


def make_vocabulary(rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` distinct pseudo-words (2-4 syllables, letters only), shape (size,)."""
    words: set[str] = set()
    out: list[str] = []
    while len(out) < size:
        n = 4 * (size - len(out))
        syl = rng.choice([1, 2, 2, 3, 3, 4], n)
        for k in range(n):
            w = (
                "".join(
                    _ONSETS[rng.integers(len(_ONSETS))] + _VOWELS[rng.integers(len(_VOWELS))]
                    for _ in range(syl[k])
                )
                + _CODAS[rng.integers(len(_CODAS))]
            )
            if w not in words:
                words.add(w)
                out.append(w)
                if len(out) == size:
                    break
    # frequent words are short, as in natural language
    out.sort(key=len)
    return np.array(out)


def zipf_cdf(n: int, s: float, offset: float = 1.0) -> np.ndarray:
    w = 1.0 / np.power(np.arange(n) + offset, s)
    c = np.cumsum(w)
    return c / c[-1]


def draw(rng: np.random.Generator, cdf: np.ndarray, size) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, rng.random(size)), len(cdf) - 1)


class TextMaker:
    """Topic-structured titles and abstracts over a Zipfian pseudo-word vocabulary."""

    def __init__(self, rng: np.random.Generator, n_topics: int):
        self.rng = rng
        self.vocab = make_vocabulary(rng, VOCAB_SIZE)
        self.bg_cdf = zipf_cdf(VOCAB_SIZE, 1.05, offset=3.0)
        # topic words come from the middle and tail of the vocabulary (distinctive words)
        self.topic_words = np.stack(
            [
                rng.choice(np.arange(200, VOCAB_SIZE), TOPIC_WORDS, replace=False)
                for _ in range(n_topics)
            ]
        )
        self.topic_cdf = zipf_cdf(TOPIC_WORDS, 0.9, offset=2.0)

    def words(self, t1: np.ndarray, t2: np.ndarray, lengths: np.ndarray, p1: float, p2: float):
        """Word strings for each document (topic t1, optional t2 >= 0); returns list of str."""
        rng = self.rng
        total = int(lengths.sum())
        doc = np.repeat(np.arange(len(lengths)), lengths)
        u = rng.random(total)
        idx = draw(rng, self.bg_cdf, total)
        use1 = u < p1
        use2 = (u >= p1) & (u < p1 + p2) & (t2[doc] >= 0)
        ranks = draw(rng, self.topic_cdf, total)
        idx[use1] = self.topic_words[t1[doc[use1]], ranks[use1]]
        idx[use2] = self.topic_words[t2[doc[use2]], ranks[use2]]
        tokens = self.vocab[idx].tolist()
        out = []
        start = 0
        for n in lengths.tolist():
            out.append(tokens[start : start + n])
            start += n
        return out


def _sentences(words: list[str], rng_lengths: list[int]) -> str:
    parts, i, k = [], 0, 0
    while i < len(words):
        n = rng_lengths[k % len(rng_lengths)]
        chunk = words[i : i + n]
        chunk[0] = chunk[0].capitalize()
        parts.append(" ".join(chunk) + ".")
        i += n
        k += 1
    return " ".join(parts)


def generate_papers(rng, n_papers: int, out: Path, chunk: int = 20_000) -> dict:
    """Write papers.jsonl; return the arrays the interaction generator needs."""
    n_topics = max(10, n_papers // 500)
    text = TextMaker(rng, n_topics)
    # topic sizes: mildly skewed
    topic_cdf = zipf_cdf(n_topics, 0.6, offset=5.0)
    t1 = draw(rng, topic_cdf, n_papers)
    t2 = np.where(rng.random(n_papers) < 0.5, draw(rng, topic_cdf, n_papers), -1)
    t2[t2 == t1] = -1
    # publication days: growth over the years, sorted so ids follow dates
    start = np.datetime64(f"{FIRST_YEAR}-01-01")
    span = int((END_DAY - start).astype(int))
    day = np.sort((span * np.sqrt(rng.random(n_papers))).astype(np.int64))
    published = start + day.astype("timedelta64[D]")
    months = published.astype("datetime64[M]")
    # arXiv-style id: YYMM.NNNNN, numbered within the month
    month_start = np.r_[0, np.flatnonzero(months[1:] != months[:-1]) + 1]
    counter = np.arange(n_papers) - np.repeat(month_start, np.diff(np.r_[month_start, n_papers]))
    ym = np.datetime_as_string(months, unit="M")  # YYYY-MM
    ids = [
        f"{m[2:4]}{m[5:7]}.{c + 1:05d}" for m, c in zip(ym.tolist(), counter.tolist(), strict=True)
    ]
    pub_text = np.datetime_as_string(published, unit="D").tolist()
    # power-law popularity on a random permutation
    popularity = np.empty(n_papers)
    popularity[rng.permutation(n_papers)] = 1.0 / np.power(np.arange(n_papers) + 10.0, 0.9)

    first = make_vocabulary(rng, 3000)
    last = make_vocabulary(rng, 8000)
    sent_lengths = rng.integers(12, 28, 64).tolist()
    n_bytes = 0
    with open(out / "papers.jsonl", "w", encoding="utf-8") as f:
        for lo in range(0, n_papers, chunk):
            hi = min(n_papers, lo + chunk)
            m = hi - lo
            title_len = rng.integers(7, 14, m)
            abs_len = rng.integers(150, 201, m)
            titles = text.words(t1[lo:hi], t2[lo:hi], title_len, 0.7, 0.15)
            abstracts = text.words(t1[lo:hi], t2[lo:hi], abs_len, 0.35, 0.12)
            n_auth = np.minimum(rng.geometric(0.3, m), 30)
            fi = rng.integers(0, len(first), int(n_auth.sum())).tolist()
            la = rng.integers(0, len(last), int(n_auth.sum())).tolist()
            a = 0
            lines = []
            for k in range(m):
                i = lo + k
                authors = [
                    f"{first[fi[a + j]].capitalize()} {last[la[a + j]].capitalize()}"
                    for j in range(n_auth[k])
                ]
                a += n_auth[k]
                title = " ".join(titles[k])
                paper = {
                    "id": f"arxiv:{ids[i]}",
                    "title": title[0].upper() + title[1:],
                    "abstract": _sentences(abstracts[k], sent_lengths[k % 7 :] + sent_lengths),
                    "authors": authors,
                    "url": f"https://arxiv.org/abs/{ids[i]}",
                    "arxiv_id": ids[i],
                    "published": pub_text[i],
                }
                lines.append(json.dumps(paper, ensure_ascii=False))
            block = "\n".join(lines) + "\n"
            n_bytes += len(block.encode("utf-8"))
            f.write(block)
    return {
        "ids": ids,
        "t1": t1,
        "t2": t2,
        "n_topics": n_topics,
        "topic_cdf": topic_cdf,
        "day": day,
        "popularity": popularity,
        "bytes": n_bytes,
    }


def generate_interactions(rng, papers: dict, n_users: int, n_opens: int, out: Path) -> dict:
    """Write interactions.csv sorted by timestamp."""
    n_papers = len(papers["ids"])
    n_topics = papers["n_topics"]
    pop = papers["popularity"]
    # user activity: every user at least one open, the rest by a Pareto weight
    weights = rng.pareto(1.2, n_users) + 1.0
    weights /= weights.sum()
    cap = min(5000, 0.02 * n_opens) / n_opens  # no single user dominates a small run
    for _ in range(5):
        weights = np.minimum(weights, cap)
        weights /= weights.sum()
    counts = 1 + rng.multinomial(n_opens - n_users, weights)
    user = np.repeat(np.arange(n_users), counts)
    rng.shuffle(user)
    # each user's 1-3 topics
    n_interests = rng.integers(1, 4, n_users)
    interests = draw(rng, papers["topic_cdf"], (n_users, 3))
    pick = rng.integers(0, 1 << 30, n_opens) % n_interests[user]
    topic = interests[user, pick]
    anywhere = rng.random(n_opens) < 0.2
    paper = np.empty(n_opens, np.int64)
    # in-topic opens: by popularity among the topic's papers (primary topic)
    by_topic = np.argsort(papers["t1"], kind="stable")
    bounds = np.searchsorted(papers["t1"][by_topic], np.arange(n_topics + 1))
    events_by_topic = np.argsort(np.where(anywhere, -1, topic), kind="stable")
    ev_topic = np.where(anywhere, -1, topic)[events_by_topic]
    ev_bounds = np.searchsorted(ev_topic, np.arange(-1, n_topics + 1))
    glob_cdf = np.cumsum(pop) / pop.sum()
    paper[events_by_topic[ev_bounds[0] : ev_bounds[1]]] = draw(
        rng, glob_cdf, ev_bounds[1] - ev_bounds[0]
    )
    for t in range(n_topics):
        ev = events_by_topic[ev_bounds[t + 1] : ev_bounds[t + 2]]
        if ev.size == 0:
            continue
        members = by_topic[bounds[t] : bounds[t + 1]]
        if members.size == 0:
            paper[ev] = draw(rng, glob_cdf, ev.size)
            continue
        c = np.cumsum(pop[members])
        paper[ev] = members[draw(rng, c / c[-1], ev.size)]
    # timestamps: after publication (exponential, mean 200 days), capped at END_DAY
    start = np.datetime64(f"{FIRST_YEAR}-01-01T00:00:00")
    end_s = int((END_DAY.astype("datetime64[s]") + np.timedelta64(86399, "s") - start).astype(int))
    pub_s = papers["day"][paper] * 86400
    offset = (rng.exponential(200.0, n_opens) * 86400).astype(np.int64)
    late = pub_s + offset > end_s  # past the end: anywhere between publication and the end
    offset[late] = (rng.random(int(late.sum())) * (end_s - pub_s[late])).astype(np.int64)
    secs = pub_s + offset
    order = np.argsort(secs, kind="stable")
    user, paper, secs = user[order], paper[order], secs[order]
    ts = np.datetime_as_string(start + secs.astype("timedelta64[s]"), unit="s").tolist()
    dwell = np.where(
        rng.random(n_opens) < 0.4, np.exp(rng.normal(np.log(90_000), 1.0, n_opens)), -1
    ).astype(np.int64)
    ids = papers["ids"]
    users = [f"u{u:06d}" for u in range(n_users)]
    n_bytes = 0
    with open(out / "interactions.csv", "w", encoding="utf-8", newline="") as f:
        f.write("user_id,paper_id,timestamp,type,dwell_ms\n")
        step = 200_000
        for lo in range(0, n_opens, step):
            hi = min(n_opens, lo + step)
            u, p, d = user[lo:hi].tolist(), paper[lo:hi].tolist(), dwell[lo:hi].tolist()
            rows = [
                f"{users[u[k]]},arxiv:{ids[p[k]]},{ts[lo + k]}Z,open,{d[k] if d[k] >= 0 else ''}"
                for k in range(hi - lo)
            ]
            block = "\n".join(rows) + "\n"
            n_bytes += len(block)
            f.write(block)
    distinct = np.unique(user.astype(np.int64) * n_papers + paper).size
    return {
        "users": n_users,
        "opens": n_opens,
        "distinct_user_paper_pairs": int(distinct),
        "papers_with_opens": int(np.unique(paper).size),
        "max_user_opens": int(counts.max()),
        "median_user_opens": float(np.median(counts)),
        "bytes": n_bytes,
    }


def generate(scale: str, out: Path, seed: int = 0) -> dict:
    cfg = SCALES[scale]
    today = np.datetime64(date.today().isoformat())
    if today < END_DAY:
        raise SystemExit(
            f"the machine's date {today} is before {END_DAY}: timestamps would be rejected"
        )
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    papers = generate_papers(rng, cfg["papers"], out)
    t1 = time.perf_counter()
    inter = generate_interactions(rng, papers, cfg["users"], cfg["opens"], out)
    t2 = time.perf_counter()
    meta = {
        "scale": scale,
        "seed": seed,
        **cfg,
        "topics": papers["n_topics"],
        "papers_bytes": papers["bytes"],
        "interactions": {k: v for k, v in inter.items() if k != "bytes"},
        "interactions_bytes": inter["bytes"],
        "papers_seconds": round(t1 - t0, 2),
        "interactions_seconds": round(t2 - t1, 2),
    }
    (out / "bench-meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return meta


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", choices=sorted(SCALES), default="small")
    ap.add_argument("--out", type=Path, help="dataset directory (default bench/results/data-SCALE)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    out = args.out or Path(__file__).resolve().parent / "results" / f"data-{args.scale}"
    meta = generate(args.scale, out, args.seed)
    meta["out"] = str(out)
    json.dump(meta, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
