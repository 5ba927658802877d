"""Schemathesis fuzzes every operation of ``GET /api/v1/openapi.json`` against the WSGI app, inside
the suite: seeded and bounded. The server must never answer 5xx, every 4xx carries the one error
shape, and (for schema-valid input) 2xx bodies match the document."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from server import create_app
from server.http import auth
from server.http.openapi import openapi_document
from server.store import storage
from server.store.db import open_database

from .support import check_error_body

_PATHS = openapi_document()["paths"]
OPERATIONS = [
    (method.upper(), path)
    for path, methods in _PATHS.items()
    for method in methods
    if method != "post" or path != "/api/v1/admin/train"  # starts real training child processes
]
CASES = [
    (method, path, mode)
    for method, path in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    # Negative data needs something to break: parameters or a body.
    if mode is GenerationMode.POSITIVE
    or {"parameters", "requestBody"} & set(_PATHS[path][method.lower()])
]


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory):
    home = tmp_path_factory.mktemp("fuzz")
    app = create_app(
        {"HOME": str(home), "TESTING": True, "RATE_LIMIT_PER_SECOND": 0, "MODEL_CHECK_SECONDS": 0}
    )
    db = open_database(app.config["DATABASE"])
    storage.create_user(db, "fuzzer", is_admin=True)
    storage.upsert_papers(
        db,
        [
            {"paper_id": "arxiv:2401.00001", "title": "Graph methods", "abstract": "graph"},
            {"paper_id": "seed:p1", "title": "Sparse retrieval", "abstract": "sparse"},
        ],
    )
    token = auth.issue_token(db, "fuzzer")
    db.close()
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    return schema, {"Authorization": f"Bearer {token}"}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "path", "mode"), CASES, ids=[f"{m} {p} {mode.value}" for m, p, mode in CASES]
)
def test_fuzzed_requests_never_fail_the_server(fuzz_target, method, path, mode):
    schema, headers = fuzz_target
    operation = schema[path][method]
    strategy = operation.as_strategy(generation_mode=mode)
    seen: dict[int, int] = {}

    @settings(
        max_examples=25,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case):
        response = case.call(headers=headers)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500, (response.status_code, response.text[:300])
        if 400 <= response.status_code < 500:
            check_error_body(response.json(), response.status_code)
        elif mode is GenerationMode.POSITIVE:
            case.validate_response(
                response,
                checks=[
                    status_code_conformance,
                    content_type_conformance,
                    response_schema_conformance,
                ],
            )

    run()
    assert seen, "no case was generated"
    if mode is GenerationMode.POSITIVE and method == "GET" and "{" not in path:
        assert seen.get(200), seen  # schema-valid input to a plain GET route is served


def test_every_registered_route_is_fuzzed(app):
    """A new route that the OpenAPI document (and so the fuzzer) misses fails here."""
    documented = {(m, p) for m, p in OPERATIONS} | {("POST", "/api/v1/admin/train")}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.startswith("web."):
            continue  # the web app's pages are not the API
        path = rule.rule.replace("<path:", "{").replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (method, path) in documented, (method, path)
