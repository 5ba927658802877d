"""Training chooses the blend for the deployment: validation users carved from its events, the
weights searched on them, never worse than the best component alone, recorded in the model."""

import json

import numpy as np
import pytest
import scipy.sparse as sp
from rec_synthetic import DATA_DIR as DATA

from recommender import HybridRecommender, build_interactions, load_dataset, tuning
from recommender.evaluation import rank_metrics, sparse_split

N_PAPERS, N_USERS = 400, 300


def _events(text_says_topic: bool, seed: int = 0):
    """Users read within one of 8 topics; a topic's papers share words when
    ``text_says_topic``, else each paper has the words of another paper's topic, drawn at
    random: the text misleads, so the right blend differs."""
    rng = np.random.default_rng(seed)
    topic = rng.integers(0, 8, N_PAPERS)
    worded = topic if text_says_topic else rng.permutation(topic)
    vocab = [f"t{t}w{k}" for t in range(8) for k in range(20)]
    texts = []
    for t in worded:
        own = rng.choice(20, 8, replace=False) + 20 * t
        texts.append(" ".join(vocab[i] for i in own))
    paper_ids = [f"p:{i}" for i in range(N_PAPERS)]
    events = []
    for u in range(N_USERS):
        pool = np.flatnonzero(topic == u % 8)
        for i in rng.choice(pool, size=rng.integers(6, 20), replace=False):
            events.append((f"u{u}", paper_ids[i], "open", None))
    return build_interactions(events, paper_ids=paper_ids), texts


def test_validation_split_is_seeded_and_mixes_newcomers_and_regulars():
    inter, _ = _events(True)
    a = tuning.validation_split(inter, seed=3, max_users=100)
    b = tuning.validation_split(inter, seed=3, max_users=100)
    assert np.array_equal(a.users, b.users) and (a.test != b.test).nnz == 0
    assert a.users.size == 100
    kept = np.diff(a.train.matrix.indptr)[a.users]
    held = np.diff(a.test.indptr)[a.users]
    total = np.diff(sp.csr_matrix(inter.matrix).indptr)[a.users]
    assert np.array_equal(kept + held, total)  # nothing lost, nothing leaked
    newcomers = kept == tuning.NEWCOMER_KEEP
    assert 10 <= newcomers.sum() <= 30  # about a fifth keep three papers
    regular = ~newcomers
    assert np.all(held[regular] == np.maximum(1, np.round(0.2 * total[regular])))
    others = np.setdiff1d(np.arange(inter.n_users), a.users)
    assert np.diff(a.test.indptr)[others].sum() == 0


@pytest.mark.parametrize("text_says_topic", [True, False])
def test_the_chosen_blend_is_never_worse_than_its_best_component(text_says_topic):
    inter, texts = _events(text_says_topic)
    model = HybridRecommender(als_factors=8, als_iterations=4, random_state=0)
    model.fit(inter, texts)
    chosen = model.tuning
    assert chosen is not None and chosen.skipped is None
    assert chosen.users >= tuning.MIN_USERS
    assert chosen.recall >= max(chosen.single.values()) - 1e-9
    assert chosen.recall >= chosen.start_recall - 1e-9
    for name, value in chosen.weights.items():  # the model serves what was chosen
        assert model.params[name] == value


@pytest.mark.skipif(not (DATA / "movielens-100k").is_dir(), reason="shared data not found")
def test_tuned_weights_beat_the_defaults_for_newcomers_on_real_data():
    """Tuned on the training part of MovieLens only, then checked on newcomers it never saw
    (the sparse protocol), where the fixed defaults lean on text that says little there."""
    data = load_dataset(DATA / "movielens-100k")
    split = sparse_split(data.interactions, seed=0)
    got = {}
    for name, tune in (("tuned", True), ("fixed", False)):
        model = HybridRecommender(tune=tune).fit(split.train, data.texts, data.published)
        got[name] = rank_metrics(_Scorer(model), split, k=20)["recall@20"]
    assert got["tuned"] > 1.05 * got["fixed"], got


class _Scorer:
    def __init__(self, model):
        self.model = model

    def scores(self, rows, users, candidates):
        return self.model.score_rows(rows, candidates)


def test_the_choice_is_recorded_in_the_saved_model(tmp_path):
    inter, texts = _events(True)
    model = HybridRecommender(als_factors=8, als_iterations=4, random_state=0).fit(inter, texts)
    model.save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["tuning"] == model.tuning.to_dict()
    assert all(manifest["params"][k] == v for k, v in model.tuning.weights.items())
    assert HybridRecommender.load(tmp_path).tuning == model.tuning


def test_too_few_users_keep_the_weights_and_say_why():
    inter, texts = _events(True)
    few = build_interactions(
        [(f"u{u}", f"p:{i}", "open", None) for u in range(5) for i in range(u, u + 6)],
        paper_ids=inter.paper_ids,
    )
    model = HybridRecommender(als_factors=8, als_iterations=2).fit(few, texts)
    assert model.tuning.skipped and "fewer than" in model.tuning.skipped
    assert model.params["w_knn"] == HybridRecommender().params["w_knn"]
    one = build_interactions(
        [("u0", f"p:{i}", "open", None) for i in range(6)], paper_ids=inter.paper_ids
    )
    lone = HybridRecommender(als_factors=8, als_iterations=2).fit(one, texts)
    assert lone.tuning.skipped.startswith("1 user with 5 or more papers, fewer than")


def test_a_retrain_reuses_the_choice_until_the_events_grew_by_a_quarter(tmp_path):
    inter, texts = _events(True)
    first = HybridRecommender(als_factors=8, als_iterations=4, random_state=0).fit(inter, texts)
    assert not first.tuning.reused and first.tuning.interactions == inter.matrix.nnz
    first.save(tmp_path)
    again = HybridRecommender(als_factors=8, als_iterations=4, random_state=0)
    again.fit(inter, texts, previous=tmp_path)
    assert again.tuning.reused and again.tuning.weights == first.tuning.weights
    more, _ = _events(True, seed=9)  # as many events again, from other users
    rows = [
        (f"{who}{u}", data.paper_ids[j], "open", None)
        for who, data in (("u", inter), ("v", more))
        for u, j in zip(*data.matrix.nonzero(), strict=True)
    ]
    grown = build_interactions(rows, paper_ids=inter.paper_ids)
    searched = HybridRecommender(als_factors=8, als_iterations=4, random_state=0)
    searched.fit(grown, texts, previous=tmp_path)
    assert not searched.tuning.reused and searched.tuning.interactions == grown.matrix.nnz


def test_ease_covers_every_read_paper_up_to_its_cap_and_a_large_deployment_the_head():
    inter, texts = _events(True)
    read = int((np.diff(sp.csc_matrix(inter.matrix).indptr) > 0).sum())
    settings = dict(tune=False, als_factors=0, ease_k=1000, ease_head=50)
    every = HybridRecommender(**settings, ease_max_items=read).fit(inter, texts)
    capped = HybridRecommender(**settings, ease_max_items=100).fit(inter, texts)
    large = HybridRecommender(**settings, ease_head_from=inter.matrix.nnz).fit(inter, texts)
    covered = lambda m: np.count_nonzero(np.diff(m.ease.indptr))  # noqa: E731
    assert covered(every) == read
    assert covered(capped) <= 100
    assert covered(large) <= 50


def test_ease_covers_as_many_papers_as_its_memory_budget_holds():
    """Without a cap, EASE's cover follows its memory budget (by default a third of the
    machine's): every read paper when they fit, the most read when they do not."""
    from recommender.neighbours import EASE_BYTES_PER_ENTRY, ease_items_within, physical_memory

    inter, texts = _events(True)
    read = int((np.diff(sp.csc_matrix(inter.matrix).indptr) > 0).sum())
    settings = dict(tune=False, als_factors=0, ease_k=1000)
    covered = lambda m: np.count_nonzero(np.diff(m.ease.indptr))  # noqa: E731
    budget_mb = 120 * 120 * EASE_BYTES_PER_ENTRY / 2**20  # 120 papers' worth
    assert ease_items_within(budget_mb * 2**20) == 120
    tight = HybridRecommender(**settings, ease_memory_mb=budget_mb).fit(inter, texts)
    assert 0 < covered(tight) <= 120 < read
    roomy = HybridRecommender(**settings, ease_memory_mb=1024).fit(inter, texts)
    assert covered(roomy) == read
    off = HybridRecommender(**settings, ease_max_items=0, ease_head_from=1).fit(inter, texts)
    assert covered(off) == 0  # 0 turns EASE off, on a large deployment too
    default = HybridRecommender(**settings)
    if physical_memory():
        assert default._ease_items(inter.matrix.nnz) == ease_items_within(physical_memory() / 3)


def test_the_tuning_fit_covers_as_many_papers_with_ease_as_the_deployment(monkeypatch):
    """The blend is tuned on a sample of a large deployment's users: fewer pairs than the line
    past which EASE keeps to its head. The sample's EASE must still keep to that head (as the
    served model's does), not cover every paper that fits memory: on a 500k-paper
    deployment that fit took gigabytes and minutes, and LAPACK crashed on it."""
    from recommender import hybrid

    asked = []
    fit_ease = hybrid.ease_neighbours

    def recorded(x, *, max_items, **kwargs):
        asked.append(max_items)
        return fit_ease(x, max_items=max_items, **kwargs)

    monkeypatch.setattr(hybrid, "ease_neighbours", recorded)
    inter, texts = _events(True)
    nnz = inter.matrix.nnz
    model = HybridRecommender(
        als_factors=8, als_iterations=2, ease_head=40, ease_head_from=nnz, tune_max_users=150
    ).fit(inter, texts)
    assert model.tuning.skipped is None and model.tuning.users > 0  # the tuning fit ran
    assert asked[0] == 40  # the tuning fit's EASE (the deployment's follows, unless tuned out)
    assert set(asked) == {40}
