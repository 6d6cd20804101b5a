"""Question -> short Danish answer with numbered citations (plain or streamed)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

from .. import schemas
from ..search.retriever import Hit
from .extractive import NOT_ANSWERED, WHICH_MUNICIPALITIES, choose_sentences
from .llm import ChatClient, CitationStream, LLMError, Prompts, build_messages, check_citations, fence

log = logging.getLogger(__name__)
FALLBACK_NOTE = "Sprogmodellen svarede ikke; svaret er sammensat af uddrag."


def _cite(sentence: str, n: int) -> str:
    sentence = sentence.rstrip()
    if sentence[-1:] in ".!?:":
        return f"{sentence[:-1]} [{n}]{sentence[-1]}"
    return f"{sentence} [{n}]."


def actor(case) -> str | None:
    """Who the case is about: its municipality, else its organisation."""
    return case.municipality or next(iter(case.organisations), None)


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

    def _answering(self, result) -> list[Hit]:
        """The hits an answer may cite: those the judgement is confident answer the question."""
        threshold = self.engine.settings.confidence_threshold
        return [] if result.no_match else [h for h in result.hits if h.confidence >= threshold]

    def _citation(self, n: int, hit: Hit) -> schemas.Citation:
        model = self.engine.hit_model(hit)
        return schemas.Citation(n=n, case=model.case, passage=model.passage, source=model.source)

    def _not_grounded(self, question: str, hits: list[Hit], mode: str = "extractive", note: str | None = None) -> schemas.AskResponse:
        """The refusal: no [n], and the nearest cases named as what they are, not an answer."""
        nearest = [self.engine.case_ref(h.case) for h in hits[:3]]
        answer = NOT_ANSWERED
        if nearest:
            answer += " Måske relevant, men ikke et svar: " + "; ".join(
                c.title + (f" ({who})" if (who := actor(c)) and who not in c.title else "") for c in nearest
            ) + "."
        return schemas.AskResponse(question=question, answer=answer, mode=mode, grounded=False,
                                   citations=[], maybe_relevant=nearest, note=note)

    def extractive(self, question: str, hits: list[Hit], note: str | None = None) -> schemas.AskResponse:
        """One line per cited case: who, which case, and the sentences that answer, each cited."""
        qvec = self.engine.retriever.embed_query(question)
        per_case = choose_sentences(question, hits, self.engine.index, qvec)
        if not per_case:
            return self._not_grounded(question, hits, note=note)
        citations = [self._citation(n, sentences[0].hit) for n, sentences in enumerate(per_case, 1)]
        lines = []
        if WHICH_MUNICIPALITIES.search(question):
            lines.append(_named_municipalities(citations))
        for c, sentences in zip(citations, per_case):
            who = actor(c.case)
            label = f"{who} – {c.case.title}" if who and who not in c.case.title else c.case.title
            lines.append(f"{label}: " + " ".join(_cite(s.text, c.n) for s in sentences))
        return schemas.AskResponse(question=question, answer="\n".join(lines), mode="extractive", grounded=True,
                                   citations=citations, note=note)

    def _llm_messages(self, question: str, hits: list[Hit]) -> list[dict]:
        passages = [fence(i, h.case.title, actor(h.case) or "", h.text) for i, h in enumerate(hits, 1)]
        return build_messages(self.prompts, question, passages)

    def _llm_response(self, question: str, hits: list[Hit], text: str) -> schemas.AskResponse:
        text = check_citations(text.strip(), len(hits))
        cited = sorted({int(n) for n in re.findall(r"\[(\d{1,3})\]", text)})
        if not cited or NOT_ANSWERED in text:
            return self._not_grounded(question, hits, mode="llm")
        citations = [self._citation(n, hits[n - 1]) for n in cited]
        return schemas.AskResponse(question=question, answer=text, mode="llm", grounded=True, citations=citations)

    # ------------------------------------------------------------------ public

    def _offline(self, question: str, result, note: str | None = None) -> schemas.AskResponse:
        """The answer without a language model: extractive from the confident hits, else a refusal."""
        answering = self._answering(result)
        if not answering:
            return self._not_grounded(question, result.hits, note=note)
        return self.extractive(question, answering, note=note)

    def ask(self, question: str, k: int, filters: schemas.Filters, llm: bool = True) -> schemas.AskResponse:
        result = self._retrieve(question, k, filters)
        answering = self._answering(result)
        if not (self.client and llm) or not answering:
            return self._offline(question, result)
        try:
            return self._llm_response(question, answering, self.client.complete(self._llm_messages(question, answering)))
        except LLMError as exc:
            log.warning("LLM utilgængelig, svarer ekstraktivt: %s", exc)
            return self._offline(question, result, note=FALLBACK_NOTE)

    def stream(self, question: str, k: int, filters: schemas.Filters) -> Iterator[tuple[str, dict]]:
        """("delta", {"text": …}) events as the answer comes, then ("done", full response).

        Nothing is sent that the final event could call not grounded: the model's text is held
        back until it cites a passage (an answer with a valid citation is grounded)."""
        result = self._retrieve(question, k, filters)
        answering = self._answering(result)
        if not self.client or not answering:
            yield from _replay(self._offline(question, result))
            return
        filt = CitationStream(len(answering))
        text, held, sent = "", "", False
        try:
            for piece in self.client.stream(self._llm_messages(question, answering)):
                text += piece
                held += filt.feed(piece)
                if held and (sent or (_CITED.search(held) and NOT_ANSWERED not in text)):
                    yield "delta", {"text": held}
                    held, sent = "", True
            held += filt.flush()
            response = self._llm_response(question, answering, text)
            if not sent:  # never cited: nothing went out, the final answer is replayed whole
                yield from _replay(response)
                return
            if held:
                yield "delta", {"text": held}
            yield "done", response.model_dump()
        except LLMError as exc:
            log.warning("LLM-stream afbrudt, svarer ekstraktivt: %s", exc)
            response = self._offline(question, result, note=FALLBACK_NOTE)
            if sent:  # part of the model's (cited) answer is out already: only the final event follows
                yield "done", response.model_dump()
            else:
                yield from _replay(response)


_CITED = re.compile(r"\[\d{1,3}\]")


def _named_municipalities(citations: list[schemas.Citation]) -> str:
    """ "Kommuner i casene: A og B [1]; C [2]." from the cases' metadata."""
    parts = []
    for c in citations:
        names = c.case.municipalities[:6] or c.case.organisations
        if names:
            listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " og " + names[-1]
            parts.append(f"{listed} [{c.n}]")
    return ("Kommuner i casene: " + "; ".join(parts) + ".") if parts else "Casene nævner ingen bestemt kommune."


def _replay(response: schemas.AskResponse) -> Iterator[tuple[str, dict]]:
    """Stream an answer that is already complete, sentence by sentence."""
    for piece in _pieces(response.answer):
        yield "delta", {"text": piece}
    yield "done", response.model_dump()


def _pieces(text: str) -> list[str]:
    """Sentence-sized pieces for streaming an answer that is already complete; joined, they
    are the answer exactly."""
    return [p for p in re.split(r"(?<=[.!?])(?=\s)|(?<=\n)", text) if p]
