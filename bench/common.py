"""Shared benchmark plumbing: datasets and homes, a real server, load generators, statistics.

* :func:`dataset_dir` / :func:`prepared_home`: generate a scale's dataset once
  (``bench/generate.py``) and import it once with the real CLI into a cached home under
  ``bench/results/`` (gitignored); :func:`clone_home` copies it for benchmarks that write.
* :class:`Server`: ``nextpaper serve`` on a free port of 127.0.0.1 with its own ``--home``,
  started and stopped by this process only; RSS from ``/proc``.
* :func:`closed_loop` / :func:`open_loop`: load generators in separate processes (so the
  client's GIL does not distort the server's latency), each with one keep-alive
  ``http.client`` connection; every loop is bounded in requests and in seconds.
* :func:`wrk_closed_loop`: the same closed loop from ``wrk`` (a load generator in C, not part
  of the project: Debian's ``wrk`` package), as an independent check on the figures: its
  clients cost the machine a fraction of the CPU that Python clients do.
* :func:`summary`: percentiles in milliseconds.

Only 127.0.0.1 is ever targeted.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing as mp
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
HOST = "127.0.0.1"
SCALES = ("tiny", "small", "large")


def nextpaper_cmd() -> list[str]:
    """The ``nextpaper`` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("nextpaper")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "server.cli"]


def log(*parts: Any) -> None:
    """Progress for people goes to stderr; stdout carries only the JSON result."""
    print(*parts, file=sys.stderr, flush=True)


def emit(result: dict[str, Any]) -> None:
    json.dump(result, sys.stdout, default=_json_default)
    sys.stdout.write("\n")
    sys.stdout.flush()


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o))


# --- child processes with peak memory ---------------------------------------------------------


def run_measured(cmd: list[str], *, env: dict | None = None, timeout: float = 3600) -> dict:
    """Run ``cmd``; return wall seconds, exit status, peak RSS (MiB, of the child tree's
    largest process) and the last lines of its output. Raises on a non-zero exit."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise RuntimeError(f"{cmd[-2:]} timed out after {timeout} s") from None
    seconds = time.perf_counter() - started
    # ru_maxrss of RUSAGE_CHILDREN is the largest waited-for descendant's peak, in KiB
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[-3:])} failed ({proc.returncode}): {err[-2000:]}")
    return {
        "seconds": round(seconds, 3),
        "peak_rss_mib_upper_bound": round(peak, 1),
        "stdout_tail": out.strip().splitlines()[-3:],
        "stderr_tail": err.strip().splitlines()[-3:],
    }


def time_and_rss(cmd: list[str], *, env: dict | None = None, timeout: float = 3600) -> dict:
    """Like :func:`run_measured` but with the child's own peak RSS: its ``VmHWM``, read every
    50 ms until it exits. (``ru_maxrss`` from ``os.wait4`` is no good: Linux carries the
    spawning process's peak RSS into the child's at ``exec``, so a benchmark that had grown
    before starting the child reported its own size.)"""
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )
    deadline = time.monotonic() + timeout
    out_chunks: list[bytes] = []
    err_chunks: list[bytes] = []
    import threading

    def pump(stream, sink):
        for chunk in iter(lambda: stream.read(65536), b""):
            sink.append(chunk)

    threads = [
        threading.Thread(target=pump, args=(proc.stdout, out_chunks), daemon=True),
        threading.Thread(target=pump, args=(proc.stderr, err_chunks), daemon=True),
    ]
    for t in threads:
        t.start()
    peak_mib = 0.0
    while True:
        try:
            peak_mib = max(peak_mib, proc_status(proc.pid).get("VmHWM", 0.0))
        except OSError:  # gone between two looks
            pass
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            os.wait4(proc.pid, 0)
            raise RuntimeError(f"{cmd[-2:]} timed out after {timeout} s")
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    for t in threads:
        t.join(5)
    seconds = time.perf_counter() - started
    out = b"".join(out_chunks).decode("utf-8", "replace")
    err = b"".join(err_chunks).decode("utf-8", "replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[-3:])} failed ({proc.returncode}): {err[-2000:]}")
    return {
        "seconds": round(seconds, 3),
        "peak_rss_mib": peak_mib,
        "user_cpu_seconds": round(usage.ru_utime, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "stdout_tail": out.strip().splitlines()[-3:],
    }


# --- datasets and homes -----------------------------------------------------------------------


def dataset_dir(scale: str) -> Path:
    """The scale's generated dataset, generated now if missing (seed 0)."""
    out = RESULTS / f"data-{scale}"
    if not (out / "bench-meta.json").exists():
        log(f"generating the {scale} dataset into {out} ...")
        from generate import generate  # bench/ is on sys.path when a bench script runs

        generate(scale, out, seed=0)
    return out


def prepared_home(scale: str, *, train: bool = True, data: Path | None = None) -> tuple[Path, dict]:
    """A home with the scale's dataset (or the dataset directory ``data``, cached under its
    folder's name) imported, and a model trained, by the real CLI.

    Cached in ``bench/results/home-SCALE``; the timings of the first preparation are kept in
    its ``bench-prepare.json`` and returned.
    """
    home = RESULTS / f"home-{scale if data is None else Path(data).resolve().name}"
    info_path = home / "bench-prepare.json"
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    generated = data is None
    data = dataset_dir(scale) if generated else Path(data)
    cli = [*nextpaper_cmd(), "--home", str(home)]
    if "events_import" not in info:
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        time_and_rss([*cli, "init"])
        log(f"importing {data}/papers.jsonl ...")
        info["papers_import"] = time_and_rss([*cli, "papers", "import", str(data / "papers.jsonl")])
        log(f"importing {data}/interactions.csv ...")
        info["events_import"] = time_and_rss(
            [*cli, "events", "import", str(data / "interactions.csv")]
        )
        info_path.write_text(json.dumps(info, indent=2))
    stale = info.get("train", {}).get("code") != code_fingerprint()
    keep = (generated and scale == "large") or os.environ.get("BENCH_KEEP_MODEL") == "1"
    if train and stale and "train" in info and keep and _loads(home):
        # a large retrain takes many minutes: keep the model while it still loads (the
        # server benchmarks stop if it does not); delete bench-prepare.json's "train" to redo
        log(
            "the model code changed since the model was trained; keeping it (large scale or"
            " BENCH_KEEP_MODEL=1)"
        )
        stale = False
    if train and stale:
        log("training a model with the current code ...")
        info["train"] = time_and_rss([*cli, "train", "--quiet"])
        info["train"]["code"] = code_fingerprint()
        info_path.write_text(json.dumps(info, indent=2))
    return home, info


def _loads(home: Path) -> bool:
    """Whether the home's current model is in the format this code reads."""
    from server.jobs.training import servable
    from server.model_versions import ModelStore

    store = ModelStore(home / "models")
    version = store.current_version()
    return version is not None and servable(store.folder(version))


def code_fingerprint() -> str:
    """A hash of the code a saved model depends on: a cached model is retrained when it changes
    (the tree is edited while benchmarks run, and model formats change with it)."""
    import hashlib

    h = hashlib.sha256()
    for path in sorted(
        [*(ROOT / "recommender").glob("*.py"), ROOT / "server" / "jobs" / "training.py"]
    ):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def code_version() -> dict[str, Any]:
    """The commit benchmarked and whether the working tree differed from it."""

    def git(*a):
        r = subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True)
        return r.stdout.strip()

    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "server", "recommender")
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "server_or_recommender_edited": bool(dirty),
        "model_code": code_fingerprint(),
    }


def clone_home(home: Path, dest: Path) -> Path:
    """Copy a prepared home (database and current model) for a benchmark that writes to it."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("nextpaper.db", "nextpaper.db-wal", "nextpaper.db-shm", "admin-token"):
        if (home / name).exists():
            shutil.copy2(home / name, dest / name)
    models = home / "models"
    if models.exists():
        current = (
            (models / "CURRENT").read_text().strip() if (models / "CURRENT").exists() else None
        )
        (dest / "models").mkdir(exist_ok=True)
        if current:
            shutil.copytree(models / current, dest / "models" / current)
            shutil.copy2(models / "CURRENT", dest / "models" / "CURRENT")
    # Flush the copy now: left dirty in the page cache, gigabytes of it would be written back
    # during the benchmark, and the server's first checkpoint (an fsync of the database file)
    # would wait for all of it while every commit waits behind that.
    for path in dest.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    return dest


def home_database(home: Path) -> str:
    """The database a home's commands use: ``NEXTPAPER_DATABASE_URL`` when set (a PostgreSQL
    run), else the home's SQLite file."""
    return os.environ.get("NEXTPAPER_DATABASE_URL") or str(home / "nextpaper.db")


def issue_tokens(home: Path, user_ids: list[str], *, create: bool = False) -> dict[str, str]:
    """API tokens for users (created first when ``create``), through the server's own code."""
    from server.http import auth
    from server.store import storage
    from server.store.db import open_database

    db = open_database(home_database(home))
    try:
        tokens = {}
        for user_id in user_ids:
            if create and storage.get_user(db, user_id) is None:
                storage.create_user(db, user_id)
            tokens[user_id] = auth.issue_token(db, user_id)
        return tokens
    finally:
        db.close()


def sample_users(home: Path, count: int, seed: int = 0, min_events: int = 1) -> list[str]:
    """``count`` imported users drawn at random (so heavy and light users come as they are)."""
    from server.store.db import connect

    conn = connect(home_database(home))
    try:
        users = [
            r[0]
            for r in conn.execute(
                "SELECT user_id FROM users WHERE is_admin = 0 AND user_id LIKE 'u%' "
                "ORDER BY user_id"
            )
        ]
    finally:
        conn.close()
    rng = np.random.default_rng(seed)
    return [users[i] for i in rng.choice(len(users), min(count, len(users)), replace=False)]


def sample_papers(home: Path, count: int, seed: int = 0) -> list[str]:
    from server.store.db import connect

    conn = connect(home_database(home))
    try:
        n = conn.execute("SELECT max(rowid) FROM papers").fetchone()[0]
        rng = np.random.default_rng(seed)
        out: list[str] = []
        for rowid in rng.choice(n, min(count * 2, n), replace=False) + 1:
            row = conn.execute(
                "SELECT paper_id FROM papers WHERE rowid = ?", [int(rowid)]
            ).fetchone()
            if row:
                out.append(row[0])
            if len(out) >= count:
                break
        return out
    finally:
        conn.close()


# --- the server -------------------------------------------------------------------------------


def read_into_page_cache(path: Path) -> float:
    """Read ``path`` once so that the OS keeps it in its page cache, as a server that has run a
    while has its database; return the seconds it took."""
    started = time.perf_counter()
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def proc_status(pid: int) -> dict[str, float]:
    """VmRSS, VmHWM (peak), RssAnon (heap) and RssFile (mapped files, e.g. a memory-mapped
    model: shared and reclaimable) of a process, MiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def process_tree(pid: int) -> list[int]:
    """``pid`` and every live descendant of it (Linux /proc): a pre-fork server's arbiter and
    its workers."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return found


def pss_mib(pid: int) -> float:
    """Proportional set size of ``pid`` and its descendants, MiB: each page shared by several
    of them (a memory-mapped model) counted once in all, split among them."""
    total_kib = 0
    for member in process_tree(pid):
        try:
            with open(f"/proc/{member}/smaps_rollup") as f:
                total_kib += sum(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except OSError:  # ended meanwhile
            pass
    return round(total_kib / 1024, 1)


def mapped_from(pid: int, folder: Path) -> dict[str, float]:
    """How much of the files under ``folder`` a process maps and how much of that is resident
    (``mapped_mib``, ``resident_mib``), from ``/proc/<pid>/smaps``. A memory-mapped model
    counts in RSS only for the pages requests have touched, so the difference is what RSS can
    still grow by as requests reach more of it."""
    prefix = str(Path(folder).resolve()) + "/"
    mapped = resident = 0
    ours = False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            first = line.split(maxsplit=5)
            if ":" not in first[0]:  # a mapping's header: range, perms, offset, dev, inode[, path]
                ours = len(first) == 6 and first[5].rstrip("\n").startswith(prefix)
            elif ours and first[0] == "Size:":
                mapped += int(first[1])
            elif ours and first[0] == "Rss:":
                resident += int(first[1])
    return {"mapped_mib": round(mapped / 1024, 1), "resident_mib": round(resident / 1024, 1)}


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by a process (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """``nextpaper serve`` on a free local port; a context manager that stops it on exit."""

    def __init__(
        self,
        home: Path,
        *,
        threads: int = 8,
        workers: int = 1,
        retrain: bool = False,
        env: dict[str, str] | None = None,
        start_timeout: float = 300,
        require_model: bool = False,
    ):
        self.require_model = require_model
        self.home = home
        self.port = free_port()
        self.threads = threads
        self.workers = workers
        self.retrain = retrain
        self.env = {"NEXTPAPER_RATE_LIMIT_PER_SECOND": "0", **(env or {})}
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.start_seconds = 0.0
        self.health: dict = {}

    def __enter__(self) -> Server:
        cmd = [
            *nextpaper_cmd(),
            "--home",
            str(self.home),
            "serve",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--threads",
            str(self.threads),
            "--workers",
            str(self.workers),
        ]
        if not self.retrain:
            cmd.append("--no-retrain")
        self.log = open(self.home / "bench-server.log", "ab")
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd, stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **self.env}, cwd=ROOT
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}; see its log")
            try:
                status, body = request(self.port, "GET", "/api/v1/health", timeout=2)
                if status == 200:
                    self.health = body
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            self.__exit__(None, None, None)
            raise RuntimeError("the server did not answer /api/v1/health in time")
        self.start_seconds = time.perf_counter() - started
        if self.require_model and not (self.health or {}).get("model"):
            self.__exit__(None, None, None)
            raise RuntimeError("the server has no model loaded (see bench-server.log in the home)")
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """CPU seconds of the server's processes (its workers too) so far."""
        return sum(proc_cpu_seconds(pid) for pid in process_tree(self.pid))

    def memory(self) -> dict[str, float]:
        return proc_status(self.pid)

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


def request(
    port: int,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: Any = None,
    timeout: float = 30,
) -> tuple[int, Any]:
    """One request on a fresh connection; returns (status, parsed JSON or None)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        headers = {}
        data = None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        try:
            return resp.status, json.loads(raw) if raw else None
        except ValueError:
            return resp.status, None
    finally:
        conn.close()


# --- load generators --------------------------------------------------------------------------
# A job is (method, path, token, body_bytes_or_None). Workers are forked processes.


def _send(conn: http.client.HTTPConnection, job) -> tuple[int, bytes]:
    method, path, token, body = job
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.read()


def _closed_worker(port, jobs, max_seconds, warmup, queue, check_body):
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    lat, statuses, bad = [], {}, 0
    deadline = time.perf_counter() + max_seconds
    for i, job in enumerate(jobs):
        if time.perf_counter() > deadline:
            break
        t = time.perf_counter()
        try:
            status, raw = _send(conn, job)
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection(HOST, port, timeout=60)
            status, raw = -1, b""
        dt = time.perf_counter() - t
        if i >= warmup:
            lat.append(dt)
            statuses[status] = statuses.get(status, 0) + 1
            if check_body is not None and status == 200 and not check_body(raw):
                bad += 1
    conn.close()
    queue.put((lat, statuses, bad, time.perf_counter()))


def closed_loop(
    port: int,
    jobs_per_client: list[list],
    *,
    max_seconds: float = 60,
    warmup: int = 5,
    check_body=None,
) -> dict:
    """Each client sends its jobs back to back on one keep-alive connection.

    Bounded by the job lists and by ``max_seconds``. Returns latencies (s), statuses,
    throughput over the measured part.
    """
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    procs = [
        ctx.Process(
            target=_closed_worker, args=(port, jobs, max_seconds, warmup, queue, check_body)
        )
        for jobs in jobs_per_client
    ]
    started = time.perf_counter()
    for p in procs:
        p.start()
    results = [queue.get(timeout=max_seconds + 120) for _ in procs]
    for p in procs:
        p.join(10)
    elapsed = max(r[3] for r in results) - started
    lat = [x for r in results for x in r[0]]
    statuses: dict[int, int] = {}
    for r in results:
        for k, v in r[1].items():
            statuses[k] = statuses.get(k, 0) + v
    return {
        "latencies": lat,
        "statuses": statuses,
        "bad_bodies": sum(r[2] for r in results),
        "elapsed": elapsed,
        "requests": len(lat),
    }


_WRK_SCRIPT = """
local threads = {}
function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  mine, sent, seen, bad, failed = jobs[id], 0, 0, 0, 0
end
function request()
  sent = sent + 1
  local job = mine[(sent - 1) % #mine + 1]
  local headers = {["Authorization"] = "Bearer " .. job[3]}
  if close then headers["Connection"] = "close" end
  return wrk.format(job[1], job[2], headers)
end
function response(status, headers, body)
  seen = seen + 1
  if status ~= 200 then
    failed = failed + 1
  elseif needle ~= "" and not body:find(needle, 1, true) then
    bad = bad + 1
  end
  if seen == #mine then
    io.write("WRK-CLIENT-DONE\\n")
    io.stdout:flush()
    wrk.thread:stop()
  end
end
function done(summary, latency, requests)
  local bad_total, failed_total = 0, 0
  for _, thread in ipairs(threads) do
    bad_total = bad_total + thread:get("bad")
    failed_total = failed_total + thread:get("failed")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK {"count": %d, "mean_ms": %.3f, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, ' ..
    '"max_ms": %.3f, "failed": %d, "bad": %d, "socket_errors": %d}\\n',
    summary.requests, latency.mean / 1000, latency:percentile(50) / 1000,
    latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    failed_total, bad_total,
    e.connect + e.read + e.write + e.timeout))
end
"""


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string of ASCII is a valid Lua string literal


def wrk_closed_loop(
    port: int,
    jobs_per_client: list[list],
    *,
    max_seconds: float = 60,
    needle: str = "",
    new_connections: bool = False,
) -> dict:
    """:func:`closed_loop` from ``wrk``: one connection per client, each sending its GET jobs
    back to back (no warm-up is left out), stopping when every job is answered or after
    ``max_seconds``. A 200 answer whose body lacks ``needle`` counts as bad. With
    ``new_connections`` each request asks the server to close the connection after its answer
    (``Connection: close``) and wrk opens a new one, so that a pre-fork server's workers share
    the requests as they share the connections.

    Returns ``summary`` (:func:`summary`'s keys, from wrk's histogram), statuses (200 and
    "other"), bad bodies, the elapsed seconds the answers account for and the number of
    requests.
    """
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (Debian package 'wrk')")
    if not all(jobs_per_client):
        raise ValueError("every wrk client needs at least one job")
    lines = ["jobs = {"]
    for jobs in jobs_per_client:
        entries = []
        for method, path, token, body in jobs:
            if method != "GET" or body is not None:
                raise ValueError("the wrk load generator sends GET requests only")
            entries.append("{" + ", ".join(map(_lua_string, (method, path, token))) + "}")
        lines.append("  {" + ", ".join(entries) + "},")
    lines.append("}")
    lines.append(f"needle = {_lua_string(needle)}")
    lines.append(f"close = {'true' if new_connections else 'false'}")
    clients = len(jobs_per_client)
    with tmp_dir("wrk-") as tmp:
        script = tmp / "jobs.lua"
        script.write_text("\n".join(lines) + _WRK_SCRIPT, encoding="utf-8")
        # One thread per client: each wrk thread runs one Lua state, so one job list. wrk
        # itself waits out its whole duration; an interrupt once every client is done ends it
        # early, with its report.
        proc = subprocess.Popen(
            [wrk, f"-t{clients}", f"-c{clients}", f"-d{max(1, int(max_seconds))}s"]
            + ["--timeout", "60s", "-s", str(script), f"http://{HOST}:{port}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        out, done = [], 0
        for line in proc.stdout:
            out.append(line)
            done += line.startswith("WRK-CLIENT-DONE")
            if done == clients:
                proc.send_signal(signal.SIGINT)
                done = -1  # interrupted once; the lines still to come are the report
        proc.wait()
    found = [line[4:] for line in out if line.startswith("WRK ")]
    if not found:
        raise RuntimeError(f"wrk printed no result: {''.join(out)!r}")
    result = json.loads(found[0])
    stats = {k: result[k] for k in ("count", "mean_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms")}
    other = result["failed"] + result["socket_errors"]
    return {
        "summary": stats,
        "statuses": {
            200: result["count"] - result["failed"],
            **({"other": other} if other else {}),
        },
        "bad_bodies": result["bad"],
        # wrk's own duration lasts until the interrupt reaches it, a long tail on a short run;
        # a closed loop with no pause between requests serves clients / mean latency a second
        "elapsed": result["count"] * result["mean_ms"] / 1000 / clients,
        "requests": result["count"],
    }


def _open_worker(port, jobs, interval, offset, t0, max_seconds, queue):
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    lat, service, statuses = [], [], {}
    for i, job in enumerate(jobs):
        scheduled = t0 + offset + i * interval
        now = time.perf_counter()
        if scheduled - t0 > max_seconds:
            break
        if scheduled > now:
            time.sleep(scheduled - now)
        sent = time.perf_counter()
        try:
            status, _ = _send(conn, job)
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection(HOST, port, timeout=60)
            status = -1
        done = time.perf_counter()
        lat.append(done - scheduled)  # from the intended start: counts queueing (no omission)
        service.append(done - sent)
        statuses[status] = statuses.get(status, 0) + 1
    conn.close()
    queue.put((lat, service, statuses, time.perf_counter()))


def open_loop(
    port: int, jobs: list, *, rate: float, clients: int = 8, max_seconds: float = 60
) -> dict:
    """Send ``jobs`` at a fixed total ``rate`` (requests/s), spread over ``clients`` connections.

    Latency counts from each request's scheduled time, so a server that falls behind is
    charged for the wait (no coordinated omission).
    """
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    interval = clients / rate
    t0 = time.perf_counter() + 0.5
    procs = [
        ctx.Process(
            target=_open_worker,
            args=(port, jobs[c::clients], interval, c / rate, t0, max_seconds, queue),
        )
        for c in range(clients)
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=max_seconds + 120) for _ in procs]
    for p in procs:
        p.join(10)
    lat = [x for r in results for x in r[0]]
    service = [x for r in results for x in r[1]]
    statuses: dict[int, int] = {}
    for r in results:
        for k, v in r[2].items():
            statuses[k] = statuses.get(k, 0) + v
    elapsed = max(r[3] for r in results) - t0
    return {
        "latencies": lat,
        "service": service,
        "statuses": statuses,
        "elapsed": elapsed,
        "requests": len(lat),
    }


# --- statistics -------------------------------------------------------------------------------


def served_and_exact(
    model: Any, histories: list, n: int = 20, since: str | None = None
) -> tuple[list[list[str]], list[list[str]], list[float], list[float]]:
    """Each history's served top-``n`` (``model.recommend``: gathered candidates) and its
    top-``n`` over every paper scored against the whole text profile (no postings budget), with
    the CPU seconds of each call: (served, exact, served_cpu, exact_cpu)."""

    def run(exact: bool) -> tuple[list[list[str]], list[float]]:
        lists, cpu = [], []
        for history in histories:
            t = time.process_time()
            recs = model.recommend(history, n=n, since=since, exact=exact)
            cpu.append(time.process_time() - t)
            lists.append([r.paper_id for r in recs])
        return lists, cpu

    served, served_cpu = run(False)
    budget, model.text.max_postings = model.text.max_postings, 0
    try:
        exact, exact_cpu = run(True)
    finally:
        model.text.max_postings = budget
    return served, exact, served_cpu, exact_cpu


def overlaps(served: list[list[str]], exact: list[list[str]]) -> list[float]:
    """For each pair of lists with a non-empty reference, the share of it the served one has."""
    return [len(set(s) & set(e)) / len(e) for s, e in zip(served, exact, strict=True) if e]


def summary(seconds: list[float]) -> dict[str, float]:
    """Count and percentiles in milliseconds."""
    if not seconds:
        return {"count": 0}
    a = np.asarray(seconds) * 1000.0
    return {
        "count": int(a.size),
        "mean_ms": round(float(a.mean()), 3),
        "p50_ms": round(float(np.percentile(a, 50)), 3),
        "p90_ms": round(float(np.percentile(a, 90)), 3),
        "p99_ms": round(float(np.percentile(a, 99)), 3),
        "max_ms": round(float(a.max()), 3),
    }


def verdict(measured: float, budget: float, lower_is_better: bool = True) -> dict[str, Any]:
    ok = measured <= budget if lower_is_better else measured >= budget
    return {
        "measured": round(float(measured), 3),
        "budget": budget,
        "meets": bool(ok),
        "ratio_to_budget": round(float(measured) / budget, 3) if budget else None,
    }


@contextmanager
def tmp_dir(prefix: str):
    """A scratch folder under bench/results/tmp (removed afterwards)."""
    base = RESULTS / "tmp"
    base.mkdir(parents=True, exist_ok=True)
    import tempfile

    path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def machine() -> dict[str, Any]:
    import platform

    info = {"cpus": os.cpu_count(), "python": platform.python_version(), **code_version()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        info["loadavg_1m"] = os.getloadavg()[0]
    except OSError:
        pass
    return info


def common_args(ap) -> None:
    ap.add_argument("--scale", choices=SCALES, default="small")
