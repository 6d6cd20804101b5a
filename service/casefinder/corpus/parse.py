"""Corpus folder -> documents -> cases, with exact raw offsets."""

from __future__ import annotations

import difflib
import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from . import layouts
from .cleaning import CleanText, normalise, squash
from .entities import find_contacts, find_money, find_municipalities, organisation_name
from .models import Case, Document, Draft
from .text_tools import fold

CORPUS_SUFFIXES = (".txt", ".md")
MANIFEST_NAME = "catalogues.toml"
DOCUMENT_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")


class CorpusError(ValueError):
    """A corpus file that cannot be read; the message names the file."""


@dataclass
class Corpus:
    documents: list[Document]
    cases: list[Case]
    warnings: list[str] = field(default_factory=list)

    def document(self, doc_id: str) -> Document | None:
        return next((d for d in self.documents if d.id == doc_id), None)

    def case(self, case_id: str) -> Case | None:
        return self._by_id.get(case_id)

    def known_case(self, case_id: str) -> Case:
        """A case that must exist (one a chunk or hit belongs to); KeyError otherwise."""
        return self._by_id[case_id]

    def __post_init__(self) -> None:
        self._by_id = {c.id: c for c in self.cases}


def read_manifest(corpus_dir: Path) -> dict[str, dict]:
    path = corpus_dir / MANIFEST_NAME
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{MANIFEST_NAME}: manifestet kan ikke læses: {exc}") from exc
    entries: dict[str, dict] = {}
    files_by_id: dict[str, str] = {}
    for n, entry in enumerate(data.get("catalogue", []), 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str) or not entry["file"].strip():
            raise CorpusError(f"{MANIFEST_NAME}: katalog nr. {n} mangler 'file' (filnavnet i korpusmappen)")
        doc_id = entry.get("id", _slug(Path(entry["file"]).stem))
        if not isinstance(doc_id, str) or not DOCUMENT_ID.fullmatch(doc_id):
            raise CorpusError(
                f"{MANIFEST_NAME}: id '{doc_id}' for {entry['file']} må kun have små bogstaver, tal og bindestreg"
            )
        for key in ("file", "original"):
            if key in entry and (not isinstance(entry[key], str) or Path(entry[key]).name != entry[key]):
                raise CorpusError(f"{MANIFEST_NAME}: '{key}' for {entry['file']} skal være et filnavn i korpusmappen")
        if doc_id in files_by_id:
            raise CorpusError(f"{MANIFEST_NAME}: id '{doc_id}' bruges af både {files_by_id[doc_id]} og {entry['file']}")
        if entry["file"] in entries:
            raise CorpusError(f"{MANIFEST_NAME}: {entry['file']} står der to gange")
        files_by_id[doc_id] = entry["file"]
        entries[entry["file"]] = {**entry, "id": doc_id}
    return entries


def corpus_files(corpus_dir: Path) -> list[Path]:
    if not corpus_dir.is_dir():
        raise CorpusError(f"{corpus_dir}: korpusmappen findes ikke")
    return sorted(p for p in corpus_dir.iterdir() if p.suffix.lower() in CORPUS_SUFFIXES and p.is_file())


def read_document(path: Path, entry: dict | None) -> Document:
    data = path.read_bytes()
    if not data.strip():
        raise CorpusError(f"{path.name}: filen er tom")
    if b"\x00" in data:
        raise CorpusError(f"{path.name}: filen er ikke tekst (den indeholder NUL-bytes)")
    try:
        raw = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path.name}: filen er ikke UTF-8 (byte {exc.start})") from exc
    # Offsets are into the text read with newline="" (no newline translation), which
    # is exactly what bytes.decode gives.
    entry = entry or {}
    first_line = next((l.strip("# ").strip() for l in raw.splitlines() if l.strip()), path.stem)
    return Document(
        id=entry.get("id") or _slug(path.stem) or "katalog",
        path=path,
        title=entry.get("title", first_line[:120]),
        publisher=entry.get("publisher", ""),
        year=entry.get("year"),
        kind=entry.get("kind", ""),
        source=entry.get("source", ""),
        sha256=hashlib.sha256(data).hexdigest(),
        raw=raw,
        original=path.parent / entry["original"] if entry.get("original") else None,
    )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", fold(text)).strip("-")[:60].rstrip("-")


def actors(draft: Draft, text: str) -> tuple[str | None, list[str], list[str]]:
    """(municipality, every municipality named, organisations) of a unit.

    The municipality is the one the layout names (title prefix, "Kommune:" field), else
    the first named in the title, else in the text. What the layout names that is no
    municipality (or region) is an organisation."""
    stated = draft.municipality or ""
    explicit = find_municipalities(stated) or find_municipalities(f"{stated} Kommune")
    in_title = find_municipalities(draft.title)
    mentioned = list(dict.fromkeys(explicit + in_title + find_municipalities(text)))
    organisation = organisation_name(stated) if stated and not explicit else None
    # An overview, or a unit led by an organisation, has no single municipality.
    lead = (explicit or in_title or ([] if draft.kind == "section" or organisation else mentioned))[:1]
    return (lead[0] if lead else None), mentioned, [organisation] if organisation else []


def _printed_before(draft: Draft, text: str, seen: dict[str, list[Case]]) -> Case | None:
    """The earlier case with the same title and (nearly) the same text, if any."""
    for case in seen.get(fold(squash(draft.title)), []):
        if case.text == text or difflib.SequenceMatcher(None, case.text, text, autojunk=False).quick_ratio() > 0.95:
            return case
    return None


OVERVIEW_MIN_NAMED = 3  # a section naming at least this many of its catalogue's cases or municipalities


def mark_overviews(cases: list[Case]) -> None:
    """Flag the sections that list or summarise cases ("Resumé og overblik", "Udvalgte
    cases"): they name several of the catalogue's cases or municipalities. Ranking lets
    them yield to the cases themselves; guidance sections are not flagged."""
    titles = [fold(c.title.split(":")[-1].strip())[:30] for c in cases if c.kind != "section" and len(c.title) > 12]
    for section in (c for c in cases if c.kind == "section"):
        text = fold(section.text)
        named = sum(title in text for title in titles) + len(section.municipalities)
        section.overview = named >= OVERVIEW_MIN_NAMED


def parse_document(doc: Document) -> tuple[list[Case], str | None]:
    doc.layout = layouts.detect(doc.raw)
    layout = layouts.PARSERS[doc.layout](doc.raw)
    drafts = layouts.finish(doc.raw, layout.drafts)
    if not drafts:  # nothing recognised: the whole file is one unit
        drafts = [Draft(0, len(doc.raw), "section", doc.title)]
    # Page-marked transcripts name their pages; text extracted from a PDF has a form feed
    # between pages (corpus/extract/pdf.py).
    doc.pages = layout.pages or (
        [(0, 1)] + [(m.end(), n) for n, m in enumerate(re.finditer("\f", doc.raw), 2)] if "\f" in doc.raw else []
    )
    doc.clean = normalise(CleanText.identity(doc.raw).without(layout.debris))

    cases: list[Case] = []
    seen_text: dict[str, list[Case]] = {}
    used_ids: set[str] = set()
    for d in drafts:
        clean = doc.clean.slice(d.start, d.end)
        if not clean.text.strip():
            continue
        original = _printed_before(d, clean.text, seen_text)
        if original:  # a case printed twice: keep the first, remember where the copy is
            original.duplicates.append((d.start, d.end))
            continue
        municipality, mentioned, organisations = actors(d, clean.text)
        title = squash(d.title)
        base = f"{doc.id}-{_slug(title) or d.kind}"
        case_id, n = base, 2
        while case_id in used_ids:
            case_id, n = f"{base}-{n}", n + 1
        used_ids.add(case_id)
        case = Case(
            id=case_id,
            catalogue=doc.id,
            kind=d.kind,
            title=title,
            municipality=municipality,
            municipalities=mentioned,
            organisations=organisations,
            area=d.area,
            efficiency_type=d.efficiency_type,
            contacts=find_contacts(clean.text),
            money=find_money(clean.text),
            page=doc.page_at(d.start),
            headings=d.headings,
            start=d.start,
            end=d.end,
            sha256=doc.sha256,
            clean=clean,
        )
        seen_text.setdefault(fold(case.title), []).append(case)
        cases.append(case)
    mark_overviews(cases)
    return cases, layout.warning


def load_corpus(corpus_dir: Path) -> Corpus:
    manifest = read_manifest(corpus_dir)
    documents: list[Document] = []
    cases: list[Case] = []
    warnings: list[str] = []
    for path in corpus_files(corpus_dir):
        try:
            doc = read_document(path, manifest.get(path.name))
        except CorpusError as exc:  # one bad file must not take the others down
            warnings.append(f"{exc}; filen er sprunget over")
            continue
        clash = next((d for d in documents if d.id == doc.id), None)
        if clash:  # an unlisted file whose derived id another file already has
            warnings.append(f"{path.name}: id '{doc.id}' bruges allerede af {clash.path.name}; filen er sprunget over")
            continue
        if path.name not in manifest:
            warnings.append(f"{path.name}: ikke i {MANIFEST_NAME}; id '{doc.id}' og titel taget fra filen")
        doc_cases, warning = parse_document(doc)
        if warning:
            warnings.append(f"{path.name}: {warning}")
        documents.append(doc)
        cases.extend(doc_cases)
    return Corpus(documents, cases, warnings)  # the build that takes a file in says them (index/build.py)
