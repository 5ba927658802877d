"""Ranking metrics: recall@k, nDCG@k, catalog coverage.

Conventions: recall@k = hits / min(k, |relevant|); nDCG@k uses binary gains and the
ideal DCG of min(k, |relevant|) hits at the top.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def recall_at_k(ranked: Sequence[int], relevant: Iterable[int], k: int) -> float:
    """Share of the relevant items (capped at k) found in the first k of ``ranked``."""
    rel = set(relevant)
    if not rel:
        return 0.0
    hits = sum(1 for item in list(ranked)[:k] if item in rel)
    return hits / min(k, len(rel))


def ndcg_at_k(ranked: Sequence[int], relevant: Iterable[int], k: int) -> float:
    """Normalised discounted cumulative gain with binary relevance."""
    rel = set(relevant)
    if not rel:
        return 0.0
    dcg = sum(1.0 / np.log2(i + 2) for i, item in enumerate(list(ranked)[:k]) if item in rel)
    idcg = sum(1.0 / np.log2(i + 2) for i in range(min(k, len(rel))))
    return float(dcg / idcg)


def coverage(recommended: Iterable[Iterable[int]], n_items: int) -> float:
    """Share of the catalog that appears in at least one list."""
    if n_items == 0:
        return 0.0
    seen: set[int] = set()
    for items in recommended:
        seen.update(int(i) for i in items)
    return len(seen) / n_items
