"""The side panel while the backend is down: the last answer of each list (For you, Related)
is kept and shown, marked as offline with its age; and every paper's title is a link (its
page from its id, or a search for its title when the id names no page)."""

import json
import time
import urllib.parse

import pytest
from conftest import CATALOG, Backend

pytestmark = pytest.mark.browser


def panel(browser, query=""):
    page = browser.extension_page("sidepanel.html" + query)
    page.set_viewport_size({"width": 420, "height": 900})
    return page


def item_ids(page) -> list[str]:
    return page.locator(".item").evaluate_all("els => els.map(e => e.dataset.paperId)")


def test_kept_lists_are_shown_offline_with_their_age(browser, tmp_path, artifacts):
    server = Backend(tmp_path / "home")
    server.home.mkdir()
    catalog = server.home / "papers.jsonl"
    catalog.write_text("".join(json.dumps(p) + "\n" for p in CATALOG), "utf-8")
    server.cli("papers", "import", str(catalog))
    token = server.new_user()
    server.start()
    try:
        browser.connect(server.url, token)
        for_you = panel(browser)
        for_you.wait_for_selector(".item")
        shown = item_ids(for_you)
        related = panel(browser, "?paper=arxiv%3A2301.00001")
        related.wait_for_selector(".item")
        shown_related = item_ids(related)
        assert shown and shown_related
        kept = browser.storage("keptLists")["keptLists"]
        assert set(kept) == {"for-you", "related:arxiv:2301.00001"}
    finally:
        server.stop()

    # The backend is down: each panel shows its last list, marked offline, with its age.
    for_you.reload()
    for_you.wait_for_selector('.items[data-offline="true"] .item')
    assert item_ids(for_you) == shown
    banner = for_you.text_content("#banner")
    assert banner.startswith(f"Offline: {server.url} is not answering."), banner
    assert "This list is from just now." in banner
    assert for_you.locator('[data-state="unreachable"]').count() == 0
    related.reload()
    related.wait_for_selector('.items[data-offline="true"] .item')
    assert item_ids(related) == shown_related
    assert related.text_content("#heading") == "Related to this paper"

    # older kept answers say how old they are
    kept = browser.storage("keptLists")["keptLists"]
    kept["for-you"]["at"] -= 12 * 60 * 1000
    browser.set_storage({"keptLists": kept})
    for_you.reload()
    for_you.wait_for_selector('.items[data-offline="true"] .item')
    assert "This list is from 12 minutes ago." in for_you.text_content("#banner")
    for_you.screenshot(path=str(artifacts / "sidepanel-offline.png"), full_page=True)
    for_you.emulate_media(color_scheme="dark")
    for_you.screenshot(path=str(artifacts / "sidepanel-offline-dark.png"), full_page=True)

    # a list never shown before has nothing kept: the plain "can't reach" state
    other = panel(browser, "?paper=arxiv%3A2301.00002")
    other.wait_for_selector('[data-state="unreachable"]')
    assert other.locator(".item").count() == 0

    # back up: the live list, without the offline mark
    server.start()
    try:
        for_you.reload()
        for_you.wait_for_selector(".item")
        time.sleep(0.5)
        assert for_you.locator(".items[data-offline]").count() == 0
        assert for_you.locator("#banner").is_hidden()
    finally:
        server.stop()


def test_every_title_is_a_link_search_when_the_id_names_no_page(browser, backend, user):
    browser.connect(backend.url, user)
    page = panel(browser)
    page.wait_for_selector(".item")
    titles = page.locator(".item .title")
    assert titles.count() == page.locator(".item a.title").count() >= 3  # no unlinked title
    doi = page.locator('.item[data-paper-id="doi:10.5555/jrr.2022.001"] a.title')
    assert doi.get_attribute("href") == "https://doi.org/10.5555/jrr.2022.001"
    assert doi.get_attribute("data-link") == "page"
    seed = page.locator('.item[data-paper-id="seed:hostile-1"] a.title')
    assert seed.get_attribute("data-link") == "search"
    href = urllib.parse.urlsplit(seed.get_attribute("href"))
    assert (href.scheme, href.netloc, href.path) == ("https", "scholar.google.com", "/scholar")
    query = urllib.parse.parse_qs(href.query)["q"][0]
    assert query == " ".join(seed.text_content().split())  # the title, as text
    assert "search" in seed.get_attribute("title").lower()
