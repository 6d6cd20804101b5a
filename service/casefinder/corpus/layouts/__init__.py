"""Layout parsers, one module per kind of catalogue: each recognises its kind by content
(``looks_like``) and cuts it into units (``parse``).

A parser gets the raw text and returns ``Layout``: unit drafts (raw spans plus what the
layout says of them), debris spans that cleaning must drop (page markers, viewer headers)
and page starts. Which parser applies is decided by ``detect`` from the text alone, so a new
catalogue in a known layout needs no code change.
"""

from __future__ import annotations

from . import case_sheets, markdown, transcript, unknown
from .base import Layout, finish

# Tried in this order; the first that recognises a text parses it, else ``unknown`` does.
RECOGNISED = (transcript, case_sheets, markdown)
PARSERS = {layout.NAME: layout.parse for layout in (*RECOGNISED, unknown)}

__all__ = ["Layout", "PARSERS", "detect", "finish"]


def detect(raw: str) -> str:
    return next((layout.NAME for layout in RECOGNISED if layout.looks_like(raw)), unknown.NAME)
