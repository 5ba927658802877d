"""`nextpaper digest send` over many users with digests due, into a local SMTP server; and
`GET /api/v1/new` and `/trending` against a first recommendation, over HTTP.

Budgets (large scale, 100k users x 500k papers): ``digest send`` for 100k users with digests
due within 10 minutes on this machine, with memory flat (users are streamed, not loaded at
once); ``/new`` and ``/trending`` server time within 2x a first recommendation's (p50).

Steps, on a copy of the scale's cached home (``bench/common.py``; ``--dataset DIR`` takes a
dataset directory such as ``../shared/data/citeulike-t`` instead):

1. a day's new papers join the catalog, dated today (``--new-papers``, the text of papers
   drawn from the catalog under new ids, as an arXiv sync brings them), and recent reading
   arrives: ``--recent-events`` opens over the last three days by users drawn at random, on
   the new papers and on papers drawn from the stored events (so what is trending exists);
2. ``nextpaper train`` publishes a model that knows them (reusing the kept events: only the
   new ones are read), unless ``--no-train``;
3. ``digest`` part: ``--users`` users (default every one) get an address and a daily digest;
   a tenth of them first, then the rest, each run of ``nextpaper digest send`` a child process
   with its wall time and peak RSS (memory flat: the second run, nine times larger, peaks
   where the first did), against an SMTP server (aiosmtpd, in its own process on 127.0.0.1)
   that counts what it accepts; the digests logged as sent must equal the messages received;
4. ``http`` part: a real ``nextpaper serve`` on the copy; for ``--requests`` users drawn at
   random, a first ``/api/v1/recommendations``, ``/api/v1/new?days=1`` and
   ``/api/v1/trending?days=7`` in turn, each timed by its ``Server-Timing``.

    .venv/bin/python bench/digest.py --scale tiny
    .venv/bin/python bench/digest.py --scale large            # copies the 2.3 GB home

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import resource
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import common
import numpy as np

DIGEST_SECONDS_PER_100K = 600.0
NEW_VS_FIRST = 2.0
TRENDING_VS_FIRST = 2.0
FIRST_SHARE = 0.1  # the first digest run covers this share of the users


# --- the SMTP server: this script again, in a child process ----------------------------------


def run_sink(port: int, count_file: Path) -> None:
    """Child-process body: an aiosmtpd server on 127.0.0.1:``port`` that accepts every message
    and, when told to stop (SIGTERM), writes how many it accepted to ``count_file``."""
    from aiosmtpd.controller import Controller

    class Count:
        accepted = 0

        async def handle_DATA(self, server, session, envelope):
            Count.accepted += 1
            return "250 OK"

    controller = Controller(Count(), hostname=common.HOST, port=port)
    controller.start()
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    while not stop["now"]:
        time.sleep(0.2)
    controller.stop()
    count_file.write_text(str(Count.accepted))


class Sink:
    def __init__(self, folder: Path):
        self.port = common.free_port()
        self.count_file = folder / "smtp-accepted"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Sink:
        cmd = [sys.executable, __file__, "--smtp-sink", str(self.port), str(self.count_file)]
        self.proc = subprocess.Popen(cmd, cwd=common.ROOT)
        deadline = time.monotonic() + 30
        import socket

        while time.monotonic() < deadline:
            try:
                with socket.create_connection((common.HOST, self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the SMTP server did not start")

    def accepted(self) -> int:
        return int(self.count_file.read_text()) if self.count_file.exists() else 0

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)


# --- the day's papers and reading -------------------------------------------------------------


def add_todays_papers_and_reading(home: Path, new_papers: int, recent_events: int) -> dict:
    """Step 1, through the server's own storage code."""
    from server.store import storage
    from server.store.db import open_database

    rng = random.Random(0)
    today = date.today().isoformat()
    db = open_database(home / "nextpaper.db")
    try:
        sources = common.sample_papers(home, new_papers, seed=3)
        found = storage.get_papers(db, sources)
        papers = [
            {
                "paper_id": f"bench:new{i:06d}",
                "title": found[source].get("title", ""),
                "abstract": found[source].get("abstract", ""),
                "authors": found[source].get("authors") or [],
                "published": today,
            }
            for i, source in enumerate(sources)
            if source in found
        ]
        storage.upsert_papers(db, papers)
        users = [row[0] for row in db.execute("SELECT user_id FROM users WHERE is_admin = 0")]
        max_seq = storage.last_event_seq(db)
        seqs = ",".join(str(rng.randint(1, max_seq)) for _ in range(2000))
        read_before = [
            row[0] for row in db.execute(f"SELECT paper_id FROM events WHERE seq IN ({seqs})")
        ]
        new_ids = [p["paper_id"] for p in papers]
        now = datetime.now(UTC)
        rows = []
        for i in range(recent_events):
            paper = rng.choice(new_ids) if i % 2 else rng.choice(read_before)
            moment = now - timedelta(seconds=rng.uniform(0, 3 * 86400))
            rows.append(
                {
                    "user_id": rng.choice(users),
                    "event_id": f"bench-recent-{i}",
                    "type": "open",
                    "ts": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "paper_id": paper,
                    "dwell_ms": None,
                }
            )
        for start in range(0, len(rows), 5000):
            storage.import_events(db, rows[start : start + 5000])
        return {"new_papers": len(papers), "recent_events": len(rows), "users": len(users)}
    finally:
        db.close()


def want_digests(home: Path, users: list[str]) -> None:
    """Give ``users`` an address and a daily digest (as `nextpaper users set` would)."""
    from server.store import storage
    from server.store.db import open_database

    db = open_database(home / "nextpaper.db")
    try:
        with storage.write_transaction(db):
            for user_id in users:
                storage.set_user_settings(
                    db, user_id, email=f"{user_id}@example.org", digest="daily"
                )
    finally:
        db.close()


def sent_count(home: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(f"file:{home / 'nextpaper.db'}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM digest_sends WHERE status = 'sent'").fetchone()[0]
    finally:
        conn.close()


# --- a command and its worker processes -------------------------------------------------------


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from ``/proc``."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as f:
                    todo += [int(child) for child in f.read().split()]
        except OSError:
            pass
    return found


def run_tree(cmd: list[str], *, env: dict[str, str], timeout: float) -> dict:
    """Run ``cmd``: wall time, and the peak of the summed RSS of it and its worker processes
    (``digest send`` makes digests in worker processes), sampled every 100 ms; the worker
    processes map the same model files, so the sum counts those pages more than once (an
    upper bound; ``peak_rss_anon_mib`` sums their private memory alone)."""
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **env},
        cwd=common.ROOT,
        text=True,
    )
    peak_tree = peak_anon = peak_main = 0.0
    most = 0
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        pids = _tree(proc.pid)
        total = anon = 0.0
        for pid in pids:
            try:
                status = common.proc_status(pid)
            except OSError:
                continue
            total += status.get("VmRSS", 0.0)
            anon += status.get("RssAnon", 0.0)
            if pid == proc.pid:
                peak_main = max(peak_main, status.get("VmHWM", 0.0))
        peak_tree, peak_anon = max(peak_tree, total), max(peak_anon, anon)
        most = max(most, len(pids))
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"{cmd[-2:]} timed out after {timeout} s")
        time.sleep(0.1)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[-3:])} failed ({proc.returncode}): {err[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the command and its workers
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "seconds": round(time.perf_counter() - started, 3),
        "cpu_seconds": round(cpu, 2),
        "loadavg_1m_after": round(os.getloadavg()[0], 2),
        "peak_rss_mib": round(peak_tree, 1),
        "peak_rss_anon_mib": round(peak_anon, 1),
        "peak_rss_mib_main_process": round(peak_main, 1),
        "processes": most,
        "stdout_tail": out.strip().splitlines()[-3:],
    }


# --- the parts --------------------------------------------------------------------------------


def digest_part(home: Path, users: list[str], folder: Path) -> dict:
    cli = [*common.nextpaper_cmd(), "--home", str(home), "digest", "send"]
    first = users[: max(1, int(len(users) * FIRST_SHARE))]
    runs = []
    with Sink(folder) as sink:
        env = {
            "NEXTPAPER_SMTP_HOST": common.HOST,
            "NEXTPAPER_SMTP_PORT": str(sink.port),
            "NEXTPAPER_PUBLIC_URL": "https://papers.example.org",
            "NEXTPAPER_MAIL_FROM": "NextPaper <digest@example.org>",
        }
        for label, batch in (("first", first), ("rest", users[len(first) :])):
            if not batch:
                continue
            want_digests(home, batch)
            common.log(f"digest send for {len(batch)} users ...")
            run = run_tree(cli, env=env, timeout=6 * 3600)
            run["users"] = len(batch)
            run["ms_per_user"] = round(1000 * run["seconds"] / len(batch), 2)
            run["cpu_ms_per_user"] = round(1000 * run["cpu_seconds"] / len(batch), 2)
            runs.append({"run": label, **run})
            common.log(f"  {run['seconds']} s, peak RSS {run['peak_rss_mib']} MiB")
    sent = sent_count(home)
    received = sink.accepted()
    seconds = sum(r["seconds"] for r in runs)
    per_100k = seconds * 100_000 / len(users)
    cpu = sum(r["cpu_seconds"] for r in runs)
    peaks = [r["peak_rss_anon_mib"] for r in runs]
    return {
        "users": len(users),
        "seconds": round(seconds, 1),
        "seconds_per_100k_users": round(per_100k, 1),
        # the command's and its workers' CPU (not the SMTP server's): on an idle machine with
        # C cores the wall time is at least this over C
        "cpu_seconds_per_100k_users": round(cpu * 100_000 / len(users), 1),
        "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
        "runs": runs,
        "sent": sent,
        "smtp_accepted": received,
        "lost_or_doubled": received - sent,
        "memory_flat": {
            "peak_rss_anon_mib_by_run": peaks,
            "ratio_last_to_first": round(peaks[-1] / peaks[0], 3) if len(peaks) > 1 else None,
        },
        "budget": common.verdict(per_100k, DIGEST_SECONDS_PER_100K),
    }


def _server_ms(conn: http.client.HTTPConnection, path: str, token: str) -> float:
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200 or not body:
        raise RuntimeError(f"GET {path} answered {resp.status}: {body[:200]!r}")
    return float(resp.getheader("Server-Timing").partition(";dur=")[2])


def http_part(home: Path, count: int) -> dict:
    users = _users(home)
    random.Random(5).shuffle(users)
    users = users[:count]
    tokens = common.issue_tokens(home, users)
    paths = {
        "recommendation": "/api/v1/recommendations?n=20",
        "new": "/api/v1/new?days=1&n=20",
        "trending": "/api/v1/trending?days=7&n=20",
    }
    times: dict[str, list[float]] = {name: [] for name in paths}
    with common.Server(home, require_model=True) as server:
        conn = http.client.HTTPConnection(common.HOST, server.port, timeout=120)
        for path in paths.values():  # the first trending count is the server's, not a user's
            _server_ms(conn, path, tokens[users[0]])
        for user in users[1:]:
            for name, path in paths.items():
                times[name].append(_server_ms(conn, path, tokens[user]))
        conn.close()
    p50 = {name: float(np.median(v)) for name, v in times.items()}
    ratios = {
        "new_vs_first_recommendation": p50["new"] / p50["recommendation"],
        "trending_vs_first_recommendation": p50["trending"] / p50["recommendation"],
    }
    budgets = {
        "new_vs_first_recommendation": NEW_VS_FIRST,
        "trending_vs_first_recommendation": TRENDING_VS_FIRST,
    }
    return {
        "server_time": {name: common.summary([t / 1000 for t in v]) for name, v in times.items()},
        "ratios_of_p50": {k: round(v, 2) for k, v in ratios.items()},
        "budget": {k: common.verdict(ratios[k], b) for k, b in budgets.items()},
    }


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--smtp-sink":
        run_sink(int(sys.argv[2]), Path(sys.argv[3]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.common_args(ap)
    ap.add_argument("--dataset", type=Path, help="a dataset directory instead of --scale")
    ap.add_argument("--part", choices=["digest", "http", "both"], default="both")
    ap.add_argument("--users", type=int, default=0, help="users with a digest due (0: all)")
    ap.add_argument("--new-papers", type=int, default=0, help="today's papers (0: 0.4%%)")
    ap.add_argument("--recent-events", type=int, default=0, help="recent opens (0: 1%%)")
    ap.add_argument("--requests", type=int, default=200, help="users asked over HTTP")
    ap.add_argument("--no-train", action="store_true", help="keep the home's model")
    args = ap.parse_args()

    home, _ = common.prepared_home(args.scale, data=args.dataset)
    result: dict = {
        "benchmark": "digest",
        "scale": args.scale if args.dataset is None else args.dataset.name,
        "machine": common.machine(),
    }
    with common.tmp_dir("digest-") as folder:
        common.log(f"copying {home} ...")
        copy = common.clone_home(home, folder / "home")
        kept = home / "models" / ".events.npz"  # so that the retrain reads only the new events
        if kept.exists():
            import shutil

            shutil.copy2(kept, copy / "models" / ".events.npz")
        counts = _counts(copy)
        day = add_todays_papers_and_reading(
            copy,
            args.new_papers or max(50, counts["papers"] // 250),
            args.recent_events or max(500, counts["events"] // 100),
        )
        result["setup"] = day
        if not args.no_train:
            common.log("training on the day's papers and reading ...")
            train = common.time_and_rss(
                [*common.nextpaper_cmd(), "--home", str(copy), "train", "--quiet"],
                timeout=6 * 3600,
            )
            result["setup"]["train_seconds"] = train["seconds"]
        users = _users(copy)
        random.Random(4).shuffle(users)
        users = users[: args.users or len(users)]
        if args.part in ("digest", "both"):
            result["digest"] = digest_part(copy, users, folder)
        if args.part in ("http", "both"):
            result["http"] = http_part(copy, args.requests + 1)
    common.emit(result)


def _users(home: Path) -> list[str]:
    import sqlite3

    conn = sqlite3.connect(f"file:{home / 'nextpaper.db'}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT user_id FROM users WHERE is_admin = 0")]
    finally:
        conn.close()


def _counts(home: Path) -> dict[str, int]:
    import sqlite3

    conn = sqlite3.connect(f"file:{home / 'nextpaper.db'}?mode=ro", uri=True)
    try:
        return {
            "papers": conn.execute("SELECT max(rowid) FROM papers").fetchone()[0] or 0,
            "events": conn.execute("SELECT max(seq) FROM events").fetchone()[0] or 0,
        }
    finally:
        conn.close()


if __name__ == "__main__":
    main()
