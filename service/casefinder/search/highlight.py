"""Mark the query's words in a passage (HTML-escaped, <mark> around matches)."""

from __future__ import annotations

import html
import re

from ..index.analyzer import Analyzer, stem, stop_words
from ..corpus.text_tools import fold

_WORD = re.compile(r"[0-9A-Za-zÆØÅæøåéü]+")


def query_stems(query: str, analyzer: Analyzer) -> set[str]:
    return set(analyzer(query))


def matches(word: str, stems: set[str], analyzer: Analyzer) -> bool:
    folded = fold(word)
    if folded in stop_words() or len(folded) < 3:
        return False
    if stem(word) in stems:
        return True
    parts = analyzer.split_compound(folded) if len(folded) >= 9 else ()
    return any(stem(p) in stems for p in parts)


def highlight(text: str, query: str, analyzer: Analyzer) -> str:
    stems = query_stems(query, analyzer)
    out, last = [], 0
    for m in _WORD.finditer(text):
        if matches(m.group(0), stems, analyzer):
            out.append(html.escape(text[last : m.start()]))
            out.append(f"<mark>{html.escape(m.group(0))}</mark>")
            last = m.end()
    out.append(html.escape(text[last:]))
    return "".join(out)
