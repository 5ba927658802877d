"""Email digests against a real SMTP server (aiosmtpd on 127.0.0.1): what is sent and to whom,
the messages as a mail client parses them, their one-click links, at most one digest per user
and period (across runs and after a crash), an SMTP server that is down or refuses, dry runs;
and the settings behind them (``/api/v1/settings``, ``nextpaper users set``)."""

from __future__ import annotations

import email
import os
import ssl
import time
from datetime import UTC, date, datetime, timedelta
from email import policy
from html.parser import HTMLParser

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from click.testing import CliRunner

from server import signing
from server.cli import main
from server.jobs import digest
from server.store import storage
from tests.conftest import free_port, run_cli, synthetic_papers

PUBLIC = "https://papers.example.org/np"
MAIL_FROM = "NextPaper <digest@example.org>"


class Inbox:
    """An aiosmtpd handler that keeps every message, and can refuse senders or recipients."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse_senders = False
        self.refuse_recipients: set[str] = set()

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.refuse_senders:
            return "554 5.7.1 Relay access denied"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse_recipients:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture
def inbox():
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


def mail_env(port: int) -> dict[str, str]:
    return {
        "NEXTPAPER_SMTP_HOST": "127.0.0.1",
        "NEXTPAPER_SMTP_PORT": str(port),
        "NEXTPAPER_PUBLIC_URL": PUBLIC,
        "NEXTPAPER_MAIL_FROM": MAIL_FROM,
    }


def cli(home, port: int, *args: str):
    """``nextpaper --home HOME ARGS`` in process (click's runner), with SMTP on ``port``."""
    return CliRunner().invoke(main, ["--home", str(home), *args], env=mail_env(port))


def add_papers(db, count: int, published: str, prefix: str) -> list[str]:
    papers = []
    for paper in synthetic_papers(count, published=published):
        paper["paper_id"] = paper.pop("id").replace("seed:p", f"seed:{prefix}")
        papers.append(paper)
    storage.upsert_papers(db, papers)
    return [p["paper_id"] for p in papers]


def opened(db, user_id: str, *paper_ids: str, type_: str = "open") -> None:
    now = storage.now_iso()
    events = [
        {"event_id": f"{type_}-{p}", "type": type_, "ts": now, "paper_id": p, "dwell_ms": None}
        for p in paper_ids
    ]
    storage.record_events(db, user_id, events, [])


@pytest.fixture
def lab(app, db):
    """A home with old and today's papers, three readers, and two users with a digest: alice
    (daily) and bob (weekly); carol has an address but no digest."""
    old = add_papers(db, 12, "2020-01-01", "o")
    new = add_papers(db, 20, date.today().isoformat(), "n")
    for name in ("alice", "bob", "carol"):
        storage.create_user(db, name)
    storage.set_user_settings(db, "alice", email="alice@example.org", digest="daily")
    storage.set_user_settings(db, "bob", email="bob@example.org", digest="weekly")
    storage.set_user_settings(db, "carol", email="carol@example.org", digest="off")
    opened(db, "alice", new[0], new[1], old[0])
    opened(db, "alice", new[4], type_="dismiss")
    opened(db, "bob", new[0], new[2], old[1])
    opened(db, "carol", new[0], new[1], new[2], new[3], old[1])  # old[1]: trending, not new
    return {"old": old, "new": new}


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs.append(dict(attrs)["href"])


def parts_of(message) -> tuple[str, str]:
    assert message.get_content_type() == "multipart/alternative"
    text, html = list(message.iter_parts())
    assert text.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    return text.get_content(), html.get_content()


def hrefs(html: str) -> list[str]:
    parser = Links()
    parser.feed(html)
    return parser.hrefs


def path_of(url: str) -> str:
    assert url.startswith(PUBLIC + "/"), url
    return url[len(PUBLIC) :]


def today_periods() -> tuple[str, str]:
    today = datetime.now().astimezone().date()
    return digest.period_key("daily", today), digest.period_key("weekly", today)


# --- what is sent -----------------------------------------------------------------------------


def test_due_users_get_one_multipart_digest_each(home, lab, inbox, db):
    result = run_cli(home, "digest", "send", env={**os.environ, **mail_env(inbox.port)})
    assert "Sent 2 digest(s)" in result.stdout, result.stdout
    assert sorted(to for _, (to,) in inbox.envelopes) == ["alice@example.org", "bob@example.org"]
    (message,) = inbox.to("alice@example.org")
    assert message["From"] == MAIL_FROM
    assert "daily digest" in message["Subject"]
    text, html = parts_of(message)
    new = lab["new"]
    # her best new papers, none she opened or dismissed, and no old paper
    listed = [p for p in new if f'/papers/seed%3A{p.split(":")[1]}"' in html]
    assert listed and not {new[0], new[1], new[4]} & set(listed)
    old = [p for p in lab["old"] if f'seed%3A{p.split(":")[1]}"' in html]
    assert old == [lab["old"][1]]  # trending, among the papers others read this week
    assert "Trending here" in text and "Read by 2 other readers here in the last 7 days" in html
    assert "New for you" in text
    # every link leads to the paper or to NextPaper, under PUBLIC_URL
    links = hrefs(html)
    assert links and all(link.startswith(PUBLIC + "/") for link in links)
    assert all(link in text for link in links)
    unsubscribe = message["List-Unsubscribe"]
    assert unsubscribe.startswith(f"<{PUBLIC}/l/") and unsubscribe.endswith(">")
    assert unsubscribe[1:-1] in links
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    (weekly,) = inbox.to("bob@example.org")
    assert "weekly digest" in weekly["Subject"]
    daily, weekly_period = today_periods()
    log = {(row["user_id"], row["period"], row["status"]) for row in storage.digest_log(db)}
    assert log == {("alice", daily, "sent"), ("bob", weekly_period, "sent")}


def test_one_click_links_record_on_post_only_and_expire(home, lab, inbox, client, db):
    assert cli(home, inbox.port, "digest", "send").exit_code == 0
    (message,) = inbox.to("alice@example.org")
    _, html = parts_of(message)
    links = hrefs(html)
    save = next(link for link in links if "/l/" in link)  # the first paper's "Save"
    dismiss = links[links.index(save) + 1]
    events_before = storage.count_events(db, "alice")

    page = client.get(path_of(save), headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert '<form method="post">' in page.get_data(as_text=True)
    assert storage.count_events(db, "alice") == events_before  # a GET (a mail scanner) does nothing

    assert client.post(path_of(save)).status_code == 200
    assert client.post(path_of(save)).status_code == 200  # clicked twice: one event
    assert client.post(path_of(dismiss)).status_code == 200
    kinds = [e["type"] for e in storage.list_events(db, "alice", limit=10)]
    assert (
        kinds[:2] == ["dismiss", "save"] and storage.count_events(db, "alice") == events_before + 2
    )
    saved_id = storage.list_events(db, "alice", limit=2)[1]["paper_id"]
    assert saved_id in html.replace("%3A", ":")

    # RFC 8058: the mail client POSTs "List-Unsubscribe=One-Click" to the header's URL
    unsubscribe = message["List-Unsubscribe"][1:-1]
    response = client.post(
        path_of(unsubscribe),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert storage.user_settings(db, "alice") == {"email": "alice@example.org", "digest": "off"}

    key = signing.home_key(home)
    link = signing.Link("alice", "save", lab["new"][5])
    stale = signing.sign_link(key, link, issued_at=int(time.time()) - signing.LINK_MAX_AGE - 60)
    fresh = signing.sign_link(key, link, issued_at=int(time.time()) - signing.LINK_MAX_AGE + 60)
    assert client.get(f"/l/{fresh}").status_code == 200
    expired = client.post(f"/l/{stale}")
    assert expired.status_code == 410
    assert expired.get_json()["error"]["code"] == "link_expired"
    page = client.get(f"/l/{stale}", headers={"Accept": "text/html,*/*;q=0.8"})
    assert page.status_code == 410 and "expired" in page.get_data(as_text=True)
    forged = fresh[:-2] + ("AA" if not fresh.endswith("AA") else "BB")
    assert client.post(f"/l/{forged}").get_json()["error"]["code"] == "invalid_link"
    other_key = signing.sign_link(b"k" * 32, link)
    assert client.post(f"/l/{other_key}").status_code == 400
    assert storage.count_events(db, "alice") == events_before + 2


# --- at most once per period ------------------------------------------------------------------


def test_a_second_run_sends_nobody_a_second_copy(home, lab, inbox, db):
    assert cli(home, inbox.port, "digest", "send").exit_code == 0
    assert len(inbox.messages) == 2
    again = cli(home, inbox.port, "digest", "send")
    assert again.exit_code == 0 and "Sent 0 digest(s)" in again.output
    assert len(inbox.messages) == 2
    alone = cli(home, inbox.port, "digest", "send", "--user", "alice")
    assert "already sent this period" in alone.output
    assert len(inbox.messages) == 2 and len(storage.digest_log(db)) == 2


def test_a_digest_claimed_by_a_crashed_run_is_not_sent_again(home, lab, inbox, db):
    daily, weekly = today_periods()
    # a run that crashed after claiming alice's digest, before marking it sent
    assert storage.claim_digests(db, [("alice", daily)]) == [True]
    result = cli(home, inbox.port, "digest", "send")
    assert result.exit_code == 0, result.output
    assert [m["To"] for m in inbox.messages] == ["bob@example.org"]
    statuses = {row["user_id"]: row["status"] for row in storage.digest_log(db)}
    assert statuses == {"alice": "sending", "bob": "sent"}


def test_a_run_racing_another_sends_only_what_it_claimed(app, lab, inbox, db):
    config = {**app.config, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": inbox.port}
    daily, _ = today_periods()

    def another_run_claims_alice(_count):  # after this run found her due, before it claims
        storage.claim_digests(db, [("alice", daily)])

    serving = app.extensions["nextpaper"].serving
    report = digest.send_due(db, serving, config, progress=another_run_claims_alice)
    assert report.taken == 1 and report.sent == 1
    assert [m["To"] for m in inbox.messages] == ["bob@example.org"]
    assert "1 sent by another run" in report.summary()


def test_worker_processes_make_the_same_digests(app, lab, inbox, db):
    """Past a page of due users a run makes digests in worker processes: the same ones."""
    config = {**app.config, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": inbox.port}
    serving = app.extensions["nextpaper"].serving
    here = digest.send_due(db, serving, config, dry_run=True, workers=0)
    there = digest.send_due(db, serving, config, dry_run=True, workers=2)
    assert here.planned == there.planned and len(here.planned) == 2
    sent = digest.send_due(db, serving, config, workers=2)
    assert sent.sent == 2 and len(inbox.messages) == 2
    for user_id, _, new, trending in here.planned:
        (row,) = storage.digest_log(db, user_id)
        assert row["status"] == "sent" and len(row["paper_ids"]) == new + trending


def test_the_next_digest_leaves_out_the_previous_ones_papers(app, lab, inbox, db):
    config = {**app.config, **{"SMTP_HOST": "127.0.0.1", "SMTP_PORT": inbox.port}}
    config["PUBLIC_URL"] = PUBLIC
    serving = app.extensions["nextpaper"].serving
    now = datetime.now().astimezone()
    first = digest.send_due(db, serving, config, user_id="alice", now=now)
    (first_ids,) = (row["paper_ids"] for row in storage.digest_log(db, "alice"))
    second = digest.send_due(db, serving, config, user_id="alice", now=now + timedelta(days=1))
    assert first.sent == second.sent == 1
    second_ids = storage.digest_log(db, "alice")[-1]["paper_ids"]
    assert first_ids and second_ids and not set(first_ids) & set(second_ids)
    # the day after, nothing new was published: nothing is sent
    third = digest.send_due(db, serving, config, user_id="alice", now=now + timedelta(days=2))
    assert third.sent == 0 and third.empty == 1
    assert len(inbox.messages) == 2
    # the log keeps the papers of the latest digest only, and forgets what is over 8 days old
    # but for each user's latest digest
    rows = storage.digest_log(db, "alice")
    assert [bool(row["paper_ids"]) for row in rows] == [False, True]
    add_papers(db, 20, (date.today() + timedelta(days=12)).isoformat(), "later")
    later = digest.send_due(db, serving, config, user_id="alice", now=now + timedelta(days=12))
    assert later.sent == 1
    periods = [digest.period_key("daily", (now + timedelta(days=d)).date()) for d in (1, 12)]
    # the run forgot the first digest, and kept the second, then the latest
    assert [row["period"] for row in storage.digest_log(db, "alice")] == periods
    moment = (now + timedelta(days=20)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert storage.prune_digest_log(db, moment) == 1
    assert [row["period"] for row in storage.digest_log(db, "alice")] == periods[1:]
    assert storage.digest_log(db, "bob") == []  # never sent one


def test_nothing_is_sent_without_new_papers(home, app, db, inbox):
    add_papers(db, 12, "2020-01-01", "o")
    storage.create_user(db, "alice")
    storage.set_user_settings(db, "alice", email="alice@example.org", digest="daily")
    result = cli(home, inbox.port, "digest", "send")
    assert result.exit_code == 0
    assert "Sent 0 digest(s); 1 user(s) due had nothing new." in result.output
    assert inbox.messages == [] and storage.digest_log(db) == []


# --- SMTP failures and dry runs ---------------------------------------------------------------


def test_an_unreachable_smtp_server_is_one_line_exit_2_and_nobody_marked(home, lab, db):
    closed = free_port()  # nothing listens there
    result = run_cli(home, "digest", "send", check=False, env={**os.environ, **mail_env(closed)})
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert f"cannot reach the SMTP server 127.0.0.1:{closed}" in line
    assert storage.digest_log(db) == []


def test_a_refusing_smtp_server_is_one_line_exit_2_and_nobody_marked(home, lab, inbox, db):
    inbox.refuse_senders = True
    result = cli(home, inbox.port, "digest", "send")
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert "refuses mail from digest@example.org" in line and "554" in line
    assert storage.digest_log(db) == [] and inbox.messages == []
    inbox.refuse_senders = False
    assert cli(home, inbox.port, "digest", "send").exit_code == 0
    assert len(inbox.messages) == 2


def test_a_refused_recipient_is_reported_and_stays_due(home, lab, inbox, db):
    inbox.refuse_recipients = {"alice@example.org"}
    result = cli(home, inbox.port, "digest", "send")
    assert result.exit_code == 2
    assert "refused 1 digest(s), e.g. alice's: 550 5.1.1 No such mailbox" in result.output
    assert [m["To"] for m in inbox.messages] == ["bob@example.org"]
    assert [row["user_id"] for row in storage.digest_log(db)] == ["bob"]
    inbox.refuse_recipients = set()
    assert cli(home, inbox.port, "digest", "send").exit_code == 0
    assert [m["To"] for m in inbox.messages] == ["bob@example.org", "alice@example.org"]


def tls_server(tmp_path, **tls) -> tuple[Inbox, Controller, dict[str, str]]:
    """An aiosmtpd server with a certificate for 127.0.0.1 from a local CA (trustme), which
    only accepts the login lab / s3cret; ``tls``: ``tls_context=`` for STARTTLS or
    ``ssl_context=`` for TLS from the first byte. Returns it with the environment that makes
    OpenSSL trust the CA."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            b"lab",
            b"s3cret",
        )
        return AuthResult(success=ok, handled=False)

    handler = Inbox()
    options = {"tls_context": context, "require_starttls": True} if "tls_context" in tls else {}
    if "ssl_context" in tls:
        # aiosmtpd offers AUTH on a TLS-from-the-start connection only when told it need not
        # wait for STARTTLS
        options = {"ssl_context": context, "auth_require_tls": False}
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=authenticator,
        auth_required=True,
        **options,
    )
    controller.start()
    return handler, controller, {"SSL_CERT_FILE": str(ca_file), "NEXTPAPER_SMTP_USERNAME": "lab"}


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_starttls_or_tls_and_login_as_the_settings_say(home, lab, db, tmp_path, mode):
    kind = {"starttls": "tls_context", "ssl": "ssl_context"}[mode]
    inbox, controller, env = tls_server(tmp_path, **{kind: True})
    try:
        env = {**mail_env(controller.port), **env, f"NEXTPAPER_SMTP_{mode.upper()}": "true"}
        wrong = CliRunner().invoke(
            main,
            ["--home", str(home), "digest", "send"],
            env={**env, "NEXTPAPER_SMTP_PASSWORD": "guess"},
        )
        assert wrong.exit_code == 2 and "refused the login" in wrong.output, wrong.output
        assert storage.digest_log(db) == []
        right = CliRunner().invoke(
            main,
            ["--home", str(home), "digest", "send"],
            env={**env, "NEXTPAPER_SMTP_PASSWORD": "s3cret"},
        )
        assert right.exit_code == 0, right.output
        assert sorted(m["To"] for m in inbox.messages) == ["alice@example.org", "bob@example.org"]
    finally:
        controller.stop()


def test_a_dry_run_sends_and_marks_nothing(home, lab, inbox, db):
    result = cli(home, inbox.port, "digest", "send", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would send to alice <alice@example.org>:" in result.output
    assert "would send to bob <bob@example.org>:" in result.output
    assert "Dry run: would send 2 digest(s)" in result.output
    assert inbox.messages == [] and storage.digest_log(db) == []


def test_dry_run_needs_no_smtp_server_and_user_limits_the_run(home, lab, db):
    result = cli(home, free_port(), "digest", "send", "--dry-run", "--user", "bob")
    assert result.exit_code == 0, result.output
    assert "would send to bob" in result.output and "alice" not in result.output
    carol = cli(home, free_port(), "digest", "send", "--user", "carol")
    assert carol.exit_code == 0 and "carol gets no digest (digest off" in carol.output
    nobody = cli(home, free_port(), "digest", "send", "--user", "zed")
    assert nobody.exit_code == 2 and "no user 'zed'" in nobody.output


# --- settings ---------------------------------------------------------------------------------


def test_settings_api_reads_and_checks_what_it_stores(client, make_user):
    alice = make_user("alice")
    assert client.get("/api/v1/settings", headers=alice).get_json() == {
        "email": None,
        "digest": "off",
    }
    bad = [
        ({"digest": "daily"}, "email_required"),
        ({"email": "not an address"}, "invalid_email"),
        ({"email": "x@localhost"}, "invalid_email"),
        ({"email": 7}, "invalid_email"),
        ({"digest": "hourly"}, "invalid_digest"),
        ({"colour": "blue"}, "invalid_body"),
        (["digest"], "invalid_body"),
    ]
    for body, code in bad:
        response = client.put("/api/v1/settings", json=body, headers=alice)
        assert response.status_code == 400, body
        assert response.get_json()["error"]["code"] == code, body
    assert client.put("/api/v1/settings", data="x", headers=alice).status_code == 415
    ok = client.put(
        "/api/v1/settings", json={"email": "Alice@Example.ORG", "digest": "weekly"}, headers=alice
    )
    assert ok.get_json() == {"email": "Alice@example.org", "digest": "weekly"}
    # one setting at a time keeps the other; an address cannot go while a digest is on
    daily = client.put("/api/v1/settings", json={"digest": "daily"}, headers=alice)
    assert daily.get_json() == {"email": "Alice@example.org", "digest": "daily"}
    cleared = client.put("/api/v1/settings", json={"email": None}, headers=alice)
    assert cleared.get_json()["error"]["code"] == "email_required"
    off = client.put("/api/v1/settings", json={"email": None, "digest": "off"}, headers=alice)
    assert off.get_json() == {"email": None, "digest": "off"}
    assert client.get("/api/v1/settings", headers=make_user("bob")).get_json()["digest"] == "off"


def test_users_set_checks_like_the_api(home, app, db):
    storage.create_user(db, "alice")
    runner = CliRunner()
    bad = runner.invoke(main, ["--home", str(home), "users", "set", "alice", "--email", "nope"])
    assert bad.exit_code == 2 and len(bad.output.strip().splitlines()) == 1
    assert "not valid" in bad.output
    alone = runner.invoke(main, ["--home", str(home), "users", "set", "alice", "--digest", "daily"])
    assert alone.exit_code == 2 and "needs an email address" in alone.output
    args = ["users", "set", "alice", "--email", "a@example.org", "--digest", "weekly"]
    good = runner.invoke(main, ["--home", str(home), *args])
    assert good.exit_code == 0, good.output
    assert storage.user_settings(db, "alice") == {"email": "a@example.org", "digest": "weekly"}
    unknown = runner.invoke(main, ["--home", str(home), "users", "set", "zed", "--digest", "off"])
    assert unknown.exit_code == 2 and "no user 'zed'" in unknown.output


@pytest.mark.parametrize(
    ("paper", "link"),
    [
        ({"id": "seed:p1", "url": "https://example.org/p1"}, "https://example.org/p1"),
        ({"id": "arxiv:2401.00001"}, "https://arxiv.org/abs/2401.00001"),
        ({"id": "seed:p2", "arxiv_id": "2401.00002"}, "https://arxiv.org/abs/2401.00002"),
        ({"id": "openreview:AbC12"}, "https://openreview.net/forum?id=AbC12"),
        ({"id": "acl:2020.acl-main.1"}, "https://aclanthology.org/2020.acl-main.1/"),
        ({"id": "seed:p3", "doi": "10.1000/x y"}, "https://doi.org/10.1000/x%20y"),
        # only http(s) URLs are followed; else the paper's page here, as for a bare seed paper
        ({"id": "seed:p4", "url": "javascript:alert(1)"}, "https://np.example/papers/seed%3Ap4"),
        ({"id": "seed:p5"}, "https://np.example/papers/seed%3Ap5"),
    ],
)
def test_a_digest_item_links_where_the_web_apps_title_does_else_to_its_page_here(paper, link):
    from server.web.paper_links import title_link

    assert digest.paper_link(paper, "https://np.example") == link
    if not link.startswith("https://np.example/"):
        assert title_link(paper) == link  # one rule for both
