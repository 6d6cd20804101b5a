"""BM25-only vs dense-only vs hybrid on a query file, plus index build time and peak memory.

    python bench/quality.py [../shared/eval/queries_dev.jsonl] [--full-build]

--full-build also times a build from scratch (no vector cache) in a temporary folder.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from casefinder.config import get_settings
from casefinder.engine import Casefinder
from casefinder.evaluate import evaluate, load_queries, summarise

ROOT = Path(__file__).resolve().parents[1]


def timed_build(index_dir: Path) -> tuple[float, float]:
    """Seconds and peak MB of `casefinder index` in a child process."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "casefinder.cli", "index"], check=True, capture_output=True,
                   env={**__import__("os").environ, "CASEFINDER_INDEX_DIR": str(index_dir)})
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return time.perf_counter() - started, peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("queries", nargs="?", default=str(ROOT.parent / "shared/eval/queries_dev.jsonl"))
    parser.add_argument("--full-build", action="store_true")
    args = parser.parse_args()

    engine = Casefinder.load(get_settings(), progress=False)
    queries = load_queries(Path(args.queries))
    cols = ["recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"]
    print(f"{'method':<8}" + "".join(f"{c:>11}" for c in cols) + f"{'off-topic':>11}{'false nm':>10}")
    for mode in ("bm25", "dense", "hybrid"):
        s = summarise(evaluate(queries, lambda q: engine.retriever.search(q, 10, mode=mode)))
        o = s["overall"]
        print(f"{mode:<8}" + "".join(f"{o[c]:>11}" for c in cols)
              + f"{s['offtopic']['flagged_no_match']:>7}/{s['offtopic']['queries']:<3}{len(s['ontopic_wrongly_no_match']):>10}")

    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "warm"
        shutil.copytree(get_settings().index_dir, warm)
        seconds, peak = timed_build(warm)
        print(f"\nrebuild, nothing changed: {seconds:.1f} s (peak {peak:.0f} MB, includes Python start-up)")
        if args.full_build:
            seconds, peak = timed_build(Path(tmp) / "cold")
            print(f"full build from scratch:  {seconds:.1f} s (peak {peak:.0f} MB)")


if __name__ == "__main__":
    main()
