"""Any other layout: one unit per heading of the level that carries the cases (markdown or
standalone lines), else one per file."""

from __future__ import annotations

from collections import Counter

from ..models import Draft, Heading
from ..text_tools import Recaser, clean_heading
from .base import MD_HEADING, Layout, standalone_sections

NAME = "unknown"


def parse(raw: str) -> Layout:
    """Units at the shallowest heading level used more than once (a page's single title sits
    above its cases: "# Katalog", then "## Vejle Kommune: …" per case); deeper headings stay
    inside their unit as its headings. Without headings: standalone lines, else one per file."""
    recase = Recaser(raw)
    found = [
        (len(m.group(1)), m.start(), m.end(), clean_heading(m.group(2)))
        for m in MD_HEADING.finditer(raw)
        if clean_heading(m.group(2))
    ]
    if not found:
        return Layout(
            "unknown",
            standalone_sections(raw, 0, len(raw)),
            warning="ukendt layout: én enhed pr. overskrift eller pr. fil",
        )
    levels = Counter(level for level, *_ in found)
    carrying = min((level for level, n in levels.items() if n > 1), default=min(levels))
    units = [f for f in found if f[0] <= carrying]
    drafts = []
    for j, (level, start, _, title) in enumerate(units):
        end = units[j + 1][1] if j + 1 < len(units) else len(raw)
        headings = [Heading(recase(text), s, e, lvl) for lvl, s, e, text in found if start < s < end]
        drafts.append(Draft(start, end, "section", recase(title), headings=headings, keep=level == carrying))
    return Layout("unknown", drafts, warning="ukendt layout: én enhed pr. overskrift eller pr. fil")
