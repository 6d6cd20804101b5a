"""The embedding cache: every vector the model computed, by the content key of its text.

It lives apart from the served generations (index/cache/), so damage to a served file costs a
re-assembly from here, not a re-embedding. Append-only: each batch a build embeds becomes a
segment ``<SHA-256 of its bytes>.npz`` at once (a stopped build keeps what it embedded), and a
segment whose bytes no longer match its name is never read. Many small segments are merged into
one; the large ones stay as they are, so a repository that ships the cache does not rewrite them.
"""

from __future__ import annotations

import hashlib
import io
import logging
import zipfile
from pathlib import Path

import numpy as np

from .manifest import write_atomic

log = logging.getLogger(__name__)
MAX_SEGMENTS = 8


class EmbeddingCache:
    def __init__(self, folder: Path):
        self.folder = folder

    def segments(self) -> list[Path]:
        return sorted(self.folder.glob("*.npz")) if self.folder.is_dir() else []

    def read(self) -> dict[str, np.ndarray]:
        """Every vector of every intact segment; a damaged segment costs only its own vectors."""
        vectors: dict[str, np.ndarray] = {}
        for path in self.segments():
            loaded = self._load(path)
            if loaded is not None:
                vectors.update(zip(*loaded))
        return vectors

    def _load(self, path: Path) -> tuple[list[str], np.ndarray] | None:
        try:
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() != path.stem:
                raise ValueError("SHA-256 passer ikke med navnet")
            with np.load(io.BytesIO(data)) as arrays:
                keys, vectors = arrays["keys"].tolist(), arrays["vectors"].astype(np.float32)
            if len(keys) != len(vectors):
                raise ValueError("nøgler og vektorer passer ikke sammen")
            return keys, vectors
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            log.warning("cachesegmentet %s kan ikke bruges (%s); dets tekster embeddes igen", path.name, exc)
            return None

    def append(self, keys: list[str], vectors: np.ndarray) -> Path:
        """One new segment, on disk before this returns."""
        self.folder.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, keys=np.array(keys), vectors=np.asarray(vectors, dtype=np.float32))
        data = buffer.getvalue()
        path = self.folder / f"{hashlib.sha256(data).hexdigest()}.npz"
        write_atomic(path, data)
        return path

    def compact(self, max_segments: int = MAX_SEGMENTS) -> None:
        """Merge every segment but the largest into one when there are more than ``max_segments``."""
        segments = self.segments()
        if len(segments) <= max_segments:
            return
        largest = max(segments, key=lambda p: p.stat().st_size)
        merged: dict[str, np.ndarray] = {}
        small = [p for p in segments if p != largest]
        for path in small:
            loaded = self._load(path)
            if loaded is not None:
                merged.update(zip(*loaded))
        if merged:
            self.append(list(merged), np.stack(list(merged.values())))
        for path in small:
            path.unlink(missing_ok=True)
