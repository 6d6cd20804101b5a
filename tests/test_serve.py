"""`casefinder serve` as operators run it: several worker processes, one log line per request."""

from __future__ import annotations

import time

import httpx
import pytest

from servers import ServeProcess

pytestmark = pytest.mark.corpus  # real servers on the bundled index


def test_serve_runs_several_workers_that_each_answer(tmp_path):
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        server = ServeProcess("--workers", "2", env={"PYTHONUNBUFFERED": "1"}, output=out, timeout=180)
    try:
        deadline = time.time() + 60
        workers = set()
        while len(workers) < 2 and time.time() < deadline:
            with httpx.Client() as fresh:  # a new connection each time, so either worker may take it
                health = fresh.get(server.url + "/healthz", timeout=5).json()
                if health["status"] == "ok":  # each worker opens the index on its own
                    workers.add(health["worker"])
        assert len(workers) == 2 and server.process.pid not in workers
        assert httpx.get(server.url + "/api/search", params={"q": "fælles it-drift"}, timeout=30).status_code == 200
        time.sleep(0.5)
        assert '"path": "/api/search", "status": 200' in log.read_text("utf-8")
    finally:
        server.close()
