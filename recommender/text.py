"""Text model: TF-IDF over title + abstract, profiles, and the centred text score.

Owns the vectoriser and the L2-normalised (papers x terms) matrix, plus its
(terms x papers) transpose so that a query touches only the postings of its terms.
A profile is the L2-normalised, confidence-weighted sum of the rows of the papers in a
history (and of any texts given beside them); the text score of a paper is its cosine with
the profile minus ``centering`` times its cosine with the catalog's mean (:meth:`scores`),
so that generic papers stop matching every profile. That centring lives here and only here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from . import kernels
from .sparse_utils import (
    dense_block,
    l2_rows,
    largest,
    load_csr,
    row_positions,
    save_csr,
    sparse_row_sum,
    topk_per_row,
    unique_ints,
    weighted_row_sum,
)

TOKEN_PATTERN = r"(?u)\b[^\W\d_][\w\-]+\b"
# A refit keeps the previous vocabulary and idf while at most this share of the papers is new or
# has new text; past it, the vocabulary is fitted again.
REFIT_SHARE = 0.2


def text_hashes(texts: Sequence[str]) -> np.ndarray:
    """A 64-bit fingerprint of each text (uint64, shape (len(texts),))."""
    digests = (
        hashlib.blake2b(t.encode("utf-8", "surrogatepass"), digest_size=8).digest() for t in texts
    )
    return np.fromiter((int.from_bytes(d) for d in digests), dtype=np.uint64, count=len(texts))


class TextModel:
    """TF-IDF text model.

    Parameters
    ----------
    max_features : int
        Vocabulary bound (memory: the matrix keeps at most this many columns).
    min_df : int
        Minimum document frequency of a term (lowered to 1 for catalogs under 50 papers).
    max_df : float
        Terms in more than this share of documents are dropped.
    max_query_terms : int
        A profile keeps only its strongest terms; bounds query cost on large catalogs.
    max_postings : int
        A query scores at most this many (term, paper) postings: its strongest terms are kept
        while their document frequencies add up to no more than this (0: no bound). Small
        catalogs never reach it; on large ones it drops the common, weakly weighted terms
        that cost most and tell least, so request time stays bounded.
    centering : float
        Share of the catalog's mean direction taken off every score (see ``genericness``).

    Attributes
    ----------
    matrix : csr_matrix of float32, shape (n_papers, n_terms), rows L2-normalised
    matrix_t : csr_matrix of float32, shape (n_terms, n_papers)
    genericness : ndarray of float32, shape (n_papers,)
        Cosine of each paper with the catalog's mean direction. Subtracting
        ``centering * genericness`` from profile scores ranks like a Rocchio profile
        ``profile - centering * mean`` (generic papers stop matching every profile),
        without a dense query.
    """

    def __init__(
        self,
        max_features: int = 200_000,
        min_df: int = 2,
        max_df: float = 0.5,
        max_query_terms: int = 300,
        max_postings: int = 0,
        centering: float = 0.0,
    ) -> None:
        self.max_features = max_features
        self.min_df = min_df
        self.max_df = max_df
        self.max_query_terms = max_query_terms
        self.max_postings = max_postings
        self.centering = centering
        self.vectorizer: TfidfVectorizer | None = None
        self.matrix = sp.csr_matrix((0, 0), dtype=np.float32)
        self.matrix_t = sp.csr_matrix((0, 0), dtype=np.float32)
        self.genericness = np.zeros(0, np.float32)
        self.hashes = np.zeros(0, np.uint64)
        self._term_names: tuple[TfidfVectorizer, np.ndarray] | None = (
            None  # (vectorizer, its vocabulary)
        )

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        texts: Sequence[str],
        previous: TextModel | None = None,
        previous_rows: np.ndarray | None = None,
    ) -> TextModel:
        """Fit the vocabulary on ``texts`` (one per paper) and build the paper matrix.

        With a ``previous`` model and ``previous_rows`` (for each paper its row there, -1 when
        new), papers whose text is unchanged keep their rows and only the others are vectorised
        with the previous vocabulary, as long as they are at most :data:`REFIT_SHARE` of the
        catalog: the text does not change with the events, and fitting the vocabulary is the
        slowest part of a retrain on a large catalog.
        """
        texts = [t or "" for t in texts]
        hashes = text_hashes(texts)
        kept = self._reusable_rows(previous, previous_rows, hashes)
        if kept is not None:
            return self._update(texts, hashes, previous, previous_rows, kept)
        self.hashes = hashes
        n = len(texts)
        min_df = self.min_df if n >= 50 else 1
        max_df = self.max_df if n >= 50 else 1.0
        vec = TfidfVectorizer(
            sublinear_tf=True,
            min_df=min_df,
            max_df=max_df,
            max_features=self.max_features,
            stop_words="english",
            token_pattern=TOKEN_PATTERN,
            dtype=np.float32,
            lowercase=True,
        )
        try:
            m = vec.fit_transform(texts)
        except ValueError:  # empty vocabulary: no usable text at all
            self.vectorizer = None
            self.matrix = sp.csr_matrix((n, 0), dtype=np.float32)
            self.matrix_t = sp.csr_matrix((0, n), dtype=np.float32)
            self.genericness = np.zeros(n, np.float32)
            return self
        self.vectorizer = vec
        self._set_matrix(m)
        return self

    def _same_settings(self, other: TextModel) -> bool:
        return (other.max_features, other.min_df, other.max_df) == (
            self.max_features,
            self.min_df,
            self.max_df,
        )

    def _reusable_rows(
        self,
        previous: TextModel | None,
        previous_rows: np.ndarray | None,
        hashes: np.ndarray,
    ) -> np.ndarray | None:
        """Mask of the papers whose rows ``previous`` can lend, or None to fit afresh."""
        if previous is None or previous_rows is None or previous.vectorizer is None:
            return None
        if not self._same_settings(previous) or previous.hashes.size != previous.matrix.shape[0]:
            return None
        rows = np.asarray(previous_rows, dtype=np.int64)
        kept = rows >= 0
        kept[kept] = previous.hashes[rows[kept]] == hashes[kept]
        if hashes.size < 50 or (~kept).sum() > REFIT_SHARE * hashes.size:
            return None
        return kept

    def _update(
        self,
        texts: list[str],
        hashes: np.ndarray,
        previous: TextModel,
        previous_rows: np.ndarray,
        kept: np.ndarray,
    ) -> TextModel:
        """Rows of unchanged papers from ``previous``, the others vectorised anew."""
        fresh = np.flatnonzero(~kept)
        new = sp.csr_matrix((0, previous.n_terms), dtype=np.float32)
        if fresh.size:  # rows L2-normalised by the vectorizer, as the previous rows are
            new = sp.csr_matrix(previous.vectorizer.transform([texts[i] for i in fresh]))
        stacked = sp.vstack([previous.matrix, new.astype(np.float32)], format="csr")
        source = np.asarray(previous_rows, np.int64).copy()  # row of each paper in ``stacked``
        source[fresh] = previous.matrix.shape[0] + np.arange(fresh.size)
        self.vectorizer = previous.vectorizer
        self.hashes = hashes
        self._set_matrix(stacked[source], normalized=True)
        return self

    def add_rows(self, texts: Sequence[str]) -> None:
        """Append rows for new papers, vectorised with the fitted vocabulary (no refit): the
        terms of a paper the vocabulary has not seen yet wait for the next full training."""
        texts = [t or "" for t in texts]
        new = self.transform(texts)
        stacked = sp.vstack([self.matrix, new], format="csr")
        self.hashes = np.concatenate([np.asarray(self.hashes), text_hashes(texts)])
        self._set_matrix(stacked, normalized=True)

    def _set_matrix(self, m: sp.spmatrix, normalized: bool = False) -> None:
        m = sp.csr_matrix(m, dtype=np.float32) if normalized else l2_rows(m)
        m.sort_indices()
        self.matrix = m
        self.matrix_t = m.T.tocsr()
        self.matrix_t.sort_indices()
        mean = np.asarray(m.mean(axis=0), dtype=np.float64).ravel()
        norm = np.linalg.norm(mean)
        self.genericness = (
            (m @ (mean / norm)).astype(np.float32)
            if norm > 0
            else (np.zeros(m.shape[0], np.float32))
        )

    @property
    def n_terms(self) -> int:
        return self.matrix.shape[1]

    @property
    def has_text(self) -> np.ndarray:
        """bool array, shape (n_papers,): paper has at least one known term."""
        return np.diff(self.matrix.indptr) > 0

    # ---------------------------------------------------------------- query
    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Vectorise new texts; shape (len(texts), n_terms), rows L2-normalised."""
        if self.vectorizer is None:
            return sp.csr_matrix((len(texts), self.n_terms), dtype=np.float32)
        m = self.vectorizer.transform([t or "" for t in texts])
        return l2_rows(m)

    def profiles(self, weights: sp.csr_matrix) -> sp.csr_matrix:
        """Uncentred profiles of many rows at once, for the text-only baseline: (users x
        papers) weights -> (n_users, n_terms), L2 rows, at most ``max_query_terms`` each."""
        prof = l2_rows(sp.csr_matrix(weights, dtype=np.float32) @ self.matrix)
        k = self.max_query_terms
        if not k or prof.shape[0] == 0 or np.diff(prof.indptr).max(initial=0) <= k:
            return prof
        return l2_rows(topk_per_row(prof, k))

    def profile(
        self, papers: np.ndarray, weights: np.ndarray, extra: sp.csr_matrix | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """One profile: the ``weights``-weighted sum of the rows of ``papers``, plus the rows
        of ``extra`` (texts outside the catalog, e.g. from :meth:`transform`, weight 1 each),
        kept to its ``max_query_terms`` strongest terms: (terms, unit weights)."""
        terms, values = sparse_row_sum(self.matrix, papers, np.asarray(weights, np.float64))
        if extra is not None and extra.nnz:
            dense = np.zeros(self.n_terms, np.float64)
            dense[terms] = values
            np.add.at(dense, extra.indices, extra.data)
            terms = np.flatnonzero(dense)
            values = dense[terms]
        nonzero = values != 0
        terms, values = terms[nonzero], values[nonzero]
        k = self.max_query_terms
        if k and terms.size > k:
            keep = largest(values, k)
            terms, values = terms[keep], values[keep]
        norm = float(np.sqrt(np.dot(values, values)))
        return terms, (values / norm if norm > 0 else values)

    def scores(
        self,
        terms: np.ndarray,
        weights: np.ndarray,
        items: np.ndarray | None = None,
        *,
        centred: bool = True,
    ) -> np.ndarray:
        """Text score of the query (``weights`` on ``terms``) for ``items`` (sorted paper
        indices; exact, costing their entries) or, when None, for every paper (within the
        postings budget, :meth:`within_budget`): centred, or the plain cosine when not
        ``centred``; float32, shape (n_items,)."""
        if items is None:
            raw = self.query_scores(terms, weights)
            gen = self.genericness
        else:
            raw = self.row_scores(items, terms, weights)
            gen = self.genericness[items]
        if centred and self.centering:
            raw -= np.float32(self.centering) * np.asarray(gen, np.float32)
        return raw

    def best(
        self,
        terms: np.ndarray,
        weights: np.ndarray,
        k: int,
        budget: int,
        allowed: np.ndarray | None = None,
    ) -> np.ndarray:
        """The ``k`` papers with the best centred score among those sharing a term with the
        query, counting only the ``budget`` postings of its strongest terms, and only papers
        whose ``allowed`` (bool mask over the papers) is set; sorted paper indices."""
        terms, weights = self.within_budget(terms, weights, budget)
        touched, raw = sparse_row_sum(self.matrix_t, terms, weights, ordered=False)
        if allowed is not None:
            keep = allowed[touched]
            touched, raw = touched[keep], raw[keep]
        centred = raw - self.centering * np.asarray(self.genericness[touched], np.float64)
        if touched.size > k:
            touched = touched[np.argpartition(-centred, k - 1)[:k]]
        return np.sort(touched)

    def query_scores(
        self, terms: np.ndarray, weights: np.ndarray, max_postings: int | None = None
    ) -> np.ndarray:
        """Dot product of one query (``weights`` on ``terms``) with every paper, within the
        postings budget (see :meth:`within_budget`); dense float32, shape (n_papers,)."""
        terms, weights = self.within_budget(terms, weights, max_postings)
        return weighted_row_sum(self.matrix_t, terms, weights, self.matrix.shape[0])

    def within_budget(
        self, terms: np.ndarray, weights: np.ndarray, max_postings: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The query's strongest terms whose document frequencies add up to at most
        ``max_postings`` (default the model's; 0: every term), as (terms, weights)."""
        terms = np.asarray(terms, dtype=np.int64)
        weights = np.asarray(weights, dtype=np.float64)
        budget = self.max_postings if max_postings is None else max_postings
        if budget and terms.size > 1:
            df = self._postings(terms)
            if int(df.sum()) > budget:
                order = np.lexsort((terms, -weights))
                keep = order[np.cumsum(df[order]) <= budget]
                keep = np.sort(keep if keep.size else order[:1])
                terms, weights = terms[keep], weights[keep]
        return terms, weights

    def _postings(self, terms: np.ndarray) -> np.ndarray:
        """How many papers hold each of ``terms`` (read for those terms alone: a query's
        budget must not cost a pass over the vocabulary)."""
        indptr = self.matrix_t.indptr
        return indptr[terms + 1] - indptr[terms]

    def row_scores(self, rows: np.ndarray, terms: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Exact dot product of one query (``weights`` on ``terms``) with the papers ``rows``;
        float32, shape (len(rows),). Costs the rows' entries, not the terms' postings."""
        query = self._query_buffer()
        terms = np.asarray(terms, dtype=np.int64)
        query[terms] = weights
        try:
            return np.asarray(self.matrix[np.asarray(rows, dtype=np.int64)] @ query, np.float32)
        finally:
            query[terms] = 0.0

    def _query_buffer(self) -> np.ndarray:
        """A zeroed float32 vector over the vocabulary, this thread's (allocating and zeroing
        one per query costs more than reading the query's rows); left zeroed after use."""
        return kernels.work_vector("query", self.n_terms, np.float32)

    def nearest(
        self, rows: np.ndarray, allowed: np.ndarray, k: int, budget: int, chunk: int = 512
    ) -> sp.csr_matrix:
        """Each of ``rows``'s ``k`` closest papers by cosine among those whose ``allowed`` (a
        bool mask over the papers) is set, itself excluded: csr of shape (len(rows),
        n_papers) holding those cosines. Each row's query keeps its strongest terms within
        ``budget`` postings (:meth:`within_budget`), so the cost is bounded on any catalog."""
        rows = np.asarray(rows, np.int64)
        n = self.matrix.shape[0]
        if rows.size == 0 or k <= 0 or not self.n_terms:
            return sp.csr_matrix((rows.size, n), dtype=np.float32)
        keep = sp.diags(np.asarray(allowed, np.float32))
        blocks = []
        for start in range(0, rows.size, chunk):
            part = rows[start : start + chunk]
            pos, lens = row_positions(self.matrix, part)
            terms, weights = self.matrix.indices[pos], self.matrix.data[pos]
            owner = np.repeat(np.arange(part.size), lens)
            if budget:  # each row's strongest terms while their postings fit the budget
                df = self._postings(terms)
                order = np.lexsort((-weights, owner))
                spent = np.cumsum(df[order])
                first = np.r_[0, np.cumsum(lens)[:-1]]
                before = np.repeat(np.r_[0, spent][first], lens)
                fits = np.zeros(order.size, bool)
                fits[order] = (spent - before) <= budget
                fits[order[first[lens > 0]]] = True  # ... and at least one term
                owner, terms, weights = owner[fits], terms[fits], weights[fits]
            query = sp.csr_matrix((weights, (owner, terms)), shape=(part.size, self.n_terms))
            cosine = (query @ self.matrix_t @ keep).tocoo()
            other = cosine.col != part[cosine.row]  # not itself
            cosine = sp.csr_matrix(
                (cosine.data[other], (cosine.row[other], cosine.col[other])), shape=cosine.shape
            )
            blocks.append(topk_per_row(cosine, k))
        return sp.csr_matrix(sp.vstack(blocks), dtype=np.float32)

    def similarities(self, rows: np.ndarray, others: np.ndarray) -> np.ndarray:
        """Cosine of each paper in ``rows`` with each in ``others``; dense float32, shape
        (len(rows), len(others)). Both sides are laid out over the terms ``others`` use, so
        the cost is their entries, not the vocabulary."""
        pos, _ = row_positions(self.matrix, others)
        terms = unique_ints(self.matrix.indices[pos])
        if terms.size == 0:
            return np.zeros((len(rows), len(others)), np.float32)
        return dense_block(self.matrix, rows, terms) @ dense_block(self.matrix, others, terms).T

    def shared_terms(
        self, terms: np.ndarray, weights: np.ndarray, papers: np.ndarray, k: int = 3
    ) -> list[list[str]]:
        """For each of ``papers``, the ``k`` terms of the query (``weights`` on sorted
        ``terms``) that add most to its cosine with the paper, largest first, ties to the
        earlier term (what a reason can say the two share)."""
        papers = np.asarray(papers, np.int64)
        if self.vectorizer is None or papers.size == 0:
            return [[] for _ in range(papers.size)]
        share = dense_block(self.matrix, papers, terms) * np.asarray(weights, np.float64)
        best = np.argsort(-share, axis=1, kind="stable")[:, :k]
        names = self._names()
        terms = np.asarray(terms)
        return [
            [str(names[int(terms[t])]) for t in row if share[i, t] > 0]
            for i, row in enumerate(best.tolist())
        ]

    def main_terms(
        self, rows: np.ndarray, texts: Sequence[str], groups: np.ndarray, k: int = 6
    ) -> tuple[list[str], np.ndarray]:
        """What a set of papers is about, and how that shifts between groups of them.

        The papers are catalog ``rows`` followed by ``texts`` not in the catalog; ``groups``
        gives each paper's group (0 .. n_groups - 1, e.g. its month). Returns the ``k`` terms
        with the largest summed weight over all papers, strongest first, and an
        ``(n_groups, k)`` array: each group's weight on those terms, as a share of its weight
        on all ``k`` (rows of groups without any sum to 0)."""
        groups = np.asarray(groups, np.int64)
        n_groups = int(groups.max()) + 1 if groups.size else 0
        if self.vectorizer is None or n_groups == 0:
            return [], np.zeros((n_groups, 0), np.float32)
        papers = self.matrix[np.asarray(rows, np.int64)]
        if len(texts):
            papers = sp.vstack([papers, self.transform(texts)], format="csr")
        member = sp.csr_matrix(
            (np.ones(groups.size, np.float32), (groups, np.arange(groups.size))),
            shape=(n_groups, groups.size),
        )
        mass = (member @ papers).tocsc()
        total = np.asarray(mass.sum(axis=0)).ravel()
        top = np.argsort(-total, kind="stable")[:k]
        top = top[total[top] > 0]
        names = self._names()
        per_group = mass[:, top].toarray()
        sums = per_group.sum(axis=1, keepdims=True)
        shares = np.divide(per_group, sums, out=np.zeros_like(per_group), where=sums > 0)
        return [str(names[t]) for t in top], shares.astype(np.float32)

    def _names(self) -> np.ndarray:
        """The vocabulary by term index (kept: building it costs the whole vocabulary)."""
        kept = self._term_names
        if kept is None or kept[0] is not self.vectorizer:
            kept = self._term_names = (self.vectorizer, self.vectorizer.get_feature_names_out())
        return kept[1]

    # ---------------------------------------------------------------- files
    def save(self, folder: Path) -> None:
        vocab: list[str] = []
        idf = np.zeros(0, np.float32)
        if self.vectorizer is not None:
            vocab = self.vectorizer.get_feature_names_out().tolist()
            idf = self.vectorizer.idf_.astype(np.float32)
        (folder / "text_vocabulary.json").write_text(json.dumps(vocab), encoding="utf-8")
        np.save(folder / "text_idf.npy", idf)
        np.save(folder / "text_genericness.npy", self.genericness)
        np.save(folder / "text_hashes.npy", self.hashes)
        save_csr(folder / "text_matrix", self.matrix)
        save_csr(folder / "text_matrix_t", self.matrix_t)
        params = {
            "max_features": self.max_features,
            "min_df": self.min_df,
            "max_df": self.max_df,
            "max_query_terms": self.max_query_terms,
            "max_postings": self.max_postings,
            "centering": self.centering,
        }
        (folder / "text_params.json").write_text(json.dumps(params), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, mmap: bool = True) -> TextModel:
        params = json.loads((folder / "text_params.json").read_text(encoding="utf-8"))
        self = cls(**params)
        vocab = json.loads((folder / "text_vocabulary.json").read_text(encoding="utf-8"))
        idf = np.load(folder / "text_idf.npy")
        if vocab:
            vec = TfidfVectorizer(
                sublinear_tf=True,
                stop_words="english",
                token_pattern=TOKEN_PATTERN,
                dtype=np.float32,
                vocabulary={t: i for i, t in enumerate(vocab)},
            )
            vec.idf_ = idf.astype(np.float64)
            self.vectorizer = vec
        self.matrix = load_csr(folder / "text_matrix", mmap=mmap)
        self.matrix_t = load_csr(folder / "text_matrix_t", mmap=mmap)
        self.genericness = np.load(folder / "text_genericness.npy")
        hashes = folder / "text_hashes.npy"
        if hashes.is_file():  # models saved before text refits have none: no reuse
            self.hashes = np.load(hashes)
        return self
