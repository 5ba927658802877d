"""Harvesting new arXiv papers over OAI-PMH into the catalog, and the server's daily run of it.

``nextpaper papers sync`` and :class:`DailySync` (started by ``nextpaper serve``) call
:func:`sync_arxiv`: one ``ListRecords`` harvest in arXiv's own metadata format (``arXiv``) per
archive set that ``ARXIV_CATEGORIES`` touches (``cs``, ``math``, ``physics:hep-th`` …), from the
resume point of that set, each record kept when one of its categories is configured, and stored
as a catalog paper under its canonical arXiv id (versions and cross-lists are one paper).

The HTTP side is oaipmh-scythe (the maintained fork of Sickle): it sends the requests, follows
resumption tokens to the end and waits out a 503's ``Retry-After``. This module adds arXiv's
manners (``ARXIV_REQUEST_INTERVAL`` seconds between requests, a User-Agent naming NextPaper) and
strict parsing: scythe's parser recovers from broken XML, which would turn a truncated page
into a short one and silently lose its records, so every page is parsed again strictly before
anything of it is stored.

Each page is stored in one transaction with the set's resume point (the latest datestamp seen),
so a failure at any point keeps what was stored, and the next run starts where this one
stopped.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from email.utils import parsedate_to_datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import httpx2
import sqlite_utils
from lxml import etree
from oaipmh_scythe import Scythe
from oaipmh_scythe.config import HTTPConfig, RetryConfig
from oaipmh_scythe.exceptions import NoRecordsMatch, OAIPMHException
from oaipmh_scythe.iterator import OAIResponseIterator

from ..store import storage
from ..store.validation import Invalid, clean_paper

log = logging.getLogger(__name__)

OAI = "{http://www.openarchives.org/OAI/2.0/}"
ARXIV = "{http://arxiv.org/OAI/arXiv/}"
METADATA_PREFIX = "arXiv"
MAX_RETRIES = 5  # 503s in a row for one request before the run gives up
DEFAULT_RETRY_AFTER = 30  # seconds, for a 503 without a readable Retry-After
TIMEOUT_SECONDS = 60
STATE_PREFIX = "arxiv_oai:"  # + set + ":" + its categories: the set's resume datestamp
DAILY_RUN_STATE = "daily_sync:last_run"  # when DailySync last ran (local time)

# The archives of each OAI set: physics archives are sub-sets of ``physics``.
PHYSICS_ARCHIVES = frozenset(
    "astro-ph cond-mat gr-qc hep-ex hep-lat hep-ph hep-th math-ph nlin nucl-ex nucl-th "
    "physics quant-ph".split()
)
OTHER_ARCHIVES = frozenset("cs econ eess math q-bio q-fin stat".split())
_CATEGORY = re.compile(r"([a-z]+(?:-[a-z]+)?)(?:\.[A-Za-z]+(?:-[A-Za-z]+)*)?")


class SyncError(RuntimeError):
    """The sync could not run or stopped; the message is one line for people."""


def user_agent() -> str:
    try:
        release = version("nextpaper")
    except PackageNotFoundError:
        release = "dev"
    return f"NextPaper/{release} (self-hosted paper recommender; arXiv OAI-PMH harvester)"


# --- what to harvest --------------------------------------------------------------------------


def archive_set(category: str) -> str:
    """The OAI set holding a category's archive: ``cs.LG`` → ``cs``, ``hep-th`` →
    ``physics:hep-th``; :class:`SyncError` for what is not an arXiv category."""
    match = _CATEGORY.fullmatch(category)
    archive = match.group(1) if match else None
    if archive in PHYSICS_ARCHIVES:
        return f"physics:{archive}"
    if archive in OTHER_ARCHIVES:
        return archive
    raise SyncError(
        f"ARXIV_CATEGORIES: {category!r} is not an arXiv category (like cs.LG, math.OC, hep-th)"
    )


def configured_categories(value: Any) -> list[str]:
    """``ARXIV_CATEGORIES`` as a list: a list of strings, or one string separated by commas
    or spaces (as an environment variable may give it)."""
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list | tuple) or not all(isinstance(c, str) for c in value):
        raise SyncError("ARXIV_CATEGORIES must be a list of arXiv categories, like ['cs.LG']")
    return list(dict.fromkeys(c.strip() for c in value if c.strip()))


@dataclass(frozen=True)
class Plan:
    """What a sync harvests: the categories kept, and for each OAI set the ones in it."""

    url: str
    interval: float
    backfill_days: int
    categories: frozenset[str]
    sets: dict[str, tuple[str, ...]]

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Plan:
        categories = configured_categories(settings.get("ARXIV_CATEGORIES"))
        if not categories:
            raise SyncError(
                "ARXIV_CATEGORIES is empty: set it (e.g. ['cs.LG', 'cs.CL']) in config.py in "
                "the home folder or as NEXTPAPER_ARXIV_CATEGORIES"
            )
        sets: dict[str, list[str]] = {}
        for category in categories:
            sets.setdefault(archive_set(category), []).append(category)
        url = settings.get("ARXIV_OAI_URL")
        if not isinstance(url, str) or not re.match(r"https?://", url):
            raise SyncError(f"ARXIV_OAI_URL must be an http(s) URL, not {url!r}")
        try:
            interval = float(settings.get("ARXIV_REQUEST_INTERVAL", 3.0))
            backfill = int(settings.get("SYNC_BACKFILL_DAYS", 7))
        except (TypeError, ValueError):
            raise SyncError(
                "ARXIV_REQUEST_INTERVAL and SYNC_BACKFILL_DAYS must be numbers"
            ) from None
        if not interval >= 0 or backfill < 0:
            raise SyncError("ARXIV_REQUEST_INTERVAL and SYNC_BACKFILL_DAYS must not be negative")
        sets_ = {s: tuple(sorted(c)) for s, c in sets.items()}
        return cls(url, interval, backfill, frozenset(categories), sets_)

    def state_name(self, set_spec: str) -> str:
        """The resume point's name: per set and categories, so adding a category backfills."""
        return f"{STATE_PREFIX}{set_spec}:{','.join(self.sets[set_spec])}"

    def wants(self, categories: Iterable[str]) -> bool:
        """Whether a record with these categories is kept: one of them is configured, or its
        archive is (``cs`` alone keeps all of cs)."""
        wanted = self.categories
        return any(c in wanted or c.split(".")[0] in wanted for c in categories)


# --- the client -------------------------------------------------------------------------------


class PoliteScythe(Scythe):
    """Scythe with arXiv's manners: at least ``interval`` seconds from one answer to the next
    request (so the server sees requests at least that far apart), a User-Agent naming
    NextPaper, a 503's ``Retry-After`` waited out (also when given as an HTTP date), and a
    timeout on every request. Pages come whole (:class:`OAIResponseIterator`)."""

    def __init__(self, url: str, interval: float):
        super().__init__(
            url,
            http_config=HTTPConfig(timeout=TIMEOUT_SECONDS, user_agent=user_agent()),
            retry_config=RetryConfig(
                max_retries=MAX_RETRIES,
                retry_status_codes=(503,),
                default_retry_after=DEFAULT_RETRY_AFTER,
            ),
            iterator=OAIResponseIterator,
        )
        self.interval = interval
        self._answered_at: float | None = None
        self._last: httpx2.Response | None = None

    def harvest(self, query: dict[str, str]) -> Any:
        """scythe's harvest, with an answer that is not XML at all (a proxy's plain "Bad
        Gateway", a 503 still refused after the retries) as a :class:`SyncError`: scythe's
        recovering parser gives up on it and scythe then fails on its own ``None``."""
        try:
            return super().harvest(query)
        except AttributeError:
            last = self._last
            if last is None:
                raise
            if last.is_error:
                raise SyncError(f"{last.request.url} answered HTTP {last.status_code}") from None
            raise SyncError(f"{last.request.url} did not answer with XML") from None

    @property
    def client(self) -> httpx2.Client:
        client = super().client
        hooks = client.event_hooks
        if self._wait_turn not in hooks["request"]:
            hooks["request"].append(self._wait_turn)
            hooks["response"].append(self._answered)
        return client

    def _wait_turn(self, _request: httpx2.Request) -> None:
        if self._answered_at is not None:
            wait = self._answered_at + self.interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)

    def _answered(self, response: httpx2.Response) -> None:
        self._answered_at = time.monotonic()
        self._last = response
        retry_after = response.headers.get("Retry-After")
        if retry_after is not None and not retry_after.strip().isdigit():
            # scythe reads whole seconds only; RFC 9110 also allows a date
            response.headers["Retry-After"] = str(_seconds_until(retry_after))


def _seconds_until(retry_after: str) -> int:
    try:
        return max(0, math.ceil(float(retry_after)))
    except (ValueError, OverflowError):  # not a number, or nan/inf
        pass
    try:
        when = parsedate_to_datetime(retry_after)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, math.ceil((when - datetime.now(UTC)).total_seconds()))


# --- pages and records ------------------------------------------------------------------------


@dataclass
class Entry:
    """One ``<record>`` of a page: its datestamp and its paper (None when deleted or unusable)."""

    datestamp: str
    paper: dict[str, Any] | None
    problem: str | None = None


def parse_page(content: bytes, where: str) -> list[Entry]:
    """The records of one ``ListRecords`` page, parsed strictly: broken XML, another kind of
    document or a record without a datestamp is a :class:`SyncError`, never a shorter page."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as error:
        raise SyncError(f"malformed XML from {where}: {error}") from None
    if root.tag != f"{OAI}OAI-PMH":
        raise SyncError(f"{where} did not answer in OAI-PMH (its document is <{root.tag}>)")
    listing = root.find(f"{OAI}ListRecords")
    if listing is None:
        error = root.find(f"{OAI}error")
        what = f"error {error.get('code')}" if error is not None else "no ListRecords"
        raise SyncError(f"{where} answered with {what}")
    return [_entry(record, where) for record in listing.iterfind(f"{OAI}record")]


def _entry(record: etree._Element, where: str) -> Entry:
    header = record.find(f"{OAI}header")
    stamp = header.findtext(f"{OAI}datestamp") if header is not None else None
    try:
        datestamp = date.fromisoformat((stamp or "").strip()[:10]).isoformat()
    except ValueError:
        raise SyncError(f"a record from {where} has no valid datestamp ({stamp!r})") from None
    if header.get("status") == "deleted":
        return Entry(datestamp, None)
    metadata = record.find(f"{OAI}metadata/{ARXIV}arXiv")
    identifier = header.findtext(f"{OAI}identifier") or "?"
    if metadata is None:
        return Entry(datestamp, None, f"{identifier}: no arXiv metadata")
    try:
        return Entry(datestamp, paper_from_metadata(metadata))
    except Invalid as error:
        return Entry(datestamp, None, f"{identifier}: {error.message}")


def _text(element: etree._Element, name: str) -> str | None:
    """An element's text with runs of white space as one space (arXiv wraps long lines)."""
    value = element.findtext(f"{ARXIV}{name}")
    value = " ".join(value.split()) if value else ""
    return value or None


def paper_from_metadata(metadata: etree._Element) -> dict[str, Any]:
    """An ``<arXiv>`` metadata element → storage's paper dict (:class:`Invalid` if unusable).

    ``published`` is ``created``, the first version's date; the DOI is the first one given.
    """
    arxiv_id = _text(metadata, "id")
    if arxiv_id is None:
        raise Invalid("invalid_paper", "the record has no arXiv id")
    authors = []
    for author in metadata.iterfind(f"{ARXIV}authors/{ARXIV}author"):
        parts = (_text(author, "forenames"), _text(author, "keyname"), _text(author, "suffix"))
        name = " ".join(p for p in parts if p)
        if name:
            authors.append(name)
    doi = (_text(metadata, "doi") or "").split()
    return clean_paper(
        {
            "id": f"arxiv:{arxiv_id}",
            "title": _text(metadata, "title"),
            "abstract": _text(metadata, "abstract"),
            "authors": authors or None,
            "url": f"https://arxiv.org/abs/{arxiv_id}",
            "doi": doi[0] if doi else None,
            "arxiv_id": arxiv_id,
            "published": _text(metadata, "created"),
            "categories": (_text(metadata, "categories") or "").split() or None,
        }
    )


# --- the harvest ------------------------------------------------------------------------------


@dataclass
class SyncReport:
    """What a sync did: records read, papers kept (in the categories) and new to the catalog,
    records skipped as unusable, and each set's resume point afterwards."""

    records: int = 0
    kept: int = 0
    new: int = 0
    skipped: int = 0
    resume: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        sets = ", ".join(f"{s} from {d}" for s, d in self.resume.items())
        line = (
            f"Harvested {_count(self.records, 'record')}, {self.kept} in ARXIV_CATEGORIES: "
            f"{_count(self.new, 'new paper')}."
        )
        if self.skipped:
            line += f" Skipped {_count(self.skipped, 'record')} without usable metadata."
        return f"{line} Next run resumes {sets}." if sets else line


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def sync_arxiv(
    db: sqlite_utils.Database,
    settings: Mapping[str, Any],
    *,
    since: date | None = None,
    until: date | None = None,
    today: date | None = None,
    progress: Callable[[int], object] | None = None,
) -> SyncReport:
    """Harvest every set of the plan into the catalog; return what was done.

    Each set starts at ``since`` if given, else at its stored resume point, else
    ``SYNC_BACKFILL_DAYS`` before ``today`` (UTC). ``progress`` is called with each page's
    record count. Raises :class:`SyncError` on bad settings, network failures, HTTP errors,
    OAI-PMH errors other than an empty range, and malformed pages; the pages stored before
    stay stored and the message says where the next run resumes.
    """
    plan = Plan.from_settings(settings)
    today = today or datetime.now(UTC).date()
    report = SyncReport()
    with PoliteScythe(plan.url, plan.interval) as client:
        for set_spec in plan.sets:
            _sync_set(db, client, plan, set_spec, since, until, today, report, progress)
    return report


def _sync_set(db, client, plan, set_spec, since, until, today, report, progress) -> None:
    name = plan.state_name(set_spec)
    stored = storage.sync_state(db, name)
    if since is not None:
        start = since
    elif stored is not None:
        start = date.fromisoformat(stored)
    else:
        start = today - timedelta(days=plan.backfill_days)
    latest: str | None = None  # the latest datestamp stored
    in_order = True  # datestamps never went back: the latest one is a safe resume point
    pages = client.list_records(
        from_=start.isoformat(),
        until=until.isoformat() if until else None,
        metadata_prefix=METADATA_PREFIX,
        set_=set_spec,
    )
    try:
        for page in _pages(pages, set_spec):
            entries = parse_page(page.http_response.content, f"{plan.url} (set {set_spec})")
            papers = []
            for entry in entries:
                if latest is not None and entry.datestamp < latest:
                    in_order = False
                latest = max(latest or entry.datestamp, entry.datestamp)
                if entry.problem:
                    report.skipped += 1
                    log.warning("skipped an arXiv record: %s", entry.problem)
                elif entry.paper and plan.wants(entry.paper["categories"] or ()):
                    papers.append(entry.paper)
            report.new += storage.store_harvest(
                db, papers, state=name if in_order else None, value=latest
            )
            report.records += len(entries)
            report.kept += len(papers)
            if progress:
                progress(len(entries))
    except SyncError as error:
        resume = storage.sync_state(db, name) or start.isoformat()
        reason = " ".join(str(error).split())  # one line, whatever the server or parser said
        raise SyncError(
            f"arXiv sync stopped: {reason}; the {report.new} new papers stored so far are kept, "
            f"and the next run resumes {set_spec} from {resume}"
        ) from None
    if latest is not None:
        storage.advance_sync_state(db, name, latest)
    elif since is None:  # nothing new: remember where this run looked from
        storage.advance_sync_state(db, name, start.isoformat())
    report.resume[set_spec] = storage.sync_state(db, name) or start.isoformat()


def _pages(pages: Iterator, set_spec: str) -> Iterator:
    """scythe's pages, with its failures as :class:`SyncError` (an empty range is no page)."""
    try:
        yield from pages
    except NoRecordsMatch:
        return
    except OAIPMHException as error:
        code = type(error).__name__
        raise SyncError(f"the OAI-PMH server refused set {set_spec}: {code}: {error}") from None
    except httpx2.HTTPStatusError as error:
        status = error.response.status_code
        raise SyncError(f"{error.request.url} answered HTTP {status}") from None
    except httpx2.HTTPError as error:
        where = error.request.url if _has_request(error) else "the OAI-PMH server"
        raise SyncError(f"cannot reach {where}: {error or type(error).__name__}") from None
    except etree.XMLSyntaxError as error:  # scythe's own parse of an empty or binary answer
        raise SyncError(f"malformed XML: {error}") from None


def _has_request(error: httpx2.HTTPError) -> bool:
    try:
        error.request  # noqa: B018  (raises when the error was not tied to a request)
    except RuntimeError:
        return False
    return True


# --- the server's daily run -------------------------------------------------------------------


def sync_time(value: Any) -> day_time:
    """``SYNC_TIME`` (``"HH:MM"``, local time) as a time of day."""
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", str(value).strip())
    if not match:
        raise SyncError(f"SYNC_TIME must be a local time like '06:00', not {value!r}")
    return day_time(int(match.group(1)), int(match.group(2)))


class DailySync:
    """The daily run of ``nextpaper serve``: once a day at ``SYNC_TIME`` (local time), in a
    background thread, :func:`sync_arxiv` when ``ARXIV_CATEGORIES`` is set, then each of
    ``after_sync`` (jobs that want the day's papers, such as sending the due digests), whether
    or not the sync succeeded. Without categories the run is the jobs alone, at the same time.
    Failures are logged and the server goes on; the next day's run resumes where the failed
    one stopped.

    A run missed while the server was down (today's time passed and no run since) starts at
    once. ``now`` gives the local time (naive), so a test can move the clock.
    """

    def __init__(
        self,
        settings: Mapping[str, Any],
        *,
        after_sync: Iterable[Callable[[], object]] = (),
        now: Callable[[], datetime] = datetime.now,
        poll_seconds: float = 60.0,
    ):
        self.harvests = bool(configured_categories(settings.get("ARXIV_CATEGORIES")))
        if self.harvests:
            Plan.from_settings(settings)  # bad settings stop `serve` now, not at the first run
        self.at = sync_time(settings.get("SYNC_TIME", "06:00"))
        self.settings = settings
        self.db_path = settings["DATABASE"]
        self.after_sync: list[Callable[[], object]] = list(after_sync)
        self.now = now
        self.poll_seconds = poll_seconds
        self.next_run: datetime | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="arxiv-sync", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def slot_after(self, moment: datetime) -> datetime:
        """The first run time strictly after ``moment``."""
        slot = datetime.combine(moment.date(), self.at)
        return slot if slot > moment else datetime.combine(moment.date() + timedelta(1), self.at)

    def first_run(self, db: sqlite_utils.Database) -> datetime:
        """Now if the latest run time passed without a run, else the next run time."""
        now = self.now()
        latest = self.slot_after(now) - timedelta(days=1)
        last_run = storage.sync_state(db, DAILY_RUN_STATE)
        if last_run is None or last_run < latest.isoformat(timespec="seconds"):
            return now
        return self.slot_after(now)

    def run_once(self) -> None:
        """One sync (when categories are set) and the after-sync jobs; never raises."""
        from ..store.db import connect

        started = self.now()
        try:
            db = connect(self.db_path)
            try:
                if self.harvests:
                    log.info("arXiv sync: %s", sync_arxiv(db, self.settings).summary())
            finally:
                try:
                    stamp = started.isoformat(timespec="seconds")
                    storage.advance_sync_state(db, DAILY_RUN_STATE, stamp)
                finally:
                    db.close()
        except SyncError as error:
            log.error("%s", error)
        except Exception:  # the server outlives any failure of the sync
            log.exception("arXiv sync failed")
        for job in self.after_sync:
            try:
                job()
            except Exception:
                log.exception("after-sync job %r failed", job)

    def _loop(self) -> None:
        from ..store.db import connect

        try:
            db = connect(self.db_path)
            try:
                self.next_run = self.first_run(db)
            finally:
                db.close()
        except Exception:
            log.exception("arXiv sync schedule: cannot read the last run; waiting for the next")
            self.next_run = self.slot_after(self.now())
        while not self._stop.is_set():
            wait = (self.next_run - self.now()).total_seconds()
            if wait > 0:
                self._stop.wait(min(wait, self.poll_seconds))
                continue
            due = self.next_run
            self.run_once()
            self.next_run = self.slot_after(max(self.now(), due))
