"""Reading time: a paper's `read` counts only the time its tab was the active tab of the focused
window, and is sent when the reader switches tabs, moves focus to another window, or leaves.

Bounds on `dwell_ms` come from the test's own clock: at least the time the test kept the paper
in front, at most the wall time from just before it came to the front to when the read was
seen. A paper hidden for longer than it was shown proves the hidden time is not counted.

What headless Chromium (156) does with window focus, as these tests found it: every window
reports `focused: true` except a minimized one or one created with `focused: false`;
`chrome.windows.create({focused: true})` fires `windows.onFocusChanged` with the new window
(then WINDOW_ID_NONE); restoring a minimized window fires it with that window. Page.bringToFront,
`chrome.windows.update(id, {focused: true})` on a window that is not minimized, minimizing and
closing a window fire nothing.
"""

import time

import pytest

pytestmark = pytest.mark.browser

SHOWN_MS = 1500  # how long the paper is kept in front (a read needs at least 1000 ms)
HIDDEN_S = 3.5  # how long the paper stays hidden: longer than any time it is shown
# A segment that starts when the tab comes back to the front starts when the worker hears of
# it, a moment after the test's call returns; so does its end.
SLACK_MS = 300


def opened(events):
    return [e["paper_id"] for e in events if e["type"] == "open"]


def reads(events, paper_id):
    return sorted(
        (e for e in events if e["type"] == "read" and e["paper_id"] == paper_id),
        key=lambda e: e["ts"],
    )


def wait_reads(backend, user, paper_id, n):
    events = backend.wait_for(user, lambda ev: len(reads(ev, paper_id)) >= n)
    return [e["dwell_ms"] for e in reads(events, paper_id)]


def clock() -> float:
    """The wall clock, in seconds: the extension times reading with `Date.now()`, so the bounds
    are taken on the same clock. A virtual machine's wall clock may be stepped while a test runs
    (CI saw a read 375 ms longer than the monotonic time around it); both sides see the step."""
    return time.time()


def ms_since(start: float) -> float:
    return (clock() - start) * 1000


def read_in_front(browser, backend, user, paper: str):
    """Open the arXiv paper ``paper`` in a tab, wait for its open to arrive, and keep it in
    front for SHOWN_MS; returns (page, when the load began)."""
    page = browser.page()
    start = clock()
    page.goto(f"https://arxiv.org/abs/{paper.removeprefix('arxiv:')}v1")
    backend.wait_for(user, lambda ev: paper in opened(ev))
    page.wait_for_timeout(SHOWN_MS)
    return page, start


def window_of_first_tab(browser) -> int:
    return browser.worker.evaluate("async () => (await chrome.windows.getAll())[0].id")


def test_switching_tabs_ends_reading_and_coming_back_adds_more(browser, backend, user):
    browser.connect(backend.url, user)
    paper = "arxiv:2401.00061"
    page_a, start = read_in_front(browser, backend, user, paper)

    # A new tab opens in front (tabs.onActivated): A's reading stops and is sent.
    page_b = browser.context.new_page()
    page_b.goto("https://cooking.example.com/recipes")
    [first] = wait_reads(backend, user, paper, 1)
    assert SHOWN_MS <= first <= ms_since(start)

    # A stays hidden for a while, then comes back to the front, then B again.
    time.sleep(HIDDEN_S)
    back = clock()
    page_a.bring_to_front()
    page_a.wait_for_timeout(SHOWN_MS)
    page_b.bring_to_front()
    dwells = wait_reads(backend, user, paper, 2)
    assert dwells[0] == first
    assert SHOWN_MS - SLACK_MS <= dwells[1] <= ms_since(back)
    assert dwells[1] < HIDDEN_S * 1000  # the hidden stretch is not in it

    # Once more in front, then the tab is closed (tabs.onRemoved).
    again = clock()
    page_a.bring_to_front()
    page_a.wait_for_timeout(SHOWN_MS)
    page_a.close()
    dwells = wait_reads(backend, user, paper, 3)
    assert SHOWN_MS - SLACK_MS <= dwells[2] <= ms_since(again)
    # Three reads for the one open; B, not a paper, recorded nothing.
    events = backend.history(user)
    assert opened(events) == [paper]
    assert len(reads(events, paper)) == 3


def test_focus_moving_to_another_window_ends_reading_and_coming_back_adds_more(
    browser, backend, user
):
    browser.connect(backend.url, user)
    paper = "arxiv:2401.00062"
    page_a, start = read_in_front(browser, backend, user, paper)
    window_a = window_of_first_tab(browser)

    # Another browser window takes the focus (windows.onFocusChanged); A is still the active
    # tab of its own window, but that window is not focused any more.
    browser.worker.evaluate(
        "() => chrome.windows.create({url: 'https://cooking.example.com/other', focused: true})"
    )
    [first] = wait_reads(backend, user, paper, 1)
    assert SHOWN_MS <= first <= ms_since(start)

    # A's window stays in the background, then gets the focus back (restored from minimized:
    # the one way headless Chromium reports focus coming back to a window).
    time.sleep(HIDDEN_S)
    back = clock()
    browser.worker.evaluate("id => chrome.windows.update(id, {state: 'minimized'})", window_a)
    browser.worker.evaluate(
        "id => chrome.windows.update(id, {state: 'normal', focused: true})", window_a
    )
    page_a.wait_for_timeout(SHOWN_MS)
    browser.worker.evaluate(
        "() => chrome.windows.create({url: 'https://cooking.example.com/third', focused: true})"
    )
    dwells = wait_reads(backend, user, paper, 2)
    assert dwells[0] == first
    assert SHOWN_MS - SLACK_MS <= dwells[1] <= ms_since(back)
    assert dwells[1] < HIDDEN_S * 1000  # the time A's window was in the background is not in it
    assert opened(backend.history(user)) == [paper]


def test_tabs_switching_in_a_background_window_do_not_stop_reading(browser, backend, user):
    """A window opened behind the focused one (or a tab closing there) activates tabs in that
    window; the paper in front of the focused window is still being read."""
    browser.connect(backend.url, user)
    paper = "arxiv:2401.00063"
    page_a, start = read_in_front(browser, backend, user, paper)
    window_b = browser.worker.evaluate(
        """async () => (await chrome.windows.create({
             url: ['https://cooking.example.com/1', 'https://cooking.example.com/2'],
             focused: false,
           })).id"""
    )
    page_a.wait_for_timeout(SHOWN_MS)
    browser.worker.evaluate(
        """async id => {
             const [second] = await chrome.tabs.query({windowId: id, index: 1});
             await chrome.tabs.update(second.id, {active: true});
           }""",
        window_b,
    )
    page_a.wait_for_timeout(SHOWN_MS)
    page_a.goto("https://cooking.example.com/recipes")  # leaving A sends its one read
    [dwell] = wait_reads(backend, user, paper, 1)
    assert 3 * SHOWN_MS <= dwell <= ms_since(start)
    time.sleep(0.5)  # a second read would have arrived by now
    assert len(reads(backend.history(user), paper)) == 1
