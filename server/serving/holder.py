"""The serving side's hold on the current model version.

:class:`ModelHolder` notices a new ``CURRENT`` in the ``models/`` folder (published by this process
or another, see :mod:`server.model_versions`) and swaps the loaded model in one assignment, so
requests never wait for or see a half-loaded model.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..model_versions import ModelStore
from .runtime import settle_heap

log = logging.getLogger(__name__)


def load_model(folder: Path) -> Any:
    """The recommender saved in ``folder``, warmed up (imported here: the CLI's other commands
    need not pay for numpy, scipy and implicit)."""
    from recommender import HybridRecommender

    model = HybridRecommender.load(folder)
    try:
        model.warm_up()
    except Exception:  # a model that loaded serves; its first request pays what is left
        log.exception("warming up the model in %s failed; serving it anyway", folder)
    return model


@dataclass(frozen=True)
class LoadedModel:
    """A model in memory with the release facts the health endpoint shows."""

    model: Any
    release: dict[str, Any]

    @property
    def version(self) -> str:
        return self.release["version"]

    def summary(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "trained_at": self.release.get("trained_at"),
            "users": self.release.get("users"),
            "papers": self.release.get("papers"),
        }


class ModelHolder:
    """The serving side's current model, swapped in when a new version is published.

    ``get()`` is cheap: at most every ``check_seconds`` it reads ``CURRENT``; a new version is
    loaded in a background thread while the old one keeps serving (the very first load, with
    nothing to serve meanwhile, happens in the calling thread). A server also calls
    :meth:`watch`, so that a published version is loaded within ``check_seconds`` plus its
    loading time even when no request comes to notice it.
    """

    def __init__(
        self,
        store: ModelStore,
        loader: Callable[[Path], Any] | None = None,
        check_seconds: float = 0.5,
    ):
        self.store = store
        self.loader = loader or load_model
        self.check_seconds = check_seconds
        self._loaded: LoadedModel | None = None
        self._checked_at = 0.0
        self._failed: set[str] = set()
        self._loading = threading.Lock()
        self._stop = threading.Event()

    def get(self) -> LoadedModel | None:
        now = time.monotonic()
        if now - self._checked_at >= self.check_seconds:
            self._checked_at = now
            self.refresh(wait=self._loaded is None)
        return self._loaded

    def watch(self) -> None:
        """Look for a newly published version every ``check_seconds`` in a background thread
        until :meth:`stop`."""
        self._stop.clear()
        threading.Thread(target=self._watch, name="model-watcher", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        while not self._stop.wait(self.check_seconds):
            try:
                self.refresh(wait=True)
            except Exception:  # a watcher that dies would leave the server on an old model
                log.exception("looking for a new model version failed; trying again")

    def refresh(self, wait: bool = True) -> None:
        """Load the published version if it is not the one being served."""
        version = self.store.current_version()
        loaded = self._loaded
        if version is None or version in self._failed:
            return
        if loaded is not None and loaded.version == version:
            return
        if not self._loading.acquire(blocking=wait):
            return  # another thread is loading it already
        if wait:
            try:
                self._load(version)
            finally:
                self._loading.release()
        else:
            threading.Thread(target=self._load_then_release, args=(version,), daemon=True).start()

    def _load_then_release(self, version: str) -> None:
        try:
            self._load(version)
        finally:
            self._loading.release()

    def _load(self, version: str) -> None:
        if self._loaded is not None and self._loaded.version == version:
            return
        try:
            folder = self.store.folder(version)
            loaded = LoadedModel(self.loader(folder), self.store.release(version))
        except Exception:
            log.exception("could not load model version %s; keeping the current one", version)
            self._failed.add(version)
            return
        self._loaded = loaded
        del loaded
        log.info("serving model version %s", version)
        settle_heap()
