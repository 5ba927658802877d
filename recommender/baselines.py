"""Baselines for offline evaluation, all behind one small interface.

Owns: popularity, item-item kNN (implicit's BM25Recommender), EASE (dense, float32),
ALS and BPR via implicit, text-only TF-IDF profiles, and an adapter for the hybrid.
Every scorer has ``fit(train, texts, published)`` and
``scores(rows, users, candidates) -> ndarray (n_rows, n_cols)``. EASE needs a dense
(n_papers x n_papers) inverse: an evaluation baseline, never a served component.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from implicit.nearest_neighbours import BM25Recommender
from implicit.utils import ParameterWarning
from threadpoolctl import threadpool_limits

from .collaborative import ALSModel, BPRModel
from .hybrid import HybridRecommender
from .interactions import Interactions
from .neighbours import spd_inverse
from .text import TextModel


class Scorer:
    """Interface: ``fit`` once on training data, then ``scores`` batches of users."""

    name = "base"

    def fit(
        self, train: Interactions, texts: Sequence[str], published: Sequence[str | None] | None
    ) -> Scorer:
        raise NotImplementedError

    def scores(
        self, rows: sp.csr_matrix, users: np.ndarray, candidates: np.ndarray | None
    ) -> np.ndarray:
        """Scores for users given by their training rows (shape (n_rows, n_papers)) and
        indices; restricted to ``candidates`` columns when given."""
        raise NotImplementedError


def _restrict(s: np.ndarray, candidates: np.ndarray | None) -> np.ndarray:
    return s if candidates is None else s[:, candidates]


class Popularity(Scorer):
    name = "popularity"

    def fit(self, train, texts, published):
        self.counts = np.diff(sp.csc_matrix(train.matrix).indptr).astype(np.float32)
        return self

    def scores(self, rows, users, candidates):
        s = np.broadcast_to(self.counts, (rows.shape[0], self.counts.size))
        return np.array(_restrict(s, candidates), dtype=np.float32)


class ItemKNN(Scorer):
    """implicit's BM25-weighted item-item kNN."""

    name = "itemknn"

    def __init__(self, k: int = 100, k1: float = 1.2, b: float = 0.75) -> None:
        self.k, self.k1, self.b = k, k1, b

    def fit(self, train, texts, published):
        self.model = BM25Recommender(K=self.k, K1=self.k1, B=self.b)
        with warnings.catch_warnings():  # implicit converts its own COO to CSR and says so
            warnings.simplefilter("ignore", ParameterWarning)
            self.model.fit(sp.csr_matrix(train.matrix, dtype=np.float32), show_progress=False)
        return self

    def scores(self, rows, users, candidates):
        s = np.asarray((rows @ self.model.similarity).toarray(), dtype=np.float32)
        return _restrict(s, candidates)


class EASE(Scorer):
    """EASE^R (Steck 2019) on the binarised matrix: B = I - P / diag(P), P = (X'X + lI)^-1.

    The default l = 200 was the best of {50, 100, 200, 400, 800} on the MovieLens
    validation split (carved from training data)."""

    name = "ease"

    def __init__(self, regularization: float = 200.0) -> None:
        self.regularization = regularization

    def fit(self, train, texts, published):
        x = sp.csr_matrix(train.matrix, dtype=np.float32)
        x.data[:] = 1.0
        g = (x.T @ x).toarray().astype(np.float32)
        g[np.diag_indices_from(g)] += self.regularization
        p = spd_inverse(g)
        d = np.diag(p).copy()
        p /= -d[None, :]
        p[np.diag_indices_from(p)] = 0.0
        self.b = p
        return self

    def scores(self, rows, users, candidates):
        x = sp.csr_matrix(rows, dtype=np.float32)
        x.data[:] = 1.0
        b = self.b if candidates is None else self.b[:, candidates]
        return np.asarray(x @ b, dtype=np.float32)


class ALS(Scorer):
    name = "als"

    def __init__(self, **params: Any) -> None:
        self.params = params

    def fit(self, train, texts, published):
        self.model = ALSModel(**self.params).fit(train.matrix)
        return self

    def scores(self, rows, users, candidates):
        return _restrict(self.model.scores(rows).astype(np.float32), candidates)


class BPR(Scorer):
    name = "bpr"

    def __init__(self, **params: Any) -> None:
        self.params = params

    def fit(self, train, texts, published):
        self.model = BPRModel(**self.params).fit(train.matrix)
        return self

    def scores(self, rows, users, candidates):
        return _restrict(self.model.scores_for_users(users).astype(np.float32), candidates)


class TextOnly(Scorer):
    """TF-IDF content model: cosine of each paper with the confidence-weighted profile."""

    name = "text"

    def fit(self, train, texts, published):
        self.model = TextModel().fit(texts)
        return self

    def scores(self, rows, users, candidates):
        prof = self.model.profiles(rows)
        m_t = self.model.matrix_t if candidates is None else self.model.matrix_t[:, candidates]
        return np.asarray((prof @ m_t).toarray(), dtype=np.float32)


class Hybrid(Scorer):
    name = "hybrid"

    def __init__(self, **params: Any) -> None:
        self.params = params

    def fit(self, train, texts, published):
        self.model = HybridRecommender(**self.params).fit(train, texts, published)
        return self

    def scores(self, rows, users, candidates):
        with threadpool_limits(1, "blas"):
            return self.model.score_rows(rows, candidates)


def default_scorers(random_state: int = 0) -> list[Scorer]:
    """Every baseline and the hybrid, with their default settings."""
    return [
        Popularity(),
        ItemKNN(),
        EASE(),
        ALS(random_state=random_state),
        BPR(random_state=random_state),
        TextOnly(),
        Hybrid(random_state=random_state),
    ]
