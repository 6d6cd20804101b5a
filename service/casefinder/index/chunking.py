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

    def key(self, model_id: str) -> str:
        return hashlib.sha256(f"{model_id}\x00{self.embed_text}".encode()).hexdigest()[:32]

    def to_dict(self) -> dict:
        return asdict(self)


def chunk_cases(cases: list[Case], size: int, overlap: int) -> list[Chunk]:
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=size, chunk_overlap=overlap, separators=SEPARATORS, add_start_index=True, keep_separator="end"
    )
    chunks: list[Chunk] = []
    for case in cases:
        context = case.title if not case.municipality or case.municipality in case.title else f"{case.title} ({case.municipality})"
        for doc in splitter.create_documents([case.text]):
            text = doc.page_content.strip()
            if not text:
                continue
            a = doc.metadata["start_index"] + (len(doc.page_content) - len(doc.page_content.lstrip()))
            start, end = case.clean.to_raw(a, a + len(text))
            chunks.append(Chunk(case.id, case.catalogue, text, start, end, context))
    return chunks
