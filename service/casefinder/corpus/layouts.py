"""Layout parsers: each recognises one kind of catalogue by its content and cuts it into units.

A parser gets the raw text and returns ``Layout``: unit drafts (raw spans plus what
the layout says of them), debris spans that cleaning must drop (page markers,
viewer headers) and page starts. Which parser applies is decided by ``detect``
from the text alone, so a new catalogue in a known layout needs no code change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .models import Draft, Heading
from .text_tools import (
    Recaser,
    clean_heading,
    fold,
    is_colophon,
    is_upper_heading,
    repair_with_toc,
    trim_colophon,
)

MIN_UNIT_CHARS = 250  # shorter units are merged into the one before (or dropped if first)


@dataclass
class Layout:
    name: str
    drafts: list[Draft]
    debris: list[tuple[int, int]] = field(default_factory=list)
    pages: list[tuple[int, int]] = field(default_factory=list)
    warning: str | None = None


# --------------------------------------------------------------------------- markdown

_MD_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*$", re.M)
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


def parse_markdown(raw: str) -> Layout:
    recase = Recaser(raw)
    found = [
        (len(m.group(1)), clean_heading(m.group(2)), m.start(), m.end())
        for m in _MD_HEADING.finditer(raw)
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
    for i, (level, text, start, end) in enumerate(found):
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


# --------------------------------------------------------------------------- transcript

_PAGE_LINE = re.compile(r"^(\d+) .*$", re.M)
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


def parse_transcript(raw: str) -> Layout:
    marker = re.search(r"^Transkript\s*$", raw, re.M)
    body_start = marker.end() if marker else 0
    pages: list[tuple[int, int, int]] = []  # (line start, line end, page number)
    for m in _PAGE_LINE.finditer(raw, body_start):
        number = int(m.group(1))
        if pages and number != pages[-1][2] + 1:
            continue
        pages.append((m.start(), m.end(), number))
    if not pages:
        return Layout("transcript", [])

    # The running header: "<title> Side N af [M]" after the page number.
    headers = [
        h.group(1)
        for s, e, _ in pages
        if (h := re.match(r"\d+ (.{3,100}?) Side \d+ af\b", raw[s:e]))
    ]
    header = max(set(headers), key=headers.count) if len(headers) >= len(pages) // 2 else None
    marker_rx = re.compile(
        rf"^\d+ {re.escape(header)} Side \d+ af(?P<total> \d+(?= |$))? ?" if header else r"^\d+ ",
        re.M,
    )
    debris: list[tuple[int, int]] = []
    content: list[tuple[int, int, int]] = []  # (content start, line end, page number)
    # This viewer drops the page total ("Side 15 af") on pages that open a new section.
    opens_section: set[int] = set()
    for s, e, number in pages:
        m = marker_rx.match(raw, s, e)
        c = m.end() if m else s
        if m and header and not m.group("total"):
            opens_section.add(c)
        debris.append((s, c))
        tail = re.search(rf" {number}\s*$", raw[c:e])
        if tail:
            debris.append((c + tail.start(), e))
            e = c + tail.start()
        content.append((c, e, number))

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
            if numbered_in_toc and title[:1].isupper():
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
            caps = [k for k in range(1, n) if len(words[k][0]) > 4 and is_upper_heading(words[k][0]) and not is_upper_heading(words[0][0])]
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


# --------------------------------------------------------------------------- case sheets

_FOOTER = re.compile(r"^[ \t]*\S.{0,60}?[ \t]+Side \d+ af \d+[ \t]*$", re.M)  # "B17-katalog  Side 39 af 198"
_MAILTO = re.compile(r"^mailto:\S*[ \t]*$", re.M)  # link annotations left by PDF-to-text
_OM_CASEN = re.compile(r"^[ \t]*Om casen:?[ \t]*$", re.M)
_FIELD = re.compile(r"^[ \t]*(Kommune|Kontaktperson|Kontaktpersoner)\s*:\s*(.*?)\s*$")
_SHEET_SUBHEADINGS = re.compile(
    r"^[ \t]*(Forventet/realiseret økonomisk gevinst|Andre effekter|Realiserbarhed|Status|Om casen:?)[ \t]*$", re.M
)


def _lines(raw: str, start: int, end: int) -> list[tuple[int, int, str]]:
    """Lines with raw offsets; link annotations and page footers read as blank lines."""
    out = []
    pos = start
    for line in raw[start:end].split("\n"):
        debris = _MAILTO.match(line) or _FOOTER.match(line)
        out.append((pos, pos + len(line), "" if debris else line))
        pos += len(line) + 1
    return out


def _numbered_list(raw: str, after: str) -> list[list[str]]:
    """Numbered lists ('1. Tværgående forslag') after a heading line: the sheet's vocabularies."""
    m = re.search(after, raw)
    if not m:
        return []
    lists: list[list[str]] = []
    for item in re.finditer(r"^\s*(\d+)\.\s+(.+?)\s*$", raw[m.end() : m.end() + 3000], re.M):
        if item.group(1) == "1":
            lists.append([])
        if lists:
            lists[-1].append(item.group(2))
    return lists


def parse_case_sheets(raw: str) -> Layout:
    vocab = _numbered_list(raw, r"Sektor\s+Effektiviseringstyper")
    sectors = {fold(v) for v in vocab[0]} if vocab else set()
    types = {fold(v) for v in vocab[1]} if len(vocab) > 1 else set()

    ends: list[tuple[int, int]] = []  # (start of "Om casen", end of the contact block)
    for m in _OM_CASEN.finditer(raw):
        pos = m.end()
        block_end = pos
        for s, e, line in _lines(raw, pos + 1, min(len(raw), pos + 800))[:8]:
            if not line.strip():
                if block_end > pos:
                    break
                continue
            block_end = e
        ends.append((m.start(), block_end))

    drafts: list[Draft] = []
    prev_end = 0
    sector = etype = None
    intro_end = None
    def vocabulary_line(line: str) -> bool:
        return fold(line.strip()) in sectors or fold(line.strip()) in types

    for om_start, case_end in ends:
        lines = _lines(raw, prev_end, om_start)
        # Where the sheet's sector / type headings stand, the case starts after them;
        # before the first case this skips the introduction.
        labels = [k for k, (_, _, line) in enumerate(lines) if vocabulary_line(line)]
        if labels and (not drafts or labels[0] < 8):
            first_label = labels[0]
            while first_label > 0 and not lines[first_label - 1][2].strip():
                first_label -= 1
            if intro_end is None:
                intro_end = lines[labels[0]][0]
            lines = lines[first_label:]
        headings: list[tuple[int, int, str]] = []
        title_line = None
        for k, (s, e, line) in enumerate(lines):
            text = line.strip()
            if not text:
                continue
            prev_blank = k == 0 or not lines[k - 1][2].strip()
            next_blank = k + 1 >= len(lines) or not lines[k + 1][2].strip()
            if vocabulary_line(text):
                continue
            if prev_blank and next_blank and len(text) <= 110 and not text.endswith((".", ",")):
                headings.append((s, e, text))
                continue
            break
        for s, e, line in lines:
            if not vocabulary_line(line):
                continue
            text, key = line.strip(), fold(line.strip())
            if key in sectors or not types and not sectors and len(headings) > 2 and s == headings[0][0]:
                sector, etype = text, None
            elif key in types:
                etype = text
        if headings:
            s, e, title_line = headings[-1]
            start = s + len(raw[s:e]) - len(raw[s:e].lstrip())
            if intro_end is None:
                intro_end = headings[0][0]
        else:
            start = next(
                (s for s, e, line in lines if line.strip() and not vocabulary_line(line)),
                prev_end,
            )
            start += len(raw[start:om_start]) - len(raw[start:om_start].lstrip())
            title_line = raw[start : raw.find("\n", start)].strip()
            if intro_end is None:
                intro_end = start
        municipality = None
        for _, _, line in _lines(raw, om_start, case_end):
            f = _FIELD.match(line)
            if f and f.group(1) == "Kommune" and f.group(2):
                municipality = f.group(2)
        subs = [
            Heading(title=m.group(1).rstrip(":"), start=m.start(1), end=m.end(1), level=3)
            for m in _SHEET_SUBHEADINGS.finditer(raw, start, case_end)
        ]
        drafts.append(
            Draft(
                start, case_end, "case", clean_heading(title_line), area=sector, efficiency_type=etype,
                municipality=municipality, headings=subs,
            )
        )
        prev_end = case_end

    # The introduction before the first case: sections at standalone heading lines.
    sections = _standalone_sections(raw, 0, intro_end) if intro_end else []
    debris = [(m.start(), m.end()) for rx in (_FOOTER, _MAILTO) for m in rx.finditer(raw)]
    return Layout("case-sheets", sections + drafts, debris=debris)


def _standalone_sections(raw: str, start: int, end: int) -> list[Draft]:
    lines = _lines(raw, start, end)
    heads = []
    for k, (s, e, line) in enumerate(lines):
        text = line.strip()
        prev_blank = k == 0 or not lines[k - 1][2].strip()
        next_blank = k + 1 >= len(lines) or not lines[k + 1][2].strip()
        if (
            text and prev_blank and next_blank and len(text) <= 80 and text[:1].isupper()
            and not text.endswith((".", ",", ";"))
        ):
            heads.append((s + len(line) - len(line.lstrip()), text))
    if not heads or heads[0][0] > start + 200:
        heads.insert(0, (start, raw[start:end].strip().split("\n")[0].strip()))
    drafts = []
    for j, (s, text) in enumerate(heads):
        e = heads[j + 1][0] if j + 1 < len(heads) else end
        drafts.append(Draft(s, e, "section", clean_heading(text)))
    return drafts


# --------------------------------------------------------------------------- fallback

def parse_unknown(raw: str) -> Layout:
    """Unknown layout: one unit per heading (markdown or standalone lines), else one per file."""
    recase = Recaser(raw)
    found = [(m.start(), clean_heading(m.group(2))) for m in _MD_HEADING.finditer(raw) if clean_heading(m.group(2))]
    if found:
        drafts = []
        for j, (s, title) in enumerate(found):
            e = found[j + 1][0] if j + 1 < len(found) else len(raw)
            drafts.append(Draft(s, e, "section", recase(title)))
    else:
        drafts = _standalone_sections(raw, 0, len(raw))
    return Layout("unknown", drafts, warning="ukendt layout: én enhed pr. overskrift eller pr. fil")


# --------------------------------------------------------------------------- detection

def detect(raw: str) -> str:
    if re.search(r"^Transkript\s*$", raw, re.M) and len(_PAGE_LINE.findall(raw)) >= 5:
        return "transcript"
    if len(_OM_CASEN.findall(raw)) >= 3:
        return "case-sheets"
    headings = _MD_HEADING.findall(raw)
    if len(headings) >= 5 and any(len(h[0]) == 1 for h in headings):
        return "markdown"
    return "unknown"


PARSERS = {
    "transcript": parse_transcript,
    "case-sheets": parse_case_sheets,
    "markdown": parse_markdown,
    "unknown": parse_unknown,
}


def finish(raw: str, drafts: list[Draft]) -> list[Draft]:
    """Shared tidying: drop colophons, merge fragments too short to stand alone."""
    out: list[Draft] = []
    for d in sorted(drafts, key=lambda d: d.start):
        while d.end > d.start and raw[d.end - 1].isspace():
            d.end -= 1
        body = raw[d.start : d.end]
        if not body.strip() or is_colophon(body):
            continue
        if len(body.strip()) < MIN_UNIT_CHARS and d.kind == "section":
            if out and out[-1].kind == "section" and out[-1].end <= d.start:
                out[-1].end = d.end
                out[-1].headings.append(Heading(d.title, d.start, d.start + len(d.title), 2))
            continue
        out.append(d)
    return out
