"""Any other layout: one unit per heading (markdown or standalone lines), else one per file."""

from __future__ import annotations

from ..models import Draft
from ..text_tools import Recaser, clean_heading
from .base import MD_HEADING, Layout, standalone_sections

NAME = "unknown"


def parse(raw: str) -> Layout:
    """Unknown layout: one unit per heading (markdown or standalone lines), else one per file."""
    recase = Recaser(raw)
    found = [(m.start(), clean_heading(m.group(2))) for m in MD_HEADING.finditer(raw) if clean_heading(m.group(2))]
    if found:
        drafts = []
        for j, (s, title) in enumerate(found):
            e = found[j + 1][0] if j + 1 < len(found) else len(raw)
            drafts.append(Draft(s, e, "section", recase(title)))
    else:
        drafts = standalone_sections(raw, 0, len(raw))
    return Layout("unknown", drafts, warning="ukendt layout: én enhed pr. overskrift eller pr. fil")
