"""Email digests: what each due user gets, and sending it at most once per period.

A user with ``digest`` ``daily`` or ``weekly`` and an address is due when the digest log
(``digest_sends``) has no row for them and the current period (``daily:2026-12-07``,
``weekly:2026-W50``, by the local date, as ``SYNC_TIME`` is local). Their digest holds their
best new papers since their previous digest (:meth:`Serving.new`, which never returns a paper
they opened, saved or dismissed, and none sent in their previous digest), and what is trending
in the deployment (:meth:`Serving.trending_papers`); nothing is sent without a new paper.

Exactly once per period: users are read a page at a time (memory stays flat), their digests
made (in worker processes, one per CPU, once more than a page of users is due: choosing a
user's papers is most of the work), then claimed in the log in one transaction (status
``sending``, a unique row per user and period), handed to the SMTP server over one connection
(:mod:`server.jobs.smtp`), and marked ``sent`` once it accepted them. A second run finds them
claimed and skips them. A crash between the claim and the mark errs towards sending nothing:
the claimed users of the batch in flight (at most :data:`BATCH`) keep their ``sending`` row
and get no digest that period, and nobody gets a second copy. An unreachable or refusing SMTP
server stops the run with :class:`MailError` before anyone of the batch is marked; their
claims are dropped, so the next run sends them.

Messages are multipart text and HTML (Jinja templates beside this module), with each paper's
link, one-click "save" and "not interested" links signed by :mod:`server.signing`, an
unsubscribe link and the ``List-Unsubscribe`` headers of RFC 2369 and RFC 8058; every link to
NextPaper starts with ``PUBLIC_URL``. The log keeps :data:`LOG_DAYS` days, and each user's
latest digest, whose papers the next one leaves out.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email import charset as mime_charset
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from itertools import chain, islice
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
import sqlite_utils

from .. import signing
from ..outside_links import outside_link
from ..store import storage
from .smtp import Mailer, MailError, Refused

log = logging.getLogger(__name__)

PERIOD_DAYS = {"daily": 1, "weekly": 7}
CATCH_UP_PERIODS = 4  # a digest covers at most this many periods back, however old the last
NEW_ITEMS = 10
TRENDING_ITEMS = 5
TRENDING_DAYS = 7
PAGE = 500  # users read at once
BATCH = 20  # digests claimed (and marked sent) in one transaction
CHUNK = 10  # users handed to a worker process at once
MAX_WORKERS = 4
LOG_DAYS = 8  # the digest log keeps this many days, and each user's latest digest

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


# --- what a digest holds ----------------------------------------------------------------------


def period_key(digest: str, today: date) -> str:
    """The log's name for the period ``today`` falls in: ``daily:YYYY-MM-DD``, or
    ``weekly:YYYY-Www`` (ISO week)."""
    if digest == "daily":
        return f"daily:{today.isoformat()}"
    year, week, _ = today.isocalendar()
    return f"weekly:{year}-W{week:02d}"


def digest_since(digest: str, today: date, last_sent: str | None) -> str:
    """The first publication date a digest covers: the day of the previous digest (the papers
    it held are left out by id), else one period back; never more than
    :data:`CATCH_UP_PERIODS` periods back."""
    period = PERIOD_DAYS[digest]
    floor = today - timedelta(days=period * CATCH_UP_PERIODS)
    if last_sent is None:
        return (today - timedelta(days=period)).isoformat()
    return max(last_sent[:10], floor.isoformat())


def paper_link(paper: dict[str, Any], public_url: str) -> str:
    """Where an item links: the paper's best outside page (:mod:`server.outside_links`, as the
    web app's titles), else its page on NextPaper."""
    return outside_link(paper) or f"{public_url}/papers/{quote(paper['id'], safe='')}"


@dataclass
class Picks:
    """A user's digest items (the API's item shape): new papers, then trending ones."""

    new: list[dict[str, Any]]
    trending: list[dict[str, Any]]

    @property
    def paper_ids(self) -> list[str]:
        return [item["paper"]["id"] for item in (*self.new, *self.trending)]


def pick(
    serving: Any,
    db: sqlite_utils.Database,
    user_id: str,
    *,
    since: str,
    exclude: set[str] | frozenset[str] = frozenset(),
    new: int = NEW_ITEMS,
    trending: int = TRENDING_ITEMS,
) -> Picks:
    """The best ``new`` papers dated ``since`` or later for ``user_id`` and the ``trending``
    most read lately, leaving out ``exclude`` (a previous digest's papers) and what the user
    opened, saved or dismissed; the same paper is never in both lists."""
    history = storage.user_history(db, user_id)
    fresh = serving.new(db, user_id, since=since, n=new + len(exclude), history=history)["items"]
    fresh = [item for item in fresh if item["paper"]["id"] not in exclude][:new]
    taken = set(exclude) | {item["paper"]["id"] for item in fresh}
    hot = serving.trending_papers(
        db, user_id, days=TRENDING_DAYS, n=trending, history=history, exclude=taken
    )["items"]
    return Picks(fresh, hot)


# --- the message ------------------------------------------------------------------------------

# sendmail() sends bytes as they are: CRLF line ends; and no folding, which would move the
# List-Unsubscribe URL to a line of its own (every header here is far below 998 characters)
_SMTP_LINES = compat32.clone(linesep="\r\n", max_line_length=None)
_UTF8 = mime_charset.Charset("utf-8")  # base64 bodies: safe for any line length, and encoded in
# C, where quoted-printable, pure Python, cost a third of making a message


@dataclass
class Digest:
    """One user's digest for one period, ready to hand to the SMTP server (plain data, so a
    worker process can make it)."""

    user_id: str
    email: str
    digest: str
    period: str
    paper_ids: list[str]
    new: int
    trending: int
    raw: bytes = field(repr=False)


class Composer:
    """Renders digests for one run: the settings, the home's key and the templates."""

    def __init__(self, config: Mapping[str, Any], now: datetime | None = None):
        self.public_url = str(config["PUBLIC_URL"]).rstrip("/")
        name, self.sender = parseaddr(str(config["MAIL_FROM"]))
        self.mail_from = formataddr((name, self.sender), charset="utf-8")
        self.signer = signing.LinkSigner(signing.home_key(config["HOME"]))
        self.now = now or datetime.now().astimezone()
        self.domain = self.sender.rpartition("@")[2] or "nextpaper.invalid"

    def link(self, user_id: str, action: str, paper_id: str | None = None) -> str:
        token = self.signer.sign(signing.Link(user_id, action, paper_id))
        return f"{self.public_url}/l/{token}"

    def items(self, user_id: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Template items: the paper, its link, why it is there and its one-click links."""
        return [
            {
                "paper": item["paper"],
                "url": paper_link(item["paper"], self.public_url),
                "authors": ", ".join(item["paper"].get("authors") or []),
                "why": "; ".join(r["text"] for r in item["reasons"]),
                "save_url": self.link(user_id, "save", item["paper"]["id"]),
                "dismiss_url": self.link(user_id, "dismiss", item["paper"]["id"]),
            }
            for item in items
        ]

    def message(self, user_id: str, email: str, digest: str, picks: Picks) -> bytes:
        """The whole message, multipart text and HTML, as the SMTP server gets it."""
        unsubscribe = self.link(user_id, "unsubscribe")
        context = {
            "user_id": user_id,
            "digest": digest,
            "new": self.items(user_id, picks.new),
            "trending": self.items(user_id, picks.trending),
            "trending_days": TRENDING_DAYS,
            "link_days": signing.LINK_MAX_AGE // 86400,
            "unsubscribe_url": unsubscribe,
            "public_url": self.public_url,
        }
        count = len(picks.new)
        # email.mime's classes: the modern EmailMessage API parses every header it is given,
        # which made building a message cost more than choosing its papers
        message = MIMEMultipart("alternative")
        message["Subject"] = (
            f"NextPaper {digest} digest: {count} new paper{'s' if count != 1 else ''} for you"
        )
        message["From"] = self.mail_from
        message["To"] = email
        message["Date"] = format_datetime(self.now)
        message["Message-ID"] = make_msgid("digest", domain=self.domain)
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message["Auto-Submitted"] = "auto-generated"
        text = _TEMPLATES.get_template("digest.txt").render(context)
        html = _TEMPLATES.get_template("digest.html").render(context)
        message.attach(MIMEText(text, "plain", _UTF8))
        message.attach(MIMEText(html, "html", _UTF8))
        return message.as_bytes(policy=_SMTP_LINES)


# --- a run ------------------------------------------------------------------------------------


@dataclass
class Report:
    """What a run did; ``planned``: the digests a dry run would have sent, as ``(user_id,
    email, new papers, trending papers)``."""

    sent: int = 0
    planned: list[tuple[str, str, int, int]] = field(default_factory=list)
    empty: int = 0  # due, but nothing new
    taken: int = 0  # claimed by another run meanwhile
    refused: list[tuple[str, str]] = field(default_factory=list)  # (user_id, what the server said)

    @property
    def handled(self) -> int:
        """Users found due (sent, planned, empty, taken by another run or refused)."""
        return self.sent + len(self.planned) + self.empty + self.taken + len(self.refused)

    def summary(self, dry_run: bool = False) -> str:
        if dry_run:
            head = f"Dry run: would send {len(self.planned)} digest(s)"
        else:
            head = f"Sent {self.sent} digest(s)"
        parts = [head, f"{self.empty} user(s) due had nothing new"]
        if self.taken:
            parts.append(f"{self.taken} sent by another run")
        if self.refused:
            parts.append(f"{len(self.refused)} refused by the SMTP server")
        return "; ".join(parts) + "."


def due_users(
    db: sqlite_utils.Database, today: date, user_id: str | None = None
) -> Iterator[tuple[str, str, str]]:
    """``(user_id, email, digest)`` of every user due a digest, a page at a time."""
    daily, weekly = period_key("daily", today), period_key("weekly", today)
    after = ""
    while True:
        page = storage.due_digests(
            db, daily=daily, weekly=weekly, after=after, limit=PAGE, user_id=user_id
        )
        if not page:
            return
        yield from page
        after = page[-1][0]


def send_due(
    db: sqlite_utils.Database,
    serving: Any,
    config: Mapping[str, Any],
    *,
    dry_run: bool = False,
    user_id: str | None = None,
    now: datetime | None = None,
    progress: Callable[[int], object] | None = None,
    workers: int | None = None,
) -> Report:
    """Send every digest that is due (of ``user_id`` only, if given); see the module's doc.

    Digests are made in this process, or, with ``workers`` (default: one per CPU, up to
    :data:`MAX_WORKERS`, once more than a page of users is due), in worker processes while
    this one claims, sends and logs them.

    Raises :class:`MailError` when the SMTP server cannot be reached or refuses mail; the
    digests sent before it stay marked, and no other is.
    """
    now = now or datetime.now().astimezone()
    if not dry_run:
        storage.prune_digest_log(db, storage.stored_time(now - timedelta(days=LOG_DAYS)))
    rows = due_users(db, now.date(), user_id)
    if workers is None:
        first = list(islice(rows, PAGE + 1))
        workers = min(os.cpu_count() or 1, MAX_WORKERS) if len(first) > PAGE else 0
        rows = chain(first, rows)
    mailer = Mailer(config)
    report = Report()
    batch: list[Digest] = []
    try:
        for made in _made(db, serving, config, now, rows, workers):
            if progress is not None:
                progress(1)
            if made is None:
                report.empty += 1
            elif dry_run:
                report.planned.append((made.user_id, made.email, made.new, made.trending))
            else:
                batch.append(made)
                if len(batch) >= BATCH:
                    _send_batch(db, mailer, batch, report, now)
                    batch = []
        if batch:
            _send_batch(db, mailer, batch, report, now)
    except MailError as error:
        error.sent = report.sent
        raise
    finally:
        mailer.close()
    return report


class _Maker:
    """Makes the digests of one process: its database connection, serving object and
    composer."""

    def __init__(
        self, db: sqlite_utils.Database, serving: Any, config: Mapping[str, Any], now: datetime
    ):
        self.db = db
        self.serving = serving
        self.composer = Composer(config, now)
        self.today = now.date()

    def make(self, user_id: str, email: str, digest: str) -> Digest | None:
        """The user's digest, or None when there is nothing new for them."""
        last = storage.last_digest(self.db, user_id)
        since = digest_since(digest, self.today, last[0] if last else None)
        exclude = set(last[1]) if last else set()
        picks = pick(self.serving, self.db, user_id, since=since, exclude=exclude)
        if not picks.new:
            return None
        return Digest(
            user_id,
            email,
            digest,
            period_key(digest, self.today),
            picks.paper_ids,
            len(picks.new),
            len(picks.trending),
            self.composer.message(user_id, email, digest, picks),
        )


def _made(
    db: sqlite_utils.Database,
    serving: Any,
    config: Mapping[str, Any],
    now: datetime,
    rows: Iterable[tuple[str, str, str]],
    workers: int,
) -> Iterator[Digest | None]:
    """Each due user's digest (None: nothing new), in the order of ``rows``."""
    if workers <= 0:
        maker = _Maker(db, serving, config, now)
        for row in rows:
            yield maker.make(*row)
        return
    # "spawn": forking `nextpaper serve`, a process with threads, could copy a held lock
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(dict(config), now.isoformat()),
    )
    pending: deque[Future] = deque()
    try:
        rows = iter(rows)
        while chunk := list(islice(rows, CHUNK)):
            pending.append(pool.submit(_make_in_worker, chunk))
            if len(pending) >= 2 * workers:  # a few chunks ahead: memory stays flat
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_worker: _Maker | None = None


def _start_worker(config: dict[str, Any], now: str) -> None:
    """A worker process's start: its own connection and serving object (the model files are
    mapped, so the workers share their pages)."""
    global _worker
    from ..serving.runtime import limit_blas_threads
    from ..serving.service import Serving
    from ..store.db import connect

    limit_blas_threads()
    serving = Serving(config["MODELS"], trending_min_readers=int(config["TRENDING_MIN_READERS"]))
    _worker = _Maker(connect(config["DATABASE"]), serving, config, datetime.fromisoformat(now))


def _make_in_worker(rows: list[tuple[str, str, str]]) -> list[Digest | None]:
    assert _worker is not None
    return [_worker.make(*row) for row in rows]


def _send_batch(
    db: sqlite_utils.Database, mailer: Mailer, batch: list[Digest], report: Report, now: datetime
) -> None:
    claimed = storage.claim_digests(
        db, [(d.user_id, d.period) for d in batch], at=storage.stored_time(now)
    )
    mine = [d for d, ok in zip(batch, claimed, strict=True) if ok]
    report.taken += len(batch) - len(mine)
    sent: list[tuple[str, str, list[str]]] = []
    released: list[tuple[str, str]] = []
    try:
        for at, digest in enumerate(mine):
            try:
                mailer.send(digest.email, digest.raw)
            except Refused as error:
                released.append((digest.user_id, digest.period))
                report.refused.append((digest.user_id, str(error)))
                log.warning("digest for %s refused: %s", digest.user_id, error)
                continue
            except BaseException:
                released += [(d.user_id, d.period) for d in mine[at:]]
                raise
            sent.append((digest.user_id, digest.period, digest.paper_ids))
            report.sent += 1
    finally:
        storage.finish_digests(db, sent, released, at=storage.stored_time(now))


# --- the daily run of `nextpaper serve` -------------------------------------------------------


def scheduled_run(config: Mapping[str, Any], serving: Any) -> Callable[[], None]:
    """The job ``serve`` runs once a day (after the arXiv sync): send the due digests with
    the server's own model, logging what happened; it never raises."""

    def run() -> None:
        from ..store.db import connect

        try:
            db = connect(config["DATABASE"])
            try:
                report = send_due(db, serving, config)
            finally:
                db.close()
            log.info("digests: %s", report.summary())
        except MailError as error:
            log.error("digests not sent: %s", error)
        except Exception:
            log.exception("sending the digests failed")

    return run
