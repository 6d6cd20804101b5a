"""The core that the HTTP API, the command line and the web page share.

It owns the loaded index, the retriever and the answerer, validates input (with
messages a person understands, in Danish) and returns the typed models of
``schemas``.
"""

from __future__ import annotations

import html
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum

from . import schemas
from .answer.answerer import Answerer
from .config import Settings
from .corpus.models import Case, Document
from .corpus.parse import Corpus
from .index.build import load_index
from .index.embedders import Embedder, load_embedder
from .index.generation import Index
from .presenter import Presenter
from .search.lexical import LexicalRetriever
from .search.retriever import Hit, Retriever

CASE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,199}$")


def visible_text(text: str) -> str:
    """The text with its runs of white space as single spaces, trimmed. White space is what
    Python and JSON Schema's regular expressions call it: str.split()'s, and U+FEFF (the schemas'
    TEXT pattern in schemas.py says the same)."""
    return " ".join(text.replace("\ufeff", " ").split())


class Problem(StrEnum):
    """What kind of refusal it is; the interfaces decide what that means to their clients
    (``api/app.py`` maps each to an HTTP status)."""

    INVALID = "invalid"  # the input cannot be used as it is
    TOO_LARGE = "too_large"  # far beyond a limit
    UNPROCESSABLE = "unprocessable"  # well-formed, but the library cannot take it
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"  # contradicts the library's state (removing its last catalogue)
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    UNAVAILABLE = "unavailable"  # for now: busy, starting, building; try again shortly


class Refused(ValueError):
    """A request the core will not carry out, with a message a person understands (Danish)."""

    def __init__(self, code: str, message: str, problem: Problem = Problem.INVALID):
        super().__init__(message)
        self.code, self.message, self.problem = code, message, problem


class AnswerSlots:
    """At most ``n`` answers at once; the next gets a 503 at once instead of queueing."""

    def __init__(self, n: int):
        self._free = threading.BoundedSemaphore(n)

    def _take(self) -> None:
        if not self._free.acquire(blocking=False):
            raise Refused("busy", "Der arbejdes på mange svar lige nu. Prøv igen om lidt.", Problem.UNAVAILABLE)

    @contextmanager
    def hold(self):
        self._take()
        try:
            yield
        finally:
            self._free.release()

    def hold_while(self, events: Iterator) -> Iterator:
        """A slot for as long as a stream runs, given back however it ends (even unstarted)."""
        self._take()
        return _Released(events, self._free.release)


class _Released:
    """Events that give their answer slot back when they end, are closed, or are dropped.
    Closed while a worker thread is inside ``next`` (the client hung up), it stops as soon as
    that call returns, closing the answer and so the upstream call behind it."""

    def __init__(self, events: Iterator, release):
        self._events, self._release, self._closing = events, release, False

    def __iter__(self):
        return self

    def __next__(self):
        try:
            item = next(self._events)
        except BaseException:
            self.close()
            raise
        if self._closing:
            self.close()
            raise StopIteration
        return item

    def close(self) -> None:
        self._closing = True
        try:
            getattr(self._events, "close", lambda: None)()
        except ValueError:  # "generator already executing": __next__ closes it on return
            return
        release, self._release = self._release, None
        if release:
            release()

    __del__ = close


class Casefinder:
    degraded = False  # True while search runs without the vectors (LexicalCasefinder)

    def __init__(self, settings: Settings, index: Index, embedder: Embedder):
        self.settings = settings
        self.index = index
        self.embedder = embedder
        self.retriever = Retriever(index, embedder, settings)
        self.corpus = index.corpus
        self.presenter = Presenter(self.corpus, settings)
        self.answerer = Answerer(settings, self.retriever, index, self.presenter)
        self.answer_slots = AnswerSlots(settings.max_concurrent_answers)

    @property
    def generation(self) -> str | None:
        return self.index.generation

    @classmethod
    def load(cls, settings: Settings, rebuild: bool = True, progress: bool = True) -> Casefinder:
        embedder = load_embedder(settings.model)
        return cls(settings, load_index(settings, embedder, rebuild=rebuild, progress=progress), embedder)

    # ------------------------------------------------------------------ validation

    def clean_query(self, q: object, name: str = "q") -> str:
        if not isinstance(q, str):
            raise Refused("invalid_query", "Søgningen skal være tekst.")
        self.check_text(q)
        q = visible_text(q)
        if not q:
            raise Refused("empty_query", "Skriv et eller flere søgeord.")
        if len(q) > self.settings.max_query_chars:
            raise Refused(
                "query_too_long",
                f"Søgningen er for lang ({len(q)} tegn); højst {self.settings.max_query_chars} tegn.",
                Problem.TOO_LARGE if len(q) > 20 * self.settings.max_query_chars else Problem.INVALID,
            )
        return q

    @staticmethod
    def check_text(value: str) -> str:
        """Text that cannot be written as UTF-8 (a lone surrogate from a JSON escape) is refused."""
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise Refused("invalid_text", "Teksten indeholder ugyldige tegn (en enlig surrogat-kode).") from None
        return value

    def check_filters(self, filters: schemas.Filters | None) -> schemas.Filters:
        filters = filters or schemas.Filters()
        limit = self.settings.max_filter_values
        for name, values in filters.model_dump().items():
            if len(values) > limit:
                raise Refused(
                    "too_many_values",
                    f"Filteret '{name}' har {len(values)} værdier; højst {limit}.",
                    Problem.UNPROCESSABLE,
                )
            for value in values:
                self.check_text(value)
        return filters

    def check_k(self, k: object) -> int:
        if isinstance(k, bool) or not isinstance(k, int):
            raise Refused("invalid_k", "k skal være et helt tal.")
        if not 1 <= k <= self.settings.max_k:
            raise Refused("invalid_k", f"k skal være mellem 1 og {self.settings.max_k}.")
        return k

    @staticmethod
    def check_id_pattern(value: str, label: str) -> str:
        if not CASE_ID.match(value):
            raise Refused("invalid_id", f"Ugyldigt {label}-id: kun små bogstaver, tal og bindestreg.")
        return value

    @classmethod
    def _checked_id(cls, value: str, found, label: str, definite: str):
        cls.check_id_pattern(value, label)
        if found is None:
            raise Refused("not_found", f"{definite} '{value}' findes ikke.", Problem.NOT_FOUND)
        return found

    def check_case_id(self, case_id: str) -> Case:
        return self._checked_id(case_id, self.corpus.case(case_id), "case", "Casen")

    def check_document(self, doc_id: str) -> Document:
        return self._checked_id(doc_id, self.corpus.document(doc_id), "katalog", "Kataloget")

    # ------------------------------------------------------------------ operations

    def search(
        self, q: object, k: object = 10, filters: schemas.Filters | None = None, per_case: bool = True
    ) -> schemas.SearchResponse:
        query = self.clean_query(q)
        k = self.check_k(k)
        filters = self.check_filters(filters)
        result = self.retriever.search(query, k, filters.model_dump(), per_case=per_case)
        return schemas.SearchResponse(
            query=query,
            took_ms=round(result.took_ms, 2),
            no_match=result.no_match,
            hits=[self.presenter.hit_model(h) for h in result.hits],
            confidence=round(result.confidence, 3),
            k=k,
            filters=filters,
            total=result.total,
            facets=result.facets,
            degraded=self.degraded,
        )

    def ask(
        self, question: object, k: object = 5, filters: schemas.Filters | None = None, llm: bool = True
    ) -> schemas.AskResponse:
        """``llm=False`` answers extractively even when a language model is configured."""
        question, k, filters = self.clean_query(question), self.check_k(k), self.check_filters(filters)
        with self.answer_slots.hold():
            return self.answerer.ask(question, k, filters, llm=llm)

    def ask_stream(self, question: object, k: object = 5, filters: schemas.Filters | None = None):
        """Validates and takes an answer slot first (so errors are plain JSON), then returns
        the event iterator, which holds the slot until it ends."""
        question, k, filters = self.clean_query(question), self.check_k(k), self.check_filters(filters)
        return self.answer_slots.hold_while(self.answerer.stream(question, k, filters))

    def similar(self, case_id: str, k: int = 10) -> schemas.SearchResponse:
        """Cases most like this one (by their vectors), as a result list for the page."""
        case = self.check_case_id(case_id)
        hits = []
        for rank, (other, similarity) in enumerate(self.retriever.similar_cases(case.id, k), 1):
            i = self.index.case_chunks[other.id][0]
            chunk = self.index.chunks[i]
            hits.append(
                self.presenter.hit_model(
                    Hit(
                        rank,
                        similarity,
                        other,
                        i,
                        chunk.start,
                        chunk.end,
                        chunk.text,
                        html.escape(chunk.text),
                        similarity,
                        0.0,
                        similarity,
                    )
                )
            )
        return schemas.SearchResponse(
            query=f"Lignende: {case.title}",
            took_ms=0.0,
            no_match=False,
            hits=hits,
            confidence=1.0,
            k=k,
            filters=schemas.Filters(),
            total=len(hits),
        )

    def case_detail(self, case_id: str, similar: int = 5) -> schemas.CaseDetail:
        case = self.check_case_id(case_id)
        return schemas.CaseDetail(
            case=self.presenter.case_ref(case),
            text=case.text,
            source=self.presenter.source(case, case.start, case.end),
            page=case.page,
            money=case.money,
            headings=[schemas.Heading(**vars(h)) for h in case.headings],
            duplicates=[{"start": s, "end": e} for s, e in case.duplicates],
            similar=[
                schemas.SimilarCase(
                    case=self.presenter.case_ref(c),
                    similarity=round(sim, 4),
                    url=self.presenter.link(f"/api/cases/{c.id}"),
                )
                for c, sim in self.retriever.similar_cases(case.id, similar)
            ],
        )

    def documents(self) -> list[schemas.DocumentInfo]:
        out = []
        for doc in self.corpus.documents:
            units = [c for c in self.corpus.cases if c.catalogue == doc.id]
            out.append(
                schemas.DocumentInfo(
                    id=doc.id,
                    title=doc.title,
                    publisher=doc.publisher,
                    year=doc.year,
                    sha256=doc.sha256,
                    cases=sum(c.kind != "section" for c in units),
                    units=len(units),
                    layout=doc.layout,
                    source=doc.source,
                    url=self.presenter.link(f"/documents/{doc.id}"),
                )
            )
        return out

    def health(self) -> dict:
        return {
            "status": "ok",
            "worker": os.getpid(),  # which server process answered
            "model": self.index.manifest.get("model"),
            "generation": self.index.generation,
            "documents": len(self.corpus.documents),
            "cases": len(self.corpus.cases),
            "chunks": len(self.index.chunks),
            "built_at": self.index.manifest.get("built_at"),
        }


class LexicalCasefinder(Casefinder):
    """Search by BM25 alone while no whole index can be served (search/lexical.py): answers
    and similar cases wait for the vectors; everything else works as usual."""

    degraded = True
    generation = None
    UNAVAILABLE = "Svar kræver det fulde indeks, som er ved at blive bygget. Søgningen virker imens; prøv igen om lidt."

    def __init__(self, settings: Settings, corpus: Corpus):  # not super().__init__: that needs an index
        self.settings, self.corpus = settings, corpus
        self.retriever = LexicalRetriever(corpus, settings)  # type: ignore[assignment]
        self.presenter = Presenter(corpus, settings)
        self.answer_slots = AnswerSlots(settings.max_concurrent_answers)

    def ask(
        self, question: object, k: object = 5, filters: schemas.Filters | None = None, llm: bool = True
    ) -> schemas.AskResponse:
        self.clean_query(question)
        raise Refused("degraded", self.UNAVAILABLE, Problem.UNAVAILABLE)

    def ask_stream(self, question: object, k: object = 5, filters: schemas.Filters | None = None):
        self.clean_query(question)
        raise Refused("degraded", self.UNAVAILABLE, Problem.UNAVAILABLE)

    def similar(self, case_id: str, k: int = 10) -> schemas.SearchResponse:
        case = self.check_case_id(case_id)
        return schemas.SearchResponse(
            query=f"Lignende: {case.title}",
            took_ms=0.0,
            no_match=True,
            hits=[],
            confidence=0.0,
            k=k,
            filters=schemas.Filters(),
            total=0,
            degraded=True,
        )

    def health(self) -> dict:
        return {
            "status": "degraded",
            "worker": os.getpid(),
            "model": None,
            "generation": None,
            "documents": len(self.corpus.documents),
            "cases": len(self.corpus.cases),
            "chunks": None,
            "built_at": None,
        }
