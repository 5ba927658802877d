"""Serving latency: recommendations and similar papers under 4 concurrent clients, and fold-in.

Latencies under 1 and 4 clients are reported as figures: their budgets were withdrawn (on this
2-core machine the load generator and the server share the CPUs, and a route that does nothing
was already over them); what an answer costs is judged by ``bench/cost.py``'s ratios. The one
budget here is fold-in's (<= 50 ms of server time).

Starts a real ``nextpaper serve --no-retrain`` (waitress, 8 threads, rate limit off) on a free
port of 127.0.0.1 over the scale's prepared home (dataset imported and a model trained with the
real CLI; ``bench/common.py``), then measures from separate client processes, each with one
keep-alive connection:

* ``GET /api/v1/recommendations?n=20``: 4 clients back to back, every request for a user not
  asked for before (a random sample of imported users, each with its own token), so the
  server computes every answer; also 1 client, to separate the cost of a
  request from contention; then again with 4 clients cycling through 200 users, where the
  server answers repeated questions from its kept bodies (``server/serving/caches.py``);
* ``GET /api/v1/papers/<id>/similar?n=10``: the same, over random samples of papers;
* references, to read the figures against: ``GET /api/v1/health`` from the same clients and
  from 1 (no token check, no database: the least any request costs through waitress, Flask and
  the app's hooks on this machine with the load generator beside the server), and ``GET
  /api/v1/papers/<id>`` (a token check, one stored row and its JSON: the least any
  authenticated route costs);
* fold-in: for a user, take the top recommendation, ``POST`` an ``open`` of it, then ``GET``
  recommendations again and check that the paper is gone (the answer reflects the open); the
  figures are the POST + GET time at the client, and their server time from each response's
  ``Server-Timing`` header (the app's own work, without the network and the WSGI server: what
  the budget is stated in, so the verdict); also for brand-new users (no history before the
  open).

With ``--generator wrk`` the same runs come from ``wrk`` (a load generator written in C, not
part of the project: Debian's ``wrk`` package), one thread and connection per client, as an
independent check; its clients take far less of the machine's two cores than Python's. The
requests each Python client sends first and leaves out of its figures (warm-up: the first
``since=`` request, for one, builds the filter's candidates) are sent before wrk starts.

Budgets: p50 <= 8 ms and p99 <= 15 ms for both routes at 4 clients; fold-in <= 50 ms of
server time. Latency is measured at the client over loopback (an upper bound on server time).

    .venv/bin/python bench/serve.py --scale small            # ~2 min after preparation
    .venv/bin/python bench/serve.py --scale large --requests 300
    .venv/bin/python bench/serve.py --scale large --requests 300 --generator wrk

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
import urllib.parse
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

import common

FOLD_IN_BUDGET_MS = 50.0


class BodyCheck(NamedTuple):
    """What a good answer's body holds: ``ok`` tells it for the Python clients, which parse
    the JSON; ``needle`` is a string it contains, for wrk, which cannot."""

    ok: Callable[[bytes], bool]
    needle: str


def _json(raw: bytes) -> dict:
    try:
        body = json.loads(raw)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


ITEMS = BodyCheck(
    lambda raw: isinstance(items := _json(raw).get("items"), list) and len(items) > 0,
    '"items":[{',
)
PAPER = BodyCheck(lambda raw: "id" in _json(raw), '"id":')
HEALTH = BodyCheck(lambda raw: _json(raw).get("ok") is True, '"ok":true')
WARMUP = 3  # requests per client not counted by the Python clients


def latency_run(
    server, jobs, clients, per_client, max_seconds, check=ITEMS, generator="python"
) -> dict:
    """Closed-loop run; adds the server's CPU time per request (less sensitive than latency
    to other load on a shared machine: the floor of p50 on an idle machine)."""
    cpu0 = server.cpu_seconds()
    lists = [
        [jobs[(c + clients * i) % len(jobs)] for i in range(per_client)] for c in range(clients)
    ]
    if generator == "wrk":
        warm = min(WARMUP, per_client - 1)  # each wrk client needs a job left to send
        for client_jobs in lists:  # the requests the Python clients send first and leave out
            for method, path, token, _ in client_jobs[:warm]:
                common.request(server.port, method, path, token=token)
        run = common.wrk_closed_loop(
            server.port,
            [client_jobs[warm:] for client_jobs in lists],
            max_seconds=max_seconds,
            needle=check.needle,
        )
        stats, sent = run["summary"], run["requests"] + warm * clients
    else:
        run = common.closed_loop(
            server.port, lists, max_seconds=max_seconds, warmup=WARMUP, check_body=check.ok
        )
        stats, sent = common.summary(run["latencies"]), run["requests"] + WARMUP * clients
    cpu = server.cpu_seconds() - cpu0
    stats["throughput_rps"] = round(run["requests"] / run["elapsed"], 1)
    stats["statuses"] = {str(k): v for k, v in run["statuses"].items()}
    stats["empty_or_bad_bodies"] = run["bad_bodies"]
    stats["server_cpu_ms_per_request"] = round(1000 * cpu / max(1, sent), 2)
    return stats


def server_seconds(response) -> float:
    """The app's time on a response, from its ``Server-Timing: app;dur=<ms>`` header."""
    return float(response.getheader("Server-Timing").partition(";dur=")[2]) / 1000


def fold_in(port: int, tokens: dict[str, str], trials: int, new_users: dict[str, str]) -> dict:
    """Known users: POST an open of their current top paper, then GET; and brand-new users."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    totals, posts, gets, server, reflected, changed = [], [], [], [], 0, 0
    for token in list(tokens.values())[:trials]:
        status, before = common.request(port, "GET", "/api/v1/recommendations?n=20", token=token)
        if status != 200 or not before["items"]:
            continue
        top = before["items"][0]["paper"]["id"]
        event = {"id": f"bench-{uuid.uuid4().hex}", "type": "open", "ts": now, "paper": {"id": top}}
        conn = common.http.client.HTTPConnection(common.HOST, port, timeout=30)
        t0 = time.perf_counter()
        conn.request(
            "POST",
            "/api/v1/events",
            body=json.dumps({"events": [event]}),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        resp = conn.getresponse()
        resp.read()
        t1 = time.perf_counter()
        conn.request(
            "GET", "/api/v1/recommendations?n=20", headers={"Authorization": f"Bearer {token}"}
        )
        resp2 = conn.getresponse()
        after = json.loads(resp2.read())
        t2 = time.perf_counter()
        conn.close()
        posts.append(t1 - t0)
        gets.append(t2 - t1)
        totals.append(t2 - t0)
        server.append(sum(server_seconds(r) for r in (resp, resp2)))
        ids_after = [it["paper"]["id"] for it in after["items"]]
        reflected += top not in ids_after
        changed += ids_after != [it["paper"]["id"] for it in before["items"]]
    # brand-new users: their first open must turn cold-start into personal recommendations
    new_totals, new_changed = [], 0
    for token in new_users.values():
        _, before = common.request(port, "GET", "/api/v1/recommendations?n=20", token=token)
        paper = before["items"][5]["paper"]["id"] if len(before["items"]) > 5 else None
        if paper is None:
            continue
        event = {
            "id": f"bench-{uuid.uuid4().hex}",
            "type": "open",
            "ts": now,
            "paper": {"id": paper},
        }
        t0 = time.perf_counter()
        common.request(port, "POST", "/api/v1/events", token=token, body={"events": [event]})
        _, after = common.request(port, "GET", "/api/v1/recommendations?n=20", token=token)
        new_totals.append(time.perf_counter() - t0)
        reasons = {r["type"] for it in after["items"] for r in it["reasons"]}
        new_changed += paper not in [it["paper"]["id"] for it in after["items"]] and bool(
            reasons - {"popular", "fresh"}
        )
    total, server_time = common.summary(totals), common.summary(server)
    return {
        "known_users": {
            "post_plus_get": total,
            "post_plus_get_server_time": server_time,
            "post": common.summary(posts),
            "next_get": common.summary(gets),
            "trials": len(totals),
            "opened_paper_gone_next_request": reflected,
            "list_changed": changed,
        },
        "new_users": {
            "post_plus_get": common.summary(new_totals),
            "trials": len(new_totals),
            "personalised_after_first_open": new_changed,
        },
        "budget": common.verdict(server_time.get("p99_ms", float("nan")), FOLD_IN_BUDGET_MS)
        | {"what": "p99 of POST open + next GET recommendations in server time, ms"},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.common_args(ap)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--requests", type=int, default=500, help="per client per route")
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--max-seconds", type=float, default=120)
    ap.add_argument("--threads", type=int, default=8, help="waitress threads")
    ap.add_argument("--since", default="2025-07-01", help="date for the since= run")
    ap.add_argument(
        "--generator",
        choices=("python", "wrk"),
        default="python",
        help="the clients: Python processes, or wrk (a load generator in C; Debian's 'wrk' "
        "package) for an independent check; fold-in always uses Python",
    )
    args = ap.parse_args()
    if args.requests < 4 * (WARMUP + 1):  # the since= run sends a quarter, warm-up first
        ap.error(f"--requests must be at least {4 * (WARMUP + 1)}")
    if args.generator == "wrk" and shutil.which("wrk") is None:
        ap.error("--generator wrk needs the wrk program (Debian package 'wrk')")

    home, prep = common.prepared_home(args.scale)
    # first answers: one request per user or paper, never asked before (1 client, then 4)
    first = min(args.requests, 200) + args.clients * args.requests
    sampled = common.sample_users(home, args.users + first, seed=1)
    users, first_users = sampled[: args.users], sampled[args.users :]
    tokens = common.issue_tokens(home, sampled)
    new = [f"bench-new-{uuid.uuid4().hex[:12]}" for _ in range(10)]
    new_tokens = common.issue_tokens(home, new, create=True)
    sampled_papers = common.sample_papers(home, 400 + first, seed=2)
    papers, first_papers = sampled_papers[:400], sampled_papers[400:]

    def rec_job(user: str) -> tuple:
        return ("GET", "/api/v1/recommendations?n=20", tokens[user], None)

    def sim_job(paper: str) -> tuple:
        path = f"/api/v1/papers/{urllib.parse.quote(paper, safe='')}/similar?n=10"
        return ("GET", path, tokens[users[0]], None)

    rec_jobs = [rec_job(u) for u in users]
    sim_jobs = [sim_job(p) for p in papers]
    one = min(args.requests, 200)
    first_rec = ([rec_job(u) for u in first_users[:one]], [rec_job(u) for u in first_users[one:]])
    first_sim = ([sim_job(p) for p in first_papers[:one]], [sim_job(p) for p in first_papers[one:]])
    result = {
        "benchmark": "serve",
        "scale": args.scale,
        "machine": common.machine(),
        "command": f"bench/serve.py --scale {args.scale} (nextpaper serve --no-retrain --threads "
        f"{args.threads}, NEXTPAPER_RATE_LIMIT_PER_SECOND=0)",
        "clients": args.clients,
        "generator": args.generator,
        "sampled_users": len(users),
        "sampled_papers": len(papers),
    }
    with common.Server(home, threads=args.threads, require_model=True) as server:
        result["server_start_seconds"] = round(server.start_seconds, 2)
        result["model"] = server.health.get("model")
        # warm up every code path once (first calls build caches)
        for job in rec_jobs[:5] + sim_jobs[:5]:
            common.request(server.port, job[0], job[1], token=job[2])

        def measure(what: str, jobs: list, clients: int, per_client: int, **kw) -> dict:
            common.log(f"{what}, {clients} client(s) ...")
            stats = latency_run(
                server, jobs, clients, per_client, args.max_seconds, generator=args.generator, **kw
            )
            common.log(f"  {stats}")
            return stats

        c, per = args.clients, args.requests
        paper_jobs = [
            ("GET", f"/api/v1/papers/{urllib.parse.quote(p, safe='')}", tokens[u], None)
            for p, u in zip(papers, users * 2, strict=False)
        ]
        health_jobs = [("GET", "/api/v1/health", tokens[u], None) for u in users]
        health1 = measure("reference: health", health_jobs, 1, one, check=HEALTH)
        health = measure("reference: health", health_jobs, c, per, check=HEALTH)
        floor = measure("reference: one stored paper", paper_jobs, c, per, check=PAPER)
        rec1 = measure("recommendations, first answers", first_rec[0], 1, one)
        rec = measure("recommendations, first answers", first_rec[1], c, per)
        again = f"{len(users)} users again and again"
        rec_again = measure(f"recommendations, {again}", rec_jobs, c, per)
        sim1 = measure("similar, first answers", first_sim[0], 1, one)
        sim = measure("similar, first answers", first_sim[1], c, per)
        sim_again = measure(f"similar, {len(papers)} papers again and again", sim_jobs, c, per)
        since_jobs = [  # first answers too: no user was asked with this filter before
            ("GET", f"/api/v1/recommendations?n=20&since={args.since}", tokens[u], None)
            for u in first_users
        ]
        since = measure(f"recommendations with since={args.since}", since_jobs, c, per // 4)
        common.log("fold-in ...")
        fold = fold_in(server.port, tokens, 40, new_tokens)
        result["server_memory_mib"] = server.memory()
    result["reference_health"] = {
        "what": f"GET /api/v1/health from the same {args.clients} clients: no token check, no "
        "database, the least any request costs through the WSGI server, Flask and the app's "
        "hooks here",
        f"{args.clients}_clients": health,
        "1_client": health1,
    }
    result["reference_one_paper"] = {
        "what": f"GET /api/v1/papers/<id> from the same {args.clients} clients: a token check, "
        "one stored row and its JSON, the least any authenticated route costs here",
        f"{args.clients}_clients": floor,
    }
    result["recommendations"] = {
        f"{args.clients}_clients": rec,
        "1_client": rec1,
        f"{args.clients}_clients_repeated_users": rec_again,
    }
    result["recommendations_since"] = {
        "since": args.since,
        f"{args.clients}_clients": since,
    }
    result["similar"] = {
        f"{args.clients}_clients": sim,
        "1_client": sim1,
        f"{args.clients}_clients_repeated_papers": sim_again,
    }
    result["fold_in"] = fold
    common.emit(result)


if __name__ == "__main__":
    main()
