"""Small text helpers shared by the layout parsers."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

_WORD = re.compile(r"[\wÆØÅæøå]+(?:-[\wÆØÅæøå]+)*")
COLOPHON_MARKERS = re.compile(
    r"©|ISBN|Tryk:|Design:|Layout:|Produktion(?:snr)?[.:]|Weidekampsgade|Fotos?:|Kolofon|\budgave\b|\boplag\b",
)


class _Folding(dict):
    """str.translate table, filled one character at a time: Danish letters spelled out,
    other characters decomposed with their accents dropped."""

    def __missing__(self, code: int) -> str:
        decomposed = unicodedata.normalize("NFKD", chr(code))
        self[code] = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
        return self[code]


_FOLDING = _Folding({ord("å"): "aa", ord("æ"): "ae", ord("ø"): "oe"})


def fold(text: str) -> str:
    """Lowercase, Danish letters spelled out (å->aa, æ->ae, ø->oe), other accents removed."""
    return text.lower().translate(_FOLDING)


def letters(text: str) -> str:
    return re.sub(r"[^\w]", "", fold(text))


def is_upper_heading(text: str) -> bool:
    cased = [c for c in text if c.isalpha()]
    return len(cased) >= 3 and sum(c.isupper() for c in cased) / len(cased) > 0.8


def clean_heading(text: str) -> str:
    """Strip markup from a heading line: '#', '**', '<b>', '›' markers."""
    text = re.sub(r"<[^>]{1,20}>|\*\*|__", "", text)
    text = re.sub(r"^[#\s›>]+|[\s:]+$", "", text)
    return re.sub(r"\s+", " ", text).strip()


class Recaser:
    """Turns ALL-CAPS headings into normal case using how the document spells each word."""

    def __init__(self, raw: str):
        self.spellings: dict[str, Counter] = {}
        prose = re.sub(r"\S+@\S+|\b(?:www\.|https?://)\S+|\S+\.dk\b", " ", raw)  # addresses are no spelling guide
        for word in _WORD.findall(prose):
            if not is_upper_heading(word):
                self.spellings.setdefault(word.lower(), Counter())[word] += 1

    def _word(self, word: str) -> str:
        seen = self.spellings.get(word.lower())
        if seen:
            # Prefer the lowercase spelling where the document uses one at all: a
            # capital then only comes from a sentence start.
            return word.lower() if word.lower() in seen else seen.most_common(1)[0][0]
        return word.lower()

    def __call__(self, heading: str) -> str:
        if not is_upper_heading(heading) or (" " not in heading.strip() and heading.lower() not in self.spellings):
            return heading  # normal case already, or an acronym ("KOMBIT")
        # Broken words from PDF conversion: "ARBEJDS- RETTET" -> "ARBEJDSRETTET".
        heading = re.sub(r"(?<=[A-ZÆØÅ])- (?!OG\b|ELLER\b|SAMT\b|TIL\b)(?=[A-ZÆØÅ])", "", heading)
        out = _WORD.sub(lambda m: self._word(m.group(0)), heading)
        # Sentence case: first letter, and first letter after a colon.
        out = re.sub(r"(^|:\s+)(\w)", lambda m: m.group(1) + m.group(2).upper(), out)
        # "Odense kommune" -> "Odense Kommune" when it names a municipality.
        return re.sub(r"\b([A-ZÆØÅ][\wæøå-]*) kommune\b", r"\1 Kommune", out)


def repair_with_toc(heading: str, toc_entries: list[str]) -> str:
    """Use the table of contents' spelling where the heading has words broken by spaces."""
    key = letters(re.sub(r"(?<=\w)- (?=\w)", "", heading))
    for entry in toc_entries:
        if letters(entry) == key:
            return entry
    return heading


def paragraphs(raw: str, start: int, end: int) -> list[tuple[int, int]]:
    """Raw spans of blank-line separated blocks inside [start, end)."""
    spans = []
    for m in re.finditer(r"\S(?:.|\n(?![ \t]*\n))*", raw[start:end]):
        spans.append((start + m.start(), start + m.end()))
    return spans


def trim_colophon(raw: str, start: int, end: int) -> int:
    """New end of a unit whose tail is a colophon / back cover (address, ISBN, print)."""
    blocks = paragraphs(raw, start, end)
    cut, markers = None, 0
    for i in range(len(blocks) - 1, 0, -1):
        s, e = blocks[i]
        found = len(COLOPHON_MARKERS.findall(raw[s:e]))
        if not found and e - s >= 200:
            break
        if found:
            markers += found
            cut = i
    if cut is not None and markers >= 2:
        return blocks[cut - 1][1]
    return end


def is_colophon(text: str) -> bool:
    return len(COLOPHON_MARKERS.findall(text)) >= 2 and len(text) < 1500
