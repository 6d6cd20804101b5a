"""BM25-only vs dense-only vs hybrid on a query file, hybrid per style on our own on-topic
queries (bench/calibration, fit and held-out thirds), plus index build time and peak memory.

    python bench/quality.py [../shared/eval/queries_dev.jsonl] [--full-build] [--no-build]

--full-build also times a build from scratch (no vector cache) in a temporary folder.
"""

from __future__ import annotations

import argparse
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from casefinder.config import get_settings
from casefinder.engine import Casefinder
from casefinder.evaluate import evaluate, format_table, load_queries, summarise

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from calibrate import DATA, PARAPHRASES, read_queries, split_of, target_case  # noqa: E402


def timed_build(index_dir: Path) -> tuple[float, float]:
    """Seconds and peak MB of `casefinder index` in a child process."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "casefinder.cli", "index"],
        check=True,
        capture_output=True,
        env={**__import__("os").environ, "CASEFINDER_INDEX_DIR": str(index_dir)},
    )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return time.perf_counter() - started, peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("queries", nargs="?", default=str(ROOT.parent / "shared/eval/queries_dev.jsonl"))
    parser.add_argument("--full-build", action="store_true")
    parser.add_argument("--no-build", action="store_true", help="skip the build timings")
    args = parser.parse_args()

    engine = Casefinder.load(get_settings(), progress=False)
    queries = load_queries(Path(args.queries))
    cols = ["recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"]
    print(f"{'method':<8}" + "".join(f"{c:>11}" for c in cols) + f"{'off-topic':>11}{'false nm':>10}")
    for mode in ("bm25", "dense", "hybrid"):
        s = summarise(evaluate(queries, lambda q, mode=mode: engine.retriever.search(q, 10, mode=mode)))
        o = s["overall"]
        print(
            f"{mode:<8}"
            + "".join(f"{o[c]:>11}" for c in cols)
            + f"{s['offtopic']['flagged_no_match']:>7}/{s['offtopic']['queries']:<3}"
            + f"{len(s['ontopic_wrongly_no_match']):>10}"
        )

    print("\nhybrid per style (../shared/eval):")
    print(format_table(summarise(evaluate(queries, lambda q: engine.retriever.search(q, 10)))))
    own_queries(engine, DATA)
    own_queries(engine, PARAPHRASES)
    if args.no_build:
        return
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "warm"
        shutil.copytree(get_settings().index_dir, warm)
        seconds, peak = timed_build(warm)
        print(f"\nrebuild, nothing changed: {seconds:.1f} s (peak {peak:.0f} MB, includes Python start-up)")
        if args.full_build:
            seconds, peak = timed_build(Path(tmp) / "cold")
            print(f"full build from scratch:  {seconds:.1f} s (peak {peak:.0f} MB)")


def own_queries(engine: Casefinder, path: Path) -> None:
    """Our own on-topic queries, each with the one case that answers it: per style and split,
    recall@1/5, MRR@10 and nDCG@10 of that case (hybrid)."""
    items = read_queries(path)
    ranks = defaultdict(list)
    for item in items:
        if item["label"] != "on":
            continue
        target = target_case(engine, item)
        hits = engine.retriever.search(" ".join(item["query"].split()), 10).hits
        rank = next((h.rank for h in hits if h.case.id == target), None)
        for split in ("all", split_of(item["query"])):
            ranks[(split, item["style"])].append(rank)
            ranks[(split, "overall")].append(rank)
    print(f"\nown on-topic queries ({path.relative_to(ROOT)}), hybrid:")
    print(f"{'split':<8}{'style':<12}{'queries':>8}{'recall@1':>10}{'recall@5':>10}{'mrr@10':>8}{'ndcg@10':>9}")
    for (split, style), rs in sorted(ranks.items()):
        n = len(rs)
        print(
            f"{split:<8}{style:<12}{n:>8}{sum(r == 1 for r in rs) / n:>10.3f}"
            f"{sum(bool(r) and r <= 5 for r in rs) / n:>10.3f}"
            f"{sum(1 / r for r in rs if r) / n:>8.3f}{sum(1 / math.log2(r + 1) for r in rs if r) / n:>9.3f}"
        )


if __name__ == "__main__":
    main()
