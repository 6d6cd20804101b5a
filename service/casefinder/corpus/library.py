"""Adding and removing catalogues: files in corpus/ and their entries in catalogues.toml.

A text catalogue (.txt, .md) is stored as it is. For a PDF, DOCX or HTML original the
original is kept and the text extracted from it is stored beside it (``<id>.txt``); offsets
refer to that text. Every check
runs before anything is written, so a file that is refused leaves the corpus as it was.
"""

from __future__ import annotations

import json
import re
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .extract.docx import docx_to_text
from .extract.html import html_to_text
from .extract.pdf import ExtractionError, pdf_to_text
from .parse import (CORPUS_SUFFIXES, DOCUMENT_ID, MANIFEST_NAME, CorpusError, _slug, corpus_files, read_document,
                    read_manifest)

EXTRACTED = {".pdf": pdf_to_text, ".docx": docx_to_text, ".html": html_to_text, ".htm": html_to_text}
SUPPORTED = (*CORPUS_SUFFIXES, *EXTRACTED)


def add_catalogue(corpus_dir: Path, source: Path, doc_id: str | None = None, title: str | None = None,
                  publisher: str | None = None, year: int | None = None, url: str | None = None) -> str:
    """Put ``source`` into the corpus with a manifest entry; returns the catalogue's id."""
    suffix = source.suffix.lower()
    if not source.is_file():
        raise CorpusError(f"{source}: filen findes ikke")
    if suffix not in SUPPORTED:
        raise CorpusError(f"{source.name}: filtypen {suffix or '(ingen)'} kan ikke tilføjes; brug {', '.join(SUPPORTED)}")
    manifest = read_manifest(corpus_dir)
    doc_id = doc_id or _slug(source.stem)
    if not DOCUMENT_ID.fullmatch(doc_id or ""):
        raise CorpusError(f"{source.name}: id '{doc_id}' må kun have små bogstaver, tal og bindestreg")
    unlisted = {_slug(p.stem) for p in corpus_files(corpus_dir) if p.name not in manifest}
    taken = {entry["id"] for entry in manifest.values()} | unlisted
    if doc_id in taken:
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
            raise CorpusError(f"{source.name}: {corpus_dir / name} findes allerede")
    with tempfile.TemporaryDirectory() as staging:  # checked as the corpus will read it
        staged = Path(staging) / source.name
        staged.write_bytes(files[entry["file"]])
        document = read_document(staged, None)  # empty, NUL bytes, not UTF-8: refused here
    entry = {"id": doc_id, **entry, "title": title or document.title, "publisher": publisher or "",
             **({"year": year} if year else {}), "source": url or ""}
    for name, data in files.items():
        (corpus_dir / name).write_bytes(data)
    with open(corpus_dir / MANIFEST_NAME, "a", encoding="utf-8") as manifest_file:
        manifest_file.write("\n" + _toml_entry(entry))
    return doc_id


@contextmanager
def adding(corpus_dir: Path, source: Path, doc_id: str | None = None, title: str | None = None,
           publisher: str | None = None, year: int | None = None, url: str | None = None) -> Iterator[str]:
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
        raise CorpusError(f"kataloget '{doc_id}' findes ikke i {corpus_dir / MANIFEST_NAME}")
    if keep_one and len(corpus_files(corpus_dir)) <= 1:
        raise CorpusError(f"'{doc_id}' er det sidste katalog og kan ikke fjernes: søgningen skal have mindst ét")
    path = corpus_dir / MANIFEST_NAME
    path.write_text(_without_entry(path.read_text("utf-8"), doc_id), "utf-8")
    removed = []
    for name in (entry["file"], entry.get("original")):
        if name and (corpus_dir / name).is_file():
            (corpus_dir / name).unlink()
            removed.append(name)
    return removed


def _toml_entry(entry: dict) -> str:
    # JSON string escapes are valid TOML basic-string escapes.
    lines = [f"{key} = {value if isinstance(value, int) else json.dumps(value, ensure_ascii=False)}"
             for key, value in entry.items()]
    return "[[catalogue]]\n" + "\n".join(lines) + "\n"


def _without_entry(text: str, doc_id: str) -> str:
    """The manifest's text without the [[catalogue]] block of ``doc_id`` (comments elsewhere kept)."""
    parts = re.split(r"(?m)^(?=\[\[catalogue\]\]\s*$)", text)
    kept = [part for part in parts if not (part.startswith("[[catalogue]]")
                                           and tomllib.loads(part).get("catalogue", [{}])[0].get("id") == doc_id)]
    return "".join(kept)
