"""Build, persist and load the index (index/).

Layout of index/: ``manifest.json`` names the data files of the current build
(``chunks-<id>.json``, ``vectors-<id>.npz``, ``vocabulary-<id>.json``) with their
SHA-256. Data files are written first under new names and the manifest is replaced
atomically last, so a crash mid-build leaves the previous index intact. Vectors are
cached by chunk-content hash: a rebuild embeds only chunks whose text changed, and
vectors are saved in batches as they are computed (``embedded-*.npz``), so a killed
build resumes where it stopped. One build at a time, across processes (``.lock``).
On load every file is checked against the manifest: a damaged index is rebuilt (or
refused), never served.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import pickle
import platform
import re
import time
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import bm25s
import faiss
import numpy as np
from tqdm import tqdm

from ..config import Settings
from ..corpus.parse import MANIFEST_NAME, Corpus, corpus_files, load_corpus
from .analyzer import Analyzer, WordStatistics, learn_vocabulary
from .chunking import Chunk, chunk_cases
from .embedders import Embedder

log = logging.getLogger(__name__)
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG

FORMAT_VERSION = 3  # 2: the parsed corpus is stored with the index; 3: BM25 and FAISS too
MANIFEST = "manifest.json"
LOCK = ".lock"
SAVE_EVERY = 128  # chunks embedded between two saves of the vectors so far
# Every file a build writes; a rebuild removes only these, never what someone else put there.
_OWN_FILE = re.compile(r"(chunks-[0-9a-f]{12}\.json|vectors-[0-9a-f]{12}\.npz|vocabulary-[0-9a-f]{12}\.json"
                       r"|state-[0-9a-f]{12}\.pickle|corpus-[0-9a-f]{12}\.pickle"
                       r"|embedded-\d+-\d+\.npz|\.building-.+)")
_CODE_THAT_SHAPES_CHUNKS = ("corpus", "index/chunking.py", "index/analyzer.py", "data")


class IndexUnavailable(RuntimeError):
    """The index cannot be used as it is (missing, stale, other model, damaged)."""


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


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def code_fingerprint() -> str:
    """Hash of the code that decides what the chunks are; changing it re-chunks."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for rel in _CODE_THAT_SHAPES_CHUNKS:
        base = root / rel
        for path in sorted(base.rglob("*") if base.is_dir() else [base]):
            if path.is_file() and path.suffix in (".py", ".txt"):
                h.update(path.relative_to(root).as_posix().encode())
                h.update(path.read_bytes())
    return h.hexdigest()[:16]


def corpus_hashes(corpus_dir: Path) -> dict[str, str]:
    """SHA-256 of every catalogue file and of the manifest: what decides whether the parsed
    corpus stored with the index is still the corpus (cheap: no parsing)."""
    paths = corpus_files(corpus_dir) + [p for p in [corpus_dir / MANIFEST_NAME] if p.is_file()]
    return {p.name: _sha256(p) for p in paths}


def expected_manifest(settings: Settings, hashes: dict[str, str], model_id: str) -> dict:
    return {
        "format": FORMAT_VERSION,
        "model": model_id,
        "corpus": hashes,
        "chunking": {"size": settings.chunk_size, "overlap": settings.chunk_overlap},
        "dense_index": {"kind": settings.faiss_index, "ann_threshold": settings.ann_threshold,
                        "ef_search": settings.ann_ef_search},
        "code": code_fingerprint(),
    }


def _build_id(manifest: dict) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:12]


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
    case_chunks: dict[str, list[int]] = field(default_factory=dict)
    case_ids: list[str] = field(default_factory=list)
    case_vectors: np.ndarray | None = None

    def __post_init__(self) -> None:
        for i, chunk in enumerate(self.chunks):
            self.case_chunks.setdefault(chunk.case_id, []).append(i)
        self.case_ids = [c.id for c in self.corpus.cases if c.id in self.case_chunks]
        means = np.stack([self.vectors[self.case_chunks[cid]].mean(axis=0) for cid in self.case_ids])
        self.case_vectors = means / np.linalg.norm(means, axis=1, keepdims=True)


def _faiss_index(vectors: np.ndarray, settings: Settings) -> faiss.Index:
    kind = settings.faiss_index
    if kind == "auto":
        kind = "flat" if len(vectors) < settings.ann_threshold else "hnsw"
    if kind == "flat":
        index = faiss.IndexFlatIP(vectors.shape[1])
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = settings.ann_ef_search
    else:
        raise IndexUnavailable(f"Ukendt FAISS-indekstype '{kind}' (brug flat, hnsw eller auto).")
    index.add(vectors)
    return index


def _bm25(chunks: list[Chunk], analyzer: Analyzer) -> bm25s.BM25:
    bm25 = bm25s.BM25()
    bm25.index([analyzer(c.embed_text) for c in chunks], show_progress=False)
    return bm25


def _read_cache(index_dir: Path) -> dict[str, np.ndarray]:
    """Vectors by chunk key: the current build's, plus batches saved by a build that did not finish."""
    cache: dict[str, np.ndarray] = {}
    sources = sorted(index_dir.glob("embedded-*.npz"))
    try:
        manifest = json.loads((index_dir / MANIFEST).read_text())
        sources.insert(0, index_dir / manifest["files"]["vectors"])
    except (OSError, KeyError, TypeError, ValueError):
        pass  # no previous build (or a damaged one): only saved batches count
    for path in sources:
        try:
            data = np.load(path)
            cache.update(zip(data["keys"].tolist(), data["vectors"]))
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            log.warning("%s kunne ikke læses (%s); de vektorer embeddes igen", path.name, exc)
    return cache


def build_index(settings: Settings, embedder: Embedder, progress: bool = True, corpus: Corpus | None = None) -> Index:
    """Parse (unless the caller already did), chunk, embed what the cache lacks, write atomically."""
    with build_lock(settings.index_dir):
        return _build(settings, embedder, progress, corpus or load_corpus(settings.corpus_dir))


def _build(settings: Settings, embedder: Embedder, progress: bool, corpus: Corpus) -> Index:
    started = time.perf_counter()
    index_dir = settings.index_dir
    chunks = chunk_cases(corpus.cases, settings.chunk_size, settings.chunk_overlap)
    keys = [c.key(embedder.model_id) for c in chunks]
    cache = _read_cache(index_dir)
    missing = [i for i, k in enumerate(keys) if k not in cache]
    batch = max(1, settings.embed_batch_size)
    unsaved: list[int] = []
    with tqdm(total=len(chunks), initial=len(chunks) - len(missing), desc="Embedder passager",
              unit="afsnit", disable=not progress) as bar:
        for b in range(0, len(missing), batch):
            ids = missing[b : b + batch]
            vecs = embedder.embed_passages([chunks[i].embed_text for i in ids])
            for i, v in zip(ids, vecs):
                cache[keys[i]] = v
            unsaved += ids
            if len(unsaved) >= SAVE_EVERY or b + batch >= len(missing):
                _save_batch(index_dir, [keys[i] for i in unsaved], np.stack([cache[keys[i]] for i in unsaved]))
                unsaved = []
            bar.update(len(ids))
    vectors = np.stack([cache[k] for k in keys]).astype(np.float32)
    vocabulary = learn_vocabulary(c.text for c in corpus.cases)

    word_statistics = WordStatistics.of(c.text for c in corpus.cases)
    analyzer = Analyzer(vocabulary)
    dense, bm25 = _faiss_index(vectors, settings), _bm25(chunks, analyzer)
    manifest = expected_manifest(settings, corpus_hashes(settings.corpus_dir), embedder.model_id)
    build = _build_id(manifest)
    files = {"chunks": f"chunks-{build}.json", "vectors": f"vectors-{build}.npz", "vocabulary": f"vocabulary-{build}.json",
             "state": f"state-{build}.pickle"}
    # The parsed corpus, its word statistics, BM25 and FAISS as built: a start that finds the
    # index current parses and indexes nothing. (A pickle: the index folder is the service's
    # own output, like a cache, never user input; its SHA-256 is checked before it is read.)
    state = pickle.dumps((corpus, word_statistics, bm25, faiss.serialize_index(dense)), protocol=pickle.HIGHEST_PROTOCOL)
    _write_atomic(index_dir / files["state"], zlib.compress(state, 6))  # offset maps compress well
    _write_atomic(index_dir / files["chunks"], json.dumps([c.to_dict() for c in chunks], ensure_ascii=False).encode())
    tmp = index_dir / f".building-{os.getpid()}.npz"
    np.savez_compressed(tmp, keys=np.array(keys), vectors=vectors)
    os.replace(tmp, index_dir / files["vectors"])
    _write_atomic(index_dir / files["vocabulary"], json.dumps(vocabulary, ensure_ascii=False).encode())
    full_manifest = {
        **manifest,
        "files": files,
        "sha256": {name: _sha256(index_dir / name) for name in files.values()},
        "dim": int(vectors.shape[1]),
        "chunks": len(chunks),
        "cases": len(corpus.cases),
        "embedded_now": len(missing),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "build_seconds": round(time.perf_counter() - started, 2),
        "versions": {
            "python": platform.python_version(),
            **{p: metadata.version(p) for p in ("faiss-cpu", "bm25s", "PyStemmer", "langchain-text-splitters")},
        },
    }
    _write_atomic(index_dir / MANIFEST, json.dumps(full_manifest, indent=2, ensure_ascii=False).encode())
    for stale in index_dir.iterdir():  # what earlier builds wrote, and the saved batches now in the build
        if stale.is_file() and _OWN_FILE.fullmatch(stale.name) and stale.name not in files.values():
            stale.unlink()
    return Index(full_manifest, corpus, chunks, vectors, dense, bm25, analyzer, word_statistics)


def _save_batch(index_dir: Path, keys: list[str], vectors: np.ndarray) -> None:
    """Vectors just computed, on disk at once: a killed build resumes from them."""
    tmp = index_dir / f".building-{os.getpid()}-batch.npz"
    np.savez(tmp, keys=np.array(keys), vectors=vectors)
    os.replace(tmp, index_dir / f"embedded-{time.time_ns()}-{os.getpid()}.npz")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".building-{os.getpid()}-{path.name}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def load_index(settings: Settings, embedder: Embedder, rebuild: bool = True, progress: bool = True) -> Index:
    """Load index/; rebuild (embedding only what changed) when it does not match corpus, model
    or code, or when any of its files is damaged."""
    expected = expected_manifest(settings, corpus_hashes(settings.corpus_dir), embedder.model_id)
    manifest, reason = _current_manifest(settings.index_dir, expected)
    if manifest is not None:
        try:
            return _load_built(settings, manifest)
        except IndexUnavailable as exc:
            reason = str(exc)
    if not rebuild:
        raise IndexUnavailable(f"{reason}. Kør 'casefinder index' for at bygge det.")
    log.warning("%s: bygger indekset", reason)
    with build_lock(settings.index_dir):
        manifest, _ = _current_manifest(settings.index_dir, expected)  # built meanwhile by another process?
        if manifest is not None:
            try:
                return _load_built(settings, manifest)
            except IndexUnavailable:
                pass
        return _build(settings, embedder, progress, load_corpus(settings.corpus_dir))


def _current_manifest(index_dir: Path, expected: dict) -> tuple[dict | None, str]:
    """(manifest, "") when index/ claims to match ``expected``; else (None, why not)."""
    path = index_dir / MANIFEST
    if not path.exists():
        return None, f"intet indeks i {index_dir}"
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None, f"{path} kan ikke læses"
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict) or not isinstance(manifest.get("sha256"), dict):
        return None, f"{path} mangler filfortegnelsen"
    changed = [k for k in expected if manifest.get(k) != expected[k]]
    if changed:
        return None, "indekset passer ikke til " + ", ".join(
            {"model": "modellen", "corpus": "korpus", "chunking": "chunk-indstillingerne", "code": "parserkoden",
             "format": "indeksformatet", "dense_index": "FAISS-indstillingerne"}[k] for k in changed
        )
    return manifest, ""


def _check_files(index_dir: Path, manifest: dict) -> None:
    for role in ("chunks", "vectors", "vocabulary", "state"):
        name = manifest["files"].get(role)
        path = index_dir / str(name)
        if not name or not path.is_file() or _sha256(path) != manifest["sha256"].get(name):
            raise IndexUnavailable(f"indeksfilen {path} mangler eller er beskadiget")


def _load_built(settings: Settings, manifest: dict) -> Index:
    """The index files named by the manifest, each checked against its SHA-256 and the counts."""
    index_dir = settings.index_dir
    files = manifest["files"]
    _check_files(index_dir, manifest)
    try:
        chunks = [Chunk(**c) for c in json.loads((index_dir / files["chunks"]).read_text("utf-8"))]
        vectors = np.load(index_dir / files["vectors"])["vectors"].astype(np.float32)
        analyzer = Analyzer(json.loads((index_dir / files["vocabulary"]).read_text("utf-8")))
        state = zlib.decompress((index_dir / files["state"]).read_bytes())  # checked by SHA-256 above
        corpus, word_statistics, bm25, dense = pickle.loads(state)
        dense = faiss.deserialize_index(dense)
    except (OSError, KeyError, TypeError, ValueError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError,
            zlib.error) as exc:
        raise IndexUnavailable(f"indekset i {index_dir} kan ikke læses: {exc}") from exc
    if not len(chunks) == len(vectors) == manifest.get("chunks") or vectors.shape[1:] != (manifest.get("dim"),):
        raise IndexUnavailable(f"indekset i {index_dir} hænger ikke sammen: {len(chunks)} afsnit, {len(vectors)} vektorer")
    return Index(manifest, corpus, chunks, vectors, dense, bm25, analyzer, word_statistics)
