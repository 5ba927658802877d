"""The ``nextpaper`` command line.

Every command takes ``--home DIR``, which holds ``nextpaper.db`` and ``models/``; without it,
``NEXTPAPER_HOME``, else the per-user data folder (:func:`server.settings.resolve_home`, as for
the server), whatever folder the command runs in. Only ``init`` and ``serve`` create a database;
every other command on a home without one says so and names the home. Bad input ends with a
one-line error and exit status 2; long work shows a progress bar on a terminal and stays quiet
when piped.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
from contextlib import contextmanager
from pathlib import Path

import click

ADMIN_TOKEN_FILE = "admin-token"
LOAD_EXTENSION = (
    "Load the extension: chrome://extensions -> Developer mode -> Load unpacked -> extension/, "
    "then set the backend URL and token in its options"
)


class CliError(click.ClickException):
    """A one-line error; exit status 2, as for bad usage."""

    exit_code = 2


def _progress_enabled() -> bool:
    return sys.stderr.isatty()


@contextmanager
def _database(ctx: click.Context, *, create: bool = False):
    """The home's database, migrated; unless ``create`` (``init``), a home without one is an
    error, so a command run against the wrong home never makes a second, empty database."""
    from .store.db import SchemaTooNew, database_errors, is_postgres, open_database

    home: Path = ctx.obj["home"]
    target = _settings(ctx)["DATABASE"]
    where = "PostgreSQL (DATABASE_URL)" if is_postgres(target) else str(home)
    if not create and not is_postgres(target) and not Path(target).is_file():
        raise CliError(f"no NextPaper database in {home}: run nextpaper init")
    try:
        db = open_database(target)
    except SchemaTooNew as error:
        raise CliError(str(error)) from None
    except database_errors() as error:
        raise CliError(f"cannot open the database in {where}: {error}") from None
    try:
        yield db
    finally:
        db.close()


def _require_user(db, user_id: str) -> None:
    from .store import storage

    if storage.get_user(db, user_id) is None:
        home = click.get_current_context().obj["home"]
        raise CliError(f"no user {user_id!r} in {home}")


def _settings(ctx: click.Context):
    """The settings for the command's home (defaults, ``config.py``, ``NEXTPAPER_*``)."""
    from . import settings

    if "settings" not in ctx.obj:
        try:
            ctx.obj["settings"] = settings.load(ctx.obj["home"])
        except ValueError as error:
            raise CliError(str(error)) from None
    return ctx.obj["settings"]


def _model_store(ctx: click.Context):
    from .model_versions import ModelStore

    return ModelStore(_settings(ctx)["MODELS"])  # HOME/models unless MODELS says otherwise


@click.group()
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder holding nextpaper.db and models/ [default: $NEXTPAPER_HOME, else the "
    "per-user data folder, e.g. ~/.local/share/nextpaper].",
)
@click.pass_context
def main(ctx: click.Context, home: Path | None) -> None:
    """NextPaper: a self-hosted paper recommender."""
    from .settings import resolve_home

    ctx.ensure_object(dict)
    ctx.obj["home"] = resolve_home(home)


@main.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create the database and, if there is no admin yet, an admin user with a token."""
    from .http import auth
    from .store import storage

    home: Path = ctx.obj["home"]
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CliError(f"cannot create the home {home}: {error.strerror}") from None
    with _database(ctx, create=True) as db:
        if storage.has_admin(db):
            click.echo(f"NextPaper home: {home} (database ready, admin exists)")
            if (home / ADMIN_TOKEN_FILE).exists():
                click.echo(f"The admin's API token is in {home / ADMIN_TOKEN_FILE}")
            click.echo(LOAD_EXTENSION)
            return
        name = "admin"
        if storage.get_user(db, name) is None:
            storage.create_user(db, name, is_admin=True)
        token = auth.issue_token(db, name)
    token_file = home / ADMIN_TOKEN_FILE
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    click.echo(f"NextPaper home: {home}")
    click.echo(f"Created admin user 'admin'; its API token is in {token_file}")
    click.echo(
        "Load the extension: chrome://extensions -> Developer mode -> Load unpacked -> extension/"
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes behind the port (more than 1: gunicorn's pre-fork workers).",
)
@click.option(
    "--threads", default=8, show_default=True, type=click.IntRange(1, 64), help="Per process."
)
@click.option(
    "--retrain-events",
    type=click.IntRange(1),
    help="Retrain after this many new events or papers (default 1000).",
)
@click.option(
    "--retrain-minutes",
    type=click.FloatRange(0.01),
    help="Retrain when anything changed and the model is this old (default 60).",
)
@click.option("--no-retrain", is_flag=True, help="Serve only; never retrain in the background.")
@click.pass_context
def serve(ctx, host, port, workers, threads, retrain_events, retrain_minutes, no_retrain) -> None:
    """Serve the HTTP API and the pages (waitress; with --workers N, N gunicorn processes);
    retrain in the background and, when ARXIV_CATEGORIES is set, harvest new arXiv papers
    daily at SYNC_TIME."""
    from . import create_app
    from .http import wsgi
    from .jobs.duties import daily_run
    from .jobs.sync import SyncError
    from .serving import runtime
    from .serving.runtime import limit_blas_threads
    from .store.db import SchemaTooNew, database_errors

    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s",
    )
    # faiss logs each CPU-specific build it tries and misses (ModuleNotFoundError) at INFO
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    runtime.limit_arenas()  # before any thread starts
    # Settings reach every process (gunicorn's workers build their own app) as NEXTPAPER_*.
    os.environ["NEXTPAPER_HOME"] = str(ctx.obj["home"])
    if retrain_events:
        os.environ["NEXTPAPER_RETRAIN_EVENTS"] = str(retrain_events)
    if retrain_minutes:
        os.environ["NEXTPAPER_RETRAIN_MINUTES"] = str(retrain_minutes)
    try:
        app = create_app()
        daily_run(app)  # bad sync settings stop `serve` now, not at the first run
    except SchemaTooNew as error:
        raise CliError(str(error)) from None
    except database_errors() as error:
        raise CliError(f"cannot open the database of {ctx.obj['home']}: {error}") from None
    except (SyncError, ValueError) as error:
        raise CliError(str(error)) from None

    def build():
        """An app for one serving process, with the model code loaded and BLAS limited."""
        process_app = app if workers == 1 else create_app()
        limit_blas_threads()
        import recommender  # noqa: F401  (now, not in the request that first loads a model)

        return process_app

    where = f"http://{host}:{port}" + (f" with {workers} workers" if workers > 1 else "")
    if workers > 1:
        click.echo(f"Serving NextPaper on {where} (home {ctx.obj['home']})", err=True)
        wsgi.serve_workers(
            build, host=host, port=port, workers=workers, threads=threads, retrain=not no_retrain
        )
        return
    stop = wsgi.start_process(build(), retrain=not no_retrain)
    click.echo(f"Serving NextPaper on {where} (home {ctx.obj['home']})", err=True)
    try:
        wsgi.serve_one(app, host=host, port=port, threads=threads)
    finally:
        stop()


@main.group()
def users() -> None:
    """Manage users and their API tokens."""


@users.command("add")
@click.argument("name")
@click.option("--admin", is_flag=True, help="May use the admin routes.")
@click.pass_context
def users_add(ctx: click.Context, name: str, admin: bool) -> None:
    """Create a user; print the new API token as the last line."""
    from .http import auth
    from .store import storage

    if not auth.valid_user_id(name):
        raise CliError(f"invalid user name {name!r}: 1-128 characters, no spaces or slashes")
    with _database(ctx) as db:
        try:
            storage.create_user(db, name, is_admin=admin)
        except storage.UserExists as error:
            raise CliError(str(error)) from None
        token = auth.issue_token(db, name)
    click.echo(f"Created {'admin ' if admin else ''}user {name}. API token (shown once):")
    click.echo(token)


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object per user.")
@click.pass_context
def users_list(ctx: click.Context, as_json: bool) -> None:
    """List every user by name: admin or not, email, digest, and live API tokens."""
    from .store import storage

    with _database(ctx) as db:
        rows = storage.list_users(db)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo(
            f"No users in {ctx.obj['home']}; add one with nextpaper users add NAME.", err=True
        )
        return
    width = max(len(row["user_id"]) for row in rows)
    mail = max(len(row["email"] or "-") for row in rows)
    for row in rows:
        tokens = row["tokens"]
        click.echo(
            f"{row['user_id']:<{width}}  {'admin' if row['is_admin'] else 'user':<5}  "
            f"{row['email'] or '-':<{mail}}  digest {row['digest']:<6}  "
            f"{tokens} token{'' if tokens == 1 else 's'}"
        )


@users.command("token")
@click.argument("name")
@click.pass_context
def users_token(ctx: click.Context, name: str) -> None:
    """Issue another API token for an existing user (imported users have none)."""
    from .http import auth

    with _database(ctx) as db:
        _require_user(db, name)
        token = auth.issue_token(db, name)
    click.echo(f"New API token for {name} (shown once):")
    click.echo(token)


@users.command("revoke")
@click.argument("name")
@click.pass_context
def users_revoke(ctx: click.Context, name: str) -> None:
    """Revoke every API token of a user."""
    from .store import storage

    with _database(ctx) as db:
        _require_user(db, name)
        count = storage.revoke_tokens(db, name)
    click.echo(f"Revoked {count} token(s) of {name}.")


@users.command("set")
@click.argument("name")
@click.option("--email", help="Where digests go ('' clears it).")
@click.option("--digest", type=click.Choice(["off", "daily", "weekly"]), help="Digest frequency.")
@click.pass_context
def users_set(ctx: click.Context, name: str, email: str | None, digest: str | None) -> None:
    """Set a user's email address and digest frequency."""
    from .store import storage, user_settings
    from .store.validation import Invalid

    changes = {"email": email, "digest": digest}
    changes = {key: value for key, value in changes.items() if value is not None}
    with _database(ctx) as db:
        _require_user(db, name)
        try:
            settings = user_settings.updated(storage.user_settings(db, name), changes)
        except Invalid as error:
            raise CliError(error.message) from None
        storage.set_user_settings(db, name, **settings)
    click.echo(f"{name}: email {settings['email'] or '(none)'}, digest {settings['digest']}")


@users.command("feed-url")
@click.argument("name")
@click.option("--new", "replace", is_flag=True, help="Replace the secret (the old URL stops).")
@click.pass_context
def users_feed_url(ctx: click.Context, name: str, replace: bool) -> None:
    """Print the user's Atom feed URL (last line), making its secret if there is none."""
    from .http import feeds

    with _database(ctx) as db:
        _require_user(db, name)
        url = feeds.feed_url(db, _settings(ctx), name, replace=replace)
    if replace:
        click.echo(f"New feed URL for {name}; the previous one no longer works:")
    click.echo(url)


@users.command("login-link")
@click.argument("name")
@click.pass_context
def users_login_link(ctx: click.Context, name: str) -> None:
    """Print a one-time sign-in link for the web app (last line)."""
    from .web import login_links

    with _database(ctx) as db:
        _require_user(db, name)
    url = login_links.login_url(_settings(ctx), name)
    minutes = login_links.MAX_AGE // 60
    click.echo(f"Sign-in link for {name} (works once, for the next {minutes} minutes):")
    click.echo(url)


def _open_input(path: Path):
    try:
        return open(path, encoding="utf-8", newline="")
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror}") from None


class _ErrorReport:
    """Collects bad lines of an import: the first few are printed, all are counted."""

    SHOWN = 10

    def __init__(self, path: Path):
        self.path = path
        self.count = 0

    def __call__(self, line: int, message: str) -> None:
        self.count += 1
        if self.count <= self.SHOWN:
            click.echo(f"{self.path}:{line}: skipped: {message}", err=True)

    def finish(self, what: str) -> None:
        if self.count:
            raise CliError(f"{self.count} bad line(s) in {self.path} skipped; the {what} were kept")


def _bar(path: Path, unit: str):
    from tqdm import tqdm

    return tqdm(desc=path.name, unit=unit, disable=not _progress_enabled(), leave=False)


@main.group()
def papers() -> None:
    """Manage the paper catalog."""


@papers.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def papers_import(ctx: click.Context, file: Path) -> None:
    """Upsert papers from JSON Lines: our paper shape or an arXiv metadata snapshot."""
    from .jobs.imports import read_papers
    from .store import storage

    errors = _ErrorReport(file)
    total = 0
    with _open_input(file) as stream, _database(ctx) as db, _bar(file, "papers") as bar:
        try:
            for batch in read_papers(stream, errors):
                storage.upsert_papers(db, batch)
                total += len(batch)
                bar.update(len(batch))
        except UnicodeDecodeError:
            raise CliError(
                f"{file} is not UTF-8 text ({total} papers imported before it)"
            ) from None
    click.echo(f"Imported {total} papers.")
    errors.finish("good papers")


def _day(value: str | None, option: str):
    """A ``YYYY-MM-DD`` option as a date, or a one-line error."""
    import re
    from datetime import date

    if value is None:
        return None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise CliError(f"{option} must be a date like 2024-01-31, not {value!r}")


@papers.command("sync")
@click.option("--from", "since", metavar="DATE", help="Harvest from this day (YYYY-MM-DD).")
@click.option("--until", metavar="DATE", help="Harvest up to this day (YYYY-MM-DD).")
@click.pass_context
def papers_sync(ctx: click.Context, since: str | None, until: str | None) -> None:
    """Harvest new arXiv papers of ARXIV_CATEGORIES over OAI-PMH (ARXIV_OAI_URL).

    Without --from, each archive resumes where the last run stopped (the first run goes back
    SYNC_BACKFILL_DAYS days).
    """
    from datetime import UTC, datetime

    from tqdm import tqdm

    from .jobs.sync import SyncError, sync_arxiv
    from .store.db import database_errors

    first, last = _day(since, "--from"), _day(until, "--until")
    if first is not None and first > datetime.now(UTC).date():
        raise CliError(f"--from {first} is in the future")
    if first is not None and last is not None and first > last:
        raise CliError(f"--from {first} is after --until {last}")
    bar = tqdm(desc="arXiv", unit=" records", disable=not _progress_enabled(), leave=False)
    with _database(ctx) as db, bar:
        try:
            report = sync_arxiv(db, _settings(ctx), since=first, until=last, progress=bar.update)
        except SyncError as error:
            raise CliError(str(error)) from None
        except database_errors() as error:
            raise CliError(f"arXiv sync stopped: database error: {error}") from None
    click.echo(report.summary())
    if report.new:
        from .jobs.training import add_papers_and_publish

        store = _model_store(ctx)
        if store.current_version() is not None:
            with _database(ctx) as db:
                added = add_papers_and_publish(db, store)
            click.echo(f"Added {added['added']} new papers to the model from their text.")


@main.group()
def library() -> None:
    """Import a reference library as a user's saved papers."""


@library.command("import")
@click.argument("name")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def library_import(ctx: click.Context, name: str, file: Path) -> None:
    """Save every paper of a BibTeX, RIS or CSL-JSON file, or of a list of arXiv ids, DOIs
    and URLs, for user NAME (importing the same file again adds nothing)."""
    from .library import LibraryError, NothingImported, describe, import_library

    try:
        data = file.read_bytes()
    except OSError as error:
        raise CliError(f"cannot read {file}: {error.strerror}") from None
    with _database(ctx) as db:
        _require_user(db, name)
        try:
            result = import_library(db, name, data)
        except NothingImported as error:
            for problem in error.rejected[: _ErrorReport.SHOWN]:
                click.echo(f"{file}: {problem.describe()}", err=True)
            raise CliError(f"{file}: no entry could be imported") from None
        except LibraryError as error:
            raise CliError(f"{file}: {error.message}") from None
    click.echo("\n".join(describe(result, name)))


@main.group()
def events() -> None:
    """Manage reading events."""


@events.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def events_import(ctx: click.Context, file: Path) -> None:
    """Bulk-load reading history from CSV: user_id,paper_id[,timestamp,type,dwell_ms]."""
    from .jobs.imports import read_events
    from .store import storage
    from .store.validation import Invalid

    errors = _ErrorReport(file)
    new = seen = 0
    with _open_input(file) as stream, _database(ctx) as db, _bar(file, "events") as bar:
        try:
            for batch in read_events(stream, errors):
                new += storage.import_events(db, batch)
                seen += len(batch)
                bar.update(len(batch))
        except Invalid as error:
            raise CliError(f"{file}: {error.message}") from None
        except UnicodeDecodeError:
            raise CliError(f"{file} is not UTF-8 text ({new} events imported before it)") from None
    click.echo(f"Imported {new} new events ({seen - new} already stored).")
    errors.finish("good events")


@main.command()
@click.option("--quiet", is_flag=True, help="Print only the new version.")
@click.option(
    "--new-papers",
    is_flag=True,
    help="Only add the catalog's papers the current model lacks, from their text (seconds).",
)
@click.option(
    "--engine",
    metavar="implicit|spark",
    default="implicit",
    help="Who fits ALS: implicit, in this process (default), or Spark MLlib (the spark "
    "extra and Java 17+); the model published is the same kind either way.",
)
@click.option(
    "--spark-master",
    metavar="URL",
    help="With --engine spark: the Spark master [default: local[*], this machine].",
)
@click.option(
    "--spark-work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="With --engine spark: where the Parquet files go (deleted after the run) [default: "
    "a temporary folder]; on a cluster, a folder every executor sees at the same path.",
)
@click.option(
    "--spark-driver-memory",
    metavar="SIZE",
    help="With --engine spark: spark.driver.memory, e.g. 4g [default: 1g]; in local mode "
    "Spark's work runs in the driver.",
)
@click.pass_context
def train(
    ctx: click.Context,
    quiet: bool,
    new_papers: bool,
    engine: str,
    spark_master: str | None,
    spark_work_dir: Path | None,
    spark_driver_memory: str | None,
) -> None:
    """Train on everything stored and publish a new model version (printed last)."""
    from .jobs.training import add_papers_and_publish, train_and_publish

    spark = {
        "--spark-master": spark_master,
        "--spark-work-dir": spark_work_dir,
        "--spark-driver-memory": spark_driver_memory,
    }
    _check_engine(engine, new_papers, {k: v for k, v in spark.items() if v is not None})
    with _database(ctx) as db:
        if new_papers:
            result = add_papers_and_publish(db, _model_store(ctx))
        else:
            from recommender.spark_als import SparkError

            try:
                result = train_and_publish(
                    db,
                    _model_store(ctx),
                    progress=_progress_enabled() and not quiet,
                    engine=engine,
                    spark_master=spark_master,
                    spark_work_dir=spark_work_dir,
                    spark_driver_memory=spark_driver_memory,
                )
            except SparkError as error:
                raise CliError(f"{error} (nothing was published)") from None
    if "added" in result and not quiet:
        click.echo(
            f"Added {result['added']} new papers to the model from their text "
            f"({result['papers']} papers in all)."
        )
    elif not quiet:
        click.echo(
            f"Trained on {result['users']} users and {result['papers']} papers "
            f"in {result['fit_seconds']:.1f} s."
        )
        click.echo(_tuning_lines(result.get("tuning")))
    click.echo(result["version"])


def _check_engine(engine: str, new_papers: bool, spark: dict[str, object]) -> None:
    """``nextpaper train``'s engine options, before anything is read: one line and exit
    status 2 for a bad one, and for Spark without pyspark or Java 17+."""
    import re

    from recommender.hybrid import ALS_ENGINES

    if engine not in ALS_ENGINES:
        raise CliError(f"unknown --engine {engine!r}: expected one of {', '.join(ALS_ENGINES)}")
    if engine != "spark" and spark:
        raise CliError(f"{', '.join(spark)} needs --engine spark")
    if engine == "spark" and new_papers:
        raise CliError("--new-papers fits nothing (papers join from their text): no --engine")
    memory = spark.get("--spark-driver-memory")
    if memory is not None and not re.fullmatch(r"\d+[kKmMgGtT]?", str(memory)):
        raise CliError(f"--spark-driver-memory {memory!r} is not a size such as 512m or 4g")
    if engine == "spark":
        from recommender.spark_als import SparkUnavailable, check_available

        try:
            check_available()
        except SparkUnavailable as error:
            raise CliError(str(error)) from None


def _tuning_lines(tuning: dict | None) -> str:
    """What ``nextpaper train`` says of the blend the training chose."""
    if not tuning:
        return "Blend: default weights (not tuned)."
    if tuning.get("skipped"):
        return f"Blend: default weights ({tuning['skipped']})."
    alone = ", ".join(f"{name} {value:.4f}" for name, value in tuning["single"].items())
    weights = ", ".join(f"{name}={value:g}" for name, value in tuning["weights"].items())
    return (
        f"Blend chosen on {tuning['users']} validation users in {tuning['seconds']:.1f} s: "
        f"recall@20 {tuning['recall']:.4f} (from {tuning['start_recall']:.4f}; "
        f"each component alone: {alone}).\nWeights: {weights}."
    )


@main.command()
@click.argument("user")
@click.option("-n", "n", default=20, show_default=True, type=click.IntRange(1, 100))
@click.option("--since", help="Only papers published on or after this ISO date.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@click.pass_context
def recommend(ctx: click.Context, user: str, n: int, since: str | None, as_json: bool) -> None:
    """Print a user's recommendations."""
    from .serving.service import Serving
    from .store.validation import Invalid, clean_date

    try:
        since = clean_date(since, "--since")
    except Invalid as error:
        raise CliError(error.message) from None
    with _database(ctx) as db:
        _require_user(db, user)
        serving = Serving(_model_store(ctx).root)
        result = serving.recommendations(db, user, n=n, since=since)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    for rank, item in enumerate(result["items"], start=1):
        paper = item["paper"]
        reason = item["reasons"][0] if item["reasons"] else {}
        why = reason.get("title") or reason.get("type", "")
        click.echo(f"{rank:3d}. {paper['id']}  {paper.get('title', '')[:80]}  [{why}]")


@main.command()
@click.argument("dataset_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--protocol",
    type=click.Choice(["warm", "cold", "sparse"]),  # recommender.evaluation.PROTOCOLS
    default="warm",
    show_default=True,
    help="warm: 20% of each user's papers held out; cold: 10% of the papers held out; "
    "sparse: 20% of the users with 8+ papers keep 3 for training.",
)
@click.option("--k", "k", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def evaluate(dataset_dir: Path, protocol: str, k: int, seed: int, as_json: bool) -> None:
    """Offline evaluation of every model and baseline on a dataset directory."""
    from recommender import evaluate as run_evaluation
    from recommender import load_dataset
    from recommender.evaluation import ProtocolError

    for name in ("papers.jsonl", "interactions.csv"):
        if not (dataset_dir / name).is_file():
            raise CliError(f"{dataset_dir} is not a dataset directory: {name} is missing")
    try:
        dataset = load_dataset(dataset_dir)
    except ValueError as error:
        raise CliError(f"{dataset_dir}: {error}") from None
    try:
        report = run_evaluation(
            dataset, protocol=protocol, k=k, seed=seed, progress=_progress_enabled()
        )
    except ProtocolError as error:
        raise CliError(f"{dataset_dir}: {error}") from None
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(report.format_table())


@main.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
@click.pass_context
def backup(ctx: click.Context, path: Path, force: bool) -> None:
    """Copy the database to PATH, safe while serving: SQLite's online backup, checked; with
    DATABASE_URL, PostgreSQL's pg_dump (custom format, for pg_restore), checked."""
    from .store.db import dialect

    if path.exists() and not force:
        raise CliError(f"{path} exists; pass --force to overwrite it")
    tmp = path.with_name(path.name + ".partial")
    with _database(ctx) as db:
        if dialect(db) == "postgresql":
            _pg_dump(db.url, tmp)
            source = "the PostgreSQL database (DATABASE_URL)"
        else:
            _sqlite_backup(db, tmp)
            source = str(ctx.obj["home"] / "nextpaper.db")
    os.replace(tmp, path)
    click.echo(f"Backed up {source} to {path}.")


def _sqlite_backup(db, tmp: Path) -> None:
    from .store.db import connect

    try:
        target = sqlite3.connect(tmp)
        try:
            db.conn.backup(target)
        finally:
            target.close()
    except (sqlite3.Error, OSError) as error:
        tmp.unlink(missing_ok=True)
        raise CliError(f"cannot write {tmp.with_suffix('')}: {error}") from None
    check = connect(tmp)
    try:
        ok = check.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        check.close()
    if ok != "ok":
        tmp.unlink(missing_ok=True)
        raise CliError(f"the backup failed its integrity check: {ok}")


def _pg_dump(url: str, tmp: Path) -> None:
    """``pg_dump`` of the database at ``url`` into ``tmp``, then read back by ``pg_restore
    --list`` (a dump cut short does not list)."""
    import shutil
    import subprocess

    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    dump, restore = shutil.which("pg_dump"), shutil.which("pg_restore")
    if dump is None or restore is None:
        raise CliError("backing up PostgreSQL needs pg_dump and pg_restore (its client tools)")
    params = conninfo_to_dict(url)
    password = params.pop("password", None)  # in the environment: not on a command line
    env = {**os.environ, **({"PGPASSWORD": password} if password else {})}
    for command in (
        [dump, "--format=custom", f"--file={tmp}", f"--dbname={make_conninfo(**params)}"],
        [restore, "--list", str(tmp)],
    ):
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            tmp.unlink(missing_ok=True)
            reason = (done.stderr.strip().splitlines() or ["failed"])[-1]
            raise CliError(f"{Path(command[0]).name}: {reason}")


@main.group()
def digest() -> None:
    """Email digests (SMTP_*, MAIL_FROM and PUBLIC_URL settings)."""


@digest.command("send")
@click.option("--dry-run", is_flag=True, help="Show what would be sent; send and mark nothing.")
@click.option("--user", "user", metavar="NAME", help="Only this user's digest, if it is due.")
@click.pass_context
def digest_send(ctx: click.Context, dry_run: bool, user: str | None) -> None:
    """Send every digest that is due (at most one per user and period)."""
    from tqdm import tqdm

    from .jobs.digest import send_due
    from .jobs.smtp import MailError
    from .serving.service import Serving
    from .store import storage

    config = _settings(ctx)
    with _database(ctx) as db:
        if user is not None:
            _require_user(db, user)
        serving = Serving(
            _model_store(ctx).root, trending_min_readers=int(config["TRENDING_MIN_READERS"])
        )
        with tqdm(desc="digests", unit="user", disable=not _progress_enabled()) as bar:
            try:
                report = send_due(
                    db, serving, config, dry_run=dry_run, user_id=user, progress=bar.update
                )
            except MailError as error:
                raise CliError(
                    f"{error} ({error.sent} digest(s) sent before it; the others stay due)"
                ) from None
        if user is not None and report.handled == 0:
            settings = storage.user_settings(db, user)
            if settings["digest"] == "off" or not settings["email"]:
                click.echo(
                    f"{user} gets no digest (digest {settings['digest']}, email "
                    f"{settings['email'] or 'not set'})."
                )
            else:
                click.echo(f"{user}'s {settings['digest']} digest was already sent this period.")
    for user_id, email, new, trending in report.planned:
        click.echo(f"would send to {user_id} <{email}>: {new} new, {trending} trending")
    click.echo(report.summary(dry_run))
    if report.refused:
        user_id, said = report.refused[0]
        raise CliError(
            f"the SMTP server refused {len(report.refused)} digest(s), e.g. {user_id}'s: {said}"
        )


if __name__ == "__main__":
    main()
