"""The served model: collaborative neighbourhood + ALS + text, blended by history length.

Owns :class:`HybridRecommender` (fit / recommend / similar / save / load) and
:class:`Recommendation`. For a user with ``n`` positive papers in their *current*
history the score of paper ``j`` is::

    c = n / (n + history_half)
    score_j = c * (w_knn * knn_j + w_ease * ease_j + w_als * n / (n + als_half) * als_j)
            + (w_text * (1 - c) + text_floor) * text_j
            + w_pop * pop_j

where every component is scaled to a maximum of 1 over the candidates:

* ``knn``  -- sum of the history's rows of a sparse top-k RP3beta item-item matrix;
* ``ease`` -- EASE over the most-read papers (bounded dense work), sparsified to top-k;
* ``als``  -- implicit ALS, the user vector folded in from the history on every call;
* ``text`` -- cosine of the paper's TF-IDF row with the user's profile: the weighted sum of
  the history's rows plus, optionally (``w_expand``, off by default: neutral on warm
  validation, harmful on cold), the rows of the papers collaborative filtering ranks
  highest; minus
  ``text_centering`` times the paper's similarity to the catalog mean (a Rocchio
  profile: generic papers stop matching everyone);
* ``pop``  -- log popularity.

An empty history gets popular and fresh papers. Nothing is retrained per request. On
catalogs of ``serve_exact_below`` papers or more, a request is scored over candidates
gathered from each component (:mod:`recommender.serving`, with an ANN index over the ALS
factors from :mod:`recommender.ann`) instead of over every paper.

A retrain given the previous model's folder reuses what has not changed: the text rows of
papers whose text is the same, and the ALS solution, which it continues for
``als_warm_iterations`` instead of fitting from random factors (``_Previous``).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from . import serving
from .ann import InnerProductIndex
from .collaborative import USER_FACTORS_FILE, ALSModel
from .interactions import Interactions, history_vector
from .neighbours import ease_neighbours, item_neighbours
from .sparse_utils import (
    dense_block,
    dense_topk_rows,
    l2_rows,
    load_csr,
    save_csr,
    sparse_row_sum,
    weighted_row_sum,
)
from .text import TextModel

FORMAT_VERSION = 1
WARM_SHARE = 0.8  # share of the confidence entries on known users and papers for a warm start
USER_IDS_FILE = "user_ids.json"  # the training users, in the order of the ALS user factors

# Chosen with bench/recommender_tune.py on validation splits carved from the TRAINING part
# of the warm split (citeulike-t and movielens-100k; the test part is never used): the
# blend weights are a compromise that beats full EASE on both validation sets. ALS is
# weighted up with history length (als_half): it helps long histories (MovieLens) and
# hurts short ones (citeulike-t).
DEFAULT_PARAMS: dict[str, Any] = {
    # collaborative neighbourhood
    "neighbours_kind": "rp3beta",
    "neighbours_k": 100,
    "neighbours_max_per_user": 300,  # heavier readers count with a random sample (0: all)
    "rp3_alpha": 1.0,
    "rp3_beta": 0.5,
    # EASE over the most-read papers, sparsified (0 items disables it)
    "ease_max_items": 8000,
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
    # text
    "text_max_features": 200_000,
    "text_min_df": 2,
    "text_max_df": 0.5,
    "text_max_query_terms": 300,
    "text_max_postings": 250_000,
    "text_candidate_postings": 20_000,
    "text_centering": 0.7,
    # blend
    "w_knn": 1.0,
    "w_ease": 1.0,
    "w_als": 2.0,
    "als_half": 50.0,
    "w_text": 0.5,
    "text_floor": 0.3,
    "history_half": 3.0,
    "w_pop": 0.02,
    "w_expand": 0.0,
    "expand_k": 20,
    "w_fresh": 0.5,
    "fresh_days": 30.0,
    # serving: catalogs this large are scored over gathered candidates (recommender.serving)
    "serve_exact_below": 50_000,
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


def _row_max_scale(x: np.ndarray) -> np.ndarray:
    """Divide each row by its largest absolute value (rows of zeros stay zero)."""
    m = np.abs(x).max(axis=1, keepdims=True) if x.shape[1] else np.ones((x.shape[0], 1))
    m[m == 0] = 1.0
    return x / m


def _unit(v: np.ndarray) -> np.ndarray:
    """Vector scaled to unit L2 norm (zeros stay zero)."""
    norm = float(np.sqrt(np.dot(v, v)))
    return v / norm if norm > 0 else v


def _parse_day(value: str | None) -> float:
    if not value:
        return np.nan
    try:
        return float(dt.date.fromisoformat(str(value)[:10]).toordinal())
    except ValueError:
        return np.nan


@dataclass
class _Previous:
    """What a retrain reuses from the model it replaces (read from its folder).

    ``paper_rows``: for each of this training's papers its row in the previous model (-1 when
    new); ``text``: the previous text model; ``user_rows``, ``user_factors``,
    ``item_factors``: the previous ALS solution and where this training's users were in it.
    Missing parts are None.
    """

    text: TextModel | None = None
    paper_rows: np.ndarray | None = None
    user_rows: np.ndarray | None = None
    user_factors: np.ndarray | None = None
    item_factors: np.ndarray | None = None

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
        self.params: dict[str, Any] = {**DEFAULT_PARAMS, **params}
        self.paper_ids: list[str] = []
        self.paper_index: dict[str, int] = {}
        self.n_users = 0
        self.user_ids: list[str] = []  # the training users, in ALS's row order (not loaded)
        self.als_warm = False  # whether the last fit continued from the previous factors
        self.n_interactions = 0
        self.neighbours = sp.csr_matrix((0, 0), dtype=np.float32)
        self.ease = sp.csr_matrix((0, 0), dtype=np.float32)
        self.als: ALSModel | None = None
        self.als_index: InnerProductIndex | None = None
        self._most_read: np.ndarray | None = None
        self.text = TextModel()
        self.popularity = np.zeros(0, np.float32)  # log1p(readers), scaled to max 1
        self.readers = np.zeros(0, np.int32)
        self._last_candidates: tuple[Collection[str], int, np.ndarray] | None = None
        self.freshness = np.zeros(0, np.float32)
        self.fit_seconds = 0.0
        self.fit_timings: dict[str, float] = {}
        self._cold_cache: np.ndarray | None = None

    @property
    def n_papers(self) -> int:
        return len(self.paper_ids)

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
        self._cold_cache = None
        self._most_read = None

        self.readers = np.diff(x.tocsc().indptr).astype(np.int32)
        pop = np.log1p(self.readers.astype(np.float32))
        self.popularity = pop / pop.max() if pop.size and pop.max() > 0 else pop

        self.freshness = np.zeros(n, np.float32)
        if published is not None:
            days = np.array([_parse_day(d) for d in published], dtype=np.float64)
            if np.isfinite(days).any():
                age = np.nanmax(days) - days
                fresh = np.exp(-age / float(p["fresh_days"]))
                self.freshness = np.nan_to_num(fresh, nan=0.0).astype(np.float32)

        timings: dict[str, float] = {}
        tick = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal tick
            now = time.perf_counter()
            timings[name] = round(now - tick, 3)
            tick = now

        lap("popularity")
        prev = _Previous.read(previous, self.paper_ids, inter.user_ids)
        self.text = TextModel(
            max_features=p["text_max_features"],
            min_df=p["text_min_df"],
            max_df=p["text_max_df"],
            max_query_terms=p["text_max_query_terms"],
            max_postings=p["text_max_postings"],
        ).fit(texts, prev.text, prev.paper_rows)
        lap("text")

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

        if p["ease_max_items"] > 0 and p["w_ease"] > 0:
            self.ease = ease_neighbours(
                x,
                regularization=p["ease_regularization"],
                max_items=p["ease_max_items"],
                k=p["ease_k"],
            )
        else:
            self.ease = sp.csr_matrix((n, n), dtype=np.float32)
        lap("ease")

        self.als = None
        self.als_warm = False
        if p["als_factors"] > 0 and p["w_als"] > 0 and x.nnz > 0:
            start = prev.als_start(x, int(p["als_factors"]), int(p["random_state"]))
            self.als_warm = start is not None and p["als_warm_iterations"] > 0
            self.als = ALSModel(**self._als_params()).fit(
                x,
                progress=progress,
                start=start if self.als_warm else None,
                iterations=int(p["als_warm_iterations"]) if self.als_warm else None,
            )
        lap("als")
        self.als_index = None
        if self.als is not None and n >= p["serve_exact_below"]:
            self.als_index = InnerProductIndex.build(
                self.als.item_factors, seed=int(p["random_state"])
            )
        lap("als_index")
        self.fit_timings = timings
        self.fit_seconds = time.perf_counter() - t0
        return self

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
    def components(self, rows: sp.csr_matrix) -> dict[str, np.ndarray]:
        """Unblended component scores for a batch of users.

        Parameters
        ----------
        rows : csr_matrix, shape (n_rows, n_papers)
            Confidence rows (as built by :func:`~recommender.build_interactions`).

        Returns
        -------
        dict of name -> ndarray of float32, shape (n_rows, n_papers), each row scaled to a
        maximum absolute value of 1: ``knn``, ``als``, ``text``; plus ``n_pos``, shape
        (n_rows,), the number of positive papers per row.
        """
        p = self.params
        rows = sp.csr_matrix(rows, dtype=np.float32)
        n_rows, n = rows.shape
        if n_rows == 1:
            return self._components_one(rows)
        out: dict[str, np.ndarray] = {"n_pos": np.diff(rows.indptr).astype(np.float32)}
        knn = np.asarray((rows @ self.neighbours).toarray(), dtype=np.float32)
        out["knn"] = _row_max_scale(knn)
        binary = sp.csr_matrix((np.ones_like(rows.data), rows.indices, rows.indptr), rows.shape)
        out["ease"] = _row_max_scale(np.asarray((binary @ self.ease).toarray(), np.float32))
        if self.als is not None:
            out["als"] = _row_max_scale(self.als.scores(rows).astype(np.float32))
        else:
            out["als"] = np.zeros((n_rows, n), np.float32)
        if self.text.n_terms:
            prof = l2_rows(rows @ self.text.matrix)
            if p["w_expand"] > 0 and p["expand_k"] > 0:
                cf = out["knn"] + p["w_ease"] * out["ease"] + p["w_als"] * out["als"]
                cf = np.maximum(cf, 0.0)
                cf[rows.nonzero()] = 0.0
                top = dense_topk_rows(cf, int(p["expand_k"]))
                prof = prof + p["w_expand"] * l2_rows(top @ self.text.matrix)
            prof = self.text._prune(l2_rows(prof))
            out["text"] = _row_max_scale(self.text.scores(prof, p["text_centering"]))
        else:
            out["text"] = np.zeros((n_rows, n), np.float32)
        return out

    def _components_one(self, row: sp.csr_matrix) -> dict[str, np.ndarray]:
        """:meth:`components` for one user with plain numpy gathers (the exact request path;
        same arithmetic as the batch path up to float summation order)."""
        p = self.params
        n = self.n_papers
        idx = row.indices.astype(np.int64)
        w = row.data.astype(np.float64)
        out: dict[str, np.ndarray] = {"n_pos": np.array([idx.size], np.float32)}
        out["knn"] = _row_max_scale(weighted_row_sum(self.neighbours, idx, w, n)[None, :])
        ones = np.ones(idx.size)
        out["ease"] = _row_max_scale(weighted_row_sum(self.ease, idx, ones, n)[None, :])
        if self.als is not None:
            out["als"] = _row_max_scale(self.als.scores(row).astype(np.float32))
        else:
            out["als"] = np.zeros((1, n), np.float32)
        if not self.text.n_terms:
            out["text"] = np.zeros((1, n), np.float32)
            return out
        cf = None
        if p["w_expand"] > 0 and p["expand_k"] > 0:
            cf = out["knn"][0] + p["w_ease"] * out["ease"][0] + p["w_als"] * out["als"][0]
        scores = self.text_query(idx, w, cf)
        if p["text_centering"]:
            scores -= np.float32(p["text_centering"]) * self.text.genericness
        out["text"] = _row_max_scale(scores[None, :])
        return out

    def text_query(
        self, idx: np.ndarray, w: np.ndarray, cf: np.ndarray | None = None
    ) -> np.ndarray:
        """Raw text cosine of every paper with the profile of the history ``idx`` (weights
        ``w``), within the postings budget; dense float32, shape (n_papers,).

        ``cf`` (collaborative scores over the catalog) adds the ``w_expand`` expansion.
        """
        return self.text.query_scores(*self.text_profile(idx, w, cf))

    def text_profile(
        self, idx: np.ndarray, w: np.ndarray, cf: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The history's text profile (see :meth:`text_query`): (terms, unit weights), at
        most ``max_query_terms`` of them."""
        p = self.params
        n, n_terms = self.n_papers, self.text.n_terms
        if cf is None:
            terms, weights = sparse_row_sum(self.text.matrix, idx, w)
        else:
            prof = _unit(weighted_row_sum(self.text.matrix, idx, w, n_terms))
            cf = np.maximum(cf, 0.0)
            cf[idx] = 0.0
            k = min(int(p["expand_k"]), n)
            top = np.argpartition(-cf, k - 1)[:k]
            top = top[cf[top] > 0]
            if top.size:
                expanded = weighted_row_sum(self.text.matrix, top, cf[top], n_terms)
                prof = prof + p["w_expand"] * _unit(expanded)
            terms = np.flatnonzero(prof)
            weights = prof[terms]
        nonzero = weights != 0
        terms, weights = terms[nonzero], weights[nonzero]
        k = self.text.max_query_terms
        if k and terms.size > k:
            keep = np.sort(np.lexsort((terms, -weights))[:k])
            terms, weights = terms[keep], weights[keep]
        return terms, _unit(weights)

    def most_read(self, k: int) -> np.ndarray:
        """Indices of the ``k`` most-read papers (kept after the first call)."""
        if self._most_read is None or self._most_read.size < min(k, self.n_papers):
            readers = np.asarray(self.readers)
            self._most_read = np.argsort(-readers, kind="stable")[: max(k, 100)]
        return self._most_read[:k]

    def als_top(self, user: np.ndarray, k: int) -> np.ndarray:
        """Indices of (about) the ``k`` papers with the largest ALS score for ``user``: from
        the ANN index when the model has one, else by scanning every paper."""
        if self.als_index is not None:
            return self.als_index.search(user, k)
        scores = self.als.item_factors @ user
        return np.argpartition(-scores, min(k, scores.size) - 1)[:k]

    def blend(
        self,
        comp: dict[str, np.ndarray],
        params: dict[str, Any] | None = None,
        popularity: np.ndarray | None = None,
    ) -> np.ndarray:
        """Blend components (see the module docstring); shape (n_rows, n_cols).

        ``popularity`` (shape (n_cols,)) defaults to the model's; pass the candidates'
        share when the components were restricted to candidates.
        """
        p = {**self.params, **(params or {})}
        pop = self.popularity if popularity is None else popularity
        n_pos = comp["n_pos"][:, None]
        c = n_pos / (n_pos + p["history_half"])
        w_als = p["w_als"] * (n_pos / (n_pos + p["als_half"]) if p["als_half"] else 1.0)
        s = c * (p["w_knn"] * comp["knn"] + p["w_ease"] * comp["ease"] + w_als * comp["als"])
        s += (p["w_text"] * (1.0 - c) + p["text_floor"]) * comp["text"]
        s += p["w_pop"] * pop[None, :]
        cold = n_pos[:, 0] == 0
        if cold.any() and popularity is None:
            s[cold] = self._cold_scores()
        return s

    def _cold_parts(self) -> tuple[np.ndarray, np.ndarray]:
        """(popular, fresh) scores for an empty history, shape (n_papers,) each.

        Rank-based so the two lists interleave: the i-th most read paper scores
        1 / (1 + i), the i-th newest paper (published within ``fresh_days`` of the newest)
        ``w_fresh / (1 + i)``; papers with neither score 0.
        """
        n = self.n_papers
        pop = np.zeros(n, np.float64)
        order = np.lexsort((np.arange(n), -np.asarray(self.readers)))
        order = order[np.asarray(self.readers)[order] > 0]
        pop[order] = 1.0 / (1.0 + np.arange(order.size))
        fresh = np.zeros(n, np.float64)
        f = np.asarray(self.freshness, dtype=np.float64)
        order = np.lexsort((-np.asarray(self.readers), -f))
        order = order[f[order] >= np.exp(-1.0) - 1e-9]
        fresh[order] = self.params["w_fresh"] / (1.0 + np.arange(order.size))
        return pop, fresh

    def _cold_scores(self) -> np.ndarray:
        if self._cold_cache is None:
            pop, fresh = self._cold_parts()
            self._cold_cache = np.maximum(pop, fresh)
        return self._cold_cache

    def score_rows(
        self, rows: sp.csr_matrix, candidates: np.ndarray | None = None
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Components and blended scores for a batch of confidence rows.

        Parameters
        ----------
        rows : csr_matrix, shape (n_rows, n_papers)
        candidates : ndarray of int, shape (n_cand,), sorted, optional
            When given, components are restricted to these columns and rescaled over them.

        Returns
        -------
        (components, scores); scores has shape (n_rows, n_cand or n_papers). History papers
        are *not* masked here (callers do that).
        """
        comp = self.components(rows)
        pop = None
        if candidates is not None:
            comp = {
                k: (v if k == "n_pos" else _row_max_scale(v[:, candidates]))
                for k, v in comp.items()
            }
            pop = self.popularity[candidates]
        scores = self.blend(comp, popularity=pop)
        if candidates is not None and (comp["n_pos"] == 0).any():
            scores[comp["n_pos"] == 0] = self._cold_scores()[candidates]
        return comp, scores

    # -------------------------------------------------------------- serving
    def _candidate_index(self, candidates: Collection[str] | None) -> np.ndarray | None:
        """Model indices of ``candidates``; the same (unchanged) collection as the previous
        call reuses its indices, so a caller that keeps one list per filter pays the mapping
        once (tens of ms for tens of thousands of ids)."""
        if candidates is None:
            return None
        last = self._last_candidates
        if last is not None and last[0] is candidates and last[1] == len(candidates):
            return last[2]
        idx = [self.paper_index[c] for c in candidates if c in self.paper_index]
        found = np.unique(np.asarray(idx, dtype=np.int64))
        self._last_candidates = (candidates, len(candidates), found)
        return found

    def recommend(
        self,
        history: Iterable[tuple[str, str, int | None]],
        n: int = 20,
        candidates: Collection[str] | None = None,
        exact: bool = False,
    ) -> list[Recommendation]:
        """Top-``n`` papers for a user's current history.

        Parameters
        ----------
        history : iterable of (paper_id, type, dwell_ms)
            All of the user's events (papers unknown to the model are ignored).
        n : int
        candidates : collection of paper ids, optional
            Only these are scored and returned.
        exact : bool
            Score every paper even on a large catalog (see :mod:`recommender.serving`).
        """
        if self.n_papers == 0 or n <= 0:
            return []
        row, seen, positives = history_vector(history, self.paper_index, self.n_papers)
        cand = self._candidate_index(candidates)
        if cand is not None and cand.size == 0:
            return []
        if positives.size == 0:
            comp = None
            sub = self._cold_scores()
            sub = sub if cand is None else sub[cand]
        else:
            comp, sub, cand = self._score_user(row, seen, cand, n, exact)
        idx = np.arange(self.n_papers) if cand is None else cand
        blocked = np.zeros(self.n_papers, bool)
        blocked[seen] = True
        keep = ~blocked[idx]
        idx, sub = idx[keep], np.asarray(sub, dtype=np.float64)[keep]
        k = min(n, idx.size)
        if k == 0:
            return []
        top = np.argpartition(-sub, k - 1)[:k]
        top = top[np.lexsort((idx[top], -sub[top]))]
        top_idx = idx[top]
        reasons = self._reasons_batch(top_idx, comp, cand, positives)
        return [
            Recommendation(self.paper_ids[j], float(sub[t]), r)
            for j, t, r in zip(top_idx, top, reasons, strict=False)
        ]

    def _score_user(
        self, row: sp.csr_matrix, seen: np.ndarray, cand: np.ndarray | None, n: int, exact: bool
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray | None]:
        """(components, blended scores, the columns they are for) for one user with history.

        Large catalogs without a candidate filter are scored over gathered candidates
        (:func:`serving.user_components`) when those hold ``n`` unseen papers, and with a
        filter over its candidates only (:func:`serving.candidate_components`); everything
        else is scored exactly over ``cand`` (or the whole catalog).
        """
        large = not exact and self.n_papers >= self.params["serve_exact_below"]
        if large and cand is None:
            gathered, comp = serving.user_components(self, row)
            if np.count_nonzero(~np.isin(gathered, seen)) >= n:
                scores = self.blend(comp, popularity=self.popularity[gathered])
                return comp, scores[0], gathered
        if large and cand is not None and self.params["w_expand"] <= 0:
            comp = serving.candidate_components(self, row, cand)
            scores = self.blend(comp, popularity=self.popularity[cand])
            return comp, scores[0], cand
        comp, scores = self.score_rows(row, cand)
        return comp, scores[0], cand

    def _reasons_batch(
        self,
        items: np.ndarray,
        comp: dict[str, np.ndarray] | None,
        cand: np.ndarray | None,
        positives: np.ndarray,
    ) -> list[list[dict[str, Any]]]:
        """Reasons for each recommended paper: the component that contributed most, and
        the history paper that explains it best (``because_you_read``) when one does."""
        p = self.params
        if comp is None:
            pop, fresh = self._cold_parts()
            return [
                [{"type": "fresh"}] if fresh[j] > pop[j] else [{"type": "popular"}] for j in items
            ]
        cols = items if cand is None else np.searchsorted(cand, items)
        n_pos = float(comp["n_pos"][0])
        c = n_pos / (n_pos + p["history_half"])
        w_als = p["w_als"] * (n_pos / (n_pos + p["als_half"]) if p["als_half"] else 1.0)
        parts = np.vstack(
            [
                c * (p["w_knn"] * comp["knn"][0, cols] + p["w_ease"] * comp["ease"][0, cols]),
                c * w_als * comp["als"][0, cols],
                (p["w_text"] * (1 - c) + p["text_floor"]) * comp["text"][0, cols],
                p["w_pop"] * np.asarray(self.popularity)[items],
            ]
        )
        best = parts.argmax(axis=0)
        hist = positives[:200]  # strongest first
        collab = None
        if hist.size:
            collab = dense_block(self.neighbours, hist, items)
            collab += dense_block(self.ease, hist, items)
        text_sims: dict[int, np.ndarray] = {}  # position in items -> similarity to hist
        text_led = np.flatnonzero(best == 2)
        if hist.size and self.text.n_terms and text_led.size:
            sims = self.text.similarities(hist, items[text_led])
            text_sims = dict(zip(text_led.tolist(), sims.T, strict=True))
        out: list[list[dict[str, Any]]] = []
        for i, b in enumerate(best):
            reasons: list[dict[str, Any]] = []
            if b in (0, 1):  # collaborative
                src = None
                if collab is not None and collab[:, i].max() > 0:
                    src = int(hist[int(np.argmax(collab[:, i]))])
                    reasons.append({"type": "because_you_read", "paper_id": self.paper_ids[src]})
                if b == 1 or src is None:
                    reasons.append({"type": "similar_readers"})
            elif b == 2:  # text
                if i in text_sims and text_sims[i].max() > 0.05:
                    src = int(hist[int(np.argmax(text_sims[i]))])
                    reasons.append({"type": "because_you_read", "paper_id": self.paper_ids[src]})
                reasons.append({"type": "similar_text"})
            else:
                reasons.append({"type": "popular"})
            out.append(reasons)
        return out

    def similar(self, paper_id: str, n: int = 10, text: str | None = None) -> list[Recommendation]:
        """Papers related to one paper: co-reading + text for known papers, text alone
        (from ``text``) for papers unknown to the model."""
        if self.n_papers == 0 or n <= 0:
            return []
        p = self.params
        j = self.paper_index.get(paper_id)
        if j is not None and self.text.matrix[j].nnz:
            query = self.text.matrix[j]
        elif text:
            query = self.text.transform([text])
        else:
            query = None
        related, knn_s, text_s, raw = serving.paper_components(self, j, query)
        c = 0.0
        if j is not None:
            deg = float(self.readers[j])
            c = deg / (deg + p["history_half"])
        scores = c * knn_s + (p["w_text"] * (1 - c) + p["text_floor"]) * text_s
        scores = scores.astype(np.float64)
        if j is not None:
            scores[related == j] = -np.inf
        k = min(n, int(np.isfinite(scores).sum()))
        if k == 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((related[top], -scores[top]))]
        result = []
        for t in top:
            collab = c * knn_s[t]
            txt = (p["w_text"] * (1 - c) + p["text_floor"]) * text_s[t]
            reasons: list[dict[str, Any]] = []
            if knn_s[t] > 0 and collab >= txt:
                reasons.append({"type": "similar_readers"})
            if raw[t] > 0:
                reasons.append({"type": "similar_text"})
            if not reasons:
                reasons.append({"type": "similar_readers"})
            result.append(Recommendation(self.paper_ids[related[t]], float(scores[t]), reasons))
        return result

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
        np.save(folder / "freshness.npy", self.freshness.astype(np.float32))
        save_csr(folder / "neighbours", self.neighbours)
        save_csr(folder / "ease", self.ease)
        self.text.save(folder)
        if self.als is not None:
            self.als.save(folder)
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
        }
        # the manifest goes last: a folder with a manifest is complete
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")

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
        self.freshness = np.load(folder / "freshness.npy", mmap_mode=mode)
        self.neighbours = load_csr(folder / "neighbours", mmap=mmap)
        self.ease = load_csr(folder / "ease", mmap=mmap)
        self.text = TextModel.load(folder, mmap=mmap)
        if manifest["components"].get("als"):
            self.als = ALSModel.load(folder, self._als_params())
            self.als_index = InnerProductIndex.load(folder)
        self.fit_seconds = float(manifest.get("fit_seconds", 0.0))
        return self
