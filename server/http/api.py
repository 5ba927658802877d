"""The HTTP API, version 1: JSON in, JSON out, one Blueprint.

Views check their input, call :mod:`server.store.storage` and
:class:`~server.serving.service.Serving`, and raise :class:`~server.http.errors.ApiError` for
anything a client got wrong.
"""

from __future__ import annotations

import json
from functools import wraps
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request

from .. import parts
from ..ids import InvalidPaper, normalize_id
from ..jobs import training
from ..store import storage, user_settings
from ..store.db import get_db
from ..store.validation import Invalid, clean_date, clean_event_row
from . import auth
from .errors import ApiError
from .openapi import openapi_document

bp = Blueprint("api", __name__, url_prefix="/api/v1")

MAX_N = 100
MAX_HISTORY_PAGE = 1000
MAX_DAYS = 365


# --- request helpers --------------------------------------------------------------------------


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def login_required(view):
    """Authenticate the bearer token and put the caller in ``g.caller``."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        token = _bearer_token()
        if token is None:
            raise ApiError(
                "missing_token",
                "Send your API token as 'Authorization: Bearer <token>'.",
                401,
                {"WWW-Authenticate": "Bearer"},
            )
        caller = auth.authenticate(get_db(), token)
        if caller is None:
            raise ApiError(
                "invalid_token",
                "The API token is not valid (unknown, malformed or revoked).",
                401,
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        g.caller = caller
        parts().rate_limiter.check(token)
        return view(*args, **kwargs)

    return wrapped


def admin_required(view):
    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not g.caller.is_admin:
            raise ApiError("admin_required", "This route needs an admin token.", 403)
        return view(*args, **kwargs)

    return wrapped


def _json_body() -> Any:
    if not request.is_json:
        raise ApiError(
            "unsupported_media_type", "Send a JSON body (Content-Type: application/json).", 415
        )
    raw = request.get_data(cache=False)
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError("invalid_json", "The body is not valid UTF-8.") from None
    except RecursionError:
        raise ApiError("invalid_json", "The JSON body is nested too deeply.") from None
    except ValueError as error:
        raise ApiError("invalid_json", f"The body is not valid JSON: {error}") from None


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError("invalid_parameter", f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise ApiError("invalid_parameter", f"{name} must be between {low} and {high}")
    return value


def _since_arg() -> str | None:
    raw = request.args.get("since")
    if raw is None:
        return None
    try:
        return clean_date(raw, "since")
    except Invalid as error:
        raise ApiError("invalid_parameter", error.message) from None


def _encode(body: dict[str, Any]) -> bytes:
    """``body`` as :func:`flask.jsonify` writes it (compact, with the app's JSON settings)."""
    return f"{current_app.json.dumps(body, separators=(',', ':'))}\n".encode()


def _json_bytes(body: bytes):
    return current_app.response_class(body, mimetype="application/json")


def _recommendations_for(user_id: str):
    n = _int_arg("n", 20, 1, MAX_N)
    since = _since_arg()
    body = parts().serving.recommendations_body(get_db(), user_id, n=n, since=since, encode=_encode)
    return _json_bytes(body)


# --- routes -----------------------------------------------------------------------------------


@bp.get("/health")
def health():
    loaded = parts().serving.current()
    return jsonify({"ok": True, "model": loaded.summary() if loaded else None})


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


@bp.post("/events")
@login_required
def post_events():
    body = _json_body()
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise ApiError("invalid_body", 'The body must be {"events": [event, ...]}.')
    raw_events = body["events"]
    limit = current_app.config["MAX_BATCH_EVENTS"]
    if len(raw_events) > limit:
        raise ApiError("batch_too_large", f"A batch holds at most {limit} events; split it.", 413)
    events, papers, rejected = [], [], []
    seen_ids: set[str] = set()
    duplicates = 0
    for index, raw in enumerate(raw_events):
        try:
            event, paper = clean_event_row(raw)  # rows as the writer stores them
        except Invalid as error:
            rejected.append({"index": index, "code": error.code, "message": error.message})
            continue
        event_id = event[0]
        if event_id in seen_ids:
            duplicates += 1
            continue
        seen_ids.add(event_id)
        events.append(event)
        papers.append(paper)
    if rejected and not events and not duplicates:
        # Nothing in the batch could be stored: a bad request, in the one error shape, named by
        # the first event's problem (the message lists the first few).
        shown = "; ".join(f"event {r['index']}: {r['message']}" for r in rejected[:5])
        more = f" (and {len(rejected) - 5} more)" if len(rejected) > 5 else ""
        raise ApiError(rejected[0]["code"], f"No event could be stored. {shown}{more}", 400)
    writer = parts().writer
    accepted = writer.record(g.caller.user_id, events, papers) if events else 0
    duplicates += len(events) - accepted
    return jsonify({"accepted": accepted, "duplicates": duplicates, "rejected": rejected})


@bp.get("/recommendations")
@login_required
def own_recommendations():
    return _recommendations_for(g.caller.user_id)


@bp.get("/users/<user_id>/recommendations")
@admin_required
def user_recommendations(user_id: str):
    if storage.get_user(get_db(), user_id) is None:
        raise ApiError("user_not_found", f"No user {user_id!r}.", 404)
    return _recommendations_for(user_id)


def _stored_paper(paper_id: str) -> dict[str, Any]:
    try:
        canonical = normalize_id(paper_id)
    except InvalidPaper as error:
        raise ApiError("invalid_paper_id", str(error)) from None
    paper = storage.get_paper(get_db(), canonical)
    if paper is None:
        raise ApiError("paper_not_found", f"No paper {canonical}.", 404)
    return paper


@bp.get("/papers/<path:paper_id>/similar")
@login_required
def similar(paper_id: str):
    paper = _stored_paper(paper_id)
    n = _int_arg("n", 10, 1, MAX_N)
    body = parts().serving.similar_body(get_db(), paper, n=n, encode=_encode)
    return _json_bytes(body)


@bp.get("/papers/<path:paper_id>")
@login_required
def get_paper(paper_id: str):
    return jsonify(_stored_paper(paper_id))


def _page_args() -> tuple[int, int]:
    """``limit`` and ``offset`` of a paged list."""
    return _int_arg("limit", 100, 1, MAX_HISTORY_PAGE), _int_arg("offset", 0, 0, 10**9)


@bp.get("/history")
@login_required
def history():
    limit, offset = _page_args()
    db = get_db()
    return jsonify(
        {
            "events": storage.list_events(db, g.caller.user_id, limit=limit, offset=offset),
            "total": storage.count_events(db, g.caller.user_id),
            "limit": limit,
            "offset": offset,
        }
    )


@bp.get("/saved")
@login_required
def saved():
    limit, offset = _page_args()
    db = get_db()
    page, total = storage.saved_with_papers(db, g.caller.user_id, limit=limit, offset=offset)
    items = [{"paper": paper, "saved_at": saved_at} for paper, saved_at in page]
    return jsonify({"items": items, "total": total, "limit": limit, "offset": offset})


@bp.delete("/history")
@login_required
def delete_history():
    deleted = storage.delete_history(get_db(), g.caller.user_id)
    training.forget_erased(parts().serving.store)
    return jsonify({"deleted": deleted})


@bp.get("/export")
@login_required
def export():
    return jsonify(storage.export_user(get_db(), g.caller.user_id))


@bp.get("/admin/model")
@admin_required
def admin_model():
    """The served model's release facts, with the blend its training chose and why
    (``tuning``), and the state of training."""
    loaded = parts().serving.current()
    return jsonify(
        {"model": dict(loaded.release) if loaded else None, "training": parts().trainer.status()}
    )


@bp.post("/admin/train")
@admin_required
def admin_train():
    status = parts().trainer.start()
    loaded = parts().serving.current()
    return jsonify({**status, "model": loaded.summary() if loaded else None}), 202


# --- new, trending and the caller's settings (digests: server/jobs/digest.py) -----------------


@bp.get("/new")
@login_required
def new_papers():
    days = _int_arg("days", 1, 1, MAX_DAYS)
    n = _int_arg("n", 20, 1, MAX_N)
    serving = parts().serving
    body = serving.new_body(get_db(), g.caller.user_id, days=days, n=n, encode=_encode)
    return _json_bytes(body)


@bp.get("/trending")
@login_required
def trending():
    days = _int_arg("days", 7, 1, MAX_DAYS)
    n = _int_arg("n", 20, 1, MAX_N)
    serving = parts().serving
    body = serving.trending_body(get_db(), g.caller.user_id, days=days, n=n, encode=_encode)
    return _json_bytes(body)


@bp.get("/settings")
@login_required
def get_settings():
    return jsonify(storage.user_settings(get_db(), g.caller.user_id))


@bp.put("/settings")
@login_required
def put_settings():
    body = _json_body()
    db = get_db()
    try:
        settings = user_settings.updated(storage.user_settings(db, g.caller.user_id), body)
    except Invalid as error:
        raise ApiError(error.code, error.message) from None
    storage.set_user_settings(db, g.caller.user_id, **settings)
    return jsonify(settings)


# --- the caller's reference library (server/library/) -------------------------------------


@bp.post("/library")
@login_required
def import_library():
    """A BibTeX, RIS or CSL-JSON file, or a list of ids, uploaded as the multipart field
    ``file``: its papers become the caller's saved papers."""
    from ..library import LibraryError
    from ..library import import_library as run_import

    if request.mimetype != "multipart/form-data":
        raise ApiError(
            "unsupported_media_type",
            "Upload the library as multipart/form-data with the file in a field named 'file'.",
            415,
        )
    upload = request.files.get("file")
    if upload is None:
        raise ApiError("missing_file", "Send the library file in a form field named 'file'.")
    try:
        result = run_import(get_db(), g.caller.user_id, upload.read(), record=parts().writer.record)
    except LibraryError as error:
        status = 415 if error.code == "unsupported_library_format" else 400
        raise ApiError(error.code, error.message, status) from None
    return jsonify(result.to_json())
