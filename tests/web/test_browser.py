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
from contextlib import contextmanager

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
    run_cli(home, "init")
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
    """Screenshot the page, and fail on a picture not drawn, serious or critical axe violations
    or console errors."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_function("() => [...document.images].every(i => i.complete)")
    broken = page.evaluate(
        "() => [...document.images].filter(i => !i.naturalWidth).map(i => i.getAttribute('src'))"
    )
    assert not broken, f"{name}: pictures not drawn {broken}"
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


@contextmanager
def browsing(chromium, **options):
    """A fresh browser context's page, and the console errors it logs (for check_page)."""
    context = chromium.new_context(viewport={"width": 1100, "height": 900}, **options)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    try:
        yield page, console
    finally:
        context.close()


def sign_in(page, token: str) -> None:
    """Sign in with ``token`` on the sign-in page shown, and wait for the feed."""
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.locator(".items").wait_for()


def history(server, token):
    events = _api(server, token, "/api/v1/history?limit=1000")["events"]
    return [(e["type"], e["paper_id"]) for e in reversed(events)]


def test_sign_in_feed_marks_and_paper_page_in_chromium(chromium, served):
    server, token = served
    with browsing(chromium) as (page, console):
        page.goto(server.url + "/")
        assert page.get_by_label("Token").is_visible()
        check_page(page, "sign-in", console)

        page.get_by_label("Token").fill("np_not-a-token")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("alert").wait_for()
        assert "not valid" in page.get_by_role("alert").inner_text()
        console.clear()  # the 401 of the refused sign-in
        check_page(page, "sign-in-refused", console)

        sign_in(page, token)
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


def test_a_login_link_in_chromium(chromium, served):
    server, _ = served
    url = run_cli(server.home, "users", "login-link", "alice").stdout.strip().splitlines()[-1]
    path = url.split("/login/", 1)[1]
    with browsing(chromium) as (page, console):
        page.goto(f"{server.url}/login/{path}")
        check_page(page, "login-link", console)
        page.get_by_role("button", name="Sign in").click()
        page.locator(".who .user").wait_for()
        assert page.locator(".who .user").inner_text() == "alice"


def test_saved_history_and_settings_in_chromium(chromium, served, tmp_path):
    server, token = served
    with browsing(chromium, accept_downloads=True) as (page, console):
        page.goto(server.url + "/")
        sign_in(page, token)

        # save a paper on the feed, and find it under Saved
        first = page.locator(".item").first
        title = first.locator(".title").inner_text()
        first.locator("button.save").click()
        page.wait_for_selector('.item:first-child button.save[aria-pressed="true"]')
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Saved").click()
        page.wait_for_selector('.nav a[aria-current="page"]:text("Saved")')
        saved = page.locator(".items.saved .title").all_inner_texts()
        assert saved[0] == title
        api = _api(server, token, "/api/v1/saved")
        assert saved == [item["paper"]["title"] for item in api["items"]]
        check_page(page, "saved", console)

        # export BibTeX: a download with its file name, holding the saved paper
        with page.expect_download() as info:
            page.get_by_role("link", name="BibTeX").click()
        download = info.value
        assert download.suggested_filename == "nextpaper-saved.bib"
        bibtex = download.path().read_text(encoding="utf-8")
        assert title in bibtex and bibtex.lstrip().startswith("@")
        export = page.context.request.get(server.url + "/saved/export/bibtex")
        assert export.headers["content-type"] == "application/x-bibtex; charset=utf-8"

        # import a list of ids with one bad line: the counts and the rejected entry are shown
        library = tmp_path / "library.txt"
        library.write_text("arXiv:1706.03762\nnot a paper at all\n")
        page.get_by_label("Library file").set_input_files(str(library))
        page.get_by_role("button", name="Import").click()
        page.locator("#import-result").wait_for()
        result = page.locator("#import-result").inner_text()
        assert "Imported 1 paper" in result and "entry 2" in result, result
        check_page(page, "saved-imported", console)

        # delete one history event
        page.get_by_role("link", name="History").click()
        page.locator("table.events").wait_for()
        before = _api(server, token, "/api/v1/history?limit=1000")["events"]
        shown = page.locator("tr[data-event-id]").evaluate_all(
            "rows => rows.map(r => r.dataset.eventId)"
        )
        assert shown == [e["id"] for e in before][: len(shown)]
        assert page.locator(".pictures img").count() == 2
        check_page(page, "history", console)
        page.locator("tr[data-event-id]").first.get_by_role("button", name="Delete").click()
        page.get_by_text("Deleted one event from your history.").wait_for()
        after = _api(server, token, "/api/v1/history?limit=1000")["events"]
        assert [e["id"] for e in after] == [e["id"] for e in before][1:]
        page.get_by_role("link", name="Delete all…").click()
        page.get_by_role("heading", name="Delete your whole history?").wait_for()
        check_page(page, "history-erase", console)
        page.get_by_role("link", name="Cancel").click()
        page.locator("table.events").wait_for()

        # settings: a refused address, then saved ones
        page.get_by_role("link", name="Settings").click()
        assert page.locator(".whoami").inner_text() == "alice"
        page.get_by_label("Email", exact=True).fill("not an address")
        page.get_by_label("Digest", exact=True).select_option("weekly")
        page.get_by_role("button", name="Save settings").click()
        page.locator("#email-error").wait_for()
        console.clear()  # the 400 of the refused form
        check_page(page, "settings-refused", console)
        page.get_by_label("Email", exact=True).fill("alice@example.org")
        page.get_by_role("button", name="Save settings").click()
        page.get_by_text("Settings saved: a weekly digest to alice@example.org.").wait_for()
        assert _api(server, token, "/api/v1/settings") == {
            "email": "alice@example.org",
            "digest": "weekly",
        }
        assert page.get_by_label("Feed URL").input_value().endswith(".atom")
        page.get_by_role("button", name="Create a token").click()
        new_token = page.get_by_label("Your new token, shown this once: copy it now.")
        assert new_token.input_value().startswith("np_")
        check_page(page, "settings", console)


def test_admin_page_only_for_admins_in_chromium(chromium, served):
    server, token = served
    admin_token = (server.home / "admin-token").read_text().strip()
    with browsing(chromium) as (page, console):
        # a reader: no Admin link, and the page itself is refused
        page.goto(server.url + "/")
        sign_in(page, token)
        nav = page.get_by_role("navigation", name="Main")
        assert nav.get_by_role("link", name="Admin").count() == 0
        page.goto(server.url + "/admin")
        assert page.get_by_role("heading", name="For admins only").is_visible()
        console.clear()  # the 403 itself
        check_page(page, "admin-refused", console)
        page.get_by_role("button", name="Sign out").click()
        page.get_by_label("Token").wait_for()

        # the admin: the link, every card, and a retrain that publishes a model
        sign_in(page, admin_token)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
        page.wait_for_selector('.nav a[aria-current="page"]:text("Admin")')
        headings = ("Growth and activity", "Users", "The model", "Training")
        for heading in (*headings, "Last arXiv sync", "Last digests"):
            assert page.get_by_role("heading", name=heading, exact=True).is_visible(), heading
        users = page.locator("table.users tbody tr").evaluate_all(
            "rows => rows.map(r => r.dataset.userId)"
        )
        assert users == ["admin", "alice", "bob"]
        page.get_by_role("button", name="Retrain now").click()
        page.get_by_text("Retrain started").wait_for()
        for _ in range(240):
            if page.locator(".training-last").count():
                break
            page.wait_for_timeout(500)
            page.reload()
        assert "published" in page.locator(".training-last").inner_text()
        page.goto(server.url + "/admin")  # from the top (the form led to #training)
        version = page.locator("#model .version").inner_text()
        assert _api(server, admin_token, "/api/v1/admin/model")["model"]["version"] == version
        assert page.locator(".pictures img").count() == 2
        check_page(page, "admin", console)
