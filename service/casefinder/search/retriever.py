"""Hybrid retrieval: dense (FAISS) + BM25 fused per chunk, then one result per case."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import StrEnum

import faiss
import numpy as np
from threadpoolctl import threadpool_limits

from ..config import Settings
from ..corpus.models import Case
from ..index.embedders import Embedder
from ..index.generation import Index
from .highlight import highlight
from .judge import JUDGED_CASES, Judge, QueryEvidence, Scored


class SearchMode(StrEnum):
    """What ranks the chunks: both methods fused (the service), or one alone (for comparison)."""

    HYBRID = "hybrid"
    DENSE = "dense"
    BM25 = "bm25"


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
    confidence: float = 0.0  # that this case answers the query, 0-1 (search/judge.py)


@dataclass
class SearchResult:
    query: str
    took_ms: float
    no_match: bool
    hits: list[Hit]
    confidence: float = 0.0  # that the catalogues answer the query: the best hit's confidence
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    total: int = 0  # cases in the (filtered) result set; facet counts are over the same set


FACETS = ("municipality", "catalogue", "area", "kind")


def facet_values(case: Case, name: str) -> list[str]:
    """The values a case has for a facet: what filters match and facets count."""
    if name == "municipality":
        return case.municipalities or ([case.municipality] if case.municipality else [])
    value = getattr(case, name, None)
    return [value] if value else []


def case_matches(case: Case, filters: dict[str, list[str]]) -> bool:
    return all(set(facet_values(case, name)) & set(wanted) for name, wanted in filters.items() if wanted)


def count_facets(cases: list[Case]) -> dict[str, dict[str, int]]:
    facets: dict[str, dict[str, int]] = {name: {} for name in FACETS}
    for case in cases:
        for name, counts in facets.items():
            for value in facet_values(case, name):
                counts[value] = counts.get(value, 0) + 1
    return facets


class Retriever:
    """Scores every chunk (the corpus is small) with both methods and fuses them."""

    def __init__(self, index: Index, embedder: Embedder, settings: Settings):
        self.index = index
        self.embedder = embedder
        self.settings = settings
        # One query is searched fastest on one thread: FAISS's OpenMP threads cost more than they
        # share (measured at 18,000 chunks: 0.8 ms on one thread, 2.7 ms on two). Builds set their own.
        faiss.omp_set_num_threads(1)
        # The same for BLAS (numpy's and FAISS's OpenBLAS): its threads spin after each small
        # product and take the cores from the model's next embedding. Measured in one process,
        # fresh searches back to back: 110.9 ms with two BLAS threads, 35.5 ms with one, against a
        # bare embedding of 27-29 ms (bench/profile.md).
        threadpool_limits(1, user_api="blas")
        self.judge = Judge(index, settings.confidence)
        # Sections yield to the cases they describe (Settings.overview_weight, .section_weight).
        self.kind_weight = np.array(
            [self._kind_weight(index.corpus.known_case(c.case_id)) for c in index.chunks], dtype=np.float32
        )
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._model_lock = threading.Lock()

    def _kind_weight(self, case: Case) -> float:
        if case.kind != "section":
            return 1.0
        return self.settings.overview_weight if case.overview else self.settings.section_weight

    def embed_query(self, query: str) -> np.ndarray:
        """Query vector, from a small LRU cache; the model is called by one thread at a time,
        and a cached query never waits for it."""
        with self._cache_lock:
            if query in self._cache:
                self._cache.move_to_end(query)
                return self._cache[query]
        with self._model_lock:
            vec = self.embedder.embed_queries([query])[0]
        with self._cache_lock:
            self._cache[query] = vec
            if len(self._cache) > self.settings.query_cache_size:
                self._cache.popitem(last=False)
        return vec

    def candidates(
        self, evidence: QueryEvidence, tokens: list[str], mode: SearchMode, qvec: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(chunk ids, fused, the passage's own cosine, bm25) for the candidates only: the top
        ``candidate_pool`` chunks of FAISS and of BM25 and the chunks of the ``candidate_cases``
        best cases by their case vectors, united. Every later step works on these, so its cost
        does not grow with the corpus (measured: the same top 10 as scoring every chunk)."""
        n = len(self.index.chunks)
        k = min(n, self.settings.candidate_pool)
        pools = []
        if mode != SearchMode.BM25:
            case_scores = self.index.case_vectors @ qvec
            _, ids = self.index.dense.search(qvec[None, :].astype(np.float32), k)
            pools.append(ids[0][ids[0] >= 0])
            m = min(len(case_scores), self.settings.candidate_cases)
            best_cases = np.argpartition(-case_scores, m - 1)[:m] if m < len(case_scores) else np.arange(m)
            pools += [self.index.case_rows[r] for r in best_cases]
        lexical_all = None
        if mode != SearchMode.DENSE:
            if tokens:
                lexical_all = self.index.bm25.get_scores(tokens).astype(np.float32)
                top = np.argpartition(-lexical_all, k - 1)[:k] if k < n else np.arange(n)
                pools.append(top[lexical_all[top] > 0])
        ids = np.unique(np.concatenate(pools)) if pools else np.arange(0)
        dense = self.index.vectors[ids] @ qvec
        lexical = lexical_all[ids] if lexical_all is not None else np.zeros(len(ids), dtype=np.float32)
        if mode == SearchMode.BM25:
            return ids, lexical, dense, lexical
        w = self.settings.case_vector_weight
        in_case = (1 - w) * dense + w * case_scores[self.index.chunk_case[ids]]
        if mode == SearchMode.DENSE:
            return ids, in_case, dense, lexical
        return ids, self.fuse(in_case, lexical, self.dense_weight(evidence.known)), dense, lexical

    def dense_weight(self, known: float) -> float:
        """The dense side's weight for a query: ``dense_weight`` when the catalogues know all of
        its terms, rising to ``dense_weight_unknown`` as the share (by IDF) they do not know
        grows: BM25 cannot match words the catalogues never use (English, paraphrases)."""
        low, high = self.settings.dense_weight, self.settings.dense_weight_unknown  # high >= low (config.py)
        return low + (high - low) * (1.0 - known)

    def fuse(self, dense: np.ndarray, lexical: np.ndarray, w: float) -> np.ndarray:
        """Weighted sum of per-query normalised scores: dense rescaled over its top range
        (e5 cosines sit in a narrow band), BM25 divided by its maximum; ``w`` weighs dense."""
        top = np.sort(dense)[-self.settings.candidates :]
        lo, hi = float(top.min()), float(top.max())
        d = np.clip((dense - lo) / (hi - lo), 0, None) if hi > lo else np.zeros_like(dense)
        lmax = float(lexical.max())
        l = lexical / lmax if lmax > 0 else np.zeros_like(lexical)
        return w * d + (1 - w) * l

    def search(
        self,
        query: str,
        k: int = 10,
        filters: dict[str, list[str]] | None = None,
        mode: SearchMode | str = SearchMode.HYBRID,
        per_case: bool = True,
    ) -> SearchResult:
        """The best ``k`` hits of the result set: the ``result_pool`` best cases, narrowed by
        ``filters``. Facets count that same set, so a facet's count is what choosing it shows."""
        started = time.perf_counter()
        mode = SearchMode(mode)  # a misspelt mode is an error, never a hybrid search
        filters = {f: v for f, v in (filters or {}).items() if v}
        qvec = self.embed_query(query)  # the judge weighs dense evidence in every mode
        tokens = self.index.analyzer(query)  # once: BM25, the judge and highlighting share them
        evidence = self.judge.query_evidence(query, qvec, tokens)
        ids, fused, dense, lexical = self.candidates(evidence, tokens, mode, qvec)
        fused = fused * self.kind_weight[ids]
        case_of = self.index.corpus.known_case
        chunks = self.index.chunks
        order = np.argsort(-fused, kind="stable")  # positions among the candidates, best first
        best: dict[str, int] = {}  # case id -> the position of its best chunk, best case first
        for j in order:
            best.setdefault(chunks[ids[j]].case_id, int(j))
            if len(best) >= self.settings.result_pool:
                break
        results = [cid for cid in best if case_matches(case_of(cid), filters)]
        if per_case:
            chosen = [best[cid] for cid in results[:k]]
        else:
            allowed = set(results)
            chosen = [int(j) for j in order if chunks[ids[j]].case_id in allowed][:k]
        hits = []
        for rank, j in enumerate(chosen, 1):  # only the returned hits are highlighted
            chunk = chunks[ids[j]]
            hits.append(
                Hit(
                    rank,
                    float(fused[j]),
                    case_of(chunk.case_id),
                    int(ids[j]),
                    chunk.start,
                    chunk.end,
                    chunk.text,
                    highlight(chunk.text, set(tokens), self.index.analyzer),
                    float(dense[j]),
                    float(lexical[j]),
                )
            )
        # Judged on the query's best cases before any filter: a case's confidence is the same
        # whatever k and the filters are, and a filter leaving only weak cases is a no-match.
        judged = [Scored(int(ids[j]), float(dense[j]), float(fused[j])) for j in list(best.values())[:JUDGED_CASES]]
        self.judge.rate(evidence, judged, hits)
        confidence = max((h.confidence for h in hits), default=0.0)
        return SearchResult(
            query,
            (time.perf_counter() - started) * 1000,
            confidence < self.settings.confidence_threshold,
            hits,
            confidence,
            count_facets([case_of(cid) for cid in results]),
            len(results),
        )

    def similar_cases(self, case_id: str, k: int = 5) -> list[tuple[Case, float]]:
        ids = self.index.case_ids
        if case_id not in ids:
            return []
        vecs = self.index.case_centroids
        sims = vecs @ vecs[ids.index(case_id)]
        out = []
        case_of = self.index.corpus.known_case
        for j in np.argsort(-sims):
            if ids[j] != case_id and case_of(ids[j]).kind != "section":
                out.append((case_of(ids[j]), float(sims[j])))
            if len(out) >= k:
                break
        return out
