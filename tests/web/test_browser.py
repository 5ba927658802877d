"""The web app in real Chromium against a real ``nextpaper serve``: sign in with a token, the
feed's titles against the API's, Save and Dismiss with their undo, a paper's page; each page
screenshotted (``test-artifacts/web/``) and checked by axe-core for serious or critical
accessibility problems. The pages keep their Content-Security-Policy on (axe is injected over
the DevTools protocol, which the policy does not govern), so a script or style the policy
blocks shows up as a console error here."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request

import pytest

from tests.conftest import REPO, LiveServer, run_cli, synthetic_papers

pytestmark = pytest.mark.browser

ARTIFACTS = REPO / "test-artifacts" / "web"
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-sync",
    "--no-first-run",
]


def _missing(message: str):
    if os.environ.get("NEXTPAPER_REQUIRE_BROWSER") == "1":
        pytest.fail(f"NEXTPAPER_REQUIRE_BROWSER=1 but {message}")
    pytest.skip(message)


@pytest.fixture(scope="module")
def chromium(request):
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
    if not path:
        _missing("Chromium not found: set CHROMIUM_PATH or put `chromium` on the PATH")
    if not AXE.exists():
        _missing("axe-core is not installed: run `npm ci` (make test does)")
    browser = request.getfixturevalue("playwright_session").chromium.launch(
        executable_path=path, headless=True, args=BROWSER_ARGS
    )
    yield browser
    browser.close()


def _api(server: LiveServer, token: str, path: str, body=None):
    request = urllib.request.Request(
        server.url + path,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A served home with a catalog, a reader (``token``) and two others whose reading counts."""
    home = tmp_path_factory.mktemp("web-home")
    catalog = home / "papers.jsonl"
    catalog.write_text("".join(json.dumps(p) + "\n" for p in synthetic_papers(36)))
    run_cli(home, "papers", "import", str(catalog))
    tokens = {
        name: run_cli(home, "users", "add", name).stdout.strip().splitlines()[-1]
        for name in ("alice", "bob")
    }
    server = LiveServer(home, "--no-retrain").start()
    reading = {"bob": (0, 6, 12, 18, 24), "alice": (0, 6)}
    for name, papers in reading.items():
        events = [
            {
                "id": f"{name}-{i}",
                "type": "open",
                "ts": "2026-01-02T10:00:00Z",
                "paper": {"id": f"seed:p{i}"},
            }
            for i in papers
        ]
        _api(server, tokens[name], "/api/v1/events", {"events": events})
    yield server, tokens["alice"]
    server.stop()


def check_page(page, name: str, console: list[str]) -> None:
    """Screenshot the page, and fail on serious or critical axe violations or console errors."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    page.evaluate(AXE.read_text())
    result = page.evaluate("() => axe.run(document, { resultTypes: ['violations'] })")
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{name}: {bad}"
    assert not console, f"{name}: console errors {console}"


def history(server, token):
    events = _api(server, token, "/api/v1/history?limit=1000")["events"]
    return [(e["type"], e["paper_id"]) for e in reversed(events)]


def test_sign_in_feed_marks_and_paper_page_in_chromium(chromium, served):
    server, token = served
    context = chromium.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    try:
        page.goto(server.url + "/")
        assert page.get_by_label("Token").is_visible()
        check_page(page, "sign-in", console)

        page.get_by_label("Token").fill("np_not-a-token")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("alert").wait_for()
        assert "not valid" in page.get_by_role("alert").inner_text()
        console.clear()  # the 401 of the refused sign-in
        check_page(page, "sign-in-refused", console)

        page.get_by_label("Token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        page.locator(".items").wait_for()
        shown = page.locator(".item .title").all_inner_texts()
        api = _api(server, token, "/api/v1/recommendations")
        assert shown == [item["paper"]["title"] for item in api["items"]]
        assert page.locator(".who .user").inner_text() == "alice"
        check_page(page, "feed-for-you", console)

        first = page.locator(".item").first
        paper_id = first.get_attribute("data-paper-id")
        save = first.locator("button.save")
        save.click()
        page.wait_for_selector('.item:first-child button.save[aria-pressed="true"]')
        assert save.inner_text() == "Saved"
        assert page.locator("#toast-text").inner_text().startswith("Saved “")
        assert history(server, token)[-1] == ("save", paper_id)
        check_page(page, "feed-saved", console)
        page.locator("#toast-undo").click()
        page.wait_for_selector('.item:first-child button.save[aria-pressed="false"]')
        assert history(server, token)[-1] == ("unsave", paper_id)

        dismiss = first.locator("button.dismiss")
        dismiss.click()
        page.wait_for_selector(".item:first-child.dismissed")
        assert history(server, token)[-1] == ("dismiss", paper_id)
        check_page(page, "feed-dismissed", console)
        page.locator("#toast-undo").click()
        page.wait_for_selector(".item:first-child:not(.dismissed)")
        assert history(server, token)[-1] == ("undismiss", paper_id)

        for tab, name in (("New today", "feed-new"), ("Trending", "feed-trending")):
            page.get_by_role("link", name=tab).click()
            page.wait_for_selector(f'.tab[aria-current="page"]:text("{tab}")')
            check_page(page, name, console)

        page.get_by_role("link", name="For you").click()
        title = page.locator(".item .title").first.inner_text()
        page.locator(".item").first.get_by_role("link", name="Details and similar papers").click()
        page.locator("#paper-title").wait_for()
        assert page.locator("#paper-title").inner_text() == title
        assert page.get_by_role("heading", name="Similar papers").is_visible()
        assert page.get_by_role("heading", name="Why you see it").is_visible()
        check_page(page, "paper", console)

        page.goto(server.url + "/papers/seed:nowhere")
        assert page.get_by_role("heading", name="Page not found").is_visible()
        console.clear()  # the 404 itself
        check_page(page, "error-404", console)

        page.goto(server.url + "/")
        page.get_by_role("button", name="Sign out").click()
        page.get_by_label("Token").wait_for()
    finally:
        context.close()


def test_a_login_link_in_chromium(chromium, served):
    server, _ = served
    url = run_cli(server.home, "users", "login-link", "alice").stdout.strip().splitlines()[-1]
    path = url.split("/login/", 1)[1]
    context = chromium.new_context()
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    try:
        page.goto(f"{server.url}/login/{path}")
        check_page(page, "login-link", console)
        page.get_by_role("button", name="Sign in").click()
        page.locator(".who .user").wait_for()
        assert page.locator(".who .user").inner_text() == "alice"
    finally:
        context.close()
