"""Query cost at 1x, 10x and 100x today's chunks, on a synthetic index.

    python bench/scale.py [--factors 1 10 100]

The synthetic index repeats the real cases and chunks (each copy a case of its own) with
perturbed vectors; it is a benchmark, not a corpus. Per size: build seconds; the index written to disk and opened as the
server opens it (vectors, FAISS and BM25 memory-mapped), with the memory it costs one worker
(private: what every worker pays again) and what lies in the page cache (shared by all
workers); p50/p99 of a search with the query vector cached (the model's time left out) and p50
with it (a new query); and recall@10 of the candidate search (FAISS as configured, HNSW from
50,000 chunks) against exact search, over the cases returned.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import statistics
import tempfile
import time
from pathlib import Path

import bm25s
import numpy as np

from casefinder.config import get_settings
from casefinder.corpus.parse import Corpus
from casefinder.index.build import faiss_index, load_index
from casefinder.index.embedders import load_embedder
from casefinder.index.generation import Index, load_generation, write_generation
from casefinder.search.retriever import Retriever

# Per-dimension noise on the copies' vectors: a copy's cosine with its original is about 0.7,
# so copies behave like other chunks on the same topic rather than 100 near-identical points.
NOISE = 0.05
QUERIES = (
    "fælles it-drift",
    "nedbringe sygefravær",
    "rehabilitering i ældreplejen",
    "indkøb på tværs af kommuner",
    "digital post til borgerne",
    "tolkning via video",
    "brobygning til uddannelse",
    "tandpleje for børn",
    "energibesparelser i kommunale bygninger",
    "madservice til ældre",
    "velfærdsteknologi i hjemmeplejen",
    "robotter i administrationen",
    "samarbejde om løn og regnskab",
    "anbringelse af udsatte børn",
    "kørsel i hjemmeplejen",
    "genoptræning efter sygehusophold",
    "fælles vagtcentral",
    "misbrugsbehandling",
    "plejefamilier og rekruttering",
    "jobcenter og virksomheder",
)


def memory_mb(field: str) -> float:
    """RssAnon: memory of this process alone; RssFile: mapped file pages (shared through the page cache)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def reopened(index: Index, folder: Path, settings) -> tuple[Index, float]:
    """``index`` written to ``folder`` and opened as a server worker opens it; the private MB it costs."""
    rows = len(index.vectors) + len(index.case_vectors) + len(index.sentence_vectors)
    write_generation(folder, "scale", index, [f"row-{i}" for i in range(rows)])
    gc.collect()
    before = memory_mb("RssAnon")
    opened = load_generation(folder, "scale")
    return opened, memory_mb("RssAnon") - before


def synthetic(index: Index, factor: int, settings, rng) -> Index:
    """The real index ``factor`` times: each copy of a case is a case of its own (id "<id>~n"),
    with the same texts and its chunks', sentences' and case vector perturbed by NOISE."""

    def noisy(vectors: np.ndarray) -> np.ndarray:
        v = vectors + rng.normal(0, NOISE, vectors.shape).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    cases, chunks = list(index.corpus.cases), list(index.chunks)
    vectors, case_vectors, sentence_vectors = [index.vectors], [index.case_vectors], [index.sentence_vectors]
    for n in range(1, factor):
        cases += [dataclasses.replace(c, id=f"{c.id}~{n}") for c in index.corpus.cases]
        chunks += [dataclasses.replace(c, case_id=f"{c.case_id}~{n}") for c in index.chunks]
        vectors.append(noisy(index.vectors))
        case_vectors.append(noisy(index.case_vectors))
        sentence_vectors.append(noisy(index.sentence_vectors))
    vectors = np.vstack(vectors)
    per_chunk = np.tile(np.diff(index.sentence_starts), factor)
    starts = np.concatenate([[0], np.cumsum(per_chunk)]).astype(np.int64)
    bm25 = bm25s.BM25()
    bm25.index([index.analyzer(c.embed_text) for c in index.chunks] * factor, show_progress=False)
    return Index(
        index.manifest,
        Corpus(index.corpus.documents, cases),
        chunks,
        vectors,
        faiss_index(vectors, settings),
        bm25,
        index.analyzer,
        index.words,
        np.vstack(case_vectors),
        np.vstack(sentence_vectors),
        starts,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 10, 100])
    args = parser.parse_args()
    settings = get_settings()
    embedder = load_embedder(settings.model)
    base = load_index(settings, embedder, progress=False)
    started = time.perf_counter()
    embedder.embed_queries(["opvarmning"])
    embed_ms = (
        statistics.median(
            [
                (lambda t: (embedder.embed_queries([q]), time.perf_counter() - t)[1])(time.perf_counter())
                for q in QUERIES
            ]
        )
        * 1000
    )
    print(f"query embedding (median): {embed_ms:.1f} ms; chunks at 1x: {len(base.chunks)}")
    rng = np.random.default_rng(0)
    p50_1x = whole_1x = None
    for factor in args.factors:
        started = time.perf_counter()
        built = base if factor == 1 else synthetic(base, factor, settings, rng)
        build_s = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as folder:
            index, private_mb = reopened(built, Path(folder), settings)
            retriever = Retriever(index, embedder, settings)
            flat = faiss_index(index.vectors, settings.model_copy(update={"faiss_index": "flat"}))
            exact = Retriever(
                Index(
                    index.manifest,
                    index.corpus,
                    index.chunks,
                    index.vectors,
                    flat,
                    index.bm25,
                    index.analyzer,
                    index.words,
                    index.case_vectors,
                    index.sentence_vectors,
                    index.sentence_starts,
                    index.case_centroids,
                ),
                embedder,
                settings,
            )
            times, whole, overlap = [], [], []
            for q in QUERIES:
                t = time.perf_counter()
                retriever.search(f"{q} ({factor}x)", 10)  # a query new to the cache: the model's time counts
                whole.append((time.perf_counter() - t) * 1000)
                retriever.search(q, 10)
                t = time.perf_counter()
                hits = retriever.search(q, 10).hits  # the vector cached: the search alone
                times.append((time.perf_counter() - t) * 1000)
                # cases, the unit a user sees
                truth = {h.case.id for h in exact.search(q, 10).hits}
                overlap.append(len(truth & {h.case.id for h in hits}) / max(1, len(truth)))
            mapped_mb = sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file()) / 2**20
            kind = type(index.dense).__name__
            del retriever, exact, index
        times.sort()
        p50, p99 = statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]
        p50_1x = p50_1x or p50
        whole_p50 = statistics.median(whole)
        whole_1x = whole_1x or whole_p50
        print(
            f"{factor:>4}x: {len(built.chunks):>7} chunks, {kind}, built in {build_s:.1f} s; per worker "
            f"{private_mb:.0f} MB private + {mapped_mb:.0f} MB index files mapped (shared); search p50 {p50:.1f} ms "
            f"({p50 / p50_1x:.2f}x 1x), p99 {p99:.1f} ms; with the query embedding p50 {whole_p50:.1f} ms "
            f"({whole_p50 / whole_1x:.2f}x 1x); recall@10 against exact {np.mean(overlap):.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
