"""Blend weights chosen for each deployment, on a validation split of its own events.

Owns how :class:`~recommender.hybrid.HybridRecommender` picks its blend at training time
(``fit`` with ``tune``; ``bench/recommender_tune.py`` uses the same steps to compare the
components' own settings):

1. :func:`validation_split` carves validation users from the deployment's events (seeded,
   at most ``tune_users``): a fifth of them keep 3 papers and have the rest held out (a
   newcomer), the others have 20% held out (a regular), so the weights learn how the blend
   should move with history length.
2. The components are fitted on what is left (the caller does that), and each validation
   user's components are stacked over the papers any component ranks high for them
   (:func:`stack`).
3. :func:`search` runs a coordinate ascent over the weights from the current ones,
   scoring recall@20 of the blend (:func:`recommender.scoring.blend`, every user at once), and
   compares the result with every component alone: the weights kept are never worse on
   validation than the best single component.

The result (:class:`Tuning`) is recorded in the model's manifest, printed by ``nextpaper
train`` and shown by the admin route.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from . import scoring
from .interactions import Interactions

if TYPE_CHECKING:
    from .hybrid import HybridRecommender

K = 20
MIN_PAPERS = 5  # a validation user has at least this many papers
NEWCOMER_KEEP = 3  # papers a "newcomer" validation user keeps
NEWCOMERS = 0.2  # share of the validation users who are newcomers
HOLDOUT = 0.2  # share of a regular validation user's papers held out
MIN_USERS = 20  # fewer validation users than this: keep the weights as they are
RETUNE_GROWTH = 0.25  # a training reuses the last choice until the events grew by this share
PER_COMPONENT = 300  # each component's best papers per user that the search ranks

# The weights searched: each is tried at 0 and at a quarter, half, twice and four times its
# current value (so the search can go as far as the data asks), the two half-lives on a grid.
WEIGHTS = ("w_knn", "w_ease", "w_als", "w_text", "text_floor", "w_pop")
STEPS = (0.25, 0.5, 2.0, 4.0)
HALVES: dict[str, list[float]] = {
    "history_half": [0.5, 1.0, 3.0, 10.0, 30.0],
    "als_half": [0.0, 3.0, 10.0, 50.0, 200.0],
}
START = 0.1  # a weight at 0 is tried again from this
# Weights also moved together, by the same steps: what the readers say against what the
# words say.
GROUPS = {"collaborative": ("w_knn", "w_ease", "w_als"), "text": ("w_text", "text_floor")}
# Each component alone, for the guarantee that the blend is never worse than its best part.
SINGLE = {
    name: {
        "w_knn": 0.0,
        "w_ease": 0.0,
        "w_als": 0.0,
        "w_text": 0.0,
        "text_floor": 0.0,
        "w_pop": 0.0,
        "history_half": 1.0,
        "als_half": 0.0,
        **alone,
    }
    for name, alone in {
        "knn": {"w_knn": 1.0},
        "ease": {"w_ease": 1.0},
        "als": {"w_als": 1.0},
        "text": {"text_floor": 1.0},
        "pop": {"w_pop": 1.0},
    }.items()
}


@dataclass
class Tuning:
    """What a training chose and why: the ``weights``, the validation recall@20 of the blend
    with them (``recall``), with the weights it started from (``start_recall``) and of each
    component alone (``single``); the validation ``users``, the ``seconds`` taken and the
    ``interactions`` of the training that searched (``reused`` when a later training took the
    choice over). When there was too little to validate on, ``skipped`` says why and the
    weights stay."""

    weights: dict[str, float] = field(default_factory=dict)
    recall: float | None = None
    start_recall: float | None = None
    single: dict[str, float] = field(default_factory=dict)
    users: int = 0
    seconds: float = 0.0
    skipped: str | None = None
    interactions: int = 0  # (user, paper) pairs of the training that searched
    reused: bool = False  # taken from the previous model, not searched again

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reuse(previous: Tuning | None, interactions: int) -> Tuning | None:
    """The previous training's choice, for a training of ``interactions`` pairs, when it was
    searched on at least ``1 / (1 + RETUNE_GROWTH)`` of them (a retrain of a large deployment
    that few new events moved keeps its budget); None when the blend is to be searched."""
    if previous is None or previous.skipped or not previous.interactions:
        return None
    if interactions > (1 + RETUNE_GROWTH) * previous.interactions:
        return None
    return replace(previous, reused=True, seconds=0.0)


@dataclass
class Validation:
    """A validation split: ``train`` (the events the components are fitted on), ``test``
    (held-out entries, users x papers) and the validation ``users``."""

    train: Interactions
    test: sp.csr_matrix
    users: np.ndarray


def validation_split(inter: Interactions, seed: int, max_users: int) -> Validation:
    """Validation users drawn with ``seed`` among those with :data:`MIN_PAPERS` papers (at
    most ``max_users``); a :data:`NEWCOMERS` share of them keep :data:`NEWCOMER_KEEP` papers,
    the others have :data:`HOLDOUT` of theirs held out (at least one). On a small deployment
    every user may validate, so the share of newcomers stays small: the components fitted
    without the held-out papers must stay close to those fitted on everything."""
    from .evaluation import hold_out

    rng = np.random.default_rng(seed)
    x = sp.csr_matrix(inter.matrix)
    counts = np.diff(x.indptr)
    eligible = np.flatnonzero(counts >= MIN_PAPERS)
    users = np.sort(rng.choice(eligible, size=min(max_users, eligible.size), replace=False))
    newcomer = rng.random(users.size) < NEWCOMERS
    n_out = np.zeros(x.shape[0], np.int64)
    n_out[users] = np.where(
        newcomer,
        counts[users] - NEWCOMER_KEEP,
        np.maximum(1, np.round(HOLDOUT * counts[users])),
    )
    split = hold_out(inter, n_out, rng)
    return Validation(split.train, split.test, split.users)


@dataclass
class Stacked:
    """Each validation user's components over the papers ranked for them (padded to the
    same width): ``parts[c]`` float32 (n_users, width), ``valid`` where a column is a real
    paper, ``truth`` where it is held out, ``held`` the number held out per user and
    ``evidence`` the blend's n per user (column vector)."""

    parts: dict[str, np.ndarray]
    valid: np.ndarray
    truth: np.ndarray
    held: np.ndarray
    evidence: np.ndarray


def stack(model: HybridRecommender, val: Validation) -> Stacked:
    """Every validation user's components (:func:`recommender.scoring.components`, over every
    paper, or over the gathered papers on a large catalog), kept on the union of each
    component's :data:`PER_COMPONENT` best papers that the user has not read."""
    rows = val.train.matrix
    every = model.n_papers < model.params["serve_exact_below"]
    per_user = []
    for u in val.users:
        lo, hi = rows.indptr[u], rows.indptr[u + 1]
        keep = rows.data[lo:hi] > 0
        papers = rows.indices[lo:hi][keep]
        sig = scoring.signal(model, papers, rows.data[lo:hi][keep])
        items, comp, _ = scoring.components(
            model, sig, None if every else scoring.gather(model, sig)
        )
        read = np.isin(items, papers)
        chosen = []
        for values in comp.values():
            v = np.where(read, -np.inf, values)
            k = min(PER_COMPONENT, int(np.isfinite(v).sum()))
            if k > 0:
                chosen.append(np.argpartition(-v, k - 1)[:k])
        at = np.unique(np.concatenate(chosen)) if chosen else np.empty(0, np.int64)
        held = val.test.indices[val.test.indptr[u] : val.test.indptr[u + 1]]
        per_user.append(
            ({c: v[at] for c, v in comp.items()}, np.isin(items[at], held), held.size, sig.evidence)
        )
    width = max((t.size for _, t, _, _ in per_user), default=0)
    n = len(per_user)
    parts = {c: np.zeros((n, width), np.float32) for c in scoring.COMPONENTS}
    valid = np.zeros((n, width), bool)
    truth = np.zeros((n, width), bool)
    for i, (comp, hit, _, _) in enumerate(per_user):
        for c, v in comp.items():
            parts[c][i, : v.size] = v
        valid[i, : hit.size] = True
        truth[i, : hit.size] = hit
    held = np.array([h for _, _, h, _ in per_user], np.float64)
    evidence = np.array([e for _, _, _, e in per_user], np.float64)[:, None]
    return Stacked(parts, valid, truth, held, evidence)


def recall(params: dict[str, Any], stacked: Stacked, k: int = K) -> float:
    """Mean recall@k of the blend with ``params`` over the stacked validation users."""
    if stacked.valid.shape[1] == 0:
        return 0.0
    ones = {c: np.ones((1, 1), np.float32) for c in scoring.COMPONENTS}
    weight = scoring.blend(params, ones, stacked.evidence)  # each component's (n_users, 1)
    total = np.where(stacked.valid, np.float32(0), np.float32(-np.inf))
    for c, w in weight.items():
        if c != "dismissed" and np.any(w):
            total += w.astype(np.float32) * stacked.parts[c]
    kk = min(k, total.shape[1])
    top = np.argpartition(-total, kk - 1, axis=1)[:, :kk]
    hits = np.take_along_axis(stacked.truth, top, axis=1).sum(axis=1)
    return float(np.mean(hits / np.minimum(k, np.maximum(stacked.held, 1))))


def search(
    params: dict[str, Any], stacked: Stacked, rounds: int = 5, restarts: int = 4, seed: int = 0
) -> Tuning:
    """Coordinate ascent (:data:`WEIGHTS` by :data:`STEPS`, the :data:`HALVES` on their grid,
    the :data:`GROUPS` together; a move must gain; at most ``rounds`` passes, fewer when a pass
    changes nothing) from ``params``' weights and from ``restarts`` seeded random points near
    them; then the best of all that and every component alone."""
    started = time.perf_counter()
    seen: dict[tuple, float] = {}

    def score(weights: dict[str, float]) -> float:
        key = tuple(sorted(weights.items()))
        if key not in seen:
            seen[key] = recall({**params, **weights}, stacked)
        return seen[key]

    def tried(name: str, value: float) -> list[float]:
        if name in HALVES:
            return HALVES[name]
        base = value if value > 0 else START
        return [0.0, *(round(base * step, 6) for step in STEPS), base]

    def moves(name: str, current: dict[str, float]) -> list[dict[str, float]]:
        if name in GROUPS:
            group = GROUPS[name]
            return [{**current, **{n: round(current[n] * f, 6) for n in group}} for f in STEPS]
        return [{**current, name: value} for value in tried(name, current[name])]

    def ascend(current: dict[str, float]) -> tuple[dict[str, float], float]:
        best = score(current)
        for _ in range(rounds):
            before = best
            for name in (*current, *GROUPS):
                for trial in moves(name, current):
                    got = score(trial)
                    if got > best + 1e-9:
                        current, best = trial, got
            if best <= before:
                break
        return current, best

    first = {name: float(params[name]) for name in (*WEIGHTS, *HALVES)}
    start = score(first)
    rng = np.random.default_rng(seed)
    starts = [first] + [
        {
            **{n: round((first[n] or START) * 4.0 ** rng.uniform(-1, 1), 6) for n in WEIGHTS},
            **{n: float(rng.choice(grid)) for n, grid in HALVES.items()},
        }
        for _ in range(restarts)
    ]
    current, best = max((ascend(s) for s in starts), key=lambda r: r[1])
    single = {name: score(weights) for name, weights in SINGLE.items()}
    top = max(single, key=single.get)
    if single[top] > best:
        current, best = dict(SINGLE[top]), single[top]
    return Tuning(
        weights=current,
        recall=round(best, 6),
        start_recall=round(start, 6),
        single={name: round(v, 6) for name, v in single.items()},
        users=int(stacked.held.size),
        seconds=round(time.perf_counter() - started, 3),
    )
