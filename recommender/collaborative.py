"""Matrix factorisation via implicit (ALS, BPR), CPU only, with user fold-in.

Owns the calls into ``implicit``: construction with ``use_gpu=False`` and an explicit
``random_state``, fitting on a users x papers CSR matrix, and folding a user's current
history into a user vector (``recalculate_user``) so that new events count without a
retrain. The factors can also come from elsewhere (``fit(fitter=...)``: Spark,
:mod:`recommender.spark_als`); the model is then an ordinary implicit model with them.
Importing this module loads implicit's own OpenBLAS: a serving process should call
``threadpoolctl.threadpool_limits(1, "blas")`` afterwards (see PERF-NOTES).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from implicit.als import AlternatingLeastSquares
from implicit.bpr import BayesianPersonalizedRanking
from threadpoolctl import threadpool_limits

USER_FACTORS_FILE = "als_user_factors.npy"
# computes (user factors, item factors) for a confidence matrix, e.g. SparkALS.fit
Fitter = Callable[[sp.csr_matrix], tuple[np.ndarray, np.ndarray]]


class ALSModel:
    """Implicit-feedback ALS (Hu, Koren & Volinsky) with fold-in.

    Defaults (regularization 30, alpha 5) were the best of a small grid on the validation
    splits of movielens-100k and citeulike-t (implicit does not scale regularisation by
    row counts, so strong values are needed).

    Attributes
    ----------
    item_factors : ndarray of float32, shape (n_papers, factors)
    """

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 30.0,
        alpha: float = 5.0,
        iterations: int = 15,
        random_state: int = 0,
        num_threads: int = 0,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state
        self.num_threads = num_threads
        self._model: AlternatingLeastSquares | None = None
        self._yty: np.ndarray | None = None

    def _new(self) -> AlternatingLeastSquares:
        with threadpool_limits(1, "blas"):  # implicit warns when BLAS is multithreaded
            return AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                random_state=self.random_state,
                num_threads=self.num_threads,
                use_gpu=False,
            )

    def fit(
        self,
        user_items: sp.csr_matrix,
        progress: bool = False,
        start: tuple[np.ndarray, np.ndarray] | None = None,
        iterations: int | None = None,
        fitter: Fitter | None = None,
    ) -> ALSModel:
        """Fit on a (n_users, n_papers) confidence CSR matrix.

        ``start`` = (user factors, item factors) of those shapes continues from a previous
        solution (a warm start) instead of small random values, for ``iterations`` (default
        the model's) alternations.

        ``fitter``, called with the matrix, computes the factors instead of implicit (e.g.
        :meth:`recommender.spark_als.SparkALS.fit`, from scratch: a warm start is implicit's
        alone); they are set as this model's, which is then the same as after implicit's fit.
        """
        self._model = self._new()
        self._yty = None
        if fitter is not None:
            if start is not None or iterations is not None:
                raise ValueError("a warm start is implicit's: another fitter fits from scratch")
            users, items = fitter(user_items)
            expected = ((user_items.shape[0], self.factors), (user_items.shape[1], self.factors))
            if (users.shape, items.shape) != expected:
                raise ValueError(
                    f"the fitter returned factors of shapes {users.shape} and {items.shape}, "
                    f"not {expected[0]} and {expected[1]}"
                )
            self._model.user_factors = np.ascontiguousarray(users, dtype=np.float32)
            self._model.item_factors = np.ascontiguousarray(items, dtype=np.float32)
            return self
        if iterations is not None:
            self._model.iterations = iterations
        if start is not None:
            self._model.user_factors = np.ascontiguousarray(start[0], dtype=np.float32)
            self._model.item_factors = np.ascontiguousarray(start[1], dtype=np.float32)
        with threadpool_limits(1, "blas"):
            self._model.fit(sp.csr_matrix(user_items, dtype=np.float32), show_progress=progress)
        return self

    @property
    def item_factors(self) -> np.ndarray:
        assert self._model is not None
        return self._model.item_factors

    def user_factors(self, rows: sp.csr_matrix) -> np.ndarray:
        """Fold in users from their confidence rows; shape (n_rows, factors)."""
        assert self._model is not None
        rows = sp.csr_matrix(rows, dtype=np.float32)
        # one request = one thread: implicit's OpenMP pool costs ~20 ms per call otherwise
        self._model.num_threads = 1 if rows.shape[0] < 64 else self.num_threads
        return self._model.recalculate_user(np.arange(rows.shape[0]), rows)

    def fold_in(self, papers: np.ndarray, confidences: np.ndarray) -> np.ndarray:
        """One user's vector from their history (``confidences`` on ``papers``), shape
        (factors,): the least-squares solve implicit's ``recalculate_user`` makes,
        ``(Y'Y + reg I + Y_h' (C_h - I) Y_h) u = Y_h' C_h 1`` with ``C = alpha * confidence``,
        in a few numpy calls (no sparse row to build; the 64 x 64 Y'Y is kept)."""
        y = self.item_factors[np.asarray(papers, np.int64)].astype(np.float64)
        c = self.alpha * np.asarray(confidences, np.float64)
        a = self._gram() + (y.T * (c - 1.0)) @ y
        return np.linalg.solve(a, y.T @ c).astype(np.float32)

    def add_items(self, count: int) -> None:
        """Append ``count`` papers nobody has read yet: zero factors, so they score 0 until a
        training learns them (``Y'Y`` does not change)."""
        assert self._model is not None
        y = self.item_factors
        self._model.item_factors = np.vstack([y, np.zeros((count, y.shape[1]), y.dtype)])

    def _gram(self) -> np.ndarray:
        """``Y'Y + reg I``, computed once per model (in float32 like implicit's own, without
        a float64 copy of the factors: 256 MB at 500k papers)."""
        if self._yty is None:
            y = self.item_factors
            gram = (y.T @ y).astype(np.float64)
            self._yty = gram + self.regularization * np.eye(y.shape[1])
        return self._yty

    def scores(self, rows: sp.csr_matrix) -> np.ndarray:
        """Predicted preference for every paper; shape (n_rows, n_papers)."""
        return self.user_factors(rows) @ self.item_factors.T

    @property
    def fitted_user_factors(self) -> np.ndarray | None:
        """The training users' factors (none for a loaded model: serving never reads them)."""
        assert self._model is not None
        return self._model.user_factors

    def save(self, folder: Path) -> None:
        np.save(folder / "als_item_factors.npy", self.item_factors)
        users = self.fitted_user_factors
        if users is not None and users.shape[0]:  # for the next training's warm start
            np.save(folder / USER_FACTORS_FILE, users)

    @classmethod
    def load(cls, folder: Path, params: dict) -> ALSModel:
        self = cls(**params)
        self._model = self._new()
        # implicit's native solver needs writable buffers: read into memory (n_papers x
        # factors float32, 128 MB at 500k x 64), not memory-mapped
        self._model.item_factors = np.load(folder / "als_item_factors.npy")
        self._model.user_factors = np.zeros((0, self.factors), dtype=np.float32)
        return self


class BPRModel:
    """Bayesian Personalised Ranking via implicit (a baseline: no fold-in, so users are
    scored with their training factors)."""

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.05,
        regularization: float = 0.01,
        iterations: int = 100,
        random_state: int = 0,
        num_threads: int = 0,
    ) -> None:
        self.params = dict(
            factors=factors,
            learning_rate=learning_rate,
            regularization=regularization,
            iterations=iterations,
            random_state=random_state,
            num_threads=num_threads,
        )
        self._model = None

    def fit(self, user_items: sp.csr_matrix, progress: bool = False) -> BPRModel:
        with threadpool_limits(1, "blas"):
            self._model = BayesianPersonalizedRanking(use_gpu=False, **self.params)
            self._model.fit(sp.csr_matrix(user_items, dtype=np.float32), show_progress=progress)
        return self

    def scores_for_users(self, user_idx: np.ndarray) -> np.ndarray:
        """Scores of training users; shape (len(user_idx), n_papers)."""
        assert self._model is not None
        return self._model.user_factors[user_idx] @ self._model.item_factors.T
