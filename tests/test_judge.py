"""The no-match judgement on the held-out third of the calibration queries (bench/calibration).

The weights were fitted on the other two thirds only (bench/calibrate.py); these queries
measure how the judgement does on text it has never seen."""

from collections import defaultdict

import pytest

from casefinder.evaluate import split_of  # the split the weights were fitted by
from conftest import calibration_queries

pytestmark = pytest.mark.corpus  # the bundled corpus, its index and the real model


def held_out() -> list[dict]:
    return [i for i in calibration_queries() if split_of(i["query"]) == "holdout"]


@pytest.fixture(scope="module")
def flagged(engine) -> dict[str, list[bool]]:
    by_label = defaultdict(list)
    for item in held_out():
        by_label[item["label"]].append(engine.search(item["query"]).no_match)
    return by_label


def test_most_held_out_off_topic_queries_are_flagged(flagged):
    # 90.7 % as shipped (bench/calibration/report.md). The held-out third includes queries written
    # after the features, by writers who did not know them; without the sentence features,
    # refitted, the judge flags 84.0 %.
    assert len(flagged["off"]) > 200
    assert sum(flagged["off"]) / len(flagged["off"]) >= 0.90


def test_held_out_on_topic_queries_are_rarely_flagged(flagged):
    assert len(flagged["on"]) > 200
    assert sum(flagged["on"]) / len(flagged["on"]) <= 0.04


def test_the_verdict_does_not_depend_on_how_many_hits_are_asked_for(engine):
    """A chat bot asking for one hit must get the same no_match and confidence as the page's ten."""
    for item in held_out()[:200]:
        one, ten = engine.search(item["query"], k=1), engine.search(item["query"], k=10)
        assert one.no_match == ten.no_match, item["query"]
        assert one.hits[0].confidence == ten.hits[0].confidence, item["query"]


def test_english_words_count_by_the_catalogue_words_they_begin_like(engine):
    judge, retriever = engine.retriever.judge, engine.retriever

    def evidence(query):
        return judge.query_evidence(query, retriever.embed_query(query), retriever.index.analyzer(query))

    cognate = evidence("rehabilitation of unemployed citizens")  # ~ "rehabilitering", a catalogue word
    assert cognate.english > 0.9 and cognate.cognates > 0.5 and cognate.cognate_topic > 1.0
    unrelated = evidence("cheapest flights to barcelona")
    assert unrelated.cognates == unrelated.cognate_topic == 0.0


def test_only_function_words_count_as_function_words(engine):
    """ "kommunen" is ignored by search like a function word, but it is a noun of the catalogues'
    subject: it must not lend a question about something else the catalogues' voice."""
    judge, retriever = engine.retriever.judge, engine.retriever

    def function_words(query):
        return judge.query_evidence(query, retriever.embed_query(query), retriever.index.analyzer(query)).function_words

    assert function_words("venteliste til kolonihave i kommunen") == function_words("venteliste til kolonihave i")
    assert function_words("hvornår får jeg min løn") < 0 < function_words("Hvilke kommuner samarbejder om indkøb")


def test_hits_of_an_answered_query_are_ordered_by_confidence(engine):
    hits = engine.search("tværkommunalt samarbejde om rekruttering af sygeplejersker", k=10).hits
    confidences = [h.confidence for h in hits]
    assert all(0.0 <= c <= 1.0 for c in confidences)
    assert confidences == sorted(confidences, reverse=True)
    assert confidences[0] > confidences[-1]
