"""A catalogue as readable HTML: clean paragraphs, page and case anchors, one passage marked."""

from __future__ import annotations

import html
from dataclasses import dataclass

from ..corpus.models import Case, Document


@dataclass
class Marker:
    at: int  # clean offset
    html: str


def render_document(doc: Document, cases: list[Case], start: int | None, end: int | None) -> str:
    """HTML for the document body. ``start``/``end`` are raw offsets of the passage to mark."""
    clean = doc.clean
    text = clean.text
    markers: list[Marker] = []
    for raw_at, number in doc.pages:
        at, _ = clean.to_clean(raw_at, raw_at)
        markers.append(Marker(at, f'<span class="page" id="page-{number}">Side {number}</span>'))
    for case in cases:
        at, _ = clean.to_clean(case.start, case.start)
        markers.append(Marker(at, f'<span class="case-anchor" id="{html.escape(case.id)}"></span>'))
    mark_from = mark_to = -1
    if start is not None and end is not None:
        mark_from, mark_to = clean.to_clean(start, end)
    markers.sort(key=lambda m: m.at)

    out: list[str] = ['<p>']
    in_mark = False
    first_mark = True
    m = 0

    def open_mark() -> str:
        nonlocal first_mark
        ident = ' id="passage"' if first_mark else ""
        first_mark = False
        return f'<mark class="passage"{ident}>'

    boundaries = sorted({0, len(text), *(mk.at for mk in markers), *(x for x in (mark_from, mark_to) if x >= 0)})
    for b_start, b_end in zip(boundaries, boundaries[1:] + [len(text)]):
        while m < len(markers) and markers[m].at <= b_start:
            out.append(markers[m].html)
            m += 1
        if b_start == mark_from and mark_to > mark_from:
            out.append(open_mark())
            in_mark = True
        if b_start == mark_to and in_mark:
            out.append("</mark>")
            in_mark = False
        segment = text[b_start:b_end]
        paragraphs = segment.split("\n\n")
        for k, para in enumerate(paragraphs):
            if k:
                out.append("</mark></p>\n<p>" + open_mark() if in_mark else "</p>\n<p>")
            out.append(html.escape(para).replace("\n", "<br>\n"))
    if in_mark:
        out.append("</mark>")
    out.append("</p>")
    return "".join(out)
