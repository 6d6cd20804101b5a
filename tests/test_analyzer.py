"""The Danish analyzer behind BM25: each step with Danish examples."""

import pytest

from casefinder.index.analyzer import Analyzer, learn_vocabulary, stem, stop_words


def test_snowball_stemming_merges_inflections():
    assert stem("kommunerne") == stem("kommuner") == stem("kommune")
    assert stem("udleveringen") == stem("udlevering")


def test_folding_makes_ascii_spellings_match():
    assert stem("ældre") == stem("aeldre")
    assert stem("Hjørring") == stem("Hjoerring")
    assert stem("områdeledelse") == stem("omraadeledelse")


def test_stop_words_are_dropped():
    analyzer = Analyzer()
    assert "og" in stop_words()
    assert analyzer("samarbejde og af i med") == [stem("samarbejde")]


def test_decompounding_with_corpus_vocabulary():
    vocabulary = learn_vocabulary(["medicin medicin udlevering udlevering borger borger"])
    analyzer = Analyzer(vocabulary)
    assert analyzer.split_compound("medicinudlevering") == ("medicin", "udlevering")
    # "udlevering af medicin" meets "medicinudlevering"
    assert set(analyzer("udlevering af medicin")) <= set(analyzer("medicinudlevering"))
    # Linking -s-: "borgers|udlevering"
    assert analyzer.split_compound("borgersudlevering") == ("borger", "udlevering")
    # Unknown parts stay whole.
    assert analyzer.split_compound("kanelsnegle") == ()


@pytest.mark.corpus
def test_vocabulary_is_learned_from_the_real_corpus(engine):
    analyzer = engine.index.analyzer
    assert analyzer.split_compound("medicinudlevering") == ("medicin", "udlevering")
    assert "arbejdsmarked" in analyzer.vocabulary or "arbejdsmarkedet" in analyzer.vocabulary
