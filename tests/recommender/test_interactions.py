import numpy as np
import pytest

from recommender import build_interactions
from recommender.interactions import history_vector


def conf(inter, user, paper):
    return float(inter.matrix[inter.user_index[user], inter.paper_index[paper]])


def test_event_strength_order():
    rows = [
        ("u", "like", "like", None),
        ("u", "save", "save", None),
        ("u", "long", "read", 20 * 60_000),
        ("u", "short", "read", 5_000),
        ("u", "open", "open", None),
    ]
    inter = build_interactions(rows)
    values = [conf(inter, "u", p) for p in ["like", "save", "long", "short", "open"]]
    assert values == sorted(values, reverse=True)
    assert len(set(values)) == 5
    assert inter.matrix.dtype == np.float32


def test_aggregates_per_pair_and_repeats_add_a_little():
    once = build_interactions([("u", "p", "open", None)])
    thrice = build_interactions([("u", "p", "open", None)] * 3)
    assert thrice.matrix.nnz == 1
    assert conf(once, "u", "p") < conf(thrice, "u", "p") < 2 * conf(once, "u", "p")


def test_catalog_papers_get_columns_and_order_is_kept():
    inter = build_interactions([("u1", "x", "open", None)], paper_ids=["a", "b", "x"])
    assert inter.paper_ids == ["a", "b", "x"]
    assert inter.matrix.shape == (1, 3)
    assert inter.paper_index == {"a": 0, "b": 1, "x": 2}
    assert inter.user_ids == ["u1"] and inter.user_index == {"u1": 0}
    assert inter.matrix[0].toarray().tolist() == [[0, 0, 1]]


def test_dismiss_removes_positive_and_is_recorded_but_like_wins():
    rows = [
        ("u", "p1", "open", None),
        ("u", "p1", "dismiss", None),
        ("u", "p2", "like", None),
        ("u", "p2", "dismiss", None),
        ("v", "p3", "dismiss", None),
    ]
    inter = build_interactions(rows)
    assert conf(inter, "u", "p1") == 0
    assert conf(inter, "u", "p2") > 0
    dismissed = {
        (inter.user_ids[u], inter.paper_ids[p])
        for u, p in zip(*inter.dismissed.nonzero(), strict=False)
    }
    assert dismissed == {("u", "p1"), ("v", "p3")}


def test_unknown_type_is_rejected():
    with pytest.raises(ValueError, match="unknown event type"):
        build_interactions([("u", "p", "bogus", None)])


def test_empty_rows():
    inter = build_interactions([], paper_ids=["a"])
    assert inter.matrix.shape == (0, 1)
    assert inter.n_users == 0


def test_streams_from_a_generator():
    gen = ((f"u{i % 7}", f"p{i % 11}", "open", None) for i in range(1000))
    inter = build_interactions(gen)
    assert inter.matrix.shape == (7, 11)
    assert inter.matrix.nnz == 77


def test_history_vector_ignores_unknown_and_matches_build():
    index = {"a": 0, "b": 1, "c": 2}
    hist = [("a", "like", None), ("zzz", "open", None), ("b", "open", None), ("c", "dismiss", None)]
    positives, weights, seen, _ = history_vector(hist, index)
    built = build_interactions([("u", p, t, d) for p, t, d in hist], paper_ids=["a", "b", "c"])
    row = np.zeros(3)
    row[positives] = weights
    np.testing.assert_allclose(row, built.matrix[:, :3].toarray()[0])
    assert sorted(seen.tolist()) == [0, 1, 2]
    assert positives.tolist() == [0, 1]  # strongest first; dismissed c is not positive


def test_likes_saves_and_dismissals_hold_until_undone():
    index = {"a": 0, "b": 1, "c": 2, "d": 3}

    def vector(events):
        return history_vector([(p, t, None) for p, t in events], index)[:3]

    # a like taken back leaves the open; liked again, it counts again
    papers, weights, seen = vector([("a", "open"), ("a", "like"), ("a", "unlike")])
    assert papers.tolist() == [0] and weights[0] == pytest.approx(1.0)  # the open alone
    liked, liked_weights, _ = vector([("a", "like"), ("a", "unlike"), ("a", "like")])
    assert liked_weights[0] > 4.0
    # a save taken back, with nothing else, is no positive but the paper was seen
    papers, _, seen = vector([("b", "save"), ("b", "unsave")])
    assert papers.size == 0 and seen.tolist() == [1]
    # a dismissal taken back: neither a positive nor seen, so it may be recommended again
    papers, _, seen = vector([("c", "dismiss"), ("c", "undismiss")])
    assert papers.size == 0 and seen.size == 0
    papers, _, seen = vector([("c", "dismiss"), ("c", "undismiss"), ("c", "dismiss")])
    assert papers.size == 0 and seen.tolist() == [2]
    # a dismissal of a paper still saved does not hold it back; once unsaved, it does
    papers, _, _ = vector([("d", "save"), ("d", "dismiss")])
    assert papers.tolist() == [3]
    papers, _, seen = vector([("d", "save"), ("d", "dismiss"), ("d", "unsave")])
    assert papers.size == 0 and seen.tolist() == [3]


def test_training_reads_undoing_as_history_vector_does():
    rows = [
        ("u", "a", "like", None),
        ("u", "a", "unlike", None),
        ("u", "b", "dismiss", None),
        ("u", "b", "undismiss", None),
        ("u", "c", "save", None),
        ("v", "c", "dismiss", None),
    ]
    inter = build_interactions(rows, paper_ids=["a", "b", "c"])
    assert inter.matrix.toarray().tolist() == [[0.0, 0.0, 3.0], [0.0, 0.0, 0.0]]
    assert inter.dismissed.toarray().tolist() == [[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
