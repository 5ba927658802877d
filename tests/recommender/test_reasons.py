"""Reasons tell the truth, case by hand-built case: other readers only from two on and counted,
popularity from other people's reading only, the user's own action named as it happened, and
a paper cited for its text only when the two really are alike."""

import numpy as np

from recommender import HybridRecommender, build_interactions
from recommender.interactions import actions

TOPIC = {
    "m": "mixture experts routing sparse transformer language model gating tokens",
    "p": "protein structure prediction folding residues amino acid contact",
}


def _catalog(n=12):
    rng = np.random.default_rng(1)
    ids, texts = [], []
    for t, words in TOPIC.items():
        for i in range(n):
            ids.append(f"x:{t}{i}")
            texts.append(" ".join(rng.choice(words.split(), 6, replace=False)))
    return ids, texts


def _fit(rows, **params):
    ids, texts = _catalog()
    settings = dict(als_factors=4, als_iterations=3, neighbours_k=10, random_state=0, tune=False)
    return HybridRecommender(**{**settings, **params}).fit(
        build_interactions(rows, paper_ids=ids), texts
    )


def _claims_others(reason):
    return "readers" in reason or reason["type"] in ("similar_readers", "popular")


def test_a_one_user_server_never_claims_other_readers():
    me = [("me", f"x:m{i}", "open", None) for i in range(4)]
    model = _fit(me)
    recs = model.recommend([(p, t, d) for _, p, t, d in me[:2]], n=10)
    assert recs
    for rec in recs:
        assert not any(_claims_others(r) for r in rec.reasons), rec


def test_co_reading_counts_the_other_readers_and_needs_two():
    # one other reader read m0 with m5; three others read m0 with m6
    rows = [("solo", "x:m0", "open", None), ("solo", "x:m5", "open", None)]
    rows += [(f"u{i}", p, "open", None) for i in range(3) for p in ("x:m0", "x:m6")]
    model = _fit(rows, w_text=0.0, text_floor=0.0, w_pop=0.0, w_als=0.0)
    recs = {r.paper_id: r.reasons for r in model.recommend([("x:m0", "save", None)], n=5)}
    assert recs["x:m6"] == [
        {"type": "because_you_read", "paper_id": "x:m0", "readers": 3, "action": "saved"}
    ]
    # m5 ranks for m0, but one reader is one person: no readers are claimed
    (reason,) = recs["x:m5"]
    assert reason["paper_id"] == "x:m0" and "readers" not in reason


def test_popular_names_the_readers_and_never_one_person():
    rows = [(f"u{i}", "x:p1", "open", None) for i in range(4)] + [("v", "x:p2", "open", None)]
    model = _fit(rows, w_pop=5.0)
    recs = {r.paper_id: r.reasons for r in model.recommend([("x:m0", "open", None)], n=24)}
    assert recs["x:p1"] == [{"type": "popular", "readers": 4}]
    assert all(r["type"] != "popular" for r in recs["x:p2"])  # read by one person only


def test_a_paper_is_cited_for_its_text_only_when_alike():
    model = _fit([(f"u{i}", "x:p0", "open", None) for i in range(2)])
    # the history holds a paper of each topic; every answer in the protein topic cites the
    # protein paper, never the mixture-of-experts one
    history = [("x:m0", "like", None), ("x:p0", "open", None)]
    cited = {}
    for rec in model.recommend(history, n=22):
        (reason,) = rec.reasons
        if "paper_id" in reason:
            assert reason["paper_id"] == rec.paper_id[:3] + "0", rec
            cited[reason["paper_id"]] = reason["action"]
    assert cited == {"x:m0": "liked", "x:p0": "opened"}


def test_actions_name_what_the_user_did_and_follow_undo():
    history = [
        ("a", "open", None),
        ("b", "open", 90_000),
        ("c", "read", None),
        ("d", "open", None),
        ("d", "save", None),
        ("e", "like", None),
        ("e", "save", None),
        ("f", "open", None),
        ("f", "like", None),
        ("f", "unlike", None),
        ("g", "dismiss", None),
    ]
    assert actions(history) == {
        "a": "opened",
        "b": "read",
        "c": "read",
        "d": "saved",
        "e": "liked",
        "f": "opened",
    }


def test_similar_papers_count_the_readers_of_both_and_name_shared_terms():
    rows = [("solo", "x:m0", "open", None), ("solo", "x:m5", "open", None)]
    rows += [(f"u{i}", p, "open", None) for i in range(3) for p in ("x:m0", "x:m6")]
    model = _fit(rows)
    related = {r.paper_id: r.reasons for r in model.similar("x:m0", n=23)}
    kinds = {p: [r["type"] for r in reasons] for p, reasons in related.items()}
    assert {"type": "similar_readers", "readers": 3} in related["x:m6"]
    assert "similar_readers" not in kinds["x:m5"]  # one reader of both is one person
    for paper_id, reasons in related.items():
        for reason in reasons:
            if reason["type"] == "similar_text":
                words = set(TOPIC[paper_id[2]].split())
                assert reason["terms"] and set(reason["terms"]) <= words, (paper_id, reason)
