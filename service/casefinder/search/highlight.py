"""Mark the query's words in a passage (HTML-escaped, <mark> around matches)."""

from __future__ import annotations

import html
import re

from ..index.analyzer import Analyzer

_WORD = re.compile(r"[0-9A-Za-zÆØÅæøåéü]+")
MIN_MARKED = 3  # never mark "it", "på" and the like on their own


def highlight(text: str, wanted: set[str], analyzer: Analyzer) -> str:
    """A word is marked when its stem, or a part of it as a compound, is one of the query's
    terms (``wanted``: the query through ``analyzer``)."""
    out, last = [], 0
    for m in _WORD.finditer(text):
        word = m.group(0)
        if len(word) >= MIN_MARKED and wanted.intersection(analyzer.word_terms(word.lower())):
            out.append(html.escape(text[last : m.start()]))
            out.append(f"<mark>{html.escape(word)}</mark>")
            last = m.end()
    out.append(html.escape(text[last:]))
    return "".join(out)
