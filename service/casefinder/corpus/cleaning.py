"""Clean text with an exact map back to the raw file.

Every cleaning step is a regex substitution applied to a ``CleanText``; the
result keeps, for every clean character, the raw offset it came from. The map is
strictly increasing, so a clean span maps to exactly one raw span and back.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

Replacement = str | Callable[[re.Match], str]

# Words after a dangling hyphen that mean "Social- og Sundhedsforvaltningen",
# i.e. the hyphen is a shared-suffix hyphen, not a line-end break.
_CONJUNCTIONS = r"(?:og|eller|samt|til|som|and|or|&)"


@dataclass(frozen=True, eq=False)
class CleanText:
    text: str
    offsets: np.ndarray  # offsets[i] = raw index of text[i]; int32, strictly increasing

    @classmethod
    def identity(cls, raw: str, start: int = 0) -> CleanText:
        return cls(raw, np.arange(start, start + len(raw), dtype=np.int32))

    def sub(self, pattern: str | re.Pattern, repl: Replacement, flags: int = 0) -> CleanText:
        """Replace matches; replacement characters map to the first raw positions of the match."""
        rx = re.compile(pattern, flags) if isinstance(pattern, str) else pattern
        if isinstance(repl, str) and "\\" not in repl:
            repl = _constant(repl)  # no template to expand per match
        parts: list[str] = []
        keep: list[slice] = []  # which clean positions survive, in order
        last = 0
        for m in rx.finditer(self.text):
            new = repl(m) if callable(repl) else m.expand(repl)
            if new == m.group(0):
                continue
            if len(new) > m.end() - m.start():
                raise ValueError("a cleaning replacement may not be longer than what it replaces")
            parts += [self.text[last : m.start()], new]
            keep += [slice(last, m.start() + len(new))]
            last = m.end()
        if not parts:
            return self
        parts.append(self.text[last:])
        keep.append(slice(last, len(self.text)))
        return CleanText("".join(parts), np.concatenate([self.offsets[k] for k in keep]))

    def without(self, raw_spans: Iterable[tuple[int, int]]) -> CleanText:
        """Drop the characters that come from the given raw spans (page markers, headers)."""
        dropped = sorted(raw_spans)
        if not dropped:
            return self
        keep = np.ones(len(self.text), dtype=bool)
        bounds = np.searchsorted(self.offsets, np.array(dropped, dtype=self.offsets.dtype).ravel()).reshape(-1, 2)
        for a, b in bounds:  # clean positions whose raw offset lies in a dropped span
            keep[a:b] = False
        # the kept characters as runs, joined slice by slice (no per-character work)
        edges = np.flatnonzero(np.diff(np.r_[False, keep, False].astype(np.int8)))
        text = "".join(self.text[a:b] for a, b in zip(edges[::2], edges[1::2]))
        return CleanText(text, self.offsets[keep])

    def to_raw(self, start: int, end: int) -> tuple[int, int]:
        """Raw [start, end) of the clean span [start, end)."""
        if not 0 <= start < end <= len(self.text):
            raise ValueError(f"clean span {start}:{end} outside 0:{len(self.text)}")
        return int(self.offsets[start]), int(self.offsets[end - 1]) + 1

    def to_clean(self, raw_start: int, raw_end: int) -> tuple[int, int]:
        """The clean span covering the raw span (characters dropped by cleaning vanish)."""
        # searched with the offsets' own dtype: a mixed-type search would convert the whole array
        a, b = np.searchsorted(self.offsets, np.array([raw_start, raw_end], dtype=self.offsets.dtype))
        return int(a), int(b)

    def slice(self, raw_start: int, raw_end: int) -> CleanText:
        a, b = self.to_clean(raw_start, raw_end)
        return CleanText(self.text[a:b], self.offsets[a:b].copy())


def _constant(text: str) -> Callable[[re.Match], str]:
    return lambda _: text


def normalise(ct: CleanText) -> CleanText:
    """The cleaning every layout shares: hyphenation, markup debris, whitespace."""
    # HTML tags and markdown emphasis / heading markers / table pipes.
    ct = ct.sub(r"<[^>\n]{1,40}>", "")
    ct = ct.sub(r"\*\*|__", "")
    ct = ct.sub(r"(?m)^[ \t]*#{1,6}[ \t]+", "")
    ct = ct.sub(r"(?m)^\|[-| :]*\|[ \t]*$", "")  # table rule lines
    ct = ct.sub(r"[ \t]*\|[ \t]*", " ")
    ct = ct.sub(r"(?m)^[ \t]*[›>][ \t]*", "")  # the catalogues' › bullets / box markers
    # Table-of-contents dot leaders.
    ct = ct.sub(r"[ \t]*\.{4,}[ \t]*", " ")
    # Line-end hyphenation: "opgave-\nløsning" -> "opgaveløsning", across page
    # debris already removed; "Social- og" keeps its hyphen.
    ct = ct.sub(
        rf"(?<=[a-zæøå])-[ \t]*\n\s*(?=(?!{_CONJUNCTIONS}\b)[a-zæøå])",
        "",
    )
    ct = ct.sub(r"(?<=[A-ZÆØÅ0-9])-[ \t]*\n\s*(?=[a-zæøå])", "-")  # "IT-\nløsning"
    # A paragraph break inside a sentence (PDF column breaks): join with a space.
    ct = ct.sub(r"(?<=[a-zæøå,])[ \t]*\n(?:[ \t]*\n)+[ \t]*(?=[a-zæøå])", " ")
    # Whitespace: paragraph breaks become one blank line, other runs one space.
    ct = ct.sub(r"[ \t\r\f\v]*\n(?:[ \t\r\f\v]*\n)+[ \t\r\f\v]*", "\n\n")
    # A single line break reflows (hard-wrapped PDF text) unless a list item follows.
    ct = ct.sub(r"[ \t\r\f\v]*(?<!\n)\n(?!\n)[ \t\r\f\v]*(?![-•*–] |\d{1,2}[.)] )", " ")
    ct = ct.sub(r"[ \t\r\f\v]*\n[ \t\r\f\v]*", "\n")
    ct = ct.sub(r"[ \t\r\f\v\u00a0]{2,}", " ")
    return ct.sub(r"^\s+|\s+$", "")


def squash(text: str) -> str:
    """One-line version of a clean text (titles, card snippets)."""
    return re.sub(r"\s+", " ", text).strip()
