"""Clean text with an exact map back to the raw file.

Every cleaning step is a regex substitution applied to a ``CleanText``; the
result keeps, for every clean character, the raw offset it came from. The map is
strictly increasing, so a clean span maps to exactly one raw span and back.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Callable, Iterable

Replacement = str | Callable[[re.Match], str]

# Words after a dangling hyphen that mean "Social- og Sundhedsforvaltningen",
# i.e. the hyphen is a shared-suffix hyphen, not a line-end break.
_CONJUNCTIONS = r"(?:og|eller|samt|til|som|and|or|&)"


@dataclass(frozen=True)
class CleanText:
    text: str
    offsets: tuple[int, ...]  # offsets[i] = raw index of text[i]

    @classmethod
    def identity(cls, raw: str, start: int = 0) -> "CleanText":
        return cls(raw, tuple(range(start, start + len(raw))))

    def sub(self, pattern: str | re.Pattern, repl: Replacement, flags: int = 0) -> "CleanText":
        """Replace matches; replacement characters map to the first raw positions of the match."""
        rx = re.compile(pattern, flags) if isinstance(pattern, str) else pattern
        parts: list[str] = []
        offs: list[int] = []
        last = 0
        for m in rx.finditer(self.text):
            new = repl(m) if callable(repl) else m.expand(repl)
            if new == m.group(0):
                continue
            if len(new) > m.end() - m.start():
                raise ValueError("a cleaning replacement may not be longer than what it replaces")
            parts.append(self.text[last : m.start()])
            offs.extend(self.offsets[last : m.start()])
            parts.append(new)
            offs.extend(self.offsets[m.start() : m.start() + len(new)])
            last = m.end()
        if not parts:
            return self
        parts.append(self.text[last:])
        offs.extend(self.offsets[last:])
        return CleanText("".join(parts), tuple(offs))

    def without(self, raw_spans: Iterable[tuple[int, int]]) -> "CleanText":
        """Drop the characters that come from the given raw spans (page markers, headers)."""
        dropped = sorted(raw_spans)
        if not dropped:
            return self
        keep_text, keep_offs = [], []
        j = 0
        for ch, off in zip(self.text, self.offsets):
            while j < len(dropped) and dropped[j][1] <= off:
                j += 1
            if j < len(dropped) and dropped[j][0] <= off < dropped[j][1]:
                continue
            keep_text.append(ch)
            keep_offs.append(off)
        return CleanText("".join(keep_text), tuple(keep_offs))

    def to_raw(self, start: int, end: int) -> tuple[int, int]:
        """Raw [start, end) of the clean span [start, end)."""
        if not 0 <= start < end <= len(self.text):
            raise ValueError(f"clean span {start}:{end} outside 0:{len(self.text)}")
        return self.offsets[start], self.offsets[end - 1] + 1

    def to_clean(self, raw_start: int, raw_end: int) -> tuple[int, int]:
        """The clean span covering the raw span (characters dropped by cleaning vanish)."""
        return bisect.bisect_left(self.offsets, raw_start), bisect.bisect_left(self.offsets, raw_end)

    def slice(self, raw_start: int, raw_end: int) -> "CleanText":
        a, b = self.to_clean(raw_start, raw_end)
        return CleanText(self.text[a:b], self.offsets[a:b])


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
