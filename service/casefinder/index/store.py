"""Build, persist and load the index (index/).

Layout of index/: ``manifest.json`` names the data files of the current build with their
SHA-256: ``chunks-<id>.json``, ``vocabulary-<id>.json``, ``state-<id>.pickle`` (the parsed
corpus and its word statistics) and the three large ones, which are memory-mapped on load so
that the server's worker processes share one copy in the page cache instead of holding one
each: ``vectors-<id>.npy`` (chunks, then each case's opening, then each chunk's sentences),
``sentences-<id>.npy`` (where each chunk's sentences start among those), ``centroids-<id>.npy`` (each
case's mean chunk vector), ``dense-<id>.faiss`` (FAISS, flat codes mapped) and
``bm25-<id>/`` (bm25s's sparse matrix). Data files are written first under new names and the
manifest is replaced atomically last, so a crash mid-build leaves the previous index intact. Vectors are
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
import shutil
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
from .chunking import Chunk, case_opening, chunk_cases, content_key
from .embedders import Embedder
from .sentences import sentence_pieces

log = logging.getLogger(__name__)
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG

# 2: the parsed corpus is stored with the index; 3: BM25 and FAISS too; 4: memory-mapped; 5: case centroids;
# 6: sentence vectors
FORMAT_VERSION = 6
MANIFEST = "manifest.json"
LOCK = ".lock"
SAVE_EVERY = 128  # chunks embedded between two saves of the vectors so far
# Every file a build writes; a rebuild removes only these, never what someone else put there.
_OWN_FILE = re.compile(r"(chunks-[0-9a-f]{12}\.json|keys-[0-9a-f]{12}\.json|vectors-[0-9a-f]{12}\.np[yz]"
                       r"|centroids-[0-9a-f]{12}\.npy|sentences-[0-9a-f]{12}\.npy|vocabulary-[0-9a-f]{12}\.json"
                       r"|state-[0-9a-f]{12}\.pickle|corpus-[0-9a-f]{12}\.pickle|dense-[0-9a-f]{12}\.faiss"
                       r"|bm25-[0-9a-f]{12}|embedded-\d+-\d+\.npz|\.building-.+)")
_CODE_THAT_SHAPES_CHUNKS = ("corpus", "index/chunking.py", "index/sentences.py", "index/analyzer.py", "data")


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


def code_fingerprint(package: Path | None = None) -> str:
    """Hash of the code that decides what the chunks and their sentences are; changing it
    re-chunks. ``package``: the casefinder package folder (this one by default)."""
    root = package or Path(__file__).resolve().parents[1]
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
        "chunking": {"size": settings.chunk_size, "overlap": settings.chunk_overlap, "case_opening": settings.case_opening_chars},
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
    case_vectors: np.ndarray  # per case of case_ids: its opening embedded (chunking.case_opening)
    # Chunk c's sentences (sentences.sentence_pieces), embedded one by one, are the rows
    # sentence_vectors[sentence_starts[c] : sentence_starts[c + 1]] (the judge reads them).
    sentence_vectors: np.ndarray
    sentence_starts: np.ndarray
    # Per case of case_ids: the mean of its chunks' vectors, normalised (similar cases, the judge).
    case_centroids: np.ndarray | None = None  # computed when not given (a build)
    case_chunks: dict[str, list[int]] = field(default_factory=dict)
    case_ids: list[str] = field(default_factory=list)  # the cases that have chunks, in corpus order
    chunk_case: np.ndarray | None = None  # per chunk: its case's position in case_ids
    case_rows: list[np.ndarray] = field(default_factory=list)  # per case of case_ids: its chunks

    def __post_init__(self) -> None:
        for i, chunk in enumerate(self.chunks):
            self.case_chunks.setdefault(chunk.case_id, []).append(i)
        self.case_ids = cases_with_chunks(self.corpus, self.chunks)
        row = {cid: r for r, cid in enumerate(self.case_ids)}
        self.chunk_case = np.array([row[c.case_id] for c in self.chunks], dtype=np.int64)
        self.case_rows = [np.array(self.case_chunks[cid], dtype=np.int64) for cid in self.case_ids]
        if self.case_centroids is None:
            means = np.stack([self.vectors[rows].mean(axis=0) for rows in self.case_rows]) if self.case_rows \
                else np.zeros((0, self.vectors.shape[1]), dtype=np.float32)
            self.case_centroids = (means / np.linalg.norm(means, axis=1, keepdims=True)).astype(np.float32)


def cases_with_chunks(corpus: Corpus, chunks: list[Chunk]) -> list[str]:
    """Ids of the cases that have chunks (an empty case has none), in corpus order."""
    ids = {c.case_id for c in chunks}
    return [c.id for c in corpus.cases if c.id in ids]


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
    serving = faiss.omp_get_max_threads()  # a server searches on one thread; a build uses every core
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    try:
        index.add(vectors)
    finally:
        faiss.omp_set_num_threads(serving)
    return index


def _bm25(chunks: list[Chunk], analyzer: Analyzer) -> bm25s.BM25:
    bm25 = bm25s.BM25()
    bm25.index([analyzer(c.embed_text) for c in chunks], show_progress=False)
    return bm25


def _read_cache(index_dir: Path) -> dict[str, np.ndarray]:
    """Vectors by chunk key: the current build's, plus batches saved by a build that did not finish."""
    cache: dict[str, np.ndarray] = {}
    batches = sorted(index_dir.glob("embedded-*.npz"))
    try:
        manifest = json.loads((index_dir / MANIFEST).read_text())
        files = manifest["files"]
        if files["vectors"].endswith(".npz"):  # written before format 4, with the keys inside
            batches.insert(0, index_dir / files["vectors"])
        elif all(_sha256(index_dir / files[f]) == manifest["sha256"][files[f]] for f in ("keys", "vectors")):
            keys = json.loads((index_dir / files["keys"]).read_text())
            vectors = np.load(index_dir / files["vectors"], mmap_mode="r")
            if len(keys) == len(vectors):
                cache.update(zip(keys, vectors))
        else:  # a damaged byte is never reused as a vector: those texts are embedded again
            log.warning("%s er beskadiget (SHA-256 passer ikke); vektorerne embeddes igen", files["vectors"])
    except (OSError, KeyError, TypeError, ValueError, AttributeError):
        pass  # no previous build (or a damaged one): only saved batches count
    for path in batches:
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
    sentences = [sentence_pieces(c.text) for c in chunks]
    # One vector per chunk, then one per case (its opening), then one per sentence: all cached by content.
    openings = [case_opening(corpus.case(cid), settings.case_opening_chars) for cid in cases_with_chunks(corpus, chunks)]
    texts = [c.embed_text for c in chunks] + openings + [s for own in sentences for s in own]
    keys = [content_key(embedder.model_id, t) for t in texts]
    cache = _read_cache(index_dir)
    missing = [i for i, k in enumerate(keys) if k not in cache]
    batch = max(1, settings.embed_batch_size)
    unsaved: list[int] = []
    with tqdm(total=len(texts), initial=len(texts) - len(missing), desc="Embedder passager",
              unit="afsnit", disable=not progress) as bar:
        for b in range(0, len(missing), batch):
            ids = missing[b : b + batch]
            vecs = embedder.embed_passages([texts[i] for i in ids])
            for i, v in zip(ids, vecs):
                cache[keys[i]] = v
            unsaved += ids
            if len(unsaved) >= SAVE_EVERY or b + batch >= len(missing):
                _save_batch(index_dir, [keys[i] for i in unsaved], np.stack([cache[keys[i]] for i in unsaved]))
                unsaved = []
            bar.update(len(ids))
    vectors = np.stack([cache[k] for k in keys]).astype(np.float32)
    cases_end = len(chunks) + len(openings)
    vectors, case_vectors, sentence_vectors = vectors[: len(chunks)], vectors[len(chunks) : cases_end], vectors[cases_end:]
    sentence_starts = np.cumsum([0] + [len(own) for own in sentences], dtype=np.int64)
    vocabulary = learn_vocabulary(c.text for c in corpus.cases)

    word_statistics = WordStatistics.of(c.text for c in corpus.cases)
    analyzer = Analyzer(vocabulary)
    dense, bm25 = _faiss_index(vectors, settings), _bm25(chunks, analyzer)
    index = Index(expected_manifest(settings, corpus_hashes(settings.corpus_dir), embedder.model_id), corpus, chunks,
                  vectors, dense, bm25, analyzer, word_statistics, case_vectors, sentence_vectors, sentence_starts)
    save_index(index_dir, index, keys, cases=len(corpus.cases), embedded_now=len(missing),
               build_seconds=round(time.perf_counter() - started, 2))
    for stale in index_dir.iterdir():  # what earlier builds wrote, and the saved batches now in the build
        if _OWN_FILE.fullmatch(stale.name) and stale.name not in index.manifest["files"].values():
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    return index


def save_index(index_dir: Path, index: Index, keys: list[str], **facts) -> None:
    """Write the index's files under this build's names, then the manifest (atomically, last);
    ``index.manifest`` becomes the full manifest. ``keys``: the content keys of the vectors
    (chunks, cases, sentences), for the next build's cache. ``facts`` are recorded in the manifest."""
    build = _build_id(index.manifest)
    files = {"chunks": f"chunks-{build}.json", "vectors": f"vectors-{build}.npy", "keys": f"keys-{build}.json",
             "centroids": f"centroids-{build}.npy", "sentences": f"sentences-{build}.npy", "vocabulary": f"vocabulary-{build}.json",
             "state": f"state-{build}.pickle", "dense": f"dense-{build}.faiss", "bm25": f"bm25-{build}"}
    # The parsed corpus and its word statistics as built: a start that finds the index current
    # parses nothing. (A pickle: the index folder is the service's own output, like a cache,
    # never user input; its SHA-256 is checked before it is read.)
    state = pickle.dumps((index.corpus, index.words), protocol=pickle.HIGHEST_PROTOCOL)
    _write_atomic(index_dir / files["state"], zlib.compress(state, 6))  # offset maps compress well
    _write_atomic(index_dir / files["chunks"], json.dumps([c.to_dict() for c in index.chunks], ensure_ascii=False).encode())
    _write_atomic(index_dir / files["vocabulary"], json.dumps(sorted(index.analyzer.vocabulary), ensure_ascii=False).encode())
    _write_atomic(index_dir / files["keys"], json.dumps(keys).encode())
    _save_array(index_dir / files["vectors"], np.concatenate([index.vectors, index.case_vectors, index.sentence_vectors]))
    _save_array(index_dir / files["sentences"], np.asarray(index.sentence_starts, dtype=np.int64))
    _save_array(index_dir / files["centroids"], index.case_centroids)
    tmp = index_dir / f".building-{os.getpid()}"
    faiss.write_index(index.dense, f"{tmp}.faiss")
    os.replace(f"{tmp}.faiss", index_dir / files["dense"])
    shutil.rmtree(tmp, ignore_errors=True)
    index.bm25.save(tmp)
    shutil.rmtree(index_dir / files["bm25"], ignore_errors=True)  # the same build written again
    os.replace(tmp, index_dir / files["bm25"])
    index.manifest = {
        **{k: v for k, v in index.manifest.items() if k not in ("files", "sha256")},
        "files": files,
        "sha256": {name: _sha256(index_dir / name) for name in _data_files(index_dir, files)},
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
    _write_atomic(index_dir / MANIFEST, json.dumps(index.manifest, indent=2, ensure_ascii=False).encode())


def _data_files(index_dir: Path, files: dict[str, str]) -> list[str]:
    """Every data file of a build, relative to index/: the files, and what the folders hold."""
    names = []
    for name in files.values():
        path = index_dir / name
        names += sorted(f"{name}/{p.name}" for p in path.iterdir()) if path.is_dir() else [name]
    return names


def _save_batch(index_dir: Path, keys: list[str], vectors: np.ndarray) -> None:
    """Vectors just computed, on disk at once: a killed build resumes from them."""
    tmp = index_dir / f".building-{os.getpid()}-batch.npz"
    np.savez(tmp, keys=np.array(keys), vectors=vectors)
    os.replace(tmp, index_dir / f"embedded-{time.time_ns()}-{os.getpid()}.npz")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".building-{os.getpid()}-{path.name}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _save_array(path: Path, array: np.ndarray) -> None:
    """As _write_atomic, for an .npy file (written straight to disk: the vectors can be large);
    floats as float32, what the index maps on load."""
    tmp = path.with_name(f".building-{os.getpid()}-{path.name}")
    np.save(tmp, array.astype(np.float32) if array.dtype.kind == "f" else array)
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
    hashes = manifest["sha256"]
    for role in ("chunks", "vectors", "centroids", "sentences", "keys", "vocabulary", "state", "dense", "bm25"):
        name = manifest["files"].get(role)
        if not name or not (index_dir / str(name)).exists():
            raise IndexUnavailable(f"indeksfilen {index_dir / str(name)} mangler")
    for name, digest in hashes.items():
        path = index_dir / name
        if not path.is_file() or _sha256(path) != digest:
            raise IndexUnavailable(f"indeksfilen {path} mangler eller er beskadiget")


def _load_built(settings: Settings, manifest: dict) -> Index:
    """The index files named by the manifest, each checked against its SHA-256 and the counts.
    Vectors, FAISS and BM25 are memory-mapped: every process that serves them shares one copy."""
    index_dir = settings.index_dir
    files = manifest["files"]
    _check_files(index_dir, manifest)
    try:
        chunks = [Chunk(**c) for c in json.loads((index_dir / files["chunks"]).read_text("utf-8"))]
        # Plain arrays over the mapped files: np.memmap's own slicing costs more than the search.
        rows = np.asarray(np.load(index_dir / files["vectors"], mmap_mode="r"))  # chunks, cases, sentences
        sentence_starts = np.load(index_dir / files["sentences"])
        sentences_at = len(rows) - int(sentence_starts[-1])
        vectors, case_vectors, sentence_vectors = rows[: len(chunks)], rows[len(chunks) : sentences_at], rows[sentences_at:]
        centroids = np.asarray(np.load(index_dir / files["centroids"], mmap_mode="r"))
        analyzer = Analyzer(json.loads((index_dir / files["vocabulary"]).read_text("utf-8")))
        state = zlib.decompress((index_dir / files["state"]).read_bytes())  # checked by SHA-256 above
        corpus, word_statistics = pickle.loads(state)
        dense = faiss.read_index(str(index_dir / files["dense"]), faiss.IO_FLAG_MMAP_IFC)
        bm25 = bm25s.BM25.load(index_dir / files["bm25"], mmap=True, show_progress=False)
        bm25.scores.update({k: np.asarray(v) for k, v in bm25.scores.items() if isinstance(v, np.memmap)})
    except (OSError, KeyError, IndexError, TypeError, ValueError, EOFError, RuntimeError, pickle.UnpicklingError,
            zlib.error) as exc:
        raise IndexUnavailable(f"indekset i {index_dir} kan ikke læses: {exc}") from exc
    if not len(chunks) == len(vectors) == dense.ntotal == manifest.get("chunks") == len(sentence_starts) - 1 \
            or len(sentence_vectors) != manifest.get("sentences") or vectors.shape[1:] != (manifest.get("dim"),):
        raise IndexUnavailable(f"indekset i {index_dir} hænger ikke sammen: {len(chunks)} afsnit, {len(rows)} vektorer")
    index = Index(manifest, corpus, chunks, vectors, dense, bm25, analyzer, word_statistics, case_vectors,
                  sentence_vectors, sentence_starts, centroids)
    if not len(index.case_vectors) == len(index.case_centroids) == len(index.case_ids):
        raise IndexUnavailable(f"indekset i {index_dir} hænger ikke sammen: {len(index.case_ids)} enheder, "
                               f"{len(index.case_vectors)} enhedsvektorer, {len(index.case_centroids)} centroider")
    return index
