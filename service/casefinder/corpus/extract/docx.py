"""DOCX -> text with markdown headings: paragraphs in document order, "Heading N" and "Title"
styles as headings, table rows as lines with cells separated by " | "."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from .pdf import ExtractionError


def _level(style_name: str) -> int:
    if style_name.lower() == "title":
        return 1
    match = re.match(r"(?:heading|overskrift)\s*(\d)", style_name, re.I)
    return min(6, int(match.group(1))) if match else 0


def docx_to_text(path: Path) -> str:
    import docx
    from docx.opc.exceptions import OpcError
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(str(path))
    except (OpcError, zipfile.BadZipFile, KeyError, ValueError) as exc:  # OpcError: "Package not found"
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
