"""Extractive answers: the sentences of the top passages that best answer the question."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..index.analyzer import Analyzer
from ..index.embedders import Embedder
from ..search.retriever import Hit

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÆØÅ0-9\"“])|\n{2,}|\n(?=[-•–] )")
MAX_SENTENCE = 300  # longer "sentences" are headings run together by PDF conversion
NOT_ANSWERED = "Katalogerne indeholder ikke et svar på spørgsmålet."


@dataclass
class Sentence:
    text: str
    hit: Hit
    score: float = 0.0


def split_sentences(text: str) -> list[str]:
    parts = [" ".join(p.split()).strip(" -•–") for p in _SENTENCE_END.split(text)]
    return [p for p in parts if 40 <= len(p) <= MAX_SENTENCE and re.search(r"[a-zæøå]{3}", p)]


def _tokens(analyzer: Analyzer, text: str) -> set[str]:
    return set(analyzer(text))


def choose_sentences(
    question: str, hits: list[Hit], embedder: Embedder, analyzer: Analyzer, qvec: np.ndarray, limit: int = 3
) -> list[Sentence]:
    """Score every sentence of the hits' passages by meaning (embedder) and shared words,
    then take the best ones that do not repeat each other."""
    candidates = [Sentence(s, hit) for hit in hits for s in split_sentences(hit.text)]
    if not candidates:
        return []
    vectors = embedder.embed_passages([c.text for c in candidates])
    dense = vectors @ qvec
    q_tokens = _tokens(analyzer, question)
    for c, d in zip(candidates, dense):
        overlap = len(q_tokens & _tokens(analyzer, c.text)) / len(q_tokens) if q_tokens else 0.0
        c.score = float(d) + 0.15 * overlap + 0.02 * (len(hits) - c.hit.rank) / len(hits)
    chosen: list[tuple[Sentence, np.ndarray, set[str]]] = []
    for i in np.argsort([-c.score for c in candidates]):
        c, v, toks = candidates[i], vectors[i], _tokens(analyzer, candidates[i].text)
        near_duplicate = any(
            float(v @ cv) > 0.95 or len(toks & ct) / max(1, min(len(toks), len(ct))) > 0.7 for _, cv, ct in chosen
        )
        if not near_duplicate:
            chosen.append((c, v, toks))
        if len(chosen) >= limit:
            break
    best = chosen[0][0].score if chosen else 0
    # Keep document order within a case and drop sentences far weaker than the best.
    return [c for c, _, _ in chosen if c.score >= best - 0.06]
