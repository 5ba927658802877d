"""What `nextpaper serve` logs when it starts: nothing that reads as a failure when all is well.

faiss picks its build by probing CPU features and logs, at INFO, every CPU-specific build it
tries and does not find (``ModuleNotFoundError(... swigfaiss_avx512)``). The serve log keeps
INFO for our own messages but not for that probe.
"""

from __future__ import annotations

import pytest


def test_serve_start_logs_no_faiss_probe(live_server, monkeypatch: pytest.MonkeyPatch):
    # Make faiss try (and miss) its AVX-512 build on any CPU, as it does on one with AVX-512.
    monkeypatch.setenv("FAISS_OPT_LEVEL", "AVX512")
    server = live_server("--no-retrain")
    server.stop()
    log = server.read_log()
    assert " INFO " in log, log  # the log is at INFO: our own messages are there
    assert "faiss.loader" not in log, log
    assert "ModuleNotFoundError" not in log, log
