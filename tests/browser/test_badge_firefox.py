"""The Firefox variant's toolbar badge (MV3 `action`) in a real Firefox: a recorded paper's tab
shows the check mark once the backend has its open. Same Firefox and add-on as
test_firefox.py (its fixtures); the badge is read from the add-on's options page."""

import json
import time

import pytest
from test_firefox import firefox, firefox_addon  # noqa: F401 (fixtures)
from test_sidepanel_firefox import ADDON_ID, open_page, wait_for

pytestmark = pytest.mark.browser


def test_firefox_badge_marks_a_recorded_paper(
    firefox,  # noqa: F811 (the imported fixture)
    firefox_addon,  # noqa: F811
    backend,
    user,
):
    assert firefox.install(firefox_addon) == ADDON_ID
    first_tab = firefox.contexts()[0]["context"]
    options = open_page(firefox, "options.html")
    wait_for(firefox, options, "document.getElementById('backendUrl')?.value || ''")
    firefox.evaluate(
        options,
        f"browser.storage.local.set({json.dumps({'backendUrl': backend.url, 'token': user})})",
    )
    firefox.navigate(first_tab, "https://arxiv.org/abs/2401.00121v1")
    backend.wait_for(user, lambda ev: len(ev) >= 1, timeout=30)
    read = """(async () => {
        const tabs = await browser.tabs.query({});
        const tab = tabs.find(t => (t.url || "").includes("arxiv.org/abs/2401.00121"));
        if (!tab) return "no tab";
        return (await browser.action.getBadgeText({tabId: tab.id})) + "|" +
            (await browser.action.getTitle({tabId: tab.id}));
    })()"""
    deadline = time.monotonic() + 20
    while (got := firefox.evaluate(options, read)) != "✓|NextPaper: this paper was recorded":
        assert time.monotonic() < deadline, got
        time.sleep(0.2)
