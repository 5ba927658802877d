"""The OpenAPI 3 description of the HTTP API, served at ``/api/v1/openapi.json``.

Kept by hand next to the views; ``tests/test_openapi.py`` checks that it names exactly the
routes the app registers, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from ..store.storage import EVENT_TYPES

_ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): _json(_ERROR, "Error") for s in statuses}


def _int_param(name: str, default: int, low: int, high: int) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": low, "maximum": high, "default": default},
    }


_PAGE_PARAMS = [_int_param("limit", 100, 1, 1000), _int_param("offset", 0, 0, 10**9)]


def _page(name: str, item: dict[str, Any]) -> dict[str, Any]:
    """A paged list: ``name`` (the items), ``total``, ``limit`` and ``offset``."""
    return {
        "type": "object",
        "required": [name, "total", "limit", "offset"],
        "properties": {
            name: {"type": "array", "items": item},
            "total": {"type": "integer"},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        },
    }


_PAPER_ID_PARAM = {
    "name": "paper_id",
    "in": "path",
    "required": True,
    "description": "URL-encoded canonical paper id, e.g. arxiv%3A2401.00001",
    "schema": {"type": "string"},
}
_SINCE_PARAM = {
    "name": "since",
    "in": "query",
    "required": False,
    "description": "Only papers published (or first seen) on or after this date.",
    "schema": {"type": "string", "format": "date"},
}
_ITEMS = {"$ref": "#/components/schemas/Items"}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "status"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "status": {"type": "integer"},
                },
            }
        },
    },
    "Paper": {
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "abstract": {"type": "string"},
            "authors": {"type": "array", "items": {"type": "string"}},
            "url": {"type": "string"},
            "doi": {"type": "string"},
            "arxiv_id": {"type": "string"},
            "published": {"type": "string", "format": "date"},
            "categories": {
                "description": "arXiv categories, primary first (e.g. cs.LG), when known.",
                "type": "array",
                "items": {"type": "string"},
            },
        },
    },
    "PaperRef": {
        "description": "A paper as an event names it: at least an id or a url.",
        "type": "object",
        "anyOf": [{"required": ["id"]}, {"required": ["url"]}],
        "properties": {
            "id": {"type": "string"},
            "url": {"type": "string"},
            "title": {"type": "string"},
            "abstract": {"type": "string"},
            "authors": {"type": "array", "items": {"type": "string"}},
            "doi": {"type": "string"},
            "arxiv_id": {"type": "string"},
            "published": {"type": "string", "format": "date"},
            "categories": {"type": "array", "items": {"type": "string"}, "maxItems": 100},
        },
    },
    "Event": {
        "type": "object",
        "required": ["id", "type", "ts", "paper"],
        "properties": {
            "id": {"type": "string", "minLength": 1, "maxLength": 200},
            "type": {"type": "string", "enum": list(EVENT_TYPES)},
            "ts": {"type": "string", "format": "date-time"},
            "paper": {"$ref": "#/components/schemas/PaperRef"},
            "dwell_ms": {"type": "integer", "minimum": 0},
        },
    },
    "StoredEvent": {
        "type": "object",
        "required": ["id", "type", "ts", "paper_id"],
        "properties": {
            "id": {"type": "string"},
            "type": {"type": "string"},
            "ts": {"type": "string"},
            "paper_id": {"type": "string"},
            "dwell_ms": {"type": "integer"},
        },
    },
    "Reason": {
        "type": "object",
        "required": ["type", "text"],
        "properties": {
            "type": {
                "type": "string",
                "enum": [
                    "because_you_read",
                    "similar_text",
                    "similar_readers",
                    "popular",
                    "fresh",
                    "related",
                    "for_you",
                ],
            },
            "text": {"type": "string", "description": "the sentence a person reads"},
            "paper_id": {"type": "string", "description": "the reader's paper it cites"},
            "title": {"type": "string"},
            "action": {"type": "string", "enum": ["opened", "read", "saved", "liked"]},
            "readers": {"type": "integer", "minimum": 2},
            "days": {
                "type": "integer",
                "minimum": 1,
                "description": "popular: the readers were counted over the last this many days",
            },
            "terms": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Items": {
        "type": "object",
        "required": ["model_version", "items"],
        "properties": {
            "model_version": {"type": ["string", "null"]},
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["paper", "score", "reasons"],
                    "properties": {
                        "paper": {"$ref": "#/components/schemas/Paper"},
                        "score": {"type": "number"},
                        "reasons": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Reason"},
                        },
                    },
                },
            },
        },
    },
    "ModelSummary": {
        "type": ["object", "null"],
        "properties": {
            "version": {"type": "string"},
            "trained_at": {"type": "string"},
            "users": {"type": "integer"},
            "papers": {"type": "integer"},
        },
    },
}

_AUTH_ERRORS = (401, 429)

_SETTINGS = {
    "type": "object",
    "required": ["email", "digest"],
    "properties": {
        "email": {"type": ["string", "null"], "format": "email"},
        "digest": {"type": "string", "enum": ["off", "daily", "weekly"]},
    },
}


def _digest_paths() -> dict[str, Any]:
    """New and trending papers, the caller's digest settings."""
    return {
        "/api/v1/new": {
            "get": {
                "summary": "Papers published in the last `days` days, ranked for you",
                "parameters": [_int_param("days", 1, 1, 365), _int_param("n", 20, 1, 100)],
                "responses": {
                    "200": _json(_ITEMS, "New papers"),
                    **_errors(400, *_AUTH_ERRORS),
                },
            }
        },
        "/api/v1/trending": {
            "get": {
                "summary": "Read most here over the last `days` days (decayed by age; only "
                "papers with at least TRENDING_MIN_READERS other readers)",
                "parameters": [_int_param("days", 7, 1, 365), _int_param("n", 20, 1, 100)],
                "responses": {
                    "200": _json(_ITEMS, "Trending papers"),
                    **_errors(400, *_AUTH_ERRORS),
                },
            }
        },
        "/api/v1/settings": {
            "get": {
                "summary": "Your email address and digest frequency",
                "responses": {
                    "200": _json(_SETTINGS, "Your settings"),
                    **_errors(*_AUTH_ERRORS),
                },
            },
            "put": {
                "summary": "Change your email address and/or digest frequency",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                **_SETTINGS,
                                "required": [],
                                "additionalProperties": False,
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json(_SETTINGS, "Your settings, as stored"),
                    **_errors(400, 415, *_AUTH_ERRORS),
                },
            },
        },
        "/feeds/{secret}.atom": {
            "get": {
                "summary": "Your Atom feed: the items of your digest (the URL is the credential; "
                "`nextpaper users feed-url NAME` prints it)",
                "security": [],
                "parameters": [_path_param("secret", "^[A-Za-z0-9_-]{43}$")],
                "responses": {
                    "200": {
                        "description": "Atom 1.0 feed",
                        "content": {"application/atom+xml": {"schema": {"type": "string"}}},
                    },
                    **_errors(404),
                },
            }
        },
        "/l/{token}": {
            "get": {
                "summary": "A digest's one-click link (save, not interested, unsubscribe): a "
                "page asking to confirm",
                "security": [],
                "parameters": [_path_param("token", "^[A-Za-z0-9_.-]{20,2000}$")],
                "responses": {"200": _HTML_PAGE, **_page_errors(400, 404, 410)},
            },
            "post": {
                "summary": "Do what a one-click link says (RFC 8058 one-click unsubscribe too)",
                "security": [],
                "parameters": [_path_param("token", "^[A-Za-z0-9_.-]{20,2000}$")],
                "responses": {"200": _HTML_PAGE, **_page_errors(400, 404, 410)},
            },
        },
    }


def _path_param(name: str, pattern: str) -> dict[str, Any]:
    schema = {"type": "string", "pattern": pattern}
    return {"name": name, "in": "path", "required": True, "schema": schema}


_HTML_PAGE = {"description": "A page", "content": {"text/html": {"schema": {"type": "string"}}}}


def _page_errors(*statuses: int) -> dict[str, Any]:
    """Errors of a route a person opens: a page for a browser, the error shape otherwise."""
    errors = _errors(*statuses)
    for response in errors.values():
        response["content"]["text/html"] = {"schema": {"type": "string"}}
    return errors


def _library_paths() -> dict[str, Any]:
    """Importing the caller's reference library (server/library/)."""
    rejected = {
        "type": "object",
        "required": ["index", "code", "message"],
        "properties": {
            "index": {"type": "integer", "description": "the entry's position, from 0"},
            "line": {"type": "integer", "description": "the line it starts on, from 1"},
            "code": {"type": "string"},
            "message": {"type": "string"},
        },
    }
    return {
        "/api/v1/library": {
            "post": {
                "summary": "Import your library (BibTeX, RIS, CSL-JSON, or a list of arXiv "
                "ids, DOIs and URLs) as saved papers; importing again adds nothing",
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file"],
                                "properties": {
                                    "file": {"type": "string", "format": "binary"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["imported", "already", "papers", "format", "rejected"],
                            "properties": {
                                "imported": {"type": "integer", "minimum": 0},
                                "already": {"type": "integer", "minimum": 0},
                                "papers": {"type": "integer", "minimum": 1},
                                "format": {
                                    "type": "string",
                                    "enum": ["bibtex", "ris", "csl-json", "list"],
                                },
                                "rejected": {"type": "array", "items": rejected},
                            },
                        },
                        "What was imported, and the entries that were not",
                    ),
                    **_errors(400, 413, 415, *_AUTH_ERRORS),
                },
            }
        }
    }


def openapi_document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "NextPaper API",
            "version": "1",
            "description": "Events in, personalised paper recommendations out.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _SCHEMAS,
        },
        "paths": {
            "/api/v1/health": {
                "get": {
                    "summary": "Liveness and the model being served",
                    "security": [],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["ok", "model"],
                                "properties": {
                                    "ok": {"type": "boolean"},
                                    "model": {"$ref": "#/components/schemas/ModelSummary"},
                                },
                            },
                            "Health",
                        )
                    },
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": _json({"type": "object"}, "OpenAPI document")},
                }
            },
            "/api/v1/events": {
                "post": {
                    "summary": "Report events (idempotent on each event's id)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["events"],
                                    "properties": {
                                        "events": {
                                            "type": "array",
                                            "maxItems": 1000,
                                            "items": {"$ref": "#/components/schemas/Event"},
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["accepted", "duplicates", "rejected"],
                                "properties": {
                                    "accepted": {"type": "integer"},
                                    "duplicates": {"type": "integer"},
                                    "rejected": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "required": ["index", "code", "message"],
                                            "properties": {
                                                "index": {"type": "integer"},
                                                "code": {"type": "string"},
                                                "message": {"type": "string"},
                                            },
                                        },
                                    },
                                },
                            },
                            "What was stored",
                        ),
                        **_errors(400, 413, 415, *_AUTH_ERRORS),
                    },
                }
            },
            "/api/v1/recommendations": {
                "get": {
                    "summary": "Your recommendations",
                    "parameters": [_int_param("n", 20, 1, 100), _SINCE_PARAM],
                    "responses": {
                        "200": _json(_ITEMS, "Recommendations"),
                        **_errors(400, *_AUTH_ERRORS),
                    },
                }
            },
            "/api/v1/users/{user_id}/recommendations": {
                "get": {
                    "summary": "Admin: a user's recommendations",
                    "parameters": [
                        {
                            "name": "user_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        _int_param("n", 20, 1, 100),
                        _SINCE_PARAM,
                    ],
                    "responses": {
                        "200": _json(_ITEMS, "Recommendations"),
                        **_errors(400, 403, 404, *_AUTH_ERRORS),
                    },
                }
            },
            "/api/v1/papers/{paper_id}": {
                "get": {
                    "summary": "A stored paper",
                    "parameters": [_PAPER_ID_PARAM],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Paper"}, "The paper"),
                        **_errors(400, 404, *_AUTH_ERRORS),
                    },
                }
            },
            "/api/v1/papers/{paper_id}/similar": {
                "get": {
                    "summary": "Papers related to one paper",
                    "parameters": [_PAPER_ID_PARAM, _int_param("n", 10, 1, 100)],
                    "responses": {
                        "200": _json(_ITEMS, "Related papers"),
                        **_errors(400, 404, *_AUTH_ERRORS),
                    },
                }
            },
            "/api/v1/saved": {
                "get": {
                    "summary": "Your saved papers, newest save first",
                    "parameters": _PAGE_PARAMS,
                    "responses": {
                        "200": _json(
                            _page(
                                "items",
                                {
                                    "type": "object",
                                    "required": ["paper", "saved_at"],
                                    "properties": {
                                        "paper": {"$ref": "#/components/schemas/Paper"},
                                        "saved_at": {"type": "string"},
                                    },
                                },
                            ),
                            "Saved papers",
                        ),
                        **_errors(400, *_AUTH_ERRORS),
                    },
                }
            },
            "/api/v1/history": {
                "get": {
                    "summary": "Your events, newest first",
                    "parameters": _PAGE_PARAMS,
                    "responses": {
                        "200": _json(
                            _page("events", {"$ref": "#/components/schemas/StoredEvent"}),
                            "History",
                        ),
                        **_errors(400, *_AUTH_ERRORS),
                    },
                },
                "delete": {
                    "summary": "Erase all your events",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["deleted"],
                                "properties": {"deleted": {"type": "integer"}},
                            },
                            "How many events were erased",
                        ),
                        **_errors(*_AUTH_ERRORS),
                    },
                },
            },
            "/api/v1/export": {
                "get": {
                    "summary": "Everything stored about you",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["user", "events", "papers"],
                                "properties": {
                                    "user": {"type": "object"},
                                    "events": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/StoredEvent"},
                                    },
                                    "papers": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Paper"},
                                    },
                                },
                            },
                            "Export",
                        ),
                        **_errors(*_AUTH_ERRORS),
                    },
                }
            },
            "/api/v1/admin/model": {
                "get": {
                    "summary": "Admin: the served model, the blend its training chose and why",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["model", "training"],
                                "properties": {
                                    "model": {
                                        "type": ["object", "null"],
                                        "description": "release facts: version, trained_at, "
                                        "users, papers, fit_seconds, tuning (weights, "
                                        "validation recall@20 of the blend and of each "
                                        "component alone)",
                                    },
                                    "training": {"type": "object"},
                                },
                            },
                            "The served model",
                        ),
                        **_errors(403, *_AUTH_ERRORS),
                    },
                }
            },
            "/api/v1/admin/train": {
                "post": {
                    "summary": "Admin: start a retrain now",
                    "responses": {
                        "202": _json(
                            {
                                "type": "object",
                                "required": ["state"],
                                "properties": {
                                    "state": {"type": "string", "enum": ["idle", "running"]},
                                    "started_at": {"type": ["string", "null"]},
                                    "queued": {"type": "boolean"},
                                    "last": {"type": ["object", "null"]},
                                    "model": {"$ref": "#/components/schemas/ModelSummary"},
                                },
                            },
                            "Training status",
                        ),
                        **_errors(403, *_AUTH_ERRORS),
                    },
                }
            },
            **_digest_paths(),
            **_library_paths(),
        },
    }
