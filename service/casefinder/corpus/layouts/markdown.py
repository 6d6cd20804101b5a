"""Markdown from PDF conversion: chapters and cases at ``#`` headings, a table of contents
that repairs headings the conversion broke, example boxes recognised by the municipalities they name."""

from __future__ import annotations

import re

from ..models import Draft, Heading
from ..text_tools import Recaser, clean_heading, fold, repair_with_toc, trim_colophon
from .base import MD_HEADING, Layout

NAME = "markdown"


def looks_like(raw: str) -> bool:
    headings = MD_HEADING.findall(raw)
    return len(headings) >= 5 and any(len(h[0]) == 1 for h in headings)


_CHAPTER = re.compile(r"^\d{1,2}\s*/\s*")
_TOC_TITLES = {"indhold", "indholdsfortegnelse", "contents"}
_EXAMPLE_HINTS = re.compile(
    r"\b(?:\d+|to|tre|fire|fem|seks|syv|otte|ni|ti|elleve|tolv)\s+(?:[\wæøå-]+\s+)?kommuner\b"
    r"|\bRegion\s+[A-ZÆØÅ]|\b[A-ZÆØÅ]{3,}\b|[A-ZÆØÅ][\wæøå-]+(?:,\s*[A-ZÆØÅ][\wæøå-]+)*\s+og\s+[A-ZÆØÅ][\wæøå-]+\s+[Kk]ommune"
    r"|\b[A-ZÆØÅ][\wæøå-]+s?\s+Kommunes?\b"
)


def _toc_entries(block: str) -> list[str]:
    entries = []
    for part in re.split(r"<b>|</b>|\||\t|\n", block):
        part = re.sub(r"\.{3,}.*$", "", part)
        part = clean_heading(re.sub(r"\s*\d+\s*$", "", part))
        if re.search(r"[A-Za-zÆØÅæøå]{3}", part):
            entries.append(part)
    return entries


def parse(raw: str) -> Layout:
    recase = Recaser(raw)
    found = [
        (len(m.group(1)), clean_heading(m.group(2)), m.start(), m.end())
        for m in MD_HEADING.finditer(raw)
        if clean_heading(m.group(2))
    ]
    toc: list[str] = []
    toc_starts: set[int] = set()
    for i, (_, text, start, end) in enumerate(found):
        if fold(text) in _TOC_TITLES:
            block_end = found[i + 1][2] if i + 1 < len(found) else len(raw)
            toc = _toc_entries(raw[end:block_end])
            toc_starts.add(start)
    toc_keys = {fold(e) for e in toc}

    def followed_by_case_marker(i: int) -> bool:
        return i + 1 < len(found) and fold(found[i + 1][1]) == "case"

    cases_at_top = any(
        level == 1 and (":" in text or followed_by_case_marker(i)) for i, (level, text, _, _) in enumerate(found)
    )

    def looks_like_example(i: int) -> bool:
        _, text, start, end = found[i]
        if text.endswith("?"):
            return False
        body_end = found[i + 1][2] if i + 1 < len(found) else len(raw)
        first = raw[end : min(body_end, end + 400)]
        return bool(_EXAMPLE_HINTS.search(text + "\n" + first))

    bounds: list[tuple[int, str, str, bool]] = []  # (start, kind, title, sets_area)
    for i, (level, text, start, _) in enumerate(found):
        if start in toc_starts:
            bounds.append((start, "toc", text, False))
        elif _CHAPTER.match(text):
            bounds.append((start, "section", _CHAPTER.sub("", text), True))
        elif level == 1:
            is_case = cases_at_top and (":" in text or followed_by_case_marker(i))
            bounds.append((start, "case" if is_case else "section", text, not cases_at_top))
        elif not cases_at_top and fold(text) in toc_keys:
            bounds.append((start, "section", text, False))
        elif not cases_at_top and looks_like_example(i):
            bounds.append((start, "case", text, False))

    drafts: list[Draft] = []
    area = None
    for j, (start, kind, title, sets_area) in enumerate(bounds):
        end = bounds[j + 1][0] if j + 1 < len(bounds) else len(raw)
        title = recase(repair_with_toc(title, toc))
        if sets_area:
            area = title
        if kind == "toc":
            continue
        end = trim_colophon(raw, start, end)
        municipality = None
        if ":" in title:
            prefix = title.split(":", 1)[0].strip()
            if "Kommune" in prefix or any(c.isupper() for c in prefix[1:]):
                municipality = prefix
        headings = [
            Heading(title=recase(text), start=s, end=e, level=lvl)
            for lvl, text, s, e in found
            if start < s < end and fold(text) != "case"
        ]
        drafts.append(Draft(start, end, kind, title, area=area, municipality=municipality, headings=headings))
    return Layout("markdown", drafts)
