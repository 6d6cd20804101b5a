"""Build a generation from the corpus and publish it; open the one that is published.

A build parses (unless given the corpus), chunks, takes every vector it can from the embedding
cache (cache.py) and embeds the rest in batches, each appended to the cache at once. Between
batches it writes its progress (every worker's /healthz reads it) and checks ``stop``: a stopped
build keeps what it embedded and the next one resumes there. The finished generation is
published by replacing the pointer; the one before it is kept as the fallback, older ones are
removed. One build at a time per index folder, across processes (``.lock``).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import bm25s
import faiss
import numpy as np
from tqdm import tqdm

from ..config import Settings
from ..corpus.parse import Corpus, load_corpus
from .analyzer import Analyzer, WordStatistics, learn_vocabulary
from .cache import EmbeddingCache
from .chunking import Chunk, case_opening, chunk_cases, content_key
from .embedders import Embedder
from .generation import (
    Index,
    cases_with_chunks,
    checked_vectors,
    describe,
    load_generation,
    stored_vectors,
    write_generation,
)
from .manifest import (
    GENERATIONS,
    POINTER,
    IndexUnavailable,
    build_id,
    corpus_hashes,
    expected_manifest,
    publish,
    read_pointer,
    write_atomic,
)
from .sentences import sentence_pieces

log = logging.getLogger(__name__)
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG

LOCK = ".lock"
PROGRESS = ".build-progress.json"
CACHE = "cache"
# What builds before generations (index format 6 and older) wrote straight into index/.
_LEGACY_FILE = re.compile(
    r"(chunks|keys|vectors|centroids|sentences|vocabulary|state|corpus|dense|bm25)-[0-9a-f]{12}"
    r"(\.json|\.npy|\.npz|\.pickle|\.faiss)?|embedded-\d+-\d+\.npz"
)


class BuildStopped(RuntimeError):
    """The build was asked to stop (SIGTERM, SIGINT); what it embedded is in the cache."""


@contextmanager
def build_lock(index_dir: Path):
    """One build at a time per index folder, across processes; the next one waits."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / LOCK, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("indekset i %s bygges allerede af en anden proces; venter på den", index_dir)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_progress(index_dir: Path) -> dict | None:
    """{"done", "total", "eta_s"} of the build that runs now, or None."""
    try:
        progress = json.loads((index_dir / PROGRESS).read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return progress if isinstance(progress, dict) else None


def open_published(settings: Settings, model_id: str, current_only: bool = True, fallback: bool = False) -> Index:
    """The generation the pointer names. With ``current_only``, one built from another corpus,
    model or code is refused; with ``fallback``, the previous one serves where that one cannot."""
    pointer = read_pointer(settings.index_dir)
    if pointer is None:
        raise IndexUnavailable(f"intet indeks i {settings.index_dir.name}/ (ingen gyldig {POINTER})")
    expected = expected_manifest(settings, corpus_hashes(settings.corpus_dir), model_id) if current_only else None
    try:
        return load_generation(settings.index_dir, pointer["generation"], expected)
    except IndexUnavailable as exc:
        if not fallback or not pointer.get("previous"):
            raise
        try:
            return load_generation(settings.index_dir, pointer["previous"], expected)
        except IndexUnavailable:
            raise exc from None


def load_index(
    settings: Settings,
    embedder: Embedder,
    rebuild: bool = True,
    progress: bool = True,
    stop: threading.Event | None = None,
) -> Index:
    """The published generation when it is current and whole; else (with ``rebuild``) a new one,
    embedding only what the cache lacks."""
    try:
        return open_published(settings, embedder.model_id)
    except IndexUnavailable as exc:
        if not rebuild:
            raise IndexUnavailable(f"{exc}. Kør 'casefinder index' for at bygge det.") from exc
        log.warning("%s: bygger indekset", exc)
    with build_lock(settings.index_dir):
        try:  # built meanwhile by another process?
            return open_published(settings, embedder.model_id)
        except IndexUnavailable:
            return _build(settings, embedder, progress, load_corpus(settings.corpus_dir), stop)


def build_index(
    settings: Settings,
    embedder: Embedder,
    progress: bool = True,
    corpus: Corpus | None = None,
    stop: threading.Event | None = None,
) -> Index:
    """Parse (unless the caller already did), chunk, embed what the cache lacks, publish."""
    with build_lock(settings.index_dir):
        return _build(settings, embedder, progress, corpus or load_corpus(settings.corpus_dir), stop)


def _build(
    settings: Settings, embedder: Embedder, progress: bool, corpus: Corpus, stop: threading.Event | None
) -> Index:
    started = time.perf_counter()
    index_dir = settings.index_dir
    chunks = chunk_cases(corpus.cases, settings.chunk_size, settings.chunk_overlap)
    sentences = [sentence_pieces(c.text) for c in chunks]
    # One vector per chunk, then one per case (its opening), then one per sentence: all cached by content.
    openings = [
        case_opening(corpus.known_case(cid), settings.case_opening_chars) for cid in cases_with_chunks(corpus, chunks)
    ]
    texts = [c.embed_text for c in chunks] + openings + [s for own in sentences for s in own]
    keys = [content_key(embedder.model_id, t) for t in texts]
    cache = EmbeddingCache(index_dir / CACHE)
    known = cache.read()
    _take_back(cache, known, _served_vectors(index_dir), set(keys))
    missing = [i for i, k in enumerate(keys) if k not in known]
    try:
        _embed(embedder, texts, keys, missing, known, cache, settings.embed_batch_size, index_dir, progress, stop)
    finally:
        (index_dir / PROGRESS).unlink(missing_ok=True)
    cache.compact()
    vectors = np.stack([known[k] for k in keys]).astype(np.float32)
    cases_end = len(chunks) + len(openings)
    vectors, case_vectors, sentence_vectors = (
        vectors[: len(chunks)],
        vectors[len(chunks) : cases_end],
        vectors[cases_end:],
    )
    sentence_starts = np.cumsum([0] + [len(own) for own in sentences], dtype=np.int64)
    analyzer = Analyzer(learn_vocabulary(c.text for c in corpus.cases))
    identity = expected_manifest(settings, corpus_hashes(settings.corpus_dir), embedder.model_id)
    _warn_about_new_files(index_dir, corpus, identity["corpus"])
    index = Index(
        identity,
        corpus,
        chunks,
        vectors,
        faiss_index(vectors, settings),
        lexical_index(chunks, analyzer),
        analyzer,
        WordStatistics.of(c.text for c in corpus.cases),
        case_vectors,
        sentence_vectors,
        sentence_starts,
    )
    name = f"{build_id(identity)}-{secrets.token_hex(3)}"
    write_generation(
        index_dir,
        name,
        index,
        keys,
        cases=len(corpus.cases),
        embedded_now=len(missing),
        build_seconds=round(time.perf_counter() - started, 2),
    )
    pointer = publish(index_dir, name)
    _remove_unused(index_dir, {name, pointer["previous"]})
    return index


def _warn_about_new_files(index_dir: Path, corpus: Corpus, hashes: dict[str, str]) -> None:
    """What the parser says of a file ("ukendt layout", …), once: when a build takes it in new
    or changed, not on every later build or start."""
    try:
        before = describe(index_dir, (read_pointer(index_dir) or {})["generation"])["corpus"]
    except (KeyError, IndexUnavailable):
        before = {}
    for warning in corpus.warnings:
        name = warning.split(":", 1)[0]
        if before.get(name) != hashes.get(name):
            log.warning("%s", warning)


def _embed(
    embedder: Embedder,
    texts: list[str],
    keys: list[str],
    missing: list[int],
    known: dict[str, np.ndarray],
    cache: EmbeddingCache,
    batch: int,
    index_dir: Path,
    progress: bool,
    stop: threading.Event | None,
) -> None:
    """Embed the texts at ``missing``, appending each batch to the cache as soon as it is computed."""
    started, done = time.perf_counter(), 0
    with tqdm(
        total=len(texts),
        initial=len(texts) - len(missing),
        desc="Embedder passager",
        unit="afsnit",
        disable=not progress,
    ) as bar:
        for b in range(0, len(missing), batch):
            if stop is not None and stop.is_set():
                raise BuildStopped(f"indekseringen blev stoppet efter {done} af {len(missing)} nye tekster")
            eta = (time.perf_counter() - started) / done * (len(missing) - done) if done else None
            write_atomic(
                index_dir / PROGRESS,
                json.dumps(
                    {
                        "pid": os.getpid(),
                        "done": len(texts) - len(missing) + done,
                        "total": len(texts),
                        "eta_s": round(eta, 1) if eta is not None else None,
                    }
                ).encode(),
            )
            ids = missing[b : b + batch]
            vectors = embedder.embed_passages([texts[i] for i in ids])
            cache.append([keys[i] for i in ids], vectors)
            known.update((keys[i], v) for i, v in zip(ids, vectors))
            done += len(ids)
            bar.update(len(ids))


def _served_vectors(index_dir: Path) -> dict[str, np.ndarray]:
    """Vectors the published generations (or a pre-generation index) hold, where their checksums hold."""
    pointer = read_pointer(index_dir) or {}
    found: dict[str, np.ndarray] = {}
    for name in filter(None, (pointer.get("previous"), pointer.get("generation"))):
        found.update(stored_vectors(index_dir, name))
    found.update(_legacy_vectors(index_dir))
    return found


def _take_back(
    cache: EmbeddingCache, known: dict[str, np.ndarray], served: dict[str, np.ndarray], needed: set[str]
) -> None:
    """Vectors the cache lost (or never had) but a generation still holds go back into the cache."""
    back = [k for k in served if k in needed and k not in known]
    if back:
        vectors = np.stack([np.asarray(served[k], dtype=np.float32) for k in back])
        cache.append(back, vectors)
        known.update(zip(back, vectors))


def _legacy_vectors(index_dir: Path) -> dict[str, np.ndarray]:
    """An index written before generations (format 6): its vectors, while their SHA-256 holds."""
    try:
        manifest = json.loads((index_dir / POINTER).read_text("utf-8"))
        keys, vectors, hashes = manifest["files"]["keys"], manifest["files"]["vectors"], manifest["sha256"]
        return checked_vectors(index_dir / keys, index_dir / vectors, hashes.get(keys), hashes.get(vectors))
    except (OSError, KeyError, TypeError, ValueError, AttributeError):
        return {}


def _remove_unused(index_dir: Path, keep: set[str | None]) -> None:
    """Generations neither served nor the fallback, unfinished ones, and pre-generation files."""
    generations = index_dir / GENERATIONS
    for path in generations.iterdir() if generations.is_dir() else []:
        if path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)
    for path in index_dir.iterdir():
        if _LEGACY_FILE.fullmatch(path.name):
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def faiss_index(vectors: np.ndarray, settings: Settings) -> faiss.Index:
    kind = settings.faiss_index
    if kind == "auto":
        kind = "flat" if len(vectors) < settings.ann_threshold else "hnsw"
    index: faiss.Index
    if kind == "flat":
        index = faiss.IndexFlatIP(vectors.shape[1])
    else:  # "hnsw" (the settings allow no other)
        hnsw = faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efSearch = settings.ann_ef_search
        index = hnsw
    serving = faiss.omp_get_max_threads()  # a server searches on one thread; a build uses every core
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    try:
        index.add(vectors)
    finally:
        faiss.omp_set_num_threads(serving)
    return index


def lexical_index(chunks: list[Chunk], analyzer: Analyzer) -> bm25s.BM25:
    bm25 = bm25s.BM25()
    bm25.index([analyzer(c.embed_text) for c in chunks], show_progress=False)
    return bm25
