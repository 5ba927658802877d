"""Published model versions on disk, and the serving side's hold on the current one.

Training writes a model into ``models/.tmp-<version>/``, renames the folder to
``models/<version>/`` and then replaces ``models/CURRENT`` (a one-line file naming the version)
with a temp-file-and-rename. Each step is atomic, so a reader sees either the old version or the
whole new one. :class:`ModelHolder` notices a new ``CURRENT`` (from this process or another) and
swaps the loaded model in one assignment, so requests never wait for or see a half-loaded model.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CURRENT = "CURRENT"
RELEASE = "release.json"
KEEP_VERSIONS = 3


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ModelStore:
    """The ``models/`` folder: versioned model folders and the ``CURRENT`` pointer."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def current_version(self) -> str | None:
        try:
            version = (self.root / CURRENT).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return version or None

    def folder(self, version: str) -> Path:
        return self.root / version

    def release(self, version: str) -> dict[str, Any]:
        return json.loads((self.folder(version) / RELEASE).read_text(encoding="utf-8"))

    def publish(self, write: Callable[[Path], None], release: dict[str, Any]) -> str:
        """Write a new version with ``write(folder)``, then make it current; return its name.

        If ``write`` fails, nothing is published and the current version stays.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC)
        version = now.strftime("%Y%m%dT%H%M%S%fZ") + "-" + secrets.token_hex(3)
        tmp = self.root / f".tmp-{version}"
        tmp.mkdir()
        try:
            write(tmp)
            info = {"version": version, "trained_at": now.isoformat(timespec="seconds"), **release}
            _write_atomic(tmp / RELEASE, json.dumps(info, indent=2))
            _fsync_dir(tmp)
            os.rename(tmp, self.folder(version))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _write_atomic(self.root / CURRENT, version + "\n")
        _fsync_dir(self.root)
        self.prune()
        return version

    def remove_abandoned(self) -> None:
        """Delete temp folders that killed training runs left behind.

        Call only while holding the training lock, so no live run's folder is among them.
        """
        for folder in self.root.glob(".tmp-*"):
            shutil.rmtree(folder, ignore_errors=True)

    def versions(self) -> list[str]:
        """The published versions still on disk, newest first."""
        if not self.root.is_dir():
            return []
        return sorted(
            (p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")),
            reverse=True,
        )

    def prune(self, keep: int = KEEP_VERSIONS) -> None:
        """Remove all but the newest ``keep`` versions (never the current one)."""
        current = self.current_version()
        for name in self.versions()[keep:]:
            if name != current:
                shutil.rmtree(self.root / name, ignore_errors=True)


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
    nothing to serve meanwhile, happens in the calling thread).
    """

    def __init__(
        self, store: ModelStore, loader: Callable[[Path], Any], check_seconds: float = 0.5
    ):
        self.store = store
        self.loader = loader
        self.check_seconds = check_seconds
        self._loaded: LoadedModel | None = None
        self._checked_at = 0.0
        self._failed: set[str] = set()
        self._loading = threading.Lock()

    def get(self) -> LoadedModel | None:
        now = time.monotonic()
        if now - self._checked_at >= self.check_seconds:
            self._checked_at = now
            self.refresh(wait=self._loaded is None)
        return self._loaded

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


def settle_heap() -> None:
    """Collect once, then keep everything now in memory out of later garbage collections.

    A full collection walks every container object, with the GIL held: with a large model
    loaded (its paper list and index, the vocabulary) that is ~75 ms at 500k papers, and the
    requests' allocations bring one every few thousand requests, so it showed in the p99 of
    every route. Called after a model is loaded: the collection frees what the previous one
    left (models hold no reference cycles, so dropping one frees it anyway), and ``gc.freeze``
    moves the survivors, the new model among them, where later collections do not look.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def limit_blas_threads() -> None:
    """One BLAS thread per request thread: under concurrent requests more threads only contend.

    Must run after ``implicit`` is imported, since it loads its own OpenBLAS.
    """
    import faiss
    import implicit  # noqa: F401
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    faiss.omp_set_num_threads(1)
