"""Offline evaluation: seeded warm/cold splits, every model on the same split, a report.

Owns the protocols used by ``nextpaper evaluate``:

* ``warm`` -- every user with at least 5 papers has 20% of them (at least 1) held out;
  every paper is a candidate except the user's training papers.
* ``cold`` -- 10% of the papers that have readers are held out with all their
  interactions; each user with a held-out paper and a training paper ranks the held-out
  papers (only those are candidates), which only text can reach.
* ``sparse`` -- a newcomer in a busy lab: 20% of the users with at least 8 papers keep 3
  of them for training and have the rest held out; every other user keeps all their papers
  in training. Candidates as in ``warm``.

Metrics are recall@k = hits / min(k, |held out|), nDCG@k and catalog coverage (share of
candidates shown to at least one user), averaged over evaluated users.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from .baselines import Scorer, default_scorers
from .datasets import Dataset, load_dataset
from .interactions import Interactions

MIN_WARM_PAPERS = 5
WARM_HOLDOUT = 0.2
COLD_HOLDOUT = 0.1
MIN_SPARSE_PAPERS = 8
SPARSE_USERS = 0.2
SPARSE_KEEP = 3


class ProtocolError(ValueError):
    """The dataset cannot be split by the protocol asked for (the message says why)."""


@dataclass
class Split:
    """A train/test split.

    Attributes
    ----------
    train : Interactions, matrix shape (n_users, n_papers) without the held-out pairs
    test : csr_matrix of float32, shape (n_users, n_papers), the held-out pairs
    users : ndarray of int, users evaluated (at least one held-out and one training paper)
    candidates : ndarray of int or None, the papers ranked (cold: the held-out papers)
    """

    train: Interactions
    test: sp.csr_matrix
    users: np.ndarray
    candidates: np.ndarray | None


def _with_matrix(inter: Interactions, matrix: sp.csr_matrix) -> Interactions:
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return Interactions(
        matrix,
        inter.dismissed,
        inter.user_ids,
        inter.paper_ids,
        inter.user_index,
        inter.paper_index,
    )


def _split_entries(
    inter: Interactions, held: np.ndarray, candidates: np.ndarray | None = None
) -> Split:
    """Move the stored entries of ``inter.matrix`` flagged in ``held`` (bool, shape (nnz,),
    in CSR order) to the test matrix; evaluate the users left with both kinds of paper."""
    x = sp.csr_matrix(inter.matrix)
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    test = sp.csr_matrix((x.data[held], (rows[held], x.indices[held])), shape=x.shape)
    train = sp.csr_matrix((x.data[~held], (rows[~held], x.indices[~held])), shape=x.shape)
    users = np.flatnonzero((np.diff(test.indptr) > 0) & (np.diff(train.indptr) > 0))
    return Split(_with_matrix(inter, train), test, users, candidates)


def hold_out(inter: Interactions, n_out: np.ndarray, rng: np.random.Generator) -> Split:
    """Hold out ``n_out[u]`` of each user's papers, drawn at random without replacement with
    ``rng`` (users in index order)."""
    x = sp.csr_matrix(inter.matrix)
    held = np.zeros(x.nnz, dtype=bool)
    for u in np.flatnonzero(n_out):
        lo, hi = x.indptr[u], x.indptr[u + 1]
        held[lo + rng.choice(hi - lo, size=n_out[u], replace=False)] = True
    return _split_entries(inter, held)


def warm_split(inter: Interactions, seed: int = 0, holdout: float = WARM_HOLDOUT) -> Split:
    """Hold out ``holdout`` of each user's papers (>= 1) for users with >= 5 papers."""
    rng = np.random.default_rng(seed)
    x = sp.csr_matrix(inter.matrix)
    counts = np.diff(x.indptr)
    n_out = np.where(
        counts >= MIN_WARM_PAPERS, np.maximum(1, np.round(holdout * counts)), 0
    ).astype(np.int64)
    return hold_out(inter, n_out, rng)


def cold_split(inter: Interactions, seed: int = 0, holdout: float = COLD_HOLDOUT) -> Split:
    """Hold out ``holdout`` of the papers with readers, with all their interactions."""
    rng = np.random.default_rng(seed)
    x = sp.csr_matrix(inter.matrix)
    read = np.flatnonzero(np.diff(sp.csc_matrix(x).indptr) > 0)
    n_out = max(1, int(round(holdout * read.size))) if read.size else 0
    held = np.sort(rng.choice(read, size=n_out, replace=False)) if n_out else read
    is_held = np.zeros(x.shape[1], dtype=bool)
    is_held[held] = True
    return _split_entries(inter, is_held[x.indices], held)


def sparse_split(
    inter: Interactions,
    seed: int = 0,
    share: float = SPARSE_USERS,
    keep: int = SPARSE_KEEP,
    min_papers: int = MIN_SPARSE_PAPERS,
) -> Split:
    """A newcomer in a busy lab: few papers of one's own among users with long histories.

    ``share`` of the users with at least ``min_papers`` papers (at least one user), drawn with
    ``seed``, keep ``keep`` of their papers for training and have all the others held out;
    every other user keeps all their papers in training. The papers kept are drawn at random
    with the same seeded generator, not by timestamp (most datasets have none). Only the
    chosen users are evaluated; every paper but their ``keep`` training papers is a candidate.

    Raises
    ------
    ProtocolError
        when no user has ``min_papers`` papers.
    """
    rng = np.random.default_rng(seed)
    x = sp.csr_matrix(inter.matrix)
    counts = np.diff(x.indptr)
    eligible = np.flatnonzero(counts >= min_papers)
    if eligible.size == 0:
        raise ProtocolError(
            f"no user has {min_papers} or more papers (the longest history has "
            f"{counts.max(initial=0)}); the sparse protocol needs at least one such user"
        )
    n_users = max(1, int(round(share * eligible.size)))
    chosen = rng.choice(eligible, size=n_users, replace=False)
    n_out = np.zeros(x.shape[0], dtype=np.int64)
    n_out[chosen] = counts[chosen] - keep
    return hold_out(inter, n_out, rng)


SPLITS = {"warm": warm_split, "cold": cold_split, "sparse": sparse_split}
PROTOCOLS = tuple(SPLITS)


def make_split(inter: Interactions, protocol: str, seed: int = 0) -> Split:
    if protocol not in SPLITS:
        raise ProtocolError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")
    return SPLITS[protocol](inter, seed)


def _dcg_discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def rank_metrics(
    scorer: Scorer, split: Split, k: int, batch: int = 512, progress: bool = False
) -> dict[str, float]:
    """recall@k, nDCG@k and coverage of one fitted scorer on a split."""
    train = split.train.matrix
    test = split.test
    cand = split.candidates
    n_cols = train.shape[1] if cand is None else cand.size
    disc = _dcg_discounts(k)
    recalls, ndcgs = [], []
    shown = np.zeros(n_cols, dtype=bool)
    users = split.users
    for start in tqdm(range(0, users.size, batch), disable=not progress, leave=False):
        ub = users[start : start + batch]
        rows = train[ub]
        s = np.array(scorer.scores(rows, ub, cand), dtype=np.float32)
        if cand is None:
            r, c = rows.nonzero()
            s[r, c] = -np.inf  # never rank a training paper
            truth = test[ub]
        else:
            truth = test[ub][:, cand]
        kk = min(k, n_cols)
        top = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        order = np.argsort(-np.take_along_axis(s, top, axis=1), axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        for i in range(ub.size):
            rel = truth.indices[truth.indptr[i] : truth.indptr[i + 1]]
            ranked = top[i][np.isfinite(s[i, top[i]])]
            shown[ranked] = True
            hits = np.isin(ranked, rel)
            n_rel = min(k, rel.size)
            recalls.append(hits.sum() / n_rel)
            ndcgs.append(float((hits * disc[: hits.size]).sum() / disc[:n_rel].sum()))
    return {
        f"recall@{k}": float(np.mean(recalls)) if recalls else 0.0,
        f"ndcg@{k}": float(np.mean(ndcgs)) if ndcgs else 0.0,
        "coverage": float(shown.mean()) if n_cols else 0.0,
        "users": int(users.size),
    }


@dataclass
class Report:
    """Results of one evaluation run (one row per model)."""

    dataset: str
    protocol: str
    k: int
    seed: int
    counts: dict[str, int]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "protocol": self.protocol,
            "k": self.k,
            "seed": self.seed,
            "counts": dict(self.counts),
            "models": {r["model"]: {k: v for k, v in r.items() if k != "model"} for r in self.rows},
        }

    def format_table(self) -> str:
        k = self.k
        head = f"{'model':<12} {'recall@' + str(k):>10} {'ndcg@' + str(k):>10} {'coverage':>9} "
        head += f"{'fit_s':>8} {'eval_s':>8}"
        lines = [
            f"{self.dataset}  protocol={self.protocol}  k={k}  seed={self.seed}  "
            + "  ".join(f"{n}={v}" for n, v in self.counts.items()),
            head,
            "-" * len(head),
        ]
        for r in self.rows:
            lines.append(
                f"{r['model']:<12} {r[f'recall@{k}']:>10.4f} {r[f'ndcg@{k}']:>10.4f} "
                f"{r['coverage']:>9.4f} {r['fit_seconds']:>8.2f} {r['eval_seconds']:>8.2f}"
            )
        return "\n".join(lines)


def evaluate(
    dataset: str | Path | Dataset,
    protocol: str = "warm",
    k: int = 20,
    seed: int = 0,
    progress: bool = False,
    scorers: Sequence[Scorer] | None = None,
) -> Report:
    """Fit every model on a seeded split of ``dataset`` and rank the held-out papers.

    Parameters
    ----------
    dataset : dataset directory or a loaded :class:`Dataset`
    protocol : "warm", "cold" or "sparse" (see the module docstring)
    k : int
    seed : int
    progress : bool
    scorers : models to run (default: every baseline and the hybrid)
    """
    ds = dataset if isinstance(dataset, Dataset) else load_dataset(dataset)
    split = make_split(ds.interactions, protocol, seed)
    counts = ds.counts()
    counts["eval_users"] = int(split.users.size)
    counts["test_pairs"] = int(split.test[split.users].nnz)
    if split.candidates is not None:
        counts["candidates"] = int(split.candidates.size)
    report = Report(ds.name, protocol, k, seed, counts)
    for scorer in scorers if scorers is not None else default_scorers(seed):
        t0 = time.perf_counter()
        scorer.fit(split.train, ds.texts, ds.published)
        fit_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        m = rank_metrics(scorer, split, k, progress=progress)
        row = {"model": scorer.name, **m}
        row["fit_seconds"] = round(fit_s, 3)
        row["eval_seconds"] = round(time.perf_counter() - t1, 3)
        report.rows.append(row)
    return report
