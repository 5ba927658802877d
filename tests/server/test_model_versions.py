"""The served model's holder: loading a published version keeps it out of garbage collections."""

from __future__ import annotations

import gc

from server.model_versions import ModelStore
from server.serving.holder import ModelHolder


class _Model:
    """Stands for a loaded model: a large, acyclic graph of containers."""

    def __init__(self, size: int) -> None:
        self.rows = [[i] for i in range(size)]


def test_a_loaded_model_is_kept_out_of_later_garbage_collections(tmp_path):
    store = ModelStore(tmp_path)
    store.publish(lambda folder: (folder / "weights").write_text("x"), {"papers": 1})
    holder = ModelHolder(store, lambda folder: _Model(50_000))
    try:
        loaded = holder.get()
        rows = loaded.model.rows
        assert gc.get_freeze_count() >= len(rows)
        tracked = {id(o) for o in gc.get_objects()}  # what a full collection would walk
        assert id(rows) not in tracked and id(rows[0]) not in tracked
        before = gc.get_freeze_count()
        store.publish(lambda folder: (folder / "weights").write_text("y"), {"papers": 2})
        holder.refresh(wait=True)  # the next version replaces it, and is frozen in its turn
        assert holder.get().release["papers"] == 2
        del loaded, rows
        assert gc.get_freeze_count() >= 50_000 and gc.get_freeze_count() <= before + 1000
    finally:
        gc.unfreeze()


def test_a_watching_holder_loads_a_published_version_without_being_asked(tmp_path):
    import time

    store = ModelStore(tmp_path)
    store.publish(lambda folder: (folder / "weights").write_text("x"), {"papers": 1})
    holder = ModelHolder(store, lambda folder: folder.name, check_seconds=0.05)
    assert holder.get().release["papers"] == 1
    holder.watch()
    try:
        version = store.publish(lambda folder: (folder / "weights").write_text("y"), {})
        deadline = time.monotonic() + 5
        while holder._loaded.version != version and time.monotonic() < deadline:
            time.sleep(0.01)
        assert holder._loaded.version == version  # no get() in between
    finally:
        holder.stop()
        gc.unfreeze()


def test_a_model_whose_warm_up_fails_is_served_anyway(tmp_path, monkeypatch, caplog):
    import recommender
    from server.serving.holder import load_model

    class Model:
        def warm_up(self):
            raise RuntimeError("boom")

    model = Model()
    monkeypatch.setattr(recommender.HybridRecommender, "load", classmethod(lambda cls, f: model))
    assert load_model(tmp_path) is model
    assert "warming up the model" in caplog.text and "boom" in caplog.text
