"""Extractive answers: the sentences of the trusted cases that state what the question asks.

Every whole sentence of each trusted case is a candidate. Each is scored by a logistic model
(``Settings.answer``, fitted by ``bench/answers_quality.py --fit`` on questions written for it)
over evidence that tells the sentence that answers from the one that only resembles the question:

- ``cosine``: the question's cosine with the sentence (its vector stored with the index);
- ``context``: the best cosine of the sentences just before and after (the answer often follows
  the sentence that sets it up);
- ``overlap``: the IDF-weighted share of the question's terms in the sentence;
- ``aspect``: the same for the terms that its case's title and municipality do not already
  account for: the question names the case, then what it wants to know of it;
- ``novelty``: the share of the sentence's terms that the question does not use (a sentence that
  only says the question back adds nothing);
- ``holds_kind``: the sentence holds the kind of fact asked for (an amount, a year, a name, …,
  ``facts.py``); ``figure``: it holds a number at all;
- ``heading``: it looks like a heading or a table row;
- ``first_case``: it belongs to the best case; ``in_passage``: to the passage the search returned;
- ``length``: log of its length, a prior on how much a sentence says.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from ..config import AnswerModel
from ..corpus.models import Case
from ..index.analyzer import Analyzer
from ..index.generation import Index
from ..index.sentences import quotable, sentence_pieces
from ..search.retriever import Hit
from .facts import any_figure, holds, looks_like_heading, question_kind

NOT_ANSWERED = "Katalogerne indeholder ikke et svar på spørgsmålet."
# "Hvilke kommuner …?", "Which municipalities …?": the answer names them from the cases' metadata.
WHICH_MUNICIPALITIES = re.compile(
    r"^\s*(hvilke|hvilken)\s+(kommuner?|regioner?)\b|^\s*which\s+(municipalit|council|region)", re.I
)
FEATURES = (
    "cosine",
    "context",
    "overlap",
    "aspect",
    "novelty",
    "holds_kind",
    "figure",
    "heading",
    "first_case",
    "in_passage",
    "length",
)
_NUMBERED = re.compile(r"^\d+(?:\.\d+)*\.?\s+")


@dataclass
class Candidate:
    text: str  # the sentence as quoted: whole, without a heading run into it
    hit: Hit  # the hit of its case
    position: int  # its place among the case's sentences
    cosine: float
    in_passage: bool
    features: dict[str, float] = field(default_factory=dict)
    score: float = 0.0  # the model's logit
    share: float = 0.0  # its softmax share among the question's candidates


def strip_heading(sentence: str, titles: list[str]) -> str:
    """The sentence without a heading run into its start ("2.3 Digitaliseringsforeningen på
    Sjælland 11 sjællandske kommuner …"): a section number and any of the case's titles."""
    folded = sorted({" ".join(t.split()) for t in titles if t}, key=len, reverse=True)
    changed = True
    while changed:
        changed = False
        rest = _NUMBERED.sub("", sentence)
        for title in folded:
            if rest.casefold().startswith(title.casefold() + " ") and re.match(
                r"[A-ZÆØÅ0-9\"“]", rest[len(title) + 1 :]
            ):
                rest = rest[len(title) + 1 :]
                break
        if rest != sentence:
            sentence, changed = rest, True
    return sentence


def _case_sentences(case: Case, index: Index) -> list[tuple[str, list[tuple[int, int]]]]:
    """The case's sentences in order, each with the (vector row, chunk) of its stored pieces: the
    piece it is, or the pieces it was cut into where a chunk ended inside it."""
    stored: list[tuple[str, int, int]] = []  # (piece, row, chunk)
    for c in index.case_chunks[case.id]:
        first = int(index.sentence_starts[c])
        stored += [(p, first + k, c) for k, p in enumerate(sentence_pieces(index.chunks[c].text))]
    out = []
    for sentence in sentence_pieces(case.text):
        rows = [(row, chunk) for piece, row, chunk in stored if piece in sentence or sentence in piece]
        if rows:
            out.append((sentence, rows))
    return out


def candidates(hits: list[Hit], index: Index, qvec: np.ndarray) -> list[Candidate]:
    """Every whole, quotable sentence of the hits' cases, with its cosine and its neighbours'."""
    found: list[Candidate] = []
    for hit in hits:
        sentences = _case_sentences(hit.case, index)
        cosines = [float((index.sentence_vectors[[r for r, _ in rows]] @ qvec).max()) for _, rows in sentences]
        titles = [hit.case.title, *(h.title for h in hit.case.headings)]
        seen: set[str] = set()
        for position, ((sentence, rows), cosine) in enumerate(zip(sentences, cosines)):
            text = strip_heading(sentence, titles)
            if not quotable(text) or text in seen:
                continue
            seen.add(text)
            around = [cosines[j] for j in (position - 1, position + 1) if 0 <= j < len(cosines)]
            candidate = Candidate(text, hit, position, cosine, any(chunk == hit.chunk for _, chunk in rows))
            candidate.features["context"] = max(around, default=cosine)
            found.append(candidate)
    return found


def _terms(analyzer: Analyzer, text: str) -> set[str]:
    return set(analyzer(text))


def score(
    question: str, found: list[Candidate], index: Index, term_weights: dict[str, float], model: AnswerModel
) -> list[Candidate]:
    """Sets each candidate's features, logit and share; returns them best first."""
    if not found:
        return []
    kind = question_kind(question)
    analyzer = index.analyzer
    asked = _terms(analyzer, question)

    def idf_share(wanted: set[str], present: set[str]) -> float:
        return sum(term_weights.get(t, 0.0) for t in wanted & present) / (
            sum(term_weights.get(t, 0.0) for t in wanted) or 1.0
        )

    first_case = found[0].hit.case.id
    aspects: dict[str, set[str]] = {}
    for c in found:
        case = c.hit.case
        if case.id not in aspects:
            aspects[case.id] = asked - _terms(
                analyzer, " ".join([case.title, *case.municipalities, *case.organisations])
            )
        aspect, terms = aspects[case.id], _terms(analyzer, c.text)
        c.features.update(
            cosine=c.cosine,
            overlap=idf_share(asked, terms),
            aspect=idf_share(aspect, terms),
            novelty=len(terms - asked) / len(terms) if terms else 0.0,
            holds_kind=float(holds(kind, c.text)),
            figure=float(any_figure(c.text)),
            heading=float(looks_like_heading(c.text)),
            first_case=float(c.hit.case.id == first_case),
            in_passage=float(c.in_passage),
            length=math.log(len(c.text)),
        )
        c.score = sum(getattr(model, name) * c.features[name] for name in FEATURES)
    top = max(c.score for c in found)
    weights = [math.exp(c.score - top) for c in found]
    norm = sum(weights)
    for c, w in zip(found, weights):
        c.share = w / norm
    return sorted(found, key=lambda c: -c.score)


def feature_matrix(found: list[Candidate]) -> np.ndarray:
    """The candidates' features in the order of FEATURES (for fitting the model)."""
    return np.array([[c.features[name] for name in FEATURES] for c in found], dtype=np.float64)
