"""Hybrid retrieval: dense (FAISS) + BM25 fused per chunk, then one result per case."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from importlib import resources
from dataclasses import dataclass, field

import numpy as np

from ..config import Settings
from ..corpus.models import Case
from ..index.embedders import Embedder
from ..index.store import Index
from .highlight import highlight

def background_texts() -> list[str]:
    text = resources.files("casefinder.data").joinpath("background_da_en.txt").read_text("utf-8")
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


@dataclass
class Hit:
    rank: int
    score: float
    case: Case
    chunk: int  # index into Index.chunks
    start: int  # raw offsets of the passage in the catalogue file
    end: int
    text: str
    highlight: str
    dense: float
    lexical: float


@dataclass
class SearchResult:
    query: str
    took_ms: float
    no_match: bool
    hits: list[Hit]
    confidence: float = 0.0
    facets: dict[str, dict[str, int]] = field(default_factory=dict)


def case_matches(case: Case, filters: dict[str, list[str]]) -> bool:
    for name, wanted in filters.items():
        if not wanted:
            continue
        if name == "municipality":
            values = {case.municipality, *case.municipalities}
        else:
            values = {getattr(case, name, None)}
        if not values & set(wanted):
            return False
    return True


class Retriever:
    """Scores every chunk (the corpus is small) with both methods and fuses them."""

    def __init__(self, index: Index, embedder: Embedder, settings: Settings):
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self.background = embedder.embed_passages(background_texts())
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed_query(self, query: str) -> np.ndarray:
        """Query vector, from a small LRU cache; the model is called by one thread at a time."""
        with self._lock:
            if query in self._cache:
                self._cache.move_to_end(query)
                return self._cache[query]
            vec = self.embedder.embed_queries([query])[0]
            self._cache[query] = vec
            if len(self._cache) > self.settings.query_cache_size:
                self._cache.popitem(last=False)
            return vec

    def chunk_scores(self, query: str, mode: str = "hybrid", qvec: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(fused, dense cosine, bm25) for every chunk."""
        n = len(self.index.chunks)
        dense = np.zeros(n, dtype=np.float32)
        if mode != "bm25":
            qvec = self.embed_query(query) if qvec is None else qvec
            k = min(n, max(self.settings.candidates, 1) * 10)
            scores, ids = self.index.dense.search(qvec[None, :].astype(np.float32), k)
            valid = ids[0] >= 0
            dense[ids[0][valid]] = scores[0][valid]
        lexical = np.zeros(n, dtype=np.float32)
        if mode != "dense":
            tokens = self.index.analyzer(query)
            if tokens:
                lexical = self.index.bm25.get_scores(tokens).astype(np.float32)
        if mode == "dense":
            return dense, dense, lexical
        if mode == "bm25":
            return lexical, dense, lexical
        return self.fuse(dense, lexical), dense, lexical

    def fuse(self, dense: np.ndarray, lexical: np.ndarray) -> np.ndarray:
        """Weighted sum of per-query normalised scores: dense rescaled over its top range
        (e5 cosines sit in a narrow band), BM25 divided by its maximum."""
        top = np.sort(dense)[-self.settings.candidates :]
        lo, hi = float(top.min()), float(top.max())
        d = np.clip((dense - lo) / (hi - lo), 0, None) if hi > lo else np.zeros_like(dense)
        lmax = float(lexical.max())
        l = lexical / lmax if lmax > 0 else np.zeros_like(lexical)
        w = self.settings.dense_weight
        return w * d + (1 - w) * l

    def search(
        self,
        query: str,
        k: int = 10,
        filters: dict[str, list[str]] | None = None,
        mode: str = "hybrid",
        per_case: bool = True,
    ) -> SearchResult:
        started = time.perf_counter()
        filters = {f: v for f, v in (filters or {}).items() if v}
        qvec = self.embed_query(query) if mode != "bm25" else None
        fused, dense, lexical = self.chunk_scores(query, mode, qvec)
        case_of = self.index.corpus.case
        order = np.argsort(-fused, kind="stable")
        hits: list[Hit] = []
        seen: set[str] = set()
        facets: dict[str, dict[str, int]] = {f: {} for f in ("municipality", "catalogue", "area")}
        for i in order:
            chunk = self.index.chunks[i]
            case = case_of(chunk.case_id)
            if per_case and case.id in seen:
                continue
            if not case_matches(case, filters):
                continue
            seen.add(case.id)
            if len(hits) < k:
                hits.append(
                    Hit(len(hits) + 1, float(fused[i]), case, int(i), chunk.start, chunk.end, chunk.text,
                        highlight(chunk.text, query, self.index.analyzer), float(dense[i]), float(lexical[i]))
                )
            if len(seen) >= max(k, 50):
                break
        # Facet counts over the (at most 50) best cases, so choosing one narrows the list.
        for cid in seen:
            case = case_of(cid)
            for value in case.municipalities or [case.municipality]:
                if value:
                    facets["municipality"][value] = facets["municipality"].get(value, 0) + 1
            facets["catalogue"][case.catalogue] = facets["catalogue"].get(case.catalogue, 0) + 1
            if case.area:
                facets["area"][case.area] = facets["area"].get(case.area, 0) + 1
        confidence = self.confidence(qvec, float(dense.max()) if len(dense) else 0.0)
        no_match = confidence < self.settings.no_match_threshold
        return SearchResult(query, (time.perf_counter() - started) * 1000, no_match, hits, confidence, facets)

    def confidence(self, qvec: np.ndarray | None, top_dense: float) -> float:
        """How sure we are that the corpus answers the query, in [0, 1]; 0.5 is the fence.

        The query's best catalogue passage is compared with its best match among
        everyday texts (data/background_da_en.txt). Raw e5 cosines depend on language
        and length, so the margin between the two is what separates "no answer here"
        from an English or paraphrased question that the catalogues do answer.
        """
        if qvec is None:  # BM25-only mode has no dense evidence to judge by
            return 1.0
        margin = top_dense - float((self.background @ qvec).max())
        return float(np.clip(0.5 + margin / 0.08, 0.0, 1.0))

    def similar_cases(self, case_id: str, k: int = 5) -> list[tuple[Case, float]]:
        ids = self.index.case_ids
        if case_id not in ids:
            return []
        vecs = self.index.case_vectors
        sims = vecs @ vecs[ids.index(case_id)]
        out = []
        for j in np.argsort(-sims):
            if ids[j] != case_id:
                out.append((self.index.corpus.case(ids[j]), float(sims[j])))
            if len(out) >= k:
                break
        return out
