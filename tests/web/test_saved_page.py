"""The Saved page: the list (as ``GET /api/v1/saved`` pages it), Unsave, the three exports and
library import by upload (as ``POST /api/v1/library`` imports)."""

from __future__ import annotations

import html
import io
import re

import pytest

from server.library import export_library
from server.store import storage
from tests.web.conftest import WebClient

pytestmark = pytest.mark.both_backends

TITLE = re.compile(r'<a class="title" id="title-\d+" href="([^"]+)"[^>]*>([^<]*)</a>')
BIBTEX = """@article{good1, title={Attention Is All You Need}, eprint={1706.03762},
  archivePrefix={arXiv}, author={Vaswani, Ashish}, year={2017}}

@article{good2, title={A DOI paper}, doi={10.1000/XYZ123}, year={2020}}

@article{bad, title={Nothing that names it}, year={2021}}
"""


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def titles(page) -> list[str]:
    return [html.unescape(t) for _, t in TITLE.findall(page.get_data(as_text=True))]


def text_of(page) -> str:
    """What a person reads on a page: its text without tags, spaces collapsed."""
    text = re.sub(r"<[^>]+>", " ", page.get_data(as_text=True))
    return re.sub(r"\s+([.,;:])", r"\1", " ".join(html.unescape(text).split()))


def save(web: WebClient, *numbers: int) -> None:
    for n in numbers:
        response = web.post_form("/saved", "/marks", {"type": "save", "paper_id": f"seed:p{n}"})
        assert response.status_code == 303


@pytest.fixture
def alice(web, catalog, user_token):
    token = user_token("alice")
    web.sign_in(token)
    return token


def test_the_saved_list_is_the_apis_newest_first_with_links_and_unsave(client, web, alice, db):
    paper = storage.get_paper(db, "seed:p2")
    storage.upsert_papers(db, [{**paper, "paper_id": paper.pop("id"), "authors": ["Ada Lovelace"]}])
    save(web, 3, 1, 2)
    page = web.get("/saved")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    api = client.get("/api/v1/saved", headers=bearer(alice)).get_json()
    assert titles(page) == [item["paper"]["title"] for item in api["items"]]
    assert [i["paper"]["id"] for i in api["items"]] == ["seed:p2", "seed:p1", "seed:p3"]
    assert "3 saved papers" in body
    assert 'aria-current="page">Saved</a>' in body
    first = api["items"][0]["paper"]
    assert "Ada Lovelace" in body and f'<time datetime="{first["published"]}">' in body
    assert 'href="https://www.semanticscholar.org/search?' in body  # seed ids: a search link

    unsave = web.post_form(
        "/saved", "/marks", {"type": "unsave", "paper_id": "seed:p1", "next": "/saved"}
    )
    assert unsave.status_code == 303 and unsave.headers["Location"] == "/saved"
    after = web.get("/saved")
    assert "seed:p1" not in after.get_data(as_text=True).split("<ol")[1]
    assert len(titles(after)) == 2
    # the page it led back to says what was done, with Undo, once
    notice = after.get_data(as_text=True).split('<div class="banner info" role="status">')[1]
    assert "Undo" in notice.split("</div>")[0] and 'value="save"' in notice.split("</div>")[0]
    assert 'class="banner info"' not in web.get("/").get_data(as_text=True)
    assert client.get("/api/v1/saved", headers=bearer(alice)).get_json()["total"] == 2


def test_the_saved_list_is_paginated(web, alice):
    save(web, *range(55))
    first, second = web.get("/saved"), web.get("/saved?page=2")
    assert len(titles(first)) == 50 and len(titles(second)) == 5
    assert set(titles(first)).isdisjoint(titles(second))
    assert "Page 1 of 2" in first.get_data(as_text=True)
    assert 'href="/saved?page=2" rel="next"' in first.get_data(as_text=True)
    assert 'href="/saved" rel="prev"' in second.get_data(as_text=True)
    assert "There is no page 3" in web.get("/saved?page=3").get_data(as_text=True)
    for bad in ("0", "two", "-1"):
        response = web.get(f"/saved?page={bad}")
        assert response.status_code == 400 and "pages are numbered" in response.get_data(
            as_text=True
        )


@pytest.mark.parametrize(
    ("name", "media_type", "filename"),
    [
        ("bibtex", "application/x-bibtex", "nextpaper-saved.bib"),
        ("ris", "application/x-research-info-systems", "nextpaper-saved.ris"),
        ("csl-json", "application/vnd.citationstyles.csl+json", "nextpaper-saved.json"),
    ],
)
def test_each_export_is_a_download_of_every_saved_paper(
    client, web, alice, name, media_type, filename
):
    save(web, 4, 5)
    page = web.get("/saved").get_data(as_text=True)
    assert f'href="/saved/export/{name}" download' in page
    response = web.get(f"/saved/export/{name}")
    assert response.status_code == 200
    assert response.mimetype == media_type and response.mimetype_params["charset"] == "utf-8"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{filename}"'
    api = client.get("/api/v1/saved", headers=bearer(alice)).get_json()["items"]
    expected = export_library(
        [i["paper"] for i in api], name, saved_at={i["paper"]["id"]: i["saved_at"] for i in api}
    )
    assert response.get_data(as_text=True) == expected


def test_an_exported_library_imports_back_as_the_same_papers(app, web, alice, user_token, db):
    storage.upsert_papers(
        db,
        [
            {"paper_id": "arxiv:2401.00007", "title": "An arXiv paper", "arxiv_id": "2401.00007"},
            {"paper_id": "doi:10.1000/abc", "title": "A journal paper", "doi": "10.1000/abc"},
        ],
    )
    for paper_id in ("arxiv:2401.00007", "doi:10.1000/abc"):
        web.post_form("/saved", "/marks", {"type": "save", "paper_id": paper_id})
    exported = web.get("/saved/export/bibtex").get_data()
    other = WebClient(app.test_client())
    other.sign_in(user_token("bob"))
    assert "Nothing saved yet" in other.get("/saved").get_data(as_text=True)
    other.post_form(
        "/saved",
        "/saved/import",
        {"file": (io.BytesIO(exported), "saved.bib")},
        content_type="multipart/form-data",
    )
    assert sorted(titles(other.get("/saved"))) == ["A journal paper", "An arXiv paper"]
    assert web.get("/saved/export/endnote").status_code == 404


def upload(web: WebClient, data: bytes, name: str = "library.bib"):
    return web.post_form(
        "/saved",
        "/saved/import",
        {"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def test_an_upload_imports_as_the_api_does_and_names_each_rejected_entry(
    client, web, alice, user_token
):
    page = upload(web, BIBTEX.encode())
    assert page.status_code == 200
    text = text_of(page)
    assert "Imported 2 papers from the BibTeX file; 0 were saved already." in text
    assert "1 entry was rejected:" in text
    assert re.search(r"<li>entry 3 \(line 6\): [^<]+</li>", page.get_data(as_text=True))
    assert {"Attention Is All You Need", "A DOI paper"} <= set(titles(web.get("/saved")))

    # the same file through the API, for another user: the same counts and rejections
    bob = user_token("bob")
    api = client.post(
        "/api/v1/library",
        data={"file": (io.BytesIO(BIBTEX.encode()), "library.bib")},
        headers=bearer(bob),
        content_type="multipart/form-data",
    ).get_json()
    assert (api["imported"], api["already"], len(api["rejected"])) == (2, 0, 1)
    assert api["rejected"][0]["index"] == 2 and api["rejected"][0]["message"] in text

    again = text_of(upload(web, BIBTEX.encode()))
    assert "Imported 0 papers from the BibTeX file; 2 were saved already." in again


def test_a_bad_upload_says_why_and_stores_nothing(client, web, alice):
    before = client.get("/api/v1/history", headers=bearer(alice)).get_json()["total"]
    for data, name, message in (
        (b"\x00\x01\x02binary", "x.pdf", "That file could not be imported: the file is not"),
        (b"", "empty.bib", "That file could not be imported: the file is empty."),
        (
            b"@article{a, title={No id}}\n@article{b, title={None either}}\n",
            "bad.bib",
            "No entry of that file could be imported.",
        ),
    ):
        page = upload(web, data, name)
        text = html.unescape(page.get_data(as_text=True))
        assert page.status_code == 400 and message in text, text
        assert 'aria-invalid="true" aria-describedby="import-error"' in text
    assert "entry 2 (line 2)" in text  # each rejected entry, even when none could be imported
    missing = web.post_form("/saved", "/saved/import", {}, content_type="multipart/form-data")
    assert missing.status_code == 400
    assert "Choose a library file to import." in missing.get_data(as_text=True)
    assert client.get("/api/v1/history", headers=bearer(alice)).get_json()["total"] == before


def test_another_reader_sees_none_of_the_saved_papers(app, web, alice, user_token):
    save(web, 11, 12)
    bob = WebClient(app.test_client())
    bob.sign_in(user_token("bob"))
    page = bob.get("/saved").get_data(as_text=True)
    assert "Nothing saved yet" in page and "seed:p11" not in page
    assert "TI  - " not in bob.get("/saved/export/ris").get_data(as_text=True)
    assert web.get("/saved/export/ris").get_data(as_text=True).count("TI  - ") == 2
