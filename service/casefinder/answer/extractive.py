"""Extractive answers: per cited case, the one or two sentences that best answer the question."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..index.analyzer import Analyzer
from ..index.sentences import quotable, sentence_pieces
from ..index.store import Index
from ..search.retriever import Hit

PER_CASE = 2  # sentences quoted per case
NOT_ANSWERED = "Katalogerne indeholder ikke et svar på spørgsmålet."
# "Hvilke kommuner …?", "Which municipalities …?": the answer names them from the cases' metadata.
WHICH_MUNICIPALITIES = re.compile(r"^\s*(hvilke|hvilken)\s+(kommuner?|regioner?)\b|^\s*which\s+(municipalit|council|region)", re.I)


@dataclass
class Sentence:
    text: str
    hit: Hit
    score: float = 0.0


def _tokens(analyzer: Analyzer, text: str) -> set[str]:
    return set(analyzer(text))


def choose_sentences(question: str, hits: list[Hit], index: Index, qvec: np.ndarray, per_case: int = PER_CASE
                     ) -> list[list[Sentence]]:
    """For each hit, its best sentences by meaning (their vectors stored with the index) and
    shared words, in document order, without near repeats; hits with no usable sentence are left out."""
    candidates, rows = [], []
    for hit in hits:  # a hit's text is its chunk's, whose pieces the index embedded in this order
        for row, piece in enumerate(sentence_pieces(hit.text), start=int(index.sentence_starts[hit.chunk])):
            if quotable(piece):
                candidates.append(Sentence(piece, hit))
                rows.append(row)
    if not candidates:
        return []
    vectors = index.sentence_vectors[rows]
    analyzer = index.analyzer
    q_tokens = _tokens(analyzer, question)
    for c, d in zip(candidates, vectors @ qvec):
        overlap = len(q_tokens & _tokens(analyzer, c.text)) / len(q_tokens) if q_tokens else 0.0
        c.score = float(d) + 0.15 * overlap
    answers = []
    for hit in hits:
        own = [(c, v) for c, v in zip(candidates, vectors) if c.hit is hit]
        own.sort(key=lambda cv: -cv[0].score)
        chosen: list[tuple[Sentence, np.ndarray]] = []
        for c, v in own:
            if chosen and c.score < chosen[0][0].score - 0.04:
                break
            if all(float(v @ cv) < 0.95 for _, cv in chosen):
                chosen.append((c, v))
            if len(chosen) >= per_case:
                break
        if chosen:
            order = {c.text: i for i, c in enumerate(candidates)}
            answers.append(sorted((c for c, _ in chosen), key=lambda c: order[c.text]))
    return answers
