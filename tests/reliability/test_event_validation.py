"""Property-based checks of event validation (``server.store.validation.clean_event``) and of the
events route: any JSON at all is either cleanly accepted or rejected with a stable code, never a
crash, and whatever is accepted comes back unchanged."""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.store import storage
from server.store.db import open_database
from server.store.validation import Invalid, clean_event, clean_timestamp

from .support import assert_error, event

SETTINGS = settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Texts with lone surrogates (legal in JSON as "\\ud800", not storable) and control characters.
surrogated = st.tuples(
    st.text(max_size=10),
    st.sampled_from(["\ud800", "\udfff", "\x00", "\u202e"]),
    st.text(max_size=10),
).map("".join)
wild_text = st.text(max_size=30) | surrogated
# Any JSON value.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | wild_text
)
any_json = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

id_texts = wild_text | st.sampled_from(
    [
        "e1",
        "",
        " ",
        "\ud800",
        "x" * 200,
        "x" * 201,
        "a\x00b",
        "\u202eevil",
        "'; DROP TABLE events;--",
    ]
)
timestamps = (
    st.sampled_from(
        [
            "2026-11-20T10:00:00Z",
            "2026-11-20T10:00:00+05:30",
            "2026-11-20 10:00:00",
            "2026-11-20",
            "1989-12-31T23:59:59Z",
            "9999-12-31T23:59:59-01:00",
            "0001-01-01T00:00:00+01:00",
            "2999-01-01T00:00:00Z",
            "yesterday",
            "",
            "\ud800",
        ]
    )
    | st.datetimes().map(lambda d: d.isoformat())
    | any_json
)
paper_ids = (
    st.sampled_from(
        [
            "arxiv:2401.00001",
            "arxiv:2401.00001v2",
            "arxiv:hep-th/9901001",
            "doi:10.1000/XYZ",
            "seed:p1",
            "openreview:abc123",
            "s2:" + "a" * 40,
            "acl:2023.acl-long.1",
            "url:https://Example.org/a?b=1#frag",
            "javascript:alert(1)",
            "nothing",
            "seed:\ud800",
            "seed:a b",
        ]
    )
    | wild_text
    | surrogated.map(lambda t: "seed:" + t)
)
urls = (
    st.sampled_from(
        [
            "https://arxiv.org/abs/2401.00001v3",
            "https://arxiv.org/pdf/2401.00001.pdf",
            "http://EXAMPLE.org/paper?id=1#x",
            "javascript:alert(1)",
            "data:text/html,<script>",
            "ftp://x.org/a",
            "https://",
            "https://[::1",
            "https://x.org:99999/",
            "https://\ud800.org/",
            "//x.org/a",
        ]
    )
    | wild_text
    | surrogated.map(lambda t: "https://example.org/" + t)
)
texts = wild_text | st.sampled_from(
    ["'; DROP TABLE papers; --", "<img src=x onerror=alert(1)>", "\u202e\u200fRTL", "\ud800"]
)
papers = st.fixed_dictionaries(
    {},
    optional={
        "id": paper_ids | any_json,
        "url": urls | any_json,
        "title": texts | any_json,
        "abstract": texts,
        "authors": st.lists(texts, max_size=3) | any_json,
        "doi": st.sampled_from(["10.1000/abc", "not a doi", "\ud800"]) | any_json,
        "arxiv_id": st.sampled_from(["2401.00001", "hep-th/9901001", "junk"]) | any_json,
        "published": st.sampled_from(["2024", "2024-02", "2024-02-30", "2024-02-01", "x"])
        | any_json,
    },
)
events = (
    st.fixed_dictionaries(
        {},
        optional={
            "id": id_texts | any_json,
            "type": st.sampled_from(["open", "read", "like", "dismiss", "save", "OPEN", ""])
            | any_json,
            "ts": timestamps,
            "paper": papers | any_json,
            "dwell_ms": st.integers(min_value=-10, max_value=8 * 24 * 3600 * 1000)
            | st.sampled_from([True, 1.5, "100", None, 2**64]),
        },
    )
    | any_json
)

# Events that are mostly valid (the wild strategy above almost never builds one, so without these
# the accepted branches of the properties below would hardly run): a good id, type, timestamp and
# paper, with only the free text (title, abstract, authors) left wild but for NUL, which no
# stored text holds (tests/server/test_nul.py).
_free_text = st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))
_paper_text = {
    "title": st.text(_free_text, max_size=30),
    "abstract": st.text(_free_text, max_size=30),
    "authors": st.lists(st.text(_free_text, max_size=10), max_size=3),
    "published": st.sampled_from(["2024-02-01", "2019-12-31"]),
}
valid_events = st.fixed_dictionaries(
    {
        "id": st.text(string.ascii_letters + string.digits + "-_:.", min_size=1, max_size=40),
        "type": st.sampled_from(["open", "read", "like", "dismiss", "save"]),
        "ts": st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2026, 1, 1)).map(
            lambda d: d.replace(tzinfo=UTC).isoformat()
        ),
        "paper": st.fixed_dictionaries(
            {"id": st.sampled_from(["arxiv:2401.00001", "doi:10.1000/xyz", "seed:p1"])},
            optional=_paper_text,
        )
        | st.fixed_dictionaries(
            {"url": st.sampled_from(["https://arxiv.org/abs/2402.00002v1"])},
            optional=_paper_text,
        ),
    },
    optional={"dwell_ms": st.integers(min_value=0, max_value=3_600_000)},
)
some_valid_events = valid_events | events


@SETTINGS
@given(raw=valid_events)
def test_the_valid_strategy_builds_valid_events(raw):
    """The properties below rely on it to reach their accepted branches."""
    clean_event(raw)


def test_a_hand_built_event_round_trips_and_is_stored_unchanged(module_db):
    raw = {
        "id": "hand-1",
        "type": "read",
        "ts": "2026-11-20T10:00:00Z",
        "paper": {"id": "arxiv:2401.00001v2", "title": "Tést", "authors": ["A", "B"]},
        "dwell_ms": 61_000,
    }
    cleaned_event, cleaned_paper = clean_event(raw)
    assert cleaned_paper["paper_id"] == "arxiv:2401.00001"
    assert clean_event(_reencode(cleaned_event, cleaned_paper)) == (cleaned_event, cleaned_paper)
    storage.delete_history(module_db, "prop")
    assert storage.record_events(module_db, "prop", [cleaned_event], [cleaned_paper]) == 1
    [stored] = storage.list_events(module_db, "prop", limit=10)
    assert (stored["id"], stored["type"], stored["paper_id"], stored["dwell_ms"]) == (
        "hand-1",
        "read",
        "arxiv:2401.00001",
        61_000,
    )
    assert storage.get_paper(module_db, "arxiv:2401.00001")["title"] == "Tést"


def _reencode(cleaned_event: dict, cleaned_paper: dict) -> dict:
    """An accepted event as a client would send it again (from the stored, clean form)."""
    paper = {"id": cleaned_paper["paper_id"]}
    for name in ("title", "abstract", "authors", "url", "doi", "arxiv_id", "published"):
        if cleaned_paper.get(name) is not None:
            paper[name] = cleaned_paper[name]
    raw = {
        "id": cleaned_event["event_id"],
        "type": cleaned_event["type"],
        "ts": cleaned_event["ts"],
        "paper": paper,
    }
    if cleaned_event["dwell_ms"] is not None:
        raw["dwell_ms"] = cleaned_event["dwell_ms"]
    return raw


@SETTINGS
@given(raw=some_valid_events)
def test_clean_event_raises_only_invalid_and_accepted_events_round_trip(raw):
    try:
        cleaned_event, cleaned_paper = clean_event(raw)
    except Invalid as error:
        assert error.code and error.code.replace("_", "").isalpha()
        assert isinstance(error.message, str) and error.message
        json.dumps(error.message).encode("utf-8")  # the message can always be sent
        return
    # Accepted: every text is storable (UTF-8 encodable) and cleaning is a fixed point.
    json.dumps([cleaned_event, cleaned_paper], ensure_ascii=False).encode("utf-8")
    assert cleaned_event["paper_id"] == cleaned_paper["paper_id"]
    assert clean_event(_reencode(cleaned_event, cleaned_paper)) == (cleaned_event, cleaned_paper)
    if isinstance(raw.get("paper"), dict):
        for name in ("title", "abstract", "doi", "arxiv_id"):
            if raw["paper"].get(name) is not None:
                assert cleaned_paper[name] == raw["paper"][name]  # text is kept verbatim


@SETTINGS
@given(raw=events)
def test_the_row_check_answers_as_the_dict_check(raw):
    """The API checks events straight into storage's rows (``clean_event_row``): the same
    refusals with the same messages, and for accepted events the rows of ``clean_event``'s
    dicts."""
    from server.store.validation import clean_event_row

    try:
        event, paper = clean_event(raw)
        expected = storage.event_row(event), storage.paper_row(paper)
    except Invalid as error:
        expected = (error.code, error.message)
    try:
        answer = clean_event_row(raw)
    except Invalid as error:
        answer = (error.code, error.message)
    assert answer == expected


@pytest.fixture(scope="module")
def module_db(tmp_path_factory):
    database = open_database(tmp_path_factory.mktemp("prop") / "nextpaper.db")
    storage.create_user(database, "prop")
    database.execute(
        "PRAGMA synchronous = OFF"
    )  # many tiny commits; durability is tested elsewhere
    yield database
    database.close()


@settings(SETTINGS, max_examples=150)
@given(raw=valid_events | events.filter(lambda r: isinstance(r, dict) and "paper" in r))
def test_accepted_events_are_stored_and_read_back_unchanged(module_db, raw):
    try:
        cleaned_event, cleaned_paper = clean_event(raw)
    except Invalid:
        return
    storage.delete_history(module_db, "prop")
    assert storage.record_events(module_db, "prop", [cleaned_event], [cleaned_paper]) == 1
    [stored] = storage.list_events(module_db, "prop", limit=10)
    assert stored["id"] == cleaned_event["event_id"]
    assert stored["type"] == cleaned_event["type"]
    assert stored["ts"] == cleaned_event["ts"]
    assert stored["paper_id"] == cleaned_paper["paper_id"]
    assert stored.get("dwell_ms") == cleaned_event["dwell_ms"]
    paper = storage.get_paper(module_db, cleaned_paper["paper_id"])
    assert paper is not None
    if cleaned_paper["title"]:
        # A later upsert may only replace a title with a non-empty one; ours is the newest.
        assert paper["title"] == cleaned_paper["title"]


@pytest.fixture(scope="module")
def events_client(tmp_path_factory):
    from server import create_app
    from server.http import auth

    home = tmp_path_factory.mktemp("prophttp")
    app = create_app({"HOME": str(home), "TESTING": True, "RATE_LIMIT_PER_SECOND": 0})
    database = open_database(app.config["DATABASE"])
    storage.create_user(database, "fuzz")
    headers = {"Authorization": f"Bearer {auth.issue_token(database, 'fuzz')}"}
    database.close()
    return app.test_client(), headers


@settings(SETTINGS, max_examples=150)
@given(batch=st.lists(some_valid_events, max_size=5), wrap=st.booleans())
def test_the_events_route_answers_any_json_without_a_server_error(events_client, batch, wrap):
    client, headers = events_client
    body = {"events": batch} if wrap else batch
    response = client.post(
        "/api/v1/events",
        data=json.dumps(body),
        headers={**headers, "Content-Type": "application/json"},
    )
    if not wrap:
        assert_error(response, 400, "invalid_body")
        return
    if response.status_code == 400:  # every event was rejected: the error shape
        assert_error(response, 400)
        assert batch
        return
    assert response.status_code == 200, response.get_data(as_text=True)
    result = response.get_json()
    assert result["accepted"] + result["duplicates"] + len(result["rejected"]) == len(batch)
    assert [r["index"] for r in result["rejected"]] == sorted(
        r["index"] for r in result["rejected"]
    )


@pytest.mark.parametrize(
    "text",
    ["\ud800", "a\udfffb", "\udbff\udc00"[0]],
)
@pytest.mark.parametrize("where", ["id", "paper.id", "paper.url", "paper.title", "paper.authors"])
def test_lone_surrogates_are_rejected_not_a_server_error(client, make_user, text, where):
    """Regression: JSON ``"\\ud800"`` decodes to a lone surrogate that SQLite cannot store; it
    used to reach the database and answer 500."""
    alice = make_user("alice")
    raw = event("e1", {"id": "seed:a", "url": "https://example.org/a"})
    field = where.split(".")[-1]
    target = raw["paper"] if where.startswith("paper.") else raw
    target[field] = (
        [text]
        if field == "authors"
        else (
            f"seed:{text}"
            if field == "id" and target is not raw
            else f"https://example.org/{text}"
            if field == "url"
            else text
        )
    )
    response = client.post(
        "/api/v1/events",
        data=json.dumps({"events": [raw]}),
        headers={**alice, "Content-Type": "application/json"},
    )
    error = assert_error(response, 400)
    assert error["code"] in ("invalid_event_id", "invalid_paper")
    assert client.get("/api/v1/history", headers=alice).get_json()["total"] == 0


def test_printable_event_ids_round_trip_through_the_api(client, make_user):
    alice = make_user("alice")
    ids = [string.printable.strip(), "ünïcödé-✓", "\u202eevil", "a\x01b", "x" * 200]
    batch = [event(i, {"id": f"seed:p{n}"}) for n, i in enumerate(ids)]
    batch.append(event("a\x00b", {"id": "seed:p9"}))  # a NUL: refused, the others kept
    response = client.post("/api/v1/events", json={"events": batch}, headers=alice)
    assert response.get_json() == {
        "accepted": len(ids),
        "duplicates": 0,
        "rejected": [
            {"index": len(ids), "code": "invalid_event_id", "message": "id holds a NUL character"}
        ],
    }
    export = client.get("/api/v1/export", headers=alice).get_json()
    assert [e["id"] for e in export["events"]] == ids


@SETTINGS
@given(
    st.datetimes(min_value=datetime(1985, 1, 1), max_value=datetime(2100, 1, 1)),
    st.integers(0, 6),
)
def test_the_utc_fast_path_agrees_with_the_general_parser(moment, digits):
    """``...Z`` timestamps skip the timezone arithmetic; the answer (or the refusal) must be the
    one the general parser gives (``now=`` forces that path)."""
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + f"{moment.microsecond:06d}"[:digits]
    text += "Z"
    now = datetime.now(UTC)

    def outcome(**kwargs):
        try:
            return clean_timestamp(text, **kwargs)
        except Invalid as error:
            return error.code

    assert outcome() == outcome(now=now)


@given(
    paper=st.fixed_dictionaries(
        {},
        optional={
            "id": st.sampled_from(["arxiv:2401.00001v2", "2401.00001", "doi:10.1/X", "x", ""])
            | wild_text,
            "url": st.sampled_from(
                ["https://arxiv.org/pdf/2401.00001v3", "HTTP://Example.org/a#b", "javascript:x"]
            )
            | wild_text
            | st.integers(),
            "doi": st.sampled_from(["10.1000/ABC", "nope"]) | st.none(),
        },
    )
)
@SETTINGS
def test_a_paper_checked_again_gets_the_same_answer(paper):
    """Identities are remembered between events: a second check of the same paper (cached)
    answers exactly as the first did, and a refused paper is refused again with its message."""
    from server.ids import identify
    from server.store.validation import clean_paper

    answers = []
    for _ in range(2):
        try:
            cleaned = clean_paper(paper)
            answers.append((cleaned["paper_id"], cleaned["url"]))
        except Invalid as error:
            assert error.code == "invalid_paper"
            answers.append((Invalid, error.message))
    assert answers[0] == answers[1]
    if answers[0][0] is not Invalid:
        assert answers[0] == identify(paper)
