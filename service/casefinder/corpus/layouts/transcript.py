"""Page-marked viewer transcripts: one long line per page, numbered chapters and sections
run together with the body text, "Erfaringer fra …" boxes for the cases."""

from __future__ import annotations

import re

from ..models import Draft, Heading
from ..text_tools import Recaser, fold, is_upper_heading, trim_colophon
from .base import Layout

NAME = "transcript"


_PAGE_LINE = re.compile(r"^(\d+) .*$", re.M)


def looks_like(raw: str) -> bool:
    return bool(re.search(r"^Transkript\s*$", raw, re.M)) and len(_PAGE_LINE.findall(raw)) >= 5


_NUMBERED = re.compile(r"(?:^|(?<=[.!?:] ))(\d+(?:\.\d+){0,2}) (?=[A-ZÆØÅ0-9])")
_BOX = re.compile(r"(?:^|(?<=[.!?:] ))(Erfaringer fra [A-ZÆØÅ][\wæøå-]*(?: Kommune)?|Andre eksempler)\b")
_CASE_CHAPTER = re.compile(r"case|eksempl", re.I)


def _words(text: str) -> list[tuple[str, int, int]]:
    return [(m.group(0), m.start(), m.end()) for m in re.finditer(r"\S+", text)]


def _toc_prefix(words: list[tuple[str, int, int]], toc: str) -> int:
    """How many of the leading words appear, in order, in the table of contents."""
    n = 0
    for k in range(1, min(len(words), 14) + 1):
        phrase = " " + " ".join(fold(w) for w, _, _ in words[:k]) + " "
        if phrase in toc:
            n = k
        else:
            break
    return n


def parse(raw: str) -> Layout:
    marker = re.search(r"^Transkript\s*$", raw, re.M)
    body_start = marker.end() if marker else 0
    pages: list[tuple[int, int, int]] = []  # (line start, line end, page number)
    for line in _PAGE_LINE.finditer(raw, body_start):
        page_number = int(line.group(1))
        if pages and page_number != pages[-1][2] + 1:
            continue
        pages.append((line.start(), line.end(), page_number))
    if not pages:
        return Layout("transcript", [])

    # The running header: "<title> Side N af [M]" after the page number.
    headers = [h.group(1) for s, e, _ in pages if (h := re.match(r"\d+ (.{3,100}?) Side \d+ af\b", raw[s:e]))]
    header = max(set(headers), key=headers.count) if len(headers) >= len(pages) // 2 else None
    marker_rx = re.compile(
        rf"^\d+ {re.escape(header)} Side \d+ af(?P<total> \d+(?= |$))? ?" if header else r"^\d+ ",
        re.M,
    )
    debris: list[tuple[int, int]] = []
    content: list[tuple[int, int, int]] = []  # (content start, line end, page number)
    # This viewer drops the page total ("Side 15 af") on pages that open a new section.
    opens_section: set[int] = set()
    for s, e, page_number in pages:
        page_marker = marker_rx.match(raw, s, e)
        c = page_marker.end() if page_marker else s
        if page_marker and header and not page_marker.group("total"):
            opens_section.add(c)
        debris.append((s, c))
        tail = re.search(rf" {page_number}\s*$", raw[c:e])
        if tail:
            debris.append((c + tail.start(), e))
            e = c + tail.start()
        content.append((c, e, page_number))

    # Table of contents: the first page that says so, and a following page of bare titles.
    toc_text = ""
    toc_index = -1
    for i, (c, e, _) in enumerate(content[:8]):
        if re.match(r"(Indholdsfortegnelse|Indhold)\b", raw[c:e]):
            toc_index = i
            toc_text = raw[c:e]
            nxt = content[i + 1] if i + 1 < len(content) else None
            if nxt and raw[nxt[0] : nxt[1]].count(". ") < 2:
                toc_text += " " + raw[nxt[0] : nxt[1]]
                toc_index += 1
            break
    toc = " " + " ".join(fold(w) for w in toc_text.split()) + " "

    # Candidate headings.
    numbered: list[tuple[int, str, int]] = []  # (start, number, end of number)
    boxes: list[tuple[int, str]] = []
    for c, e, _ in content[toc_index + 1 :]:
        page = raw[c:e]
        numbered += [(c + m.start(), m.group(1), c + m.end()) for m in _NUMBERED.finditer(page)]
        boxes += [(c + m.start(), m.group(1)) for m in _BOX.finditer(page)]

    def title_at(pos: int, line_end: int, loose: bool) -> str | None:
        words = _words(raw[pos:line_end])
        n = _toc_prefix(words, toc)
        if n < 2 and loose and len(words) > 2:
            m = _toc_prefix(words[1:], toc)
            n = m + 1 if m >= 2 else n
        if n == 0:
            if not loose:
                return None
            for n, (w, _, _) in enumerate(words[:9]):
                if n and w[:1].isupper():
                    break
            else:
                n = min(len(words), 9)
        return raw[pos : pos + words[n - 1][2]] if n else None

    def line_end(pos: int) -> int:
        return next(e for c, e, _ in content if c <= pos <= e)

    heads: list[tuple[int, str, int, str]] = []  # (start, title, depth, number)
    chapter = None
    chapter_titles: dict[str, str] = {}
    for start, number, title_pos in numbered:
        depth = number.count(".") + 1
        if depth == 1:
            # A chapter must appear with its number in the contents ("3 Samarbejdsmodeller").
            title = title_at(title_pos, line_end(title_pos), loose=False)
            numbered_in_toc = title and f" {number} {' '.join(fold(w) for w in title.split())} " in toc
            if title and numbered_in_toc and title[:1].isupper():
                chapter = number
                chapter_titles[number] = title
                heads.append((start, title, 1, number))
        elif chapter and number.split(".")[0] == chapter:
            title = title_at(title_pos, line_end(title_pos), loose=True)
            if title:
                heads.append((start, title, depth, number))

    drafts: list[Draft] = []
    if heads:  # numbered mode: chapters, cases (2.N under a chapter of cases), boxes
        top = [h for h in heads if h[2] <= 2]
        for start, title in boxes:
            top.append((start, title, 2, "box"))
        top.sort()
        parent = ""
        for j, (start, title, depth, number) in enumerate(top):
            end = top[j + 1][0] if j + 1 < len(top) else content[-1][1]
            if number != "box":  # a box belongs to the chapter it stands in
                parent = chapter_titles.get(number.split(".")[0], "")
            kind = "case" if number == "box" or (depth == 2 and _CASE_CHAPTER.search(parent)) else "section"
            subs = [
                Heading(title=f"{n} {t}", start=s, end=s + len(n) + 1 + len(t), level=d)
                for s, t, d, n in heads
                if start < s < end and d > depth
            ]
            drafts.append(Draft(start, end, kind, title, area=parent or None, headings=subs))
    else:  # page mode: a unit starts on a page that opens with a title from the contents
        recase = Recaser(raw)
        starts: list[tuple[int, str]] = []
        use_totals = len(opens_section) < len(content) * 0.7
        for c, e, _ in content[toc_index + 1 :]:
            if use_totals and c not in opens_section:
                continue
            words = _words(raw[c:e])
            n = _toc_prefix(words, toc)
            # "Resumé og overblik ADMINISTRATION": a title ends where an ALL-CAPS one begins.
            caps = [
                k
                for k in range(1, n)
                if len(words[k][0]) > 4 and is_upper_heading(words[k][0]) and not is_upper_heading(words[0][0])
            ]
            n = caps[0] if caps else n
            if n and (n >= 2 or len(words[0][0]) >= 6):
                starts.append((c, raw[c : c + words[n - 1][2]]))
        seen_track = 0
        area = None
        for j, (start, title) in enumerate(starts):
            end = starts[j + 1][0] if j + 1 < len(starts) else content[-1][1]
            if is_upper_heading(title):
                seen_track += 1
                area = recase(title) if seen_track > 1 else None
                drafts.append(Draft(start, end, "section", recase(title), area=area))
            else:
                kind = "proposal" if seen_track > 1 else "section"
                drafts.append(Draft(start, end, kind, title, area=area))
    for d in drafts:
        d.end = trim_colophon(raw, d.start, d.end)
    return Layout("transcript", drafts, debris, [(c, n) for c, _, n in content])
