"""The Admin page: only for admins (a 403 page and no nav link for others), each card with the
deployment's real state (users, the served model and its validation figures as the admin API
reports them, training, the arXiv sync's resume points, the latest digests), and *Retrain
now*, which starts a real training run as ``POST /api/v1/admin/train`` does."""

from __future__ import annotations

import html
import re
import time
from types import SimpleNamespace

import pytest

from server import create_app
from server.jobs import sync, training
from server.model_versions import ModelStore
from server.store import storage

pytestmark = pytest.mark.both_backends

CATEGORIES = ["cs.LG", "cs.CL", "hep-th"]


@pytest.fixture
def app(home):
    """The suite's app, with arXiv categories configured (the sync card has something to say)."""
    return create_app(
        {
            "HOME": str(home),
            "TESTING": True,
            "MODEL_CHECK_SECONDS": 0,
            "ARXIV_CATEGORIES": CATEGORIES,
        }
    )


@pytest.fixture
def root(web, user_token):
    token = user_token("root", admin=True)
    web.sign_in(token)
    return token


def card(page: str, section_id: str) -> str:
    """The text of one card of the page (``<section id=…>``), tags removed, spaces collapsed."""
    found = re.search(rf'<section class="card" id="{section_id}".*?</section>', page, re.S)
    assert found, f"no card {section_id!r}"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found.group(0))).split())


def admin_page(web) -> str:
    response = web.get("/admin")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def reading(db, users: int = 30, per_user: int = 8) -> None:
    """``users`` readers of the catalog (``u0`` …), each with ``per_user`` papers, all but two
    of one topic: enough for training to validate its blend, and noisy enough that the blend
    and each component score differently."""
    storage.import_events(
        db,
        [
            {
                "user_id": f"u{u}",
                "event_id": f"e{u}-{j}",
                "type": "open",
                "ts": "2026-01-02T10:00:00Z",
                "paper_id": f"seed:p{(u % 6) + 6 * ((u + j) % 10)}"
                if j < per_user - 2
                else f"seed:p{(u * 7 + j * 13) % 60}",
                "dwell_ms": None,
            }
            for u in range(users)
            for j in range(per_user)
        ],
    )


def wait_for_training(app, timeout: float = 180) -> dict:
    trainer = app.extensions["nextpaper"].trainer
    deadline = time.monotonic() + timeout
    while trainer.running():
        assert time.monotonic() < deadline, "the retrain did not finish"
        time.sleep(0.2)
    return trainer.status()


# --- who may see it ---------------------------------------------------------------------------


def test_signed_out_the_page_asks_to_sign_in(web):
    response = web.get("/admin")
    assert response.status_code == 303
    assert response.headers["Location"] == "/?next=/admin"


def test_a_reader_who_is_not_an_admin_gets_a_403_page_and_no_link(app, web, user_token):
    web.sign_in(user_token("alice"))
    assert web.signed_in_as() == "alice"
    feed = web.get("/").get_data(as_text=True)
    assert "/admin" not in feed and ">Admin</a>" not in feed
    response = web.get("/admin")
    page = response.get_data(as_text=True)
    assert response.status_code == 403 and response.mimetype == "text/html"
    assert "For admins only" in page and 'id="users"' not in page
    refused = web.post_form("/settings", "/admin/train", {})
    assert refused.status_code == 403 and "For admins only" in refused.get_data(as_text=True)
    assert app.extensions["nextpaper"].trainer.status()["state"] == "idle"


def test_an_admin_has_the_nav_link(web, root):
    feed = web.get("/").get_data(as_text=True)
    assert '<a href="/admin">Admin</a>' in feed
    assert '<a href="/admin" aria-current="page">Admin</a>' in admin_page(web)


# --- the cards --------------------------------------------------------------------------------


def test_users_card_lists_every_user_with_role_email_digest_and_live_tokens(
    db, web, root, user_token
):
    user_token("bob")
    storage.create_user(db, "carol")  # no token yet
    storage.set_user_settings(db, "bob", email="bob@example.org", digest="weekly")
    from server.http import auth

    auth.issue_token(db, "bob")
    users = card(admin_page(web), "users")
    assert "3 users" in users
    assert "bob User bob@example.org Weekly 2" in users
    assert "carol User — Off 0" in users
    assert "root Admin — Off 1" in users
    assert users.index("bob User") < users.index("carol User") < users.index("root Admin")


def test_users_card_shows_the_first_users_of_a_large_deployment(db, web, root, monkeypatch):
    from server.web import admin

    monkeypatch.setattr(admin, "USERS_SHOWN", 2)
    for name in ("ann", "bea", "cid"):
        storage.create_user(db, name)
    users = card(admin_page(web), "users")
    assert "4 users" in users and "the first 2 here" in users
    assert "ann User" in users and "bea User" in users
    assert "cid User" not in users and "root Admin" not in users


def test_model_card_shows_the_served_release_and_its_validation_as_the_admin_api_does(
    app, client, db, catalog, web, root
):
    assert "No model is served yet" in card(admin_page(web), "model")
    reading(db)
    training.train_and_publish(db, ModelStore(app.config["MODELS"]))
    api = client.get("/api/v1/admin/model", headers={"Authorization": f"Bearer {root}"})
    release = api.get_json()["model"]
    tuning = release["tuning"]
    assert tuning["recall"] is not None and tuning["users"] == 30

    model = card(admin_page(web), "model")
    assert f"Version {release['version']}" in model
    trained = release["trained_at"]
    assert f"Trained {trained[:10]} {trained[11:16]} UTC" in model
    assert "Users 30 Papers 60" in model
    assert f"recall@20 on 30 validation users: {tuning['recall'] * 100:.1f}%" in model
    for name, words in (("knn", "Item neighbours (kNN)"), ("text", "Text similarity")):
        assert f"{words} {tuning['single'][name] * 100:.1f}%" in model
    assert model.count("%") == 1 + len(tuning["single"])


@pytest.mark.parametrize(
    ("tuning", "shown", "not_shown"),
    [
        (
            {
                "recall": 0.25,
                "users": 1,
                "reused": True,
                "single": {"als": None, "knn": 0.125, "mystery": 0.5},
            },
            [
                "recall@20 on 1 validation user: 25.0% (the blend of an earlier training, "
                "reused) .",
                "Each component alone Component Recall@20 mystery 50.0% "
                "Item neighbours (kNN) 12.5% ALS —",
            ],
            ["Not validated", "no validation figures"],
        ),
        (
            {"recall": None, "skipped": "too few users with a held-out paper"},
            ["Validation Not validated: too few users with a held-out paper"],
            ["recall@20", "reused", "Each component alone"],
        ),
        (None, ["This model has no validation figures."], ["recall@20", "Not validated"]),
    ],
)
def test_model_card_shows_each_kind_of_validation(app, web, root, tuning, shown, not_shown):
    release = {
        "version": "v-test",
        "trained_at": "2026-12-01T09:30:00+00:00",
        "users": 7,
        "papers": 12,
        "added_papers": 3,
        **({"tuning": tuning} if tuning is not None else {}),
    }
    serving = app.extensions["nextpaper"].serving
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(serving, "current", lambda: SimpleNamespace(release=release))
        model = card(admin_page(web), "model")
    assert "Version v-test Trained 2026-12-01 09:30 UTC Users 7 Papers 12 (3 added since" in model
    for words in shown:
        assert words in model
    for words in not_shown:
        assert words not in model


def test_training_card_says_idle_before_any_run(web, root):
    training_card = card(admin_page(web), "training")
    assert "Idle" in training_card and "No run started from this server process yet." in (
        training_card
    )


def test_retrain_now_needs_the_forms_csrf_token(app, web, root):
    response = web.client.post("/admin/train", data={})
    assert response.status_code == 403
    assert "missing its security token" in response.get_data(as_text=True)
    assert app.extensions["nextpaper"].trainer.status()["state"] == "idle"


def test_retrain_now_starts_a_training_that_publishes_a_new_version(app, db, catalog, web, root):
    store = ModelStore(app.config["MODELS"])
    reading(db)
    before = training.train_and_publish(db, store)["version"]
    assert f"Version {before}" in card(admin_page(web), "model")

    started = web.post_form("/admin", "/admin/train", {})
    assert started.status_code == 303 and started.headers["Location"] == "/admin#training"
    page = admin_page(web)
    assert "Retrain started" in page
    assert "Running since" in card(page, "training")

    status = wait_for_training(app)
    assert status["last"]["ok"], status
    after = status["last"]["version"]
    assert after != before and after == store.current_version()
    app.extensions["nextpaper"].serving.models.refresh(wait=True)
    page = admin_page(web)
    assert f"published {after}" in card(page, "training") and "Idle" in card(page, "training")
    assert f"Version {after}" in card(page, "model")


def test_sync_card_shows_the_last_daily_run_and_each_sets_resume_point(app, db, web, root):
    plan = sync.Plan.from_settings(app.config)
    storage.advance_sync_state(db, sync.DAILY_RUN_STATE, "2026-03-04T06:00:12")
    storage.advance_sync_state(db, plan.state_name("cs"), "2026-03-03")
    synced = card(admin_page(web), "sync")
    assert "Runs daily at 06:00" in synced
    assert "Last daily run: 2026-03-04 06:00:12" in synced
    assert "cs cs.CL, cs.LG 2026-03-03" in synced
    assert "physics:hep-th hep-th not harvested yet" in synced


def test_sync_card_says_not_configured_without_categories(app, web, root):
    app.config["ARXIV_CATEGORIES"] = []
    synced = card(admin_page(web), "sync")
    assert "Not configured: set ARXIV_CATEGORIES" in synced
    assert "Resumes" not in synced


def test_digests_card_shows_the_latest_sends_newest_first(db, web, root, user_token):
    assert "No digest has been sent yet." in card(admin_page(web), "digests")
    for name in ("ann", "ben"):
        user_token(name)
    storage.claim_digests(db, [("ann", "daily:2026-03-03")], at="2026-03-03T06:01:00Z")
    storage.finish_digests(
        db, [("ann", "daily:2026-03-03", ["seed:p1"])], at="2026-03-03T06:02:00Z"
    )
    storage.claim_digests(db, [("ben", "weekly:2026-W10")], at="2026-03-04T06:01:00Z")
    digests = card(admin_page(web), "digests")
    assert (
        "ben weekly:2026-W10 Claimed, not sent 2026-03-04 06:01 UTC — "
        "ann daily:2026-03-03 Sent 2026-03-03 06:01 UTC 2026-03-03 06:02 UTC"
    ) in digests


def test_latest_digests_are_the_newest_claims_up_to_the_limit(db, user_token):
    claims = [(f"u{i}", "daily:2026-03-0" + str(i)) for i in range(1, 6)]
    for user_id, _ in claims:
        storage.create_user(db, user_id)
    for i, claim in enumerate(claims, start=1):
        storage.claim_digests(db, [claim], at=f"2026-03-0{i}T06:00:00Z")
    latest = storage.latest_digests(db, 3)
    assert [d["user_id"] for d in latest] == ["u5", "u4", "u3"]
    assert latest[0] == {
        "user_id": "u5",
        "period": "daily:2026-03-05",
        "status": "sending",
        "claimed_at": "2026-03-05T06:00:00Z",
        "sent_at": None,
    }
