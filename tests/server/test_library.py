"""Library import and export: BibTeX, RIS, CSL-JSON and plain lists, as Zotero and the other
common tools write them (``tests/fixtures/library/``), through the package, the real CLI and the
HTTP API, on a real SQLite file."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import bibtexparser
import pytest
import rispy

from server.jobs.training import train_and_publish
from server.library import (
    FORMATS,
    LibraryError,
    NothingImported,
    export_library,
    import_library,
    read_library,
)
from server.library.records import added_timestamp, paper_of, published_date
from server.model_versions import ModelStore
from server.store import storage
from tests.conftest import run_cli, synthetic_papers
from tests.reliability.support import assert_error, event

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "library"

# The five items of one Zotero library, exported as BibTeX, RIS and CSL-JSON.
ZOTERO_IDS = [
    "arxiv:1706.03762",  # a preprint: arXiv DOI, "arXiv:… [cs]" note
    "doi:10.1038/nature14539",
    "doi:10.1162/089976698300017467",  # LaTeX accents in names, no URL, no access date
    "url:https://proceedings.neurips.cc/paper/2012/hash/"
    "c399862d3b9d6b76c8436e924a68c45b-Abstract.html",  # a URL is all it has
    "arxiv:hep-th/9711200",  # a journal DOI, and its arXiv id in a note: arXiv wins
]


def papers_in(name: str) -> list[dict]:
    """The papers a fixture file's good entries name, in file order."""
    return [paper_of(record) for record in read_library((FIXTURES / name).read_bytes()).records]


def upload(client, headers, data: bytes, filename: str = "library.bib"):
    return client.post(
        "/api/v1/library",
        data={"file": (io.BytesIO(data), filename)},
        headers=headers,
        content_type="multipart/form-data",
    )


def saved(client, headers) -> dict[str, str]:
    body = client.get("/api/v1/saved?limit=1000", headers=headers).get_json()
    return {item["paper"]["id"]: item["saved_at"] for item in body["items"]}


# --- reading the formats ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["zotero.bib", "zotero.ris", "zotero.json"])
def test_a_zotero_library_reads_the_same_in_each_export_format(name):
    papers = papers_in(name)
    assert [p["paper_id"] for p in papers] == ZOTERO_IDS
    attention, nature, kernel, imagenet, maldacena = papers
    assert attention["title"] == "Attention Is All You Need"  # BibTeX's {Is} braces gone
    assert attention["authors"][0] == "Ashish Vaswani"
    assert attention["authors"][6] == "Łukasz Kaiser"  # {\L}ukasz in BibTeX
    assert attention["published"] == "2023-08-01"
    assert attention["arxiv_id"] == "1706.03762"
    assert attention["abstract"].startswith("The dominant sequence transduction models")
    assert kernel["authors"] == ["Bernhard Schölkopf", "Alexander Smola", "Klaus-Robert Müller"]
    assert kernel["url"] == "https://doi.org/10.1162/089976698300017467"
    assert nature["published"] == "2015-05-01" and nature["doi"] == "10.1038/nature14539"
    assert imagenet["title"] == "ImageNet Classification with Deep Convolutional Neural Networks"
    assert imagenet["published"] == "2012-01-01"
    assert maldacena["arxiv_id"] == "hep-th/9711200" and maldacena["published"] == "1999-04-01"
    added = [r.added for r in read_library((FIXTURES / name).read_bytes()).records]
    # the access date Zotero's connector sets when it saves an item (RIS keeps its time)
    assert [a and a[:10] for a in added] == ["2024-03-18", "2023-11-02", None, "2022-06-30", None]


def test_other_tools_bibtex_is_read_where_each_tool_writes_things():
    by_id = {p["paper_id"]: p for p in papers_in("tools.bib")}
    records = read_library((FIXTURES / "tools.bib").read_bytes()).records
    added = {paper_of(r)["paper_id"]: r.added for r in records}
    assert list(by_id) == [
        "arxiv:1810.04805",  # Better BibTeX: eprint + archiveprefix
        "arxiv:2005.14165",  # biblatex: eprinttype + date
        "doi:10.1109/cvpr.2016.90",  # JabRef: creationdate
        "arxiv:1412.6980",  # Mendeley: arxivId
        "doi:10.1145/3422622",  # BibDesk: date-added with a UTC offset
        "arxiv:1606.05250",  # arXiv's own "Export BibTeX citation"
    ]
    bert = by_id["arxiv:1810.04805"]
    assert bert["title"] == (
        "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding"
    )
    assert bert["published"] == "2019-05-01"
    assert by_id["arxiv:2005.14165"]["published"] == "2020-07-22"
    resnet = by_id["doi:10.1109/cvpr.2016.90"]
    assert resnet["authors"] == ["Kaiming He", "Xiangyu Zhang", "Shaoqing Ren", "Jian Sun"]
    assert "lowers the error by 28% relative & wins" in resnet["abstract"]
    assert by_id["arxiv:1412.6980"]["title"] == "Adam: A Method for Stochastic Optimization"
    assert added["doi:10.1109/cvpr.2016.90"] == "2023-01-15T09:30:00.000000Z"
    assert added["doi:10.1145/3422622"] == "2021-09-14T06:01:02.000000Z"  # 08:01:02 +0200
    assert added["arxiv:1412.6980"] is None


def test_a_plain_list_mixes_arxiv_ids_dois_and_urls():
    library = read_library((FIXTURES / "ids.txt").read_bytes())
    assert library.format.name == "list" and library.problems == []
    ids = [paper_of(r)["paper_id"] for r in library.records]
    assert ids == [
        "arxiv:1706.03762",
        "arxiv:1810.04805",
        "arxiv:2005.14165",
        "arxiv:hep-th/9711200",
        "doi:10.1038/nature14539",
        "doi:10.1162/089976698300017467",
        "doi:10.1109/cvpr.2016.90",
        "openreview:YicbFdNTTy",
        ZOTERO_IDS[3],
        "arxiv:1706.03762",  # again, as a versioned link: one paper
        "arxiv:2302.13971",
    ]
    assert [r.line for r in library.records][:2] == [2, 3]  # line 1 is a comment


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        (
            "broken.bib",
            ["arxiv:2101.00001", "doi:10.1000/good.last"],
            [
                (1, 8, "no_identifier"),
                (2, 14, "malformed_entry"),  # a brace never closes
                (3, 20, "invalid_doi"),
                (4, 25, "invalid_url"),  # a file:// link
            ],
        ),
        (
            "broken.ris",
            ["doi:10.1000/ris.first", "arxiv:2101.00002"],
            [(1, 7, "no_identifier"), (2, 12, "malformed_entry")],  # no ER line
        ),
        (
            "broken.json",
            ["doi:10.1000/csl.first", "arxiv:2101.00003"],
            [(1, 3, "malformed_entry"), (2, 4, "no_identifier")],  # a string, not an item
        ),
    ],
)
def test_bad_entries_are_reported_by_position_and_the_rest_are_kept(db, make_user, name, good, bad):
    make_user("alice")
    result = import_library(db, "alice", (FIXTURES / name).read_bytes())
    assert [(p.index, p.line, p.code) for p in result.rejected] == bad
    assert all(p.message for p in result.rejected)
    assert (result.papers, result.imported, result.already) == (len(good), len(good), 0)
    page, _ = storage.saved_papers(db, "alice", limit=100, offset=0)
    assert sorted(paper_id for paper_id, _ in page) == sorted(good)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty_library"),
        (b"  \n\n", "empty_library"),
        (b"Dear reader,\nthese are not papers.\n", "unsupported_library_format"),
        (b"%PDF-1.7\n\x00\x01binary", "unsupported_library_format"),
        (b"\xff\xd8\xff\xe0 not utf-8 \xe9", "invalid_encoding"),
        (b'{"events": []}', "unsupported_library_format"),
        (b"[1, 2", "unsupported_library_format"),
        (b"@comment{nothing here}\n@string{x = {y}}\n", "empty_library"),
    ],
)
def test_a_file_that_is_no_library_is_one_clear_error(data, code):
    with pytest.raises(LibraryError) as raised:
        read_library(data)
    assert raised.value.code == code
    assert raised.value.message


@pytest.mark.parametrize(
    ("text", "published", "added"),
    [
        ("2024-03-18", "2024-03-18", "2024-03-18T00:00:00.000000Z"),  # BibTeX urldate
        ("2024/03/18/14:20:31", "2024-03-18", "2024-03-18T14:20:31.000000Z"),  # RIS Y2
        ("2019-03-04 10:20:30 +0100", "2019-03-04", "2019-03-04T09:20:30.000000Z"),  # BibDesk
        ("2021-03-04T10:20:30", "2021-03-04", "2021-03-04T10:20:30.000000Z"),  # JabRef
        ("2017.03.04", "2017-03-04", "2017-03-04T00:00:00.000000Z"),  # JabRef, older
        ("2017/12//", "2017-12-01", "2017-12-01T00:00:00.000000Z"),  # RIS DA, day unknown
        ("2017///", "2017-01-01", None),  # a year says when it was published, not added
        ("2017-12-05/2017-12-07", "2017-12-05", "2017-12-05T00:00:00.000000Z"),  # a range
        ("1980-01-01", "1980-01-01", None),  # events start in 1990
        ("2999-01-01", "2999-01-01", None),  # the future
        ("12345", None, None),
        ("December 2017", None, None),
        ("2017-13-01", None, None),
    ],
)
def test_dates_as_files_write_them(text, published, added):
    assert published_date(text) == published
    assert added_timestamp(text) == added


# --- storing: catalog papers and save events --------------------------------------------------


def test_import_saves_each_paper_once_dated_from_the_file_and_again_adds_nothing(db, make_user):
    make_user("alice")
    data = (FIXTURES / "zotero.bib").read_bytes()
    first = import_library(db, "alice", data)
    assert (first.format, first.papers, first.imported, first.already) == ("bibtex", 5, 5, 0)
    events = storage.list_events(db, "alice", limit=100)
    assert {e["type"] for e in events} == {"save"}
    assert {e["id"] for e in events} == {f"library:{paper_id}" for paper_id in ZOTERO_IDS}
    by_paper = {e["paper_id"]: e["ts"] for e in events}
    assert by_paper["arxiv:1706.03762"] == "2024-03-18T00:00:00.000000Z"  # urldate
    assert by_paper["doi:10.1162/089976698300017467"] > "2025"  # undated: the import's time
    stored = storage.get_paper(db, "arxiv:1706.03762")
    assert stored["title"] == "Attention Is All You Need" and len(stored["authors"]) == 8
    # the same file again, and the same library in another format: nothing new
    for again in (data, (FIXTURES / "zotero.ris").read_bytes()):
        result = import_library(db, "alice", again)
        assert (result.papers, result.imported, result.already) == (5, 0, 5)
    assert storage.count_events(db, "alice") == 5


def test_a_paper_saved_before_is_already_there_and_an_unsaved_one_is_saved_again(db, make_user):
    make_user("alice")
    storage.record_events(
        db,
        "alice",
        [
            {"event_id": "ext-1", "type": "save", "ts": "2024-01-01T00:00:00.000000Z",
             "paper_id": "arxiv:1706.03762", "dwell_ms": None},
            {"event_id": "ext-2", "type": "save", "ts": "2024-01-01T00:00:00.000000Z",
             "paper_id": "doi:10.1038/nature14539", "dwell_ms": None},
            {"event_id": "ext-3", "type": "unsave", "ts": "2024-01-02T00:00:00.000000Z",
             "paper_id": "doi:10.1038/nature14539", "dwell_ms": None},
        ],
        [{"paper_id": "arxiv:1706.03762"}, {"paper_id": "doi:10.1038/nature14539"}],
    )  # fmt: skip
    result = import_library(db, "alice", (FIXTURES / "zotero.json").read_bytes())
    assert (result.imported, result.already) == (4, 1)
    page, total = storage.saved_papers(db, "alice", limit=100, offset=0)
    assert total == 5 and {paper_id for paper_id, _ in page} == set(ZOTERO_IDS)


def test_a_bad_file_stores_nothing(db, make_user):
    make_user("alice")
    with pytest.raises(NothingImported) as raised:
        import_library(db, "alice", b"@misc{a, title = {No id}}\n@book{b, title = {None}}\n")
    assert [(p.index, p.line) for p in raised.value.rejected] == [(0, 1), (1, 2)]
    assert raised.value.code == "no_identifier"
    assert storage.count_events(db, "alice") == 0


# --- exports, and reading them back -----------------------------------------------------------

TRICKY = {
    "paper_id": "doi:10.1000/tricky",
    "title": "50% of {braces} & $dollars$ -- ~tilde^caret\\ #1_x `quoted' Ærø",
    "abstract": "An abstract with % and & and a second sentence.",
    "authors": ["José de la Fuente", "Li Wei", "Plato"],
    "published": "2020-02-29",
}


@pytest.mark.parametrize("format_name", list(FORMATS))
def test_an_export_read_back_gives_the_same_papers(db, make_user, format_name):
    make_user("alice")
    for name in ("zotero.bib", "tools.bib", "ids.txt"):
        import_library(db, "alice", (FIXTURES / name).read_bytes())
    storage.upsert_papers(db, [TRICKY])
    storage.record_events(
        db,
        "alice",
        [{"event_id": "t", "type": "save", "ts": "2024-05-06T07:08:09.000000Z",
          "paper_id": TRICKY["paper_id"], "dwell_ms": None}],
        [],
    )  # fmt: skip
    page, _ = storage.saved_papers(db, "alice", limit=1000, offset=0)
    saved_at = dict(page)
    papers = list(storage.get_papers(db, list(saved_at)).values())
    assert len(papers) == 14

    text = export_library(papers, format_name, saved_at)
    library = read_library(text.encode("utf-8"))
    assert library.format.name == format_name and library.problems == []
    back = [paper_of(record) for record in library.records]
    assert [p["paper_id"] for p in back] == [p["id"] for p in papers]
    if format_name == "list":
        return  # ids only
    for before, after in zip(papers, back, strict=True):
        for name in ("title", "abstract", "authors", "published"):
            assert (after.get(name) or None) == (before.get(name) or None), (before["id"], name)
    added = {paper_of(r)["paper_id"]: r.added for r in library.records}
    assert all(added[p["id"]][:10] == saved_at[p["id"]][:10] for p in papers)


def test_exports_are_well_formed_for_the_libraries_that_read_them(db, make_user):
    make_user("alice")
    import_library(db, "alice", (FIXTURES / "zotero.bib").read_bytes())
    storage.upsert_papers(db, [TRICKY])
    wanted = [*ZOTERO_IDS, TRICKY["paper_id"]]
    found = storage.get_papers(db, wanted)
    papers = [found[paper_id] for paper_id in wanted]
    text = export_library(papers, "bibtex")
    # LaTeX's special characters are escaped, so the file also typesets
    assert r"title = {{50\% of \{braces\} \& \$dollars\$ -{}- " in text
    bib = bibtexparser.parse_string(text)
    assert not bib.failed_blocks and len(bib.entries) == 6
    attention = bib.entries[0]
    assert attention.entry_type == "misc"
    assert (attention["eprint"], attention["archiveprefix"]) == ("1706.03762", "arXiv")
    assert attention["author"].startswith("Vaswani, Ashish and Shazeer, Noam")
    assert bib.entries[1].entry_type == "article" and bib.entries[1]["doi"] == "10.1038/nature14539"
    refs = rispy.loads(export_library(papers, "ris"))
    assert len(refs) == 6 and refs[0]["authors"][0] == "Vaswani, Ashish"
    assert refs[0]["notes"] == ["arXiv:1706.03762"]
    items = json.loads(export_library(papers, "csl-json"))
    assert items[0]["author"][0] == {"family": "Vaswani", "given": "Ashish"}
    assert items[0]["issued"] == {"date-parts": [[2023, 8, 1]]}
    assert len({item["id"] for item in items}) == 6  # citation keys are unique


# --- the command line -------------------------------------------------------------------------


def test_cli_library_import_end_to_end(tmp_path):
    home = tmp_path / "home"
    run_cli(home, "init")
    run_cli(home, "users", "add", "alice")
    bib = str(FIXTURES / "zotero.bib")
    first = run_cli(home, "library", "import", "alice", bib)
    assert first.stdout.strip() == "Imported 5 papers for alice (0 already there)."
    again = run_cli(home, "library", "import", "alice", str(FIXTURES / "zotero.ris"))
    assert again.stdout.strip() == "Imported 0 papers for alice (5 already there)."
    broken = run_cli(home, "library", "import", "alice", str(FIXTURES / "broken.bib"))
    lines = broken.stdout.strip().splitlines()
    assert lines[0] == "Imported 2 papers for alice (0 already there); 4 entries skipped:"
    assert lines[1] == "  entry 2 (line 8): no arXiv id, DOI or URL"
    assert [line.split(":")[0] for line in lines[2:]] == [
        "  entry 3 (line 14)",
        "  entry 4 (line 20)",
        "  entry 5 (line 25)",
    ]
    with sqlite3.connect(home / "nextpaper.db") as conn:
        rows = conn.execute(
            "SELECT event_id, type, ts FROM events WHERE user_id = 'alice' ORDER BY event_id"
        ).fetchall()
    assert len(rows) == 7 and {row[1] for row in rows} == {"save"}
    assert ("library:arxiv:1706.03762", "save", "2024-03-18T00:00:00.000000Z") in rows


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("bob", "zotero.bib"), "no user 'bob'"),
        (("alice", "missing.bib"), "cannot read"),
        (("alice", "not-a-library.txt"), "not BibTeX, RIS or CSL-JSON"),
        (("alice", "all-bad.bib"), "no entry could be imported"),
    ],
)
def test_cli_library_import_fails_in_one_line_with_exit_2(tmp_path, args, says):
    home = tmp_path / "home"
    run_cli(home, "init")
    run_cli(home, "users", "add", "alice")
    (tmp_path / "not-a-library.txt").write_text("Dear reader,\nthese are not papers.\n")
    (tmp_path / "all-bad.bib").write_text("@misc{a, title={x}}\n\n@misc{b, title={y}}\n")
    user, name = args
    path = FIXTURES / name if name == "zotero.bib" else tmp_path / name
    result = run_cli(home, "library", "import", user, str(path), check=False)
    assert result.returncode == 2
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1 and says in error_lines[0], result.stderr
    if name == "all-bad.bib":  # the first problems, each with its position
        assert "entry 1 (line 1): no arXiv id, DOI or URL" in result.stderr
        assert "entry 2 (line 3): no arXiv id, DOI or URL" in result.stderr


# --- the HTTP API -----------------------------------------------------------------------------


def test_post_library_imports_for_the_caller_only_and_is_idempotent(client, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    data = (FIXTURES / "zotero.json").read_bytes()
    first = upload(client, alice, data, "My Library.json")
    assert first.status_code == 200, first.get_data(as_text=True)
    assert first.get_json() == {
        "imported": 5,
        "already": 0,
        "papers": 5,
        "format": "csl-json",
        "rejected": [],
    }
    again = upload(client, alice, data).get_json()
    assert (again["imported"], again["already"]) == (0, 5)
    mine = saved(client, alice)
    assert set(mine) == set(ZOTERO_IDS)
    assert mine["arxiv:1706.03762"] == "2024-03-18T00:00:00.000000Z"
    assert saved(client, bob) == {}


def test_post_library_reports_bad_entries_with_index_and_line(client, make_user):
    alice = make_user("alice")
    body = upload(client, alice, (FIXTURES / "broken.ris").read_bytes(), "x.ris").get_json()
    assert (body["imported"], body["papers"], body["format"]) == (2, 2, "ris")
    assert [(r["index"], r["line"], r["code"]) for r in body["rejected"]] == [
        (1, 7, "no_identifier"),
        (2, 12, "malformed_entry"),
    ]
    lines = b"1706.03762\nnot an id\nTitle:Attention\nc:/Users/ada/paper.pdf\n"
    listed = upload(client, alice, lines, "l.txt").get_json()
    assert listed["rejected"] == [
        {
            "index": 1,
            "code": "no_identifier",
            "message": "'not an id' is not an arXiv id, DOI or URL",
            "line": 2,
        },
        {  # a word and a colon make no id: only arxiv:, doi:, url: and the like do
            "index": 2,
            "code": "no_identifier",
            "message": "'Title:Attention' is not an arXiv id, DOI or URL",
            "line": 3,
        },
        {  # nor a Windows path
            "index": 3,
            "code": "no_identifier",
            "message": "'c:/Users/ada/paper.pdf' is not an arXiv id, DOI or URL",
            "line": 4,
        },
    ]


def test_post_library_errors_have_the_error_shape(home, db, make_user):
    from server import create_app

    app = create_app({"HOME": str(home), "TESTING": True, "MAX_CONTENT_LENGTH": 4096})
    client = app.test_client()
    alice = make_user("alice")
    assert_error(upload(client, alice, b"prose, not papers\n"), 415, "unsupported_library_format")
    assert_error(upload(client, alice, b""), 400, "empty_library")
    assert_error(upload(client, alice, b"@misc{a, title={x}}\n"), 400, "no_identifier")
    assert_error(upload(client, alice, b"1706.03762\n" * 1000), 413, "body_too_large")
    no_file = client.post(
        "/api/v1/library", data={"other": "x"}, headers=alice, content_type="multipart/form-data"
    )
    assert_error(no_file, 400, "missing_file")
    as_json = client.post("/api/v1/library", json={"file": "1706.03762"}, headers=alice)
    assert_error(as_json, 415, "unsupported_media_type")
    assert_error(upload(client, {}, b"1706.03762\n"), 401, "missing_token")
    assert storage.count_events(db, "alice") == 0


# --- personalised right after an import -------------------------------------------------------


@pytest.fixture
def trained_topics(client, make_user, db, app) -> list[str]:
    """24 arXiv papers in six topics (paper i is topic i % 6: graph, retrieval, vision, ...),
    each topic read by two readers, and a model trained on them."""
    papers = synthetic_papers(24)
    ids = [f"arxiv:2601.{i:05d}" for i in range(24)]
    rows = [{**p, "paper_id": paper_id} for p, paper_id in zip(papers, ids, strict=True)]
    storage.upsert_papers(db, rows)
    for reader in range(12):
        batch = [event(f"r{reader}-{j}", {"id": ids[j]}) for j in range(reader % 6, 24, 6)]
        headers = make_user(f"r{reader}")
        assert (
            client.post("/api/v1/events", json={"events": batch}, headers=headers).status_code
            == 200
        )
    train_and_publish(db, ModelStore(app.config["MODELS"]))
    return ids


def recommended(client, headers) -> tuple[str, list[str]]:
    body = client.get("/api/v1/recommendations?n=4", headers=headers).get_json()
    return body["model_version"], [item["paper"]["id"] for item in body["items"]]


def test_the_next_recommendations_count_an_imported_library(client, make_user, trained_topics):
    """Right after an import, without retraining, a newcomer's feed is led by papers of the
    topic of the papers they imported."""
    ids = trained_topics
    alice = make_user("alice")
    version, before = recommended(client, alice)
    library = (
        "@misc{one, title = {Graph methods}, eprint = {2601.00000}, archivePrefix = {arXiv}}\n"
        "@misc{two, title = {Graph methods 6}, note = {arXiv:2601.00006 [cs]}}\n"
    )
    assert upload(client, alice, library.encode()).get_json()["imported"] == 2
    after_version, after = recommended(client, alice)
    assert after_version == version  # the same model: no retraining
    graph = {ids[12], ids[18]}  # the graph papers alice has not saved
    assert after != before
    assert set(after[:2]) == graph, after
    assert not {ids[0], ids[6]} & set(after)  # saved papers are not recommended back


def test_papers_new_to_the_catalog_count_through_their_text(client, make_user, trained_topics):
    """A library of papers the model has never seen still steers the feed, by their text."""
    ids = trained_topics
    bob = make_user("bob")
    _, before = recommended(client, bob)
    library = (
        "TY  - JOUR\nTI  - A paper nobody here has read\n"
        "AB  - Image vision detection: convolution over every pixel for segmentation.\n"
        "DO  - 10.1000/vision.new\nER  - \n"
    )
    assert upload(client, bob, library.encode(), "new.ris").get_json()["imported"] == 1
    _, after = recommended(client, bob)
    vision = {paper_id for k, paper_id in enumerate(ids) if k % 6 == 2}
    assert after[0] in vision, after
    assert len(vision & set(after)) > len(vision & set(before))
