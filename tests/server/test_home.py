"""One home for every command and for the server: ``--home``, else ``NEXTPAPER_HOME``, else the
per-user data folder, whatever folder a command runs in; and a command other than ``init`` or
``serve`` never makes a database of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from server import create_app
from server.settings import resolve_home
from tests.conftest import REPO


def nextpaper(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The real command line, without ``--home`` unless ``args`` give it, from ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**env, "PYTHONPATH": str(REPO)},
        timeout=120,
    )


@pytest.fixture
def clean_env(tmp_path) -> dict[str, str]:
    """The environment without ``NEXTPAPER_*`` and with a per-user data folder in tmp_path
    (platformdirs reads ``XDG_DATA_HOME`` on Linux)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXTPAPER_")}
    return env | {"XDG_DATA_HOME": str(tmp_path / "xdg")}


@pytest.fixture
def two_folders(tmp_path) -> tuple[Path, Path]:
    first, second = tmp_path / "here", tmp_path / "there"
    first.mkdir()
    second.mkdir()
    return first, second


def token_accepted(token: str) -> bool:
    """Whether an app made by ``create_app()`` from the current environment accepts
    ``token``."""
    client = create_app({"TESTING": True}).test_client()
    response = client.get("/api/v1/history", headers={"Authorization": f"Bearer {token}"})
    return response.status_code == 200


def test_nextpaper_home_is_the_home_of_every_command_and_the_server(
    tmp_path, clean_env, two_folders, monkeypatch
):
    here, there = two_folders
    env = clean_env | {"NEXTPAPER_HOME": str(tmp_path / "home")}
    assert nextpaper("init", cwd=here, env=env).returncode == 0
    added = nextpaper("users", "add", "alice", cwd=there, env=env)
    assert added.returncode == 0, added.stderr
    assert not (there / "instance").exists() and not (here / "instance").exists()
    monkeypatch.setenv("NEXTPAPER_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(there)
    assert token_accepted(added.stdout.splitlines()[-1])


def test_without_nextpaper_home_every_command_uses_the_per_user_data_folder(
    tmp_path, clean_env, two_folders, monkeypatch
):
    here, there = two_folders
    home = tmp_path / "xdg" / "nextpaper"
    init = nextpaper("init", cwd=here, env=clean_env)
    assert init.returncode == 0 and f"NextPaper home: {home}" in init.stdout
    added = nextpaper("users", "add", "alice", cwd=there, env=clean_env)
    assert added.returncode == 0, added.stderr
    assert (home / "nextpaper.db").is_file()
    for key in [k for k in os.environ if k.startswith("NEXTPAPER_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(here)
    assert resolve_home() == home
    assert token_accepted(added.stdout.splitlines()[-1])


def test_home_option_beats_the_environment(tmp_path, clean_env, monkeypatch):
    env = clean_env | {"NEXTPAPER_HOME": str(tmp_path / "from-env")}
    result = nextpaper("--home", str(tmp_path / "given"), "init", cwd=tmp_path, env=env)
    assert result.returncode == 0
    assert (tmp_path / "given" / "nextpaper.db").is_file()
    assert not (tmp_path / "from-env").exists()
    monkeypatch.setenv("NEXTPAPER_HOME", "")  # empty counts as unset, as for click
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert resolve_home() == tmp_path / "xdg" / "nextpaper"
    assert resolve_home(tmp_path / "given") == tmp_path / "given"


@pytest.mark.parametrize(
    "args",
    [
        ["users", "add", "alice"],
        ["users", "list"],
        ["users", "token", "alice"],
        ["papers", "import", "PAPERS"],
        ["events", "import", "EVENTS"],
        ["train"],
        ["recommend", "alice"],
        ["backup", "BACKUP"],
    ],
)
def test_a_command_on_a_home_without_a_database_creates_none(tmp_path, clean_env, args):
    home = tmp_path / "empty"
    (tmp_path / "papers.jsonl").write_text('{"id": "seed:a", "title": "A"}\n')
    (tmp_path / "events.csv").write_text("user_id,paper_id\nu1,seed:a\n")
    files = {"PAPERS": "papers.jsonl", "EVENTS": "events.csv", "BACKUP": "backup.db"}
    args = [str(tmp_path / files[a]) if a in files else a for a in args]
    result = nextpaper(*args, cwd=tmp_path, env=clean_env | {"NEXTPAPER_HOME": str(home)})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: no NextPaper database in {home}: run nextpaper init"
    ]
    assert not home.exists() and not (tmp_path / "backup.db").exists()


def test_errors_about_a_user_name_the_home(tmp_path, clean_env):
    home = tmp_path / "home"
    env = clean_env | {"NEXTPAPER_HOME": str(home)}
    nextpaper("init", cwd=tmp_path, env=env)
    result = nextpaper("users", "token", "nobody", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"Error: no user 'nobody' in {home}"]
