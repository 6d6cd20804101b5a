"""Extractive answers: per cited case, the one or two sentences that best answer the question."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..index.analyzer import Analyzer
from ..index.embedders import Embedder
from ..search.retriever import Hit

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÆØÅ0-9\"“])|\n{2,}|\n(?=[-•–] )")
# Transcripts run headings into the text: "… klare selv Overordnet beskrivelse og formål Samarbejdet
# blev …". A capitalised phrase of 2-6 words after a lowercase word and before a capitalised
# word that starts a sentence is such a heading: it becomes a piece of its own (and is dropped).
_RUN_IN_HEADING = re.compile(r"(?<=[a-zæøå0-9,;)]) ([A-ZÆØÅ][a-zæøå]+(?: [a-zæøå]+){1,5}) (?=[A-ZÆØÅ][a-zæøå]+ [a-zæøå])")
_BULLET = re.compile(r"\s*[\uf0a7\uf0b7\uf0d8\uf076•▪●◦]\s*")  # PDF symbol-font bullets start list items
MIN_SENTENCE, MAX_SENTENCE = 40, 300  # shorter: headings; longer: headings run together by PDF conversion
PER_CASE = 2  # sentences quoted per case
NOT_ANSWERED = "Katalogerne indeholder ikke et svar på spørgsmålet."
# "Hvilke kommuner …?", "Which municipalities …?": the answer names them from the cases' metadata.
WHICH_MUNICIPALITIES = re.compile(r"^\s*(hvilke|hvilken)\s+(kommuner?|regioner?)\b|^\s*which\s+(municipalit|council|region)", re.I)


@dataclass
class Sentence:
    text: str
    hit: Hit
    score: float = 0.0


def split_sentences(text: str) -> list[str]:
    """Whole sentences only: no heading glued on, none that starts mid-sentence (a chunk's
    first words may continue a sentence of the chunk before)."""
    text = _BULLET.sub("\n- ", _RUN_IN_HEADING.sub(lambda m: f"\n\n{m.group(1)}\n\n", text))
    parts = [" ".join(p.split()).strip(" -•–") for p in _SENTENCE_END.split(text)]
    return [
        p for p in parts
        if MIN_SENTENCE <= len(p) <= MAX_SENTENCE and re.search(r"[a-zæøå]{3}", p) and re.match(r"[A-ZÆØÅ0-9\"“]", p)
    ]


def _tokens(analyzer: Analyzer, text: str) -> set[str]:
    return set(analyzer(text))


def choose_sentences(
    question: str, hits: list[Hit], embedder: Embedder, analyzer: Analyzer, qvec: np.ndarray, per_case: int = PER_CASE
) -> list[list[Sentence]]:
    """For each hit, its best sentences by meaning (embedder) and shared words, in document
    order, without near repeats; hits with no usable sentence are left out."""
    candidates = [Sentence(s, hit) for hit in hits for s in split_sentences(hit.text)]
    if not candidates:
        return []
    vectors = embedder.embed_passages([c.text for c in candidates])
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
