"""Fixtures shared by the whole suite: an app on a tmp_path home, users with tokens, and a real
``nextpaper serve`` process for tests that must go over HTTP."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
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


@pytest.fixture(scope="session")
def postgres_server():
    """The URL of a PostgreSQL server for the run: ``NEXTPAPER_TEST_POSTGRES_URL`` (``.ci/run``
    starts one), else a throwaway one started here (:mod:`tests.postgres`). Skipped where
    PostgreSQL is not installed, unless ``NEXTPAPER_REQUIRE_POSTGRES=1``."""
    from tests import postgres

    url = os.environ.get("NEXTPAPER_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    if postgres.binaries() is None:
        if os.environ.get("NEXTPAPER_REQUIRE_POSTGRES") == "1":
            pytest.fail("NEXTPAPER_REQUIRE_POSTGRES=1 but PostgreSQL is not installed")
        pytest.skip("PostgreSQL is not installed")
    # not under pytest's own temporary folder: as root, PostgreSQL runs as another user, who
    # could not reach a folder in it
    root = Path(tempfile.mkdtemp(prefix="nextpaper-postgres-"))
    try:
        url = postgres.start(root)
        postgres.wait_ready(url)
        yield url
    finally:
        postgres.stop(root)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server):
    """A new, empty PostgreSQL database for one test."""
    from tests import postgres

    return postgres.new_database(postgres_server)


@pytest.fixture
def backend(request) -> str:
    """Which database the test's app uses: ``sqlite``, or for modules marked
    ``both_backends``, each of ``sqlite`` and ``postgresql`` in turn."""
    return getattr(request, "param", "sqlite")


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "both_backends"
    ):
        metafunc.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def database(tmp_path: Path, backend: str, request) -> str:
    """Where a test's own database lives: a SQLite file, or a new PostgreSQL database's URL."""
    if backend == "postgresql":
        return request.getfixturevalue("postgres_url")
    return str(tmp_path / "nextpaper.db")


@pytest.fixture
def app(home: Path, backend: str, request):
    config = {"HOME": str(home), "TESTING": True, "MODEL_CHECK_SECONDS": 0}
    if backend == "postgresql":
        config["DATABASE_URL"] = request.getfixturevalue("postgres_url")
        # and for the commands a test runs beside the app, which read the environment
        request.getfixturevalue("monkeypatch").setenv(
            "NEXTPAPER_DATABASE_URL", config["DATABASE_URL"]
        )
    app = create_app(config)
    yield app
    app.extensions["nextpaper"].connections.close()


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

    def __init__(self, home: Path, *extra: str, env: dict[str, str] | None = None):
        self.home = home
        self.env = env or {}
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
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
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

    def start(*extra: str, home_dir: Path = home, env: dict[str, str] | None = None) -> LiveServer:
        server = LiveServer(home_dir, *extra, env=env).start()
        servers.append(server)
        return server

    start.home = home
    yield start
    for server in servers:
        server.stop()
