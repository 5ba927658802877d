"""Published model versions on disk: training publishes them, serving loads the current one.

Training writes a model into ``models/.tmp-<version>/``, renames the folder to
``models/<version>/`` and then replaces ``models/CURRENT`` (a one-line file naming the version)
with a temp-file-and-rename. Each step is atomic, so a reader sees either the old version or the
whole new one. :class:`~server.serving.holder.ModelHolder` notices a new ``CURRENT`` (from this
process or another) and swaps the loaded model in one assignment, so requests never wait for or
see a half-loaded model.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CURRENT = "CURRENT"
RELEASE = "release.json"
KEEP_VERSIONS = 3


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole and durably: readers see the old file or the new one."""
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
            stamp = now.isoformat(timespec="seconds")
            info = {"version": version, "trained_at": stamp, **release, "published_at": stamp}
            write_atomic(tmp / RELEASE, json.dumps(info, indent=2))
            _fsync_dir(tmp)
            os.rename(tmp, self.folder(version))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        write_atomic(self.root / CURRENT, version + "\n")
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
