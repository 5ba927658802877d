"""Events are never lost (backend down, worker stopped, browser restarted) nor counted twice."""

import time

import pytest
from conftest import Backend, Browser

from tests.conftest import free_port

pytestmark = pytest.mark.browser


def wait_until(read, predicate, what: str, timeout=10.0):
    """Poll ``read()`` until ``predicate`` holds for its value; return that value."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = read()
        if predicate(value):
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} never matched: {value}")


def wait_queue(browser, predicate, timeout=10.0):
    return wait_until(browser.queue, predicate, "queue", timeout)


def test_open_made_while_backend_is_down_arrives_when_it_is_back(browser, tmp_path):
    server = Backend(tmp_path / "home")
    server.home.mkdir()
    token = server.new_user()
    browser.connect(server.url, token)  # nothing listens there yet
    page = browser.page()
    page.goto("https://arxiv.org/abs/2401.00021v1")
    queue = wait_queue(browser, lambda q: len(q) == 1)
    # the event is queued first, then the worker tries the backend and records the failure
    sync = wait_until(
        lambda: browser.storage("sync").get("sync") or {},
        lambda s: s.get("attempts", 0) >= 1,
        "delivery state",
    )
    assert "unreachable" in sync["lastError"]
    server.start()
    try:
        events = server.wait_for(token, lambda ev: len(ev) >= 1, timeout=30)
        assert [(e["id"], e["type"], e["paper_id"]) for e in events] == [
            (queue[0]["id"], "open", "arxiv:2401.00021")
        ]
        wait_queue(browser, lambda q: q == [])
    finally:
        server.stop()


def test_stopped_worker_and_browser_restart_lose_nothing_and_count_once(
    playwright_instance, sites, backend, user, tmp_path
):
    profile = tmp_path / "profile"
    browser = Browser(playwright_instance, profile, sites).launch()
    try:
        browser.connect(f"http://127.0.0.1:{free_port()}", user)  # unreachable for now
        page = browser.page()
        page.goto("https://arxiv.org/abs/2401.00031")
        page.goto("https://openreview.net/forum?id=Restart2")
        first = wait_queue(browser, lambda q: len(q) == 2)

        # Stop the service worker the way the browser does when it is idle.
        options = browser.extension_page("options.html")
        cdp = browser.context.new_cdp_session(options)
        cdp.send("ServiceWorker.enable")
        cdp.send("ServiceWorker.stopAllWorkers")
        cdp.detach()
        options.close()
        page.goto("https://aclanthology.org/2023.acl-long.1/")  # wakes the worker again
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(browser.context.service_workers) == 0:
            time.sleep(0.1)
        browser.worker = browser.context.service_workers[-1]
        second = wait_queue(browser, lambda q: len(q) == 3)
        assert [e["id"] for e in second[:2]] == [e["id"] for e in first]
    finally:
        browser.close()

    # The browser restarts with the same profile; the backend is now reachable.
    browser = Browser(playwright_instance, profile, sites).launch()
    try:
        assert [e["id"] for e in browser.queue()] == [e["id"] for e in second]
        browser.connect(backend.url, user)
        events = backend.wait_for(user, lambda ev: len(ev) >= 3)
        time.sleep(1.0)  # anything sent twice would show up by now
        events = backend.history(user)
        assert sorted(e["id"] for e in events) == sorted(e["id"] for e in second)
        assert sorted(e["paper_id"] for e in events) == sorted(
            ["arxiv:2401.00031", "openreview:Restart2", "acl:2023.acl-long.1"]
        )
        wait_queue(browser, lambda q: q == [])
    finally:
        browser.close()
