"""The side panel and the options page, rendered from the real backend."""

import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.browser


def panel(browser, query=""):
    page = browser.extension_page("sidepanel.html" + query)
    page.set_viewport_size({"width": 420, "height": 900})
    return page


def types_for(events: list[dict], paper_id: str) -> list[str]:
    """The event types of one paper, oldest first (the history lists newest first)."""
    return [e["type"] for e in reversed(events) if e["paper_id"] == paper_id]


def pressed(locator) -> bool:
    return locator.get_attribute("aria-pressed") == "true"


def opacity(locator) -> float:
    return float(locator.evaluate("el => getComputedStyle(el).opacity"))


def wait_until(check, what: str, timeout: float = 10.0):
    # (the extension's CSP forbids the string evaluation wait_for_function would use)
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


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
    browser.set_storage({"marks": {"arxiv:2401.00051": {"like": True, "at": 1}}})
    page.click("#delete-yes")
    page.wait_for_selector("#delete-status.ok")
    assert backend.history(user) == []
    assert browser.storage("marks")["marks"] == {}  # the likes and saves went with it


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


def test_reason_text_from_the_backend_is_shown_as_text(browser):
    """Each item's reason is the backend's own `text`, inserted as text; an old server's reason
    without `text` gets the panel's own wording."""
    items = [
        {
            "paper": {"id": "arxiv:2301.00001", "title": "Graph Priors for Reading Lists"},
            "score": 1.0,
            "reasons": [
                {
                    "type": "because_you_read",
                    "paper_id": "arxiv:2301.00002",
                    "title": "Attention Experts",
                    "action": "saved",
                    "text": "You saved “Attention Experts”; 3 other readers of it also read this",
                }
            ],
        },
        {
            "paper": {"id": "arxiv:2301.00003", "title": "Markup in a reason"},
            "score": 0.9,
            "reasons": [{"type": "popular", "readers": 5, "text": "<b>Read</b> by 5 <img src=x>"}],
        },
        {
            "paper": {"id": "arxiv:2301.00004", "title": "From an old server"},
            "score": 0.8,
            "reasons": [{"type": "fresh"}],
        },
    ]
    with FakeBackend({"/api/v1/recommendations": {"model_version": None, "items": items}}) as fake:
        browser.connect(fake.url, "np_fake")
        page = panel(browser)
        page.wait_for_selector(".item")
        reasons = page.locator(".item .reason").all_text_contents()
        assert reasons == [
            "You saved “Attention Experts”; 3 other readers of it also read this",
            "<b>Read</b> by 5 <img src=x>",
            "Recently published",
        ]
        assert page.locator(".item .reason *").count() == 0


def test_reason_lines_follow_the_real_backend(browser, backend, user):
    """Against the real server: whenever a reason carries `text`, that is what the panel says
    (compared with the very answer the panel got: a retrain may change the next one)."""
    browser.connect(backend.url, user)
    page = browser.context.new_page()
    page.set_viewport_size({"width": 420, "height": 900})
    with page.expect_response(lambda r: "/api/v1/recommendations" in r.url) as answer:
        page.goto(f"chrome-extension://{browser.extension_id}/sidepanel.html")
    body = answer.value.json()
    page.wait_for_selector(".item")
    checked = 0
    for item in body["items"]:
        texts = [r["text"] for r in item["reasons"] if isinstance(r.get("text"), str)]
        if not texts or len(texts) != len(item["reasons"]):
            continue  # (a server from before reason texts; the JS tests cover the fallback)
        node = page.locator(f'.item[data-paper-id="{item["paper"]["id"]}"] .reason')
        assert node.text_content() == " · ".join(dict.fromkeys(t.strip() for t in texts))
        checked += 1
    assert checked, f"no reason with a text in {body['items']}"


def test_like_and_save_are_undone_by_pressing_again_and_survive_a_reload(
    browser, backend, user, artifacts
):
    browser.connect(backend.url, user)
    # the related list: a liked paper stays in it (the "for you" list leaves it out next time)
    page = panel(browser, "?paper=arxiv%3A2301.00001")
    page.wait_for_selector(".item")
    item = page.locator(".item").first
    paper_id = item.get_attribute("data-paper-id")
    like, save = item.locator("button.like"), item.locator("button.save")
    assert not pressed(like) and not pressed(save)
    unpressed_look = like.evaluate("el => getComputedStyle(el).backgroundColor")
    like.click()
    save.click()
    assert pressed(like) and like.text_content() == "♥ Liked"
    assert pressed(save) and save.text_content() == "✓ Saved"
    # pressed looks different from not pressed
    assert like.evaluate("el => getComputedStyle(el).backgroundColor") != unpressed_look
    backend.wait_for(user, lambda ev: sorted(types_for(ev, paper_id)) == ["like", "save"])

    page.reload()
    page.wait_for_selector(f'.item[data-paper-id="{paper_id}"]')
    item = page.locator(f'.item[data-paper-id="{paper_id}"]')
    like, save = item.locator("button.like"), item.locator("button.save")
    assert pressed(like) and pressed(save), "the state survived the reload"
    page.screenshot(path=str(artifacts / "sidepanel-pressed.png"), full_page=True)

    like.click()  # pressing a pressed like takes it back
    assert not pressed(like) and like.text_content() == "♡ Like"
    # (only the Saved list dims papers that are not saved; every title here stays as it was)
    titles = page.locator(".item .title")
    wait_until(
        lambda: titles.evaluate_all("els => els.every(e => e.closest('.item').dataset.saved)"),
        "no marks update",
    )
    assert (
        titles.evaluate_all("els => els.map(e => getComputedStyle(e).opacity)")
        == ["1"] * titles.count()
    )
    events = backend.wait_for(user, lambda ev: types_for(ev, paper_id)[-1:] == ["unlike"])
    assert sorted(types_for(events, paper_id)) == ["like", "save", "unlike"]

    page.reload()
    page.wait_for_selector(f'.item[data-paper-id="{paper_id}"]')
    item = page.locator(f'.item[data-paper-id="{paper_id}"]')
    assert not pressed(item.locator("button.like")) and pressed(item.locator("button.save"))
    assert browser.storage("marks")["marks"][paper_id]["like"] is False


def test_feedback_and_its_undoing_go_through_the_outbox(browser, backend, user):
    """An unlike and a save wait in the outbox like every other event (here the worker is
    backing off after a failure): the buttons keep their state meanwhile, also across a reload
    (the server's saved list does not know the queued save yet), and the Saved tab sends what
    waits before it reads the list."""
    browser.connect(backend.url, user)
    page = panel(browser, "?paper=arxiv%3A2301.00001")
    page.wait_for_selector(".item")
    item = page.locator(".item").first
    paper_id = item.get_attribute("data-paper-id")
    item.locator("button.like").click()
    backend.wait_for(user, lambda ev: types_for(ev, paper_id) == ["like"])
    # the like's send has finished (its last step records the success, which would overwrite
    # the backoff set below)
    wait_until(
        lambda: (
            browser.storage("sync").get("sync", {}).get("lastSuccessAt") and not browser.queue()
        ),
        "the like's send never finished",
    )
    later = int(time.time() * 1000) + 600_000
    sync = {"attempts": 3, "lastError": "backend unreachable: test", "nextAttemptAt": later}
    browser.set_storage({"sync": sync})
    item.locator("button.like").click()
    item.locator("button.save").click()
    queued = wait_until(
        lambda: (
            [(e["type"], e["paper"]["id"]) for e in browser.queue()]
            == [("unlike", paper_id), ("save", paper_id)]
        ),
        f"not queued: {browser.queue()}",
    )
    assert all(e["id"] and e["ts"] for e in browser.queue()), queued
    time.sleep(1.0)  # nothing goes out before the backoff says so
    assert len(browser.queue()) == 2
    assert types_for(backend.history(user), paper_id) == ["like"]

    page.reload()
    page.wait_for_selector(f'.item[data-paper-id="{paper_id}"]')
    page.wait_for_selector("#banner:not([hidden])")
    assert "2 events are waiting" in page.text_content("#banner")
    time.sleep(1.0)  # (the panel has compared the marks with the server's saved list by now)
    item = page.locator(f'.item[data-paper-id="{paper_id}"]')
    assert not pressed(item.locator("button.like"))
    assert pressed(item.locator("button.save")), "a queued save outlived the server's list"

    page.click("#tab-saved")  # sends what waits, then lists the saved papers
    page.wait_for_selector(f'.items[data-list="saved"] .item[data-paper-id="{paper_id}"]')
    events = backend.wait_for(user, lambda ev: len(types_for(ev, paper_id)) == 3)
    assert types_for(events, paper_id) == ["like", "unlike", "save"]
    wait_until(lambda: browser.queue() == [], "the outbox was not emptied")


def test_dismiss_hides_the_item_and_undo_brings_it_back(browser, backend, user, artifacts):
    browser.connect(backend.url, user)
    page = panel(browser)
    page.wait_for_selector(".item")
    before = page.locator(".item").evaluate_all("els => els.map(e => e.dataset.paperId)")
    assert len(before) >= 3, before
    paper_id = before[1]
    undo = page.locator("#undo")
    assert undo.is_hidden()
    page.locator(f'.item[data-paper-id="{paper_id}"] button.dismiss').click()
    page.wait_for_selector(f'.item[data-paper-id="{paper_id}"]', state="detached")
    assert undo.is_visible()
    assert undo.locator("span").text_content().startswith("Dismissed “")
    assert page.locator("#undo-button").text_content() == "Undo"
    backend.wait_for(user, lambda ev: types_for(ev, paper_id) == ["dismiss"])
    page.screenshot(path=str(artifacts / "sidepanel-undo.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(artifacts / "sidepanel-undo-dark.png"))
    page.emulate_media(color_scheme="light")

    page.click("#undo-button")
    page.wait_for_selector(f'.item[data-paper-id="{paper_id}"]')
    assert undo.is_hidden()
    after = page.locator(".item").evaluate_all("els => els.map(e => e.dataset.paperId)")
    assert after == before, "the item came back in its place"
    item = page.locator(f'.item[data-paper-id="{paper_id}"]')
    assert item.is_visible() and not pressed(item.locator("button.dismiss"))
    backend.wait_for(user, lambda ev: types_for(ev, paper_id) == ["dismiss", "undismiss"])
    wait_until(
        lambda: browser.storage("marks")["marks"][paper_id]["dismiss"] is False,
        "the dismiss mark was not taken back",
    )
    page.reload()
    page.wait_for_selector(f'.item[data-paper-id="{paper_id}"]')  # not dismissed any more

    # The next action ends the offer: nothing is undone then.
    other = page.locator(".item").nth(2)
    other_id = other.get_attribute("data-paper-id")
    other.locator("button.dismiss").click()
    page.wait_for_selector(f'.item[data-paper-id="{other_id}"]', state="detached")
    assert undo.is_visible()
    page.locator(".item").first.locator("button.save").click()
    assert undo.is_hidden()
    backend.wait_for(user, lambda ev: types_for(ev, other_id) == ["dismiss"])
    assert page.locator(f'.item[data-paper-id="{other_id}"]').count() == 0


def test_saved_view_lists_a_paper_saved_in_the_panel(browser, backend, user, artifacts):
    browser.connect(backend.url, user)
    page = panel(browser)
    page.wait_for_selector(".item")
    first = page.locator(".item").first
    paper_id = first.get_attribute("data-paper-id")
    title = first.locator(".title").text_content()
    first.locator("button.save").click()
    assert page.get_attribute("#tab-saved", "aria-selected") == "false"

    page.click("#tab-saved")
    page.wait_for_selector(f'.item[data-paper-id="{paper_id}"]')
    assert page.get_attribute("#tab-saved", "aria-selected") == "true"
    assert page.get_attribute("#tab-feed", "aria-selected") == "false"
    assert page.locator(".item").count() == 1
    saved = page.locator(f'.item[data-paper-id="{paper_id}"]')
    assert saved.locator(".title").text_content() == title
    assert saved.locator("a.title").get_attribute("href").startswith("https://")
    assert saved.locator(".authors").text_content()
    assert saved.locator(".meta").text_content().startswith("Saved ")
    assert pressed(saved.locator("button.save"))
    assert page.locator("#more-row").is_hidden()
    page.screenshot(path=str(artifacts / "sidepanel-saved.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(artifacts / "sidepanel-saved-dark.png"), full_page=True)
    page.emulate_media(color_scheme="light")

    saved.locator("button.save").click()  # unsave, from the Saved list
    assert not pressed(saved.locator("button.save"))
    assert saved.get_attribute("data-saved") == "false"
    assert opacity(saved.locator(".title")) < 1.0  # dimmed, and can be saved again
    backend.wait_for(user, lambda ev: types_for(ev, paper_id) == ["save", "unsave"])
    status, body = backend.api(user, "/api/v1/saved")
    assert status == 200 and body["items"] == [], body

    again = panel(browser, "?view=saved")
    again.wait_for_selector('[data-state="empty"]')
    assert "No saved papers yet" in again.text_content("#state")
    # the server agrees it is not saved: its mark is gone (or says so)
    assert not browser.storage("marks")["marks"].get(paper_id, {}).get("save")


def test_saved_view_pages_with_more(browser, backend, user):
    # (papers of their own: a second reader would make another test's paper "popular")
    batch = uuid.uuid4().hex[:8]
    events = [
        {
            "id": f"saved-{batch}-{i}",
            "type": "save",
            "ts": f"2026-01-02T10:00:{i:02d}Z",
            "paper": {
                "id": f"arxiv:2405.{90000 + i}",
                "title": f"Saved paper number {i}",
                "authors": ["Lise Meitner"],
                # old: they must not push the catalog's new papers out of others' "For you"
                "published": "2001-01-02",
            },
        }
        for i in range(23)
    ]
    status, body = backend.api(user, "/api/v1/events", "POST", {"events": events})
    assert status == 200 and body["accepted"] == 23, body
    browser.connect(backend.url, user)
    page = panel(browser, "?view=saved")
    page.wait_for_selector(".item")
    assert page.locator(".item").count() == 20
    assert page.locator("#more-row").is_visible()
    # a next page that fails says so under the button and keeps the list; pressing again works
    page.route("**/api/v1/saved?*offset=20*", lambda route: route.abort())
    page.click("#more")
    page.wait_for_selector('#more-status:has-text("reach your server")')
    assert page.locator(".item").count() == 20 and page.is_enabled("#more")
    page.unroute("**/api/v1/saved?*offset=20*")
    page.click("#more")
    wait_until(lambda: page.locator(".item").count() == 23, "the second page was not added")
    titles = page.locator(".item .title").all_text_contents()
    assert titles == [f"Saved paper number {i}" for i in reversed(range(23))]  # newest first
    assert page.locator("#more-row").is_hidden()
    # the server's list is also what the save buttons show elsewhere
    marks = wait_until(
        lambda: (
            (m := browser.storage("marks").get("marks", {}))
            and all(m.get(f"arxiv:2405.{90000 + i}", {}).get("save") for i in range(23))
            and m
        ),
        "the save marks did not follow the server",
    )
    assert len([k for k in marks if k.startswith("arxiv:2405.9")]) == 23


def test_save_marks_follow_the_server(browser, backend, user):
    """A save made elsewhere (the web app, another browser) shows as saved; an old save mark
    the server does not hold (unsaved elsewhere) is cleared. A mark newer than the server's
    list is kept."""
    event = {
        "id": f"elsewhere-{uuid.uuid4().hex}",
        "type": "save",
        "ts": "2026-01-03T10:00:00Z",
        "paper": {"id": "arxiv:2301.00002"},
    }
    status, body = backend.api(user, "/api/v1/events", "POST", {"events": [event]})
    assert status == 200 and body["accepted"] == 1, body
    now = int(time.time() * 1000)
    browser.set_storage(
        {
            "marks": {
                "doi:10.5555/jrr.2022.001": {"save": True, "at": 1},  # stale
                "arxiv:2301.00001": {"save": True, "like": True, "at": now + 60_000},  # newer
            }
        }
    )
    browser.connect(backend.url, user)
    page = panel(browser, "?paper=doi%3A10.5555%2Fjrr.2022.001")
    page.wait_for_selector(".item")
    marks = wait_until(
        lambda: (m := browser.storage("marks")["marks"]).get("arxiv:2301.00002") and m,
        "the server's save never reached the marks",
    )
    assert marks["arxiv:2301.00002"]["save"] is True
    assert "doi:10.5555/jrr.2022.001" not in marks
    assert marks["arxiv:2301.00001"] == {"save": True, "like": True, "at": now + 60_000}
    item = page.locator('.item[data-paper-id="arxiv:2301.00002"]')
    if item.count():  # (when the related list has it) its button shows it
        wait_until(lambda: pressed(item.locator("button.save")), "the button did not follow")


def test_saved_view_states_bad_token_unreachable_and_empty(browser, backend, user, artifacts):
    browser.connect(backend.url, "np_not_a_real_token")
    page = panel(browser, "?view=saved")
    page.wait_for_selector('[data-state="unauthorized"]')
    assert page.get_attribute("#tab-saved", "aria-selected") == "true"
    assert "token" in page.text_content("#state").lower()
    browser.connect(f"http://127.0.0.1:{free_port()}", user)
    page.wait_for_selector('[data-state="unreachable"]')
    assert "Can't reach" in page.text_content("#state")
    assert page.locator(".item, .skeleton").count() == 0
    page.screenshot(path=str(artifacts / "sidepanel-saved-unreachable.png"), full_page=True)
    browser.connect(backend.url, user)
    page.wait_for_selector('[data-state="empty"]')
    assert "No saved papers yet" in page.text_content("#state")
    page.screenshot(path=str(artifacts / "sidepanel-saved-empty.png"), full_page=True)


class FakeBackend:
    """A stand-in backend answering fixed JSON per path (for answers the real one cannot be
    made to give), and accepting every event."""

    def __init__(self, answers: dict):
        answers = {**answers, "/api/v1/saved": {"items": [], "total": 0}}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server API)
                path = self.path.split("?")[0]
                if path in answers:
                    self._json(200, answers[path])
                else:
                    self._json(
                        404, {"error": {"code": "not_found", "message": path, "status": 404}}
                    )

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                events = json.loads(self.rfile.read(length) or b"{}").get("events", [])
                self._json(200, {"accepted": len(events), "duplicates": 0, "rejected": []})

            def _json(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
