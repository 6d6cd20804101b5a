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


_PAGE_DATE = re.compile(
    r"^(?:januar|februar|marts|april|maj|juni|juli|august|september|oktober|november|december) \d{4}$", re.I
)


def _starts_next_case(line: str, following: str) -> bool:
    """A line right under the contact fields that is the next sheet's title, not more of the
    contact: no field, no address, and a blank line after it (" Contract Management")."""
    text = line.strip()
    return (
        not _FIELD.match(line)
        and "@" not in text
        and not following.strip()
        and text[:1].isupper()
        and not text.endswith((".", ",", ")"))
    )


def _page_furniture(line: str) -> bool:
    """The running footer and the date under it ("B17-katalog  Side 57 af 198", "April 2016")."""
    return bool(FOOTER.match(line) or _PAGE_DATE.match(line.strip()))


def _title_lines(lines: list[tuple[int, int, str]], first: int) -> str:
    """A title wrapped over two lines ("… uddannelseshjælpsmodta-" / "gere") read as one."""
    title = lines[first][2].strip()
    if first + 2 < len(lines) and lines[first + 1][2].strip() and not lines[first + 2][2].strip():
        more = lines[first + 1][2].strip()
        if len(title) + len(more) <= 200 and more[:1].islower():
            title = title[:-1] + more if title.endswith("-") else f"{title} {more}"
    return title


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
        block = lines_of(raw, pos + 1, min(len(raw), pos + 800))[:8]
        for k, (_, e, line) in enumerate(block):
            if not line.strip():
                if block_end > pos:
                    break
                continue
            if block_end > pos and _starts_next_case(line, block[k + 1][2] if k + 1 < len(block) else ""):
                break
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
        lines = [(s, e, "" if _page_furniture(line) else line) for s, e, line in lines]
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
        for s, _, line in lines:
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
            first = next(
                (k for k, (s, e, line) in enumerate(lines) if line.strip() and not vocabulary_line(line)), None
            )
            start = prev_end if first is None else lines[first][0]
            start += len(raw[start:om_start]) - len(raw[start:om_start].lstrip())
            title_line = raw[start : raw.find("\n", start)].strip() if first is None else _title_lines(lines, first)
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
                start,
                case_end,
                "case",
                clean_heading(title_line),
                area=sector,
                efficiency_type=etype,
                municipality=municipality,
                headings=subs,
            )
        )
        prev_end = case_end

    # The introduction before the first case: sections at standalone heading lines.
    sections = standalone_sections(raw, 0, intro_end) if intro_end else []
    debris = [(m.start(), m.end()) for rx in (FOOTER, MAILTO) for m in rx.finditer(raw)]
    return Layout("case-sheets", sections + drafts, debris=debris)
