"""DOCX -> text with markdown headings: paragraphs in document order, "Heading N" and "Title"
styles as headings, table rows as lines with cells separated by " | "."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from .pdf import ExtractionError

# A DOCX is a zip: what it unpacks to is bounded before anything is read (a "zip bomb" of 1 MB
# can unpack to gigabytes). A real catalogue's text and images stay far below both.
MAX_UNPACKED_BYTES = 200 * 1024 * 1024
MAX_PARTS = 5_000


def _check_package(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as package:
            parts = package.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ExtractionError(f"{path.name}: filen er ikke en læsbar DOCX ({exc})") from exc
    if len(parts) > MAX_PARTS or sum(p.file_size for p in parts) > MAX_UNPACKED_BYTES:
        raise ExtractionError(
            f"{path.name}: DOCX-filen pakker ud til mere end {MAX_UNPACKED_BYTES // 2**20} MB "
            f"eller {MAX_PARTS} dele og læses ikke"
        )


def _level(style_name: str) -> int:
    """ "Title" is "#"; "Heading N" sits below it, as N + 1 "#"s."""
    if style_name.lower() in ("title", "titel"):
        return 1
    match = re.match(r"(?:heading|overskrift)\s*(\d)", style_name, re.I)
    return min(6, int(match.group(1)) + 1) if match else 0


def docx_to_text(path: Path) -> str:
    import docx
    from docx.opc.exceptions import OpcError
    from docx.table import Table
    from docx.text.paragraph import Paragraph
    from lxml.etree import XMLSyntaxError

    _check_package(path)
    try:
        document = docx.Document(str(path))
    except (OpcError, zipfile.BadZipFile, KeyError, ValueError, XMLSyntaxError) as exc:  # OpcError: "Package not found"
        raise ExtractionError(f"{path.name}: filen er ikke en læsbar DOCX ({exc})") from exc
    blocks: list[str] = []
    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            text = " ".join(item.text.split())
            if text:
                level = _level(item.style.name if item.style is not None else "")
                blocks.append(f"{'#' * level} {text}" if level else text)
        elif isinstance(item, Table):
            rows = [" | ".join(" ".join(cell.text.split()) for cell in row.cells) for row in item.rows]
            blocks.append("\n".join(row for row in rows if row.strip(" |")))
    text = "\n\n".join(b for b in blocks if b)
    if not text.strip():
        raise ExtractionError(f"{path.name}: dokumentet indeholder ingen tekst")
    return text + "\n"
