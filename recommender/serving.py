"""One request on a large catalog: gather candidates, then score only them.

Owns the request path of :class:`~recommender.hybrid.HybridRecommender` for catalogs of at
least ``serve_exact_below`` papers. The exact path (:meth:`HybridRecommender.components`)
scores every component for every paper: several dense passes over ``n_papers`` per request,
about 50 ms of CPU at 500k papers. Here the candidates come first, each from where its
component is cheap to read:

* ``knn`` and ``ease``: the ``neighbour_candidates`` strongest papers in the history's rows
  of the two neighbour matrices;
* ``als``: the ``als_candidates`` largest inner products, from the ANN index
  (:mod:`recommender.ann`; an exact scan when the model has no index);
* ``text``: the ``text_candidates`` best text matches found within the
  ``text_candidate_postings`` postings of the profile's strongest terms;
* the ``popular_candidates`` most-read papers;

then every component, text included, is computed exactly over their union and scaled to a
maximum of 1 over it, as the exact path scales over the catalog. A paper outside the union
shares no co-reader with the history and is in neither the ALS nor the text top list, so it
seldom reaches the top-n: ``bench/serve_quality.py`` measures the overlap with the exact top-20.

A candidate filter (``since``) is scored the same way over its own papers
(:func:`candidate_components`), which gives the exact answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from .sparse_utils import sparse_row_sum, unique_ints

if TYPE_CHECKING:
    from .hybrid import HybridRecommender


def _top(values: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest values (any order)."""
    if values.size <= k:
        return np.arange(values.size)
    return np.argpartition(-values, k - 1)[:k]


def _scaled(x: np.ndarray) -> np.ndarray:
    """Row of shape (1, n) divided by its largest absolute value (zeros stay zero)."""
    m = float(np.abs(x).max(initial=0.0))
    return (x / m if m > 0 else x).astype(np.float32)[None, :]


def _strongest(cols: np.ndarray, vals: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` columns with the largest values (all of them when there are fewer)."""
    return cols if cols.size <= k else cols[_top(vals, k)]


def user_components(
    model: HybridRecommender, row: sp.csr_matrix
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Candidates and unblended components for one user's confidence row.

    Returns
    -------
    (candidates, components): sorted paper indices, shape (n_cand,), and the components of
    :meth:`HybridRecommender.components` restricted to them, each of shape (1, n_cand).
    """
    p = model.params
    idx = row.indices.astype(np.int64)
    w = row.data.astype(np.float64)
    knn_cols, knn_vals = sparse_row_sum(model.neighbours, idx, w)
    ease_cols, ease_vals = sparse_row_sum(model.ease, idx, np.ones(idx.size))
    k = int(p["neighbour_candidates"])
    lists = [
        _strongest(knn_cols, knn_vals, k),
        _strongest(ease_cols, ease_vals, k),
        model.most_read(int(p["popular_candidates"])),
    ]
    user = None
    if model.als is not None:
        user = model.als.user_factors(row)[0]
        lists.append(model.als_top(user, int(p["als_candidates"])))
    profile = None
    if model.text.n_terms:
        profile = model.text_profile(idx, w)
        lists.append(text_candidates(model, *profile))

    cand = unique_ints(np.concatenate(lists))
    raw = model.text.row_scores(cand, *profile) if profile is not None else None
    knn, ease = (knn_cols, knn_vals), (ease_cols, ease_vals)
    return cand, _components(model, cand, idx.size, knn, ease, user, raw)


def candidate_components(
    model: HybridRecommender, row: sp.csr_matrix, cand: np.ndarray
) -> dict[str, np.ndarray]:
    """The components of one user over given candidates (sorted paper indices): what
    :meth:`HybridRecommender.score_rows` computes with ``candidates``, without scoring the
    rest of the catalog (the ``since`` filter hands tens of thousands of candidates; their
    ALS scores alone are a tenth of the catalog's). Text keeps the exact path's postings
    budget, so the answers are the same."""
    idx = row.indices.astype(np.int64)
    w = row.data.astype(np.float64)
    user = model.als.user_factors(row)[0] if model.als is not None else None
    raw = None
    if model.text.n_terms:
        raw = model.text_query(idx, w)[cand]
    knn = sparse_row_sum(model.neighbours, idx, w)
    ease = sparse_row_sum(model.ease, idx, np.ones(idx.size))
    return _components(model, cand, idx.size, knn, ease, user, raw)


def _components(
    model: HybridRecommender,
    cand: np.ndarray,
    n_pos: int,
    knn: tuple[np.ndarray, np.ndarray],
    ease: tuple[np.ndarray, np.ndarray],
    user: np.ndarray | None,
    raw_text: np.ndarray | None,
) -> dict[str, np.ndarray]:
    """Each component over ``cand``, scaled to a maximum of 1 there: ``knn`` and ``ease``
    from their (columns, sums), ``als`` from the folded-in ``user`` vector, ``text`` from the
    raw cosine minus the centering."""
    zeros = np.zeros((1, cand.size), np.float32)
    comp: dict[str, np.ndarray] = {"n_pos": np.array([n_pos], np.float32)}
    comp["knn"] = _scaled(_on(cand, *knn))
    comp["ease"] = _scaled(_on(cand, *ease))
    comp["als"] = zeros if user is None else _scaled(model.als.item_factors[cand] @ user)
    comp["text"] = zeros
    if raw_text is not None:
        centering = np.float32(model.params["text_centering"])
        comp["text"] = _scaled(raw_text - centering * _genericness(model, cand))
    return comp


def _on(cand: np.ndarray, cols: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """Values given on those ``cols`` that are in the sorted ``cand``, laid out over it."""
    out = np.zeros(cand.size, np.float32)
    if cols.size:
        at = np.minimum(np.searchsorted(cand, cols), cand.size - 1)
        hit = cand[at] == cols
        out[at[hit]] = vals[hit]
    return out


def _genericness(model: HybridRecommender, papers: np.ndarray) -> np.ndarray:
    return np.asarray(model.text.genericness[papers], np.float32)


def text_candidates(model: HybridRecommender, terms: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The ``text_candidates`` papers with the best centred text score among those sharing
    a term with the query, counting only the ``text_candidate_postings`` postings of its
    strongest terms; their exact scores are computed afterwards."""
    p = model.params
    terms, weights = model.text.within_budget(terms, weights, int(p["text_candidate_postings"]))
    touched, raw = sparse_row_sum(model.text.matrix_t, terms, weights)
    centred = raw - p["text_centering"] * _genericness(model, touched)
    return touched[_top(centred, int(p["text_candidates"]))]


def paper_components(
    model: HybridRecommender, j: int | None, query: sp.csr_matrix | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Papers related to paper ``j`` (its neighbour rows) or to a text ``query``.

    Returns
    -------
    (related, knn, text, raw): the sorted indices of the papers sharing a co-reader and of the
    best text matches, the weighted and scaled co-reading score over them, the scaled centred
    text score, and the raw text cosine (float32, one value per related paper each).
    """
    p = model.params
    lists, knn_parts = [], []
    if j is not None:
        for matrix, weight in ((model.neighbours, p["w_knn"]), (model.ease, p["w_ease"])):
            cols, vals = sparse_row_sum(matrix, np.array([j]), np.ones(1))
            lists.append(cols)
            knn_parts.append((cols, vals, weight))
    has_text = query is not None and query.nnz > 0
    if has_text:
        lists.append(text_candidates(model, query.indices, query.data))
    related = unique_ints(np.concatenate(lists or [np.empty(0, np.int64)]))
    knn = np.zeros(related.size, np.float32)
    for cols, vals, weight in knn_parts:
        knn += weight * _scaled(_on(related, cols, vals))[0]
    raw = np.zeros(related.size, np.float32)
    text = np.zeros(related.size, np.float32)
    if has_text and related.size:
        raw = model.text.row_scores(related, query.indices, query.data)
        gen = _genericness(model, related)
        text = _scaled(raw - np.float32(p["text_centering"]) * gen)[0]
    return related, knn, text, raw
