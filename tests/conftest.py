"""Fixtures shared by the whole suite: an app on a tmp_path home, users with tokens, and a real
``nextpaper serve`` process for tests that must go over HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from server import create_app
from server.http import auth
from server.store import storage
from server.store.db import open_database

REPO = Path(__file__).resolve().parents[1]

_TOPICS = {
    "graph": "graph neural network message passing node edge embedding",
    "retrieval": "dense retrieval query document ranking index passage",
    "vision": "image vision convolution pixel segmentation detection",
    "language": "language model token transformer pretraining text",
    "robot": "robot control policy reinforcement reward manipulation",
    "proof": "theorem proof formal verification logic solver",
}


def synthetic_papers(count: int, published: str = "2026-01-01") -> list[dict]:
    """Papers in the API's shape, in topic groups, so that text similarity means something."""
    topics = list(_TOPICS)
    papers = []
    for i in range(count):
        topic = topics[i % len(topics)]
        words = _TOPICS[topic].split()
        papers.append(
            {
                "id": f"seed:p{i}",
                "title": f"{topic.title()} {words[i % len(words)]} methods {i}",
                "abstract": f"We study {_TOPICS[topic]}. " * 2 + f"Experiment {i}.",
                "published": published,
            }
        )
    return papers


@pytest.fixture(scope="session")
def playwright_session():
    """The one Playwright driver of a run (its sync API cannot be started twice at once in a
    thread, so the extension's and the web app's browser tests share it)."""
    try:
        from playwright import sync_api
    except ImportError:
        if os.environ.get("NEXTPAPER_REQUIRE_BROWSER") == "1":
            pytest.fail("NEXTPAPER_REQUIRE_BROWSER=1 but the playwright package is not installed")
        pytest.skip("the playwright package is not installed")
    with sync_api.sync_playwright() as p:
        yield p


@pytest.fixture
def papers_file(tmp_path: Path) -> Path:
    """A JSON Lines catalog of 60 synthetic papers (``seed:p0`` … ``seed:p59``)."""
    path = tmp_path / "papers.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in synthetic_papers(60)))
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def app(home: Path):
    return create_app({"HOME": str(home), "TESTING": True, "MODEL_CHECK_SECONDS": 0})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(app):
    database = open_database(app.config["DATABASE"])
    yield database
    database.close()


@pytest.fixture
def make_user(db):
    """``make_user(name, admin=False)`` → the auth headers of a new user."""

    def make(name: str, admin: bool = False) -> dict[str, str]:
        storage.create_user(db, name, is_admin=admin)
        return {"Authorization": f"Bearer {auth.issue_token(db, name)}"}

    return make


def build_firefox_variant(out: Path) -> Path:
    """The Firefox variant of the extension, built into ``out`` by its own build script."""
    subprocess.run(
        ["node", str(REPO / "extension" / "firefox" / "build.mjs"), str(out)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return out


def stop_process(process: subprocess.Popen, grace: float = 10) -> None:
    """Ask a child process to stop (SIGTERM), and kill it if it has not within ``grace``."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(home: Path, *args: str, check: bool = True, timeout: float = 300, **kwargs):
    """Run the real ``nextpaper`` command line in a child process."""
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        **kwargs,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"nextpaper {' '.join(args)} failed: {result.stderr}")
    return result


def initialised(home: Path) -> Path:
    """``home`` with its database, as ``nextpaper init`` makes it (the other commands refuse a
    home without one)."""
    if not (home / "nextpaper.db").exists():
        run_cli(home, "init")
    return home


class LiveServer:
    """A real ``nextpaper serve`` process on a free port; it can be stopped and started again
    on the same port and home (its log, ``serve-<port>.log``, collects every run)."""

    def __init__(self, home: Path, *extra: str):
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra = extra
        self.log_path = home / f"serve-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> LiveServer:
        import urllib.request

        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "server.cli",
                    "--home",
                    str(self.home),
                    "serve",
                    "--port",
                    str(self.port),
                    *self.extra,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"nextpaper serve exited: {self.read_log()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/api/v1/health", timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"nextpaper serve did not start: {self.read_log()[-2000:]}")

    def read_log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process:
            stop_process(self.process)


@pytest.fixture
def live_server(tmp_path: Path):
    """Start with ``live_server(*serve_args)``; every server started is stopped afterwards."""
    servers: list[LiveServer] = []
    home = tmp_path / "live-home"
    home.mkdir(exist_ok=True)

    def start(*extra: str, home_dir: Path = home) -> LiveServer:
        server = LiveServer(home_dir, *extra).start()
        servers.append(server)
        return server

    start.home = home
    yield start
    for server in servers:
        server.stop()
