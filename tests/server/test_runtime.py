"""The serving process's heap (server/serving/runtime.py): arenas shared by threads, free pages
returned.

Each check runs in a fresh interpreter, since both settings last for the process's life, and
reads glibc's own account (``malloc_stats``) or the kernel's (``RssAnon``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from server.serving import runtime

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not runtime.supported(), reason="needs glibc's allocator")


def run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


ARENAS_OF_EIGHT_THREADS = """
    import ctypes, sys, threading
    from server.serving import runtime
    if sys.argv[1:] == ["limit"]:
        assert runtime.limit_arenas(1)
    together = threading.Barrier(8)
    def allocate():
        kept = bytearray(100_000)  # from the thread's arena (under glibc's mmap threshold)
        together.wait()  # all alive at once: no thread inherits another's arena
    threads = [threading.Thread(target=allocate) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ctypes.CDLL(None).malloc_stats()  # "Arena N:" per arena, on stderr
"""


def arenas(*args: str) -> int:
    return run(ARENAS_OF_EIGHT_THREADS, *args).stderr.count("Arena ")


def test_limit_arenas_makes_threads_share_one_arena():
    assert arenas() > 1  # glibc's default: threads get arenas of their own
    assert arenas("limit") == 1


def test_trim_returns_free_pages_inside_the_heap():
    out = run(
        """
        from server.serving import runtime
        def anon():
            for line in open("/proc/self/status"):
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) // 1024
        blocks = [bytearray(100_000) for _ in range(600)]  # ~57 MiB, none of it mmapped
        pin = bytearray(100_000)  # in use above them: glibc keeps what lies below
        full = anon()
        del blocks
        freed = anon()
        trimmed = runtime.trim()
        print(full, freed, anon(), trimmed)
        """
    )
    full, freed, after, trimmed = out.stdout.split()
    assert int(freed) > int(full) - 10, "freeing alone already gave the pages back"
    assert trimmed == "True"
    assert int(after) < int(freed) - 40


def test_trimmer_trims_until_stopped():
    trimmer = runtime.Trimmer(seconds=0.05)
    trimmer.start()
    deadline = time.monotonic() + 10
    while trimmer.trims < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    trimmer.stop()
    assert trimmer.trims >= 2
    assert not trimmer.is_alive()
