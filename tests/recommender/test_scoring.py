"""The one scoring path (recommender/scoring.py, with recommender/ann.py): gathered candidates
against every paper, contributions that add up to the score, reasons read from them, and the
evaluation's batch path giving the request path's scores."""

import numpy as np
import pytest
import scipy.sparse as sp

from recommender import HybridRecommender, build_interactions, scoring
from recommender.ann import InnerProductIndex
from recommender.interactions import history_vector

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


SERVED = {
    "tune": False,  # every component takes part, with the default weights
    "als_factors": 16,
    "als_iterations": 6,
    "neighbours_k": 30,
    "ease_max_items": 400,
    "serve_exact_below": 0,  # force the gathered path on this small catalog
    "neighbour_candidates": 60,
    "als_candidates": 40,
    "text_candidates": 40,
    "popular_candidates": 10,
    "text_candidate_postings": 2_000,
}


@pytest.fixture(scope="module")
def served_model(topical):
    inter, texts, _ = topical
    return HybridRecommender(**SERVED).fit(inter, texts)


@pytest.fixture(scope="module")
def bridged_model(topical):
    """The served model with the bridge counting in full from the first paper, so that it
    leads often enough to be checked."""
    inter, texts, _ = topical
    return HybridRecommender(**SERVED, bridge_half=0).fit(inter, texts)


def _histories(events, count):
    by_user = {}
    for user, paper, kind, dwell in events:
        by_user.setdefault(user, []).append((paper, kind, dwell))
    return [by_user[f"u{u}"] for u in range(0, count * 7, 7)]


def test_large_catalog_model_builds_an_ann_index(served_model):
    assert served_model.als_index is not None
    small = HybridRecommender(als_factors=4, als_iterations=2)
    assert small.params["serve_exact_below"] > N_PAPERS


def _signal(model, history):
    positives, weights, _, _ = history_vector(history, model.paper_index)
    return scoring.signal(model, positives, weights)


def test_gathered_components_equal_exact_ones_on_the_candidates(served_model, topical):
    _, _, events = topical
    model = served_model
    for history in _histories(events, 15):
        sig = _signal(model, history)
        cand = scoring.gather(model, sig)
        assert 0 < cand.size < model.n_papers / 2  # really a subset
        assert np.all(np.diff(cand) > 0)
        _, fast, _ = scoring.components(model, sig, cand)
        _, exact, _ = scoring.components(model, sig)
        for name in ("knn", "ease", "als", "text", "pop"):
            np.testing.assert_allclose(
                fast[name], exact[name][cand], rtol=1e-4, atol=1e-5, err_msg=name
            )


def test_contributions_add_up_to_the_score(served_model, topical):
    _, _, events = topical
    model = served_model
    for history in _histories(events, 30):
        sig = _signal(model, history)
        scored = scoring.score(model, sig, scoring.gather(model, sig))
        at = scoring.top(scored, 20, exclude=sig.papers)
        parts = np.vstack([scored.parts[c][at] for c in scoring.COMPONENTS])
        np.testing.assert_allclose(parts.sum(axis=0), scored.total[at])
        recs = model.recommend(history, n=20)
        assert [r.paper_id for r in recs] == [model.paper_ids[i] for i in scored.items[at]]


@pytest.mark.parametrize("which", ["served_model", "bridged_model"])
def test_each_reason_is_the_largest_contribution_that_can_be_said_with_its_evidence(
    which, topical, request
):
    """Computed here from the training matrix and the model's matrices, densely, for every
    answer: the reason comes from the largest contribution whose evidence holds (co-reading
    and ALS only with at least two other readers, popularity too), co-reading cites the
    history paper with the largest share of the knn and EASE parts and counts the users who
    read both, text cites the history paper whose own text is closest (cosine 0.1 at least,
    weighted by confidence), else names shared terms; the bridge of an unread paper cites the
    history paper whose co-reading reached its bridge paper (outside the history) with the
    largest cosine-weighted sum, with the readers of both."""
    inter, _, events = topical
    model = request.getfixturevalue(which)
    p = model.params
    readers = (inter.matrix > 0).astype(np.int32).T.tocsr()  # papers x users
    both = (readers @ readers.T).toarray()  # users who read both papers
    neighbours, ease = model.neighbours.toarray(), model.ease.toarray()
    text, bridge = model.text.matrix.toarray(), model.bridge.toarray()
    seen = {"because_you_read": 0, "similar_text": 0, "similar_readers": 0, "popular": 0}
    cited_by_text = bridged = 0
    for history in _histories(events, 60):
        sig = _signal(model, history)
        scored = scoring.score(model, sig, scoring.gather(model, sig))
        at = scoring.top(scored, 20, exclude=sig.papers)
        recs = model.recommend(history, n=20)
        for rec, k in zip(recs, at, strict=True):
            j = scored.items[k]
            share = p["w_knn"] * sig.weights * neighbours[sig.papers, j] / scored.scale["knn"]
            if scored.scale["ease"]:
                share += p["w_ease"] * ease[sig.papers, j] / scored.scale["ease"]
            source = sig.papers[np.isclose(share, share.max())] if share.max() > 0 else []
            n_readers = readers[j].nnz
            knn = sig.weights @ neighbours[sig.papers]  # the history's co-reading sums
            reach = bridge[j] * knn
            reach[sig.papers] = 0
            via = np.flatnonzero(np.isclose(reach, reach.max())) if reach.max() > 0 else []
            via_source = {
                v: sig.papers[np.isclose(h, h.max())]
                for v in via
                if (h := sig.weights * neighbours[sig.papers, v]).max() > 0
            }
            group = {
                "co": scored.parts["knn"][k] + scored.parts["ease"][k],
                "als": scored.parts["als"][k],
                "text": scored.parts["text"][k],
                "pop": scored.parts["pop"][k],
                "bridge": scored.parts["bridge"][k],
            }
            sayable = {
                "co": any(both[h, j] >= 2 for h in source),
                "als": n_readers >= 2,
                "text": True,
                "pop": n_readers >= 2,
                "bridge": any(both[h, v] >= 2 for v in via_source for h in via_source[v]),
            }
            order = sorted(group, key=lambda g: -group[g])
            lead = next((g for g in order if group[g] > 0 and sayable[g]), None)
            (reason,) = rec.reasons
            kind = {"co": "because_you_read", "als": "similar_readers", "text": "similar_text"}
            kind["bridge"] = "because_you_read"
            if lead is None:
                assert reason["type"] in ("because_you_read", "for_you"), (rec, group)
                assert "readers" not in reason
                continue
            assert reason["type"] == kind.get(lead, "popular"), (rec, group)
            seen[reason["type"]] += 1
            if lead == "bridge":
                assert n_readers == 0, rec
                v = model.paper_index[reason["via_paper_id"]]
                h = model.paper_index[reason["paper_id"]]
                assert v in via_source and h in via_source[v], rec
                assert reason["readers"] == both[h, v] >= 2, rec
                bridged += 1
            elif lead == "co":
                h = model.paper_index[reason["paper_id"]]
                assert h in source and reason["readers"] == both[h, j] >= 2, (rec, group)
            elif lead in ("als", "pop"):
                assert reason["readers"] == n_readers, rec
            elif "paper_id" in reason:
                cosine = text[sig.papers] @ text[j]
                strength = np.where(cosine >= 0.1, sig.weights * cosine, 0)
                best = sig.papers[np.isclose(strength, strength.max())]
                assert model.paper_index[reason["paper_id"]] in best, rec
                cited_by_text += 1
            else:
                assert (text[sig.papers] @ text[j]).max() < 0.1, rec
                assert reason["terms"], rec
    # the check saw every kind of reason but popularity, which seldom leads (test_reasons.py)
    assert min(seen[k] for k in seen if k != "popular") >= 3, seen
    assert cited_by_text >= 3, cited_by_text
    assert bridged >= (3 if which == "bridged_model" else 1), bridged


def test_evaluation_scores_every_paper_as_a_request_does(served_model, topical):
    inter, _, events = topical
    model = served_model
    for history in _histories(events, 5):
        positives, weights, _, _ = history_vector(history, model.paper_index)
        row = sp.csr_matrix(
            (weights, (np.zeros(positives.size, int), positives)), shape=(1, model.n_papers)
        )
        batch = model.score_rows(row)[0]
        sig = _signal(model, history)
        np.testing.assert_allclose(batch, scoring.score(model, sig).total, rtol=1e-5, atol=1e-6)


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


def test_warming_up_changes_no_answer_and_leaves_the_work_vectors_clean(served_model, topical):
    from recommender import kernels

    _, _, events = topical
    histories = _histories(events, 5)
    before = [served_model.recommend(h, n=10) for h in histories]
    served_model.warm_up()
    assert [served_model.recommend(h, n=10) for h in histories] == before
    for n in (served_model.n_papers, served_model.text.n_terms):
        sums, marks = kernels.scratch(n)
        assert not sums.any() and not marks.any()
        assert (kernels.slots(n) == -1).all()
    HybridRecommender().warm_up()  # nothing to warm


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
    assert found and all(r.reasons[0]["type"] == "similar_text" for r in found)
    assert all(set(r.reasons[0]["terms"]) <= set(words) for r in found)
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


def test_text_candidates_are_the_best_centred_matches_within_the_budget(served_model, topical):
    _, _, events = topical
    model = served_model
    p = model.params
    for history in _histories(events, 10):
        sig = _signal(model, history)
        terms, weights = sig.text
        got = model.text.best(terms, weights, p["text_candidates"], p["text_candidate_postings"])
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


def test_the_blend_leans_on_text_for_short_histories_and_on_co_reading_for_long(served_model):
    model = served_model
    p = model.params
    comp = {name: np.ones(3) for name in scoring.COMPONENTS}
    for n in (1, 3, 40):
        parts = scoring.blend(p, comp, float(n))
        c = n / (n + p["history_half"])
        assert parts["knn"][0] == pytest.approx(c * p["w_knn"])
        assert parts["ease"][0] == pytest.approx(c * p["w_ease"])
        assert parts["als"][0] == pytest.approx(c * p["w_als"] * n / (n + p["als_half"]))
        assert parts["text"][0] == pytest.approx(p["w_text"] * (1 - c) + p["text_floor"])
        assert parts["pop"][0] == pytest.approx(p["w_pop"])
    short, long = scoring.blend(p, comp, 1.0), scoring.blend(p, comp, 40.0)
    assert short["text"][0] > long["text"][0] and short["knn"][0] < long["knn"][0]
    # a component that takes no part contributes nothing
    assert not scoring.blend(p, {"pop": np.ones(3)}, 5.0)["als"].any()


def _mean_rank(ranked, papers):
    return np.mean([ranked.index(p) if p in ranked else len(ranked) for p in papers])


def test_a_dismissal_pushes_the_papers_closest_to_it_down(served_model, topical):
    """The issue's measure: the mean rank of the dismissed paper's five nearest papers among
    the user's answers falls (their rank number grows), and the paper never comes back."""
    _, _, events = topical
    model = served_model
    text = model.text.matrix
    falls = []
    for history in _histories(events, 20):
        before = [r.paper_id for r in model.recommend(history, n=100)]
        gone = before[1]
        j = model.paper_index[gone]
        cosine = np.asarray((text @ text[j].T).todense()).ravel()
        cosine[j] = -1.0
        nearest = [model.paper_ids[i] for i in np.argsort(-cosine)[:5]]
        after = [r.paper_id for r in model.recommend([*history, (gone, "dismiss", None)], n=100)]
        assert gone not in after

        falls.append(_mean_rank(after, nearest) - _mean_rank(before, nearest))
    assert np.mean(falls) > 5 and np.mean(np.asarray(falls) > 0) >= 0.8, falls
