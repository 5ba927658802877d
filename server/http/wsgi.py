"""Serving the app over HTTP: waitress in one process, or gunicorn's pre-fork workers.

``nextpaper serve`` runs one process, answering on waitress's threads. One Python process holds
the interpreter lock for nearly all of a request, so answers under concurrency need more
processes, not more threads: with ``--workers N`` (N > 1), gunicorn's arbiter binds the port,
forks N worker processes (its ``gthread`` workers, ``--threads`` each) and replaces any that
dies. Each worker builds its own app after the fork (its own database connections and event
writer) and maps the same published model files, so the model's pages are shared through the
OS page cache rather than copied.

Every serving process, either way, starts with :func:`start_process`: the published model
loaded before the first request, a watcher that loads each newly published one, the heap
trimmer, and its part in the home's duties (:class:`~server.jobs.duties.HomeDuties`: retrains
and the daily job run in one process only).

What the workers guarantee, and why: an event is acknowledged only after its commit (the
event writer's group commit), so killing a worker loses nothing acknowledged; a batch retried
after a lost answer is stored once (events are unique per user and event id); the workers see
each other's writes through the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)

WORKER_TIMEOUT_SECONDS = 120  # a worker silent this long is replaced (a model load included)
GRACEFUL_SECONDS = 30  # a stopping worker finishes its requests within this


def start_process(app: Flask, *, retrain: bool) -> Callable[[], None]:
    """Start what every serving process runs beside its requests (see the module docstring);
    returns the function that stops it."""
    from ..jobs.duties import HomeDuties
    from ..serving import runtime

    app_parts = app.extensions["nextpaper"]
    app_parts.serving.current()  # load the published model before taking requests
    app_parts.serving.models.watch()  # and every newly published one as soon as it appears
    trimmer = runtime.Trimmer()
    trimmer.start()
    duties = HomeDuties(app, retrain=retrain)
    duties.start()

    def stop() -> None:
        trimmer.stop()
        app_parts.serving.models.stop()
        duties.stop()

    return stop


def serve_one(app: Flask, *, host: str, port: int, threads: int) -> None:
    """Serve ``app`` in this process with waitress until interrupted."""
    import waitress

    waitress.serve(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="nextpaper",
        clear_untrusted_proxy_headers=True,
        # Refuse an oversize body when it is announced, not after buffering it.
        max_request_body_size=int(app.config["MAX_CONTENT_LENGTH"]),
    )


def serve_workers(
    build: Callable[[], Flask],
    *,
    host: str,
    port: int,
    workers: int,
    threads: int,
    retrain: bool,
) -> None:
    """Serve with ``workers`` gunicorn worker processes; each calls ``build`` after the fork
    for its app (and starts :func:`start_process` there). Returns when the arbiter stops."""
    from gunicorn.app.base import BaseApplication

    stops: list[Callable[[], None]] = []

    class Prefork(BaseApplication):
        def load_config(self) -> None:
            options = {
                "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
                "workers": workers,
                "worker_class": "gthread",
                "threads": threads,
                "timeout": WORKER_TIMEOUT_SECONDS,
                "graceful_timeout": GRACEFUL_SECONDS,
                "forwarded_allow_ips": "",  # as waitress: no proxy's headers are trusted
                "accesslog": None,
                "errorlog": "-",
                "loglevel": "info",
                "proc_name": "nextpaper",
                "control_socket_disable": True,  # no socket in the user's home folder
                "worker_exit": lambda _arbiter, _worker: [stop() for stop in stops],
            }
            for name, value in options.items():
                self.cfg.set(name, value)

        def load(self):
            install_gunicorn_error_shape()
            app = build()
            stops.append(start_process(app, retrain=retrain))
            return app

    Prefork().run()


def install_gunicorn_error_shape() -> None:
    """Give the errors gunicorn answers by itself (a malformed request line or header, before
    the app sees the request) the API's shape and security headers, as
    :func:`~server.http.errors.install_waitress_error_shape` does for waitress."""
    from gunicorn import util

    from .errors import server_error

    if getattr(util.write_error, "nextpaper", False):
        return

    def write_error(sock, status_int, reason, mesg):
        headers, body = server_error(status_int, reason, mesg)
        head = [f"HTTP/1.1 {status_int} {reason}", "Connection: close"]
        head += [f"{name}: {value}" for name, value in headers]
        head.append(f"Content-Length: {len(body)}")
        util.write_nonblock(sock, ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    write_error.nextpaper = True  # type: ignore[attr-defined]
    util.write_error = write_error
