"""What an index is made from, and the pointer that says which generation is served.

Layout of index/::

    manifest.json        the pointer: {"generation": NAME, "previous": NAME | null}, replaced
                         atomically and last, so every reader sees one whole generation or the last
    generations/NAME/    one complete build; its generation.json lists every file with its SHA-256
                         and what it was built from (corpus, model, code, settings)
    cache/SHA.npz        the embedding cache (cache.py), apart from what is served
    .build-progress.json how far the build that runs now is, for every worker's /healthz

A server compares the served generation with ``expected_manifest`` to know whether it is current.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..config import Settings
from ..corpus.parse import MANIFEST_NAME, corpus_files

# 2: the parsed corpus is stored with the index; 3: BM25 and FAISS too; 4: memory-mapped; 5: case centroids;
# 6: sentence vectors; 7: generations beside an embedding cache of their own
FORMAT_VERSION = 7
POINTER = "manifest.json"
GENERATIONS = "generations"
_CODE_THAT_SHAPES_CHUNKS = ("corpus", "index/chunking.py", "index/sentences.py", "index/analyzer.py", "data")
_STALE_LABELS = {
    "model": "modellen",
    "corpus": "korpus",
    "chunking": "chunk-indstillingerne",
    "code": "parserkoden",
    "format": "indeksformatet",
    "dense_index": "FAISS-indstillingerne",
}


class IndexUnavailable(RuntimeError):
    """The index cannot be used as it is (missing, stale, other model, damaged)."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write beside the target and rename over it: a reader sees the old file or the new one."""
    tmp = path.with_name(f".building-{os.getpid()}-{path.name}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def code_fingerprint(package: Path | None = None) -> str:
    """Hash of the code that decides what the chunks and their sentences are; changing it
    re-chunks. ``package``: the casefinder package folder (this one by default)."""
    root = package or Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for rel in _CODE_THAT_SHAPES_CHUNKS:
        base = root / rel
        for path in sorted(base.rglob("*") if base.is_dir() else [base]):
            if path.is_file() and path.suffix in (".py", ".txt"):
                digest.update(path.relative_to(root).as_posix().encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def corpus_hashes(corpus_dir: Path) -> dict[str, str]:
    """SHA-256 of every catalogue file and of the manifest: what decides whether the parsed
    corpus stored with the index is still the corpus (cheap: no parsing)."""
    paths = corpus_files(corpus_dir) + [p for p in [corpus_dir / MANIFEST_NAME] if p.is_file()]
    return {p.name: sha256_of(p) for p in paths}


def expected_manifest(settings: Settings, hashes: dict[str, str], model_id: str) -> dict:
    """What a current generation was built from."""
    return {
        "format": FORMAT_VERSION,
        "model": model_id,
        "corpus": hashes,
        "chunking": {
            "size": settings.chunk_size,
            "overlap": settings.chunk_overlap,
            "case_opening": settings.case_opening_chars,
        },
        "dense_index": {
            "kind": settings.faiss_index,
            "ann_threshold": settings.ann_threshold,
            "ef_search": settings.ann_ef_search,
        },
        "code": code_fingerprint(),
    }


def build_id(identity: dict) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]


def stale_reason(manifest: dict, expected: dict) -> str:
    """Why a generation built as ``manifest`` says is not current ("" when it is)."""
    changed = [k for k in expected if manifest.get(k) != expected[k]]
    return ("indekset passer ikke til " + ", ".join(_STALE_LABELS[k] for k in changed)) if changed else ""


def read_pointer(index_dir: Path) -> dict | None:
    """The pointer, or None when there is none or it cannot be read (a damaged one is no pointer)."""
    try:
        pointer = json.loads((index_dir / POINTER).read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(pointer, dict) or not isinstance(pointer.get("generation"), str):
        return None
    return pointer


def publish(index_dir: Path, generation: str) -> dict:
    """Point every reader at ``generation``; the one served until now is kept as ``previous``."""
    current = (read_pointer(index_dir) or {}).get("generation")
    pointer = {"generation": generation, "previous": current if current != generation else None}
    write_atomic(index_dir / POINTER, json.dumps(pointer, indent=2).encode())
    return pointer
