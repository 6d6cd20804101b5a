"""Start-up and parsing at scale (issue targets: /healthz and the CLI within 3 s with a current
index; a 20 MB catalogue parsed in under 15 s and 500 MB).

    python bench/startup.py [--mb 20]

Each figure comes from a fresh child process, so imports and loading count as a user sees them.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from servers import ServeProcess  # noqa: E402


def timed(args: list[str], env: dict | None = None) -> tuple[float, float]:
    """Seconds and peak MB of a child process."""
    started = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, env={**os.environ, **(env or {})})
    return time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def healthz_seconds(workers: int) -> float:
    server = ServeProcess("--workers", str(workers))
    server.close()
    return server.ready_after


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=20)
    args = parser.parse_args()
    cli = [sys.executable, "-m", "casefinder.cli"]
    print(f"casefinder search: {timed(cli + ['search', 'fælles it-drift'])[0]:.2f} s")
    print(f"casefinder cases:  {timed(cli + ['cases', '--json'])[0]:.2f} s")
    for workers in (1, 2):
        print(f"serve --workers {workers}: /healthz after {healthz_seconds(workers):.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        source = (ROOT / "corpus" / "kl-effektiviseringskatalog-2016.txt").read_text("utf-8")
        copies = max(1, round(args.mb * 1e6 / len(source.encode())))
        (corpus / "stor.txt").write_text(source * copies, "utf-8")
        size = (corpus / "stor.txt").stat().st_size / 1e6
        seconds, peak = timed(cli + ["cases"], {"CASEFINDER_CORPUS_DIR": str(corpus)})
        print(f"parse a {size:.1f} MB catalogue ({copies} copies): {seconds:.1f} s, peak {peak:.0f} MB")


if __name__ == "__main__":
    main()
