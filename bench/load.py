"""Latency and throughput of GET /api/search against a server on loopback.

    python bench/load.py [--url http://127.0.0.1:8000] [--seconds 10] [--workers N]

Without --url it starts `casefinder serve` on a free port and stops it afterwards.
Prints the bare query-embedding time measured in the same run, p50/p99 for one
client (each query new to the server, so the embedding is paid), and requests per
second with 16 concurrent clients over the same queries (repeats hit the cache).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from servers import ServeProcess  # noqa: E402

QUERIES = [
    "samarbejde om medicinudlevering",
    "Hvilke kommuner deler it-drift?",
    "fælles indkøb",
    "sygefravær",
    "rehabilitering i ældreplejen",
    "digital post",
    "videomøder",
    "tolkning via video",
    "brobygning til uddannelse",
    "jobcenter ressourcestyring",
    "tandpleje for børn",
    "energibesparelser i bygninger",
    "fleksjob",
    "anbringelse af udsatte børn",
    "administrative fællesskaber på skoleområdet",
    "madservice til ældre",
    "velfærdsteknologi",
    "stress blandt kommunens ansatte",
    "route planning in home care",
    "shared IT operations",
    "hjemmepleje kørsel",
    "indkøbsdata SKI",
    "Den Digitale Hotline",
    "genoptræning",
    "borgerservice",
    "opkrævning",
    "vognpark",
    "myndighedssagsbehandling",
    "misbrugsbehandling",
    "plejefamilier",
    "specialskoler takster",
    "dagpleje gæstevederlag",
    "e-handel",
    "robotter i administrationen",
    "løn og regnskab",
    "identity management",
    "open source",
    "områdeledelse dagtilbud",
    "klasseoptimering",
    "visitation",
    "sygepleje",
]


def bare_embedding_ms() -> float:
    from casefinder.config import get_settings
    from casefinder.index.embedders import load_embedder

    embedder = load_embedder(get_settings().model)
    embedder.embed_queries(["opvarmning"])
    times = []
    for q in QUERIES:
        t = time.perf_counter()
        embedder.embed_queries([q + " (bench)"])
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, help="server processes (default: serve's own, one per core)")
    args = parser.parse_args()

    server = None if args.url else ServeProcess(*(["--workers", str(args.workers)] if args.workers else []))
    url = args.url or server.url
    try:
        embed_ms = bare_embedding_ms()
        errors = 0
        with httpx.Client(base_url=url, timeout=10) as client:
            client.get("/api/search", params={"q": "opvarmning"})
            single = []
            for q in QUERIES:
                t = time.perf_counter()
                r = client.get("/api/search", params={"q": q, "k": 10})
                single.append((time.perf_counter() - t) * 1000)
                errors += r.status_code != 200
        single.sort()
        p50, p99 = statistics.median(single), single[min(len(single) - 1, int(len(single) * 0.99))]

        count = [0]
        lock = threading.Lock()
        stop = time.perf_counter() + args.seconds

        def worker(offset: int) -> None:
            nonlocal errors
            with httpx.Client(base_url=url, timeout=10) as client:
                i = offset
                while time.perf_counter() < stop:
                    r = client.get("/api/search", params={"q": QUERIES[i % len(QUERIES)], "k": 10})
                    with lock:
                        count[0] += 1
                        errors += r.status_code != 200
                    i += 1

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.clients)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rps = count[0] / (time.perf_counter() - started)
        print(f"bare query embedding (median): {embed_ms:.1f} ms")
        print(f"1 client:  p50 {p50:.1f} ms ({p50 / embed_ms:.2f} x embedding), p99 {p99:.1f} ms")
        print(f"{args.clients} clients: {rps:.0f} requests/s over {args.seconds:.0f} s; errors: {errors}")
    finally:
        if server:
            server.close()


if __name__ == "__main__":
    main()
