"""``nextpaper train --engine spark``: what it publishes is served with no Java and no pyspark;
bad engine options, a missing pyspark or Java, and a Spark that does not start end with one
line and exit status 2, with nothing published.

The tests that run Spark (marker ``spark``: local[1], a small driver) skip where pyspark or
Java is absent and fail instead under NEXTPAPER_REQUIRE_SPARK=1 (CI); the others run
everywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli, synthetic_papers
from tests.spark_support import require_spark

SPARK_ARGS = ("--engine", "spark", "--spark-master", "local[1]", "--spark-driver-memory", "512m")


def home_with_events(tmp_path: Path, users: int = 18) -> Path:
    """A home with 60 papers in six topics and ``users`` readers of 8 papers of one topic
    each: fewer than the 20 validation users a blend search needs, so the training fits
    ALS once, with the default weights."""
    home = tmp_path / "home"
    run_cli(home, "init")
    papers = tmp_path / "papers.jsonl"
    papers.write_text("".join(json.dumps(p) + "\n" for p in synthetic_papers(60)))
    rows = [f"u{u},seed:p{(u % 6) + 6 * ((u + j) % 10)}" for u in range(users) for j in range(8)]
    events = tmp_path / "events.csv"
    events.write_text("user_id,paper_id\n" + "\n".join(rows) + "\n")
    run_cli(home, "papers", "import", str(papers))
    run_cli(home, "events", "import", str(events))
    return home


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# The serving process: any import of pyspark or py4j fails and is noted; then the normal
# serving path (`nextpaper recommend`) answers from the current model.
SERVE_WITHOUT_SPARK = """
import json, sys

tried = []

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("pyspark", "py4j"):
            tried.append(name)
            raise ImportError(f"{name} may not be imported to serve")
        return None

sys.meta_path.insert(0, Refuse())
from server.cli import main

try:
    main(["--home", sys.argv[1], "recommend", "u0", "-n", "5", "--json"], standalone_mode=False)
finally:
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("pyspark", "py4j"))
    print(json.dumps({"tried": tried, "loaded": loaded}), file=sys.stderr)
"""


@pytest.mark.spark
def test_a_spark_training_publishes_a_model_served_without_pyspark(tmp_path):
    require_spark()
    home = home_with_events(tmp_path)
    work = tmp_path / "spark-work"
    trained = run_cli(home, "train", *SPARK_ARGS, "--spark-work-dir", str(work))
    version = trained.stdout.strip().splitlines()[-1]
    folder = home / "models" / version
    assert (home / "models" / "CURRENT").read_text().strip() == version
    release = json.loads((folder / "release.json").read_text())
    manifest = json.loads((folder / "manifest.json").read_text())
    assert release["engine"] == "spark" and manifest["params"]["als_engine"] == "spark"
    assert manifest["components"]["als"] and not manifest["als_warm_start"]
    assert (folder / "als_item_factors.npy").is_file()
    # the run's Parquet files, id maps and Spark's log are gone; Spark's log was not ours
    assert list(work.iterdir()) == []
    assert "WARN" not in trained.stderr and "INFO" not in trained.stderr

    served = subprocess.run(
        [sys.executable, "-c", SERVE_WITHOUT_SPARK, str(home)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert served.returncode == 0, served.stderr
    assert json.loads(served.stderr.strip().splitlines()[-1]) == {"tried": [], "loaded": []}
    body = json.loads(served.stdout)
    assert body["model_version"] == version and len(body["items"]) == 5
    read = {f"seed:p{(0 % 6) + 6 * (j % 10)}" for j in range(8)}
    assert not read & {item["paper"]["id"] for item in body["items"]}

    # the next training (implicit, as the server's retrains) continues from Spark's factors
    again = home / "models" / run_cli(home, "train", "--quiet").stdout.strip().splitlines()[-1]
    assert json.loads((again / "release.json").read_text())["engine"] == "implicit"
    assert json.loads((again / "manifest.json").read_text())["als_warm_start"]


@pytest.mark.spark
def test_a_spark_that_does_not_start_exits_2_and_publishes_nothing(tmp_path):
    require_spark()
    home = home_with_events(tmp_path)
    result = run_cli(home, "train", "--engine", "spark", "--spark-master", "nowhere", check=False)
    line = one_line_error(result)
    assert line.startswith("Error: Spark did not start (master nowhere)"), line
    assert "nothing was published" in line
    assert not (home / "models" / "CURRENT").exists()


@pytest.mark.parametrize(
    "args, said",
    [
        (("--engine", "bogus"), "unknown --engine 'bogus': expected one of implicit, spark"),
        (("--spark-master", "local[1]"), "--spark-master needs --engine spark"),
        (("--engine", "spark", "--new-papers"), "--new-papers fits nothing"),
        (("--engine", "spark", "--spark-driver-memory", "lots"), "is not a size"),
    ],
)
def test_bad_engine_options_exit_2_with_one_line(tmp_path, args, said):
    home = tmp_path / "home"
    run_cli(home, "init")
    assert said in one_line_error(run_cli(home, "train", *args, check=False))
    assert not (home / "models" / "CURRENT").exists()


def _packages(folder: Path, body: str) -> Path:
    """``pyspark`` and ``pyarrow`` packages in ``folder`` whose ``__init__`` is ``body``, to be
    found before the real ones (if any)."""
    for name in ("pyspark", "pyarrow"):
        (folder / name).mkdir(parents=True)
        (folder / name / "__init__.py").write_text(body.format(name=name))
    return folder


def test_spark_without_java_or_pyspark_exits_2_with_one_line_and_publishes_nothing(tmp_path):
    home = home_with_events(tmp_path, users=6)
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "PYTHONPATH")}
    no_java = {
        **env,
        "PATH": str(tmp_path),  # no java on it
        "PYTHONPATH": str(_packages(tmp_path / "installed", "")),
    }
    line = one_line_error(run_cli(home, "train", "--engine", "spark", check=False, env=no_java))
    assert "needs Java 17 or later: no java on PATH" in line, line
    no_pyspark = {
        **env,
        "PYTHONPATH": str(
            _packages(tmp_path / "absent", 'raise ImportError("no {name}", name="{name}")')
        ),
    }
    line = one_line_error(run_cli(home, "train", "--engine", "spark", check=False, env=no_pyspark))
    assert "pip install 'nextpaper[spark]'" in line, line
    assert not (home / "models" / "CURRENT").exists()
