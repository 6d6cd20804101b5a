"""Search by BM25 alone, over chunks made from the parsed corpus: what the service answers with
while no whole index can be served (first start, or vectors being repaired). No judge: without
vectors there is no evidence for confidence, so every hit has confidence 0 and only an empty
result is a no-match."""

from __future__ import annotations

import time

import numpy as np

from ..config import Settings
from ..corpus.models import Case
from ..corpus.parse import Corpus
from ..index.analyzer import Analyzer, learn_vocabulary
from ..index.build import lexical_index
from ..index.chunking import chunk_cases
from .highlight import highlight
from .retriever import Hit, SearchResult, case_matches, count_facets


class LexicalRetriever:
    def __init__(self, corpus: Corpus, settings: Settings):
        self.corpus, self.settings = corpus, settings
        self.chunks = chunk_cases(corpus.cases, settings.chunk_size, settings.chunk_overlap)
        self.analyzer = Analyzer(learn_vocabulary(c.text for c in corpus.cases))
        self.bm25 = lexical_index(self.chunks, self.analyzer)

    def search(
        self, query: str, k: int = 10, filters: dict[str, list[str]] | None = None, per_case: bool = True
    ) -> SearchResult:
        started = time.perf_counter()
        filters = {f: v for f, v in (filters or {}).items() if v}
        tokens = self.analyzer(query)
        scores = self.bm25.get_scores(tokens).astype(np.float32) if tokens else np.zeros(len(self.chunks), np.float32)
        order = [int(i) for i in np.argsort(-scores, kind="stable") if scores[i] > 0]
        best: dict[str, int] = {}
        for i in order:
            best.setdefault(self.chunks[i].case_id, i)
            if len(best) >= self.settings.result_pool:
                break
        results = [cid for cid in best if case_matches(self.corpus.known_case(cid), filters)]
        allowed = set(results)
        chosen = (
            [best[cid] for cid in results[:k]]
            if per_case
            else [i for i in order if self.chunks[i].case_id in allowed][:k]
        )
        hits = []
        for rank, i in enumerate(chosen, 1):
            chunk = self.chunks[i]
            hits.append(
                Hit(
                    rank,
                    float(scores[i]),
                    self.corpus.known_case(chunk.case_id),
                    i,
                    chunk.start,
                    chunk.end,
                    chunk.text,
                    highlight(chunk.text, set(tokens), self.analyzer),
                    0.0,
                    float(scores[i]),
                )
            )
        return SearchResult(
            query,
            (time.perf_counter() - started) * 1000,
            not hits,
            hits,
            0.0,
            count_facets([self.corpus.known_case(cid) for cid in results]),
            len(results),
        )

    def similar_cases(self, case_id: str, k: int = 5) -> list[tuple[Case, float]]:
        return []  # similarity needs the vectors
