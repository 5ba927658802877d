"""The extension in Chromium records what a reader opens, and the backend stores it."""

import pytest

pytestmark = pytest.mark.browser

PAPER_PAGES = [
    ("https://arxiv.org/abs/2401.00001v2", "arxiv:2401.00001"),
    ("https://arxiv.org/abs/hep-th/9901001v1", "arxiv:hep-th/9901001"),
    ("https://huggingface.co/papers/2401.00002", "arxiv:2401.00002"),
    ("https://www.alphaxiv.org/abs/2401.00003v1", "arxiv:2401.00003"),
    ("https://arxiv.org/html/2401.00004v1", "arxiv:2401.00004"),
    ("https://openreview.net/forum?id=rJ4km2R5t7", "openreview:rJ4km2R5t7"),
    (
        "https://www.semanticscholar.org/paper/Attention-Routing/0123456789abcdef0123456789abcdef01234567",
        "s2:0123456789abcdef0123456789abcdef01234567",
    ),
    ("https://aclanthology.org/2023.acl-long.1/", "acl:2023.acl-long.1"),
    (
        "https://www.biorxiv.org/content/10.1101/2020.03.01.123456v2",
        "doi:10.1101/2020.03.01.123456",
    ),
    ("https://journals.example.org/jrr/article/42", "doi:10.5555/jrr.2021.042"),
]


def opened(events):
    return [e["paper_id"] for e in events if e["type"] == "open"]


def test_every_site_family_is_recorded_once(browser, backend, user):
    browser.connect(backend.url, user)
    page = browser.page()
    page.goto("https://cooking.example.com/recipes")  # not a paper: nothing recorded
    for url, _ in PAPER_PAGES:
        page.goto(url)
        page.wait_for_timeout(150)
    expected = [paper_id for _, paper_id in PAPER_PAGES]
    events = backend.wait_for(user, lambda ev: set(expected) <= set(opened(ev)))
    assert sorted(opened(events)) == sorted(expected)
    status, paper = backend.api(user, "/api/v1/papers/arxiv%3A2401.00001")
    assert status == 200, paper
    assert paper["title"] == "Sparse Mixtures of Attention Experts for Long Documents"


def test_a_paper_page_left_before_it_loaded_is_still_recorded_once(browser, backend, user):
    """A reader who leaves a paper before the page has loaded (its content script never ran)
    still opened it: the open goes out from the URL. A page that reports itself is recorded
    once, with its title."""
    browser.connect(backend.url, user)
    page = browser.page()
    page.goto("https://arxiv.org/abs/2499.00001v1", wait_until="commit")  # arrives in 5 s
    page.wait_for_timeout(300)
    page.goto("https://aclanthology.org/2023.acl-long.1/")  # loads and reports itself
    page.wait_for_timeout(500)
    page.goto("https://cooking.example.com/recipes")
    expected = ["arxiv:2499.00001", "acl:2023.acl-long.1"]
    backend.wait_for(user, lambda ev: set(expected) <= set(opened(ev)))
    page.wait_for_timeout(1000)  # anything recorded twice would show up by now
    assert sorted(opened(backend.history(user))) == sorted(expected)
    status, paper = backend.api(user, "/api/v1/papers/acl%3A2023.acl-long.1")
    assert status == 200 and paper["title"], paper


def test_pages_left_in_quick_succession_are_each_recorded_once(browser, backend, user):
    """Tab events arrive in bursts; each is applied in the order it came. Three paper pages
    left as soon as they started loading are three opens, none lost and none doubled."""
    browser.connect(backend.url, user)
    page = browser.page()
    expected = [f"arxiv:2499.0001{i}" for i in range(3)]
    for paper_id in expected:
        page.goto(f"https://arxiv.org/abs/{paper_id.split(':')[1]}", wait_until="commit")
    page.goto("https://aclanthology.org/2023.acl-long.1/")
    expected.append("acl:2023.acl-long.1")
    backend.wait_for(user, lambda ev: set(expected) <= set(opened(ev)))
    page.wait_for_timeout(1000)  # anything recorded twice would show up by now
    assert sorted(opened(backend.history(user))) == sorted(expected)


def test_pdfs_are_recorded_from_the_url(browser, backend, user):
    browser.connect(backend.url, user)
    page = browser.page()
    for url in [
        "https://arxiv.org/pdf/2402.00001v2",
        "https://openreview.net/pdf?id=Hyg0vbWC-",
        "https://aclanthology.org/2023.acl-long.1.pdf",
    ]:
        try:
            page.goto(url)
        except Exception:  # headless Chromium may treat a PDF as a download
            pass
        page.wait_for_timeout(300)
    expected = {"arxiv:2402.00001", "openreview:Hyg0vbWC-", "acl:2023.acl-long.1"}
    backend.wait_for(user, lambda ev: expected <= set(opened(ev)))


def test_single_page_app_navigation_is_recorded(browser, backend, user):
    browser.connect(backend.url, user)
    page = browser.page()
    page.goto(
        "https://www.semanticscholar.org/paper/Attention-Routing/0123456789abcdef0123456789abcdef01234567"
    )
    backend.wait_for(user, lambda ev: "s2:0123456789abcdef0123456789abcdef01234567" in opened(ev))
    page.click("#next")  # history.pushState, then the page swaps its content
    second = "s2:fedcba9876543210fedcba9876543210fedcba98"
    backend.wait_for(user, lambda ev: second in opened(ev))
    status, paper = backend.api(user, "/api/v1/papers/" + second.replace(":", "%3A"))
    assert status == 200
    assert paper["title"] == "Second Paper on Citation Recommendation"


def test_reading_time_is_recorded_when_leaving(browser, backend, user):
    browser.connect(backend.url, user)
    page = browser.page()
    page.goto("https://arxiv.org/abs/2401.00009v1")
    backend.wait_for(user, lambda ev: "arxiv:2401.00009" in opened(ev))
    page.wait_for_timeout(1600)
    page.goto("https://cooking.example.com/recipes")
    events = backend.wait_for(user, lambda ev: any(e["type"] == "read" for e in ev))
    reads = [e for e in events if e["type"] == "read"]
    assert reads[0]["paper_id"] == "arxiv:2401.00009"
    assert 1000 <= reads[0]["dwell_ms"] < 60_000


def test_paused_and_excluded_sites_record_nothing(browser, backend, user):
    browser.connect(backend.url, user)
    browser.set_storage({"paused": True})
    page = browser.page()
    page.goto("https://arxiv.org/abs/2401.00011")
    page.wait_for_timeout(800)
    browser.set_storage({"paused": False, "excludedSites": ["arxiv.org"]})
    page.goto("https://arxiv.org/abs/2401.00012")
    page.wait_for_timeout(800)
    page.goto("https://openreview.net/forum?id=NotExcluded1")
    events = backend.wait_for(user, lambda ev: "openreview:NotExcluded1" in opened(ev))
    assert opened(events) == ["openreview:NotExcluded1"]
    assert browser.queue() == []
