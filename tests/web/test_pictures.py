"""The pictures: a reader's weeks and topics on the History page, the catalog's growth and the
events per day on the Admin page. Each is an SVG image of its own, drawn from the reader's (or
the deployment's) real data, with no script or remote resource in it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from lxml import etree

from server.jobs import training
from server.model_versions import ModelStore
from server.store import storage
from server.web import pictures
from tests.conftest import _TOPICS
from tests.web.test_admin_page import reading

pytestmark = pytest.mark.both_backends

SVG = {"s": "http://www.w3.org/2000/svg"}


def drawn(response) -> tuple[list[str], list[list[str]]]:
    """The legend's names and each series' values as the picture labels them."""
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "image/svg+xml"
    root = etree.fromstring(response.get_data())
    names = [t.text for t in root.iterfind('.//s:g[@class="legends"]//s:text', SVG)]
    series: dict[str, list[str]] = {}  # bars label their values in the plot, lines in its overlay
    for group in root.iterfind(".//s:g[@class]/s:g[@class]", SVG):
        kind = group.get("class")
        values = [d.text for d in group.iterfind('.//s:desc[@class="value"]', SVG)]
        if kind.startswith("series serie-") and values and kind not in series:
            series[kind] = values
    return names, list(series.values())


def ts(day: date, hour: int = 10) -> str:
    return f"{day.isoformat()}T{hour:02d}:00:00Z"


def post(client, token: str, events: list[dict]) -> None:
    body = {"events": [{"id": f"e{i}", **e} for i, e in enumerate(events)]}
    response = client.post(
        "/api/v1/events", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.get_json()["accepted"] == len(events), response.get_json()


@pytest.fixture
def today() -> date:
    return datetime.now(UTC).date()


def test_reading_by_week_counts_the_readers_papers_and_hours_in_each_week(
    client, web, catalog, user_token, monkeypatch
):
    today = date(2026, 6, 10)  # a Wednesday: weeks start on the Monday before
    monkeypatch.setattr(pictures, "_today", lambda: today)
    monday = today - timedelta(days=today.weekday())
    last_week = monday - timedelta(days=7)
    alice = user_token("alice")
    post(
        client,
        alice,
        [
            # this week: two papers, one opened twice and read for 90 minutes in all
            {"type": "open", "ts": ts(monday), "paper": {"id": "seed:p1"}},
            {"type": "open", "ts": ts(today), "paper": {"id": "seed:p1"}},
            {"type": "read", "ts": ts(today), "paper": {"id": "seed:p1"}, "dwell_ms": 3_600_000},
            {"type": "save", "ts": ts(monday), "paper": {"id": "seed:p2"}},
            {"type": "read", "ts": ts(monday), "paper": {"id": "seed:p2"}, "dwell_ms": 1_800_000},
            # last week: one paper; a dismissal is not reading
            {"type": "open", "ts": ts(last_week), "paper": {"id": "seed:p3"}},
            {"type": "dismiss", "ts": ts(last_week), "paper": {"id": "seed:p4"}},
            # more than 52 weeks ago: outside the picture
            {"type": "open", "ts": ts(monday - timedelta(weeks=52)), "paper": {"id": "seed:p5"}},
        ],
    )
    post(client, user_token("bob"), [{"type": "open", "ts": ts(today), "paper": {"id": "seed:p9"}}])
    web.sign_in(alice)
    names, (papers, hours) = drawn(web.get("/history/reading.svg"))
    assert names == ["Papers read", "Hours of reading"]
    assert len(papers) == len(hours) == 52
    assert papers[-2:] == ["1", "2"] and set(papers[:-2]) == {"0"}
    assert hours[-2:] == ["0", "1.5"] and set(hours[:-2]) == {"0"}


def test_topics_follow_what_the_reader_read_month_by_month(
    client, web, db, app, catalog, user_token, today
):
    reading(db)
    first = today.replace(day=1)
    earlier = (first - timedelta(days=70)).replace(day=1)  # two or three months back
    alice = user_token("alice")
    graph = [f"seed:p{i}" for i in (0, 6, 12)]  # papers i % 6 == 0 are about graphs
    vision = [f"seed:p{i}" for i in (2, 8, 14)]  # i % 6 == 2: vision
    post(
        client,
        alice,
        [{"type": "open", "ts": ts(earlier), "paper": {"id": p}} for p in graph]
        + [{"type": "open", "ts": ts(today), "paper": {"id": p}} for p in vision],
    )
    training.train_and_publish(db, ModelStore(app.config["MODELS"]))
    web.sign_in(alice)
    terms, series = drawn(web.get("/history/topics.svg"))
    graph_words = set(_TOPICS["graph"].split()) | {"graph"}
    vision_words = set(_TOPICS["vision"].split()) | {"vision"}
    assert terms and set(terms) <= graph_words | vision_words, terms
    assert len(terms) == len(series) and all(len(s) == 12 for s in series)

    def share(month: int, words: set[str]) -> float:
        values = [series[j][month] for j, term in enumerate(terms) if term in words]
        return sum(float((v or "0%").rstrip("%")) for v in values)

    months_back = (first.year - earlier.year) * 12 + first.month - earlier.month
    old, now = 11 - months_back, 11
    assert share(now, vision_words) == pytest.approx(100, abs=1)
    assert share(now, graph_words) == 0
    assert share(old, vision_words) == 0
    for month in set(range(12)) - {old, now}:
        assert share(month, graph_words | vision_words) == 0


def test_topics_without_a_model_draw_an_empty_picture(client, web, catalog, user_token, today):
    alice = user_token("alice")
    post(client, alice, [{"type": "open", "ts": ts(today), "paper": {"id": "seed:p1"}}])
    web.sign_in(alice)
    terms, series = drawn(web.get("/history/topics.svg"))
    assert terms == [] and series == []


def test_admin_pictures_show_the_catalog_and_the_events_of_each_day(
    client, web, db, catalog, user_token, today
):
    root = user_token("root", admin=True)
    post(
        client,
        root,
        [{"type": "open", "ts": ts(today), "paper": {"id": f"seed:p{i}"}} for i in (1, 2, 3)],
    )
    web.sign_in(root)
    _, (sizes,) = drawn(web.get("/admin/catalog.svg"))
    _, (events,) = drawn(web.get("/admin/events.svg"))
    assert len(sizes) == len(events) == 90
    # everything in this test's database arrived today
    assert sizes[-1] == f"{storage.count_papers(db):,}" and set(sizes[:-1]) == {"0"}
    assert events[-1] == "3" and set(events[:-1]) == {"0"}


def test_pictures_are_private_images_with_nothing_to_run(client, web, catalog, user_token):
    for path in ("/history/reading.svg", "/history/topics.svg", "/admin/events.svg"):
        assert client.get(path).status_code == 303  # signed out: to the sign-in page
    web.sign_in(user_token("alice"))
    for path in ("/admin/catalog.svg", "/admin/events.svg"):
        assert web.get(path).status_code == 403  # not an admin
    response = web.get("/history/reading.svg")
    assert response.headers["Content-Security-Policy"] == (
        "default-src 'none'; style-src 'unsafe-inline'"
    )
    assert "private" in response.headers["Cache-Control"]
    root = etree.fromstring(response.get_data())
    links = [
        value
        for element in root.iter()
        if isinstance(element.tag, str)
        for value in element.attrib.values()
        if value.startswith(("http:", "https:", "//"))
    ]
    assert links == []  # no script, style sheet or font is fetched from anywhere
    assert all(not s.text or "pygal.config" in s.text for s in root.iterfind(".//s:script", SVG))


def test_the_history_page_shows_its_pictures_only_with_a_history(
    client, web, catalog, user_token, today
):
    alice = user_token("alice")
    web.sign_in(alice)
    assert "reading.svg" not in web.get("/history").get_data(as_text=True)
    post(client, alice, [{"type": "open", "ts": ts(today), "paper": {"id": "seed:p1"}}])
    page = web.get("/history").get_data(as_text=True)
    assert 'src="/history/reading.svg"' in page and 'src="/history/topics.svg"' in page
    assert 'alt="Bar chart: the papers you read' in page
