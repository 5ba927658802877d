"""The OpenAPI document names exactly the routes the app serves, with their methods."""

from __future__ import annotations

import re


def registered_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.startswith("web."):
            continue  # the web app's pages are not the API
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((path, method.lower()))
    return routes


def test_openapi_matches_the_registered_routes(client, app):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    documented = {
        (path, method) for path, operations in document["paths"].items() for method in operations
    }
    assert documented == registered_routes(app)


def test_every_operation_documents_its_errors_with_the_error_shape(client):
    document = client.get("/api/v1/openapi.json").get_json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            secured = operation.get("security", document["security"]) != []
            statuses = set(operation["responses"])
            if secured:
                assert "401" in statuses, (path, method)
            for status, response in operation["responses"].items():
                if status.startswith("4"):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (path, method)
