"""HTML -> text with markdown headings: h1-h6 as headings, block elements as paragraphs,
scripts, styles and page chrome (nav, header, footer) left out. Standard library only."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from .pdf import ExtractionError

_BLOCKS = {"p", "div", "section", "article", "li", "tr", "table", "ul", "ol", "blockquote", "dd", "dt", "pre", "br"}
_SKIPPED = {"script", "style", "nav", "header", "footer", "noscript", "template", "svg", "head"}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.current: list[str] = []
        self.heading = 0
        self.skipping = 0

    def _flush(self) -> None:
        text = " ".join("".join(self.current).split())
        if text:
            self.blocks.append(f"{'#' * self.heading} {text}" if self.heading else text)
        self.current = []

    def handle_starttag(self, tag, attrs):
        if tag in _SKIPPED:
            self.skipping += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self._flush()
            self.heading = int(tag[1])
        elif tag in _BLOCKS:
            self._flush()
        elif tag == "td" or tag == "th":
            self.current.append(" | " if self.current else "")

    def handle_endtag(self, tag):
        if tag in _SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif re.fullmatch(r"h[1-6]", tag):
            self._flush()
            self.heading = 0
        elif tag in _BLOCKS:
            self._flush()

    def handle_data(self, data):
        if not self.skipping:
            self.current.append(data)


def html_to_text(path: Path) -> str:
    data = path.read_bytes()
    declared = re.search(rb"<meta[^>]+charset=[\"']?([\w-]+)", data[:4096], re.I)
    try:
        markup = data.decode(declared.group(1).decode() if declared else "utf-8")
    except (LookupError, UnicodeDecodeError) as exc:
        raise ExtractionError(f"{path.name}: siden kan ikke læses som tekst ({exc})") from exc
    parser = _Text()
    parser.feed(markup)
    parser.close()
    parser._flush()
    text = "\n\n".join(parser.blocks)
    if not text.strip():
        raise ExtractionError(f"{path.name}: siden indeholder ingen tekst")
    return text + "\n"
