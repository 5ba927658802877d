"""The side panel and the options page, rendered from the real backend."""

import re
import time

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.browser


def panel(browser, query=""):
    page = browser.extension_page("sidepanel.html" + query)
    page.set_viewport_size({"width": 420, "height": 900})
    return page


def test_for_you_renders_recommendations_and_hostile_text_stays_text(
    browser, backend, user, artifacts
):
    browser.connect(backend.url, user)
    dialogs = []
    page = panel(browser)
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.wait_for_selector(".item")
    assert page.text_content("#heading") == "For you"
    titles = page.locator(".item .title").all_text_contents()
    assert "Graph Priors for Reading Lists" in titles
    hostile = next(t for t in titles if "Hostile" in t)
    assert hostile.startswith('<img src=x onerror="window.pwned=1')
    assert "<script>window.pwned=2</script>" in hostile
    assert page.locator(".items img, .items script, .items b").count() == 0
    assert page.evaluate("() => window.pwned") is None
    assert page.title() == "NextPaper"
    assert page.locator(".item .reason").count() >= 1
    assert all(
        href.startswith("https://")
        for href in page.locator(".item a.title").evaluate_all("els => els.map(e => e.href)")
    )
    page.screenshot(path=str(artifacts / "sidepanel-for-you.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(artifacts / "sidepanel-for-you-dark.png"), full_page=True)
    assert dialogs == []


def test_like_save_dismiss_take_effect_and_reach_the_backend(browser, backend, user, artifacts):
    browser.connect(backend.url, user)
    page = panel(browser)
    page.wait_for_selector(".item")
    first = page.locator(".item").first
    first_id = first.get_attribute("data-paper-id")
    first.locator("button.like").click()
    first.locator("button.save").click()
    assert first.locator("button.like").get_attribute("aria-pressed") == "true"
    assert first.locator("button.save").text_content() == "✓ Saved"
    second = page.locator(".item").nth(1)
    second_id = second.get_attribute("data-paper-id")
    second.locator("button.dismiss").click()
    page.wait_for_selector(f'.item[data-paper-id="{second_id}"]', state="detached")
    events = backend.wait_for(user, lambda ev: len(ev) >= 3)
    assert sorted((e["type"], e["paper_id"]) for e in events) == sorted(
        [("like", first_id), ("save", first_id), ("dismiss", second_id)]
    )
    page.screenshot(path=str(artifacts / "sidepanel-after-feedback.png"), full_page=True)
    # The marks are kept in storage (shown again after a reload); a dismissed paper stays gone.
    marks = browser.storage("marks")["marks"]
    assert marks[first_id]["like"] and marks[first_id]["save"] and marks[second_id]["dismiss"]
    # Two marks at once (a like and a save clicked in the same instant) both stay.
    third = page.locator(".item").nth(1)
    third_id = third.get_attribute("data-paper-id")
    third.evaluate(
        "el => { el.querySelector('button.like').click(); "
        "el.querySelector('button.save').click(); }"
    )
    backend.wait_for(user, lambda ev: len([e for e in ev if e["paper_id"] == third_id]) >= 2)
    marks = browser.storage("marks")["marks"]
    assert marks[third_id].get("like") and marks[third_id].get("save"), marks[third_id]
    page.reload()
    page.wait_for_selector(".item, .state:not([hidden])")
    assert page.locator(f'.item[data-paper-id="{second_id}"]').count() == 0


def test_related_to_this_paper(browser, backend, user, artifacts):
    browser.connect(backend.url, user)
    page = panel(browser, "?paper=arxiv%3A2301.00001")
    page.wait_for_selector(".item, .state:not([hidden])")
    assert page.text_content("#heading") == "Related to this paper"
    assert page.locator(".item").count() >= 1, page.text_content("body")
    assert page.locator('.item[data-paper-id="arxiv:2301.00001"]').count() == 0
    page.screenshot(path=str(artifacts / "sidepanel-related.png"), full_page=True)


def test_clear_states_not_configured_and_unreachable(browser, artifacts):
    page = panel(browser)
    page.wait_for_selector('[data-state="not-configured"]')
    page.screenshot(path=str(artifacts / "sidepanel-not-configured.png"), full_page=True)
    browser.connect(f"http://127.0.0.1:{free_port()}", "np_whatever")
    tab = browser.page()
    tab.goto("https://arxiv.org/abs/2401.00041")
    page.wait_for_timeout(500)
    page.reload()
    page.wait_for_selector('[data-state="unreachable"]')
    assert re.search(r"\b1 event is waiting\b", page.text_content("#state"))
    page.screenshot(path=str(artifacts / "sidepanel-unreachable.png"), full_page=True)


def test_paused_banner_and_bad_token(browser, backend, user, artifacts):
    browser.connect(backend.url, "np_not_a_real_token")
    page = panel(browser)
    page.wait_for_selector('[data-state="unauthorized"]')
    browser.set_storage({"token": user, "paused": True})
    page.wait_for_selector(".item")
    assert "paused" in page.text_content("#banner")
    page.screenshot(path=str(artifacts / "sidepanel-paused.png"), full_page=True)


def test_options_check_token_and_delete_history(browser, backend, user, artifacts):
    page = browser.extension_page("options.html")
    page.fill("#backendUrl", backend.url + "/")
    page.fill("#token", "np_wrong")
    page.click("#save")
    page.wait_for_selector("#connection-status.bad")
    assert "rejected" in page.text_content("#connection-status")
    page.fill("#token", user)
    page.click("#save")
    page.wait_for_selector("#connection-status.ok")
    assert browser.storage("backendUrl", "token") == {"backendUrl": backend.url, "token": user}

    tab = browser.page()
    tab.goto("https://arxiv.org/abs/2401.00051")
    backend.wait_for(user, lambda ev: len(ev) >= 1)
    page.bring_to_front()
    page.click("#delete")
    page.screenshot(path=str(artifacts / "options-confirm-delete.png"), full_page=True)
    page.click("#delete-yes")
    page.wait_for_selector("#delete-status.ok")
    assert backend.history(user) == []


def _wait_for_heading(page, text: str, timeout: float = 15.0) -> None:
    # (the extension's CSP forbids the string evaluation wait_for_function would use)
    deadline = time.monotonic() + timeout
    while page.text_content("#heading") != text:
        assert time.monotonic() < deadline, f"heading stayed {page.text_content('#heading')!r}"
        time.sleep(0.1)


def test_related_follows_the_paper_in_the_current_tab(browser, backend, user, artifacts):
    """Without ?paper=, the panel asks which paper the active tab shows (as the real side
    panel does) and switches between "Related to this paper" and "For you" with the tab."""
    browser.connect(backend.url, user)
    panel_page = panel(browser)
    panel_page.wait_for_selector(".item, .state:not([hidden])")
    assert panel_page.text_content("#heading") == "For you"  # the active tab is the panel
    paper_page = browser.context.new_page()
    paper_page.goto("https://arxiv.org/abs/2301.00001v2")
    paper_page.bring_to_front()  # tabs.onActivated: the panel renders for this tab
    _wait_for_heading(panel_page, "Related to this paper")
    panel_page.wait_for_selector(".item")
    assert "because you are reading" in panel_page.text_content("#context").lower()
    assert panel_page.locator('.item[data-paper-id="arxiv:2301.00001"]').count() == 0
    panel_page.bring_to_front()
    _wait_for_heading(panel_page, "For you")
