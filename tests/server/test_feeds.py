"""Each user's Atom feed, ``/feeds/<secret>.atom``: the URL ``nextpaper users feed-url`` prints,
replacing its secret, what a feed reader parses (feedparser, and xml.etree with the Atom
namespace), and that neither the API token nor the secret itself is in the URL or the
database."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from datetime import date

import feedparser
from click.testing import CliRunner

from server.cli import main
from server.store import storage
from tests.conftest import synthetic_papers

PUBLIC = "https://papers.example.org/np"
ATOM = "{http://www.w3.org/2005/Atom}"


def feed_url(home, name: str, *more: str):
    result = CliRunner().invoke(
        main,
        ["--home", str(home), "users", "feed-url", name, *more],
        env={"NEXTPAPER_PUBLIC_URL": PUBLIC},
    )
    return result


def setup_lab(app, db, make_user):
    app.config["PUBLIC_URL"] = PUBLIC  # as the CLI's environment says
    today = date.today().isoformat()
    papers = []
    for paper in synthetic_papers(12, published=today):
        paper["paper_id"] = paper.pop("id")
        papers.append(paper)
    papers[5]["title"] = "Control\x0bcharacters \x01and <markup> & such"
    papers[5]["authors"] = ["Ada Lovelace", "Alan Turing"]
    papers[7]["url"] = "https://arxiv.org/abs/2612.00007"
    storage.upsert_papers(db, papers)
    alice = make_user("alice")
    for name in ("bob", "carol"):
        storage.create_user(db, name)
    now = storage.now_iso()

    def opened(user_id, *ids):
        events = [
            {"event_id": f"o-{p}", "type": "open", "ts": now, "paper_id": p, "dwell_ms": None}
            for p in ids
        ]
        storage.record_events(db, user_id, events, [])

    opened("alice", "seed:p0")
    opened("bob", "seed:p0", "seed:p1", "seed:p5")
    opened("carol", "seed:p1", "seed:p5")
    return alice


def test_feed_url_is_stable_parses_as_atom_and_can_be_replaced(home, app, db, client, make_user):
    token = setup_lab(app, db, make_user)["Authorization"].split()[1]
    first = feed_url(home, "alice")
    assert first.exit_code == 0, first.output
    url = first.output.strip().splitlines()[-1]
    assert url.startswith(f"{PUBLIC}/feeds/") and url.endswith(".atom")
    assert token not in url
    assert feed_url(home, "alice").output.strip().splitlines()[-1] == url

    response = client.get(url[len(PUBLIC) :])
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    parsed = feedparser.parse(response.data)
    assert parsed.version == "atom10" and not parsed.bozo, parsed.get("bozo_exception")
    ids = [entry.id for entry in parsed.entries]
    assert ids and f"{PUBLIC}/papers/seed%3Ap0" not in ids  # alice opened it
    assert ids[:2] == [f"{PUBLIC}/papers/seed%3Ap1", f"{PUBLIC}/papers/seed%3Ap5"]  # trending
    odd = parsed.entries[1]
    assert odd.title == "Controlcharacters and <markup> & such"
    assert [a.name for a in odd.authors] == ["Ada Lovelace", "Alan Turing"]
    assert "Read by 2 other readers here in the last 7 days" in odd.summary
    by_id = {entry.id: entry for entry in parsed.entries}
    assert by_id[f"{PUBLIC}/papers/seed%3Ap7"].link == "https://arxiv.org/abs/2612.00007"
    for entry in parsed.entries:
        assert entry.link.startswith(("https://arxiv.org/", f"{PUBLIC}/papers/"))
        assert f'href="{PUBLIC}/l/' in entry.content[0].value  # save, not interested

    root = ET.fromstring(response.data)
    assert root.tag == f"{ATOM}feed"
    self_link = root.find(f"{ATOM}link[@rel='self']")
    assert self_link is not None and self_link.get("href") == url
    assert len(root.findall(f"{ATOM}entry")) == len(parsed.entries)
    for entry in root.findall(f"{ATOM}entry"):
        assert entry.find(f"{ATOM}id") is not None and entry.find(f"{ATOM}updated") is not None

    # the database keeps neither the secret nor the token
    secret = url.rsplit("/", 1)[1].removesuffix(".atom")
    with sqlite3.connect(home / "nextpaper.db") as conn:
        dump = "\n".join(conn.iterdump())
    assert secret not in dump and token not in dump

    replaced = feed_url(home, "alice", "--new")
    assert replaced.exit_code == 0
    new_url = replaced.output.strip().splitlines()[-1]
    assert new_url != url and new_url.startswith(f"{PUBLIC}/feeds/")
    gone = client.get(url[len(PUBLIC) :])
    assert gone.status_code == 404
    assert gone.get_json()["error"]["code"] == "feed_not_found"
    assert client.get(new_url[len(PUBLIC) :]).status_code == 200
    assert feed_url(home, "alice").output.strip().splitlines()[-1] == new_url


def test_feeds_are_per_user_and_unknown_ones_are_404(home, app, db, client, make_user):
    setup_lab(app, db, make_user)
    alice = feed_url(home, "alice").output.strip().splitlines()[-1]
    bob = feed_url(home, "bob").output.strip().splitlines()[-1]
    assert alice != bob
    alice_ids, bob_ids = (
        [e.id for e in feedparser.parse(client.get(url[len(PUBLIC) :]).data).entries]
        for url in (alice, bob)
    )
    read_by_bob = {f"{PUBLIC}/papers/seed%3Ap{i}" for i in (0, 1, 5)}
    assert bob_ids and not read_by_bob & set(bob_ids)
    assert read_by_bob - {f"{PUBLIC}/papers/seed%3Ap0"} <= set(alice_ids)
    for path in ("/feeds/nope.atom", "/feeds/" + "A" * 43 + ".atom", "/feeds/.atom"):
        response = client.get(path)
        assert response.status_code == 404
        assert set(response.get_json()) == {"error"}
    unknown = feed_url(home, "zed")
    assert unknown.exit_code == 2 and "no user 'zed'" in unknown.output
