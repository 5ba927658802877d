"""What ``make run`` and ``make test`` would do on a fresh clone, read from ``make -n`` with the
virtual environment pointed at a folder that does not exist yet."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def dry_run(tmp_path, target: str, **variables: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "NEXTPAPER_HOME"}
    args = [
        f"{key}={value}" for key, value in {"VENV": str(tmp_path / "venv"), **variables}.items()
    ]
    result = subprocess.run(
        ["make", "-n", target, *args], capture_output=True, text=True, cwd=REPO, env=env, check=True
    )
    return result.stdout.splitlines()


def test_make_run_installs_only_what_serving_needs_and_says_what_it_does(tmp_path):
    lines = dry_run(tmp_path, "run")
    installs = [line for line in lines if "pip install" in line]
    assert installs[-1].endswith("pip install -e .")
    assert not any("[test]" in line or "--quiet" in line for line in installs)
    said = [line for line in lines if line.startswith('echo "==> ')]
    assert [line.split()[2] for line in said] == [
        "Creating",
        "Installing",
        "Initialising",
        "Starting",
    ]
    # the home every command uses: no --home of its own
    assert any(line.endswith("/bin/nextpaper init") for line in lines)
    assert any(line.endswith("nextpaper serve --host 127.0.0.1 --port 5000") for line in lines)


def test_make_test_still_installs_the_test_tools(tmp_path):
    lines = dry_run(tmp_path, "test")
    assert any(line.endswith("pip install --quiet -e '.[test,spark]'") for line in lines)
    assert any(line.endswith("-m pytest") for line in lines)
