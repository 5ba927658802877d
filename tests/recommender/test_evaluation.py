import numpy as np
import pytest
import scipy.sparse as sp
from rec_synthetic import events, paper_ids, shared_dataset, texts

from recommender import build_interactions, evaluate, load_dataset
from recommender.baselines import EASE, Hybrid, ItemKNN, Popularity, TextOnly
from recommender.datasets import Dataset
from recommender.evaluation import (
    ProtocolError,
    cold_split,
    rank_metrics,
    sparse_split,
    warm_split,
)
from recommender.metrics import ndcg_at_k, recall_at_k


def random_inter(seed=0, users=60, papers=50, per_user=(1, 15)):
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(users):
        for p in rng.choice(papers, size=rng.integers(*per_user), replace=False):
            rows.append((f"u{u}", f"p{p}", "open", None))
    return build_interactions(rows, paper_ids=[f"p{p}" for p in range(papers)])


def as_set(m):
    return set(zip(*m.nonzero(), strict=False))


def test_warm_split_properties():
    inter = random_inter()
    split = warm_split(inter, seed=0)
    full, train, test = as_set(inter.matrix), as_set(split.train.matrix), as_set(split.test)
    assert train | test == full and not train & test
    counts = np.diff(inter.matrix.indptr)
    held = np.diff(split.test.indptr)
    for u in range(inter.n_users):
        if counts[u] < 5:
            assert held[u] == 0
        else:
            assert held[u] == max(1, round(0.2 * counts[u]))
    assert set(split.users) == set(np.flatnonzero(held > 0))
    assert split.candidates is None
    again = warm_split(inter, seed=0)
    assert as_set(again.test) == test
    assert as_set(warm_split(inter, seed=1).test) != test


def test_cold_split_properties():
    inter = random_inter(papers=100)
    split = cold_split(inter, seed=0)
    held = set(split.candidates.tolist())
    assert len(held) == 10
    assert not set(split.train.matrix.nonzero()[1]) & held
    assert set(split.test.nonzero()[1]) <= held
    assert as_set(split.train.matrix) | as_set(split.test) == as_set(inter.matrix)
    for u in split.users:
        assert split.train.matrix[u].nnz > 0 and split.test[u].nnz > 0
    assert np.array_equal(cold_split(inter, seed=0).candidates, split.candidates)


def library_inter(sizes):
    """User ``u{i}`` reads ``sizes[i]`` papers, each read once more (weight 2) when even."""
    rows = []
    for u, n in enumerate(sizes):
        for p in range(n):
            rows.append((f"u{u}", f"p{(3 * u + p) % 40}", "open", None))
            if p % 2 == 0:
                rows.append((f"u{u}", f"p{(3 * u + p) % 40}", "read", 300_000))
    return build_interactions(rows, paper_ids=[f"p{p}" for p in range(40)])


def test_sparse_split_properties():
    # ten users with 8 or more papers (8 exactly included), five with fewer
    sizes = [8, 12, 9, 20, 15, 8, 10, 11, 30, 13, 7, 3, 1, 7, 5]
    inter = library_inter(sizes)
    full = inter.matrix
    split = sparse_split(inter, seed=0)
    train, test = split.train.matrix, split.test
    sparse = set(np.flatnonzero(np.diff(test.indptr) > 0))
    assert len(sparse) == 2  # 20% of the ten eligible users
    assert sparse <= {u for u, n in enumerate(sizes) if n >= 8}
    assert set(split.users) == sparse and split.candidates is None
    for u in range(inter.n_users):
        papers = set(full[u].indices)
        kept, held = set(train[u].indices), set(test[u].indices)
        if u in sparse:
            assert len(kept) == 3 and kept <= papers
            assert held == papers - kept  # the rest is held out, none leaks into training
        else:
            assert not held
            assert (train[u] != full[u]).nnz == 0  # untouched, weights included
    assert (train + test != full).nnz == 0
    again = sparse_split(inter, seed=0)
    assert (again.test != test).nnz == 0 and (again.train.matrix != train).nnz == 0
    assert (sparse_split(inter, seed=1).test != test).nnz > 0


def test_sparse_split_takes_users_with_exactly_8_papers_and_at_least_one():
    split = sparse_split(library_inter([7, 3, 8, 5]), seed=3)
    assert split.users.tolist() == [2]
    assert split.train.matrix[2].nnz == 3 and split.test[2].nnz == 5


def test_sparse_split_needs_a_user_with_8_papers():
    with pytest.raises(ProtocolError, match="no user has 8 or more papers"):
        sparse_split(library_inter([7, 3, 1]))
    with pytest.raises(ProtocolError):
        evaluate(tiny_dataset(), protocol="sparse", scorers=[Popularity()])


class FixedScorer:
    """Scores papers by a fixed random permutation; lets metrics be recomputed by hand."""

    name = "fixed"

    def __init__(self, n):
        self.s = np.random.default_rng(5).permutation(n).astype(np.float32)

    def scores(self, rows, users, candidates):
        s = np.tile(self.s, (rows.shape[0], 1))
        return s if candidates is None else s[:, candidates]


@pytest.mark.parametrize("split_of", [warm_split, cold_split, sparse_split])
def test_rank_metrics_match_the_reference_functions(split_of):
    inter = random_inter(papers=80)
    split = split_of(inter)
    scorer = FixedScorer(inter.n_papers)
    got = rank_metrics(scorer, split, k=5, batch=7)
    recalls, ndcgs = [], []
    for u in split.users:
        cols = np.arange(inter.n_papers) if split.candidates is None else split.candidates
        seen = set(split.train.matrix[u].indices) if split.candidates is None else set()
        ranked = [c for c in cols[np.argsort(-scorer.s[cols], kind="stable")] if c not in seen]
        rel = split.test[u].indices
        recalls.append(recall_at_k(ranked, rel, 5))
        ndcgs.append(ndcg_at_k(ranked, rel, 5))
    assert got["recall@5"] == pytest.approx(np.mean(recalls))
    assert got["ndcg@5"] == pytest.approx(np.mean(ndcgs))


def tiny_dataset():
    inter = build_interactions(events(), paper_ids=paper_ids())
    return Dataset("tiny", inter.paper_ids, texts(), [None] * inter.n_papers, inter)


def test_evaluate_report_on_checkerboard():
    scorers = [
        Popularity(),
        ItemKNN(k=10),
        EASE(regularization=10.0),
        TextOnly(),
        Hybrid(als_factors=8, als_iterations=5, neighbours_k=10, random_state=0),
    ]
    report = evaluate(tiny_dataset(), protocol="warm", k=5, scorers=scorers)
    d = report.to_dict()
    assert d["protocol"] == "warm" and d["k"] == 5 and d["seed"] == 0
    assert set(d["models"]) == {"popularity", "itemknn", "ease", "text", "hybrid"}
    for m in d["models"].values():
        assert 0 <= m["recall@5"] <= 1 and 0 <= m["ndcg@5"] <= 1 and m["fit_seconds"] >= 0
    # in a checkerboard, the hybrid must beat popularity (which ignores the community)
    assert d["models"]["hybrid"]["recall@5"] > d["models"]["popularity"]["recall@5"]
    table = report.format_table()
    assert len(table.splitlines()) == 3 + len(scorers)
    cold = evaluate(tiny_dataset(), protocol="cold", k=3, scorers=[TextOnly(), Popularity()])
    assert cold.to_dict()["counts"]["candidates"] == 4


def test_unknown_protocol():
    with pytest.raises(ValueError):
        evaluate(tiny_dataset(), protocol="hot", scorers=[])


def test_ease_tiny_known_answer():
    # two disjoint pairs of co-read items: each item should predict its partner only
    x = sp.csr_matrix(np.array([[1, 1, 0, 0]] * 3 + [[0, 0, 1, 1]] * 3, dtype=np.float32))
    inter = build_interactions(
        [(f"u{u}", f"p{p}", "open", None) for u, p in zip(*x.nonzero(), strict=False)]
    )
    ease = EASE(regularization=1.0).fit(inter, [""] * 4, None)
    b = ease.b
    assert np.allclose(np.diag(b), 0)
    assert b[0, 1] > 0.5 and abs(b[0, 2]) < 1e-6 and abs(b[2, 0]) < 1e-6


def test_load_movielens_slice():
    path = shared_dataset("movielens-100k")
    ds = load_dataset(path)
    assert ds.counts()["papers"] >= 1682
    assert len(ds.texts) == len(ds.paper_ids) == ds.interactions.n_papers
    assert ds.interactions.matrix.nnz == 55375
