"""The no-match judgement on the held-out third of the calibration queries (bench/calibration).

The weights were fitted on the other two thirds only (bench/calibrate.py); these queries
measure how the judgement does on text it has never seen."""

import hashlib
from collections import defaultdict

import pytest
from conftest import calibration_queries


def held_out() -> list[dict]:
    return [i for i in calibration_queries() if int(hashlib.sha256(i["query"].encode()).hexdigest(), 16) % 3 == 0]


@pytest.fixture(scope="module")
def flagged(engine) -> dict[str, list[bool]]:
    by_label = defaultdict(list)
    for item in held_out():
        by_label[item["label"]].append(engine.search(item["query"]).no_match)
    return by_label


def test_most_held_out_off_topic_queries_are_flagged(flagged):
    assert len(flagged["off"]) > 100
    assert sum(flagged["off"]) / len(flagged["off"]) >= 0.85


def test_held_out_on_topic_queries_are_rarely_flagged(flagged):
    assert len(flagged["on"]) > 100
    assert sum(flagged["on"]) / len(flagged["on"]) <= 0.04


def test_hits_of_an_answered_query_are_ordered_by_confidence(engine):
    hits = engine.search("tværkommunalt samarbejde om rekruttering af sygeplejersker", k=10).hits
    confidences = [h.confidence for h in hits]
    assert all(0.0 <= c <= 1.0 for c in confidences)
    assert confidences == sorted(confidences, reverse=True)
    assert confidences[0] > confidences[-1]
