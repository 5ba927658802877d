"""The candidate-gathering request path (recommender/serving.py, recommender/ann.py) against
scoring every paper: same components on the candidates, same top lists."""

import numpy as np
import pytest

from recommender import HybridRecommender, build_interactions
from recommender.ann import InnerProductIndex
from recommender.interactions import history_vector
from recommender.serving import text_candidates, user_components

N_PAPERS, N_USERS, N_TOPICS = 3000, 700, 30


@pytest.fixture(scope="module")
def topical():
    """Papers in topics with their own words; each user reads mostly within two topics,
    popular papers more often than others."""
    rng = np.random.default_rng(7)
    vocab = [f"w{t}x{k}" for t in range(N_TOPICS) for k in range(25)]
    topic = rng.integers(0, N_TOPICS, N_PAPERS)
    texts = []
    for t in topic:
        own = rng.choice(25, 12, replace=False) + 25 * t
        noise = rng.choice(len(vocab), 4)
        texts.append(" ".join(vocab[i] for i in np.concatenate([own, noise])))
    paper_ids = [f"p:{i}" for i in range(N_PAPERS)]
    weight = 1.0 / (1 + np.arange(N_PAPERS)) ** 0.6
    events = []
    for u in range(N_USERS):
        likes = rng.choice(N_TOPICS, 2, replace=False)
        pool = np.flatnonzero(np.isin(topic, likes))
        p = weight[pool] / weight[pool].sum()
        for i in rng.choice(pool, size=rng.integers(3, 30), replace=False, p=p):
            events.append((f"u{u}", paper_ids[i], "open", None))
    return build_interactions(events, paper_ids=paper_ids), texts, events


@pytest.fixture(scope="module")
def served_model(topical):
    inter, texts, _ = topical
    model = HybridRecommender(
        als_factors=16,
        als_iterations=6,
        neighbours_k=30,
        ease_max_items=400,
        serve_exact_below=0,  # force the gathered path on this small catalog
        neighbour_candidates=60,
        als_candidates=40,
        text_candidates=40,
        popular_candidates=10,
        text_candidate_postings=2_000,
    )
    return model.fit(inter, texts)


def _histories(events, count):
    by_user = {}
    for user, paper, kind, dwell in events:
        by_user.setdefault(user, []).append((paper, kind, dwell))
    return [by_user[f"u{u}"] for u in range(0, count * 7, 7)]


def test_large_catalog_model_builds_an_ann_index(served_model):
    assert served_model.als_index is not None
    small = HybridRecommender(als_factors=4, als_iterations=2)
    assert small.params["serve_exact_below"] > N_PAPERS


def test_gathered_components_equal_exact_ones_on_the_candidates(served_model, topical):
    _, _, events = topical
    model = served_model
    for history in _histories(events, 15):
        row, _, _ = history_vector(history, model.paper_index, model.n_papers)
        cand, fast = user_components(model, row)
        assert 0 < cand.size < model.n_papers / 2  # really a subset
        assert np.all(np.diff(cand) > 0)
        exact = model.components(row)
        for name in ("knn", "ease", "als", "text"):
            np.testing.assert_allclose(
                fast[name][0], exact[name][0, cand], rtol=1e-4, atol=1e-5, err_msg=name
            )


def test_served_top_lists_match_scoring_every_paper(served_model, topical):
    _, _, events = topical
    overlaps = []
    for history in _histories(events, 40):
        served = [r.paper_id for r in served_model.recommend(history, n=20)]
        exact = [r.paper_id for r in served_model.recommend(history, n=20, exact=True)]
        assert len(served) == 20
        assert not set(served) & {paper for paper, _, _ in history}
        overlaps.append(len(set(served) & set(exact)) / 20)
    assert np.mean(overlaps) >= 0.95, overlaps


def test_served_path_survives_save_and_load(served_model, topical, tmp_path):
    _, _, events = topical
    served_model.save(tmp_path)
    assert (tmp_path / "als_index.faiss").is_file()
    loaded = HybridRecommender.load(tmp_path)
    assert loaded.als_index is not None
    for history in _histories(events, 5):
        a = [(r.paper_id, r.reasons) for r in served_model.recommend(history, n=10)]
        b = [(r.paper_id, r.reasons) for r in loaded.recommend(history, n=10)]
        assert a == b


def test_similar_papers_are_ranked_by_co_reading_and_text(served_model, topical):
    inter, texts, _ = topical
    model = served_model
    popular = int(np.argmax(model.readers))
    recs = model.similar(model.paper_ids[popular], n=10)
    assert len(recs) == 10
    assert model.paper_ids[popular] not in {r.paper_id for r in recs}
    scores = [r.score for r in recs]
    assert scores == sorted(scores, reverse=True)
    # a text-only query finds papers that share the words
    words = texts[popular].split()[:8]
    found = model.similar("new:paper", n=5, text=" ".join(words))
    assert found and all({"type": "similar_text"} in r.reasons for r in found)
    assert all(set(words) & set(texts[model.paper_index[r.paper_id]].split()) for r in found)


def test_inner_product_index_finds_the_largest_inner_products():
    rng = np.random.default_rng(3)
    # clustered like ALS factors, with norms that vary a lot (plain nearest-neighbour
    # search ranks such vectors badly)
    centres = rng.normal(size=(40, 16))
    vectors = centres[rng.integers(0, 40, 5000)] + 0.3 * rng.normal(size=(5000, 16))
    vectors = (vectors * rng.gamma(1.0, 1.0, (5000, 1))).astype(np.float32)
    index = InnerProductIndex.build(vectors)
    recall = []
    for q in rng.normal(size=(50, 16)).astype(np.float32):
        exact = set(np.argsort(-(vectors @ q))[:10])
        recall.append(len(exact & set(index.search(q, 50))) / 10)
    assert np.mean(recall) >= 0.95


def testtext_candidates_are_the_best_centred_matches_within_the_budget(served_model, topical):
    _, _, events = topical
    model = served_model
    p = model.params
    for history in _histories(events, 10):
        row, _, _ = history_vector(history, model.paper_index, model.n_papers)
        terms, weights = model.text_profile(row.indices, row.data.astype(np.float64))
        got = text_candidates(model, terms, weights)
        raw = model.text.query_scores(terms, weights, p["text_candidate_postings"])
        touched = np.flatnonzero(raw)
        centred = raw[touched] - p["text_centering"] * model.text.genericness[touched]
        want = touched[np.argsort(-centred, kind="stable")[: p["text_candidates"]]]
        assert len(got) == len(want) == p["text_candidates"]
        # the same set, up to ties at the cut
        cut = np.sort(centred)[-p["text_candidates"]]
        assert set(got) ^ set(want) <= set(touched[np.isclose(centred, cut)])


def test_a_candidate_filter_scores_only_its_papers_with_the_exact_answer(served_model, topical):
    _, _, events = topical
    model = served_model
    candidates = tuple(model.paper_ids[::3])  # like since=: a third of the catalog
    for history in _histories(events, 10):
        served = model.recommend(history, n=15, candidates=candidates)
        exact = model.recommend(history, n=15, candidates=candidates, exact=True)
        assert [r.paper_id for r in served] == [r.paper_id for r in exact]
        np.testing.assert_allclose([r.score for r in served], [r.score for r in exact], rtol=1e-4)
        assert [r.reasons for r in served] == [r.reasons for r in exact]
        assert set(r.paper_id for r in served) <= set(candidates)
