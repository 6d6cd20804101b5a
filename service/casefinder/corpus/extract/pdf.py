"""PDF -> text with markdown headings, one page after another, pages separated by form feeds.

pdfminer.six gives positioned text lines with their fonts. From them:
- columns: a line belongs to the left or the right half of its page; a page is read column by
  column, top to bottom (two-column catalogues);
- lines: pieces of one printed line (justified text comes in pieces) are joined by position;
- running heads and footers: lines that recur, digits aside, at the top or bottom of most
  pages ("KL · … · 2019", "Side 3 af 34") are dropped;
- headings: lines set larger than the body text become "#", "##", … by size; whole lines in
  the bold body font become the next level; consecutive heading lines are one heading;
- paragraphs: a vertical gap larger than the line spacing starts a new paragraph.
Hyphenation at line ends is left to the cleaning step, which joins it with exact offsets.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

PAGE_BREAK = "\n\f\n"
# A catalogue is some hundred pages; beyond these bounds a file is refused, not read for hours.
MAX_PAGES = 2000
MAX_SECONDS = 300.0  # checked between pages
_REPEAT_SHARE = 0.5  # a top or bottom line on at least this share of the pages is a running head


class ExtractionError(ValueError):
    """The file cannot be turned into text; the message says why, in Danish."""


@dataclass
class Line:
    page: int
    column: int
    top: float
    x: float
    x1: float
    size: float
    bold: bool
    text: str


def _lines(path: Path) -> tuple[list[list[Line]], float]:
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams, LTChar, LTTextContainer, LTTextLine
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
    from pdfminer.psexceptions import PSException

    pages: list[list[Line]] = []
    started = time.monotonic()
    try:
        count = _page_count(path)
        if count > MAX_PAGES:
            raise ExtractionError(f"{path.name}: PDF'en har {count} sider; højst {MAX_PAGES} kan tilføjes")
        for number, page in enumerate(extract_pages(path, laparams=LAParams()), 1):
            if time.monotonic() - started > MAX_SECONDS:
                raise ExtractionError(
                    f"{path.name}: PDF'en kunne ikke læses på {MAX_SECONDS:.0f} sekunder (nået side {number})"
                )
            pieces = []
            for box in page:
                if not isinstance(box, LTTextContainer):
                    continue
                for line in box:
                    chars = [c for c in line if isinstance(c, LTChar)] if isinstance(line, LTTextLine) else []
                    text = " ".join(line.get_text().split()) if chars else ""
                    if text:
                        size = round(max(c.size for c in chars), 1)
                        bold = all("bold" in c.fontname.lower() for c in chars if c.get_text().strip())
                        pieces.append(
                            Line(
                                number,
                                int(line.x0 >= page.width / 2),
                                page.height - line.y1,
                                line.x0,
                                line.x1,
                                size,
                                bold,
                                text,
                            )
                        )
            pages.append(_join_pieces(pieces))
    except ExtractionError:
        raise
    except (PDFEncryptionError, PDFPasswordIncorrect) as exc:
        raise ExtractionError(f"{path.name}: PDF'en er krypteret og kan ikke læses") from exc
    except (PSException, ValueError, KeyError, TypeError) as exc:  # PSException: every parse error, truncation too
        raise ExtractionError(f"{path.name}: filen er ikke en læsbar PDF ({exc})") from exc
    sizes = Counter(line.size for page in pages for line in page for _ in line.text.split())
    if not sizes:
        raise ExtractionError(f"{path.name}: PDF'en indeholder ingen tekst (skannede sider uden tekstlag?)")
    return pages, sizes.most_common(1)[0][0]


def _page_count(path: Path) -> int:
    """The page count the document declares (read from its page tree, no page parsed)."""
    from pdfminer.pdfdocument import PDFDocument
    from pdfminer.pdfparser import PDFParser
    from pdfminer.pdftypes import resolve1

    with open(path, "rb") as f:
        count = resolve1(resolve1(PDFDocument(PDFParser(f)).catalog.get("Pages", {})).get("Count", 0))
    return count if isinstance(count, int) else 0


def _join_pieces(pieces: list[Line]) -> list[Line]:
    """Pieces on one printed line (same column, nearly the same top) become one line."""
    lines: list[Line] = []
    for piece in sorted(pieces, key=lambda p: (p.column, round(p.top), p.x)):
        last = lines[-1] if lines else None
        if last and last.column == piece.column and abs(last.top - piece.top) < 2:
            # justified text comes in pieces; a piece that starts right where the last ended
            # continues its word ("MELLE" + "M")
            touching = piece.x - last.x1 < 0.1 * piece.size
            last.text += ("" if touching else " ") + piece.text
            last.x1 = piece.x1
            last.size = max(last.size, piece.size)
            last.bold = last.bold and piece.bold
        else:
            lines.append(piece)
    return sorted(lines, key=lambda l: (l.column, l.top))


def pdf_title(path: Path, text: str) -> str | None:
    """The catalogue's title: the PDF's own (metadata), else its first heading of more than one
    word (a first heading of one word is mostly the publisher's name: "KL")."""
    from pdfminer.pdfdocument import PDFDocument
    from pdfminer.pdfparser import PDFParser
    from pdfminer.pdftypes import resolve1
    from pdfminer.psexceptions import PSException
    from pdfminer.utils import decode_text

    try:
        with open(path, "rb") as f:
            for info in PDFDocument(PDFParser(f)).info:
                title = resolve1(info.get("Title"))
                title = decode_text(title) if isinstance(title, bytes) else title
                if isinstance(title, str) and len(title.split()) > 1:
                    return " ".join(title.split())[:200]
    except (OSError, PSException, ValueError, KeyError, TypeError):
        pass
    return next(
        (m.group(1).strip() for m in re.finditer(r"^#+ (.+)$", text, re.M) if len(m.group(1).split()) > 1), None
    )


def _continues_word(left: str, right: str) -> bool:
    """Is ``left`` a fragment that ``right`` completes to a Danish word ("MELLE" + "M")?"""
    from wordfreq import zipf_frequency

    if not (left.isalpha() and right.isalpha()):
        return False
    return zipf_frequency(left.lower(), "da") < 3 <= zipf_frequency((left + right).lower(), "da")


def _spaced_words_joined(text: str) -> str:
    """A letter-spaced heading comes with spaces inside its words ("SAMARBEJDE MELLE M AKUT-"):
    a word that is no Danish word on its own is joined to the next where that makes one."""
    words = text.split(" ")
    out = [words[0]]
    for word in words[1:]:
        if _continues_word(out[-1], word):
            out[-1] += word
        else:
            out.append(word)
    return " ".join(out)


def _running(pages: list[list[Line]]) -> set[str]:
    """Lines that open or close most pages, with digits masked."""
    seen: Counter[str] = Counter()
    for page in pages:
        ends = {_mask(l.text) for l in sorted(page, key=lambda l: l.top)[:2] + sorted(page, key=lambda l: -l.top)[:2]}
        seen.update(ends)
    return {text for text, n in seen.items() if len(pages) > 2 and n >= _REPEAT_SHARE * len(pages)}


def _mask(text: str) -> str:
    return re.sub(r"\d+", "#", text)


def pdf_to_text(path: Path) -> str:
    pages, body = _lines(path)
    running = _running(pages)
    sizes = sorted({l.size for page in pages for l in page if l.size > body + 0.5}, reverse=True)
    level = {size: n for n, size in enumerate(sizes, 1)}
    bold_level = len(sizes) + 1
    out: list[str] = []
    heading = 0  # the level of the heading just written, if the last line was one
    for number, page in enumerate(pages):
        if number:
            out.append("\f")
        previous: Line | None = None
        for line in page:
            if _mask(line.text) in running:
                continue
            depth = level.get(line.size) or (bold_level if line.bold and line.size >= body else 0)
            if depth:
                line.text = _spaced_words_joined(line.text)
            gap = line.top - previous.top if previous else None
            if depth and depth == heading and (gap is None or gap < 2.2 * line.size):
                # one heading set on several lines (or columns, or pages)
                at = len(out) - 1 - (out[-1] == "\f")
                out[at] += " " + line.text
            elif depth:
                out += ["", "#" * depth + " " + line.text]
            else:
                if previous is None or gap is None or not 0 < gap <= 1.6 * line.size or heading:
                    out.append("")
                out.append(line.text)
            heading = depth
            previous = line
    text = "\n".join(out).strip("\n") + "\n"
    return re.sub(r"\n{3,}", "\n\n", re.sub(r"\s*\f\s*", PAGE_BREAK, text))
