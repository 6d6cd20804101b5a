"""What parsing produces: documents and the cases (units) found in them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .cleaning import CleanText

UNIT_KINDS = ("case", "proposal", "section")


@dataclass
class Document:
    id: str
    path: Path
    title: str
    publisher: str
    year: int | None
    kind: str
    source: str
    sha256: str
    raw: str
    layout: str = ""
    clean: CleanText | None = None
    pages: list[tuple[int, int]] = field(default_factory=list)  # (raw start, page number)
    original: Path | None = None  # the PDF the text was extracted from, kept beside it

    def page_at(self, offset: int) -> int | None:
        page = None
        for start, number in self.pages:
            if start > offset:
                break
            page = number
        return page


@dataclass
class Heading:
    title: str
    start: int
    end: int
    level: int = 2


@dataclass
class Contact:
    name: str
    email: str | None
    text: str


@dataclass
class Draft:
    """A unit as a layout parser sees it: where it is and what the layout says of it."""

    start: int
    end: int
    kind: str
    title: str
    area: str | None = None
    efficiency_type: str | None = None
    municipality: str | None = None  # stated explicitly by the layout ("Kommune: …", title prefix)
    headings: list[Heading] = field(default_factory=list)
    keep: bool = False  # a unit its author marked (a heading of the level that carries the cases): never merged


@dataclass
class Case:
    id: str
    catalogue: str
    kind: str
    title: str
    municipality: str | None  # one municipality or region, or None
    municipalities: list[str]  # every one named in the unit
    organisations: list[str]  # other actors the layout names (IT-Forsyningen, Fællesindkøb Fyn)
    area: str | None
    efficiency_type: str | None
    contacts: list[Contact]
    money: list[str]
    page: int | None
    headings: list[Heading]
    start: int
    end: int
    sha256: str
    clean: CleanText
    duplicates: list[tuple[int, int]] = field(default_factory=list)
    overview: bool = False  # a section that lists or summarises cases (parse.mark_overviews)

    @property
    def text(self) -> str:
        return self.clean.text

    def summary(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "municipality": self.municipality,
            "catalogue": self.catalogue,
            "sha256": self.sha256,
            "start": self.start,
            "end": self.end,
        }
