"""Cases -> chunks. A chunk never crosses two cases and keeps its raw offsets."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from ..corpus.models import Case

SEPARATORS = ["\n\n", "\n", ". ", "; ", ", ", " ", ""]


@dataclass
class Chunk:
    case_id: str
    document: str
    text: str  # clean passage text
    start: int  # raw offsets into the catalogue file
    end: int
    context: str  # "title (municipality)", embedded with the passage

    @property
    def embed_text(self) -> str:
        return f"{self.context}\n{self.text}"

    def to_dict(self) -> dict:
        return asdict(self)


def content_key(model_id: str, text: str) -> str:
    """What the vector cache files a text's vector under."""
    return hashlib.sha256(f"{model_id}\x00{text}".encode()).hexdigest()[:32]


def case_context(case: Case) -> str:
    """ "title (municipality)": embedded with every passage of the case and with its opening."""
    return (
        case.title
        if not case.municipality or case.municipality in case.title
        else f"{case.title} ({case.municipality})"
    )


def case_opening(case: Case, chars: int) -> str:
    """The text of a case's own vector: its title and the first ``chars`` characters, where a
    case says what it is about ("Kort om", "Formål"), whichever passage a query lands on."""
    return f"{case_context(case)}\n{case.text[:chars]}"


def chunk_cases(cases: list[Case], size: int, overlap: int) -> list[Chunk]:
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=size, chunk_overlap=overlap, separators=SEPARATORS, add_start_index=True, keep_separator="end"
    )
    chunks: list[Chunk] = []
    for case in cases:
        context = case_context(case)
        for doc in splitter.create_documents([case.text]):
            text = doc.page_content.strip()
            if not text:
                continue
            a = doc.metadata["start_index"] + (len(doc.page_content) - len(doc.page_content.lstrip()))
            start, end = case.clean.to_raw(a, a + len(text))
            chunks.append(Chunk(case.id, case.catalogue, text, start, end, context))
    return chunks
