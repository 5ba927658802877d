"""The text model: the query cost bound (the postings budget keeps a query's strongest terms),
exact scores for chosen papers, and refits that keep the vocabulary while the catalog is stable."""

from __future__ import annotations

import numpy as np

from recommender.text import TextModel

# "common" is in every paper; each rare word is in one or two.
TEXTS = [
    "common alpha alpha",
    "common alpha beta",
    "common beta gamma",
    "common gamma delta",
    "common delta epsilon",
    "common epsilon",
]


def fitted(max_postings: int) -> TextModel:
    model = TextModel(min_df=1, max_df=1.0, max_postings=max_postings)
    return model.fit(TEXTS)


def query(model: TextModel, weights: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    vocabulary = model.vectorizer.vocabulary_
    terms = np.array([vocabulary[w] for w in weights])
    return terms, np.array(list(weights.values()))


def test_without_a_budget_every_term_scores():
    model = fitted(0)
    terms, weights = query(model, {"alpha": 1.0, "common": 0.1})
    scores = model.query_scores(terms, weights)
    assert (scores > 0).all()  # "common" reaches every paper


def test_the_budget_drops_the_weak_common_term_first():
    model = fitted(3)  # alpha has 2 postings, common 6: only alpha fits
    terms, weights = query(model, {"alpha": 1.0, "common": 0.1})
    scores = model.query_scores(terms, weights)
    assert np.flatnonzero(scores).tolist() == [0, 1]
    unbounded = fitted(0).query_scores(terms, weights)
    assert scores[0] < unbounded[0]  # the dropped term no longer adds to the score


def test_the_strongest_term_is_kept_even_over_budget():
    model = fitted(1)
    terms, weights = query(model, {"common": 1.0, "alpha": 0.1})
    scores = model.query_scores(terms, weights)
    assert (scores > 0).all()  # "common" alone, though its 6 postings exceed the budget


def test_the_budget_survives_save_and_load(tmp_path):
    model = fitted(3)
    model.save(tmp_path)
    loaded = TextModel.load(tmp_path)
    assert loaded.max_postings == 3
    terms, weights = query(model, {"alpha": 1.0, "common": 0.1})
    np.testing.assert_allclose(
        loaded.query_scores(terms, weights), model.query_scores(terms, weights)
    )


def _catalog(count: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    words = [f"word{i}" for i in range(120)]
    return [" ".join(rng.choice(words, 12)) for _ in range(count)]


def test_row_scores_are_the_exact_dot_products():
    model = TextModel(min_df=1, max_df=1.0).fit(_catalog(80))
    terms = np.array([3, 17, 40])
    weights = np.array([0.5, 0.3, 0.2])
    rows = np.array([5, 0, 79, 33])
    full = model.query_scores(terms, weights)
    np.testing.assert_allclose(model.row_scores(rows, terms, weights), full[rows], rtol=1e-6)


def test_similarities_are_the_cosines_of_the_papers_rows():
    model = TextModel(min_df=1, max_df=1.0).fit(_catalog(80) + [""])
    rows, others = np.array([4, 4, 61, 80]), np.array([9, 0, 80, 61])  # 80 has no text
    expected = (model.matrix[rows] @ model.matrix[others].T).toarray()
    np.testing.assert_allclose(model.similarities(rows, others), expected, rtol=1e-5, atol=1e-7)
    assert model.similarities(rows, np.array([80])).tolist() == [[0.0]] * 4


def test_a_refit_keeps_the_vocabulary_and_the_rows_of_unchanged_papers(tmp_path):
    old_texts = _catalog(100)
    old = TextModel(min_df=1, max_df=1.0).fit(old_texts)
    old.save(tmp_path)
    previous = TextModel.load(tmp_path)
    # the catalog gains 5 papers (one with a word never seen), one text changes, and the
    # order differs: 6 of 105 papers to vectorise, under the refit share
    texts = old_texts[::-1] + ["brandnew word1 word2"] + _catalog(4, seed=1)
    texts[0] = "word5 word6 word7"  # was old_texts[99]
    rows = np.array(list(range(99, -1, -1)) + [-1] * 5)
    new = TextModel(min_df=1, max_df=1.0).fit(texts, previous, rows)
    assert new.vectorizer is previous.vectorizer
    assert "brandnew" not in new.vectorizer.vocabulary_
    # unchanged papers keep their rows
    np.testing.assert_allclose(
        new.matrix[1:100].toarray(), old.matrix[98::-1].toarray(), rtol=1e-6, atol=1e-7
    )
    changed = old.transform([texts[0]])
    np.testing.assert_allclose(new.matrix[0].toarray(), changed.toarray(), rtol=1e-6)
    assert new.matrix_t.shape == (new.n_terms, 105)
    # a fresh fit of the same catalog agrees on what is similar to what
    fresh = TextModel(min_df=1, max_df=1.0).fit(texts)
    sims = (new.matrix @ new.matrix.T).toarray()
    fresh_sims = (fresh.matrix @ fresh.matrix.T).toarray()
    assert np.corrcoef(sims.ravel(), fresh_sims.ravel())[0, 1] > 0.95


def test_a_refit_of_an_unchanged_catalog_vectorises_nothing():
    texts = _catalog(60)
    previous = TextModel(min_df=1, max_df=1.0).fit(texts)
    same = TextModel(min_df=1, max_df=1.0).fit(texts, previous, np.arange(60))
    assert same.vectorizer is previous.vectorizer
    np.testing.assert_allclose(same.matrix.toarray(), previous.matrix.toarray(), rtol=1e-6)


def test_a_catalog_that_changed_much_is_fitted_afresh(tmp_path):
    old_texts = _catalog(100)
    previous = TextModel(min_df=1, max_df=1.0).fit(old_texts)
    texts = old_texts[:70] + ["brandnew " + t for t in _catalog(30, seed=2)]
    rows = np.array(list(range(70)) + [-1] * 30)
    new = TextModel(min_df=1, max_df=1.0).fit(texts, previous, rows)
    assert new.vectorizer is not previous.vectorizer
    assert "brandnew" in new.vectorizer.vocabulary_
    # other settings never lend their rows either
    other = TextModel(min_df=2, max_df=1.0).fit(old_texts, previous, np.arange(100))
    assert other.vectorizer is not previous.vectorizer


def test_main_terms_are_the_heaviest_and_each_group_divides_among_them():
    model = TextModel(min_df=1, max_df=1.0).fit(
        ["protein folding", "protein structure", "galaxy survey", "galaxy clusters"]
    )
    # group 0 read the two protein papers, group 1 a galaxy paper and one outside the catalog
    terms, shares = model.main_terms(
        np.array([0, 1, 2]), ["galaxy lensing galaxy"], np.array([0, 0, 1, 1]), k=2
    )
    assert terms == ["galaxy", "protein"]
    np.testing.assert_allclose(shares, [[0.0, 1.0], [1.0, 0.0]])


def test_main_terms_leave_an_empty_group_at_zero_and_keep_only_terms_present():
    model = TextModel(min_df=1, max_df=1.0).fit(["alpha beta", "gamma delta"])
    terms, shares = model.main_terms(np.array([0]), [], np.array([2]), k=5)
    assert sorted(terms) == ["alpha", "beta"]
    assert shares.shape == (3, 2)
    np.testing.assert_allclose(shares[:2], 0.0)
    np.testing.assert_allclose(shares[2], [0.5, 0.5], atol=1e-6)
