"""Corpus objects as the typed models clients read (``schemas``): cases, sources, hits.

One place builds them, for the search results the engine returns and the citations the
answerer makes; links are absolute when a public base address is configured."""

from __future__ import annotations

from urllib.parse import quote

from . import schemas
from .config import Settings
from .corpus.models import Case
from .corpus.parse import Corpus
from .search.retriever import Hit


class Presenter:
    def __init__(self, corpus: Corpus, settings: Settings):
        self.corpus, self.settings = corpus, settings

    def case_ref(self, case: Case) -> schemas.CaseRef:
        doc = self.corpus.document(case.catalogue)
        return schemas.CaseRef(
            id=case.id,
            title=case.title,
            municipality=case.municipality,
            catalogue=case.catalogue,
            kind=case.kind,
            overview=case.overview,
            area=case.area,
            efficiency_type=case.efficiency_type,
            municipalities=case.municipalities,
            organisations=case.organisations,
            year=doc.year if doc else None,
            catalogue_title=doc.title if doc else None,
            contacts=[schemas.Contact(**vars(c)) for c in case.contacts],
        )

    def link(self, path: str) -> str:
        """A link to this service: absolute when a public base address is configured."""
        return f"{self.settings.public_base_url}{path}" if self.settings.public_base_url else path

    def source(self, case: Case, start: int, end: int) -> schemas.Source:
        doc = self.corpus.document(case.catalogue)
        page = doc.page_at(start) if doc else None
        original = None
        if doc and doc.original:
            original = self.link(f"/documents/{quote(doc.id)}/original" + (f"#page={page}" if page else ""))
        return schemas.Source(
            document=case.catalogue,
            sha256=case.sha256,
            start=start,
            end=end,
            page=page,
            url=self.link(f"/documents/{quote(case.catalogue)}?start={start}&end={end}#passage"),
            original_url=original,
        )

    def hit_model(self, hit: Hit) -> schemas.SearchHit:
        return schemas.SearchHit(
            rank=hit.rank,
            score=round(hit.score, 4),
            confidence=round(hit.confidence, 3),
            case=self.case_ref(hit.case),
            passage=schemas.Passage(text=hit.text, highlight=hit.highlight),
            source=self.source(hit.case, hit.start, hit.end),
        )

    def citation(self, n: int, hit: Hit) -> schemas.Citation:
        model = self.hit_model(hit)
        return schemas.Citation(n=n, case=model.case, passage=model.passage, source=model.source)
