"""The ``nextpaper`` command line, run as a real child process against a tmp_path home."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import run_cli, synthetic_papers


def new_home(tmp_path: Path) -> Path:
    """A home with an empty, migrated database, as ``nextpaper init`` leaves it (without its
    admin): every command but ``init`` and ``serve`` refuses a home without a database."""
    from server.store.db import open_database

    home = tmp_path / "home"
    open_database(home / "nextpaper.db").close()
    return home


def count(home: Path, sql: str) -> int:
    with sqlite3.connect(home / "nextpaper.db") as conn:
        return conn.execute(sql).fetchone()[0]


def test_init_creates_the_database_and_an_admin_token_once(tmp_path):
    home = tmp_path / "home"
    first = run_cli(home, "init")
    token_file = home / "admin-token"
    token = token_file.read_text().strip()
    assert token.startswith("np_")
    assert str(token_file) in first.stdout
    assert (token_file.stat().st_mode & 0o777) == 0o600
    run_cli(home, "init")
    assert token_file.read_text().strip() == token
    assert count(home, "SELECT count(*) FROM users WHERE is_admin = 1") == 1


def test_users_add_prints_the_token_last_and_stores_only_its_hash(tmp_path):
    home = new_home(tmp_path)
    result = run_cli(home, "users", "add", "alice")
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("np_") and len(token) == 46
    with sqlite3.connect(home / "nextpaper.db") as conn:
        dump = "\n".join(conn.iterdump())
    assert token not in dump
    again = run_cli(home, "users", "add", "alice", check=False)
    assert again.returncode == 2
    assert "already exists" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    bad = run_cli(home, "users", "add", "has space", check=False)
    assert bad.returncode == 2


def test_papers_import_our_shape_and_arxiv_snapshot(tmp_path, papers_file):
    home = new_home(tmp_path)
    run_cli(home, "papers", "import", str(papers_file))
    seeds = sum(1 for line in papers_file.read_text().splitlines() if line.strip())
    assert count(home, "SELECT count(*) FROM papers") == seeds
    snapshot = tmp_path / "arxiv.jsonl"
    records = [
        {
            "id": "0704.0001",
            "submitter": "Pavel Nadolsky",
            "authors": "C. Bal\\'azs, E. L. Berger",
            "title": "Calculation of prompt diphoton\n  production cross sections",
            "doi": "10.1103/PhysRevD.76.013009",
            "abstract": "  A fully differential calculation\nin perturbative QCD.  ",
            "versions": [{"version": "v1", "created": "Mon, 2 Apr 2007 19:18:42 GMT"}],
            "update_date": "2008-11-13",
            "authors_parsed": [["Balázs", "C.", ""], ["Berger", "E. L.", ""]],
        },
        {
            "id": "hep-th/9901001",
            "title": "Old style",
            "abstract": "x",
            "update_date": "1999-01-04",
        },
    ]
    snapshot.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    run_cli(home, "papers", "import", str(snapshot))
    with sqlite3.connect(home / "nextpaper.db") as conn:
        row = conn.execute(
            "SELECT title, abstract, authors, published, doi FROM papers WHERE paper_id = ?",
            ["arxiv:0704.0001"],
        ).fetchone()
        old = conn.execute(
            "SELECT published FROM papers WHERE paper_id = 'arxiv:hep-th/9901001'"
        ).fetchone()
    assert row[0] == "Calculation of prompt diphoton production cross sections"
    assert row[1] == "A fully differential calculation in perturbative QCD."
    assert json.loads(row[2]) == ["C. Balázs", "E. L. Berger"]
    assert row[3] == "2007-04-02"
    assert row[4] == "10.1103/PhysRevD.76.013009"
    assert old == ("1999-01-04",)


def test_bad_lines_are_reported_and_good_ones_kept(tmp_path, papers_file):
    home = new_home(tmp_path)
    run_cli(home, "papers", "import", str(papers_file))
    before = count(home, "SELECT count(*) FROM papers")
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(
        '{"id": "seed:good", "title": "Good"}\n'
        "{not json\n"
        '{"title": "no id"}\n'
        '{"id": "seed:bad-date", "published": "someday"}\n'
    )
    result = run_cli(home, "papers", "import", str(mixed), check=False)
    assert result.returncode == 2
    assert "mixed.jsonl:2" in result.stderr and "mixed.jsonl:3" in result.stderr
    assert count(home, "SELECT count(*) FROM papers") == before + 1
    missing = run_cli(home, "papers", "import", str(tmp_path / "nope.jsonl"), check=False)
    assert missing.returncode == 2
    assert len(missing.stderr.strip().splitlines()) == 1


def test_events_import_creates_users_and_papers_and_is_idempotent(tmp_path):
    home = new_home(tmp_path)
    csv_file = tmp_path / "history.csv"
    csv_file.write_text(
        "user_id,paper_id,timestamp,type,dwell_ms\n"
        "u1,arxiv:2401.00001v2,2024-01-02T03:04:05Z,open,\n"
        "u1,seed:b,1700000000,read,60000\n"
        "u2,seed:b,,like,\n"
    )
    first = run_cli(home, "events", "import", str(csv_file))
    assert "Imported 3 new events" in first.stdout
    again = run_cli(home, "events", "import", str(csv_file))
    assert "Imported 0 new events" in again.stdout
    assert count(home, "SELECT count(*) FROM events") == 3
    assert count(home, "SELECT count(*) FROM users") == 2
    assert count(home, "SELECT count(*) FROM tokens") == 0
    assert count(home, "SELECT count(*) FROM papers WHERE paper_id = 'arxiv:2401.00001'") == 1
    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("who,what\nu1,seed:a\n")
    result = run_cli(home, "events", "import", str(bad_header), check=False)
    assert result.returncode == 2 and "user_id" in result.stderr


def test_train_recommend_and_evaluate_commands(tmp_path, papers_file):
    home = new_home(tmp_path)
    run_cli(home, "papers", "import", str(papers_file))
    ids = [f"seed:p{i}" for i in range(12)]
    rows = [f"u{u},{ids[(u + k) % 12]}" for u in range(6) for k in range(4)]
    history = tmp_path / "history.csv"
    history.write_text("user_id,paper_id\n" + "\n".join(rows) + "\n")
    run_cli(home, "events", "import", str(history))
    version = run_cli(home, "train").stdout.strip().splitlines()[-1]
    assert (home / "models" / version / "release.json").is_file()
    assert (home / "models" / "CURRENT").read_text().strip() == version
    result = json.loads(run_cli(home, "recommend", "u0", "-n", "5", "--json").stdout)
    assert result["model_version"] == version
    assert len(result["items"]) == 5
    seen = {ids[k % 12] for k in range(4)}
    assert not seen & {item["paper"]["id"] for item in result["items"]}
    text = run_cli(home, "recommend", "u0", "-n", "3").stdout
    assert len(text.strip().splitlines()) == 3
    assert run_cli(home, "recommend", "nobody", check=False).returncode == 2
    assert run_cli(home, "recommend", "u0", "--since", "junk", check=False).returncode == 2


def test_evaluate_rejects_a_folder_that_is_not_a_dataset(tmp_path):
    result = run_cli(tmp_path / "home", "evaluate", str(tmp_path), check=False)
    assert result.returncode == 2
    assert "papers.jsonl" in result.stderr


def write_dataset(folder: Path, papers_per_user: list[int]) -> Path:
    """A dataset directory of 60 papers in six topics; user i reads papers_per_user[i] papers
    of topic i % 6 (ten papers per topic)."""
    folder.mkdir()
    papers = synthetic_papers(60)
    (folder / "papers.jsonl").write_text("".join(json.dumps(p) + "\n" for p in papers))
    rows = [
        f"u{u},seed:p{(u % 6) + 6 * ((u + j) % 10)}"
        for u, n in enumerate(papers_per_user)
        for j in range(n)
    ]
    (folder / "interactions.csv").write_text("user_id,paper_id\n" + "\n".join(rows) + "\n")
    return folder


def test_evaluate_sparse_reports_every_model_in_the_warm_shape(tmp_path):
    from recommender.baselines import default_scorers

    data = write_dataset(tmp_path / "lab", [9] * 20 + [4] * 6)
    home = tmp_path / "home"
    sparse = json.loads(
        run_cli(home, "evaluate", str(data), "--protocol", "sparse", "--json").stdout
    )
    warm = json.loads(run_cli(home, "evaluate", str(data), "--json").stdout)
    assert sparse["protocol"] == "sparse" and sparse["k"] == 20 and sparse["seed"] == 0
    assert sparse.keys() == warm.keys() and sparse["counts"].keys() == warm["counts"].keys()
    assert sparse["counts"]["eval_users"] == 4  # 20% of the 20 users with 9 papers
    assert sparse["counts"]["test_pairs"] == 4 * (9 - 3)
    assert set(sparse["models"]) == {s.name for s in default_scorers()} == set(warm["models"])
    for name, row in sparse["models"].items():
        assert row.keys() == warm["models"][name].keys()
        assert 0 <= row["recall@20"] <= 1 and 0 <= row["ndcg@20"] <= 1
        assert row["users"] == 4
    table = run_cli(home, "evaluate", str(data), "--protocol", "sparse", "--k", "5").stdout
    assert "protocol=sparse" in table and len(table.splitlines()) == 3 + len(sparse["models"])


def test_evaluate_sparse_rejects_a_dataset_without_users_of_8_papers(tmp_path):
    data = write_dataset(tmp_path / "small", [7] * 10)
    result = run_cli(tmp_path / "home", "evaluate", str(data), "--protocol", "sparse", check=False)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "no user has 8 or more papers" in result.stderr and not result.stdout


def test_evaluate_offers_every_protocol_of_the_recommender():
    from recommender.evaluation import PROTOCOLS
    from server.cli import evaluate

    (protocol,) = [p for p in evaluate.params if p.name == "protocol"]
    assert tuple(protocol.type.choices) == PROTOCOLS


def test_backup_is_a_consistent_copy(tmp_path, papers_file):
    home = new_home(tmp_path)
    run_cli(home, "papers", "import", str(papers_file))
    target = tmp_path / "backup.db"
    run_cli(home, "backup", str(target))
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT count(*) FROM papers").fetchone()[0] == count(
            home, "SELECT count(*) FROM papers"
        )
    exists = run_cli(home, "backup", str(target), check=False)
    assert exists.returncode == 2
    run_cli(home, "backup", str(target), "--force")


@pytest.mark.parametrize("args", [["frobnicate"], ["users", "add"], ["recommend", "x", "-n", "0"]])
def test_usage_errors_exit_2(tmp_path, args):
    assert run_cli(tmp_path / "home", *args, check=False).returncode == 2


def test_train_prints_the_blend_it_chose_and_the_admin_route_shows_it(tmp_path):
    data = write_dataset(tmp_path / "data", [8] * 30)
    home = new_home(tmp_path)
    run_cli(home, "papers", "import", str(data / "papers.jsonl"))
    run_cli(home, "events", "import", str(data / "interactions.csv"))
    out = run_cli(home, "train").stdout.splitlines()
    chosen = next(line for line in out if line.startswith("Blend chosen on "))
    version = out[-1]
    release = json.loads((home / "models" / version / "release.json").read_text())
    tuning = release["tuning"]
    assert f"on {tuning['users']} validation users" in chosen
    assert f"recall@20 {tuning['recall']:.4f}" in chosen
    weights = next(line for line in out if line.startswith("Weights: "))
    assert all(f"{name}={value:g}" in weights for name, value in tuning["weights"].items())
    assert tuning["recall"] >= max(tuning["single"].values())

    from server import create_app
    from server.http import auth
    from server.store import storage
    from server.store.db import open_database

    app = create_app({"HOME": str(home)})
    db = open_database(app.config["DATABASE"])
    storage.create_user(db, "root", is_admin=True)
    root = {"Authorization": f"Bearer {auth.issue_token(db, 'root')}"}
    reader = {"Authorization": f"Bearer {auth.issue_token(db, 'u0')}"}
    db.close()
    client = app.test_client()
    body = client.get("/api/v1/admin/model", headers=root).get_json()
    assert body["model"]["version"] == version and body["model"]["tuning"] == tuning
    assert body["training"]["state"] == "idle"
    refused = client.get("/api/v1/admin/model", headers=reader)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "admin_required"


def test_users_list_shows_every_user_in_name_order_with_live_tokens(tmp_path):
    home = tmp_path / "home"
    run_cli(home, "init")
    run_cli(home, "users", "add", "zoe")
    run_cli(home, "users", "add", "bob")
    run_cli(home, "users", "token", "bob")
    run_cli(home, "users", "set", "bob", "--email", "bob@example.org", "--digest", "weekly")
    run_cli(home, "users", "add", "carol")
    run_cli(home, "users", "revoke", "carol")
    assert json.loads(run_cli(home, "users", "list", "--json").stdout) == [
        {"user_id": "admin", "is_admin": True, "email": None, "digest": "off", "tokens": 1},
        {
            "user_id": "bob",
            "is_admin": False,
            "email": "bob@example.org",
            "digest": "weekly",
            "tokens": 2,
        },
        {"user_id": "carol", "is_admin": False, "email": None, "digest": "off", "tokens": 0},
        {"user_id": "zoe", "is_admin": False, "email": None, "digest": "off", "tokens": 1},
    ]
    lines = run_cli(home, "users", "list").stdout.splitlines()
    assert [line.split() for line in lines] == [
        ["admin", "admin", "-", "digest", "off", "1", "token"],
        ["bob", "user", "bob@example.org", "digest", "weekly", "2", "tokens"],
        ["carol", "user", "-", "digest", "off", "0", "tokens"],
        ["zoe", "user", "-", "digest", "off", "1", "token"],
    ]


def test_users_list_of_a_home_without_users_prints_none(tmp_path):
    home = new_home(tmp_path)
    result = run_cli(home, "users", "list")
    assert result.stdout == "" and f"No users in {home}" in result.stderr
    assert json.loads(run_cli(home, "users", "list", "--json").stdout) == []
