"""Shared fixtures: the real corpus, the real bundled model and the index, loaded once per run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from casefinder.api.app import create_app
from casefinder.config import Settings
from casefinder.corpus.parse import load_corpus
from casefinder.engine import Casefinder
from casefinder.evaluate import load_queries

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DEV_QUERIES = SHARED / "eval" / "queries_dev.jsonl"
# Our own queries, written for calibration and quality (bench/calibrate.py, bench/quality.py).
CALIBRATION = [ROOT / "bench" / "calibration" / name for name in ("queries.jsonl", "paraphrases.jsonl")]
ODENSE_ID = "kl-samarbejde-2019-odense-kommune-samarbejde-mellem-akutteam-og-misbrugscenter"


def pytest_collection_modifyitems(items):
    """Tests that use the bundled corpus's engine get the marker ``corpus``; the others work on
    tiny corpora and single modules: ``pytest -m "not corpus"`` runs those alone, in seconds."""
    for item in items:
        if {"engine", "client", "corpus"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.corpus)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def corpus(settings):
    return load_corpus(settings.corpus_dir)


@pytest.fixture(scope="session")
def engine(settings) -> Casefinder:
    # Opens the published generation of index/; where there is none (a fresh clone) or it is stale,
    # builds one from the shipped embedding cache in seconds. Once per test run.
    return Casefinder.load(settings, progress=False)


@pytest.fixture(scope="session")
def client(engine, settings):
    with TestClient(create_app(settings, engine)) as c:
        yield c


@pytest.fixture(scope="session")
def dev_queries() -> list[dict]:
    if not DEV_QUERIES.exists():
        pytest.skip("../shared/eval/queries_dev.jsonl findes ikke ved siden af repoet")
    return [json.loads(line) for line in DEV_QUERIES.read_text("utf-8").splitlines() if line.strip()]


def calibration_queries() -> list[dict]:
    return [item for path in CALIBRATION for item in load_queries(path)]


def case_by_title(corpus, catalogue: str, fragment: str):
    found = [c for c in corpus.cases if c.catalogue == catalogue and fragment.lower() in c.title.lower()]
    assert found, f"ingen case med '{fragment}' i {catalogue}"
    return found[0]
