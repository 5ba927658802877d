"""The toolbar badge in Chromium: a recorded paper's tab shows a check mark once the backend
has its open, another mark while the open waits because the backend is down, and nothing once
the tab has left the paper. Read back with chrome.action.getBadgeText in the worker."""

import time

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.browser


def tab_id(browser, url_part: str) -> int:
    """The id of the tab whose URL contains url_part (a paper site: its URL is visible)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = browser.worker.evaluate(
            "part => chrome.tabs.query({}).then(ts => (ts.find(t => (t.url || '').includes(part))"
            " || {}).id ?? null)",
            url_part,
        )
        if found is not None:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no tab shows {url_part}")


def badge(browser, tab: int) -> dict:
    return browser.worker.evaluate(
        """async tabId => ({
            text: await chrome.action.getBadgeText({tabId}),
            title: await chrome.action.getTitle({tabId}),
        })""",
        tab,
    )


def wait_badge(browser, tab: int, text: str, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while (got := badge(browser, tab))["text"] != text:
        assert time.monotonic() < deadline, f"badge stayed {got!r}, wanted {text!r}"
        time.sleep(0.1)
    return got


def test_badge_shows_a_recorded_paper_and_goes_with_the_page(browser, backend, user):
    browser.connect(backend.url, user)
    page = browser.page()
    page.goto("https://arxiv.org/abs/2401.00111v1")
    tab = tab_id(browser, "arxiv.org/abs/2401.00111")
    backend.wait_for(user, lambda ev: [e["paper_id"] for e in ev] == ["arxiv:2401.00111"])
    got = wait_badge(browser, tab, "✓")
    assert got["title"] == "NextPaper: this paper was recorded"

    page.goto("https://cooking.example.com/")  # not a paper: the badge goes
    wait_badge(browser, tab, "")
    assert badge(browser, tab)["title"] == "NextPaper: what to read next"
    # and stays gone after the next send (which redraws the badges of recorded papers)
    options = browser.extension_page("options.html")
    assert options.evaluate("() => chrome.runtime.sendMessage({type: 'flush'})")["remaining"] == 0
    assert badge(browser, tab)["text"] == ""
    options.close()

    page.goto("https://arxiv.org/pdf/2401.00112v2.pdf")  # a PDF, recorded from its URL
    backend.wait_for(user, lambda ev: "arxiv:2401.00112" in [e["paper_id"] for e in ev])
    wait_badge(browser, tab, "✓")
    # another tab, never a paper, has no badge
    other = browser.context.new_page()
    other.goto("https://cooking.example.com/")
    assert badge(browser, tab_id(browser, "arxiv.org/pdf/2401.00112"))["text"] == "✓"


def test_badge_while_the_backend_is_down_then_recorded(browser, backend, user):
    browser.connect(f"http://127.0.0.1:{free_port()}", user)  # nothing listens there
    page = browser.page()
    page.goto("https://arxiv.org/abs/2401.00113")
    tab = tab_id(browser, "arxiv.org/abs/2401.00113")
    got = wait_badge(browser, tab, "…")
    assert "can't be reached" in got["title"], got
    assert [e["type"] for e in browser.queue()] == ["open"]

    browser.connect(backend.url, user)  # back: the open goes out, and the badge says so
    backend.wait_for(user, lambda ev: [e["paper_id"] for e in ev] == ["arxiv:2401.00113"])
    wait_badge(browser, tab, "✓")
