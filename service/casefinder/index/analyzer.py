"""Danish analyzer for BM25: stop words, Snowball stemming, æøå folding, decompounding."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import Stemmer

from ..corpus.text_tools import fold

_TOKEN = re.compile(r"[0-9a-zæøåéü]+", re.I)
MIN_PART = 4  # shortest compound part we trust ("medicin|udlevering", not "af|tale")


def _word_list(name: str) -> frozenset[str]:
    return frozenset(fold(w) for w in resources.files("casefinder.data").joinpath(name).read_text("utf-8").split())


@lru_cache
def function_words() -> frozenset[str]:
    """Danish function words: pronouns, prepositions, question words and the like."""
    return _word_list("stopwords_da.txt")


@lru_cache
def stop_words() -> frozenset[str]:
    """Words search ignores: the function words, and "kommune" in its forms, which nearly every
    case and every query about a municipality has."""
    return function_words() | _word_list("stopwords_domain_da.txt")


@lru_cache
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("danish")


def stem(word: str) -> str:
    """Stem, then fold: "ældre" and "aeldre" both become "aeldr"."""
    return fold(_stemmer().stemWord(word.lower()))


def words(text: str) -> list[str]:
    return [w.lower() for w in _TOKEN.findall(text)]


def learn_vocabulary(texts: Iterable[str], min_count: int = 2) -> list[str]:
    """Folded words frequent enough in the corpus to count as compound parts."""
    counts = Counter(fold(w) for t in texts for w in words(t))
    return sorted(w for w, n in counts.items() if n >= min_count and len(w) >= MIN_PART and not w.isdigit())


class Analyzer:
    """text -> BM25 tokens. Compounds whose parts are corpus words also yield the parts."""

    def __init__(self, vocabulary: Iterable[str] = ()):
        self.vocabulary = frozenset(vocabulary)
        self._split_cache: dict[str, tuple[str, ...]] = {}
        self._term_cache: dict[str, tuple[str, ...]] = {}

    def split_compound(self, folded: str) -> tuple[str, ...]:
        """ "medicinudlevering" -> ("medicin", "udlevering"); () when no split is known."""
        if folded in self._split_cache:
            return self._split_cache[folded]
        best: tuple[str, ...] = ()
        best_score = 0
        for i in range(MIN_PART, len(folded) - MIN_PART + 1):
            left, right = folded[:i], folded[i:]
            # Danish linking letters: "arbejds|rettet", "børne|område".
            if left not in self.vocabulary and not (
                left[-1] in "se" and left[:-1] in self.vocabulary and len(left) > MIN_PART
            ):
                continue
            right_parts = (right,) if right in self.vocabulary else self.split_compound(right)
            if not right_parts:
                continue
            score = min(len(left), len(right))
            if score > best_score:
                base = left if left in self.vocabulary else left[:-1]
                best, best_score = (base, *right_parts), score
        self._split_cache[folded] = best
        return best

    def word_terms(self, word: str) -> tuple[str, ...]:
        """The BM25 terms of one word (its stem, then its compound parts' stems); cached."""
        terms = self._term_cache.get(word)
        if terms is None:
            folded = fold(word)
            if folded in stop_words() or len(folded) < 2:
                terms = ()
            else:
                parts = self.split_compound(folded) if len(folded) >= 2 * MIN_PART + 1 else ()
                terms = (stem(word), *(stem(p) for p in parts))
            if len(self._term_cache) < 500_000:
                self._term_cache[word] = terms
        return terms

    def __call__(self, text: str) -> list[str]:
        return [t for word in words(text) for t in self.word_terms(word)]


@dataclass(frozen=True)
class WordStatistics:
    """How often the corpus uses each word stem, and which (folded) words it uses at all:
    computed once per build, for the no-match judgement."""

    stem_frequency: dict[str, float]
    words: frozenset[str]

    @classmethod
    def of(cls, texts: Iterable[str]) -> WordStatistics:
        surface = Counter(fold(w) for text in texts for w in words(text))
        counts: Counter[str] = Counter()
        for word, n in surface.items():
            counts[stem(word)] += n
        total = max(1, sum(counts.values()))
        return cls({t: n / total for t, n in counts.items()}, frozenset(surface))
