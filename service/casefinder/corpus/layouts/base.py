"""What every layout parser shares: the ``Layout`` it returns, the debris of PDF-to-text
conversion, units at standalone heading lines, and the tidying after parsing."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..models import Draft, Heading
from ..text_tools import clean_heading, is_colophon

MIN_UNIT_CHARS = 250  # shorter units are merged into the one before (or dropped if first)


@dataclass
class Layout:
    name: str
    drafts: list[Draft]
    debris: list[tuple[int, int]] = field(default_factory=list)
    pages: list[tuple[int, int]] = field(default_factory=list)
    warning: str | None = None


MD_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*$", re.M)
FOOTER = re.compile(r"^[ \t]*\S.{0,60}?[ \t]+Side \d+ af \d+[ \t]*$", re.M)  # "B17-katalog  Side 39 af 198"
MAILTO = re.compile(r"^mailto:\S*[ \t]*$", re.M)  # link annotations left by PDF-to-text


def lines_of(raw: str, start: int, end: int) -> list[tuple[int, int, str]]:
    """Lines with raw offsets; link annotations and page footers read as blank lines."""
    out = []
    pos = start
    for line in raw[start:end].split("\n"):
        debris = MAILTO.match(line) or FOOTER.match(line)
        out.append((pos, pos + len(line), "" if debris else line))
        pos += len(line) + 1
    return out


def standalone_sections(raw: str, start: int, end: int) -> list[Draft]:
    lines = lines_of(raw, start, end)
    heads = []
    for k, (s, _, line) in enumerate(lines):
        text = line.strip()
        prev_blank = k == 0 or not lines[k - 1][2].strip()
        next_blank = k + 1 >= len(lines) or not lines[k + 1][2].strip()
        if (
            text
            and prev_blank
            and next_blank
            and len(text) <= 80
            and text[:1].isupper()
            and not text.endswith((".", ",", ";"))
        ):
            heads.append((s + len(line) - len(line.lstrip()), text))
    if not heads or heads[0][0] > start + 200:
        heads.insert(0, (start, raw[start:end].strip().split("\n")[0].strip()))
    drafts = []
    for j, (s, text) in enumerate(heads):
        e = heads[j + 1][0] if j + 1 < len(heads) else end
        drafts.append(Draft(s, e, "section", clean_heading(text)))
    return drafts


def finish(raw: str, drafts: list[Draft]) -> list[Draft]:
    """Shared tidying: drop colophons, merge fragments too short to stand alone."""
    out: list[Draft] = []
    for d in sorted(drafts, key=lambda d: d.start):
        while d.end > d.start and raw[d.end - 1].isspace():
            d.end -= 1
        body = raw[d.start : d.end]
        if not body.strip() or is_colophon(body):
            continue
        if len(body.strip()) < MIN_UNIT_CHARS and d.kind == "section" and not d.keep:
            if out and out[-1].kind == "section" and out[-1].end <= d.start:
                out[-1].end = d.end
                out[-1].headings.append(Heading(d.title, d.start, d.start + len(d.title), 2))
            continue
        out.append(d)
    return out
