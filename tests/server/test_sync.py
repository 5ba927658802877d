"""``nextpaper papers sync`` and the server's daily sync, against a real OAI-PMH server on
127.0.0.1 that answers in arXiv's format (``tests/oai_server.py``), into a real SQLite home."""

from __future__ import annotations

import logging
import sqlite3
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from email.utils import format_datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from server import settings
from server.cli import main
from server.jobs.sync import DAILY_RUN_STATE, MAX_RETRIES, DailySync
from server.store import storage
from server.store.db import open_database
from tests.conftest import free_port, run_cli
from tests.oai_server import OaiServer, Record


def day(days_ago: int) -> str:
    return (datetime.now(UTC).date() - timedelta(days=days_ago)).isoformat()


def configure(home: Path, url: str, categories=("cs.LG",), interval=0, **extra) -> None:
    home.mkdir(parents=True, exist_ok=True)
    values = {
        "ARXIV_CATEGORIES": list(categories),
        "ARXIV_OAI_URL": url,
        "ARXIV_REQUEST_INTERVAL": interval,
        **extra,
    }
    (home / "config.py").write_text("".join(f"{k} = {v!r}\n" for k, v in values.items()))
    from server.store.db import open_database

    open_database(home / "nextpaper.db").close()  # as `nextpaper init` leaves it


def sync(home: Path, *args: str):
    """``nextpaper --home HOME papers sync ARGS`` in this process (click's runner)."""
    return CliRunner().invoke(main, ["--home", str(home), "papers", "sync", *args])


def stored(home: Path) -> dict[str, dict]:
    db = open_database(home / "nextpaper.db")
    try:
        ids = [row[0] for row in db.execute("SELECT paper_id FROM papers")]
        return storage.get_papers(db, ids)
    finally:
        db.close()


def resume_points(home: Path) -> dict[str, str]:
    with sqlite3.connect(home / "nextpaper.db") as conn:
        return dict(conn.execute("SELECT name, value FROM sync_state WHERE name LIKE 'arxiv%'"))


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def listing() -> list[Record]:
    """Records of set ``cs`` in datestamp order: three in cs.LG, two outside it, one deleted."""
    return [
        Record(
            "2401.00001",
            day(3),
            title="Sparse   experts\n   for routing",
            abstract="We route tokens\n  to experts.",
            categories="cs.LG stat.ML",
            created="2024-01-02",
            updated=day(3),
            authors=[("Smith", "Jane A.", "Jr"), ("ATLAS Collaboration",)],
            doi="10.1000/ABC 10.2000/def",
        ),
        Record("2401.00002", day(3), categories="cs.CV"),
        Record("2401.00003", day(2), categories="math.OC cs.LG", title="Cross-listed"),
        Record("hep-th/9901001", day(2), categories="hep-th cs.LG", created="1999-01-04"),
        Record("2401.00005", day(1), deleted=True),
        Record("2401.00006", day(1), categories="cs.CL"),
    ]


KEPT = {"arxiv:2401.00001", "arxiv:2401.00003", "arxiv:hep-th/9901001"}


# --- the command ------------------------------------------------------------------------------


def test_sync_stores_the_configured_categories_papers(tmp_path):
    home = tmp_path / "home"
    with OaiServer(listing(), page_size=2) as oai:
        configure(home, oai.url)
        result = run_cli(home, "papers", "sync")
    assert (
        result.stdout.strip()
        .splitlines()[-1]
        .startswith("Harvested 6 records, 3 in ARXIV_CATEGORIES: 3 new papers.")
    )
    papers = stored(home)
    assert set(papers) == KEPT  # not cs.CV, cs.CL or the deleted record
    assert papers["arxiv:2401.00001"] == {
        "id": "arxiv:2401.00001",
        "title": "Sparse experts for routing",
        "abstract": "We route tokens to experts.",
        "authors": ["Jane A. Smith Jr", "ATLAS Collaboration"],
        "url": "https://arxiv.org/abs/2401.00001",
        "doi": "10.1000/ABC",
        "arxiv_id": "2401.00001",
        "published": "2024-01-02",  # the first version's date, not the update's
        "categories": ["cs.LG", "stat.ML"],
    }
    assert papers["arxiv:hep-th/9901001"]["published"] == "1999-01-04"
    first = oai.requests[0].query
    assert first == {
        "verb": "ListRecords",
        "metadataPrefix": "arXiv",
        "set": "cs",
        "from": day(7),  # SYNC_BACKFILL_DAYS' default
    }
    assert [r.query for r in oai.requests[1:]] == [
        {"verb": "ListRecords", "resumptionToken": token} for token in ("1|2", "1|4")
    ]


def test_the_api_shows_categories_and_events_may_carry_them(tmp_path, client, make_user, app):
    alice = make_user("alice")
    home = Path(app.config["HOME"])
    with OaiServer(listing()) as oai:
        configure(home, oai.url)
        assert sync(home).exit_code == 0
    paper = client.get("/api/v1/papers/arxiv%3A2401.00003", headers=alice).get_json()
    assert paper["categories"] == ["math.OC", "cs.LG"]
    events = [
        {"id": "e1", "type": "open", "ts": "2026-01-01T00:00:00Z", "paper": paper_ref}
        for paper_ref in (
            {"id": "arxiv:2402.00001", "title": "From the extension", "categories": ["cs.AI"]},
            {"id": "arxiv:2402.00002", "categories": "cs.AI"},
        )
    ]
    events[1]["id"] = "e2"
    body = client.post("/api/v1/events", json={"events": events}, headers=alice).get_json()
    assert body["accepted"] == 1
    assert body["rejected"][0]["code"] == "invalid_paper"
    assert "categories" in body["rejected"][0]["message"]
    added = client.get("/api/v1/papers/arxiv%3A2402.00001", headers=alice).get_json()
    assert added["categories"] == ["cs.AI"]


def test_cross_lists_and_versions_are_one_paper(tmp_path):
    home = tmp_path / "home"
    records = listing()
    with OaiServer(records) as oai:
        configure(home, oai.url, categories=("cs.LG", "math.OC"))
        first = sync(home)
        assert first.exit_code == 0, first.output
        # 2401.00003 is listed in set cs and in set math: one paper
        assert {r.query.get("set") for r in oai.requests} == {"cs", "math"}
        assert "3 new papers" in first.stdout
        assert set(stored(home)) == KEPT
        # a new version: a later datestamp, a new title, the same first-version date
        records[2].datestamp = records[2].updated = day(0)
        records[2].title = "Cross-listed, revised"
        records[2].categories = "math.OC cs.LG cs.AI"
        # a reclassification alone (no other change) reaches the catalog too
        records[3].datestamp = day(0)
        records[3].categories = "hep-th cs.LG cs.AI"
        second = sync(home)
    assert second.exit_code == 0, second.output
    assert "0 new papers" in second.stdout
    papers = stored(home)
    assert set(papers) == KEPT
    assert papers["arxiv:2401.00003"]["title"] == "Cross-listed, revised"
    assert papers["arxiv:2401.00003"]["published"] == "2024-01-01"
    assert papers["arxiv:2401.00003"]["categories"] == ["math.OC", "cs.LG", "cs.AI"]
    assert papers["arxiv:hep-th/9901001"]["categories"] == ["hep-th", "cs.LG", "cs.AI"]


def test_a_second_run_adds_nothing_and_resumes_from_the_last_datestamp(tmp_path):
    home = tmp_path / "home"
    records = listing()
    with OaiServer(records, page_size=2) as oai:
        configure(home, oai.url, SYNC_BACKFILL_DAYS=5)
        assert sync(home).exit_code == 0
        assert oai.requests[0].query["from"] == day(5)
        assert resume_points(home) == {"arxiv_oai:cs:cs.LG": day(1)}
        before = len(oai.requests)
        again = sync(home)
        assert again.exit_code == 0, again.output
        assert "0 new papers" in again.stdout
        assert oai.requests[before].query["from"] == day(1)
        oai.records.append(Record("2401.00007", day(0), categories="cs.LG"))
        third = sync(home)
    assert "1 new paper." in third.stdout
    assert set(stored(home)) == KEPT | {"arxiv:2401.00007"}
    assert resume_points(home) == {"arxiv_oai:cs:cs.LG": day(0)}


def test_an_empty_range_is_not_an_error(tmp_path):
    home = tmp_path / "home"
    with OaiServer([]) as oai:
        configure(home, oai.url)
        result = sync(home)
    assert result.exit_code == 0, result.output
    assert "Harvested 0 records" in result.stdout
    assert resume_points(home) == {"arxiv_oai:cs:cs.LG": day(7)}  # the next run looks from there


def test_from_and_until_choose_the_days(tmp_path):
    home = tmp_path / "home"
    with OaiServer(listing()) as oai:
        configure(home, oai.url)
        result = sync(home, "--from", day(2), "--until", day(2))
    assert result.exit_code == 0, result.output
    assert oai.requests[0].query["from"] == day(2)
    assert oai.requests[0].query["until"] == day(2)
    assert set(stored(home)) == {"arxiv:2401.00003", "arxiv:hep-th/9901001"}


def test_an_older_window_never_moves_the_resume_point_back(tmp_path):
    home = tmp_path / "home"
    with OaiServer(listing()) as oai:
        configure(home, oai.url)
        assert sync(home).exit_code == 0
        assert resume_points(home) == {"arxiv_oai:cs:cs.LG": day(1)}
        assert sync(home, "--from", day(3), "--until", day(3)).exit_code == 0
    assert resume_points(home) == {"arxiv_oai:cs:cs.LG": day(1)}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--from", "yesterday"], "--from must be a date"),
        (["--until", "2024-02-30"], "--until must be a date"),
        (["--from", "20240101"], "--from must be a date"),
        (["--from", day(1), "--until", day(2)], "is after --until"),
        (["--from", day(-2)], "in the future"),
    ],
)
def test_bad_dates_end_with_one_line(tmp_path, args, message):
    home = tmp_path / "home"
    with OaiServer(listing()) as oai:
        configure(home, oai.url)
        result = sync(home, *args)
    assert message in one_line_error(result)
    assert oai.requests == []


@pytest.mark.parametrize(
    "categories, message",
    [
        ([], "ARXIV_CATEGORIES is empty"),
        (["cs.LG", "biology"], "'biology' is not an arXiv category"),
        (["cs.LG cs"], "'cs.LG cs' is not an arXiv category"),
    ],
)
def test_bad_settings_end_with_one_line(tmp_path, categories, message):
    home = tmp_path / "home"
    configure(home, "http://127.0.0.1:9/oai", categories=categories)
    assert message in one_line_error(sync(home))


def test_requests_are_spaced_by_the_interval_and_name_nextpaper(tmp_path):
    home = tmp_path / "home"
    with OaiServer(listing(), page_size=1) as oai:
        configure(home, oai.url, interval=0.2)
        assert sync(home).exit_code == 0
    arrivals = [r.at for r in oai.requests]
    assert len(arrivals) == 6
    assert min(b - a for a, b in zip(arrivals, arrivals[1:], strict=False)) >= 0.2
    agents = {r.headers.get("User-Agent") or r.headers.get("user-agent") for r in oai.requests}
    assert len(agents) == 1 and agents.pop().startswith("NextPaper/")


@pytest.mark.parametrize("as_date", [False, True], ids=["seconds", "http-date"])
def test_a_503_is_waited_out_and_retried(tmp_path, as_date):
    home = tmp_path / "home"
    retry_after = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    with OaiServer(listing(), page_size=2) as oai:
        oai.fail(2, "503", retry_after=retry_after if as_date else 1)
        configure(home, oai.url)
        result = sync(home)
    assert result.exit_code == 0, result.output
    assert set(stored(home)) == KEPT
    refused, retried = oai.requests[1], oai.requests[2]
    assert retried.query == refused.query == {"verb": "ListRecords", "resumptionToken": "1|2"}
    assert retried.at - refused.at >= 1.0


def test_503s_past_the_retries_end_with_one_line(tmp_path):
    home = tmp_path / "home"
    with OaiServer(listing(), page_size=2) as oai:
        for number in range(2, 2 + MAX_RETRIES + 1):
            oai.fail(number, "503", retry_after=0)
        configure(home, oai.url)
        line = one_line_error(sync(home))
    assert "arXiv sync stopped" in line and "answered HTTP 503" in line
    assert set(stored(home)) == {"arxiv:2401.00001"}


@pytest.mark.parametrize(
    "fault, options, said",
    [
        ("truncated", {}, "malformed XML"),
        ("html", {}, "malformed XML"),
        ("500", {}, "answered HTTP 500"),
        ("text", {}, "did not answer with XML"),
        ("text", {"status": 502}, "answered HTTP 502"),
        ("drop", {}, "cannot reach"),
    ],
)
def test_a_failure_ends_with_one_line_keeps_earlier_pages_and_the_next_run_resumes(
    tmp_path, fault, options, said
):
    home = tmp_path / "home"
    with OaiServer(listing(), page_size=2) as oai:
        oai.fail(2, fault, **options)
        configure(home, oai.url)
        line = one_line_error(sync(home))
        assert "arXiv sync stopped" in line and said in line
        assert f"resumes cs from {day(3)}" in line
        # the first page is kept; nothing of the broken one
        assert set(stored(home)) == {"arxiv:2401.00001"}
        assert resume_points(home) == {"arxiv_oai:cs:cs.LG": day(3)}
        before = len(oai.requests)
        again = sync(home)
    assert again.exit_code == 0, again.output
    assert oai.requests[before].query["from"] == day(3)
    assert set(stored(home)) == KEPT


def test_an_unreachable_server_ends_with_one_line(tmp_path):
    home = tmp_path / "home"
    configure(home, f"http://127.0.0.1:{free_port()}/oai")
    line = one_line_error(sync(home))
    assert "cannot reach" in line and "arXiv sync stopped" in line


def test_out_of_order_datestamps_never_move_the_resume_point_past_unstored_records(tmp_path):
    home = tmp_path / "home"
    records = [
        Record("2401.00011", day(1), categories="cs.LG"),
        Record("2401.00012", day(3), categories="cs.LG"),
        Record("2401.00013", day(2), categories="cs.LG"),  # on the page that fails
    ]
    with OaiServer(records, page_size=2) as oai:
        oai.fail(2, "500")
        configure(home, oai.url)
        assert sync(home).exit_code == 2
        assert resume_points(home) == {}  # day(1) was seen, but day(2) may still come
        assert sync(home).exit_code == 0
    assert set(stored(home)) == {"arxiv:2401.00011", "arxiv:2401.00012", "arxiv:2401.00013"}
    assert resume_points(home) == {"arxiv_oai:cs:cs.LG": day(1)}


# --- the server's daily run -------------------------------------------------------------------


class Clock:
    """Local time that starts at ``start`` and runs at the real pace."""

    def __init__(self, start: datetime):
        self.start, self.t0 = start, time.monotonic()

    def __call__(self) -> datetime:
        return self.at(time.monotonic())

    def at(self, monotonic: float) -> datetime:
        return self.start + timedelta(seconds=monotonic - self.t0)


def wait_for(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def daily(home: Path, url: str, clock: Clock, after_sync, last_run: datetime | None = None):
    configure(home, url, SYNC_TIME="06:00")
    config = settings.load(home)
    db = open_database(config["DATABASE"])
    if last_run is not None:
        storage.advance_sync_state(db, DAILY_RUN_STATE, last_run.isoformat(timespec="seconds"))
    db.close()
    return DailySync(config, after_sync=after_sync, now=clock, poll_seconds=0.05)


def test_the_daily_sync_runs_at_sync_time_then_the_after_sync_jobs(tmp_path):
    home = tmp_path / "home"
    six = datetime.combine(date.today(), dt_time(6, 0))
    clock = Clock(six - timedelta(seconds=0.5))
    seen: list[int] = []
    with OaiServer(listing()) as oai:
        # today's run is not missed (the last one was after yesterday's): it waits for 06:00
        scheduler = daily(
            home, oai.url, clock, [lambda: seen.append(len(stored(home)))], six - timedelta(hours=1)
        )
        scheduler.start()
        wait_for(lambda: seen)
        scheduler.stop()
        scheduler.join(5)
    assert clock.at(oai.requests[0].at) >= six
    assert seen == [3]  # the after-sync job ran once, after the day's papers were stored
    assert set(stored(home)) == KEPT
    assert scheduler.next_run == six + timedelta(days=1)


def test_a_missed_run_starts_at_once_and_failures_are_logged_not_raised(tmp_path, caplog):
    home = tmp_path / "home"
    nine = datetime.combine(date.today(), dt_time(9, 0))
    ran: list[str] = []

    def broken_job():
        raise RuntimeError("digest server down")

    url = f"http://127.0.0.1:{free_port()}/oai"  # nothing listens there
    scheduler = daily(home, url, Clock(nine), [broken_job, lambda: ran.append("second job")])
    with caplog.at_level(logging.INFO, logger="server.jobs.sync"):
        scheduler.start()  # never ran, and 06:00 has passed: run now
        wait_for(lambda: ran)
        wait_for(lambda: scheduler.next_run and scheduler.next_run > nine)
        scheduler.stop()
        scheduler.join(5)
    assert "arXiv sync stopped: cannot reach" in caplog.text
    assert "after-sync job" in caplog.text and "digest server down" in caplog.text
    assert ran == ["second job"]
    assert scheduler.next_run == nine.replace(hour=6) + timedelta(days=1)
    db = open_database(home / "nextpaper.db")
    assert storage.sync_state(db, DAILY_RUN_STATE).startswith(nine.date().isoformat())
    db.close()


def test_without_categories_the_daily_run_is_its_jobs_alone_at_sync_time(tmp_path):
    """A server without ARXIV_CATEGORIES still sends its digests each day at SYNC_TIME: the
    same daily run, with no harvest and no request to anyone."""
    home = tmp_path / "home"
    six = datetime.combine(date.today(), dt_time(6, 0))
    clock = Clock(six - timedelta(seconds=0.5))
    ran: list[datetime] = []
    with OaiServer(listing()) as oai:
        configure(home, oai.url, categories=(), SYNC_TIME="06:00")
        config = settings.load(home)
        db = open_database(config["DATABASE"])
        yesterday = (six - timedelta(hours=1)).isoformat(timespec="seconds")
        storage.advance_sync_state(db, DAILY_RUN_STATE, yesterday)
        db.close()
        scheduler = DailySync(config, after_sync=[lambda: ran.append(clock())], now=clock)
        scheduler.poll_seconds = 0.05
        scheduler.start()
        wait_for(lambda: ran)
        scheduler.stop()
        scheduler.join(5)
    assert ran[0] >= six and len(ran) == 1
    assert oai.requests == [] and not stored(home)
    assert scheduler.next_run == six + timedelta(days=1)


def test_serve_runs_the_daily_sync_when_categories_are_set(live_server):
    home = live_server.home
    with OaiServer(listing()) as oai:
        configure(home, oai.url, SYNC_TIME="00:00")  # passed today: the first run is at start
        server = live_server("--no-retrain")
        wait_for(lambda: len(stored(home)) == 3)
        wait_for(lambda: "arXiv sync: Harvested 6 records" in server.read_log())
    assert set(stored(home)) == KEPT


def test_serve_refuses_a_bad_sync_time_with_one_line(tmp_path):
    home = tmp_path / "home"
    configure(home, "http://127.0.0.1:9/oai", SYNC_TIME="6am")
    result = run_cli(home, "serve", "--port", str(free_port()), check=False, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: SYNC_TIME must be a local time like '06:00', not '6am'"
    )


def test_synced_papers_join_the_model_and_the_day_after_sync_jobs_see_them(tmp_path):
    """After a sync the harvested papers are in the served model, without a retrain: by hand
    (``papers sync`` adds them) and in ``serve`` (its first after-sync job adds them, so the
    digests that follow rank them)."""
    from server.jobs.training import Trainer, add_new_papers_now, train_and_publish
    from server.model_versions import ModelStore
    from server.serving.service import Serving

    home = tmp_path / "home"
    store = ModelStore(home / "models")
    db = open_database(home / "nextpaper.db")
    storage.upsert_papers(db, [{"paper_id": "seed:routing", "title": "Token routing experts"}])
    storage.import_events(
        db,
        [
            {
                "user_id": "ann",
                "event_id": "e1",
                "type": "open",
                "ts": "2026-12-01T10:00:00Z",
                "paper_id": "seed:routing",
                "dwell_ms": None,
            }
        ],
    )
    trained = train_and_publish(db, store)["version"]
    with OaiServer(listing()) as oai:
        configure(home, oai.url)
        result = run_cli(home, "papers", "sync")
    assert (
        result.stdout.strip().splitlines()[-1] == "Added 3 new papers to the model from their text."
    )
    answer = Serving(home / "models").recommendations(db, "ann", n=5, since="1990-01-01")
    assert answer["model_version"] != trained
    assert {item["paper"]["id"] for item in answer["items"]} >= {"arxiv:2401.00001"}
    # the server's job: a paper stored since is added, and the serving object loads it
    serving = Serving(home / "models")
    before = serving.current().version
    storage.upsert_papers(db, [{"paper_id": "arxiv:2412.00009", "title": "Routing tokens"}])
    add_new_papers_now(Trainer(home), serving)
    assert serving.current().version != before
    assert "arxiv:2412.00009" in serving.current().model.paper_index
    db.close()
