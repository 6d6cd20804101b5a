"""Question -> short Danish answer with numbered citations (plain or streamed)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

from .. import schemas
from ..search.retriever import Hit
from .extractive import NOT_ANSWERED, choose_sentences
from .llm import ChatClient, CitationStream, LLMError, Prompts, build_messages, check_citations, fence

log = logging.getLogger(__name__)
FALLBACK_NOTE = "Sprogmodellen svarede ikke; svaret er sammensat af uddrag."


def _cite(sentence: str, n: int) -> str:
    sentence = sentence.rstrip()
    if sentence[-1:] in ".!?:":
        return f"{sentence[:-1]} [{n}]{sentence[-1]}"
    return f"{sentence} [{n}]."


class Answerer:
    def __init__(self, engine):
        self.engine = engine
        settings = engine.settings
        self.client = None
        if settings.llm_base_url:
            self.prompts = Prompts.load(settings.prompts_dir)
            self.client = ChatClient(settings.llm_base_url, settings.llm_model, settings.llm_api_key, settings.llm_timeout)

    # ------------------------------------------------------------------ pieces

    def _retrieve(self, question: str, k: int, filters: schemas.Filters):
        return self.engine.retriever.search(question, k, filters.model_dump())

    def _citation(self, n: int, hit: Hit) -> schemas.Citation:
        model = self.engine.hit_model(hit)
        return schemas.Citation(n=n, case=model.case, passage=model.passage, source=model.source)

    def _not_grounded(self, question: str, hits: list[Hit]) -> schemas.AskResponse:
        nearest = [self.engine.case_ref(h.case) for h in hits[:3]]
        answer = NOT_ANSWERED
        if nearest:
            answer += " Måske relevant: " + "; ".join(
                f"{c.title}" + (f" ({c.municipality})" if c.municipality and c.municipality not in c.title else "")
                for c in nearest
            ) + "."
        return schemas.AskResponse(question=question, answer=answer, mode="extractive", grounded=False,
                                   citations=[], maybe_relevant=nearest)

    def extractive(self, question: str, hits: list[Hit], note: str | None = None) -> schemas.AskResponse:
        qvec = self.engine.retriever.embed_query(question)
        sentences = choose_sentences(question, hits, self.engine.embedder, self.engine.index.analyzer, qvec)
        if not sentences:
            return self._not_grounded(question, hits)
        numbers: dict[str, int] = {}
        citations: list[schemas.Citation] = []
        parts = []
        for s in sentences:
            if s.hit.case.id not in numbers:
                numbers[s.hit.case.id] = len(numbers) + 1
                citations.append(self._citation(numbers[s.hit.case.id], s.hit))
            parts.append(_cite(s.text, numbers[s.hit.case.id]))
        return schemas.AskResponse(question=question, answer=" ".join(parts), mode="extractive", grounded=True,
                                   citations=citations, note=note)

    def _llm_messages(self, question: str, hits: list[Hit]) -> list[dict]:
        passages = [fence(i, h.case.title, h.case.municipality, h.text) for i, h in enumerate(hits, 1)]
        return build_messages(self.prompts, question, passages)

    def _llm_response(self, question: str, hits: list[Hit], text: str) -> schemas.AskResponse:
        text = check_citations(text.strip(), len(hits))
        cited = sorted({int(n) for n in re.findall(r"\[(\d{1,3})\]", text)})
        grounded = bool(cited) and NOT_ANSWERED not in text
        if not grounded:
            return self._not_grounded(question, hits).model_copy(update={"mode": "llm"})
        citations = [self._citation(n, hits[n - 1]) for n in cited]
        return schemas.AskResponse(question=question, answer=text, mode="llm", grounded=True, citations=citations)

    # ------------------------------------------------------------------ public

    def _offline(self, question: str, result, note: str | None = None) -> schemas.AskResponse:
        """The answer without a language model: not grounded on no_match, else extractive."""
        if result.no_match or not result.hits:
            return self._not_grounded(question, result.hits)
        return self.extractive(question, result.hits, note=note)

    def ask(self, question: str, k: int, filters: schemas.Filters) -> schemas.AskResponse:
        result = self._retrieve(question, k, filters)
        if not self.client or result.no_match or not result.hits:
            return self._offline(question, result)
        try:
            return self._llm_response(question, result.hits, self.client.complete(self._llm_messages(question, result.hits)))
        except LLMError as exc:
            log.warning("LLM utilgængelig, svarer ekstraktivt: %s", exc)
            return self._offline(question, result, note=FALLBACK_NOTE)

    def stream(self, question: str, k: int, filters: schemas.Filters) -> Iterator[tuple[str, dict]]:
        """("delta", {"text": …}) events as the answer comes, then ("done", full response)."""
        result = self._retrieve(question, k, filters)
        if not self.client or result.no_match or not result.hits:
            yield from _replay(self._offline(question, result))
            return
        filt = CitationStream(len(result.hits))
        text = ""
        try:
            for piece in self.client.stream(self._llm_messages(question, result.hits)):
                out = filt.feed(piece)
                text += piece
                if out:
                    yield "delta", {"text": out}
            rest = filt.flush()
            if rest:
                yield "delta", {"text": rest}
            yield "done", self._llm_response(question, result.hits, text).model_dump()
        except LLMError as exc:
            log.warning("LLM-stream afbrudt, svarer ekstraktivt: %s", exc)
            response = self._offline(question, result, note=FALLBACK_NOTE)
            if text:  # part of the model's answer is out already: only the final event follows
                yield "done", response.model_dump()
            else:
                yield from _replay(response)


def _replay(response: schemas.AskResponse) -> Iterator[tuple[str, dict]]:
    """Stream an answer that is already complete, sentence by sentence."""
    for piece in _pieces(response.answer):
        yield "delta", {"text": piece}
    yield "done", response.model_dump()


def _pieces(text: str) -> list[str]:
    """Sentence-sized pieces for streaming an answer that is already complete."""
    parts = [p for p in re.split(r"(?<=[.!?])\s+", text) if p]
    return [p + " " for p in parts[:-1]] + parts[-1:]
