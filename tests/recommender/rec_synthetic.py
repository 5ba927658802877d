"""Synthetic data for the recommender tests: two communities with their own words
(a checkerboard), so answers are known in advance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

DATA_DIR = Path(__file__).parents[2] / ".." / "shared" / "data"

WORDS = {
    "a": "neural network training gradient descent optimiser transformer attention layer",
    "b": "protein folding molecular biology enzyme genome sequence cell membrane",
}
N_PER_GROUP = 20
USERS_PER_GROUP = 30


def paper_ids() -> list[str]:
    return [f"p:{g}{i}" for g in "ab" for i in range(N_PER_GROUP)]


def group_of(paper_id: str) -> str:
    return paper_id[2]


def texts(rng: np.random.Generator | None = None) -> list[str]:
    rng = rng or np.random.default_rng(0)
    out = []
    for pid in paper_ids():
        words = WORDS[group_of(pid)].split()
        picked = rng.choice(words, size=6, replace=False)
        out.append(f"{pid[2:]} " + " ".join(picked))
    return out


def events(seed: int = 0) -> list[tuple[str, str, str, int | None]]:
    """Users of group a read only a-papers, users of group b only b-papers; the last
    two papers of each group are never read (catalog-only)."""
    rng = np.random.default_rng(seed)
    rows = []
    for g in "ab":
        for u in range(USERS_PER_GROUP):
            read = rng.choice(N_PER_GROUP - 2, size=6, replace=False)
            for i in read:
                rows.append((f"u{g}{u}", f"p:{g}{i}", "open", None))
            rows.append((f"u{g}{u}", f"p:{g}{read[0]}", "read", 300_000))
    return rows


def shared_dataset(name: str) -> Path:
    path = DATA_DIR / name
    if not (path / "interactions.csv").is_file():
        pytest.skip(f"shared dataset {name} not found next to the repository")
    return path
