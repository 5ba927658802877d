"""Authentication and isolation: tokens stored only as hashes and compared in constant time,
forged tokens refused, every user-scoped route proven to show one user nothing of another's data
(enumerated from ``app.url_map``, so a new route without a check here fails), admin routes
refused to non-admins, and revocation effective at once."""

from __future__ import annotations

import io
import json
import sqlite3

import pytest

from server.http import auth
from server.store import storage

from .support import assert_error, event

SECRET_TITLE = "Private reading 7f3a"
SECRET_PAPER = "seed:private-7f3a"
SECRET_EVENT = "alice-event-7f3a"


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].split(" ", 1)[1]


# --- tokens -----------------------------------------------------------------------------------


def test_the_database_holds_only_token_hashes(app, client, make_user, run_cli_home):
    alice = make_user("alice")
    cli_token = run_cli_home("users", "add", "carol").stdout.strip().splitlines()[-1]
    tokens = [_token(alice), cli_token]
    # The tokens work...
    for token in tokens:
        assert (
            client.get("/api/v1/history", headers={"Authorization": f"Bearer {token}"}).status_code
            == 200
        )
    # ...but neither they nor any large piece of them is anywhere in the database files.
    conn = sqlite3.connect(app.config["DATABASE"])
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    dump = "\n".join(conn.iterdump())
    stored_hashes = {row[0] for row in conn.execute("SELECT token_hash FROM tokens")}
    conn.close()
    raw = b""
    for suffix in ("", "-wal", "-shm"):
        try:
            with open(app.config["DATABASE"] + suffix, "rb") as f:
                raw += f.read()
        except FileNotFoundError:
            pass
    for token in tokens:
        secret = token[3:]
        for piece in (token, secret[:16], secret[-16:]):
            assert piece not in dump
            assert piece.encode() not in raw
        assert auth.hash_token(token) in stored_hashes
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in stored_hashes)


@pytest.fixture
def run_cli_home(home):
    from tests.conftest import run_cli

    return lambda *args, **kw: run_cli(home, *args, **kw)


def test_tokens_are_compared_in_constant_time(db, monkeypatch):
    """The stored twin is found by the token's SHA-256 and then checked with
    ``hmac.compare_digest``: nothing compares the presented token text with ``==``."""
    storage.create_user(db, "alice")
    token = auth.issue_token(db, "alice")
    calls = []
    real = auth.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    assert auth.authenticate(db, token) == auth.Caller("alice", False)
    assert calls == [(auth.hash_token(token), auth.hash_token(token))]
    assert token not in repr(calls)  # only hashes are compared


def test_tokens_are_long_random_and_unique(db):
    storage.create_user(db, "alice")
    tokens = {auth.issue_token(db, "alice") for _ in range(50)}
    assert len(tokens) == 50
    for token in tokens:
        assert token.startswith("np_") and len(token) == 46  # 256 random bits, url-safe


def test_forged_truncated_and_padded_tokens_are_refused(client, make_user, db):
    alice = make_user("alice")
    token = _token(alice)
    stored_hash = db.execute("SELECT token_hash FROM tokens").fetchone()[0]
    forged = [
        token[:-1],
        token[:10],
        token[3:],  # without the prefix
        "np_",
        token + "=",
        token + "\x00",
        token + " x",
        "x" + token,
        token.swapcase(),
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        "np_" + token[3:][::-1],
        stored_hash,  # a leaked database must not give working tokens
        "np_" + stored_hash[:43],
        token * 2,
        token + "a" * 10_000,
        "np_" + "é" * 43,
        "np_" + "A" * 43,
        f"{token},{token}",
    ]
    for bad in forged:
        response = client.get("/api/v1/history", headers={"Authorization": f"Bearer {bad}"})
        assert_error(response, 401)
        assert response.get_json()["error"]["code"] in ("invalid_token", "missing_token")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert token not in response.get_data(as_text=True)
    for header in (
        f"Basic {token}",
        f"Token {token}",
        token,
        "Bearer",
        "Bearer ",
        f"Bearer: {token}",
    ):
        response = client.get("/api/v1/history", headers={"Authorization": header})
        assert_error(response, 401)
    # Tokens in other places are not accepted either.
    assert_error(client.get(f"/api/v1/history?token={token}"), 401, "missing_token")
    assert_error(client.get(f"/api/v1/history?access_token={token}"), 401, "missing_token")
    client.set_cookie("token", token)
    assert_error(client.get("/api/v1/history"), 401, "missing_token")
    # The real token still works (nothing above locked it out).
    assert client.get("/api/v1/history", headers=alice).status_code == 200


def test_revocation_with_the_cli_takes_effect_at_once(client, make_user, run_cli_home):
    alice = make_user("alice")
    second = {
        "Authorization": "Bearer " + run_cli_home("users", "token", "alice").stdout.split()[-1]
    }
    bob = make_user("bob")
    for headers in (alice, second, bob):
        assert client.get("/api/v1/history", headers=headers).status_code == 200
    result = run_cli_home("users", "revoke", "alice")
    assert "2" in result.stdout
    for headers in (alice, second):
        assert_error(client.get("/api/v1/history", headers=headers), 401, "invalid_token")
        assert_error(
            client.post(
                "/api/v1/events", json={"events": [event("x", {"id": "seed:x"})]}, headers=headers
            ),
            401,
            "invalid_token",
        )
    assert client.get("/api/v1/history", headers=bob).status_code == 200
    # A new token after revocation works; the old ones stay dead.
    fresh = {
        "Authorization": "Bearer " + run_cli_home("users", "token", "alice").stdout.split()[-1]
    }
    assert client.get("/api/v1/history", headers=fresh).status_code == 200
    assert_error(client.get("/api/v1/history", headers=alice), 401, "invalid_token")
    missing = run_cli_home("users", "revoke", "nobody", check=False)
    assert missing.returncode == 2 and missing.stderr.strip().count("\n") == 0


def test_imported_users_have_no_working_token(client, db, make_user):
    storage.import_events(
        db,
        [
            {
                "user_id": "imported",
                "event_id": "i1",
                "type": "open",
                "ts": "2026-01-01T00:00:00.000000Z",
                "paper_id": "seed:a",
                "dwell_ms": None,
            }
        ],
    )
    assert db.execute("SELECT count(*) FROM tokens WHERE user_id = 'imported'").fetchone()[0] == 0
    assert_error(client.get("/api/v1/history", headers={"Authorization": "Bearer "}), 401)


# --- isolation, route by route ----------------------------------------------------------------

PUBLIC = {("GET", "/api/v1/health"), ("GET", "/api/v1/openapi.json")}


@pytest.fixture
def two_users(client, make_user, db):
    """Alice with history; Bob with a token and an unrelated event; root, an admin."""
    alice, bob, root = make_user("alice"), make_user("bob"), make_user("root", admin=True)
    storage.upsert_papers(
        db,
        [
            {"paper_id": f"seed:c{i}", "title": f"Catalog paper {i}", "abstract": "graph"}
            for i in range(6)
        ],
    )
    body = client.post(
        "/api/v1/events",
        json={
            "events": [
                event(
                    SECRET_EVENT, {"id": SECRET_PAPER, "title": SECRET_TITLE, "abstract": "graph"}
                ),
                event("alice-2", {"id": "seed:c1"}, "like"),
                event("shared-id", {"id": "seed:c2"}, "dismiss"),
            ]
        },
        headers=alice,
    ).get_json()
    assert body["accepted"] == 3
    assert (
        client.post(
            "/api/v1/events", json={"events": [event("bob-1", {"id": "seed:c3"})]}, headers=bob
        ).get_json()["accepted"]
        == 1
    )
    return alice, bob, root


def _no_trace_of_alice(response):
    text = response.get_data(as_text=True)
    for secret in ("alice", SECRET_EVENT, "alice-2"):
        assert secret not in text, (secret, text[:500])


def _bob_events(client, bob):
    return [e["id"] for e in client.get("/api/v1/history", headers=bob).get_json()["events"]]


def _alice_total(client, alice):
    return client.get("/api/v1/history", headers=alice).get_json()["total"]


def check_post_events(client, alice, bob, root):
    # Reusing alice's event id neither collides with hers nor reveals it exists.
    body = client.post(
        "/api/v1/events", json={"events": [event(SECRET_EVENT, {"id": "seed:c4"})]}, headers=bob
    )
    assert body.get_json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert _alice_total(client, alice) == 3
    assert SECRET_EVENT in _bob_events(client, bob)
    [alice_event] = [
        e
        for e in client.get("/api/v1/export", headers=alice).get_json()["events"]
        if e["id"] == SECRET_EVENT
    ]
    assert alice_event["paper_id"] == SECRET_PAPER  # bob's event did not overwrite hers


def check_recommendations(client, alice, bob, root):
    response = client.get("/api/v1/recommendations?n=100", headers=bob)
    assert response.status_code == 200
    _no_trace_of_alice(response)
    for item in response.get_json()["items"]:
        for reason in item["reasons"]:
            if reason["type"] == "because_you_read":
                assert reason["paper_id"] == "seed:c3", reason  # only bob's own reading
    # Alice's dismissal and opens exclude papers for her, not for bob.
    alice_items = {
        i["paper"]["id"]
        for i in client.get("/api/v1/recommendations?n=100", headers=alice).get_json()["items"]
    }
    assert not {"seed:c1", "seed:c2", SECRET_PAPER} & alice_items


def check_paper(client, alice, bob, root):
    # The catalog is shared (papers are not personal data); what bob sees holds no events.
    response = client.get("/api/v1/papers/seed%3Ac1", headers=bob)
    assert response.status_code == 200
    _no_trace_of_alice(response)
    assert set(response.get_json()) <= {
        "id",
        "title",
        "abstract",
        "authors",
        "url",
        "doi",
        "arxiv_id",
        "published",
    }


def check_similar(client, alice, bob, root):
    response = client.get("/api/v1/papers/seed%3Ac1/similar?n=50", headers=bob)
    assert response.status_code == 200
    _no_trace_of_alice(response)
    for item in response.get_json()["items"]:
        for reason in item["reasons"]:
            assert reason["type"] != "because_you_read" or reason["paper_id"] == "seed:c3"


def check_history(client, alice, bob, root):
    response = client.get("/api/v1/history?limit=1000", headers=bob)
    assert response.get_json()["total"] == 1
    assert _bob_events(client, bob) == ["bob-1"]
    _no_trace_of_alice(response)
    assert SECRET_PAPER not in response.get_data(as_text=True)
    admin = client.get("/api/v1/history", headers=root).get_json()
    assert admin["total"] == 0  # an admin's own history is the admin's only


def check_saved(client, alice, bob, root):
    # alice saves her secret paper; bob and the admin see only their own saves
    event_body = {"events": [event("alice-save", {"id": SECRET_PAPER}, "save")]}
    assert client.post("/api/v1/events", json=event_body, headers=alice).status_code == 200
    assert client.get("/api/v1/saved", headers=alice).get_json()["total"] == 1
    for headers in (bob, root):
        response = client.get("/api/v1/saved", headers=headers)
        assert response.get_json() == {"items": [], "total": 0, "limit": 100, "offset": 0}
        assert SECRET_PAPER not in response.get_data(as_text=True)


def check_library(client, alice, bob, root):
    # bob's and the admin's imports save papers for themselves only, and say nothing of alice
    bib = b"@misc{x, title = {Bob's paper}, eprint = {2401.00001}, archivePrefix = {arXiv}}\n"
    for headers in (bob, root):
        response = client.post(
            "/api/v1/library",
            data={"file": (io.BytesIO(bib), "library.bib")},
            headers=headers,
            content_type="multipart/form-data",
        )
        assert response.get_json()["imported"] == 1
        _no_trace_of_alice(response)
    assert "library:arxiv:2401.00001" in _bob_events(client, bob)
    assert _alice_total(client, alice) == 3
    assert client.get("/api/v1/saved", headers=alice).get_json()["total"] == 0


def check_new(client, alice, bob, root):
    response = client.get("/api/v1/new?days=365&n=100", headers=bob)
    assert response.status_code == 200
    _no_trace_of_alice(response)
    for item in response.get_json()["items"]:
        for reason in item["reasons"]:
            assert reason["type"] != "because_you_read" or reason["paper_id"] == "seed:c3"
            assert reason.get("readers", 2) >= 2  # never one other person
    alice_items = {
        i["paper"]["id"]
        for i in client.get("/api/v1/new?days=365&n=100", headers=alice).get_json()["items"]
    }
    assert not {"seed:c1", "seed:c2", SECRET_PAPER} & alice_items


def check_trending(client, alice, bob, root):
    from datetime import UTC, datetime

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    again = {"events": [event("alice-read", {"id": SECRET_PAPER}, "read", ts=now)]}
    assert client.post("/api/v1/events", json=again, headers=alice).status_code == 200
    # alice alone read her secret paper: listing it would point at her
    for headers in (bob, root):
        response = client.get("/api/v1/trending?days=1", headers=headers)
        assert response.status_code == 200 and response.get_json()["items"] == []
        assert SECRET_PAPER not in response.get_data(as_text=True)
    # a second reader (root) makes it trending for bob, counted, never named (a window not
    # asked before: a window's count is kept for a while)
    read = {"events": [event("root-1", {"id": SECRET_PAPER}, ts=now)]}
    assert client.post("/api/v1/events", json=read, headers=root).status_code == 200
    response = client.get("/api/v1/trending?days=2", headers=bob)
    _no_trace_of_alice(response)
    [item] = response.get_json()["items"]
    assert item["reasons"][0]["readers"] == 2
    for headers in (alice, root):  # they read it: not theirs to be shown
        assert client.get("/api/v1/trending?days=2", headers=headers).get_json()["items"] == []


def check_settings(client, alice, bob, root):
    mine = {"email": "alice-7f3a@example.org", "digest": "daily"}
    assert client.put("/api/v1/settings", json=mine, headers=alice).get_json() == mine
    for headers in (bob, root):
        response = client.get("/api/v1/settings", headers=headers)
        assert response.get_json() == {"email": None, "digest": "off"}
        changed = client.put("/api/v1/settings", json={"digest": "off"}, headers=headers)
        assert "alice" not in changed.get_data(as_text=True)
    assert client.get("/api/v1/settings", headers=alice).get_json() == mine


def check_delete_history(client, alice, bob, root):
    assert client.delete("/api/v1/history", headers=bob).get_json() == {"deleted": 1}
    assert client.delete("/api/v1/history", headers=root).get_json() == {"deleted": 0}
    assert _alice_total(client, alice) == 3


def check_export(client, alice, bob, root):
    response = client.get("/api/v1/export", headers=bob)
    body = response.get_json()
    assert body["user"]["user_id"] == "bob"
    assert [e["id"] for e in body["events"]] == ["bob-1"]
    assert [p["id"] for p in body["papers"]] == ["seed:c3"]
    _no_trace_of_alice(response)
    assert SECRET_TITLE not in response.get_data(as_text=True)


def check_admin_user_recommendations(client, alice, bob, root):
    assert_error(
        client.get("/api/v1/users/alice/recommendations", headers=bob), 403, "admin_required"
    )
    assert_error(
        client.get("/api/v1/users/bob/recommendations", headers=bob), 403, "admin_required"
    )
    response = client.get("/api/v1/users/alice/recommendations?n=100", headers=root)
    assert response.status_code == 200
    items = {i["paper"]["id"] for i in response.get_json()["items"]}
    assert not {"seed:c1", "seed:c2", SECRET_PAPER} & items  # alice's own view, for the admin


def check_admin_train(client, alice, bob, root):
    for headers in (alice, bob):
        assert_error(client.post("/api/v1/admin/train", headers=headers), 403, "admin_required")
    # (An admin starting a real training run is covered by the crash-safety tests.)


def check_admin_model(client, alice, bob, root):
    for headers in (alice, bob):
        assert_error(client.get("/api/v1/admin/model", headers=headers), 403, "admin_required")
    body = client.get("/api/v1/admin/model", headers=root).get_json()
    assert set(body) == {"model", "training"}  # about the model, never about a reader


USER_ROUTES = {
    ("POST", "/api/v1/events"): check_post_events,
    ("GET", "/api/v1/recommendations"): check_recommendations,
    ("GET", "/api/v1/papers/<path:paper_id>"): check_paper,
    ("GET", "/api/v1/papers/<path:paper_id>/similar"): check_similar,
    ("GET", "/api/v1/history"): check_history,
    ("GET", "/api/v1/saved"): check_saved,
    ("DELETE", "/api/v1/history"): check_delete_history,
    ("GET", "/api/v1/export"): check_export,
    ("POST", "/api/v1/library"): check_library,
    ("GET", "/api/v1/new"): check_new,
    ("GET", "/api/v1/trending"): check_trending,
    ("GET", "/api/v1/settings"): check_settings,
    ("PUT", "/api/v1/settings"): check_settings,
}
ADMIN_ROUTES = {
    ("GET", "/api/v1/users/<user_id>/recommendations"): check_admin_user_recommendations,
    ("POST", "/api/v1/admin/train"): check_admin_train,
    ("GET", "/api/v1/admin/model"): check_admin_model,
}
ALL_CHECKED = {**USER_ROUTES, **ADMIN_ROUTES}


def _alice_feed(client) -> tuple[str, str]:
    """The paths of alice's and bob's feeds (as `nextpaper users feed-url` makes them)."""
    from server.http.feeds import feed_url
    from server.store.db import open_database

    config = client.application.config
    db = open_database(config["DATABASE"])
    try:
        urls = [feed_url(db, config, name) for name in ("alice", "bob")]
    finally:
        db.close()
    return tuple(url.removeprefix(config["PUBLIC_URL"].rstrip("/")) for url in urls)


def check_feed(client, alice, bob, root):
    alice_feed, bob_feed = _alice_feed(client)
    text = client.get(bob_feed).get_data(as_text=True)
    for secret in ("alice", SECRET_EVENT, SECRET_PAPER):
        assert secret not in text
    assert SECRET_PAPER not in client.get(alice_feed).get_data(as_text=True)  # she read it
    # the URL is the credential: a token, a forged or a neighbouring secret open nothing
    secret = alice_feed.removeprefix("/feeds/").removesuffix(".atom")
    for path in (
        f"/feeds/{_token(alice)}.atom",
        f"/feeds/{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}.atom",
        f"/feeds/{secret.swapcase()}.atom",
        f"/feeds/{auth.hash_token(_token(alice))}.atom",
    ):
        assert_error(client.get(path), 404, "feed_not_found")


def check_link(client, alice, bob, root):
    from server import signing

    key = signing.home_key(client.application.config["HOME"])
    link = signing.sign_link(key, signing.Link("alice", "save", "seed:c4"))
    # a link made with another key, or alice's altered to name bob, does nothing
    other_key = signing.sign_link(b"k" * 32, signing.Link("bob", "save", "seed:c4"))
    bobs = signing.sign_link(key, signing.Link("bob", "save", "seed:c4")).rsplit(".", 2)[0]
    altered = ".".join([bobs, *link.rsplit(".", 2)[1:]])
    for bad in (other_key, altered):
        assert_error(client.post(f"/l/{bad}"), 400, "invalid_link")
    before = _bob_events(client, bob)
    page = client.get(f"/l/{link}")
    assert page.status_code == 200 and SECRET_PAPER not in page.get_data(as_text=True)
    assert client.post(f"/l/{link}").status_code == 200
    assert _bob_events(client, bob) == before  # alice's link acts for alice only
    assert _alice_total(client, alice) == 4


CAPABILITY_ROUTES = {  # no token: the URL itself, made for one user, is the credential
    ("GET", "/feeds/<secret>.atom"): check_feed,
    ("GET", "/l/<token>"): check_link,
    ("POST", "/l/<token>"): check_link,
}


# The web app's pages: open to anyone (the sign-in form, the sign-in posts, a login link, the
# pages' assets), or needing a signed-in session cookie. Which user's data a session sees is
# checked in tests/web/test_pages.py (test_a_reader_sees_and_changes_only_their_own_marks);
# here, that none of them answers without one.
WEB_PUBLIC = {
    ("GET", "/assets/<path:filename>"),
    ("POST", "/sign-in"),
    ("GET", "/login/<token>"),
    ("POST", "/login/<token>"),
}
WEB_SESSION = {
    ("GET", "/"): "/",  # without a session: the sign-in form, nothing of anyone's feed
    ("GET", "/papers/<path:paper_id>"): "/papers/seed%3Ac1",
    ("POST", "/marks"): "/marks",
    ("POST", "/sign-out"): "/sign-out",
    ("GET", "/saved"): "/saved",
    ("GET", "/saved/export/<format_name>"): "/saved/export/bibtex",
    ("POST", "/saved/import"): "/saved/import",
    ("GET", "/history"): "/history",
    ("POST", "/history/delete"): "/history/delete",
    ("GET", "/history/erase"): "/history/erase",
    ("POST", "/history/erase"): "/history/erase",
    ("GET", "/history/export"): "/history/export",
    ("GET", "/history/reading.svg"): "/history/reading.svg",
    ("GET", "/history/topics.svg"): "/history/topics.svg",
    ("GET", "/settings"): "/settings",
    ("POST", "/settings"): "/settings",
    ("POST", "/settings/feed"): "/settings/feed",
    ("POST", "/settings/tokens"): "/settings/tokens",
    ("POST", "/settings/tokens/revoke"): "/settings/tokens/revoke",
    ("GET", "/admin"): "/admin",
    ("POST", "/admin/train"): "/admin/train",
    ("GET", "/admin/catalog.svg"): "/admin/catalog.svg",
    ("GET", "/admin/events.svg"): "/admin/events.svg",
}


def test_web_pages_show_and_change_nothing_without_a_session(client, two_users):
    alice, _, _ = two_users
    before = client.get("/api/v1/history", headers=alice).get_json()
    for (method, _), path in WEB_SESSION.items():
        response = client.open(path, method=method, data={"type": "save", "paper_id": "seed:c1"})
        page = response.get_data(as_text=True)
        if response.status_code == 200:
            assert 'name="token"' in page and "seed:c1" not in page, (method, path)
        else:
            assert response.status_code in (302, 303, 400, 401, 403), (method, path)
    assert client.get("/api/v1/history", headers=alice).get_json() == before


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, rule.rule


def _example_path(rule: str) -> str:
    return rule.replace("<path:paper_id>", "seed%3Ac1").replace("<user_id>", "alice")


def test_every_route_is_classified(app):
    """A new route must be added to PUBLIC, USER_ROUTES or ADMIN_ROUTES with an isolation check."""
    classified = {**ALL_CHECKED, **CAPABILITY_ROUTES}
    unknown = [
        r
        for r in _routes(app)
        if r not in PUBLIC and r not in classified and r not in WEB_PUBLIC and r not in WEB_SESSION
    ]
    assert not unknown, f"routes without an isolation test: {unknown}"
    stale = [r for r in classified if r not in set(_routes(app))]
    assert not stale, f"isolation checks for routes that no longer exist: {stale}"


@pytest.mark.parametrize("route", sorted(ALL_CHECKED), ids=lambda r: f"{r[0]} {r[1]}")
def test_another_users_token_sees_nothing_of_the_first_users_data(client, two_users, route):
    alice, bob, root = two_users
    ALL_CHECKED[route](client, alice, bob, root)


@pytest.mark.parametrize("route", sorted(CAPABILITY_ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
def test_a_capability_url_serves_only_its_owner(client, two_users, route):
    alice, bob, root = two_users
    CAPABILITY_ROUTES[route](client, alice, bob, root)


@pytest.mark.parametrize("route", sorted(ALL_CHECKED), ids=lambda r: f"{r[0]} {r[1]}")
def test_every_private_route_needs_a_valid_token(client, two_users, route):
    method, rule = route
    path = _example_path(rule)
    kwargs = {"json": {"events": []}} if method == "POST" else {}
    for headers in ({}, {"Authorization": "Bearer np_" + "A" * 43}):
        response = client.open(path, method=method, headers=headers, **kwargs)
        assert_error(response, 401)
        _no_trace_of_alice(response)


@pytest.mark.parametrize("route", sorted(PUBLIC), ids=lambda r: f"{r[0]} {r[1]}")
def test_public_routes_reveal_no_user_data(client, two_users, route):
    method, rule = route
    response = client.open(rule, method=method)
    assert response.status_code == 200
    _no_trace_of_alice(response)
    assert SECRET_PAPER not in response.get_data(as_text=True)
    json.loads(response.get_data(as_text=True))
