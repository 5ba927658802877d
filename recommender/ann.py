"""Approximate maximum-inner-product search over the ALS item factors (faiss).

Owns :class:`InnerProductIndex`: the candidates for "which papers have the largest
``item_factors @ user_vector``" without scanning every paper. Inner product is turned into
nearest-neighbour search by giving each item vector one more coordinate,
``sqrt(M^2 - |v|^2)`` (``M`` the largest norm), and the query a 0 there: the L2 distance is
then ``|q|^2 + M^2 - 2 q.v``, smallest where the inner product is largest (Bachrach et al.
2014). faiss's built-in inner-product metrics rank ALS factors badly because their norms vary
so much (PERF-NOTES: recall 0.01-0.29).

The index is an inverted file (k-means cells) of 8-bit scalar-quantised vectors: seconds to
build at 500k papers, about a quarter of the factors' memory, and a query scans only
``nprobe`` cells. Callers rescore the candidates exactly with the float factors.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

FILE_NAME = "als_index.faiss"


def _augment(vectors: np.ndarray, max_norm: float) -> np.ndarray:
    norms2 = np.einsum("ij,ij->i", vectors, vectors)
    extra = np.sqrt(np.maximum(max_norm * max_norm - norms2, 0.0))
    return np.ascontiguousarray(np.hstack([vectors, extra[:, None]]), dtype=np.float32)


class InnerProductIndex:
    """Candidates with the largest inner product with a query vector.

    Parameters
    ----------
    index : faiss.Index over the augmented vectors
    nprobe : int
        Cells scanned per query (recall against the exact top-20, rescored: 0.997 at 32 of
        1,024 cells on the large benchmark's factors).
    """

    def __init__(self, index: faiss.Index, nprobe: int = 32) -> None:
        self.index = index
        self.nprobe = nprobe
        faiss.extract_index_ivf(index).nprobe = nprobe

    @classmethod
    def build(
        cls, vectors: np.ndarray, *, cells: int | None = None, seed: int = 0, nprobe: int = 32
    ) -> InnerProductIndex:
        """Index ``vectors`` (n, d); ``cells`` defaults to about 1.5 * sqrt(n), trained on
        at most 64 vectors per cell (1,060 cells and 68k vectors at 500k papers: seconds)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        n, d = vectors.shape
        max_norm = float(np.sqrt(np.einsum("ij,ij->i", vectors, vectors).max(initial=0.0)))
        aug = _augment(vectors, max_norm)
        cells = int(cells or max(1, min(int(1.5 * np.sqrt(n)), n // 39)))
        quantizer = faiss.IndexFlatL2(d + 1)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, d + 1, cells, faiss.ScalarQuantizer.QT_8bit
        )
        index.cp.seed = seed
        sample = aug
        if n > 64 * cells:  # more training points only slow k-means down
            pick = np.random.default_rng(seed).choice(n, 64 * cells, replace=False)
            sample = aug[np.sort(pick)]
        index.train(sample)
        index.add(aug)
        return cls(index, nprobe=min(nprobe, cells))

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        """Ids of up to ``k`` vectors with the largest inner product with ``query`` (d,)."""
        q = np.zeros((1, self.index.d), np.float32)
        q[0, :-1] = query
        _, ids = self.index.search(q, k)
        ids = ids[0]
        return ids[ids >= 0].astype(np.int64)

    def save(self, folder: Path) -> None:
        faiss.write_index(self.index, str(Path(folder) / FILE_NAME))

    @classmethod
    def load(cls, folder: Path) -> InnerProductIndex | None:
        """The index saved in ``folder``, or None when the model has none."""
        path = Path(folder) / FILE_NAME
        if not path.is_file():
            return None
        return cls(faiss.read_index(str(path)))
