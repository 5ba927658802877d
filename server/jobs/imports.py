"""Reading import files: papers from JSON Lines (ours or arXiv's snapshot), events from CSV.

Both readers stream: they yield clean batches as they go, so a file of millions of lines never
sits in memory whole. A bad line is reported through ``on_error(line_number, message)`` and
skipped; the good lines around it are still imported.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import IO, Any

from ..http.auth import valid_user_id
from ..ids import InvalidPaper, normalize_id
from ..store.storage import EVENT_TYPES, now_iso
from ..store.validation import Invalid, clean_date, clean_dwell, clean_paper, clean_timestamp

BATCH_SIZE = 5000
OnError = Callable[[int, str], None]


def _squash(text: Any) -> str | None:
    """Runs of white space as one space (arXiv wraps titles and abstracts over lines)."""
    return " ".join(text.split()) if isinstance(text, str) else None


def is_arxiv_snapshot(record: dict[str, Any]) -> bool:
    """An arXiv metadata snapshot record has a bare arXiv id and snapshot-only fields."""
    paper_id = record.get("id")
    return (
        isinstance(paper_id, str)
        and ":" not in paper_id
        and any(key in record for key in ("update_date", "versions", "authors_parsed"))
    )


def _snapshot_published(record: dict[str, Any]) -> str | None:
    versions = record.get("versions")
    if isinstance(versions, list) and versions and isinstance(versions[0], dict):
        try:
            return parsedate_to_datetime(versions[0].get("created", "")).date().isoformat()
        except (TypeError, ValueError):
            pass
    return clean_date(record.get("update_date"))


def _snapshot_authors(record: dict[str, Any]) -> list[str] | None:
    parsed = record.get("authors_parsed")
    if isinstance(parsed, list):
        names = []
        for parts in parsed:
            if isinstance(parts, list) and parts:
                last, first = str(parts[0]), str(parts[1]) if len(parts) > 1 else ""
                names.append(f"{first} {last}".strip())
        return names or None
    authors = record.get("authors")
    if isinstance(authors, str) and authors.strip():
        return [a.strip() for a in re.split(r",| and ", _squash(authors) or "") if a.strip()]
    return None


def paper_from_snapshot(record: dict[str, Any]) -> dict[str, Any]:
    """An arXiv snapshot record → storage's paper dict."""
    doi = record.get("doi")
    return clean_paper(
        {
            "id": f"arxiv:{record['id']}",
            "title": _squash(record.get("title")),
            "abstract": _squash(record.get("abstract")),
            "authors": _snapshot_authors(record),
            "url": f"https://arxiv.org/abs/{record['id']}",
            "doi": doi.split()[0] if isinstance(doi, str) and doi.strip() else None,
            "arxiv_id": record["id"],
            "published": _snapshot_published(record),
        }
    )


def read_papers(stream: IO[str], on_error: OnError) -> Iterator[list[dict[str, Any]]]:
    """Batches of clean papers from JSON Lines, our shape or arXiv's, detected per line."""
    batch: list[dict[str, Any]] = []
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise Invalid("invalid_paper", "a line must hold a JSON object")
            paper = (
                paper_from_snapshot(record) if is_arxiv_snapshot(record) else clean_paper(record)
            )
        except (ValueError, RecursionError) as error:
            message = error.message if isinstance(error, Invalid) else f"not JSON ({error})"
            on_error(number, message)
            continue
        batch.append(paper)
        if len(batch) >= BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch


EVENT_COLUMNS = ("user_id", "paper_id")


def _csv_timestamp(raw: str | None, fallback: str) -> str:
    if not raw:
        return fallback
    if re.fullmatch(r"\d+(\.\d+)?", raw):  # Unix seconds, as MovieLens and many logs have
        try:
            raw = datetime.fromtimestamp(float(raw), UTC).isoformat()
        except (OverflowError, OSError, ValueError):
            raise Invalid("invalid_timestamp", f"timestamp out of range: {raw[:40]}") from None
    return clean_timestamp(raw)


def _event_id(row: dict[str, str]) -> str:
    """Same row, same id: re-importing a file adds nothing."""
    key = "\x1f".join(
        (row.get(c) or "").strip() for c in ("user_id", "paper_id", "timestamp", "type", "dwell_ms")
    )
    return "import:" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def event_from_csv(row: dict[str, str], imported_at: str) -> dict[str, Any]:
    """One CSV row → an import row for :func:`server.store.storage.import_events`."""
    user_id = (row.get("user_id") or "").strip()
    if not user_id:
        raise Invalid("invalid_user", "user_id is empty")
    if not valid_user_id(user_id):
        raise Invalid("invalid_user", f"user_id {user_id[:40]!r} is not a valid name")
    try:
        paper_id = normalize_id((row.get("paper_id") or "").strip())
    except InvalidPaper as error:
        raise Invalid("invalid_paper", str(error)) from None
    event_type = (row.get("type") or "open").strip()
    if event_type not in EVENT_TYPES:
        raise Invalid("invalid_type", f"type must be one of {', '.join(EVENT_TYPES)}")
    dwell = (row.get("dwell_ms") or "").strip()
    try:
        dwell_ms = clean_dwell(int(dwell)) if dwell else None
    except ValueError:
        raise Invalid("invalid_dwell", f"dwell_ms is not a whole number: {dwell[:20]}") from None
    return {
        "user_id": user_id,
        "event_id": _event_id(row),
        "type": event_type,
        "ts": _csv_timestamp((row.get("timestamp") or "").strip(), imported_at),
        "paper_id": paper_id,
        "dwell_ms": dwell_ms,
    }


def read_events(stream: IO[str], on_error: OnError) -> Iterator[list[dict[str, Any]]]:
    """Batches of clean events from a CSV with ``user_id,paper_id[,timestamp,type,dwell_ms]``.

    Raises :class:`Invalid` when the header lacks a required column.
    """
    reader = csv.DictReader(stream)
    missing = [c for c in EVENT_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise Invalid("invalid_csv", f"the CSV header lacks {', '.join(missing)}")
    imported_at = now_iso()
    batch: list[dict[str, Any]] = []
    for row in reader:
        try:
            batch.append(event_from_csv(row, imported_at))
        except Invalid as error:
            on_error(reader.line_num, error.message)
            continue
        if len(batch) >= BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch
