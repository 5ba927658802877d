"""The one scoring path: from a history to scored papers, each component's share kept.

Owns how the hybrid scores papers, for every caller: evaluation (every paper, or held-out
candidates), the request path (papers gathered from the components, within an optional date
filter) and similar papers (a history of one paper, or of a text). Three steps:

1. :func:`signal` reads what a history gives each component, whatever papers are scored
   afterwards: the co-reading sums over the history's neighbour rows (sparse), the folded-in
   ALS vector, the text profile.
2. :func:`gather` picks the papers worth scoring from those signals (the strongest co-read
   papers, the ALS index's top list, the best text matches, the most read); or the caller
   names them (every paper, held-out candidates).
3. :func:`score` computes every component over those papers, scales each to a maximum of 1
   there, and blends them into per-component contributions that add up to the score
   (:class:`Scored`). Ranking, reasons (:func:`reasons`) and similar papers all read those
   contributions, so a reason cannot disagree with the score.

The blend, for a history whose evidence is ``n`` (a user's positive papers; for similar
papers, the paper's readers)::

    c    = n / (n + history_half)
    knn  = c * w_knn * knn_j                    # RP3beta co-reading
    ease = c * w_ease * ease_j                  # EASE co-reading
    als  = c * w_als * n / (n + als_half) * als_j
    text = (w_text * (1 - c) + text_floor) * text_j
    bridge = w_bridge * (w_text * (1 - c) + text_floor) * n / (n + bridge_half) * bridge_j
                            # an unread paper: the co-reading of its closest read papers in text
    pop  = w_pop * pop_j                        # log readers, scaled over the catalog
    dismissed = -w_dismissed * near_j           # closeness to what the reader dismissed

A paper outside the gathered set shares no co-reader with the history and is in neither the
ALS nor the text top list, so it seldom reaches the top: ``bench/serve_quality.py`` measures
the overlap of gathered answers with answers over every paper.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import scipy.sparse as sp

from .sparse_utils import dense_block, member, sorted_lookup, sparse_row_sum, unique_ints

if TYPE_CHECKING:
    from .hybrid import HybridRecommender

COMPONENTS = ("knn", "ease", "als", "text", "bridge", "pop", "dismissed")
# A reason names other readers only when at least this many contributed.
MIN_READERS = 2
# A reason cites a history paper for its text only when their cosine is at least this.
TEXT_CITE = 0.1
# Reasons look for their source among this many of the history's strongest papers.
MAX_CITED = 200
# A date filter that leaves at most this many papers is scored over all of them.
SMALL_FILTER = 5000

Sparse = tuple[np.ndarray, np.ndarray]  # (sorted columns, values)
_EMPTY: Sparse = (np.empty(0, np.int64), np.empty(0, np.float64))


class Texts(NamedTuple):
    """Texts in a history that the model has no row for (papers that joined the catalog after
    its training): their ``ids``, ``rows`` (L2-normalised, from :meth:`TextModel.transform`)
    and ``weights`` (confidences)."""

    ids: list[str]
    rows: sp.csr_matrix
    weights: np.ndarray


@dataclass
class Signal:
    """What one history gives each component, before any paper is chosen.

    ``papers``/``weights``: the history's positive papers (model indices, strongest first)
    and confidences; ``evidence``: the blend's ``n``; ``knn``/``ease``: the co-reading sums
    over the history's rows of the two neighbour matrices; ``als``: the folded-in user vector
    (None when ALS does not take part); ``text``: the profile as (terms, unit weights), None
    without text; ``bridge``: the co-reading sums carried over to unread papers from their
    closest read papers in text; ``dismissed``: the papers the reader dismissed, with their
    co-reading sums and text profile, None without any; ``texts``: the history's texts
    outside the model.
    """

    papers: np.ndarray
    weights: np.ndarray
    evidence: float
    knn: Sparse
    ease: Sparse
    als: np.ndarray | None
    text: Sparse | None
    bridge: Sparse = _EMPTY
    dismissed: tuple[np.ndarray, Sparse, Sparse | None] | None = None
    texts: Texts | None = None


@dataclass
class Scored:
    """Scores of some papers for one history.

    ``items``: the scored papers (sorted model indices); ``parts``: each component's
    contribution, float64 arrays of shape (n_items,) that add up to ``total``; ``scale``: the
    value each component was divided by (its maximum over ``items``), so a contribution can be
    split over the history papers it came from.
    """

    items: np.ndarray
    parts: dict[str, np.ndarray]
    scale: dict[str, float]

    @cached_property
    def total(self) -> np.ndarray:
        return sum(self.parts.values())  # type: ignore[return-value]


def signal(
    model: HybridRecommender,
    papers: np.ndarray,
    weights: np.ndarray,
    *,
    texts: Texts | None = None,
    evidence: float | None = None,
    als: bool = True,
    dismissed: np.ndarray | None = None,
) -> Signal:
    """The signal of a history.

    Parameters
    ----------
    papers : ndarray of int, shape (h,)
        The history's positive papers (model indices), distinct.
    weights : ndarray of float, shape (h,)
        Their confidences.
    texts : Texts, optional
        Texts outside the model's papers, added to the profile with their weights.
    evidence : float, optional
        The blend's ``n``; defaults to the number of papers (with texts).
    als : bool
        Fold the history into an ALS vector (similar papers leave ALS out).
    dismissed : ndarray of int, optional
        Papers the reader dismissed: papers close to them (co-read, or alike in text) score
        lower.
    """
    papers = np.asarray(papers, np.int64)
    weights = np.asarray(weights, np.float64)
    if papers.size > 1:  # strongest first (reasons name the strongest history papers)
        order = np.argsort(-weights, kind="stable")
        papers, weights = papers[order], weights[order]
    n_text = 0 if texts is None else len(texts.ids)
    knn = sparse_row_sum(model.neighbours, papers, weights) if papers.size else _EMPTY
    bridge = sparse_row_sum(model.bridge_t, *knn) if model.bridge.nnz and knn[0].size else _EMPTY
    ease = sparse_row_sum(model.ease, papers, np.ones(papers.size)) if papers.size else _EMPTY
    user = None
    if als and model.als is not None and papers.size:
        user = model.als.fold_in(papers, weights)
    profile = None
    if model.text.n_terms and (papers.size or n_text):
        extra = None if texts is None else sp.diags(texts.weights) @ texts.rows
        profile = model.text.profile(papers, weights, extra)
        if profile[0].size == 0:
            profile = None
    n = float(papers.size + n_text) if evidence is None else float(evidence)
    away = None
    if dismissed is not None and len(dismissed):
        gone = np.asarray(dismissed, np.int64)
        ones = np.ones(gone.size)
        gone_text = model.text.profile(gone, ones) if model.text.n_terms else None
        gone_text = gone_text if gone_text is not None and gone_text[0].size else None
        away = (gone, sparse_row_sum(model.neighbours, gone, ones), gone_text)
    return Signal(papers, weights, n, knn, ease, user, profile, bridge, away, texts)


def gather(
    model: HybridRecommender,
    sig: Signal,
    allowed: np.ndarray | None = None,
    popular: bool = True,
) -> np.ndarray:
    """The papers worth scoring for ``sig``: sorted model indices.

    The ``neighbour_candidates`` strongest co-read papers of each neighbour matrix and of
    the bridge to unread papers, the ``als_candidates`` largest ALS scores (the ANN index),
    the ``text_candidates`` best text matches within ``text_candidate_postings`` postings
    and, with ``popular``, the ``popular_candidates`` most read; only papers set in
    ``allowed`` (a bool mask over the papers) when it is given.
    """
    p = model.params
    k = int(p["neighbour_candidates"])
    lists = [_strongest(*sig.knn, k, allowed), _strongest(*sig.ease, k, allowed)]
    lists.append(_strongest(*sig.bridge, k, allowed))
    if popular:
        lists.append(model.most_read(int(p["popular_candidates"]), allowed))
    if sig.als is not None:
        lists.append(_als_top(model, sig.als, int(p["als_candidates"]), allowed))
    if sig.text is not None:
        budget = int(p["text_candidate_postings"])
        lists.append(model.text.best(*sig.text, int(p["text_candidates"]), budget, allowed))
    return unique_ints(np.concatenate(lists))


def score(model: HybridRecommender, sig: Signal, items: np.ndarray | None = None) -> Scored:
    """Every component of ``sig`` over ``items`` (sorted model indices; None: every paper),
    blended into contributions (module docstring)."""
    items, comp, scale = components(model, sig, items)
    return Scored(items, blend(model.params, comp, sig.evidence), scale)


def components(
    model: HybridRecommender, sig: Signal, items: np.ndarray | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, float]]:
    """(items, components, scale): each component of ``sig`` over ``items`` (None: every
    paper), scaled to a maximum of 1 there (``pop`` over the catalog), and what each was
    divided by. Components that take no part (no ALS vector, no text, nothing dismissed) are
    left out."""
    if items is None:
        items = np.arange(model.n_papers)
        every = True
    else:
        items = np.asarray(items, np.int64)
        every = items.size == model.n_papers
    comp: dict[str, np.ndarray] = {}
    scale: dict[str, float] = {}
    comp["knn"], scale["knn"] = _scaled(_over(items, every, *sig.knn))
    comp["ease"], scale["ease"] = _scaled(_over(items, every, *sig.ease))
    if sig.als is not None:
        factors = model.als.item_factors
        comp["als"], scale["als"] = _scaled((factors if every else factors[items]) @ sig.als)
    if sig.text is not None:
        text = model.text.scores(*sig.text, None if every else items)
        comp["text"], scale["text"] = _scaled(text)
    if sig.bridge[0].size:
        comp["bridge"], scale["bridge"] = _scaled(_over(items, every, *sig.bridge))
    comp["pop"] = np.asarray(model.popularity if every else model.popularity[items], np.float64)
    if sig.dismissed is not None:
        _, gone_knn, gone_text = sig.dismissed
        near, _ = _scaled(_over(items, every, *gone_knn))
        if gone_text is not None:  # cosine with the dismissed papers' text, not centred
            cosine = model.text.scores(*gone_text, None if every else items, centred=False)
            near = np.maximum(near, np.clip(cosine, 0.0, None))
        comp["dismissed"] = near
    return items, comp, scale


def blend(
    params: dict[str, Any], comp: dict[str, np.ndarray], evidence: float
) -> dict[str, np.ndarray]:
    """Each component's contribution (module docstring): name -> array like the components;
    a component missing from ``comp`` contributes zeros."""
    p = params
    n = evidence
    c = n / (n + p["history_half"])
    w_als = p["w_als"] * (n / (n + p["als_half"]) if p["als_half"] else 1.0)
    w_text = p["w_text"] * (1.0 - c) + p["text_floor"]
    weight = {
        "knn": c * p["w_knn"],
        "ease": c * p["w_ease"],
        "als": c * w_als,
        "text": w_text,
        "bridge": p["w_bridge"] * w_text * n / (n + p["bridge_half"]),
        "pop": p["w_pop"],
        "dismissed": -p["w_dismissed"],
    }
    zeros = np.zeros_like(comp["pop"])
    return {name: weight[name] * comp[name] if name in comp else zeros for name in COMPONENTS}


def top(scored: Scored, n: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """Positions in ``scored.items`` of the ``n`` best papers, best first (ties by paper),
    leaving out the papers in ``exclude`` (model indices)."""
    total = scored.total
    ok = np.ones(total.size, bool)
    if exclude is not None and exclude.size:
        ok &= ~member(scored.items, exclude)
    cand = np.flatnonzero(ok)
    k = min(n, cand.size)
    if k <= 0:
        return cand[:0]
    cand = cand[np.argpartition(-total[cand], k - 1)[:k]]
    return cand[np.lexsort((scored.items[cand], -total[cand]))]


def reasons(
    model: HybridRecommender, sig: Signal, scored: Scored, at: np.ndarray
) -> list[list[dict[str, Any]]]:
    """Why each paper at positions ``at`` of ``scored`` was ranked there: one reason from the
    largest contribution that can be stated truthfully (the components' groups are tried
    from the largest contribution down).

    * co-reading (knn + EASE): ``because_you_read`` the history paper that contributed most,
      with ``readers``, the training readers of both, when there are at least
      :data:`MIN_READERS` (a reason never points at a single other person);
    * ALS: ``similar_readers`` with the paper's ``readers``, when at least MIN_READERS;
    * text: ``similar_text`` with the ``paper_id`` of the history paper closest to it in text
      (cosine at least :data:`TEXT_CITE`; also a paper that joined the catalog after
      training), else with the ``terms`` it shares with the history;
    * popularity: ``popular`` with its ``readers``, when at least MIN_READERS;
    * bridge (a paper nobody has read): ``because_you_read`` the history paper whose
      co-reading reached the paper's closest text neighbour, with ``via_paper_id``, that
      neighbour, and the ``readers`` of both, when at least MIN_READERS.

    The papers answered are ones the reader has not seen, so the readers counted are other
    people. When no group can be stated, the reason is what is true of the paper: the history
    paper it is alike in text, else the one whose co-reading ranked it (without readers), else
    ``for_you``.
    """
    items = scored.items[at]
    parts = scored.parts
    groups = np.vstack(
        [
            parts["knn"][at] + parts["ease"][at],
            parts["als"][at],
            parts["text"][at],
            parts["pop"][at],
            parts["bridge"][at],
        ]
    )
    hist = sig.papers[:MAX_CITED]  # strongest first
    weights = sig.weights[:MAX_CITED, None]
    p = model.params
    co = np.zeros((hist.size, items.size))  # each history paper's share of the co-reading parts
    if hist.size and (groups[0] > 0).any():
        if scored.scale.get("knn"):
            co += (
                p["w_knn"]
                * weights
                * dense_block(model.neighbours, hist, items)
                / scored.scale["knn"]
            )
        if scored.scale.get("ease"):
            co += p["w_ease"] * dense_block(model.ease, hist, items) / scored.scale["ease"]
    readers = np.asarray(model.readers)[items].tolist()
    # each paper's strongest co-reading source, and the readers of both
    found = co.max(axis=0, initial=0) > 0
    sources = np.where(found, hist[co.argmax(axis=0)] if hist.size else 0, -1)
    both = np.zeros(items.size, np.int64)
    both[found] = model.co_readers(sources[found], items[found])
    order = np.argsort(-groups, axis=0, kind="stable").T.tolist()
    positive = (groups > 0).T.tolist()

    @cache
    def cited_texts() -> list[dict[str, Any] | None]:  # only when a reason needs one
        return _closest_texts(model, sig, hist, items)

    out: list[list[dict[str, Any]]] = []
    for i, (item, source) in enumerate(zip(items.tolist(), sources.tolist(), strict=True)):
        reason = None
        for g in order[i]:
            if not positive[i][g]:
                break
            if g == 0 and source >= 0:
                if both[i] >= MIN_READERS:
                    reason = _cites(model, source, "because_you_read", readers=int(both[i]))
            elif g == 1 and readers[i] >= MIN_READERS:
                reason = {"type": "similar_readers", "readers": readers[i]}
            elif g == 2:
                reason = cited_texts()[i] or {
                    "type": "similar_text",
                    "terms": model.text.shared_terms(*sig.text, np.array([item]))[0],
                }
            elif g == 3 and readers[i] >= MIN_READERS:
                reason = {"type": "popular", "readers": readers[i]}
            elif g == 4:
                reason = _bridge_reason(model, sig, item, hist, weights[:, 0])
            if reason is not None:
                break
        if reason is None:  # nothing that ranked it can be said: what is true of it
            reason = cited_texts()[i] or (
                _cites(model, source, "because_you_read") if source >= 0 else {"type": "for_you"}
            )
        out.append([reason])
    return out


def _bridge_reason(
    model: HybridRecommender, sig: Signal, item: int, hist: np.ndarray, weights: np.ndarray
) -> dict[str, Any] | None:
    """The bridge's reason for ``item``: the history paper whose co-reading reached the
    bridge paper (outside the history) that added most to it, when at least MIN_READERS
    read both; else None."""
    lo, hi = model.bridge.indptr[item], model.bridge.indptr[item + 1]
    near = np.asarray(model.bridge.indices[lo:hi], np.int64)
    share = model.bridge.data[lo:hi] * _at(*sig.knn, near) * ~member(near, sig.papers)
    if not hist.size or share.max(initial=0) <= 0:
        return None
    via = int(near[np.argmax(share)])
    source = weights * dense_block(model.neighbours, hist, np.array([via]))[:, 0]
    if source.max(initial=0) <= 0:
        return None
    paper = int(hist[np.argmax(source)])
    both = int(model.co_readers(np.array([paper]), np.array([via]))[0])
    if both < MIN_READERS:
        return None
    return _cites(model, paper, "because_you_read", readers=both, via_paper_id=model.paper_ids[via])


def _cites(model: HybridRecommender, paper: int, kind: str, **more: Any) -> dict[str, Any]:
    return {"type": kind, "paper_id": model.paper_ids[paper], **more}


def _closest_texts(
    model: HybridRecommender,
    sig: Signal,
    hist: np.ndarray,
    items: np.ndarray,
) -> list[dict[str, Any] | None]:
    """For each of ``items``, a ``similar_text`` reason citing the history
    paper closest to it in text -- the largest confidence-weighted cosine among the papers at
    least :data:`TEXT_CITE` alike, texts outside the model included -- or None."""
    out: list[dict[str, Any] | None] = [None] * items.size
    if sig.text is None:
        return out
    cosine = model.text.similarities(hist, items) if hist.size else np.zeros((0, items.size))
    weights = sig.weights[:MAX_CITED]
    outside: list[str] = []
    if sig.texts is not None:
        extra = sig.texts.rows @ model.text.matrix[items].T
        cosine = np.vstack([cosine, extra.toarray()])
        outside = list(sig.texts.ids)
        weights = np.concatenate([weights, sig.texts.weights])
    if not cosine.shape[0]:
        return out
    strength = np.where(cosine >= TEXT_CITE, weights[:, None] * cosine, 0.0)
    found = (strength.max(axis=0) > 0).tolist()
    for i, row in enumerate(strength.argmax(axis=0).tolist()):  # the first of equals, as before
        if found[i]:
            cited = model.paper_ids[int(hist[row])] if row < hist.size else outside[row - hist.size]
            out[i] = {"type": "similar_text", "paper_id": cited}
    return out


def similar_reasons(
    model: HybridRecommender, sig: Signal, scored: Scored, at: np.ndarray
) -> list[list[dict[str, Any]]]:
    """Why each paper at positions ``at`` (of papers gathered for a one-paper history ``sig``)
    is related: co-reading (``similar_readers`` with the training readers of both, when at
    least :data:`MIN_READERS`) and shared words (``similar_text`` with the ``terms`` shared),
    each when it added to the score, the larger first; ``related`` when neither can be said
    (a paper read together with this one by a single reader)."""
    co = (scored.parts["knn"][at] + scored.parts["ease"][at]).tolist()
    text = scored.parts["text"][at].tolist()
    items = scored.items[at]
    paper = int(sig.papers[0]) if sig.papers.size else None
    both = model.co_readers(np.full(items.size, paper), items) if paper is not None else None
    worded = [t > 0 for t in text] if sig.text is not None else [False] * len(text)
    shared = iter(model.text.shared_terms(*sig.text, items[worded]) if any(worded) else [])
    out = []
    for i in range(items.size):
        said = []
        if co[i] > 0 and both is not None and both[i] >= MIN_READERS:
            said.append((co[i], {"type": "similar_readers", "readers": int(both[i])}))
        if worded[i]:
            said.append((text[i], {"type": "similar_text", "terms": next(shared)}))
        said.sort(key=lambda x: -x[0])
        out.append([r for _, r in said] or [{"type": "related"}])
    return out


# --------------------------------------------------------------------------- helpers


def _over(items: np.ndarray, every: bool, cols: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """Sparse (columns, values) laid out over ``items`` (all papers when ``every``)."""
    if cols.size == 0:
        return np.zeros(items.size, np.float64)
    if not every:
        return np.asarray(_at(cols, vals, items), np.float64)
    out = np.zeros(items.size, np.float64)
    out[cols] = vals
    return out


def _at(cols: np.ndarray, vals: np.ndarray, where: np.ndarray) -> np.ndarray:
    """The values of the sparse vector (``cols`` sorted, ``vals``) at ``where`` (0 where it
    has none)."""
    at, found = sorted_lookup(cols, where)
    return np.where(found, vals[at], 0.0)


def _scaled(x: np.ndarray) -> tuple[np.ndarray, float]:
    """``x`` divided by its largest absolute value (zeros stay zero), and that value."""
    x = np.asarray(x, np.float64)
    m = float(np.abs(x).max(initial=0.0))
    return (x / m if m > 0 else x), m


def _strongest(cols: np.ndarray, vals: np.ndarray, k: int, allowed: np.ndarray | None):
    """The ``k`` columns with the largest values, among the ``allowed`` ones."""
    if allowed is not None and cols.size:
        keep = allowed[cols]
        cols, vals = cols[keep], vals[keep]
    return cols if cols.size <= k else cols[np.argpartition(-vals, k - 1)[:k]]


def _als_top(
    model: HybridRecommender, user: np.ndarray, k: int, allowed: np.ndarray | None
) -> np.ndarray:
    """About the ``k`` papers with the largest ALS score for ``user`` (among the ``allowed``):
    from the ANN index when the model has one, else by scanning every paper."""
    factors = model.als.item_factors
    if model.als_index is None:
        scores = factors @ user
        if allowed is not None:
            scores = np.where(allowed, scores, -np.inf)
        k = min(k, int(np.isfinite(scores).sum()))
        return np.argpartition(-scores, k - 1)[:k] if k > 0 else np.empty(0, np.int64)
    if allowed is None:
        return model.als_index.search(user, k)
    share = max(float(np.count_nonzero(allowed)) / allowed.size, 1e-6)
    found = model.als_index.search(user, min(int(k / share), 4 * k, 4096))
    return found[allowed[found]][:k]
