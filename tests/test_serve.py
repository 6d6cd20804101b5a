"""`casefinder serve` as operators run it: several worker processes, one log line per request."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
from servers import free_port


def test_serve_runs_several_workers_that_each_answer(tmp_path):
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "casefinder.cli", "serve", "--port", str(port), "--workers", "2"],
                                  stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        workers = set()
        while len(workers) < 2 and time.time() < deadline:
            try:
                with httpx.Client() as fresh:  # a new connection each time, so either worker may take it
                    r = fresh.get(url + "/healthz", timeout=5)
                workers.add(r.json()["worker"])
            except httpx.HTTPError:
                time.sleep(0.5)
        assert len(workers) == 2 and server.pid not in workers
        assert httpx.get(url + "/api/search", params={"q": "fælles it-drift"}, timeout=30).status_code == 200
        time.sleep(0.5)
        assert '"path": "/api/search", "status": 200' in log.read_text("utf-8")
    finally:
        server.terminate()
        server.wait(30)
