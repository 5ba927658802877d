"""ALS fitted by Spark MLlib (recommender/spark_als.py): factors aligned to the ids, an ordinary
implicit model afterwards, recall close to implicit's, one session for a hybrid's fits.

One local[1] SparkSession with a small driver serves the whole module. Skipped where pyspark or
Java is absent, failed instead under NEXTPAPER_REQUIRE_SPARK=1 (CI)."""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest
import scipy.sparse as sp

from recommender import HybridRecommender, build_interactions
from recommender.collaborative import ALSModel
from recommender.evaluation import warm_split
from recommender.hybrid import DEFAULT_PARAMS
from tests.spark_support import require_spark

pytestmark = pytest.mark.spark

FACTORS = 16
GROUPS, PAPERS_PER_GROUP, USERS_PER_GROUP = 4, 60, 50
UNREAD = 5  # the last papers of each group nobody reads


@pytest.fixture(scope="module")
def spark():
    require_spark()
    from recommender.spark_als import SparkALS

    with SparkALS(master="local[1]", driver_memory="512m") as session:
        yield session


def _events(seed: int = 0) -> list[tuple[str, str, str, int | None]]:
    """Four communities: each user reads 8-20 papers of their own group (the first ones more
    often), one in ten from anywhere; the last UNREAD papers of each group are never read."""
    rng = np.random.default_rng(seed)
    readable = PAPERS_PER_GROUP - UNREAD
    weights = 1.0 / np.arange(1, readable + 1) ** 0.7
    weights /= weights.sum()
    rows = []
    for g in range(GROUPS):
        for u in range(USERS_PER_GROUP):
            user = f"u{g}-{u}"
            count = int(rng.integers(8, 21))
            for i in rng.choice(readable, size=count, replace=False, p=weights):
                rows.append((user, f"p{g}-{i}", "open", None))
            for _ in range(count // 10):
                other = int(rng.integers(GROUPS))
                rows.append((user, f"p{other}-{int(rng.integers(readable))}", "open", None))
            if u % 3 == 0:  # some long reads: confidences other than 1
                rows.append((user, f"p{g}-{int(rng.integers(readable))}", "read", 900_000))
    return rows


def _paper_ids() -> list[str]:
    return [f"p{g}-{i}" for g in range(GROUPS) for i in range(PAPERS_PER_GROUP)]


@pytest.fixture(scope="module")
def data():
    return build_interactions(_events(), paper_ids=_paper_ids())


def _spark_fitter(spark, **ids):
    """Spark's fit with the hybrid's settings (but fewer factors)."""
    return partial(
        spark.fit,
        factors=FACTORS,
        reg_param=DEFAULT_PARAMS["spark_reg_param"],
        alpha=DEFAULT_PARAMS["als_alpha"],
        iterations=DEFAULT_PARAMS["spark_iterations"],
        seed=0,
        **ids,
    )


def _top(scores: np.ndarray, k: int = 20) -> np.ndarray:
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def test_spark_factors_are_aligned_to_the_integer_ids(spark, data):
    x = sp.csr_matrix(data.matrix)
    x = sp.csr_matrix(sp.vstack([x, sp.csr_matrix((1, x.shape[1]), dtype=np.float32)]))
    users = [*data.user_ids, "nobody"]  # a last user without a paper
    model = ALSModel(factors=FACTORS, iterations=10).fit(
        x, fitter=_spark_fitter(spark, user_ids=users, paper_ids=data.paper_ids)
    )
    u, v = model.fitted_user_factors, model.item_factors
    assert u.shape == (x.shape[0], FACTORS) and v.shape == (x.shape[1], FACTORS)
    assert u.dtype == v.dtype == np.float32
    # what nobody read has no factors; everything else has
    read = np.diff(x.tocsc().indptr) > 0
    assert not read.all() and not v[~read].any() and np.abs(v[read]).sum(axis=1).min() > 0
    assert not u[-1].any() and np.abs(u[:-1]).sum(axis=1).min() > 0

    # each row is its own id's: our top-20 over the factors is Spark's own recommendation
    ours = _top(u[:-1] @ v.T)
    theirs = {
        row["user"]: [r["paper"] for r in row["recommendations"]]
        for row in spark.last_model.recommendForAllUsers(20).collect()
    }
    assert set(theirs) == set(range(len(data.user_ids)))
    same = [list(ours[i]) == theirs[i] for i in range(len(data.user_ids))]
    assert np.mean(same) >= 0.98, f"{np.mean(same):.3f} of the top-20 lists match Spark's"

    # the export: integer ids and confidences in Parquet, the id maps beside it
    import pyarrow.parquet as pq

    folder = spark.folder / f"fit-{spark._fits}"
    table = pq.read_table(folder / "interactions.parquet").to_pydict()
    exported = sp.csr_matrix(
        (table["confidence"], (table["user"], table["paper"])), shape=x.shape, dtype=np.float32
    )
    assert (exported != x).nnz == 0
    # Spark's confidence, 1 + rating (its alpha is 1), is implicit's: alpha * r
    alpha = DEFAULT_PARAMS["als_alpha"]
    np.testing.assert_allclose(
        1.0 + np.asarray(table["rating"]), alpha * np.asarray(table["confidence"]), rtol=1e-6
    )
    assert json.loads((folder / "user_ids.json").read_text()) == users
    assert json.loads((folder / "paper_ids.json").read_text()) == data.paper_ids


def test_a_spark_fitted_model_is_an_ordinary_implicit_model(spark, data, tmp_path):
    x = sp.csr_matrix(data.matrix)
    by_implicit = ALSModel(factors=FACTORS, iterations=2).fit(x)
    by_spark = ALSModel(factors=FACTORS, iterations=10).fit(x, fitter=_spark_fitter(spark))
    assert type(by_spark._model) is type(by_implicit._model)
    by_spark.save(tmp_path)
    loaded = ALSModel.load(tmp_path, {"factors": FACTORS, "iterations": 10})
    np.testing.assert_array_equal(loaded.item_factors, by_spark.item_factors)
    group0 = [i for i, user in enumerate(data.user_ids) if user.startswith("u0-")]
    rows = x[group0[:5]]
    np.testing.assert_allclose(loaded.scores(rows), by_spark.scores(rows), rtol=1e-4, atol=1e-5)
    # fold-in (serving's path) ranks a user's own community first
    top = _top(loaded.scores(rows), 10)
    assert np.mean([data.paper_ids[j].startswith("p0-") for j in top.ravel()]) >= 0.9
    with pytest.raises(ValueError, match="warm start"):
        ALSModel(factors=FACTORS).fit(
            x, start=(by_spark.fitted_user_factors, by_spark.item_factors), fitter=lambda m: None
        )


def _recall(model: ALSModel, split) -> float:
    rows = split.train.matrix[split.users]
    scores = model.scores(rows)
    scores[rows.nonzero()] = -np.inf
    top = _top(scores)
    hits = [
        np.isin(top[i], split.test[u].indices).sum() / min(20, split.test[u].nnz)
        for i, u in enumerate(split.users)
    ]
    return float(np.mean(hits))


def test_spark_recall_is_close_to_implicit_on_clear_structure(spark, data):
    split = warm_split(data, seed=0)
    x = split.train.matrix
    implicit = _recall(ALSModel(factors=FACTORS).fit(x), split)
    spark_recall = _recall(ALSModel(factors=FACTORS).fit(x, fitter=_spark_fitter(spark)), split)
    readers = np.asarray((x > 0).sum(axis=0)).ravel()
    popular = np.argsort(-readers, kind="stable")
    # popularity's recall: the most read papers the user has not read
    pop_hits = []
    for u in split.users:
        unseen = popular[~np.isin(popular, x[u].indices)][:20]
        pop_hits.append(np.isin(unseen, split.test[u].indices).sum() / min(20, split.test[u].nnz))
    assert implicit > 2 * np.mean(pop_hits)
    assert spark_recall >= 0.9 * implicit, (spark_recall, implicit)


def test_a_hybrid_fits_als_on_one_session_for_its_blend_search_and_its_final_fit(
    spark, data, tmp_path
):
    texts = [f"group {p.split('-')[0]} paper {p}" for p in data.paper_ids]
    model = HybridRecommender(
        als_engine="spark", als_factors=FACTORS, spark_iterations=5, tune_users=100
    )
    model.spark = spark  # a running session the caller owns: used, not stopped
    session, fits = spark.session, spark._fits
    model.fit(data, texts)
    assert model.tuning is not None and model.tuning.skipped is None  # the search ran
    # the search's fit, then the final one unless the search weighted ALS 0
    assert spark._fits == fits + 1 + (model.als is not None) and spark.session is session
    assert model.spark is spark and not model.als_warm
    untuned = HybridRecommender(als_engine="spark", als_factors=FACTORS, tune=False)
    untuned.spark, fits = spark, spark._fits
    untuned.fit(data, texts)
    assert spark._fits == fits + 1 and untuned.als is not None
    untuned.save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["params"]["als_engine"] == "spark" and manifest["components"]["als"]
    loaded = HybridRecommender.load(tmp_path)
    np.testing.assert_array_equal(loaded.als.item_factors, untuned.als.item_factors)
    history = [("p1-0", "open", None), ("p1-1", "open", None), ("p1-2", "open", None)]
    assert [r.paper_id for r in loaded.recommend(history, n=10)] == [
        r.paper_id for r in untuned.recommend(history, n=10)
    ]
    with pytest.raises(ValueError, match="als_engine"):
        HybridRecommender(als_engine="gpu")
