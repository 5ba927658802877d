import json

import numpy as np
import pytest
from rec_synthetic import group_of, texts

from recommender import HybridRecommender, Recommendation, build_interactions

REASON_TYPES = {"because_you_read", "similar_text", "popular", "similar_readers", "for_you"}


def ids(recs):
    return [r.paper_id for r in recs]


def check_reasons(recs, history_ids=()):
    for r in recs:
        assert isinstance(r, Recommendation)
        assert r.reasons, r
        json.dumps(r.reasons)
        for reason in r.reasons:
            assert reason["type"] in REASON_TYPES
            if "paper_id" in reason:  # a history paper, with what the user did with it
                assert reason["paper_id"] in history_ids
                assert reason["action"] in ("opened", "read", "saved", "liked")
            if "readers" in reason:  # other readers are named only from two on
                assert reason["readers"] >= 2


def test_long_history_stays_in_its_community(tiny_model):
    history = [(f"p:a{i}", "open", None) for i in range(8)]
    recs = tiny_model.recommend(history, n=5)
    assert len(recs) == 5
    assert all(group_of(p) == "a" for p in ids(recs))
    check_reasons(recs, {h[0] for h in history})
    scores = [r.score for r in recs]
    assert scores == sorted(scores, reverse=True)


def test_one_open_is_text_led_and_in_community(tiny_model):
    recs = tiny_model.recommend([("p:b3", "open", None)], n=5)
    assert all(group_of(p) == "b" for p in ids(recs))
    check_reasons(recs, {"p:b3"})


def test_never_returns_history_including_dismissed(tiny_model):
    history = [(f"p:a{i}", t, None) for i, t in enumerate(["open", "read", "like", "save"])]
    history.append(("p:a4", "dismiss", None))
    recs = tiny_model.recommend(history, n=40)
    returned = set(ids(recs))
    assert not returned & {h[0] for h in history}
    assert len(recs) == tiny_model.n_papers - 5


def test_candidates_are_honoured_including_unread_papers(tiny_model):
    # p:a18 and p:a19 were never read by anyone: only text can rank them
    cands = ["p:a18", "p:a19", "p:b18", "p:b19", "p:a0", "unknown:id"]
    history = [("p:a0", "open", None), ("p:a1", "open", None)]
    recs = tiny_model.recommend(history, n=10, candidates=cands)
    assert set(ids(recs)) <= set(cands) - {"p:a0", "unknown:id"}
    assert len(recs) == 4
    assert {group_of(p) for p in ids(recs[:2])} == {"a"}
    assert tiny_model.recommend(history, n=10, candidates=[]) == []


def test_fold_in_changes_the_next_answer(tiny_model):
    before = tiny_model.recommend([("p:a0", "open", None)], n=10)
    after = tiny_model.recommend(
        [("p:a0", "open", None)] + [(f"p:b{i}", "like", None) for i in range(5)], n=10
    )
    assert ids(before) != ids(after)
    assert any(group_of(p) == "b" for p in ids(after))


def test_empty_history_leaves_the_newcomer_to_the_caller(tiny_model):
    # what a newcomer sees (popular and fresh papers) is the server's one notion of popular
    assert tiny_model.recommend([], n=5) == []
    assert tiny_model.recommend([("p:a5", "dismiss", None)], n=5) == []


def test_unknown_history_papers_are_ignored(tiny_model):
    with_unknown = tiny_model.recommend([("p:a0", "open", None), ("x:nope", "like", None)], n=5)
    without = tiny_model.recommend([("p:a0", "open", None)], n=5)
    assert ids(with_unknown) == ids(without)
    assert tiny_model.recommend([("x:nope", "open", None)], n=3) == []


def test_similar_known_paper(tiny_model):
    recs = tiny_model.similar("p:a0", n=5)
    assert len(recs) == 5
    assert "p:a0" not in ids(recs)
    assert all(group_of(p) == "a" for p in ids(recs))
    check_reasons(recs)


def test_similar_unknown_paper_from_text(tiny_model):
    recs = tiny_model.similar("arxiv:9999.0001", n=5, text="protein folding of a membrane enzyme")
    assert len(recs) == 5
    assert all(group_of(p) == "b" for p in ids(recs))
    for r in recs:  # what it shares with the text, in words of that text
        (reason,) = r.reasons
        assert reason["type"] == "similar_text" and reason["terms"]
        assert set(reason["terms"]) <= set("protein folding of a membrane enzyme".split())
    assert tiny_model.similar("arxiv:9999.0001", n=5) == []


def test_two_fits_are_identical(tiny_data):
    inter, txt = tiny_data
    kw = dict(als_factors=8, als_iterations=5, neighbours_k=10, random_state=3)
    a = HybridRecommender(**kw).fit(inter, txt)
    b = HybridRecommender(**kw).fit(inter, txt)
    np.testing.assert_array_equal(a.als.item_factors, b.als.item_factors)
    history = [("p:a0", "open", None), ("p:a5", "read", 60_000)] + [
        (f"p:b{i}", "open", None) for i in range(3)
    ]
    ra, rb = a.recommend(history, n=10), b.recommend(history, n=10)
    assert ids(ra) == ids(rb)
    assert [r.score for r in ra] == [r.score for r in rb]


def test_save_load_round_trip(tiny_model, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    tiny_model.save(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format_version"] == 3
    assert manifest["counts"]["papers"] == tiny_model.n_papers
    assert manifest["counts"]["users"] == tiny_model.n_users
    loaded = HybridRecommender.load(folder)
    assert loaded.paper_ids == tiny_model.paper_ids
    assert loaded.n_users == tiny_model.n_users and loaded.params == tiny_model.params
    for history in ([], [("p:a0", "open", None)], [(f"p:b{i}", "like", None) for i in range(7)]):
        a, b = tiny_model.recommend(history, n=8), loaded.recommend(history, n=8)
        assert ids(a) == ids(b)
        np.testing.assert_allclose([r.score for r in a], [r.score for r in b], rtol=1e-6)
        assert [r.reasons for r in a] == [r.reasons for r in b]
    assert ids(loaded.similar("p:a1")) == ids(tiny_model.similar("p:a1"))
    assert ids(loaded.similar("new", text="gradient descent transformer")) == ids(
        tiny_model.similar("new", text="gradient descent transformer")
    )


def test_save_needs_an_empty_folder(tiny_model, tmp_path):
    (tmp_path / "junk").write_text("x")
    with pytest.raises(FileExistsError):
        tiny_model.save(tmp_path)


def test_load_refuses_unknown_format(tiny_model, tmp_path):
    tiny_model.save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["format_version"] = 999
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="format version"):
        HybridRecommender.load(tmp_path)


def test_unknown_parameter_is_rejected():
    with pytest.raises(TypeError):
        HybridRecommender(no_such_param=1)


def test_no_interactions_at_all_still_serves():
    inter = build_interactions([], paper_ids=["p:a0", "p:a1", "p:b0"])
    model = HybridRecommender(random_state=0).fit(
        inter, ["neural gradient", "neural network", "protein enzyme"], None
    )
    assert model.recommend([], n=2) == []
    recs = model.recommend([("p:a0", "open", None)], n=2)
    assert ids(recs)[0] == "p:a1"
    assert ids(model.similar("p:a0", n=1)) == ["p:a1"]


def test_texts_length_must_match(tiny_data):
    inter, _ = tiny_data
    with pytest.raises(ValueError):
        HybridRecommender().fit(inter, texts()[:3])


def test_since_keeps_only_papers_published_then(tiny_model, tiny_data):
    history = [(f"p:a{i}", "open", None) for i in range(3)]
    recs = tiny_model.recommend(history, n=40, since="2024-06-01")
    assert ids(recs) == ["p:b19"]  # the one paper published months after the rest
    assert len(tiny_model.recommend(history, n=40, since="2000-01-01")) > 1
    assert tiny_model.recommend(history, n=40, since="2999-01-01") == []


def test_a_refit_reuses_the_saved_models_text_and_ignores_an_unreadable_one(tmp_path):
    rng = np.random.default_rng(0)
    words = [f"term{i}" for i in range(200)]
    texts = [" ".join(rng.choice(words, 10)) for _ in range(120)]
    ids_ = [f"p:{i}" for i in range(120)]
    events = [(f"u{u}", ids_[int(p)], "open", None) for u in range(30) for p in rng.choice(120, 5)]
    first = HybridRecommender(als_factors=4, als_iterations=2, neighbours_k=5)
    first.fit(build_interactions(events, paper_ids=ids_), texts)
    (tmp_path / "v1").mkdir()
    first.save(tmp_path / "v1")
    # two new papers with a word the vocabulary has never seen
    ids2 = ids_ + ["p:new1", "p:new2"]
    texts2 = texts + ["unheardof term1 term2", "unheardof term3 term4"]
    inter2 = build_interactions(events, paper_ids=ids2)
    second = HybridRecommender(als_factors=4, als_iterations=2, neighbours_k=5)
    second.fit(inter2, texts2, previous=tmp_path / "v1")
    assert "unheardof" not in second.text.vectorizer.vocabulary_
    assert second.text.matrix.shape[0] == 122
    assert second.similar("p:new2", n=3)  # the new papers have text rows
    fresh = HybridRecommender(als_factors=4, als_iterations=2, neighbours_k=5)
    fresh.fit(inter2, texts2, previous=tmp_path / "missing")
    assert "unheardof" in fresh.text.vectorizer.vocabulary_


def _five_communities(n_users=200, seed=0):
    """Users reading mostly in one of five communities of 300 papers."""
    rng = np.random.default_rng(seed)
    papers = [f"p:{i}" for i in range(300)]
    events = []
    for u in range(n_users):
        own = np.flatnonzero(np.arange(300) % 5 == u % 5)
        picks = np.concatenate([rng.choice(own, 12), rng.choice(300, 3)])
        events += [(f"u{u}", papers[int(p)], "open", None) for p in picks]
    return papers, events, [f"w{i % 5} x{i}" for i in range(300)]


def _als_loss(model, inter):
    from implicit.cpu.als import calculate_loss
    from scipy.sparse import csr_matrix

    x = csr_matrix(inter.matrix, dtype=np.float32) * model.params["als_alpha"]
    als = model.als._model
    return calculate_loss(x, als.user_factors, als.item_factors, model.params["als_regularization"])


def test_a_retrain_continues_from_the_previous_als_solution(tmp_path):
    papers, events, texts_ = _five_communities()
    params = {"als_factors": 16, "neighbours_k": 5, "tune": False}  # ALS kept, whatever helps
    first = HybridRecommender(**params).fit(build_interactions(events, paper_ids=papers), texts_)
    assert not first.als_warm
    (tmp_path / "v1").mkdir()
    first.save(tmp_path / "v1")
    # since then: 20 new users and one new paper
    more = _five_communities(n_users=220, seed=1)[1][-20 * 15 :] + [("u3", "p:new", "open", None)]
    inter = build_interactions(events + more, paper_ids=papers + ["p:new"])
    warm = HybridRecommender(**params).fit(inter, texts_ + ["w3 new"], previous=tmp_path / "v1")
    assert warm.als_warm
    (tmp_path / "v2").mkdir()
    warm.save(tmp_path / "v2")
    assert json.loads((tmp_path / "v2" / "manifest.json").read_text())["als_warm_start"] is True
    # 3 iterations from the previous solution fit as well as 15 from scratch; 3 from scratch
    # do not, so the start is what makes the difference
    scratch = HybridRecommender(**params).fit(inter, texts_ + ["w3 new"])
    short = HybridRecommender(**params, als_iterations=3).fit(inter, texts_ + ["w3 new"])
    assert _als_loss(short, inter) > 1.02 * _als_loss(scratch, inter)
    assert _als_loss(warm, inter) < 1.005 * _als_loss(scratch, inter)
    assert warm.als.item_factors.shape == (301, 16)


def test_a_retrain_starts_afresh_when_the_previous_solution_does_not_fit(tmp_path):
    papers, events, texts_ = _five_communities()
    inter = build_interactions(events, paper_ids=papers)
    HybridRecommender(als_factors=16, neighbours_k=5).fit(inter, texts_).save(
        (tmp_path / "v1").mkdir() or tmp_path / "v1"
    )
    other_size = HybridRecommender(als_factors=8, neighbours_k=5)
    assert not other_size.fit(inter, texts_, previous=tmp_path / "v1").als_warm
    # mostly users the previous model never saw: under WARM_SHARE of the matrix is known
    strangers = [(f"new{u}", p, t, d) for u, (_, p, t, d) in enumerate(events)]
    mostly_new = build_interactions(events[:300] + strangers, paper_ids=papers)
    model = HybridRecommender(als_factors=16, neighbours_k=5)
    assert not model.fit(mostly_new, texts_, previous=tmp_path / "v1").als_warm


def test_als_fold_in_is_implicits_least_squares_solve(tiny_model):
    import scipy.sparse as sp

    als = tiny_model.als
    rng = np.random.default_rng(1)
    for size in (1, 3, 12):
        papers = np.sort(rng.choice(tiny_model.n_papers, size, replace=False))
        weights = rng.uniform(1.0, 4.0, size).astype(np.float32)
        row = sp.csr_matrix(
            (weights, (np.zeros(size, int), papers)), shape=(1, tiny_model.n_papers)
        )
        np.testing.assert_allclose(
            als.fold_in(papers, weights), als.user_factors(row)[0], rtol=2e-3, atol=1e-5
        )


def test_a_paper_the_model_does_not_know_counts_through_its_text(tiny_model):
    new = "arxiv:9999.0002"
    text = {new: "protein folding of a membrane enzyme"}
    assert tiny_model.recommend([(new, "open", None)], n=5) == []  # no text: nothing to go on
    recs = tiny_model.recommend([(new, "open", None)], n=5, texts=text)
    assert len(recs) == 5 and all(group_of(p) == "b" for p in ids(recs))
    # and the reasons cite it, as the user's own paper
    assert all(
        r.reasons == [{"type": "similar_text", "paper_id": new, "action": "opened"}] for r in recs
    )
    # beside a known paper of the other group, it pulls group b papers into the answer
    known = [("p:a0", "open", None)]
    before = tiny_model.recommend(known, n=10)
    after = tiny_model.recommend([*known, (new, "like", None)], n=10, texts=text)
    assert sum(group_of(p) == "b" for p in ids(after)) > sum(
        group_of(p) == "b" for p in ids(before)
    )
    # a dismissed new paper is not a positive
    assert tiny_model.recommend([(new, "dismiss", None)], n=5, texts=text) == []


def test_papers_added_after_training_are_recommended_from_their_text(tiny_model, tmp_path):
    folder = tmp_path / "trained"
    folder.mkdir()
    tiny_model.save(folder)
    model = HybridRecommender.load(folder, mmap=False)
    reader_b = [(f"p:b{i}", "open", None) for i in range(5)]
    reader_a = [(f"p:a{i}", "read", None) for i in range(5)]
    assert model.recommend(reader_b, n=2, since="2026-12-01") == []  # nothing that new yet
    new = ["arxiv:2612.00001", "arxiv:2612.00002", "p:a3"]  # p:a3 is known: ignored
    model.add_papers(
        new,
        ["protein folding of a membrane enzyme", "attention layer transformer training", "x"],
        ["2026-12-06", "2026-12-06", "2026-12-06"],
    )
    assert model.n_papers == tiny_model.n_papers + 2
    assert model.paper_index["arxiv:2612.00002"] == tiny_model.n_papers + 1
    # today's papers, each ranked first for the reader of its subject
    assert ids(model.recommend(reader_b, n=2, since="2026-12-01"))[0] == "arxiv:2612.00001"
    assert ids(model.recommend(reader_a, n=2, since="2026-12-01"))[0] == "arxiv:2612.00002"
    recs = model.recommend(reader_a, n=2, since="2026-12-01")
    check_reasons(recs, {p for p, _, _ in reader_a})
    # said from its text, or from the co-reading of the read papers it is close to in text
    reason = recs[0].reasons[0]
    assert reason["type"] == "similar_text" or reason["via_paper_id"].startswith("p:a")
    # nobody read them: no co-reading, ALS or popularity part, and the old answers stand
    assert model.readers[-2:].tolist() == [0, 0] and model.popularity[-2:].tolist() == [0, 0]
    assert not model.als.item_factors[-2:].any()
    assert ids(model.recommend(reader_b, n=8)) == ids(tiny_model.recommend(reader_b, n=8))
    assert "arxiv:2612.00001" in ids(model.similar("p:b1", n=40))
    # and the model saves and loads with them
    (tmp_path / "extended").mkdir()
    model.save(tmp_path / "extended")
    again = HybridRecommender.load(tmp_path / "extended")
    assert again.paper_ids == model.paper_ids
    assert ids(again.recommend(reader_b, n=2, since="2026-12-01")) == ids(
        model.recommend(reader_b, n=2, since="2026-12-01")
    )


def _bridged_catalog(**params):
    """Six readers read "protein folding" and "galaxy lensing" together; two papers nobody
    read: one close in text to the galaxy paper, one about nothing anyone read. Filler papers
    give the text model a vocabulary. The bridge counts in full from the first paper read
    (``bridge_half`` 0), so that one is enough."""
    papers = {
        "p:folding": "protein folding enzyme kinetics",
        "p:galaxy": "galaxy cluster dark matter weak lensing",
        "p:0-unrelated": "quantum error correction surface codes",
        "p:1-lensing-survey": "weak lensing survey of galaxy cluster dark matter halos",
    }
    papers |= {f"p:filler{i}": f"topic{i} method{i} dataset{i % 3}" for i in range(12)}
    events = [(f"u{u}", p, "read", None) for u in range(6) for p in ("p:folding", "p:galaxy")]
    events += [(f"v{i}", f"p:filler{i}", "read", None) for i in range(12)]
    events += [(f"v{i}", f"p:filler{(i + 1) % 12}", "read", None) for i in range(12)]
    inter = build_interactions(events, paper_ids=list(papers))
    params = {"als_factors": 4, "als_iterations": 3, "tune": False, "bridge_half": 0, **params}
    return HybridRecommender(**params).fit(inter, list(papers.values()))


def test_an_unread_paper_borrows_the_co_reading_of_its_text_neighbours():
    model = _bridged_catalog()
    assert model.readers[model.paper_index["p:1-lensing-survey"]] == 0
    reader = [("p:folding", "save", None)]
    unread = ["p:0-unrelated", "p:1-lensing-survey"]
    recs = model.recommend(reader, n=2, candidates=unread)
    # the folding reader shares no word with the survey, but readers of folding read galaxy
    assert ids(recs) == ["p:1-lensing-survey", "p:0-unrelated"]
    assert recs[0].score > recs[1].score
    assert recs[0].reasons == [
        {
            "type": "because_you_read",
            "paper_id": "p:folding",
            "readers": 6,
            "via_paper_id": "p:galaxy",
            "action": "saved",
        }
    ]
    # the same answer for a paper that joined the catalog after training
    model.add_papers(["p:2-new-survey"], ["galaxy cluster lensing dark matter map"])
    assert ids(model.recommend(reader, n=1, candidates=["p:0-unrelated", "p:2-new-survey"])) == [
        "p:2-new-survey"
    ]
    # without the bridge, the survey's generic words rank it last
    flat = _bridged_catalog(w_bridge=0.0)
    assert ids(flat.recommend(reader, n=2, candidates=unread)) == unread


def test_a_retrain_searches_text_only_for_unread_papers_without_a_row_to_reuse(
    tmp_path, monkeypatch
):
    from recommender.text import TextModel

    papers = {f"p:{i}": f"topic{i % 7} method{i % 5} dataset{i % 3} idea{i}" for i in range(80)}
    events = [(f"u{i}", f"p:{(i + j) % 60}", "read", None) for i in range(60) for j in range(4)]
    searched = []
    nearest = TextModel.nearest

    def counting(self, rows, *args, **kwargs):
        searched.append(len(rows))
        return nearest(self, rows, *args, **kwargs)

    monkeypatch.setattr(TextModel, "nearest", counting)
    params = {"als_factors": 4, "als_iterations": 2, "tune": False}
    first = HybridRecommender(**params).fit(
        build_interactions(events, list(papers)), [*papers.values()]
    )
    assert searched == [20] and first.bridge.nnz == 20 * 5  # papers 60..79 are unread
    (tmp_path / "v1").mkdir()
    first.save(tmp_path / "v1")
    # one unread paper is read now, and another paper joins the catalog
    papers["p:new"] = "topic1 method1 dataset1 idea-new"
    events.append(("u0", "p:60", "read", None))
    inter = build_interactions(events, list(papers))
    again = HybridRecommender(**params).fit(inter, [*papers.values()], previous=tmp_path / "v1")
    assert searched == [20, 1]  # only the new paper's text is searched
    reused = again.bridge.toarray()
    assert not reused[again.paper_index["p:60"]].any()  # read now: no bridge of its own
    assert np.count_nonzero(reused[again.paper_index["p:new"]]) == 5

    def row(model, paper):
        m = model.bridge
        lo, hi = m.indptr[model.paper_index[paper]], m.indptr[model.paper_index[paper] + 1]
        return {model.paper_ids[c]: v for c, v in zip(m.indices[lo:hi], m.data[lo:hi], strict=True)}

    for i in range(61, 80):  # the rows lent, each as the previous model had it
        assert row(again, f"p:{i}") == row(first, f"p:{i}") != {}
