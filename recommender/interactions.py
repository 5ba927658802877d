"""Reading events -> confidence matrix.

Owns the one place where event types and reading time become numbers: the
(users x papers) confidence matrix every model trains on, the matrix of dismissals,
and the id <-> index lookups. Rows are streamed into compact arrays (no per-row
objects, :class:`EventLog`, which a training keeps for the next one), then aggregated per
(user, paper) with numpy.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from .kernels import compiled

EVENT_TYPES = ("open", "read", "like", "dismiss", "save", "unlike", "unsave", "undismiss")
_TYPE_CODE = {name: code for code, name in enumerate(EVENT_TYPES)}
_OPEN, _READ, _LIKE, _DISMISS, _SAVE, _UNLIKE, _UNSAVE, _UNDISMISS = range(8)

# Confidence of one event: like > save > long read > read > open.
OPEN_WEIGHT = 1.0
READ_WEIGHT = 1.25  # a read without a usable dwell time
SAVE_WEIGHT = 3.0
LIKE_WEIGHT = 4.0
LONG_READ_MS = 10 * 60_000  # reading time at which a read counts as "long" (weight 2.5)
REPEAT_BONUS = 0.25  # per extra event on the same paper, on a log scale


def _read_weight(dwell_ms: np.ndarray) -> np.ndarray:
    """Weight of a `read` event from its active reading time (ms); NaN = unknown."""
    minutes = np.nan_to_num(dwell_ms, nan=-1.0) / 60_000.0
    w = 1.0 + 1.5 * np.clip(np.log1p(np.maximum(minutes, 0.0)) / math.log1p(10.0), 0.0, 1.0)
    return np.where(minutes < 0, READ_WEIGHT, w)


def event_weights(type_codes: np.ndarray, dwell_ms: np.ndarray) -> np.ndarray:
    """Per-event confidence, shape (n_events,); a dismissal and every undoing get 0 (whether
    a like or a save still holds is for :func:`_pairs` to say).

    Parameters
    ----------
    type_codes : ndarray of int8, shape (n_events,)
        Index into :data:`EVENT_TYPES`.
    dwell_ms : ndarray of float, shape (n_events,)
        Active reading time in milliseconds, NaN when unknown.
    """
    w = np.full(type_codes.shape, OPEN_WEIGHT, dtype=np.float32)
    read = type_codes == _READ
    w[read] = _read_weight(dwell_ms[read])
    w[type_codes == _SAVE] = SAVE_WEIGHT
    w[type_codes == _LIKE] = LIKE_WEIGHT
    w[np.isin(type_codes, (_DISMISS, _UNLIKE, _UNSAVE, _UNDISMISS))] = 0.0
    # an "open" with a long dwell is as good as a read of that length
    opened = (type_codes == _OPEN) & ~np.isnan(dwell_ms)
    w[opened] = np.maximum(w[opened], _read_weight(dwell_ms[opened]))
    return w


def _pairs(
    keys: np.ndarray, type_codes: np.ndarray, dwell_ms: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Events keyed by (user, paper), in the order they happened -> (distinct sorted keys,
    confidence, dismissed mask, seen mask).

    A like, a save and a dismissal each hold until undone (``unlike``, ``unsave``,
    ``undismiss``): of a like and the unlikes after it, the latest says. Confidence of a pair =
    its strongest positive event (a like or a save only while it holds) + ``REPEAT_BONUS *
    log(1 + extra positive events)``; a pair dismissed, and neither liked nor saved, gets
    confidence 0 and ``dismissed``. ``seen``: the user did something with the paper besides
    dismissing it and taking that back, or it is dismissed now.
    """
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    codes = type_codes[order]
    w = event_weights(codes, dwell_ms[order])
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    best, positive_events, dismissed, seen = _pair_states(starts, codes, w)
    conf = best + REPEAT_BONUS * np.log1p(np.maximum(positive_events - 1, 0))
    conf[dismissed] = 0.0
    return keys[starts], conf, dismissed, seen


@compiled
def _pair_states(starts, codes, w):  # pragma: no cover (compiled)
    """For each pair (the events ``starts[g]`` up to the next start, in the order they
    happened, with weights ``w``): its strongest positive weight (a like or a save only
    while it holds), how many positive events it has, whether it is dismissed now (and
    neither liked nor saved) and whether it is seen (:func:`_pairs`)."""
    n_pairs = starts.size
    best = np.zeros(n_pairs, np.float32)
    positive = np.zeros(n_pairs, np.int32)
    dismissed = np.zeros(n_pairs, np.bool_)
    seen = np.zeros(n_pairs, np.bool_)
    for g in range(n_pairs):
        lo = starts[g]
        hi = starts[g + 1] if g + 1 < n_pairs else codes.size
        like = save = dismiss = -1  # the latest of each kind of event or its undoing
        other = False
        for i in range(lo, hi):
            c = codes[i]
            if c == _LIKE or c == _UNLIKE:
                like = c
            elif c == _SAVE or c == _UNSAVE:
                save = c
            if c == _DISMISS or c == _UNDISMISS:
                dismiss = c
            else:
                other = True
        liked, saved = like == _LIKE, save == _SAVE
        top = np.float32(0.0)
        for i in range(lo, hi):
            c = codes[i]
            wi = w[i]
            if (c == _LIKE and not liked) or (c == _SAVE and not saved):
                wi = np.float32(0.0)
            if wi > top:
                top = wi
            if wi > 0:
                positive[g] += 1
        best[g] = top
        dismissed[g] = dismiss == _DISMISS and not liked and not saved
        seen[g] = other or dismissed[g]
    return best, positive, dismissed, seen


def aggregate(
    users: np.ndarray,
    papers: np.ndarray,
    type_codes: np.ndarray,
    dwell_ms: np.ndarray,
    shape: tuple[int, int],
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Aggregate events per (user, paper) into (confidence, dismissed) CSR matrices.

    Confidence and dismissal of a pair as :func:`_pairs` says: a pair dismissed (and not
    undismissed) and neither liked nor saved is dropped from the confidence matrix (dismissal
    wins over opens) and appears in ``dismissed`` with value 1.

    Returns
    -------
    confidence : csr_matrix of float32, shape (n_users, n_papers)
    dismissed : csr_matrix of float32, shape (n_users, n_papers)
    """
    n_users, n_papers = shape
    if len(users) == 0:
        empty = sp.csr_matrix(shape, dtype=np.float32)
        return empty, empty.copy()
    key = users.astype(np.int64) * n_papers + papers.astype(np.int64)
    key, conf, dismissed, _ = _pairs(key, type_codes, dwell_ms)
    ukey, pkey = np.divmod(key, n_papers)
    keep = conf > 0
    confidence = sp.csr_matrix(
        (conf[keep].astype(np.float32), (ukey[keep], pkey[keep])), shape=shape
    )
    dis = sp.csr_matrix(
        (np.ones(int(dismissed.sum()), np.float32), (ukey[dismissed], pkey[dismissed])),
        shape=shape,
    )
    confidence.sort_indices()
    dis.sort_indices()
    return confidence, dis


@dataclass
class Interactions:
    """Users x papers confidence matrix with its id lookups.

    Attributes
    ----------
    matrix : csr_matrix of float32, shape (n_users, n_papers)
        Confidence of each (user, paper); 0 = no positive interaction.
    dismissed : csr_matrix of float32, shape (n_users, n_papers)
        1 where the user dismissed the paper (and never liked or saved it).
    user_ids, paper_ids : list of str
    user_index, paper_index : dict str -> int
    """

    matrix: sp.csr_matrix
    dismissed: sp.csr_matrix
    user_ids: list[str]
    paper_ids: list[str]
    user_index: dict[str, int] = field(repr=False)
    paper_index: dict[str, int] = field(repr=False)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_papers(self) -> int:
        return len(self.paper_ids)

    def __repr__(self) -> str:
        return (
            f"Interactions(users={self.n_users}, papers={self.n_papers}, "
            f"nnz={self.matrix.nnz}, dismissed={self.dismissed.nnz})"
        )


class EventLog:
    """Events as compact arrays of codes, with the ids behind the codes.

    What a training reads from the database: ``extend`` streams (user, paper, type, dwell)
    rows in (users and papers get codes in order of first appearance), :meth:`interactions`
    aggregates them, and :meth:`save` / :meth:`load` keep them in one ``.npz`` file so that
    the next training only reads the events added since. ``meta`` is the caller's record of
    what the log covers (kept in the file as JSON).
    """

    def __init__(self) -> None:
        self.user_ids: list[str] = []
        self.paper_ids: list[str] = []
        self._user_index: dict[str, int] = {}
        self._paper_index: dict[str, int] = {}
        self.users, self.papers = array("i"), array("i")
        self.types, self.dwell = array("b"), array("d")
        self.meta: dict = {}

    def __len__(self) -> int:
        return len(self.users)

    def extend(self, rows: Iterable[tuple[str, str, str, int | None]]) -> EventLog:
        """Append (user_id, paper_id, type, dwell_ms) rows (see :func:`build_interactions`)."""
        user_index, paper_index = self._user_index, self._paper_index
        user_list, paper_list = self.user_ids, self.paper_ids
        u_arr, p_arr, t_arr, d_arr = self.users, self.papers, self.types, self.dwell
        nan = float("nan")
        type_code = _TYPE_CODE
        for user_id, paper_id, etype, dwell in rows:
            u = user_index.get(user_id)
            if u is None:
                u = user_index[user_id] = len(user_list)
                user_list.append(user_id)
            p = paper_index.get(paper_id)
            if p is None:
                p = paper_index[paper_id] = len(paper_list)
                paper_list.append(paper_id)
            code = type_code.get(etype or "open")
            if code is None:
                raise ValueError(f"unknown event type {etype!r}; expected one of {EVENT_TYPES}")
            u_arr.append(u)
            p_arr.append(p)
            t_arr.append(code)
            d_arr.append(nan if dwell is None else float(dwell))
        return self

    def interactions(self, paper_ids: Sequence[str] | None = None) -> Interactions:
        """The aggregated matrix: columns for ``paper_ids`` in that order, then the papers
        only seen in events, in order of first appearance."""
        paper_list: list[str] = []
        paper_index: dict[str, int] = {}
        for pid in paper_ids or ():
            if pid not in paper_index:
                paper_index[pid] = len(paper_list)
                paper_list.append(pid)
        column = np.empty(len(self.paper_ids), np.int32)  # log code -> column
        for code, pid in enumerate(self.paper_ids):
            j = paper_index.get(pid)
            if j is None:
                j = paper_index[pid] = len(paper_list)
                paper_list.append(pid)
            column[code] = j
        papers = np.frombuffer(self.papers, dtype=np.int32)
        confidence, dismissed = aggregate(
            np.frombuffer(self.users, dtype=np.int32),
            column[papers] if papers.size else papers,
            np.frombuffer(self.types, dtype=np.int8),
            np.frombuffer(self.dwell, dtype=np.float64),
            (len(self.user_ids), len(paper_list)),
        )
        user_index = dict(self._user_index)
        return Interactions(
            confidence, dismissed, list(self.user_ids), paper_list, user_index, paper_index
        )

    def save(self, path: Path) -> None:
        """Write the log to ``path`` (an ``.npz`` file), replacing it whole or not at all."""
        ids = {"users": self.user_ids, "papers": self.paper_ids, "meta": self.meta}
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez(
                f,
                users=np.frombuffer(self.users, dtype=np.int32),
                papers=np.frombuffer(self.papers, dtype=np.int32),
                types=np.frombuffer(self.types, dtype=np.int8),
                dwell=np.frombuffer(self.dwell, dtype=np.float64),
                ids=np.frombuffer(json.dumps(ids).encode("utf-8"), dtype=np.uint8),
            )
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> EventLog | None:
        """The log saved at ``path``, or None when there is none or it cannot be read."""
        try:
            with np.load(path) as f:
                ids = json.loads(f["ids"].tobytes().decode("utf-8"))
                arrays = [f[name] for name in ("users", "papers", "types", "dwell")]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            return None
        self = cls()
        self.user_ids, self.paper_ids, self.meta = ids["users"], ids["papers"], ids["meta"]
        if len({a.size for a in arrays}) != 1:
            return None
        self._user_index = {v: i for i, v in enumerate(self.user_ids)}
        self._paper_index = {v: i for i, v in enumerate(self.paper_ids)}
        self.users.frombytes(arrays[0].astype(np.int32).tobytes())
        self.papers.frombytes(arrays[1].astype(np.int32).tobytes())
        self.types.frombytes(arrays[2].astype(np.int8).tobytes())
        self.dwell.frombytes(arrays[3].astype(np.float64).tobytes())
        return self


def build_interactions(
    rows: Iterable[tuple[str, str, str, int | None]],
    paper_ids: Sequence[str] | None = None,
) -> Interactions:
    """Stream (user_id, paper_id, type, dwell_ms) rows into an :class:`Interactions`.

    Parameters
    ----------
    rows : iterable of (user_id, paper_id, type, dwell_ms)
        ``type`` is one of :data:`EVENT_TYPES` (``None`` or "" counts as "open";
        unknown types raise ValueError); ``dwell_ms`` is an int or None.
    paper_ids : sequence of str, optional
        The catalog: every id here gets a column, in this order, even without events.
        Papers only seen in ``rows`` are appended after them.
    """
    return EventLog().extend(rows).interactions(paper_ids)


class History(NamedTuple):
    """One user's current events over a model's papers (see :func:`history_vector`)."""

    papers: np.ndarray
    weights: np.ndarray
    seen: np.ndarray
    dismissed: np.ndarray


def history_vector(
    history: Iterable[tuple[str, str, int | None]],
    paper_index: dict[str, int],
) -> History:
    """One user's current events -> (positive papers, their confidences, seen papers,
    dismissed papers).

    Papers unknown to ``paper_index`` are ignored. Confidences are aggregated exactly like
    :func:`build_interactions` (one user's row of its matrix).

    Returns
    -------
    papers : ndarray of int64, shape (n_pos,)
        Papers with confidence > 0, strongest first.
    weights : ndarray of float32, shape (n_pos,)
        Their confidences.
    seen : ndarray of int64, shape (n_seen,)
        Every known paper the user has done something with (positive, dismissed, liked or
        saved and then taken back), but for a dismissal taken back: it may come back.
    dismissed : ndarray of int64, shape (n_dismissed,)
        Papers dismissed now (and neither liked nor saved).
    """
    index, code_of = paper_index.get, _TYPE_CODE.get
    known = [
        (p, code, dwell)
        for paper_id, etype, dwell in history
        if (p := index(paper_id)) is not None and (code := code_of(etype or "open")) is not None
    ]
    if not known:
        empty = np.empty(0, np.int64)
        return History(empty, np.empty(0, np.float32), empty, empty)
    ps, ts, ds = zip(*known, strict=True)
    papers, conf, dismissed, seen = _pairs(
        np.array(ps, np.int64),
        np.array(ts, np.int8),
        np.array(ds, np.float64),  # None: NaN
    )
    keep = np.flatnonzero(conf > 0)
    order = keep[np.argsort(-conf[keep], kind="stable")]
    return History(papers[order], conf[order].astype(np.float32), papers[seen], papers[dismissed])


def seen_papers(history: Iterable[tuple[str, str, int | None]]) -> set[str]:
    """The papers of a history that answers leave out, by id: :func:`history_vector`'s
    ``seen`` (what the user did something with, but for a dismissal taken back), for callers
    without a model's index."""
    history = list(history)
    ids = list(dict.fromkeys(paper_id for paper_id, _, _ in history))
    seen = history_vector(history, {paper_id: i for i, paper_id in enumerate(ids)}).seen
    return {ids[i] for i in seen}


def actions(history: Iterable[tuple[str, str, int | None]]) -> dict[str, str]:
    """What the user did with each paper of a history, as a reason names it: ``liked`` or
    ``saved`` while that holds (not taken back since), else ``read`` after a ``read`` event
    or an open with a reading time, else ``opened``. Papers with none of these (only
    dismissed, or liked and unliked) are left out."""
    held: dict[str, dict[str, bool]] = {}
    for paper_id, etype, dwell in history:
        state = held.setdefault(paper_id, {})
        if etype in ("like", "unlike", "save", "unsave"):
            state[etype.removeprefix("un")] = not etype.startswith("un")
        elif etype == "read" or (etype == "open" and dwell):
            state["read"] = True
        elif etype == "open":
            state.setdefault("open", True)
    words = (("like", "liked"), ("save", "saved"), ("read", "read"), ("open", "opened"))
    named = {}
    for paper_id, state in held.items():
        word = next((word for key, word in words if state.get(key)), None)
        if word is not None:
            named[paper_id] = word
    return named
