"""A catalogue as readable HTML: clean paragraphs, page and case anchors, one passage marked."""

from __future__ import annotations

import html
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from ..corpus.models import Case, Document


@dataclass
class Marker:
    at: int  # clean offset
    html: str


def render_document(doc: Document, cases: list[Case], start: int | None, end: int | None) -> str:
    """HTML for the document body. ``start``/``end`` are raw offsets of the passage to mark.

    The paragraphs that hold the passage are wrapped in one block (``#passage``), and the
    passage itself is marked inside them, so it reads as one highlighted piece."""
    clean = doc.clean
    assert clean is not None, "a parsed document has its clean text"
    text = clean.text
    markers: list[Marker] = []
    for raw_at, number in doc.pages:
        at, _ = clean.to_clean(raw_at, raw_at)
        markers.append(Marker(at, f'<span class="page" id="page-{number}">Side {number}</span>'))
    for case in cases:
        at, _ = clean.to_clean(case.start, case.start)
        markers.append(Marker(at, f'<span class="case-anchor" id="{html.escape(case.id)}"></span>'))
    markers.sort(key=lambda m: m.at)
    positions = [mk.at for mk in markers]
    mark_from = mark_to = -1
    if start is not None and end is not None:
        mark_from, mark_to = clean.to_clean(start, end)

    paragraphs, at = [], 0
    for para in text.split("\n\n"):
        paragraphs.append((at, at + len(para)))
        at += len(para) + 2
    out: list[str] = []
    m = 0
    in_block = False
    for p_start, p_end in paragraphs:
        inside = mark_to > mark_from and p_start < mark_to and mark_from < p_end + 2
        if inside and not in_block:
            out.append('<div class="marked" id="passage">')
            in_block = True
        elif not inside and in_block:
            out.append("</div>\n")
            in_block = False
        within = positions[bisect_right(positions, p_start) : bisect_left(positions, p_end)]
        cuts = sorted({p_start, p_end, *within, *(x for x in (mark_from, mark_to) if p_start < x < p_end)})
        out.append("<p>")
        for c_start, c_end in zip(cuts, cuts[1:] or [p_end]):
            while m < len(markers) and markers[m].at <= c_start:
                out.append(markers[m].html)
                m += 1
            piece = html.escape(text[c_start:c_end]).replace("\n", "<br>\n")
            marked = inside and mark_from <= c_start and c_end <= mark_to and c_end > c_start
            out.append(f"<mark>{piece}</mark>" if marked else piece)
        out.append("</p>\n")
    while m < len(markers):
        out.append(markers[m].html)
        m += 1
    if in_block:
        out.append("</div>")
    return "".join(out)
