"""One generation of the index: its files, written once into generations/NAME/ and never changed.

``generation.json`` names what the generation was built from (manifest.expected_manifest) and
every file with its SHA-256. The large files are memory-mapped on load so that the server's
worker processes share one copy in the page cache: ``vectors.npy`` (chunks, then each case's
opening, then each chunk's sentences), ``sentences.npy`` (where each chunk's sentences start
among those), ``centroids.npy`` (each case's mean chunk vector), ``dense.faiss`` (FAISS) and
``bm25/`` (bm25s's sparse matrix). ``state.pickle`` holds the parsed corpus and its word
statistics, so that a start with a current index parses nothing.
"""

from __future__ import annotations

import json
import os
import pickle
import platform
import shutil
import time
import zlib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import bm25s
import faiss
import numpy as np

from ..corpus.parse import Corpus
from .analyzer import Analyzer, WordStatistics
from .chunking import Chunk
from .manifest import GENERATIONS, IndexUnavailable, sha256_of, stale_reason, write_atomic

DESCRIPTION = "generation.json"
# Every file of a generation, by its role: the one list that writing, checking and loading share.
FILES = {
    "chunks": "chunks.json",
    "vectors": "vectors.npy",
    "keys": "keys.json",
    "centroids": "centroids.npy",
    "sentences": "sentences.npy",
    "vocabulary": "vocabulary.json",
    "state": "state.pickle",
    "dense": "dense.faiss",
    "bm25": "bm25",
}


@dataclass
class Index:
    manifest: dict
    corpus: Corpus
    chunks: list[Chunk]
    vectors: np.ndarray
    dense: faiss.Index
    bm25: bm25s.BM25
    analyzer: Analyzer
    words: WordStatistics
    case_vectors: np.ndarray  # per case of case_ids: its opening embedded (chunking.case_opening)
    # Chunk c's sentences (sentences.sentence_pieces), embedded one by one, are the rows
    # sentence_vectors[sentence_starts[c] : sentence_starts[c + 1]] (the judge reads them).
    sentence_vectors: np.ndarray
    sentence_starts: np.ndarray
    # Per case of case_ids: the mean of its chunks' vectors, normalised (similar cases, the judge).
    case_centroids: np.ndarray = None  # type: ignore[assignment]  # computed when not given (a build)
    case_chunks: dict[str, list[int]] = field(default_factory=dict)
    case_ids: list[str] = field(default_factory=list)  # the cases that have chunks, in corpus order
    chunk_case: np.ndarray = None  # type: ignore[assignment]  # per chunk: its case's position in case_ids
    case_rows: list[np.ndarray] = field(default_factory=list)  # per case of case_ids: its chunks

    def __post_init__(self) -> None:
        for i, chunk in enumerate(self.chunks):
            self.case_chunks.setdefault(chunk.case_id, []).append(i)
        self.case_ids = cases_with_chunks(self.corpus, self.chunks)
        row = {cid: r for r, cid in enumerate(self.case_ids)}
        self.chunk_case = np.array([row[c.case_id] for c in self.chunks], dtype=np.int64)
        self.case_rows = [np.array(self.case_chunks[cid], dtype=np.int64) for cid in self.case_ids]
        if self.case_centroids is None:
            means = (
                np.stack([self.vectors[rows].mean(axis=0) for rows in self.case_rows])
                if self.case_rows
                else np.zeros((0, self.vectors.shape[1]), dtype=np.float32)
            )
            self.case_centroids = (means / np.linalg.norm(means, axis=1, keepdims=True)).astype(np.float32)

    @property
    def generation(self) -> str | None:
        return self.manifest.get("generation")


def cases_with_chunks(corpus: Corpus, chunks: list[Chunk]) -> list[str]:
    """Ids of the cases that have chunks (an empty case has none), in corpus order."""
    ids = {c.case_id for c in chunks}
    return [c.id for c in corpus.cases if c.id in ids]


def write_generation(index_dir: Path, name: str, index: Index, keys: list[str], **facts) -> None:
    """Write ``index`` as generations/NAME/, complete before it appears under that name.
    ``keys``: the content keys of the stored vectors (chunks, cases, sentences), so that the
    next build can take them back into the cache. ``facts`` are recorded in generation.json."""
    generations = index_dir / GENERATIONS
    folder, final = generations / f".building-{os.getpid()}-{name}", generations / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    # The parsed corpus and its word statistics as built (a pickle: the index folder is the
    # service's own output, never user input; its SHA-256 is checked before it is read).
    state = pickle.dumps((index.corpus, index.words), protocol=pickle.HIGHEST_PROTOCOL)
    (folder / FILES["state"]).write_bytes(zlib.compress(state, 6))  # offset maps compress well
    (folder / FILES["chunks"]).write_text(json.dumps([c.to_dict() for c in index.chunks], ensure_ascii=False), "utf-8")
    (folder / FILES["vocabulary"]).write_text(
        json.dumps(sorted(index.analyzer.vocabulary), ensure_ascii=False), "utf-8"
    )
    (folder / FILES["keys"]).write_text(json.dumps(keys), "utf-8")
    np.save(
        folder / FILES["vectors"],
        np.concatenate([index.vectors, index.case_vectors, index.sentence_vectors]).astype(np.float32),
    )
    np.save(folder / FILES["sentences"], np.asarray(index.sentence_starts, dtype=np.int64))
    np.save(folder / FILES["centroids"], np.asarray(index.case_centroids, dtype=np.float32))
    faiss.write_index(index.dense, str(folder / FILES["dense"]))
    index.bm25.save(folder / FILES["bm25"])
    index.manifest = {
        **index.manifest,
        "generation": name,
        "sha256": {path: sha256_of(folder / path) for path in _data_files(folder)},
        "dim": int(index.vectors.shape[1]),
        "chunks": len(index.chunks),
        "sentences": len(index.sentence_vectors),
        **facts,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": {
            "python": platform.python_version(),
            **{p: metadata.version(p) for p in ("faiss-cpu", "bm25s", "PyStemmer", "langchain-text-splitters")},
        },
    }
    write_atomic(folder / DESCRIPTION, json.dumps(index.manifest, indent=2, ensure_ascii=False).encode())
    shutil.rmtree(final, ignore_errors=True)
    os.rename(folder, final)


def _data_files(folder: Path) -> list[str]:
    """Every data file of a generation, relative to its folder: the files, and what the folders hold."""
    names = []
    for name in FILES.values():
        path = folder / name
        names += sorted(f"{name}/{p.name}" for p in path.iterdir()) if path.is_dir() else [name]
    return names


def describe(index_dir: Path, name: str) -> dict:
    """generation.json of generation ``name``, or IndexUnavailable."""
    path = index_dir / GENERATIONS / name / DESCRIPTION
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise IndexUnavailable(f"indeksgenerationen {name} mangler eller kan ikke læses") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("sha256"), dict):
        raise IndexUnavailable(f"indeksgenerationen {name} mangler sin filfortegnelse")
    return manifest


def check_files(folder: Path, manifest: dict) -> None:
    """Every file the generation needs is there, and each has the SHA-256 it was written with."""
    hashes = manifest["sha256"]
    for role, name in FILES.items():
        if not (folder / name).exists() or (not (folder / name).is_dir() and name not in hashes):
            raise IndexUnavailable(f"indeksfilen {name} ({role}) mangler i generationen {folder.name}")
    for name, digest in hashes.items():
        path = folder / name
        if not path.is_file() or sha256_of(path) != digest:
            raise IndexUnavailable(f"indeksfilen {name} i generationen {folder.name} mangler eller er beskadiget")


def load_generation(index_dir: Path, name: str, expected: dict | None = None) -> Index:
    """Generation ``name``, every file checked against its SHA-256 and the counts; with
    ``expected``, refused when it was built from anything else. Vectors, FAISS and BM25 are
    memory-mapped: every process that serves them shares one copy."""
    manifest = describe(index_dir, name)
    if expected is not None and (reason := stale_reason(manifest, expected)):
        raise IndexUnavailable(reason)
    folder = index_dir / GENERATIONS / name
    check_files(folder, manifest)
    try:
        chunks = [Chunk(**c) for c in json.loads((folder / FILES["chunks"]).read_text("utf-8"))]
        # Plain arrays over the mapped files: np.memmap's own slicing costs more than the search.
        rows = np.asarray(np.load(folder / FILES["vectors"], mmap_mode="r"))  # chunks, cases, sentences
        sentence_starts = np.load(folder / FILES["sentences"])
        sentences_at = len(rows) - int(sentence_starts[-1])
        vectors, case_vectors, sentence_vectors = (
            rows[: len(chunks)],
            rows[len(chunks) : sentences_at],
            rows[sentences_at:],
        )
        centroids = np.asarray(np.load(folder / FILES["centroids"], mmap_mode="r"))
        analyzer = Analyzer(json.loads((folder / FILES["vocabulary"]).read_text("utf-8")))
        corpus, word_statistics = pickle.loads(zlib.decompress((folder / FILES["state"]).read_bytes()))
        dense = faiss.read_index(str(folder / FILES["dense"]), faiss.IO_FLAG_MMAP_IFC)
        bm25 = bm25s.BM25.load(folder / FILES["bm25"], mmap=True, show_progress=False)
        bm25.scores.update({k: np.asarray(v) for k, v in bm25.scores.items() if isinstance(v, np.memmap)})
    except (
        OSError,
        KeyError,
        IndexError,
        TypeError,
        ValueError,
        EOFError,
        RuntimeError,
        pickle.UnpicklingError,
        zlib.error,
    ) as exc:
        raise IndexUnavailable(f"indeksgenerationen {name} kan ikke læses: {exc}") from exc
    if (
        not len(chunks) == len(vectors) == dense.ntotal == manifest.get("chunks") == len(sentence_starts) - 1
        or len(sentence_vectors) != manifest.get("sentences")
        or vectors.shape[1:] != (manifest.get("dim"),)
    ):
        raise IndexUnavailable(
            f"indeksgenerationen {name} hænger ikke sammen: {len(chunks)} afsnit, {len(rows)} vektorer"
        )
    index = Index(
        manifest,
        corpus,
        chunks,
        vectors,
        dense,
        bm25,
        analyzer,
        word_statistics,
        case_vectors,
        sentence_vectors,
        sentence_starts,
        centroids,
    )
    if not len(index.case_vectors) == len(index.case_centroids) == len(index.case_ids):
        raise IndexUnavailable(
            f"indeksgenerationen {name} hænger ikke sammen: {len(index.case_ids)} enheder, "
            f"{len(index.case_vectors)} enhedsvektorer, {len(index.case_centroids)} centroider"
        )
    return index


def stored_vectors(index_dir: Path, name: str) -> dict[str, np.ndarray]:
    """The vectors generation ``name`` holds, by content key, while their SHA-256 holds (else none):
    what a build takes back into a cache that lost them."""
    try:
        hashes = describe(index_dir, name)["sha256"]
    except IndexUnavailable:
        return {}
    folder = index_dir / GENERATIONS / name
    keys, vectors = FILES["keys"], FILES["vectors"]
    return checked_vectors(folder / keys, folder / vectors, hashes.get(keys), hashes.get(vectors))


def checked_vectors(keys: Path, vectors: Path, keys_sha: str | None, vectors_sha: str | None) -> dict[str, np.ndarray]:
    """Vectors by content key from a keys file and its vectors file, only while both have the
    SHA-256 expected of them: a damaged byte is never taken for a vector."""
    try:
        if sha256_of(keys) != keys_sha or sha256_of(vectors) != vectors_sha:
            return {}
        names = json.loads(keys.read_text("utf-8"))
        rows = np.load(vectors, mmap_mode="r")
    except (OSError, ValueError):
        return {}
    return dict(zip(names, rows)) if len(names) == len(rows) else {}
