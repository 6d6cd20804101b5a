"""Build, persist and load the index (index/).

Layout of index/: ``manifest.json`` names the data files of the current build
(``chunks-<id>.json``, ``vectors-<id>.npz``, ``vocabulary-<id>.json``). Data files
are written first under new names and the manifest is replaced atomically last,
so a crash mid-build leaves the previous index intact. Vectors are cached by
chunk-content hash: a rebuild embeds only chunks whose text changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import bm25s
import faiss
import numpy as np
from tqdm import tqdm

from ..config import Settings
from ..corpus.parse import Corpus, load_corpus
from .analyzer import Analyzer, learn_vocabulary
from .chunking import Chunk, chunk_cases
from .embedders import Embedder

log = logging.getLogger(__name__)
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_CODE_THAT_SHAPES_CHUNKS = ("corpus", "index/chunking.py", "index/analyzer.py", "data")


class IndexUnavailable(RuntimeError):
    """The index cannot be used as it is (missing, stale, other model)."""


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


def expected_manifest(settings: Settings, corpus: Corpus, model_id: str) -> dict:
    return {
        "format": FORMAT_VERSION,
        "model": model_id,
        "corpus": {d.path.name: d.sha256 for d in corpus.documents},
        "chunking": {"size": settings.chunk_size, "overlap": settings.chunk_overlap},
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
        index.hnsw.efSearch = 128
    else:
        raise IndexUnavailable(f"Ukendt FAISS-indekstype '{kind}' (brug flat, hnsw eller auto).")
    index.add(vectors)
    return index


def _bm25(chunks: list[Chunk], analyzer: Analyzer) -> bm25s.BM25:
    bm25 = bm25s.BM25()
    bm25.index([analyzer(c.embed_text) for c in chunks], show_progress=False)
    return bm25


def _read_cache(index_dir: Path) -> dict[str, np.ndarray]:
    manifest_path = index_dir / MANIFEST
    if not manifest_path.exists():
        return {}
    try:
        files = json.loads(manifest_path.read_text())["files"]
        data = np.load(index_dir / files["vectors"])
        return dict(zip(data["keys"].tolist(), data["vectors"]))
    except (OSError, KeyError, ValueError) as exc:
        log.warning("vektor-cachen kunne ikke læses (%s); alt embeddes igen", exc)
        return {}


def build_index(settings: Settings, embedder: Embedder, progress: bool = True, corpus: Corpus | None = None) -> Index:
    """Parse (unless the caller already did), chunk, embed what the cache lacks, write atomically."""
    started = time.perf_counter()
    index_dir = settings.index_dir
    index_dir.mkdir(parents=True, exist_ok=True)
    corpus = corpus or load_corpus(settings.corpus_dir)
    chunks = chunk_cases(corpus.cases, settings.chunk_size, settings.chunk_overlap)
    keys = [c.key(embedder.model_id) for c in chunks]
    cache = _read_cache(index_dir)
    missing = [i for i, k in enumerate(keys) if k not in cache]
    batch = max(1, settings.embed_batch_size)
    with tqdm(total=len(chunks), initial=len(chunks) - len(missing), desc="Embedder passager",
              unit="afsnit", disable=not progress) as bar:
        for b in range(0, len(missing), batch):
            ids = missing[b : b + batch]
            vecs = embedder.embed_passages([chunks[i].embed_text for i in ids])
            for i, v in zip(ids, vecs):
                cache[keys[i]] = v
            bar.update(len(ids))
    vectors = np.stack([cache[k] for k in keys]).astype(np.float32)
    vocabulary = learn_vocabulary(c.text for c in corpus.cases)

    manifest = expected_manifest(settings, corpus, embedder.model_id)
    build = _build_id(manifest)
    files = {"chunks": f"chunks-{build}.json", "vectors": f"vectors-{build}.npz", "vocabulary": f"vocabulary-{build}.json"}
    _write_atomic(index_dir / files["chunks"], json.dumps([c.to_dict() for c in chunks], ensure_ascii=False).encode())
    tmp = index_dir / f".building-{os.getpid()}.npz"
    np.savez_compressed(tmp, keys=np.array(keys), vectors=vectors)
    os.replace(tmp, index_dir / files["vectors"])
    _write_atomic(index_dir / files["vocabulary"], json.dumps(vocabulary, ensure_ascii=False).encode())
    full_manifest = {
        **manifest,
        "files": files,
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
    for stale in index_dir.iterdir():  # files of earlier builds
        if stale.is_file() and stale.name != MANIFEST and stale.name not in files.values():
            stale.unlink()
    analyzer = Analyzer(vocabulary)
    return Index(full_manifest, corpus, chunks, vectors, _faiss_index(vectors, settings), _bm25(chunks, analyzer), analyzer)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".building-{os.getpid()}-{path.name}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def load_index(settings: Settings, embedder: Embedder, rebuild: bool = True, progress: bool = True) -> Index:
    """Load index/; rebuild (embedding only what changed) when it does not match corpus, model or code."""
    index_dir = settings.index_dir
    corpus = load_corpus(settings.corpus_dir)
    expected = expected_manifest(settings, corpus, embedder.model_id)
    manifest_path = index_dir / MANIFEST
    reason = None
    if not manifest_path.exists():
        reason = f"intet indeks i {index_dir}"
    else:
        manifest = json.loads(manifest_path.read_text())
        changed = [k for k in expected if manifest.get(k) != expected[k]]
        if changed:
            reason = "indekset passer ikke til " + ", ".join(
                {"model": "modellen", "corpus": "korpus", "chunking": "chunk-indstillingerne", "code": "parserkoden",
                 "format": "indeksformatet"}[k] for k in changed
            )
    if reason:
        if not rebuild:
            raise IndexUnavailable(f"{reason}. Kør 'casefinder index' for at bygge det.")
        log.warning("%s: bygger indekset", reason)
        return build_index(settings, embedder, progress=progress, corpus=corpus)
    files = manifest["files"]
    chunks = [Chunk(**c) for c in json.loads((index_dir / files["chunks"]).read_text())]
    data = np.load(index_dir / files["vectors"])
    vectors = data["vectors"].astype(np.float32)
    analyzer = Analyzer(json.loads((index_dir / files["vocabulary"]).read_text()))
    return Index(manifest, corpus, chunks, vectors, _faiss_index(vectors, settings), _bm25(chunks, analyzer), analyzer)
