"""Does a passage answer the query? A calibrated confidence from corpus evidence.

No example texts and no lists of topics: every feature measures the query against the
corpus itself, or against general Danish and English word frequencies (``wordfreq``).

Per query:
- ``coverage``: the IDF-weighted share of its terms (stemmed, folded, decompounded) that the
  catalogues contain at all; a term they never use weighs as the rarest term.
- ``english``: the share of its words that are far more common in English than in Danish.
  The catalogues are Danish, so for an English query the Danish lexical features say nothing:
  they are weighed by (1 - english), the English ones below by ``english``, and the dense
  evidence carries both.
- ``cognates``: the share of its less common English words whose first five letters begin a
  word of the catalogues ("rehabilitation" ~ "rehabilitering", "digital" ~ "digitalisering").
- ``cognate_topic``: the ``topic_max`` (below) of those catalogue words: "rehabilitation"
  points to "rehabilitering" (3.3: far more common in the catalogues than in general Danish),
  "pension" to "pension" (1.8: common in both), so the first speaks more for the catalogues.
- ``topic_mean`` / ``topic_max``: for each content word (stemmed and folded), log10 of how
  much more often the catalogues use it than general Danish does. "hjemmepleje" and
  "jobcenter" score high; "skak", "feriepenge" and "kolonihave" score low. A word that
  neither knows is judged by its compound parts.
- ``function_words``: the same ratio, averaged over the query's function words: "jeg", "min",
  "mig" are common in Danish but rare in the catalogues, which never address a person's
  own situation.
- ``dense_mean``: its mean cosine over a fixed sample of the corpus's chunks: how near the
  query is to the catalogues as a whole, whatever passage it lands on.
- ``sentence_mean``: the same over a fixed sample of the corpus's sentences. A query is one
  sentence or less; how near it lies to the catalogues' sentences in general tells a question
  in their language and subject matter from one in another's.
Per hit:
- ``dense_z``: the passage's cosine with the query, in standard deviations above the query's
  mean cosine over a fixed sample of the corpus's chunks: how far the passage stands out from
  the rest of the corpus, whatever the query's language and length.
- ``case_z``: the same for the passage's whole case (the mean of its chunks' vectors). A
  passage that stands out in a case that does not (a table row, a line of boilerplate that
  happens to lie near the query) is a stray match, not an answer.
- ``sentence``: the query's cosine with the passage's closest sentence (each sentence embedded
  on its own with the index). A passage is about many things; the sentence that answers
  says one, so an answer shows as a close sentence, and a passage that is only near the query
  as a whole does not. (The raw cosine: against a sample of sentences, as for ``dense_z``,
  it told on- from off-topic queries less well.)
- ``lexical``: the IDF-weighted share of the query's terms (stemmed, folded, decompounded)
  that the passage contains.

The confidence is a logistic function of these, with the weights of
``Settings.confidence`` fitted by ``bench/calibrate.py`` on calibration queries that live
under ``bench/calibration/`` (never shipped).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from wordfreq import get_frequency_dict, word_frequency

from ..config import ConfidenceModel
from ..corpus.text_tools import fold
from ..index.analyzer import function_words, stem, stop_words, words
from ..index.generation import Index

COGNATE_PREFIX = 5  # letters an English word shares with a catalogue word to count as known
REFERENCE_SAMPLE = 2048  # chunks whose cosines describe "the corpus" for a query
FLOOR = 1e-7  # frequency of a word never seen, in either source
JUDGED_CASES = 10  # a query is judged on its best this many cases (bench/calibrate.py fits on them)
# The features, named as the weights of the model that weighs them (one list: a reordered or
# renamed feature cannot meet another's weight).
FEATURES = tuple(name for name in ConfidenceModel.model_fields if name not in ("bias", "relative_power"))


@lru_cache
def general_danish() -> dict[str, float]:
    """Frequency of each stem in general Danish (wordfreq's word list, stems summed)."""
    stems: dict[str, float] = {}
    for word, freq in get_frequency_dict("da").items():
        stems[stem(word)] = stems.get(stem(word), 0.0) + freq
    return stems


def english_share(tokens: list[str]) -> float:
    english = sum(word_frequency(t, "en") > 10 * word_frequency(t, "da") + 1e-6 for t in tokens)
    return english / len(tokens) if tokens else 0.0


class Scored(NamedTuple):
    """A chunk of the result set, as the judge sees it (a Hit has the same fields)."""

    chunk: int
    dense: float
    score: float


@dataclass(frozen=True)
class QueryEvidence:
    """What the judge knows of a query before looking at any passage."""

    vector: np.ndarray  # the query's embedding
    terms: dict[str, float]  # BM25 term -> IDF weight
    known: float  # the IDF share of those terms that the corpus uses at all (``coverage``)
    english: float
    cognates: float
    cognate_topic: float
    topic_mean: float
    topic_max: float
    function_words: float
    dense_mean: float
    dense_sd: float
    sentence_mean: float


@dataclass(frozen=True)
class Evidence:
    query: QueryEvidence
    dense: float
    dense_z: float
    case_z: float
    lexical: float
    sentence: float

    def features(self) -> dict[str, float]:
        """By name (FEATURES); Danish evidence is scaled by (1 - english), English by english."""
        q, danish = self.query, 1.0 - self.query.english
        return {
            "dense_z": self.dense_z,
            "case_z": self.case_z,
            "dense_mean": q.dense_mean,
            "lexical": self.lexical * danish,
            "coverage": q.known * danish,
            "cognates": q.cognates * q.english,
            "cognate_topic": q.cognate_topic * q.english,
            "topic_mean": q.topic_mean * danish,
            "topic_max": q.topic_max * danish,
            "function_words": q.function_words * danish,
            "english": q.english,
            "sentence": self.sentence,
            "sentence_mean": q.sentence_mean,
        }


def logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


class Judge:
    def __init__(self, index: Index, model: ConfidenceModel):
        self.index = index
        self.model = model
        scores = index.bm25.scores
        self._indptr, self._indices = scores["indptr"], scores["indices"]
        self._vocab = index.bm25.vocab_dict
        self._n = max(1, len(index.chunks))
        self._corpus_freq = index.words.stem_frequency
        self._case_of_chunk, self._case_centroids = index.chunk_case, index.case_centroids
        self._sentences, self._sentence_starts = index.sentence_vectors, index.sentence_starts
        # Each prefix of the catalogues' words, with the topicality of its most topical word.
        self._prefix_topic: dict[str, float] = {}
        for word in index.words.words:
            if len(word) >= COGNATE_PREFIX:
                prefix, topic = word[:COGNATE_PREFIX], self._topicality(word)
                self._prefix_topic[prefix] = max(topic, self._prefix_topic.get(prefix, topic))
        self._reference = self._sample(index.vectors)
        self._sentence_reference = self._sample(index.sentence_vectors)

    @staticmethod
    def _sample(vectors: np.ndarray) -> np.ndarray:
        """A fixed sample of REFERENCE_SAMPLE rows: the same for every worker and every start."""
        n = len(vectors)
        rows = (
            np.sort(np.random.default_rng(0).choice(n, size=min(n, REFERENCE_SAMPLE), replace=False))
            if n
            else np.arange(0)
        )
        return np.ascontiguousarray(vectors[rows])

    # ------------------------------------------------------------------ lexical statistics

    def _df(self, term: str) -> int:
        i = self._vocab.get(term)
        return 0 if i is None else int(self._indptr[i + 1] - self._indptr[i])

    def _contains(self, chunk: int, term: str) -> bool:
        i = self._vocab.get(term)
        if i is None:
            return False
        docs = self._indices[self._indptr[i] : self._indptr[i + 1]]
        at = int(np.searchsorted(docs, chunk))
        return at < len(docs) and int(docs[at]) == chunk

    def _topicality(self, word: str) -> float:
        """log10(frequency in the catalogues / frequency in general Danish) of a word's stem."""
        general = general_danish()
        term = stem(word)
        if term not in self._corpus_freq and term not in general:
            parts = self.index.analyzer.split_compound(fold(word))
            if parts:
                return float(np.mean([self._stem_ratio(stem(p), general) for p in parts]))
        return self._stem_ratio(term, general)

    def _cognates(self, tokens: list[str]) -> tuple[float, float]:
        """The share of the less common words that begin like a catalogue word, and the
        topicality of the most topical catalogue word they begin like."""
        rare = [fold(t) for t in tokens if len(t) >= COGNATE_PREFIX and word_frequency(t, "en") < 1e-4]
        topics = [self._prefix_topic[t[:COGNATE_PREFIX]] for t in rare if t[:COGNATE_PREFIX] in self._prefix_topic]
        return (len(topics) / len(rare) if rare else 0.0), max(topics, default=0.0)

    def _stem_ratio(self, term: str, general: dict[str, float]) -> float:
        return math.log10((self._corpus_freq.get(term, 0.0) + FLOOR) / (general.get(term, 0.0) + FLOOR))

    # ------------------------------------------------------------------ evidence

    def term_weights(self, tokens: list[str]) -> tuple[dict[str, float], float]:
        """The query's BM25 terms with their IDF, and the IDF share of them the corpus knows."""
        terms, known = {}, 0.0
        for term in dict.fromkeys(tokens):
            df = self._df(term)
            terms[term] = math.log(1.0 + (self._n - df + 0.5) / (df + 0.5))
            known += terms[term] if df else 0.0
        total = sum(terms.values())
        return terms, (known / total if total else 0.0)

    def query_evidence(self, query: str, qvec: np.ndarray, tokens: list[str]) -> QueryEvidence:
        """``tokens``: the query through the index's analyzer (the BM25 terms)."""
        terms, known = self.term_weights(tokens)
        tokens = [t for t in words(query) if not t.isdigit()]
        function = [t for t in tokens if fold(t) in function_words()]  # "kommunen" is neither kind
        content = [t for t in tokens if fold(t) not in stop_words() and len(t) > 1]
        topic = [self._topicality(t) for t in content] or [0.0]
        function_topic = [self._topicality(t) for t in function] or [0.0]
        cosines = self._reference @ qvec if len(self._reference) else np.zeros(1)
        sentences = self._sentence_reference @ qvec if len(self._sentence_reference) else np.zeros(1)
        cognates, cognate_topic = self._cognates(tokens)
        return QueryEvidence(
            vector=qvec,
            terms=terms,
            known=known,
            english=english_share(tokens),
            cognates=cognates,
            cognate_topic=cognate_topic,
            topic_mean=float(np.mean(topic)),
            topic_max=float(max(topic)),
            function_words=float(np.mean(function_topic)),
            dense_mean=float(cosines.mean()),
            dense_sd=float(cosines.std()) or 1.0,
            sentence_mean=float(sentences.mean()),
        )

    def evidence(self, query: QueryEvidence, chunk: int, dense: float) -> Evidence:
        total = sum(query.terms.values())
        present = sum(w for t, w in query.terms.items() if self._contains(chunk, t))
        case = float(self._case_centroids[self._case_of_chunk[chunk]] @ query.vector)
        first, end = self._sentence_starts[chunk], self._sentence_starts[chunk + 1]
        # A passage with no whole sentence (a table, a list of names) is its own closest sentence.
        sentence = float((self._sentences[first:end] @ query.vector).max()) if end > first else dense
        return Evidence(
            query,
            dense,
            (dense - query.dense_mean) / query.dense_sd,
            (case - query.dense_mean) / query.dense_sd,
            present / total if total else 0.0,
            sentence,
        )

    def logit(self, evidence: Evidence) -> float:
        features = evidence.features()
        return self.model.bias + sum(getattr(self.model, name) * features[name] for name in FEATURES)

    def rate(self, evidence: QueryEvidence, judged: list[Scored], hits: list) -> None:
        """Set each hit's confidence: that the catalogues answer the query at all, times how
        near the hit is to the best answer.

        The first comes from the most convincing of ``judged``: the best chunks of
        its best ``JUDGED_CASES`` cases, whatever hits were asked for, so one hit and ten, or a
        filtered list, get the same verdict. A hit's confidence is that times its fused score
        relative to the best one's, to the power ``relative_power``: a case far behind the best
        is unlikely to be the answer even to a question that has one."""
        if not judged:
            return
        answered = logistic(max(self.logit(self.evidence(evidence, c.chunk, c.dense)) for c in judged))
        top = max(c.score for c in judged)
        for h in hits:
            relative = h.score / top if top > 0 else 1.0
            h.confidence = answered * max(0.0, relative) ** self.model.relative_power
