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


BUNDLED = ("engine", "client", "corpus", "dev_queries")  # the fixtures below that load the real corpus or model


def pytest_collection_modifyitems(items):
    """A test that uses the bundled corpus's fixtures must say so with the marker ``corpus``
    (``pytest -m "not corpus"`` runs the rest in seconds, without the model); a module's own
    fixture of the same name (tests/test_tiny_engine.py) is not the bundled one."""
    unmarked = []
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        defs = info.name2fixturedefs if info else {}
        bundled = [n for n in BUNDLED if n in defs and defs[n][-1].func.__module__ == __name__]
        if bundled and item.get_closest_marker("corpus") is None:
            unmarked.append(f"{item.nodeid} ({', '.join(bundled)})")
    if unmarked:
        raise pytest.UsageError("tests på det medfølgende korpus mangler @pytest.mark.corpus:\n" + "\n".join(unmarked))


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
