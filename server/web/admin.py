"""The Admin page (``/admin``): the deployment at a glance, and a retrain, for admins only.

It shows, each in its own card, what an admin otherwise gathers from the command line and the
admin API:

* the users, as ``nextpaper users list`` lists them (:func:`server.store.storage.list_users`);
* the served model and the training, from the objects ``GET /api/v1/admin/model`` answers
  from (the serving side's current release, with the validation figures of the blend its
  training chose, and :meth:`~server.jobs.training.Trainer.status`);
* the last arXiv sync, as :mod:`server.jobs.sync` records it in ``sync_state`` (the daily
  run and each OAI set's resume point), or that none is configured;
* the latest digests claimed or sent (:func:`server.store.storage.latest_digests`).

*Retrain now* starts a training run exactly as ``POST /api/v1/admin/train`` does
(:meth:`~server.jobs.training.Trainer.start`: one more queued if one is running). A signed-in
reader who is not an admin gets a 403 page, and no link to this page in the bar.
"""

from __future__ import annotations

from functools import wraps
from typing import Any, NamedTuple

from flask import current_app, flash, g, redirect, render_template, url_for

from .. import parts
from ..jobs import sync
from ..store import storage
from ..store.db import get_db
from . import bp, sessions
from .history import readable_time
from .rows import escaped_row

DIGESTS_SHOWN = 20
USERS_SHOWN = 50  # a large deployment's page stays small and quick: the CLI lists them all
# The blend's components, in the words of the training's output (recommender/tuning.py).
COMPONENTS = {
    "knn": "Item neighbours (kNN)",
    "ease": "EASE",
    "als": "ALS",
    "text": "Text similarity",
    "pop": "Popularity",
}


def admins_only(view):
    """Run ``view`` for a signed-in admin; a reader who is not one gets a 403 page."""

    @wraps(view)
    @sessions.signed_in
    def wrapped(*args, **kwargs):
        if not g.reader.is_admin:
            body = render_template(
                "error.html",
                status=403,
                title="For admins only",
                message="This page is for the deployment's admins; your account is not one.",
            )
            return body, 403
        return view(*args, **kwargs)

    return wrapped


def _when(ts: str | None) -> str:
    return readable_time(ts) if ts else ""


class _Model(NamedTuple):
    """The served model as the page shows it: its release facts, and the validation figures of
    the blend its training chose, recalls as percentages (``—`` for none)."""

    version: Any
    trained_at: Any
    trained: str
    users: Any
    papers: Any
    added_papers: Any
    recall: str | None  # the blend's recall@20; None: no validation figures
    validation_users: Any
    reused: bool
    skipped: str | None
    single: list[tuple[str, str]]  # each component alone: (name, recall@20), best first


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _model() -> _Model | None:
    """What ``GET /api/v1/admin/model`` says of the served model, as the page shows it."""
    loaded = parts().serving.current()
    if loaded is None:
        return None
    release = loaded.release
    tuning = release.get("tuning") or {}
    single = [
        (COMPONENTS.get(name, name), _percent(recall))
        for name, recall in sorted(
            (tuning.get("single") or {}).items(), key=lambda kv: -(kv[1] or 0)
        )
    ]
    recall = tuning.get("recall")
    return _Model(
        version=release.get("version", ""),
        trained_at=release.get("trained_at", ""),
        trained=_when(release.get("trained_at")),
        users=release.get("users", ""),
        papers=release.get("papers", ""),
        added_papers=release.get("added_papers"),
        recall=None if recall is None else _percent(recall),
        validation_users=tuning.get("users", ""),
        reused=bool(tuning.get("reused")),
        skipped=tuning.get("skipped"),
        single=single,
    )


def _training() -> dict[str, Any]:
    """:meth:`Trainer.status`, as ``GET /api/v1/admin/model`` reports it, with readable times."""
    status = parts().trainer.status()
    last = dict(status["last"]) if status["last"] else None
    if last:
        last["finished"] = _when(last.get("finished_at"))
    return {**status, "started": _when(status["started_at"]), "last": last}


def _sync() -> dict[str, Any]:
    """What ``sync_state`` records of the arXiv sync: the daily run (local time) and each OAI
    set's resume point; ``configured`` is False when ``ARXIV_CATEGORIES`` is empty."""
    config = current_app.config
    try:
        if not sync.configured_categories(config.get("ARXIV_CATEGORIES")):
            return {"configured": False}
        plan = sync.Plan.from_settings(config)
    except sync.SyncError as error:
        return {"configured": True, "error": str(error)}
    db = get_db()
    last_run = storage.sync_state(db, sync.DAILY_RUN_STATE)
    return {
        "configured": True,
        "at": config.get("SYNC_TIME", "06:00"),
        "last_run": last_run.replace("T", " ") if last_run else None,
        "sets": [
            {
                "set": set_spec,
                "categories": ", ".join(categories),
                "resume": storage.sync_state(db, plan.state_name(set_spec)),
            }
            for set_spec, categories in plan.sets.items()
        ],
    }


def _users(db) -> list[tuple[str, ...]]:
    """The users as admin.html's rows unpack them (escaped: :mod:`server.web.rows`)."""
    return [
        escaped_row(u["user_id"], u["is_admin"], u["email"], u["digest"].capitalize(), u["tokens"])
        for u in storage.list_users(db, USERS_SHOWN)
    ]


def _digests(db) -> list[tuple[str, ...]]:
    """The latest digests as admin.html's rows unpack them (escaped)."""
    return [
        escaped_row(
            row["user_id"],
            row["period"],
            row["status"] == "sent",
            row["claimed_at"],
            _when(row["claimed_at"]),
            row["sent_at"],
            _when(row["sent_at"]),
        )
        for row in storage.latest_digests(db, DIGESTS_SHOWN)
    ]


@bp.get("/admin")
@admins_only
def admin():
    db = get_db()
    return render_template(
        "admin.html",
        nav="admin",
        users=_users(db),
        users_total=storage.count_users(db),
        users_shown=USERS_SHOWN,
        model=_model(),
        training=_training(),
        sync=_sync(),
        digests=_digests(db),
        digests_shown=DIGESTS_SHOWN,
    )


@bp.post("/admin/train")
@admins_only
def retrain():
    """Start a retrain as ``POST /api/v1/admin/train`` does, then back to the page."""
    status = parts().trainer.start()
    if status["queued"]:
        flash("A training run was already going: a retrain will follow it.")
    else:
        flash("Retrain started: the new model is served once it is published.")
    return redirect(url_for("web.admin") + "#training", 303)
