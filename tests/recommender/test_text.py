"""The text model's query cost bound: the postings budget keeps a query's strongest terms."""

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
