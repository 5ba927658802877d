"""Dataset directories: ``papers.jsonl`` + ``interactions.csv`` (DESIGN.md format).

Owns reading a dataset directory into a :class:`Dataset`: the catalog (ids, texts,
published dates) and an :class:`~recommender.interactions.Interactions` over it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .interactions import Interactions, build_interactions


@dataclass
class Dataset:
    """A catalog plus its interactions.

    Attributes
    ----------
    name : str
    paper_ids : list of str, length n_papers (same order as ``interactions.paper_ids``)
    texts : list of str, title + " " + abstract per paper
    published : list of (str or None)
    interactions : Interactions, shape (n_users, n_papers)
    """

    name: str
    paper_ids: list[str]
    texts: list[str]
    published: list[str | None]
    interactions: Interactions

    def counts(self) -> dict[str, int]:
        m = self.interactions.matrix
        return {"users": m.shape[0], "papers": m.shape[1], "interactions": int(m.nnz)}


def _read_papers(path: Path) -> tuple[list[str], list[str], list[str | None]]:
    ids: list[str] = []
    texts: list[str] = []
    published: list[str | None] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            paper = json.loads(line)
            pid = str(paper["id"])
            if pid in seen:
                continue
            seen.add(pid)
            ids.append(pid)
            title = paper.get("title") or ""
            abstract = paper.get("abstract") or ""
            texts.append(f"{title} {abstract}".strip())
            published.append(paper.get("published"))
    return ids, texts, published


def _read_events(path: Path) -> Iterator[tuple[str, str, str, int | None]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        for row in reader:
            dwell = row.get("dwell_ms")
            yield (
                row["user_id"],
                row["paper_id"],
                row.get("type") or "open",
                int(float(dwell)) if dwell not in (None, "") else None,
            )


def load_dataset(dataset_dir: str | Path) -> Dataset:
    """Read ``papers.jsonl`` and ``interactions.csv`` from ``dataset_dir``.

    Papers that appear only in the interactions are added with empty text.
    """
    folder = Path(dataset_dir)
    if not (folder / "papers.jsonl").is_file() or not (folder / "interactions.csv").is_file():
        raise FileNotFoundError(f"{folder} needs papers.jsonl and interactions.csv")
    ids, texts, published = _read_papers(folder / "papers.jsonl")
    inter = build_interactions(_read_events(folder / "interactions.csv"), paper_ids=ids)
    extra = len(inter.paper_ids) - len(ids)
    texts += [""] * extra
    published += [None] * extra
    return Dataset(folder.name, list(inter.paper_ids), texts, published, inter)
