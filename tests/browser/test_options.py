"""The options page in Chromium against the real backend: it says whose token it is, never
saves a token the backend rejects, saves one it cannot check with a warning, and saves
excluded sites only when every entry is a host name."""

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.browser


def whose(backend, token: str) -> str:
    status, body = backend.api(token, "/api/v1/export")
    assert status == 200, body
    return body["user"]["user_id"]


def test_options_name_the_tokens_user_and_refuse_a_rejected_token(
    browser, backend, user, artifacts
):
    page = browser.extension_page("options.html")
    page.fill("#backendUrl", backend.url)
    page.fill("#token", "np_wrong")
    page.click("#save")
    page.wait_for_selector("#connection-status.bad")
    assert "rejected this token, so it was not saved" in page.text_content("#connection-status")
    assert browser.storage("backendUrl", "token") == {}  # nothing stored
    page.screenshot(path=str(artifacts / "options-token-rejected.png"), full_page=True)

    page.fill("#token", user)
    page.click("#save")
    page.wait_for_selector("#connection-status.ok")
    name = whose(backend, user)
    assert page.text_content("#account") == f"This token belongs to {name}."
    assert page.text_content("#account strong") == name
    assert browser.storage("backendUrl", "token") == {"backendUrl": backend.url, "token": user}
    page.screenshot(path=str(artifacts / "options-connected.png"), full_page=True)

    # Opened again later, the page asks the backend whose saved token it is.
    page.reload()
    page.wait_for_selector("#account strong")
    assert page.text_content("#account") == f"This token belongs to {name}."

    # A token rejected later (say, revoked) is named as such when the page opens.
    browser.set_storage({"token": "np_revoked"})
    page.reload()
    page.wait_for_selector('#account:has-text("rejects the saved token")')


def test_options_save_an_unchecked_token_with_a_warning(browser, backend, user):
    page = browser.extension_page("options.html")
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    page.fill("#backendUrl", down)
    page.fill("#token", user)
    page.click("#save")
    page.wait_for_selector("#connection-status.warn")
    text = page.text_content("#connection-status")
    assert text.startswith(f"Saved, but not checked: {down} could not be reached"), text
    assert browser.storage("backendUrl", "token") == {"backendUrl": down, "token": user}
    assert page.text_content("#account") == ""


def test_options_excluded_sites_must_be_host_names(browser, artifacts):
    page = browser.extension_page("options.html")
    browser.set_storage({"excludedSites": ["kept.example"]})
    page.fill("#excludedSites", "example.com\nnot a host!!, also bad/")
    page.click("#save-sites")
    page.wait_for_selector("#sites-status.bad")
    status = page.text_content("#sites-status")
    assert status.startswith("Not saved: “not a host!!”, “also bad/” are not host names."), status
    assert browser.storage("excludedSites") == {"excludedSites": ["kept.example"]}
    page.screenshot(path=str(artifacts / "options-bad-sites.png"), full_page=True)

    page.fill("#excludedSites", "Example.com, *.private.org\nhttps://secret.net/some/page")
    page.click("#save-sites")
    page.wait_for_selector("#sites-status.ok")
    assert browser.storage("excludedSites") == {
        "excludedSites": ["example.com", "private.org", "secret.net"]
    }
    assert page.input_value("#excludedSites") == "example.com\nprivate.org\nsecret.net"
