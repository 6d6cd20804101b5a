"""Many answers at once against a server on loopback: does health stay fast, does memory come back?

    python bench/answers.py [--clients 200]

Starts `casefinder serve` on a free port with a scripted OpenAI-compatible endpoint that takes
2 s per answer (tests/servers.py), fires ``--clients`` concurrent streamed /api/ask requests,
and reports statuses, /healthz latency while they run, and the server's resident memory
before, at the peak and after.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from servers import FakeLLM, ServeProcess  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=200)
    args = parser.parse_args()
    llm = FakeLLM("Akutteamet udleverer medicinen i weekenden [1].", hang=2)
    server = ServeProcess(
        env={"CASEFINDER_LLM_BASE_URL": llm.url, "CASEFINDER_LLM_MODEL": "bench", "CASEFINDER_WORKERS": "1"}
    )
    url = server.url
    try:
        httpx.post(url + "/api/ask", json={"question": "Hvem udleverer medicin i weekenden?"}, timeout=30)  # warm
        before = rss_mb(server.process.pid)
        statuses: Counter = Counter()
        peak = [before]

        def ask() -> None:
            try:
                with httpx.stream(
                    "POST",
                    url + "/api/ask",
                    json={"question": "Hvem udleverer medicin i weekenden?", "stream": True},
                    timeout=60,
                ) as r:
                    body = "".join(r.iter_text())
                    statuses[(r.status_code, "event: done" in body or r.status_code != 200)] += 1
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1

        threads = [threading.Thread(target=ask) for _ in range(args.clients)]
        for t in threads:
            t.start()
        health = []
        while any(t.is_alive() for t in threads):
            started = time.perf_counter()
            httpx.get(url + "/healthz", timeout=30)
            health.append(time.perf_counter() - started)
            peak.append(rss_mb(server.process.pid))
            time.sleep(0.2)
        time.sleep(2)
        after = rss_mb(server.process.pid)
        print(f"{args.clients} concurrent streamed answers: {dict(statuses)} ((status, stream complete): count)")
        print(f"/healthz while they ran: max {max(health) * 1000:.0f} ms over {len(health)} probes")
        print(f"resident memory: before {before:.0f} MB, peak {max(peak):.0f} MB, after {after:.0f} MB")
    finally:
        server.close()
        llm.close()


if __name__ == "__main__":
    main()
