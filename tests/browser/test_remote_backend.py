"""A backend that is not on this machine: https://nextpaper.lab.example, a TLS proxy in front of
the real `nextpaper serve` (Chromium resolves the name to it with --host-resolver-rules).

What the browser's permission prompt does under automation, as found here (Chromium 156, new
headless, Playwright): the options page's click is a real user gesture, so
`chrome.permissions.request` does not fail; it opens the browser's prompt, which is browser UI
that neither CDP nor Playwright can see or answer (no switch or CDP command accepts or denies an
extension's permission prompt), so the request stays unanswered for as long as the page lives.
Answering it ("Allow" or "Deny") is therefore not tested in a browser; tests/js/options.test.mjs
runs the options page's code for both answers under node.
"""

import time

import pytest
from conftest import Browser, TlsProxy

pytestmark = pytest.mark.browser

HOST = "nextpaper.lab.example"


@pytest.fixture
def remote(backend):
    proxy = TlsProxy(HOST, backend.port)
    yield proxy
    proxy.close()


@pytest.fixture
def remote_browser(playwright_instance, sites, remote, tmp_path):
    browser = Browser(playwright_instance, tmp_path / "profile", sites, hosts={HOST: remote.port})
    browser.launch()
    yield browser
    browser.close()


def has_access(browser, url: str) -> bool:
    return browser.worker.evaluate(
        "url => chrome.permissions.contains({origins: [url + '/*']})", url
    )


def test_a_remote_https_backend_gets_the_events_and_fills_the_panel(
    remote_browser, remote, backend, user
):
    """Connected from outside (as a managed profile would), the extension reaches the remote
    backend without the optional host permission: the backend answers CORS requests from
    extension origins, so the worker's fetch needs no host access."""
    browser = remote_browser
    browser.connect(remote.url, user)
    page = browser.page()
    page.goto("https://arxiv.org/abs/2401.00071v1")
    events = backend.wait_for(user, lambda ev: len(ev) >= 1)
    assert [(e["type"], e["paper_id"]) for e in events] == [("open", "arxiv:2401.00071")]
    assert remote.connections >= 1  # it went through https://nextpaper.lab.example
    assert not has_access(browser, remote.url)
    panel = browser.extension_page("sidepanel.html")
    panel.wait_for_selector(".item")
    # filled from the remote backend (which papers depends on the model its background
    # retrains have published by then)
    titles = panel.locator(".item .title").all_text_contents()
    assert len(titles) >= 3 and all(t.strip() for t in titles)


def test_saving_a_remote_backend_asks_for_access_and_changes_nothing_until_allowed(
    remote_browser, remote, backend, user
):
    browser = remote_browser
    browser.connect(backend.url, user)  # connected to a backend on this machine so far
    other_user = backend.new_user()
    options = browser.extension_page("options.html")
    options.fill("#backendUrl", remote.url + "/")
    options.fill("#token", other_user)
    options.click("#save")

    options.wait_for_selector("#connection-status.warn")
    assert options.text_content("#connection-status") == (
        f"Allow access to {HOST} in the browser's prompt to connect."
    )
    time.sleep(1.0)  # the prompt stays open: nothing has been saved or contacted meanwhile
    assert "warn" in options.get_attribute("#connection-status", "class")
    assert browser.storage("backendUrl", "token") == {"backendUrl": backend.url, "token": user}
    assert not has_access(browser, remote.url)
    assert remote.connections == 0  # the token check waits for the answer

    # Papers opened meanwhile still go to the backend and user saved before.
    tab = browser.page()
    tab.goto("https://arxiv.org/abs/2401.00072")
    backend.wait_for(user, lambda ev: "arxiv:2401.00072" in [e["paper_id"] for e in ev])
    assert backend.history(other_user) == []

    # Closing the page closes its prompt; the settings page shows what is still saved.
    options.close()
    options = browser.extension_page("options.html")
    deadline = time.monotonic() + 10
    while options.input_value("#token") != user:
        assert time.monotonic() < deadline, "the options page never showed the saved token"
        time.sleep(0.1)
    assert options.input_value("#backendUrl") == backend.url
    assert browser.storage("backendUrl", "token") == {"backendUrl": backend.url, "token": user}
    assert remote.connections == 0
