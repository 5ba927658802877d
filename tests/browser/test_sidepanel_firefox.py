"""The Firefox variant's side panel (the `sidebar_action` page) in a real Firefox: like and its
undoing reach the backend, the state survives a reload, and the Saved tab lists the paper.

Same Firefox and add-on as test_firefox.py (its fixtures); the panel is opened as a tab from
the browser window, as the options page is there.
"""

import json
import time

import pytest
from test_firefox import ADDON_ID, firefox, firefox_addon  # noqa: F401 F811 (fixtures)

pytestmark = pytest.mark.browser


def open_page(ff, name: str) -> str:
    """Open one of the add-on's pages in a new tab; its browsing context."""
    [window] = ff.contexts("chrome")
    policy = f"WebExtensionPolicy.getByID({json.dumps(ADDON_ID)})"
    ff.evaluate(
        window["context"],
        f"""(() => {{
            const url = {policy}.getURL({json.dumps(name)});
            gBrowser.selectedTab = gBrowser.addTab(url, {{
              triggeringPrincipal: Services.scriptSecurityManager.getSystemPrincipal(),
            }});
        }})()""",
    )
    path = "/" + name
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for context in ff.contexts():
            if context["url"].endswith(path):
                return context["context"]
        time.sleep(0.1)
    raise AssertionError(f"{name} did not open: {ff.contexts()}")


def wait_for(ff, context: str, expression: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not (value := ff.evaluate(context, expression)):
        assert time.monotonic() < deadline, f"never true: {expression}"
        time.sleep(0.1)
    return value


def types_for(events, paper_id):
    return [e["type"] for e in reversed(events) if e["paper_id"] == paper_id]


def test_firefox_side_panel_feedback_state_and_saved_tab(
    firefox,  # noqa: F811 (the imported fixture)
    firefox_addon,  # noqa: F811
    backend,
    user,
):
    assert firefox.install(firefox_addon) == ADDON_ID
    options = open_page(firefox, "options.html")
    wait_for(firefox, options, "document.getElementById('backendUrl')?.value || ''")
    firefox.evaluate(
        options,
        f"browser.storage.local.set({json.dumps({'backendUrl': backend.url, 'token': user})})",
    )
    panel = open_page(firefox, "sidepanel.html?paper=arxiv%3A2301.00001")
    first = "document.querySelector('.item')"
    paper_id = wait_for(firefox, panel, f"{first}?.dataset.paperId")
    like = f"document.querySelector('.item[data-paper-id=\"{paper_id}\"] button.like')"
    save = f"document.querySelector('.item[data-paper-id=\"{paper_id}\"] button.save')"
    firefox.evaluate(panel, f"{like}.click(); {save}.click()")
    backend.wait_for(user, lambda ev: sorted(types_for(ev, paper_id)) == ["like", "save"])

    firefox.evaluate(panel, "window.oldDocument = true; location.reload()")
    wait_for(
        firefox, panel, f"!window.oldDocument && {like}?.getAttribute('aria-pressed') === 'true'"
    )
    assert firefox.evaluate(panel, f"{save}.getAttribute('aria-pressed')") == "true"
    firefox.evaluate(panel, f"{like}.click()")
    assert firefox.evaluate(panel, f"{like}.getAttribute('aria-pressed')") == "false"
    backend.wait_for(user, lambda ev: types_for(ev, paper_id)[-1:] == ["unlike"])

    firefox.evaluate(panel, "document.getElementById('tab-saved').click()")
    saved = (
        f'document.querySelector(\'.items[data-list="saved"] .item[data-paper-id="{paper_id}"]\')'
    )
    wait_for(firefox, panel, saved)
    assert (
        firefox.evaluate(
            panel, f"{saved}.querySelector('button.save').getAttribute('aria-pressed')"
        )
        == "true"
    )
