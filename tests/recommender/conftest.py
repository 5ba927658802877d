"""Fixtures: a tiny two-community catalog and a model fitted on it."""

import pytest
from rec_synthetic import events, paper_ids, texts

from recommender import HybridRecommender, build_interactions


@pytest.fixture(scope="session")
def tiny_data():
    inter = build_interactions(events(), paper_ids=paper_ids())
    return inter, texts()


@pytest.fixture(scope="session")
def tiny_model(tiny_data):
    inter, txt = tiny_data
    published = ["2024-01-01"] * (len(txt) - 1) + ["2024-06-01"]
    model = HybridRecommender(als_factors=8, als_iterations=5, neighbours_k=10, random_state=0)
    return model.fit(inter, txt, published)
