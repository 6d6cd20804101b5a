"""Case sheets: one sheet per case with "Om casen", the municipality and contact person as
fields, sector and efficiency-type vocabularies listed at the front."""

from __future__ import annotations

import re

from ..models import Draft, Heading
from ..text_tools import clean_heading, fold
from .base import FOOTER, MAILTO, Layout, lines_of, standalone_sections

NAME = "case-sheets"


_OM_CASEN = re.compile(r"^[ \t]*Om casen:?[ \t]*$", re.M)
_FIELD = re.compile(r"^[ \t]*(Kommune|Kontaktperson|Kontaktpersoner)\s*:\s*(.*?)\s*$")
_SHEET_SUBHEADINGS = re.compile(
    r"^[ \t]*(Forventet/realiseret økonomisk gevinst|Andre effekter|Realiserbarhed|Status|Om casen:?)[ \t]*$", re.M
)


def looks_like(raw: str) -> bool:
    return len(_OM_CASEN.findall(raw)) >= 3


def _numbered_list(raw: str, after: str) -> list[list[str]]:
    """Numbered lists ('1. Tværgående forslag') after a heading line: the sheet's vocabularies."""
    m = re.search(after, raw)
    if not m:
        return []
    lists: list[list[str]] = []
    for item in re.finditer(r"^\s*(\d+)\.\s+(.+?)\s*$", raw[m.end() : m.end() + 3000], re.M):
        if item.group(1) == "1":
            lists.append([])
        if lists:
            lists[-1].append(item.group(2))
    return lists


def parse(raw: str) -> Layout:
    vocab = _numbered_list(raw, r"Sektor\s+Effektiviseringstyper")
    sectors = {fold(v) for v in vocab[0]} if vocab else set()
    types = {fold(v) for v in vocab[1]} if len(vocab) > 1 else set()

    ends: list[tuple[int, int]] = []  # (start of "Om casen", end of the contact block)
    for m in _OM_CASEN.finditer(raw):
        pos = m.end()
        block_end = pos
        for s, e, line in lines_of(raw, pos + 1, min(len(raw), pos + 800))[:8]:
            if not line.strip():
                if block_end > pos:
                    break
                continue
            block_end = e
        ends.append((m.start(), block_end))

    drafts: list[Draft] = []
    prev_end = 0
    sector = etype = None
    intro_end = None
    def vocabulary_line(line: str) -> bool:
        return fold(line.strip()) in sectors or fold(line.strip()) in types

    for om_start, case_end in ends:
        lines = lines_of(raw, prev_end, om_start)
        # Where the sheet's sector / type headings stand, the case starts after them;
        # before the first case this skips the introduction.
        labels = [k for k, (_, _, line) in enumerate(lines) if vocabulary_line(line)]
        if labels and (not drafts or labels[0] < 8):
            first_label = labels[0]
            while first_label > 0 and not lines[first_label - 1][2].strip():
                first_label -= 1
            if intro_end is None:
                intro_end = lines[labels[0]][0]
            lines = lines[first_label:]
        headings: list[tuple[int, int, str]] = []
        title_line = None
        for k, (s, e, line) in enumerate(lines):
            text = line.strip()
            if not text:
                continue
            prev_blank = k == 0 or not lines[k - 1][2].strip()
            next_blank = k + 1 >= len(lines) or not lines[k + 1][2].strip()
            if vocabulary_line(text):
                continue
            if prev_blank and next_blank and len(text) <= 110 and not text.endswith((".", ",")):
                headings.append((s, e, text))
                continue
            break
        for s, e, line in lines:
            if not vocabulary_line(line):
                continue
            text, key = line.strip(), fold(line.strip())
            if key in sectors or not types and not sectors and len(headings) > 2 and s == headings[0][0]:
                sector, etype = text, None
            elif key in types:
                etype = text
        if headings:
            s, e, title_line = headings[-1]
            start = s + len(raw[s:e]) - len(raw[s:e].lstrip())
            if intro_end is None:
                intro_end = headings[0][0]
        else:
            start = next(
                (s for s, e, line in lines if line.strip() and not vocabulary_line(line)),
                prev_end,
            )
            start += len(raw[start:om_start]) - len(raw[start:om_start].lstrip())
            title_line = raw[start : raw.find("\n", start)].strip()
            if intro_end is None:
                intro_end = start
        municipality = None
        for _, _, line in lines_of(raw, om_start, case_end):
            f = _FIELD.match(line)
            if f and f.group(1) == "Kommune" and f.group(2):
                municipality = f.group(2)
        subs = [
            Heading(title=m.group(1).rstrip(":"), start=m.start(1), end=m.end(1), level=3)
            for m in _SHEET_SUBHEADINGS.finditer(raw, start, case_end)
        ]
        drafts.append(
            Draft(
                start, case_end, "case", clean_heading(title_line), area=sector, efficiency_type=etype,
                municipality=municipality, headings=subs,
            )
        )
        prev_end = case_end

    # The introduction before the first case: sections at standalone heading lines.
    sections = standalone_sections(raw, 0, intro_end) if intro_end else []
    debris = [(m.start(), m.end()) for rx in (FOOTER, MAILTO) for m in rx.finditer(raw)]
    return Layout("case-sheets", sections + drafts, debris=debris)
