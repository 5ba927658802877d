"""The Firefox variant of the extension passes ``web-ext lint`` with no errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import build_firefox_variant

REPO = Path(__file__).resolve().parents[1]
WEB_EXT = REPO / "node_modules" / ".bin" / "web-ext"


@pytest.mark.skipif(not WEB_EXT.exists(), reason="web-ext is not installed (run `npm ci`)")
def test_firefox_variant_passes_web_ext_lint(tmp_path):
    out = build_firefox_variant(tmp_path / "firefox")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["browser_specific_settings"]["gecko"]["id"]
    assert "sidebar_action" in manifest and "scripts" in manifest["background"]
    result = subprocess.run(
        [str(WEB_EXT), "lint", "--source-dir", str(out), "--self-hosted", "--output", "json"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report["summary"]["errors"] == 0, report["errors"]
