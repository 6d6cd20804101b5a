"""Clean text for display and indexing, with an exact map back to the raw file."""

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from casefinder.corpus.cleaning import CleanText, normalise


def clean(raw: str) -> str:
    return normalise(CleanText.identity(raw)).text


def test_line_end_hyphenation_is_joined():
    assert clean("den kommunale opgave-\nløsning er") == "den kommunale opgaveløsning er"


def test_shared_suffix_hyphen_is_kept():
    assert clean("Social- og Sundhedsforvaltningen") == "Social- og Sundhedsforvaltningen"
    assert clean("Social-\nog Sundhedsforvaltningen") == "Social- og Sundhedsforvaltningen"


def test_markup_and_toc_dots_are_removed():
    assert clean("<b>FORORD</b> .....\t<b>5</b>") == "FORORD 5"
    assert clean("## › CASE\n\n**Fed tekst**") == "CASE\n\nFed tekst"


def test_whitespace_is_normalised_and_paragraphs_kept():
    assert clean("En  linje.\n \n\nNæste afsnit") == "En linje.\n\nNæste afsnit"
    assert clean("hård-\nombrudt tekst\nfortsætter her") == "hårdombrudt tekst fortsætter her"
    assert clean("Liste:\n- et punkt\n- et andet") == "Liste:\n- et punkt\n- et andet"
    assert clean("midt i en\n\nsætning") == "midt i en sætning"


@pytest.mark.corpus
def test_every_kept_character_maps_to_itself_in_the_raw_text(corpus):
    for doc in corpus.documents:
        ct = doc.clean
        for i in range(0, len(ct.text), 97):
            if not ct.text[i].isspace():
                assert doc.raw[ct.offsets[i]] == ct.text[i]


@pytest.mark.corpus
@hsettings(max_examples=300, deadline=None)
@given(data=st.data())
def test_offset_map_round_trips_on_random_spans(corpus, data):
    doc = data.draw(st.sampled_from(corpus.documents))
    n = len(doc.clean.text)
    a = data.draw(st.integers(0, n - 1))
    b = data.draw(st.integers(a + 1, min(n, a + 3000)))
    raw_start, raw_end = doc.clean.to_raw(a, b)
    assert 0 <= raw_start < raw_end <= len(doc.raw)
    assert doc.clean.to_clean(raw_start, raw_end) == (a, b)
    # Cleaning only drops characters and rewrites whitespace/hyphens, so the clean
    # span's letters appear, in order, in the raw span.
    raw_letters = iter(ch for ch in doc.raw[raw_start:raw_end] if ch.isalnum())
    assert all(ch in raw_letters for ch in doc.clean.text[a:b] if ch.isalnum())
