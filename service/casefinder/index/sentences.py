"""Whole sentences of a passage: what an extractive answer quotes, and what the no-match judge
compares the query with, one sentence at a time (``store.py`` embeds them with the index)."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÆØÅ0-9\"“])|\n{2,}|\n(?=[-•–] )")
# Transcripts run headings into the text: "… klare selv Overordnet beskrivelse og formål Samarbejdet
# blev …". A capitalised phrase of 2-6 words after a lowercase word and before a capitalised
# word that starts a sentence is such a heading: it becomes a piece of its own (and is dropped).
_RUN_IN_HEADING = re.compile(r"(?<=[a-zæøå0-9,;)]) ([A-ZÆØÅ][a-zæøå]+(?: [a-zæøå]+){1,5}) (?=[A-ZÆØÅ][a-zæøå]+ [a-zæøå])")
_BULLET = re.compile(r"\s*[\uf0a7\uf0b7\uf0d8\uf076•▪●◦]\s*")  # PDF symbol-font bullets start list items
MIN_PIECE = 30  # shorter pieces are headings, labels and numbers: no sentence to compare with
MIN_SENTENCE, MAX_SENTENCE = 40, 300  # quoted: shorter are headings; longer, headings run together by PDF conversion


def sentence_pieces(text: str) -> list[str]:
    """The text cut at sentence ends, paragraph breaks, list items and run-in headings; every
    piece with some words in it. The index embeds each (the judge compares the query with them)."""
    text = _BULLET.sub("\n- ", _RUN_IN_HEADING.sub(lambda m: f"\n\n{m.group(1)}\n\n", text))
    parts = [" ".join(p.split()).strip(" -•–") for p in _SENTENCE_END.split(text)]
    return [p for p in parts if len(p) >= MIN_PIECE and re.search(r"[a-zæøå]{3}", p)]


def quotable(piece: str) -> bool:
    """A whole sentence: not a heading, not headings run together, and not the end of a
    sentence that began before the passage (a chunk's first words may continue one)."""
    return MIN_SENTENCE <= len(piece) <= MAX_SENTENCE and re.match(r"[A-ZÆØÅ0-9\"“]", piece) is not None
