"""Abuse limits: per-token rate limiting, CORS only for the extension's and configured origins,
and the security headers on every kind of response."""

from __future__ import annotations

import time

import pytest

from server import create_app
from server.http import auth
from server.http.security import SECURITY_HEADERS, allowed_origin, configured_origins
from server.store import storage
from server.store.db import open_database

from .support import assert_error, event

CHROME = "chrome-extension://" + "abcdefghijklmnop" * 2
FIREFOX = "moz-extension://0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"


def _app_with_users(home, *names, **config):
    app = create_app({"HOME": str(home), "TESTING": True, **config})
    db = open_database(app.config["DATABASE"])
    headers = {}
    for name in names:
        storage.create_user(db, name)
        headers[name] = {"Authorization": f"Bearer {auth.issue_token(db, name)}"}
    db.close()
    return app, headers


# --- rate limits ------------------------------------------------------------------------------


def test_rate_limit_is_per_token_in_the_error_shape_and_refills(home):
    app, users = _app_with_users(home, "alice", "bob", RATE_LIMIT_PER_SECOND=5, RATE_LIMIT_BURST=4)
    client = app.test_client()
    alice, bob = users["alice"], users["bob"]
    for _ in range(4):
        assert client.get("/api/v1/history", headers=alice).status_code == 200
    limited = client.get("/api/v1/history", headers={**alice, "Origin": CHROME})
    assert_error(limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # The 429 is a normal answer: headers and CORS too, so the extension can read it.
    assert limited.headers["Access-Control-Allow-Origin"] == CHROME
    for name, value in SECURITY_HEADERS.items():
        assert limited.headers[name] == value
    # Every route counts against the same bucket, including writes.
    assert_error(
        client.post("/api/v1/events", json={"events": []}, headers=alice), 429, "rate_limited"
    )
    # Bob's token has its own bucket.
    assert client.get("/api/v1/history", headers=bob).status_code == 200
    # Limited requests stored nothing; after a pause alice is served again.
    time.sleep(0.5)
    assert client.get("/api/v1/history", headers=alice).status_code == 200


def test_a_second_token_of_the_same_user_has_its_own_bucket(home):
    app, users = _app_with_users(home, "alice", RATE_LIMIT_PER_SECOND=0.01, RATE_LIMIT_BURST=2)
    client = app.test_client()
    for _ in range(2):
        client.get("/api/v1/export", headers=users["alice"])
    assert_error(client.get("/api/v1/export", headers=users["alice"]), 429, "rate_limited")
    db = open_database(app.config["DATABASE"])
    other = {"Authorization": f"Bearer {auth.issue_token(db, 'alice')}"}
    db.close()
    assert client.get("/api/v1/export", headers=other).status_code == 200


def test_refused_tokens_are_not_served_even_when_unlimited(home):
    app, _ = _app_with_users(home, "alice", RATE_LIMIT_PER_SECOND=1, RATE_LIMIT_BURST=1)
    client = app.test_client()
    for _ in range(5):  # invalid tokens get 401, never 200 and never a crash
        response = client.get("/api/v1/history", headers={"Authorization": "Bearer np_" + "x" * 43})
        assert_error(response, 401, "invalid_token")


def test_rate_limit_zero_turns_it_off(home):
    app, users = _app_with_users(home, "alice", RATE_LIMIT_PER_SECOND=0, RATE_LIMIT_BURST=1)
    client = app.test_client()
    assert all(
        client.get("/api/v1/health", headers=users["alice"]).status_code == 200 for _ in range(20)
    )
    assert all(
        client.get("/api/v1/history", headers=users["alice"]).status_code == 200 for _ in range(20)
    )


# --- CORS -------------------------------------------------------------------------------------

ALLOWED = [CHROME, "chrome-extension://" + "p" * 32, FIREFOX]
REFUSED = [
    "https://evil.example",
    "http://127.0.0.1:5000",
    "null",
    "chrome-extension://" + "a" * 31,
    "chrome-extension://" + "a" * 33,
    "chrome-extension://" + "q" * 32,
    "chrome-extension://" + "A" * 32,
    "CHROME-EXTENSION://" + "a" * 32,
    "chrome-extension://" + "a" * 32 + ".evil.example",
    "chrome-extension://" + "a" * 32 + "/",
    "https://chrome-extension://" + "a" * 32,
    "moz-extension://" + "-" * 36,
    "moz-extension://" + "0" * 36,
    "moz-extension://" + FIREFOX.split("//")[1].upper(),
    FIREFOX + ".evil.example",
    "safari-web-extension://" + "a" * 32,
]


@pytest.mark.parametrize("origin", ALLOWED)
def test_cors_answers_the_extension_origins(client, make_user, origin):
    alice = make_user("alice")
    response = client.get("/api/v1/history", headers={**alice, "Origin": origin})
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert "Origin" in response.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in response.headers
    preflight = client.options(
        "/api/v1/events",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == origin
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    allowed_headers = preflight.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed_headers and "content-type" in allowed_headers


@pytest.mark.parametrize("origin", REFUSED)
def test_cors_refuses_every_other_origin(client, make_user, origin):
    alice = make_user("alice")
    response = client.get("/api/v1/history", headers={**alice, "Origin": origin})
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = client.options(
        "/api/v1/events", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert "Access-Control-Allow-Methods" not in preflight.headers


def test_origin_matching_is_exact():
    # What a test client cannot send: a trailing newline used to pass the ``$`` anchor.
    assert not allowed_origin(CHROME + "\n", [])
    assert not allowed_origin(FIREFOX + "\n", [])
    assert allowed_origin("https://app.example", ["https://app.example"])
    assert not allowed_origin("https://app.exampl", ["https://app.example"])


@pytest.mark.parametrize(
    "setting",
    [
        ["https://app.example"],
        "https://app.example",
        "https://app.example, https://other.example",
        "https://other.example https://app.example/",
    ],
)
def test_configured_origins_are_answered_exactly(home, setting):
    app, users = _app_with_users(home, "alice", CORS_ORIGINS=setting)
    client = app.test_client()
    ok = client.get("/api/v1/history", headers={**users["alice"], "Origin": "https://app.example"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://app.example"
    for near in (
        "https://app.exampl",
        "https://app.example.evil",
        "https://app",
        "h",
        "http://app.example",
    ):
        response = client.get("/api/v1/history", headers={**users["alice"], "Origin": near})
        assert "Access-Control-Allow-Origin" not in response.headers, near
    assert (
        client.get("/api/v1/health", headers={"Origin": CHROME}).headers[
            "Access-Control-Allow-Origin"
        ]
        == CHROME
    )


def test_cors_origins_from_the_environment(tmp_path, monkeypatch):
    """``NEXTPAPER_CORS_ORIGINS=https://app.example`` (not JSON) used to be kept as a string, and
    ``origin in "https://app.example"`` let any substring through."""
    monkeypatch.setenv("NEXTPAPER_HOME", str(tmp_path / "envhome"))
    for value in ("https://app.example", '["https://app.example"]'):
        monkeypatch.setenv("NEXTPAPER_CORS_ORIGINS", value)
        client = create_app().test_client()
        good = client.get("/api/v1/health", headers={"Origin": "https://app.example"})
        assert good.headers["Access-Control-Allow-Origin"] == "https://app.example"
        bad = client.get("/api/v1/health", headers={"Origin": "https://app.exam"})
        assert "Access-Control-Allow-Origin" not in bad.headers


def test_configured_origins_parsing():
    assert configured_origins([]) == frozenset()
    assert configured_origins("") == frozenset()
    assert configured_origins("a, b c") == {"a", "b", "c"}


# --- security headers -------------------------------------------------------------------------


def test_security_headers_on_every_kind_of_response(home, monkeypatch):
    app, users = _app_with_users(home, "alice", RATE_LIMIT_PER_SECOND=0.01, RATE_LIMIT_BURST=30)
    client = app.test_client()
    alice = users["alice"]
    json_headers = {**alice, "Content-Type": "application/json"}
    responses = {
        "health": client.get("/api/v1/health"),
        "head": client.head("/api/v1/health"),
        "openapi": client.get("/api/v1/openapi.json"),
        "history": client.get("/api/v1/history", headers=alice),
        "events": client.post(
            "/api/v1/events", json={"events": [event("e", {"id": "seed:a"})]}, headers=alice
        ),
        "options": client.options("/api/v1/events"),
        "400": client.post("/api/v1/events", data="{", headers=json_headers),
        "401": client.get("/api/v1/history"),
        "403": client.post("/api/v1/admin/train", headers=alice),
        "404": client.get("/api/v1/nowhere"),
        "404 api root": client.get("/api/favicon.ico"),
        "404 paper": client.get("/api/v1/papers/seed%3Anone", headers=alice),
        "405": client.put("/api/v1/history", headers=alice),
        "413": client.post("/api/v1/events", data="x" * (1024 * 1024 + 1), headers=json_headers),
        "415": client.post(
            "/api/v1/events", data="x", headers={**alice, "Content-Type": "text/plain"}
        ),
    }

    def crash(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(storage, "export_user", crash)
    responses["500"] = client.get("/api/v1/export", headers=alice)
    for _ in range(40):  # the burst is 30: a limiter that never answers 429 fails here
        response = client.get("/api/v1/history", headers=alice)
        if response.status_code == 429:
            responses["429"] = response
            break
    assert "429" in responses, "no 429 within 40 requests of a burst of 30"
    assert responses["500"].status_code == 500
    assert_error(responses["500"], 500, "internal_error")
    assert "boom" not in responses["500"].get_data(as_text=True)  # no internals leak
    for what, response in responses.items():
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (what, name, dict(response.headers))
        if response.status_code >= 400 and what != "head":
            assert_error(response, response.status_code)
        if response.status_code != 204 and what not in ("head", "options"):
            assert response.mimetype == "application/json", what
