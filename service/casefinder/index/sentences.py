"""Whole sentences of a passage: what an extractive answer quotes, and what the no-match judge
compares the query with, one sentence at a time (``build.py`` embeds them with the index)."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÆØÅ0-9\"“])")
_BREAK = re.compile(r"\n{2,}|\n(?=[-•–] )")
# Transcripts run headings into the text: "… klare selv Overordnet beskrivelse og formål Samarbejdet
# blev …". A capitalised phrase of 2-6 words after a lowercase word and before a capitalised
# word that starts a sentence is such a heading: it becomes a piece of its own (and is dropped).
_RUN_IN_HEADING = re.compile(
    r"(?<=[a-zæøå0-9,;)]) ([A-ZÆØÅ][a-zæøå]+(?: [a-zæøå]+){1,5}) (?=[A-ZÆØÅ][a-zæøå]+ [a-zæøå])"
)
_BULLET = re.compile(r"\s*[\uf0a7\uf0b7\uf0d8\uf076•▪●◦]\s*")  # PDF symbol-font bullets start list items
# Danish abbreviations that end in a full stop inside a sentence: "ca. 2 mio. kr.", "bl.a. Odense",
# "pr. 1. juli", "dir. Thomas". A sentence never ends on them.
_NEVER_LAST = re.compile(
    r"(?<![\w.])(?:ca|bl\.a|fx|f\.eks|jf|evt|inkl|ekskl|ift|pr|nr|dir|tlf|mht|vedr|iht|stk|hhv|vha|dvs|mm|gl|ang|"
    r"d|s|kap|afs|ml|adm|[A-ZÆØÅ])\.$",
    re.I,
)
# Units and ordinals end a sentence only before a word: "3 mio. kr. Kommunen …" but "1. juli", "mio. 20".
_NOT_BEFORE_DIGIT = re.compile(r"(?:\d|mio|mia|mill|kr|pct|mv|osv|m\.fl|etc)\.$", re.I)
MIN_PIECE = 30  # shorter pieces are headings, labels and numbers: no sentence to compare with
MIN_SENTENCE, MAX_SENTENCE = 40, 400  # quoted: shorter are headings; longer, headings run together by PDF conversion


def _sentences(block: str) -> list[str]:
    """One paragraph cut at its sentence ends: not after an abbreviation, and never inside
    parentheses ("11 kommuner (Greve, …, Odsherred og Slagelse kommuner) er gået sammen")."""
    pieces, start = [], 0
    for m in _SENTENCE_END.finditer(block):
        before = block[start : m.start()]
        if before.count("(") > before.count(")") or _NEVER_LAST.search(before):
            continue
        if _NOT_BEFORE_DIGIT.search(before) and block[m.end() : m.end() + 1].isdigit():
            continue
        pieces.append(before)
        start = m.end()
    return pieces + [block[start:]]


def sentence_pieces(text: str) -> list[str]:
    """The text cut at sentence ends, paragraph breaks, list items and run-in headings; every
    piece with some words in it. The index embeds each (the judge compares the query with them)."""
    text = _BULLET.sub("\n- ", _RUN_IN_HEADING.sub(lambda m: f"\n\n{m.group(1)}\n\n", text))
    parts = [" ".join(p.split()).strip(" -•–") for block in _BREAK.split(text) for p in _sentences(block)]
    return [p for p in parts if len(p) >= MIN_PIECE and re.search(r"[a-zæøå]{3}", p)]


def quotable(piece: str) -> bool:
    """A whole sentence: not a heading, not headings run together, and not the end of a
    sentence that began before the passage (a chunk's first words may continue one)."""
    return MIN_SENTENCE <= len(piece) <= MAX_SENTENCE and re.match(r"[A-ZÆØÅ0-9\"“]", piece) is not None
