"""The served model: collaborative neighbourhood + ALS + text, blended by history length.

Owns :class:`HybridRecommender`, the ``implicit``-shaped surface of the recommender (params,
``fit``, ``recommend``, ``similar``, ``save``, ``load``) and :class:`Recommendation`. Fitting
trains each component:

* ``knn``  -- a sparse top-k RP3beta item-item matrix (:mod:`recommender.neighbours`);
* ``ease`` -- EASE over every read paper while its fit stays within ``ease_memory_mb`` (a
  third of the machine's memory unless set; or up to ``ease_max_items`` papers when set), the
  most read beyond (``ease_head`` of them on a deployment of ``ease_head_from`` pairs or more:
  its dense work grows with the square and the cube of that number), sparsified to top-k;
* ``als``  -- implicit ALS; a request folds the user's current history into a user vector,
  and an ANN index over the item factors (:mod:`recommender.ann`) finds its top papers. With
  ``als_engine="spark"`` the factors are fitted by Spark MLlib instead (one SparkSession per
  ``fit``, :mod:`recommender.spark_als`), from scratch, and the model is the same afterwards;
* ``text`` -- TF-IDF over title and abstract (:mod:`recommender.text`);
* ``pop``  -- log readers;
* ``bridge`` -- for a paper nobody has read (yet), the co-reading of the ``bridge_k`` read
  papers closest to it in text, weighted by their cosine: a new paper borrows the readers of
  the papers it resembles.

The blend's weights are chosen at each fit on validation users carved from the events
(:mod:`recommender.tuning`). Scoring, ranking and reasons are :mod:`recommender.scoring`'s,
the one path that every caller shares. Nothing is retrained per request.

A retrain given the previous model's folder reuses what has not changed: the text rows of
papers whose text is the same, and the ALS solution, which it continues for
``als_warm_iterations`` instead of fitting from random factors (``_Previous``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from . import kernels, scoring, tuning
from .ann import InnerProductIndex
from .collaborative import USER_FACTORS_FILE, ALSModel, Fitter
from .interactions import Interactions, actions, history_vector
from .neighbours import ease_items_within, ease_neighbours, item_neighbours, physical_memory
from .sparse_utils import grown, load_csr, member, row_positions, save_csr
from .text import TextModel

FORMAT_VERSION = 3  # 2: published_days.npy instead of freshness.npy; 3: readers_of
WARM_SHARE = 0.8  # share of the confidence entries on known users and papers for a warm start
USER_IDS_FILE = "user_ids.json"  # the training users, in the order of the ALS user factors
ALS_ENGINES = ("implicit", "spark")

# EASE's memory when the machine does not say how much it has (16,000 papers' worth).
EASE_FALLBACK_MB = 3072

# The components' settings were compared with bench/recommender_tune.py on validation users
# carved from the training part of citeulike-t and movielens-100k. The blend weights below are
# where a training's search starts (recommender/tuning.py) and what an untuned model uses.
DEFAULT_PARAMS: dict[str, Any] = {
    # collaborative neighbourhood
    "neighbours_kind": "rp3beta",
    "neighbours_k": 100,
    "neighbours_max_per_user": 300,  # heavier readers count with a random sample (0: all)
    "rp3_alpha": 1.0,
    "rp3_beta": 0.5,
    # EASE over every read paper while its fit stays within ease_memory_mb (None: a third of
    # the machine's memory), the most read beyond; or up to ease_max_items papers when set.
    # Its Gram matrix is n^2 float32 (1 GB at 16,000) and inverting it grows with the cube
    # (README, "Recommendation quality"). A deployment of ease_head_from (user, paper) pairs
    # or more keeps to the ease_head most read, so that its retrain stays within budget
    # (bench/train.py)
    "ease_max_items": None,
    "ease_memory_mb": None,
    "ease_head": 8_000,
    "ease_head_from": 1_000_000,
    "ease_regularization": 300.0,
    "ease_k": 200,
    # ALS (0 factors disables it)
    "als_factors": 64,
    "als_regularization": 30.0,
    "als_alpha": 5.0,
    "als_iterations": 15,
    # a retrain continues from the previous model's factors for this many iterations, when
    # most of the matrix is on users and papers that model knew (WARM_SHARE)
    "als_warm_iterations": 3,
    # who fits ALS: "implicit" (in process) or "spark" (Spark MLlib, pyspark and Java 17+:
    # recommender/spark_als.py; fits from scratch, no warm start). Spark's regularisation is
    # scaled by each row's count (ALS-WR), so it has its own regParam; its confidence is made
    # implicit's (alpha * r). Chosen on movielens-100k, checked on citeulike-t
    # (bench/train_spark.py, README "Training on Apache Spark")
    "als_engine": "implicit",
    "spark_master": None,  # None: local[*]
    "spark_driver_memory": "1g",
    "spark_work_dir": None,  # None: a temporary folder; on a cluster, a shared one
    "spark_reg_param": 0.5,
    "spark_iterations": 10,
    # text
    "text_max_features": 200_000,
    "text_min_df": 2,
    "text_max_df": 0.5,
    "text_max_query_terms": 300,
    "text_max_postings": 250_000,
    "text_candidate_postings": 20_000,
    "text_centering": 0.7,
    # a paper without readers borrows the co-reading of its bridge_k closest read papers in
    # text (each query within bridge_postings postings); chosen on citeulike-t's cold split
    # and checked on movielens-100k's (bench/HISTORY.md)
    "bridge_k": 5,
    "bridge_postings": 5_000,
    # blend
    "w_knn": 1.0,
    "w_ease": 1.0,
    "w_als": 2.0,
    "als_half": 50.0,
    "w_text": 0.5,
    "text_floor": 0.3,
    "history_half": 3.0,
    "w_pop": 0.02,
    # relative to the text weight, the other signal of an unread paper; it grows with the
    # history's evidence, as it stacks two inferences (co-read, then alike in text)
    "w_bridge": 1.0,
    "bridge_half": 9.0,
    # papers close to a dismissed one (co-read with it, or alike in text) lose up to this
    # much; chosen by hand, as no shared dataset has dismissals to tune it on
    "w_dismissed": 0.5,
    # blend weights chosen at training time on validation users carved from the events
    # (recommender.tuning): at most tune_users of them, the components fitted for it on at
    # most tune_max_users users
    "tune": True,
    "tune_users": 1000,
    "tune_max_users": 20_000,
    # serving: catalogs this large are scored over gathered candidates (scoring.gather)
    "serve_exact_below": 10_000,
    "als_candidates": 200,
    "text_candidates": 300,
    "neighbour_candidates": 500,
    "popular_candidates": 100,
    # reproducibility and threads
    "random_state": 0,
    "num_threads": 0,
}


@dataclass
class Recommendation:
    """One recommended paper with JSON-ready reasons (``{"type": ...}`` dicts)."""

    paper_id: str
    score: float
    reasons: list[dict[str, Any]] = field(default_factory=list)


def _parse_day(value: str | None) -> int:
    """A date's proleptic ordinal, 0 when missing or not a date."""
    if not value:
        return 0
    try:
        return dt.date.fromisoformat(str(value)[:10]).toordinal()
    except ValueError:
        return 0


@dataclass
class _Previous:
    """What a retrain reuses from the model it replaces (read from its folder).

    ``paper_rows``: for each of this training's papers its row in the previous model (-1 when
    new); ``text``: the previous text model; ``user_rows``, ``user_factors``,
    ``item_factors``: the previous ALS solution and where this training's users were in it;
    ``tuning``: the blend the previous training chose; ``bridge``: its bridge matrix. Missing
    parts are None.
    """

    text: TextModel | None = None
    paper_rows: np.ndarray | None = None
    bridge: sp.csr_matrix | None = None
    user_rows: np.ndarray | None = None
    user_factors: np.ndarray | None = None
    item_factors: np.ndarray | None = None
    tuning: tuning.Tuning | None = None

    @classmethod
    def read(
        cls, folder: str | Path | None, paper_ids: Sequence[str], user_ids: Sequence[str]
    ) -> _Previous:
        """An unreadable or absent folder gives nothing to reuse."""
        if folder is None:
            return cls()
        folder = Path(folder)
        try:
            old_papers = json.loads((folder / "paper_ids.json").read_text(encoding="utf-8"))
            prev = cls(TextModel.load(folder, mmap=True), _rows_in(old_papers, paper_ids))
        except (OSError, ValueError, KeyError):
            return cls()
        try:
            prev.bridge = load_csr(folder / "bridge")
        except (OSError, ValueError):
            prev.bridge = None
        try:
            chosen = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["tuning"]
            prev.tuning = tuning.Tuning(**chosen) if chosen else None
        except (OSError, ValueError, KeyError, TypeError):
            prev.tuning = None
        try:
            old_users = json.loads((folder / USER_IDS_FILE).read_text(encoding="utf-8"))
            prev.user_factors = np.load(folder / USER_FACTORS_FILE, mmap_mode="r")
            prev.item_factors = np.load(folder / "als_item_factors.npy", mmap_mode="r")
            prev.user_rows = _rows_in(old_users, user_ids)
        except (OSError, ValueError):
            prev.user_factors = prev.item_factors = None
        return prev

    def als_start(
        self, x: sp.csr_matrix, factors: int, seed: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """(user factors, item factors) to continue from, for the matrix ``x``: the previous
        rows, small random ones for new users and papers (as implicit starts); None when there
        is no previous solution of that size or less than WARM_SHARE of ``x`` is on users
        and papers it knew."""
        if self.item_factors is None or self.user_factors is None:
            return None
        if self.item_factors.shape[1] != factors or self.user_factors.shape[1] != factors:
            return None
        if self.user_rows.max(initial=-1) >= self.user_factors.shape[0]:
            return None
        if self.paper_rows.max(initial=-1) >= self.item_factors.shape[0]:
            return None
        if x.nnz == 0:
            return None
        users, papers = self.user_rows >= 0, self.paper_rows >= 0
        on_known = users[np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))] & papers[x.indices]
        if on_known.mean() < WARM_SHARE:
            return None
        rng = np.random.default_rng(seed)
        return (
            _start_rows(self.user_factors, self.user_rows, rng),
            _start_rows(self.item_factors, self.paper_rows, rng),
        )


def _rows_in(old_ids: Sequence[str], ids: Sequence[str]) -> np.ndarray:
    """For each of ``ids`` its position in ``old_ids``, -1 when absent."""
    old_index = {v: i for i, v in enumerate(old_ids)}
    return np.fromiter((old_index.get(v, -1) for v in ids), np.int64, len(ids))


def _start_rows(old: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = rng.random((rows.size, old.shape[1]), dtype=np.float32) * 0.01
    known = rows >= 0
    out[known] = old[rows[known]]
    return out


class HybridRecommender:
    """Hybrid collaborative + text recommender (see the module docstring).

    Parameters
    ----------
    **params
        Overrides of :data:`DEFAULT_PARAMS` (unknown names raise TypeError).
    """

    def __init__(self, **params: Any) -> None:
        unknown = set(params) - set(DEFAULT_PARAMS)
        if unknown:
            raise TypeError(f"unknown HybridRecommender parameters: {sorted(unknown)}")
        if params.get("als_engine", "implicit") not in ALS_ENGINES:
            raise ValueError(
                f"unknown als_engine {params['als_engine']!r}; expected one of {ALS_ENGINES}"
            )
        self.params: dict[str, Any] = {**DEFAULT_PARAMS, **params}
        self.paper_ids: list[str] = []
        self.paper_index: dict[str, int] = {}
        self.n_users = 0
        self.user_ids: list[str] = []  # the training users, in ALS's row order (not loaded)
        self.als_warm = False  # whether the last fit continued from the previous factors
        self.n_interactions = 0
        self.neighbours = sp.csr_matrix((0, 0), dtype=np.float32)
        self.ease = sp.csr_matrix((0, 0), dtype=np.float32)
        self.bridge = sp.csr_matrix((0, 0), dtype=np.float32)
        self.als: ALSModel | None = None
        self.als_index: InnerProductIndex | None = None
        self.text = TextModel()
        self.popularity = np.zeros(0, np.float32)  # log1p(readers), scaled to max 1
        self.readers = np.zeros(0, np.int32)
        # for each paper, its training readers (user rows, sorted): who read both of two papers
        self.readers_of = sp.csr_matrix((0, 0), dtype=np.int8)
        self.published_days = np.zeros(0, np.int32)  # date ordinals, 0 when unknown
        self.fit_seconds = 0.0
        self.fit_timings: dict[str, float] = {}
        self.tuning: tuning.Tuning | None = None  # what the last fit chose (None: not tuned)
        # with als_engine "spark": the SparkALS fitting ALS (a caller may set a running one;
        # otherwise fit opens one from the spark_* params and stops it at its end)
        self.spark: Any = None
        self._readers_order: np.ndarray | None = None
        self._since: tuple[int, np.ndarray] | None = None

    @property
    def n_papers(self) -> int:
        return len(self.paper_ids)

    @property
    def bridge(self) -> sp.csr_matrix:
        """Rows of the papers nobody has read: their ``bridge_k`` closest read papers in text,
        with the cosine (``bridge_t``: its transpose, from a read paper to the unread ones it
        bridges to)."""
        return self._bridge

    @bridge.setter
    def bridge(self, m: sp.csr_matrix) -> None:
        self._bridge = m
        self.bridge_t = sp.csr_matrix(m.T, dtype=np.float32)

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        inter: Interactions,
        texts: Sequence[str],
        published: Sequence[str | None] | None = None,
        progress: bool = False,
        previous: str | Path | None = None,
    ) -> HybridRecommender:
        """Train every component.

        Parameters
        ----------
        inter : Interactions, matrix shape (n_users, n_papers)
        texts : sequence of str, length n_papers (title + " " + abstract per paper)
        published : sequence of ISO dates or None, length n_papers, optional
        progress : bool
            Show tqdm progress for the ALS fit.
        previous : folder of a saved model, optional
            Its text rows are reused for papers whose text is unchanged
            (:meth:`TextModel.fit`); an unreadable folder is ignored.
        """
        t0 = time.perf_counter()
        p = self.params
        n = inter.n_papers
        if len(texts) != n:
            raise ValueError(f"texts has {len(texts)} entries for {n} papers")
        if published is not None and len(published) != n:
            raise ValueError(f"published has {len(published)} entries for {n} papers")
        x = sp.csr_matrix(inter.matrix, dtype=np.float32)
        self.paper_ids = list(inter.paper_ids)
        self.paper_index = {pid: i for i, pid in enumerate(self.paper_ids)}
        self.n_users = inter.n_users
        self.user_ids = list(inter.user_ids)
        self.n_interactions = int(x.nnz)
        self._readers_order = None
        self._since = None

        self.published_days = np.zeros(n, np.int32)
        if published is not None:
            self.published_days = np.fromiter(map(_parse_day, published), np.int32, n)

        timings: dict[str, float] = {}
        tick = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal tick
            now = time.perf_counter()
            timings[name] = round(now - tick, 3)
            tick = now

        prev = _Previous.read(previous, self.paper_ids, inter.user_ids)
        self.text = TextModel(
            max_features=p["text_max_features"],
            min_df=p["text_min_df"],
            max_df=p["text_max_df"],
            max_query_terms=p["text_max_query_terms"],
            max_postings=p["text_max_postings"],
            centering=p["text_centering"],
        ).fit(texts, prev.text, prev.paper_rows)
        lap("text")

        self.tuning = None
        with self._spark_session():
            if p["tune"]:
                self.tuning = tuning.reuse(prev.tuning, x.nnz) or self._tune(inter)
                self.params.update(self.tuning.weights)
                lap("tuning")
            self._fit_collaborative(x, prev, progress, lap)
        self.bridge = self._bridged(np.flatnonzero(self.readers == 0), prev)
        lap("bridge")
        self.fit_timings = timings
        self.fit_seconds = time.perf_counter() - t0
        return self

    def add_papers(
        self,
        paper_ids: Sequence[str],
        texts: Sequence[str],
        published: Sequence[str | None] | None = None,
    ) -> None:
        """Add papers that joined the catalog after training, without refitting anything.

        They count through their text at once (vectorised with the fitted vocabulary), so they
        can be recommended, found by ``since=`` and named by reasons; nobody has read them in
        the training data, so their co-reading, ALS and popularity parts are empty until the
        next training learns them. Ids the model already has are ignored.
        """
        keep = [i for i, pid in enumerate(paper_ids) if pid not in self.paper_index]
        if not keep:
            return
        n, m = self.n_papers, len(keep)
        ids = [paper_ids[i] for i in keep]
        days = np.zeros(m, np.int32)
        if published is not None:
            days = np.fromiter((_parse_day(published[i]) for i in keep), np.int32, m)
        self.paper_ids = [*self.paper_ids, *ids]
        self.paper_index.update((pid, n + j) for j, pid in enumerate(ids))
        self.published_days = np.concatenate([np.asarray(self.published_days), days])
        self.popularity = np.concatenate([np.asarray(self.popularity), np.zeros(m, np.float32)])
        self.readers = np.concatenate([np.asarray(self.readers), np.zeros(m, np.int32)])
        self.readers_of = grown(self.readers_of, n + m, self.readers_of.shape[1])
        self.neighbours = grown(self.neighbours, n + m, n + m)
        self.ease = grown(self.ease, n + m, n + m)
        self.text.add_rows([texts[i] for i in keep])
        self.bridge = sp.csr_matrix(
            sp.vstack([grown(self.bridge, n, n + m), self._bridged(np.arange(n, n + m))[n:]])
        )
        if self.als is not None:  # the index keeps its papers: new ones are text candidates
            self.als.add_items(m)
        self._readers_order = None
        self._since = None

    def _bridged(self, rows: np.ndarray, prev: _Previous | None = None) -> sp.csr_matrix:
        """The bridge matrix (n_papers x n_papers) with rows only for ``rows`` (sorted): each
        one's ``bridge_k`` closest papers in text among those with readers.

        A retrain keeps the previous model's row of a paper whose text row it kept (same
        vocabulary, same text), less the papers that lost their readers: searching the text
        of every unread paper is the cost of a first training, and a retrain pays it only for
        papers that were read before. Papers read since the previous model are not added to
        the rows it lends."""
        p = self.params
        n = self.n_papers
        rows = np.asarray(rows, np.int64)
        if not p["bridge_k"] or not p["w_bridge"] or not self.text.n_terms or not rows.size:
            return sp.csr_matrix((n, n), dtype=np.float32)
        read = np.zeros(n, bool)
        read[: self.readers.size] = np.asarray(self.readers) > 0
        lent = self._lent_bridge(rows, prev, read)
        search = rows if lent is None else rows[np.diff(lent.indptr)[rows] == 0]
        near = self.text.nearest(search, read, int(p["bridge_k"]), int(p["bridge_postings"]))
        lens = np.zeros(n, np.int64)
        lens[search] = np.diff(near.indptr)
        found = sp.csr_matrix(
            (near.data, near.indices, np.concatenate([[0], np.cumsum(lens)])),
            shape=(n, n),
            dtype=np.float32,
        )
        return found if lent is None else sp.csr_matrix(found + lent)

    def _lent_bridge(
        self, rows: np.ndarray, prev: _Previous | None, read: np.ndarray
    ) -> sp.csr_matrix | None:
        """The previous model's bridge rows that still hold for ``rows``, in this model's
        paper order (None when it has none to lend)."""
        if prev is None or prev.bridge is None or prev.text is None:
            return None
        if self.text.vectorizer is not prev.text.vectorizer:  # the vocabulary was refitted
            return None
        old = prev.paper_rows
        if old is None or old.max(initial=-1) >= prev.bridge.shape[0]:
            return None
        known = rows[old[rows] >= 0]
        known = known[prev.text.hashes[old[known]] == self.text.hashes[known]]
        new_index = np.full(prev.bridge.shape[1], -1, np.int64)  # previous paper -> this one
        new_index[old[old >= 0]] = np.flatnonzero(old >= 0)
        pos, lens = row_positions(prev.bridge, old[known])
        targets = new_index[prev.bridge.indices[pos]]
        ok = targets >= 0
        ok[ok] = read[targets[ok]]
        owner = np.repeat(known, lens)
        n = self.n_papers
        return sp.csr_matrix(
            (prev.bridge.data[pos][ok], (owner[ok], targets[ok])), shape=(n, n), dtype=np.float32
        )

    @contextmanager
    def _spark_session(self) -> Iterator[None]:
        """With ``als_engine="spark"`` and no :attr:`spark` set by the caller: a
        :class:`~recommender.spark_als.SparkALS` from the ``spark_*`` params for this fit (its
        JVM starts at the first ALS fit), stopped at the end."""
        p = self.params
        if p["als_engine"] != "spark" or self.spark is not None:
            yield
            return
        from .spark_als import SparkALS

        self.spark = SparkALS(
            master=p["spark_master"],
            driver_memory=p["spark_driver_memory"],
            work_dir=p["spark_work_dir"],
        )
        try:
            yield
        finally:
            spark, self.spark = self.spark, None
            spark.stop()

    def _ease_items(self, pairs: int) -> int:
        """How many papers EASE covers (the most read): none when ``ease_max_items`` is 0;
        ``ease_head`` on a deployment of ``ease_head_from`` pairs or more; else
        ``ease_max_items`` when set; else as many as fit ``ease_memory_mb`` (a third of the
        machine's memory unless set)."""
        p = self.params
        cap = p["ease_max_items"]
        if cap == 0:
            return 0
        if pairs >= p["ease_head_from"]:
            return int(p["ease_head"])
        if cap is not None:
            return int(cap)
        memory_mb = p["ease_memory_mb"]
        if memory_mb is None:
            memory_mb = (physical_memory() or 0) / 3 / 2**20 or EASE_FALLBACK_MB
        return ease_items_within(memory_mb * 2**20)

    def _als_fitter(self) -> Fitter | None:
        """How ALS is fitted: None for implicit, else Spark's fit with this model's settings."""
        p = self.params
        if p["als_engine"] != "spark":
            return None
        if self.spark is None:
            raise RuntimeError('als_engine "spark" fits ALS within fit(), which opens Spark')
        return partial(
            self.spark.fit,
            factors=int(p["als_factors"]),
            reg_param=float(p["spark_reg_param"]),
            alpha=float(p["als_alpha"]),
            iterations=int(p["spark_iterations"]),
            seed=int(p["random_state"]),
            user_ids=self.user_ids or None,
            paper_ids=self.paper_ids,
        )

    def _fit_collaborative(
        self, x: sp.csr_matrix, prev: _Previous, progress: bool, lap: Callable[[str], None]
    ) -> None:
        """Fit what the events give (readers, co-reading, EASE, ALS) on the matrix ``x``,
        with the current weights: a component weighted 0 is not fitted."""
        p = self.params
        n = x.shape[1]
        by_paper = x.tocsc()
        by_paper.sort_indices()
        self.readers = np.diff(by_paper.indptr).astype(np.int32)
        self.readers_of = sp.csr_matrix(
            (np.ones(by_paper.nnz, np.int8), by_paper.indices, by_paper.indptr),
            shape=(n, x.shape[0]),
        )
        del by_paper
        pop = np.log1p(self.readers.astype(np.float32))
        self.popularity = pop / pop.max() if pop.size and pop.max() > 0 else pop
        self._readers_order = None
        lap("popularity")

        self.neighbours = item_neighbours(
            x,
            k=p["neighbours_k"],
            kind=p["neighbours_kind"],
            alpha=p["rp3_alpha"],
            beta=p["rp3_beta"],
            max_per_user=int(p["neighbours_max_per_user"]) or None,
            seed=int(p["random_state"]),
        )
        lap("neighbours")

        covered = self._ease_items(x.nnz)
        if covered > 0 and p["w_ease"] > 0:
            self.ease = ease_neighbours(
                x, regularization=p["ease_regularization"], max_items=covered, k=p["ease_k"]
            )
        else:
            self.ease = sp.csr_matrix((n, n), dtype=np.float32)
        lap("ease")

        self.als = None
        self.als_warm = False
        if p["als_factors"] > 0 and p["w_als"] > 0 and x.nnz > 0:
            fitter = self._als_fitter()
            start = None
            if fitter is None:  # a warm start is implicit's; Spark fits from scratch
                start = prev.als_start(x, int(p["als_factors"]), int(p["random_state"]))
            self.als_warm = start is not None and p["als_warm_iterations"] > 0
            self.als = ALSModel(**self._als_params()).fit(
                x,
                progress=progress,
                start=start if self.als_warm else None,
                iterations=int(p["als_warm_iterations"]) if self.als_warm else None,
                fitter=fitter,
            )
        lap("als")
        self.als_index = None
        if self.als is not None and n >= p["serve_exact_below"]:
            self.als_index = InnerProductIndex.build(
                self.als.item_factors, seed=int(p["random_state"])
            )
        lap("als_index")

    def _tune(self, inter: Interactions) -> tuning.Tuning:
        """Blend weights for these events (:mod:`recommender.tuning`): the components are
        fitted on the events left after carving out validation users (of at most
        ``tune_max_users`` users, the validation ones included, on a large deployment) and
        the blend is searched on the validation users."""
        p = self.params
        seed = int(p["random_state"])
        val = tuning.validation_split(inter, seed, int(p["tune_users"]))
        if val.users.size < tuning.MIN_USERS:
            return tuning.Tuning(
                skipped=f"{val.users.size} user{'' if val.users.size == 1 else 's'} with "
                f"{tuning.MIN_PAPERS} or more papers, "
                f"fewer than {tuning.MIN_USERS}: the weights stay"
            )
        x = sp.csr_matrix(val.train.matrix, dtype=np.float32)
        limit = int(p["tune_max_users"])
        if limit and x.shape[0] > limit:  # the validation users and a sample of the others
            others = np.setdiff1d(np.arange(x.shape[0]), val.users)
            rng = np.random.default_rng(seed)
            kept = np.zeros(x.shape[0], bool)
            kept[val.users] = True
            kept[rng.choice(others, max(0, limit - val.users.size), replace=False)] = True
            x = sp.csr_matrix(sp.diags(kept.astype(np.float32)) @ x)
            x.eliminate_zeros()
        # EASE covers as many papers as the deployment's own fit does: the sample's fewer
        # pairs must not take it past ease_head_from's line (a head of 8,000 papers) to a fit
        # over every paper that fits memory, minutes longer and gigabytes larger
        covered = self._ease_items(inter.matrix.nnz)
        scratch = HybridRecommender(**{**p, "tune": False, "ease_max_items": covered})
        scratch.paper_ids, scratch.paper_index = self.paper_ids, self.paper_index
        scratch.user_ids, scratch.spark = self.user_ids, self.spark
        scratch.published_days, scratch.text = self.published_days, self.text
        scratch._fit_collaborative(x, _Previous(), False, lambda _: None)
        chosen = tuning.search(p, tuning.stack(scratch, val), seed=seed)
        chosen.interactions = int(inter.matrix.nnz)
        return chosen

    def _als_params(self) -> dict[str, Any]:
        p = self.params
        return {
            "factors": p["als_factors"],
            "regularization": p["als_regularization"],
            "alpha": p["als_alpha"],
            "iterations": p["als_iterations"],
            "random_state": p["random_state"],
            "num_threads": p["num_threads"],
        }

    # -------------------------------------------------------------- scoring
    def score_rows(self, rows: sp.csr_matrix, candidates: np.ndarray | None = None) -> np.ndarray:
        """Blended scores for a batch of confidence rows (evaluation's path).

        Parameters
        ----------
        rows : csr_matrix, shape (n_rows, n_papers)
        candidates : ndarray of int, shape (n_cand,), sorted, optional
            Score only these papers, each component scaled over them.

        Returns
        -------
        ndarray of float32, shape (n_rows, n_cand or n_papers). History papers are *not*
        masked here (callers do that).
        """
        rows = sp.csr_matrix(rows, dtype=np.float32)
        width = self.n_papers if candidates is None else len(candidates)
        out = np.zeros((rows.shape[0], width), np.float32)
        for i in range(rows.shape[0]):
            lo, hi = rows.indptr[i], rows.indptr[i + 1]
            keep = rows.data[lo:hi] > 0
            sig = scoring.signal(self, rows.indices[lo:hi][keep], rows.data[lo:hi][keep])
            out[i] = scoring.score(self, sig, candidates).total
        return out

    def recommend(
        self,
        history: Iterable[tuple[str, str, int | None]],
        n: int = 20,
        candidates: Collection[str] | None = None,
        since: str | None = None,
        exact: bool = False,
        texts: Mapping[str, str] | None = None,
    ) -> list[Recommendation]:
        """Top-``n`` papers for a user's current history (none for an empty one: what to show
        a newcomer is the caller's choice).

        Parameters
        ----------
        history : iterable of (paper_id, type, dwell_ms)
            All of the user's events.
        texts : mapping of paper id -> title and abstract, optional
            The text of history papers the model does not know (they joined the catalog after
            its training): they count through the text model's vocabulary, weighted by their
            confidence like any other history paper. Unknown papers without a text are
            ignored.
        n : int
        candidates : collection of paper ids, optional
            Only these are scored and returned.
        since : ISO date, optional
            Only papers published (or first seen) on or after it.
        exact : bool
            Score every paper (or every allowed one) even on a large catalog, instead of the
            gathered candidates (:func:`scoring.gather`).
        """
        if self.n_papers == 0 or n <= 0:
            return []
        history = list(history)
        positives, weights, seen, dismissed = history_vector(history, self.paper_index)
        extra = self._unknown_texts(history, texts)
        if positives.size == 0 and extra is None:
            return []
        sig = scoring.signal(self, positives, weights, texts=extra, dismissed=dismissed)
        allowed = None
        if candidates is not None:
            allowed = np.zeros(self.n_papers, bool)
            allowed[[self.paper_index[c] for c in candidates if c in self.paper_index]] = True
        if since is not None:
            allowed = self.published_since(since) & (True if allowed is None else allowed)
        items = self._items_for(sig, allowed, seen, n, exact)
        if items is not None and items.size == 0:
            return []
        scored = scoring.score(self, sig, items)
        at = scoring.top(scored, n, exclude=seen)
        why = scoring.reasons(self, sig, scored, at)
        citing = [reason for said in why for reason in said if "paper_id" in reason]
        cited = {reason["paper_id"] for reason in citing}
        done = actions([e for e in history if e[0] in cited]) if citing else {}
        for reason in citing:
            reason["action"] = done.get(reason["paper_id"], "opened")
        total = scored.total
        return [
            Recommendation(self.paper_ids[scored.items[t]], float(total[t]), r)
            for t, r in zip(at, why, strict=True)
        ]

    def _unknown_texts(
        self, history: list[tuple[str, str, int | None]], texts: Mapping[str, str] | None
    ) -> scoring.Texts | None:
        """The history's papers outside the model that have a text (None when there are
        none), with their confidences."""
        if not texts or not self.text.n_terms:
            return None
        unknown = sorted({p for p, _, _ in history if p not in self.paper_index and texts.get(p)})
        if not unknown:
            return None
        index = {paper_id: i for i, paper_id in enumerate(unknown)}
        papers, weights, _, _ = history_vector([e for e in history if e[0] in index], index)
        if papers.size == 0:
            return None
        rows = self.text.transform([texts[unknown[i]] for i in papers])
        return scoring.Texts([unknown[i] for i in papers], rows, weights.astype(np.float64))

    def _items_for(
        self,
        sig: scoring.Signal,
        allowed: np.ndarray | None,
        seen: np.ndarray,
        n: int,
        exact: bool,
    ) -> np.ndarray | None:
        """The papers to score: every (allowed) paper on a small catalog, for a small filter
        or when ``exact``; otherwise the gathered candidates, when they hold ``n`` unseen
        papers."""
        if allowed is not None and (exact or np.count_nonzero(allowed) <= scoring.SMALL_FILTER):
            return np.flatnonzero(allowed)
        if exact or self.n_papers < self.params["serve_exact_below"]:
            return None if allowed is None else np.flatnonzero(allowed)
        gathered = scoring.gather(self, sig, allowed)
        if np.count_nonzero(~member(gathered, seen)) >= n:
            return gathered
        return None if allowed is None else np.flatnonzero(allowed)

    def similar(self, paper_id: str, n: int = 10, text: str | None = None) -> list[Recommendation]:
        """Papers related to one paper: co-reading and text for a known paper, text alone
        (from ``text``) for a paper unknown to the model or without text in it."""
        if self.n_papers == 0 or n <= 0:
            return []
        j = self.paper_index.get(paper_id)
        indptr = self.text.matrix.indptr
        has_text = j is not None and self.text.n_terms and indptr[j + 1] > indptr[j]
        papers = np.array([] if j is None else [j], np.int64)
        sig = scoring.signal(
            self,
            papers,
            np.ones(papers.size),
            texts=(
                scoring.Texts([paper_id], self.text.transform([text]), np.ones(1))
                if text and not has_text
                else None
            ),
            evidence=0.0 if j is None else float(self.readers[j]),
            als=False,
        )
        items = scoring.gather(self, sig, popular=False)
        scored = scoring.score(self, sig, items)
        exclude = papers if j is not None else None
        at = scoring.top(scored, n, exclude=exclude)
        total = scored.total
        return [
            Recommendation(self.paper_ids[scored.items[t]], float(total[t]), r)
            for t, r in zip(at, scoring.similar_reasons(self, sig, scored, at), strict=True)
        ]

    def warm_up(self) -> None:
        """Answer one recommendation and one similar-papers question for the most read paper,
        so that a server's first request does not pay for compiling (or loading from numba's
        cache) the request path's loops for this model's arrays."""
        if self.n_papers == 0:
            return
        paper = self.paper_ids[int(self.most_read(1)[0])]
        self.recommend([(paper, "open", None)], n=1)
        self.similar(paper, n=1)

    def co_readers(self, papers: np.ndarray, others: np.ndarray) -> np.ndarray:
        """How many training users read both ``papers[i]`` and ``others[i]`` (model
        indices), for each ``i`` (``readers_of``'s rows are sorted: the fit sorts them)."""
        m = self.readers_of
        papers, others = np.asarray(papers, np.int64), np.asarray(others, np.int64)
        if m.shape[0] == 0:
            return np.zeros(papers.size, np.int64)
        return kernels.common_counts(m.indptr, m.indices, papers, others)

    def most_read(self, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
        """Indices of the ``k`` most-read papers (ties by index), among the ``allowed``."""
        order = self._readers_order
        if order is None:
            readers = np.asarray(self.readers)
            order = self._readers_order = np.lexsort((np.arange(readers.size), -readers))
        if allowed is None:
            return order[:k]
        return order[allowed[order]][:k]

    def published_since(self, since: str) -> np.ndarray:
        """Bool mask over the papers: published (or first seen) on or after ``since``."""
        day = dt.date.fromisoformat(since[:10]).toordinal()
        kept = self._since
        if kept is not None and kept[0] == day:
            return kept[1]
        mask = np.asarray(self.published_days) >= day
        self._since = (day, mask)
        return mask

    # ----------------------------------------------------------------- files
    def save(self, folder: str | Path) -> None:
        """Write the model into ``folder`` (which must exist and be empty)."""
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is not a directory")
        if any(folder.iterdir()):
            raise FileExistsError(f"{folder} is not empty")
        (folder / "paper_ids.json").write_text(json.dumps(self.paper_ids), encoding="utf-8")
        np.save(folder / "popularity.npy", self.popularity.astype(np.float32))
        np.save(folder / "readers.npy", self.readers.astype(np.int32))
        np.save(folder / "published_days.npy", self.published_days.astype(np.int32))
        save_csr(folder / "neighbours", self.neighbours)
        save_csr(folder / "ease", self.ease)
        save_csr(folder / "readers_of", self.readers_of)
        save_csr(folder / "bridge", self.bridge)
        self.text.save(folder)
        if self.als is not None:
            self.als.save(folder)
        if self.user_ids:  # a loaded model has none: see keep_users
            (folder / USER_IDS_FILE).write_text(json.dumps(self.user_ids), encoding="utf-8")
        if self.als_index is not None:
            self.als_index.save(folder)
        manifest = {
            "format_version": FORMAT_VERSION,
            "model": "HybridRecommender",
            "params": self.params,
            "counts": {
                "users": self.n_users,
                "papers": self.n_papers,
                "interactions": self.n_interactions,
            },
            "components": {"als": self.als is not None, "text_terms": self.text.n_terms},
            "fit_seconds": round(self.fit_seconds, 3),
            "fit_timings": self.fit_timings,
            "als_warm_start": self.als_warm,
            "tuning": self.tuning.to_dict() if self.tuning is not None else None,
        }
        # the manifest goes last: a folder with a manifest is complete
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")

    @staticmethod
    def keep_users(source: str | Path, folder: str | Path) -> None:
        """Give the model saved in ``folder`` the training users' ids and ALS factors kept in
        ``source`` (a loaded model does not read them), so that the next training can still
        start from them. Hard links where the file system allows, else copies."""
        for name in (USER_IDS_FILE, USER_FACTORS_FILE):
            src, dst = Path(source) / name, Path(folder) / name
            if not src.is_file():
                continue
            dst.unlink(missing_ok=True)
            try:
                os.link(src, dst)
            except OSError:
                shutil.copyfile(src, dst)

    @staticmethod
    def forget_users(folder: str | Path) -> None:
        """Delete what a saved model keeps per training user: their ids and ALS factors, read
        only to start the next training from (which then fits ALS afresh). Serving never
        reads them, so a served model can lose them at any time."""
        for name in (USER_IDS_FILE, USER_FACTORS_FILE):
            (Path(folder) / name).unlink(missing_ok=True)

    @classmethod
    def load(cls, folder: str | Path, mmap: bool = True) -> HybridRecommender:
        """Load a model written by :meth:`save` (arrays memory-mapped when ``mmap``)."""
        folder = Path(folder)
        manifest_path = folder / "manifest.json"
        if not manifest_path.is_file():
            raise FileNotFoundError(f"{folder} has no manifest.json: not a saved model")
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        version = manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(
                f"unsupported model format version {version!r} in {folder} "
                f"(this code reads version {FORMAT_VERSION}); retrain the model"
            )
        params = {k: v for k, v in manifest["params"].items() if k in DEFAULT_PARAMS}
        self = cls(**params)
        mode = "r" if mmap else None
        self.paper_ids = json.loads((folder / "paper_ids.json").read_text(encoding="utf-8"))
        self.paper_index = {pid: i for i, pid in enumerate(self.paper_ids)}
        self.n_users = int(manifest["counts"]["users"])
        self.n_interactions = int(manifest["counts"].get("interactions", 0))
        self.popularity = np.load(folder / "popularity.npy", mmap_mode=mode)
        self.readers = np.load(folder / "readers.npy", mmap_mode=mode)
        self.published_days = np.load(folder / "published_days.npy", mmap_mode=mode)
        self.neighbours = load_csr(folder / "neighbours", mmap=mmap)
        self.ease = load_csr(folder / "ease", mmap=mmap)
        self.readers_of = load_csr(folder / "readers_of", mmap=mmap)
        n = len(self.paper_ids)
        self.bridge = (  # models saved before the bridge have none
            load_csr(folder / "bridge", mmap=mmap)
            if (folder / "bridge.shape.json").is_file()
            else sp.csr_matrix((n, n), dtype=np.float32)
        )
        self.text = TextModel.load(folder, mmap=mmap)
        self.text.centering = float(self.params["text_centering"])
        if manifest["components"].get("als"):
            self.als = ALSModel.load(folder, self._als_params())
            self.als_index = InnerProductIndex.load(folder)
        self.fit_seconds = float(manifest.get("fit_seconds", 0.0))
        chosen = manifest.get("tuning")
        self.tuning = tuning.Tuning(**chosen) if chosen else None
        return self
