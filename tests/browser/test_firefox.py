"""The Firefox variant in a real Firefox (Debian's firefox-esr, headless), driven over the
WebDriver BiDi that Firefox has built in (there is no geckodriver here).

- The add-on is the output of extension/firefox/build.mjs, installed with `webExtension.install`
  (a temporary add-on, as `about:debugging` would load it).
- Fixture sites: Firefox has no --host-resolver-rules, so an HTTP proxy (network.proxy.ssl) tunnels
  the fixture hosts to the local TLS server; `acceptInsecureCerts` accepts its certificate. The
  backend on 127.0.0.1 is reached directly (Firefox never proxies localhost).
- BiDi refuses to navigate to a moz-extension:// page, so the options page is opened from the
  browser window itself (`--remote-allow-system-access`, the "chrome" scope), then filled in and
  saved like any page.

Found Firefox (FIREFOX_PATH, or firefox-esr / firefox on the PATH), or skip; with
NEXTPAPER_REQUIRE_BROWSER=1 a missing Firefox fails, as a missing Chromium does.
"""

import json
import os
import shutil
import subprocess
import threading
import time

import pytest
from bidi import Bidi, ConnectProxy
from conftest import ROUTES

from tests.conftest import build_firefox_variant, free_port, stop_process

pytestmark = pytest.mark.browser

ADDON_ID = "nextpaper@nextpaper.invalid"


def firefox_path() -> str | None:
    return os.environ.get("FIREFOX_PATH") or shutil.which("firefox-esr") or shutil.which("firefox")


class Firefox:
    def __init__(self, path: str, profile, site_port: int):
        self.proxy = ConnectProxy(site_port, ROUTES)
        profile.mkdir()
        prefs = {
            "network.proxy.type": 1,  # manual: HTTPS through our proxy, localhost direct
            "network.proxy.ssl": "127.0.0.1",
            "network.proxy.ssl_port": self.proxy.port,
            "browser.shell.checkDefaultBrowser": False,
            "datareporting.policy.dataSubmissionEnabled": False,
        }
        (profile / "user.js").write_text(
            "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items())
        )
        port = free_port()
        self.process = subprocess.Popen(
            [
                path,
                "--headless",
                "--no-remote",
                "--profile",
                str(profile),
                f"--remote-debugging-port={port}",
                "--remote-allow-system-access",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "MOZ_HEADLESS": "1"},
        )
        self.log: list[str] = []
        ready = threading.Event()

        def read_log():
            with self.process.stderr:
                for line in self.process.stderr:
                    self.log.append(line.decode(errors="replace"))
                    if b"WebDriver BiDi listening" in line:
                        ready.set()

        threading.Thread(target=read_log, daemon=True).start()
        if not ready.wait(90):
            self.close()
            raise AssertionError("Firefox did not start WebDriver BiDi:\n" + "".join(self.log))
        self.bidi = Bidi(port)
        capabilities = {"alwaysMatch": {"acceptInsecureCerts": True}}
        self.bidi.send("session.new", {"capabilities": capabilities})

    def install(self, addon_dir) -> str:
        result = self.bidi.send(
            "webExtension.install", {"extensionData": {"type": "path", "path": str(addon_dir)}}
        )
        return result["extension"]

    def contexts(self, scope: str = "content") -> list[dict]:
        return self.bidi.send("browsingContext.getTree", {"moz:scope": scope})["contexts"]

    def evaluate(self, context: str, expression: str):
        result = self.bidi.send(
            "script.evaluate",
            {"expression": expression, "target": {"context": context}, "awaitPromise": True},
        )
        assert result["type"] == "success", result
        return result["result"].get("value")

    def navigate(self, context: str, url: str) -> None:
        params = {"context": context, "url": url, "wait": "complete"}
        self.bidi.send("browsingContext.navigate", params)

    def open_options(self) -> str:
        """Open the add-on's options page in a new tab (from the browser window); its context."""
        [window] = self.contexts("chrome")
        self.evaluate(
            window["context"],
            f"""(() => {{
                const policy = WebExtensionPolicy.getByID({json.dumps(ADDON_ID)});
                const url = policy.getURL("options.html");
                gBrowser.selectedTab = gBrowser.addTab(url, {{
                  triggeringPrincipal: Services.scriptSecurityManager.getSystemPrincipal(),
                }});
                return url;
            }})()""",
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for context in self.contexts():
                if context["url"].endswith("/options.html"):
                    return context["context"]
            time.sleep(0.1)
        raise AssertionError(f"the options page did not open: {self.contexts()}")

    def close(self):
        try:
            if hasattr(self, "bidi"):
                self.bidi.close()
        finally:
            stop_process(self.process, grace=20)
            self.proxy.close()


@pytest.fixture
def firefox(sites, tmp_path):
    path = firefox_path()
    if not path:
        message = "Firefox not found: set FIREFOX_PATH or put `firefox-esr` on the PATH"
        if os.environ.get("NEXTPAPER_REQUIRE_BROWSER") == "1":
            pytest.fail(f"NEXTPAPER_REQUIRE_BROWSER=1 but {message}")
        pytest.skip(message)
    browser = Firefox(path, tmp_path / "profile", sites)
    yield browser
    browser.close()


@pytest.fixture
def firefox_addon(tmp_path):
    return build_firefox_variant(tmp_path / "addon")


def test_firefox_variant_connects_in_options_and_records_an_open(
    firefox, firefox_addon, backend, user
):
    assert firefox.install(firefox_addon) == ADDON_ID
    first_tab = firefox.contexts()[0]["context"]

    options = firefox.open_options()
    deadline = time.monotonic() + 20  # options.js has loaded when it has filled in the default
    while not firefox.evaluate(options, "document.getElementById('backendUrl')?.value || ''"):
        assert time.monotonic() < deadline, "the options page never loaded its settings"
        time.sleep(0.1)
    firefox.evaluate(
        options,
        f"""(() => {{
            document.getElementById("backendUrl").value = {json.dumps(backend.url)};
            document.getElementById("token").value = {json.dumps(user)};
            document.getElementById("save").click();
        }})()""",
    )
    status = "document.getElementById('connection-status')"
    deadline = time.monotonic() + 20
    while "ok" not in firefox.evaluate(options, status + ".className"):
        assert time.monotonic() < deadline, firefox.evaluate(options, status + ".textContent")
        time.sleep(0.1)
    assert firefox.evaluate(options, status + ".textContent") == "Connected. Your token works."

    firefox.navigate(first_tab, "https://arxiv.org/abs/2401.00081v1")
    events = backend.wait_for(user, lambda ev: len(ev) >= 1, timeout=30)
    assert [(e["type"], e["paper_id"]) for e in events] == [("open", "arxiv:2401.00081")]
    assert "arxiv.org:443" in firefox.proxy.hosts  # the page came from the fixture site
    status, paper = backend.api(user, "/api/v1/papers/arxiv%3A2401.00081")
    assert status == 200, paper
    assert paper["title"] == "Sparse Mixtures of Attention Experts for Long Documents"
