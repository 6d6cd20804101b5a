"""Adding and removing catalogues: files in corpus/ and their entries in catalogues.toml.

A text catalogue (.txt, .md) is stored as it is. For a PDF, DOCX or HTML original the
original is kept and the text extracted from it is stored beside it (``<id>.txt``); offsets
refer to that text. Every check
runs before anything is written, so a file that is refused leaves the corpus as it was.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import tomllib
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .extract.docx import docx_to_text
from .extract.html import html_to_text
from .extract.pdf import ExtractionError, pdf_title, pdf_to_text
from .parse import (
    CORPUS_SUFFIXES,
    DOCUMENT_ID,
    MANIFEST_NAME,
    CorpusError,
    _slug,
    corpus_files,
    read_document,
    read_manifest,
)

EXTRACTED = {".pdf": pdf_to_text, ".docx": docx_to_text, ".html": html_to_text, ".htm": html_to_text}
SUPPORTED = (*CORPUS_SUFFIXES, *EXTRACTED)
MAX_FIELD_CHARS = 500  # a title, publisher or address longer than this is no title


class UnknownCatalogue(CorpusError):
    """No catalogue of the corpus has this id."""


class LastCatalogue(CorpusError):
    """Search needs at least one catalogue."""


def check_field(name: str, value: str | None) -> str | None:
    """A text that goes into the manifest: no control characters (NUL, DEL, …), no lone
    surrogates, not absurdly long; refused before anything is written."""
    if value is None:
        return None
    if len(value) > MAX_FIELD_CHARS:
        raise CorpusError(f"{name} er for lang ({len(value)} tegn); højst {MAX_FIELD_CHARS}")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise CorpusError(f"{name} indeholder kontroltegn eller ugyldige tegn")
    return value


def add_catalogue(
    corpus_dir: Path,
    source: Path,
    doc_id: str | None = None,
    title: str | None = None,
    publisher: str | None = None,
    year: int | None = None,
    url: str | None = None,
) -> str:
    """Put ``source`` into the corpus with a manifest entry; returns the catalogue's id."""
    suffix = source.suffix.lower()
    if not source.is_file():
        raise CorpusError(f"{source}: filen findes ikke")
    if suffix not in SUPPORTED:
        raise CorpusError(
            f"{source.name}: filtypen {suffix or '(ingen)'} kan ikke tilføjes; brug {', '.join(SUPPORTED)}"
        )
    for name, value in (("filnavnet", source.name), ("titlen", title), ("udgiveren", publisher), ("kilden", url)):
        check_field(name, value)
    manifest = read_manifest(corpus_dir)
    doc_id = doc_id or _slug(source.stem)
    if not DOCUMENT_ID.fullmatch(doc_id or ""):
        raise CorpusError(f"{source.name}: id '{doc_id}' må kun have små bogstaver, tal og bindestreg")
    unlisted = {_slug(p.stem) for p in corpus_files(corpus_dir) if p.name not in manifest}
    taken = {entry["id"] for entry in manifest.values()} | unlisted
    if doc_id in taken:
        existing = next((e for e in manifest.values() if e["id"] == doc_id), {"file": f"{doc_id}{suffix}"})
        kept = corpus_dir / existing.get("original", existing["file"])
        if kept.is_file() and kept.read_bytes() == source.read_bytes():
            raise CorpusError(
                f"{source.name}: kataloget er allerede tilføjet som '{doc_id}'. Blev en tilføjelse afbrudt, "
                "gør 'casefinder index' indekset færdigt"
            )
        raise CorpusError(f"{source.name}: id '{doc_id}' er allerede i brug; vælg et andet med --id")
    if suffix in EXTRACTED:
        try:
            text = EXTRACTED[suffix](source)
        except ExtractionError as exc:
            raise CorpusError(str(exc)) from exc
        files = {f"{doc_id}.txt": text.encode("utf-8"), f"{doc_id}{suffix}": source.read_bytes()}
        entry = {"file": f"{doc_id}.txt", "original": f"{doc_id}{suffix}"}
    else:
        files = {f"{doc_id}{suffix}": source.read_bytes()}
        entry = {"file": f"{doc_id}{suffix}"}
    for name in files:
        if (corpus_dir / name).exists():
            raise CorpusError(f"{source.name}: {name} findes allerede i korpusmappen")
    with tempfile.TemporaryDirectory() as staging:  # checked as the corpus will read it
        staged = Path(staging) / source.name
        staged.write_bytes(files[entry["file"]])
        document = read_document(staged, None)  # empty, NUL bytes, not UTF-8: refused here
    if not title and suffix == ".pdf":
        title = pdf_title(source, text)
    listed: dict[str, str | int] = {
        "id": doc_id,
        **entry,
        "title": title or document.title,
        "publisher": publisher or "",
        **({"year": year} if year else {}),
        "source": url or "",
    }
    path = corpus_dir / MANIFEST_NAME
    old = path.read_text("utf-8") if path.exists() else ""
    manifest_text = old + "\n" + _toml_entry(listed)
    if tomllib.loads(manifest_text)["catalogue"][-1] != listed:  # read back before it replaces the old one
        raise CorpusError(f"{source.name}: manifestets nye linjer kan ikke læses tilbage")
    try:
        for name, data in files.items():
            (corpus_dir / name).write_bytes(data)
        _write_atomic(path, manifest_text)
    except OSError:
        for name in files:
            (corpus_dir / name).unlink(missing_ok=True)
        raise
    return doc_id


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text, "utf-8")
    os.replace(tmp, path)


@contextmanager
def adding(
    corpus_dir: Path,
    source: Path,
    doc_id: str | None = None,
    title: str | None = None,
    publisher: str | None = None,
    year: int | None = None,
    url: str | None = None,
) -> Iterator[str]:
    """Add a catalogue (yields its id) for a block that indexes it; if the block fails, the
    catalogue is taken out again, so nothing half-added stays behind."""
    doc_id = add_catalogue(corpus_dir, source, doc_id, title, publisher, year, url)
    try:
        yield doc_id
    except BaseException:
        remove_catalogue(corpus_dir, doc_id, keep_one=False)
        raise


def remove_catalogue(corpus_dir: Path, doc_id: str, keep_one: bool = True) -> list[str]:
    """Take a catalogue out of the corpus and the manifest; returns the files removed.
    ``keep_one``: refuse to remove the last catalogue (a rollback of an add may)."""
    manifest = read_manifest(corpus_dir)
    entry = next((e for e in manifest.values() if e["id"] == doc_id), None)
    if entry is None:
        raise UnknownCatalogue(f"kataloget '{doc_id}' findes ikke i {MANIFEST_NAME}")
    if keep_one and len(corpus_files(corpus_dir)) <= 1:
        raise LastCatalogue(f"'{doc_id}' er det sidste katalog og kan ikke fjernes: søgningen skal have mindst ét")
    path = corpus_dir / MANIFEST_NAME
    _write_atomic(path, _without_entry(path.read_text("utf-8"), doc_id))
    removed = []
    for name in (entry["file"], entry.get("original")):
        if name and (corpus_dir / name).is_file():
            (corpus_dir / name).unlink()
            removed.append(name)
    return removed


def _toml_value(value: str | int) -> str:
    # JSON string escapes are valid TOML basic-string escapes; TOML also forbids a raw DEL.
    return str(value) if isinstance(value, int) else json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_entry(entry: dict) -> str:
    return "[[catalogue]]\n" + "\n".join(f"{key} = {_toml_value(value)}" for key, value in entry.items()) + "\n"


def _without_entry(text: str, doc_id: str) -> str:
    """The manifest's text without the [[catalogue]] block of ``doc_id`` (comments elsewhere kept);
    a block that ``add_catalogue`` appended goes with the blank line it put before it, so adding
    and removing a catalogue leaves the file as it was, byte for byte."""
    parts = re.split(r"(?m)^(?=\[\[catalogue\]\]\s*$)", text)
    kept: list[str] = []
    for i, part in enumerate(parts):
        if part.startswith("[[catalogue]]") and tomllib.loads(part).get("catalogue", [{}])[0].get("id") == doc_id:
            if i == len(parts) - 1 and kept and kept[-1].endswith("\n\n"):
                kept[-1] = kept[-1][:-1]
            continue
        kept.append(part)
    return "".join(kept)
