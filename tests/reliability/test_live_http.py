"""Bad input against a REAL ``nextpaper serve`` (waitress) over raw HTTP: malformed requests,
oversize and chunked bodies, hostile text. Every refusal is a 4xx in the error shape, and the
server stays alive and serving after each."""

from __future__ import annotations

import json

import pytest

from server.http.security import SECURITY_HEADERS
from tests.conftest import LiveServer, run_cli

from .support import add_user, check_error_body, event, parse_raw, raw_exchange, request

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    home = tmp_path_factory.mktemp("live-http")
    token = add_user(home, "alice")
    server = LiveServer(home, "--no-retrain", "--threads", "4").start()
    try:
        yield server, token
    finally:
        server.stop()


@pytest.fixture
def alive(live):
    """The server, checked to be alive and serving after the test."""
    server, token = live
    yield server, token
    assert server.process.poll() is None, server.read_log()[-2000:]
    status, _, body = request(server.port, "GET", "/api/v1/health")
    assert status == 200 and json.loads(body)["ok"] is True
    status, _, _ = request(server.port, "GET", "/api/v1/history", token=token)
    assert status == 200


def _check_error(status: int, headers: dict[str, str], body: bytes, expected: int, code=None):
    assert status == expected, (status, body[:300])
    assert headers["content-type"].startswith("application/json"), headers
    error = check_error_body(json.loads(body), expected)
    if code is not None:
        assert error["code"] == code, error
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name.lower()) == value, (name, headers)
    return error


def test_hostile_text_round_trips_verbatim_over_http(alive):
    server, token = alive
    hostile = {
        "id": "seed:live-hostile",
        "title": "\u202e\u200f'; DROP TABLE events;-- <img src=x onerror=alert(1)>" + "t" * 100_000,
        "abstract": 'javascript:alert(1) <svg onload=alert(1)> \\"}]} \x01 \U0001f600',
        "authors": ["\u05d0\u05d1 \u202b", "<b>bold</b>", "Robert'); DROP TABLE users;--"],
        "url": "https://example.org/p?q='%22><script>",
    }
    status, _, body = request(
        server.port, "POST", "/api/v1/events", token=token, body={"events": [event("h", hostile)]}
    )
    assert status == 200 and json.loads(body)["accepted"] == 1
    status, headers, body = request(
        server.port, "GET", "/api/v1/papers/seed%3Alive-hostile", token=token
    )
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff"
    paper = json.loads(body)
    for name in ("title", "abstract", "authors"):
        assert paper[name] == hostile[name]
    assert paper["url"].startswith("https://example.org/p?q=")


@pytest.mark.parametrize(
    ("name", "raw", "content_type", "status", "code"),
    [
        (
            "oversize",
            b'{"events": [], "pad": "' + b"x" * MIB + b'"}',
            "application/json",
            413,
            "body_too_large",
        ),
        (
            "deep nesting",
            b"[" * 600_000 + b"]" * 600_000,
            "application/json",
            413,
            "body_too_large",
        ),
        (
            "deep nesting <1 MiB",
            b'{"events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            "application/json",
            400,
            "invalid_json",
        ),
        (
            "invalid utf-8",
            b'{"events": [{"id": "\xff\xfe\xc0\x80"}]}',
            "application/json",
            400,
            "invalid_json",
        ),
        ("overlong utf-8", b'{"events": ["\xc0\xaf"]}', "application/json", 400, "invalid_json"),
        ("not json", b"events=1", "application/json", 400, "invalid_json"),
        ("empty body", b"", "application/json", 400, "invalid_json"),
        ("json as text", b'{"events": []}', "text/plain", 415, "unsupported_media_type"),
        (
            "form post",
            b"events=1",
            "application/x-www-form-urlencoded",
            415,
            "unsupported_media_type",
        ),
        ("not a batch", b'{"event": []}', "application/json", 400, "invalid_body"),
        ("huge number", b'{"events": [' + b"9" * 5000 + b"]}", "application/json", 400, None),
        ("nan", b'{"events": [NaN, Infinity]}', "application/json", 400, "invalid_event"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 40 else None,
)
def test_bad_bodies_are_4xx_in_the_error_shape(alive, name, raw, content_type, status, code):
    server, token = alive
    if len(raw) > MIB:
        # Refused when announced: the server answers and closes without reading the body, so
        # sending it all would race the answer against a connection reset.
        _check_error(*_announce(server.port, len(raw), token), status, code)
        return
    got, headers, body = request(
        server.port,
        "POST",
        "/api/v1/events",
        token=token,
        raw=raw,
        headers={"Content-Type": content_type},
    )
    if name == "huge number":  # Python refuses >4300-digit ints: any 4xx in the shape
        assert 400 <= got < 500
        _check_error(got, headers, body, got)
        return
    _check_error(got, headers, body, status, code)


def test_a_1001_event_batch_is_refused_and_nothing_is_stored(alive):
    server, token = alive
    before = json.loads(request(server.port, "GET", "/api/v1/history", token=token)[2])["total"]
    batch = [event(f"big{i}", {"id": f"seed:big{i}"}) for i in range(1001)]
    _check_error(
        *request(server.port, "POST", "/api/v1/events", token=token, body={"events": batch}),
        413,
        "batch_too_large",
    )
    status, _, body = request(
        server.port, "POST", "/api/v1/events", token=token, body={"events": batch[:1000]}
    )
    assert status == 200 and json.loads(body)["accepted"] == 1000
    after = json.loads(request(server.port, "GET", "/api/v1/history", token=token)[2])["total"]
    assert after == before + 1000


def test_bad_events_are_rejected_one_by_one_over_http(alive):
    """A batch with a good event is answered 200, each bad event listed with its code; a batch
    of bad events only is a 400 in the error shape, one per kind of bad input."""
    server, token = alive
    batch = [
        {**event("ts1", {"id": "seed:b"}), "ts": "2026-13-01T00:00:00Z"},
        {**event("ts2", {"id": "seed:b"}), "ts": "1969-07-20T20:17:00Z"},
        {**event("ts3", {"id": "seed:b"}), "ts": "3000-01-01T00:00:00Z"},
        {**event("ts4", {"id": "seed:b"}), "ts": 1700000000},
        event("neg", {"id": "seed:b"}, "read", dwell_ms=-1),
        event("float", {"id": "seed:b"}, "read", dwell_ms=1.5),
        event("js", {"url": "javascript:alert(document.cookie)"}),
        event("js2", {"url": " JaVaScRiPt:alert(1)"}),
        event("data", {"url": "data:text/html,<script>alert(1)</script>"}),
        event("file", {"url": "file:///etc/passwd"}),
        event("jsid", {"id": "url:javascript:alert(1)"}),
        event("ok", {"id": "seed:b"}, "read", dwell_ms=0),
    ]
    status, _, body = request(
        server.port, "POST", "/api/v1/events", token=token, body={"events": batch}
    )
    assert status == 200
    result = json.loads(body)
    assert result["accepted"] == 1
    codes = {batch[r["index"]]["id"]: r["code"] for r in result["rejected"]}
    assert codes == {
        "ts1": "invalid_timestamp",
        "ts2": "invalid_timestamp",
        "ts3": "invalid_timestamp",
        "ts4": "invalid_timestamp",
        "neg": "invalid_dwell",
        "float": "invalid_dwell",
        "js": "invalid_paper",
        "js2": "invalid_paper",
        "data": "invalid_paper",
        "file": "invalid_paper",
        "jsid": "invalid_paper",
    }
    for bad in batch[:-1]:  # alone, each bad event is a 4xx in the error shape
        status, headers, body = request(
            server.port, "POST", "/api/v1/events", token=token, body={"events": [bad]}
        )
        _check_error(status, headers, body, 400, codes[bad["id"]])


CHUNKED_BIG = (
    b"".join(
        b"%x\r\n%s\r\n" % (len(part), part)
        for part in [b'{"events": [], "pad": "'] + [b"x" * 65536] * 17 + [b'"}']
    )
    + b"0\r\n\r\n"
)


def _post(headers: bytes, body: bytes = b"", token: str = "") -> bytes:
    auth = f"Authorization: Bearer {token}\r\n".encode() if token else b""
    return (
        b"POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        + auth
        + b"Content-Type: application/json\r\n"
        + headers
        + b"\r\n"
        + body
    )


MALFORMED = {
    "garbage request line": (lambda t: b"GARBAGE\r\n\r\n", 400),
    "binary request line": (lambda t: b"\x00\xff\xfe\x01 / HTTP/1.1\r\n\r\n", 400),
    "bad method chars": (lambda t: b"G(E)T /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "unknown method": (
        lambda t: b"BREW /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        405,
    ),
    "non-numeric content-length": (lambda t: _post(b"Content-Length: abc\r\n", b"{}", t), 400),
    "negative content-length": (lambda t: _post(b"Content-Length: -1\r\n", b"{}", t), 400),
    "two content-lengths": (
        lambda t: _post(b"Content-Length: 2\r\nContent-Length: 3\r\n", b"{}", t),
        400,
    ),
    "chunked over 1 MiB": (lambda t: _post(b"Transfer-Encoding: chunked\r\n", CHUNKED_BIG, t), 413),
    "bad chunk size": (
        lambda t: _post(b"Transfer-Encoding: chunked\r\n", b"ZZ\r\nab\r\n0\r\n\r\n", t),
        400,
    ),
    "unknown transfer-encoding": (lambda t: _post(b"Transfer-Encoding: gzip\r\n", b"{}", t), 501),
    "very long url": (
        lambda t: (
            b"GET /api/v1/" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ),
        404,
    ),
    "url over the header limit": (
        lambda t: b"GET /" + b"a" * 300_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        431,
    ),
    "huge header": (
        lambda t: (
            b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 300_000 + b"\r\n\r\n"
        ),
        431,
    ),
    "odd query": (
        lambda t: (
            b"GET /api/v1/recommendations?n=%ZZ&&&=&;;since=%00%ff HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {t}\r\n".encode()
            + b"Connection: close\r\n\r\n"
        ),
        400,
    ),
    "many query params": (
        lambda t: (
            b"GET /api/v1/history?"
            + b"&".join(b"p%d=%d" % (i, i) for i in range(5000))
            + b"&limit=0 HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {t}\r\n".encode()
            + b"Connection: close\r\n\r\n"
        ),
        400,
    ),
    "percent-encoded nul in path": (
        lambda t: (
            b"GET /api/v1/papers/seed%3A%00%ff HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {t}\r\n".encode()
            + b"Connection: close\r\n\r\n"
        ),
        400,
    ),
    "dot-dot path": (
        lambda t: b"GET /api/v1/../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        404,
    ),
    "absolute-form url": (
        lambda t: (
            b"GET http://evil.example/api/v1/nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ),
        404,
    ),
    "bad utf-8 in header": (
        lambda t: (
            b"GET /api/v1/history HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer \xff\xfe\r\nConnection: close\r\n\r\n"
        ),
        401,
    ),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_requests_get_the_error_shape_and_the_server_lives(alive, name):
    server, token = alive
    build, expected = MALFORMED[name]
    answer = raw_exchange(server.port, build(token))
    assert answer, "no answer at all"
    status, headers, body = parse_raw(answer)
    _check_error(status, headers, body, expected)


def test_an_incomplete_body_does_not_block_other_clients(alive):
    server, token = alive
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as stalled:
        stalled.sendall(_post(b"Content-Length: 100000\r\n", b'{"events": [', token))
        # While that request waits for the rest of its body, others are served.
        for _ in range(5):
            assert request(server.port, "GET", "/api/v1/health", timeout=5)[0] == 200


def _announce(port: int, length: int, token: str) -> tuple[int, dict[str, str], bytes]:
    """Send only the head of a POST announcing ``length`` bytes, and read the answer."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(_post(b"Content-Length: %d\r\n" % length, b"", token))
        answer = b""
        try:
            while chunk := sock.recv(65536):  # the server closes after refusing
                answer += chunk
        except TimeoutError:
            pass
    assert answer, f"the server waited for {length} bytes instead of refusing"
    return parse_raw(answer)


def test_a_declared_oversize_body_is_refused_before_it_is_uploaded(alive):
    server, token = alive
    _check_error(*_announce(server.port, 500 * MIB, token), 413)


def test_the_server_log_never_holds_a_token(live):
    server, token = live
    request(server.port, "GET", f"/api/v1/history?token={token}", token=token)
    request(server.port, "GET", "/api/v1/history", token=token[:-1] + "x")
    log = server.read_log()
    assert token not in log and token[3:20] not in log


def test_revocation_over_http_takes_effect_at_once(live):
    server, _ = live
    token = add_user(server.home, "revokee")
    assert request(server.port, "GET", "/api/v1/history", token=token)[0] == 200
    run_cli(server.home, "users", "revoke", "revokee")
    _check_error(*request(server.port, "GET", "/api/v1/history", token=token), 401, "invalid_token")
