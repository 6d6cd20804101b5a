"""Question -> short Danish answer with numbered citations (plain or streamed)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

from .. import schemas
from ..config import Settings
from ..index.generation import Index
from ..presenter import Presenter
from ..search.retriever import Hit, Retriever
from .extractive import NOT_ANSWERED, WHICH_MUNICIPALITIES, Candidate, candidates, score
from .facts import CONTACT_QUESTION
from .llm import ChatClient, CitationStream, LLMError, Prompts, build_messages, check_citations, fence

log = logging.getLogger(__name__)
FALLBACK_NOTE = "Sprogmodellen svarede ikke; svaret er sammensat af uddrag."
MAX_ANSWER_CHARS = 700  # never longer: a chat reply, not a page
MAX_CONTACTS = 2  # contacts named in a contact answer
# The answer quotes the best sentences, best first, while they fit in QUOTED_CHARS and are at
# least MIN_SHARE as likely to answer as the best (fitted on bench/calibration/qa.jsonl's fit
# split: more sentences hold the fact more often, at the cost of length).
MAX_SENTENCES, QUOTED_CHARS, MIN_SHARE = 3, 450, 0.05
# A sentence that opens on one of these words leans on the one before it ("Det gav en besparelse
# på 2 mio. kr."): that one is quoted with it.
_LEANS_BACK = re.compile(
    r"^(?:det|dette|den|denne|disse|de|der|heraf|hermed|herved|hertil|herudover|derfor|dermed|derudover|"
    r"samtidig|desuden|endvidere|også|han|hun|her|således|it|this|these|they)\b",
    re.I,
)


def _cite(sentence: str, n: int) -> str:
    sentence = sentence.rstrip()
    if sentence[-1:] in ".!?:":
        return f"{sentence[:-1]} [{n}]{sentence[-1]}"
    return f"{sentence} [{n}]."


def actor(case) -> str | None:
    """Who the case is about: its municipality, else its organisation."""
    return case.municipality or next(iter(case.organisations), None)


def _contact_line(contact) -> str:
    """ "Hans Bækvang, ældrechef (hbaek@fredensborg.dk)" from what the case says of a contact."""
    label = re.sub(r"^(?:kontakt(?:person)?(?:\s+\w+){0,6}\s*:\s*)", "", " ".join(contact.text.split()), flags=re.I)
    if contact.email and contact.email in label:
        label = re.sub(r"[\s,:(]*(?:e-?mail|mail)?[\s,:(]*$", "", label.replace(contact.email, ""), flags=re.I)
        return f"{label} ({contact.email})" if label else contact.email
    return label


def _in_order(case_sentences: list[Candidate]) -> list[Candidate]:
    return sorted(case_sentences, key=lambda c: c.position)


def compose(ranked: list[Candidate]) -> list[tuple[Hit, list[Candidate]]]:
    """The sentences that answer, per case: the best sentences while likely and short enough
    (with the one before a sentence that leans on it), grouped by case in the order of each
    case's best, in document order within a case."""
    by_place = {(c.hit.case.id, c.position): c for c in ranked}
    chosen: list[Candidate] = []
    used = 0
    for c in ranked:
        if len(chosen) >= MAX_SENTENCES or (chosen and c.share < MIN_SHARE * ranked[0].share):
            break
        if c in chosen:  # quoted already, as the sentence another leans on
            continue
        group = [c]
        before = by_place.get((c.hit.case.id, c.position - 1))
        if _LEANS_BACK.match(c.text) and before is not None and before not in chosen:
            group.insert(0, before)
        size = sum(len(g.text) for g in group)
        if chosen and used + size > QUOTED_CHARS:
            continue
        chosen += group
        used += size
    per_case: dict[str, tuple[Hit, list[Candidate]]] = {}
    for c in chosen:
        per_case.setdefault(c.hit.case.id, (c.hit, []))[1].append(c)
    return [(hit, _in_order(sentences)) for hit, sentences in per_case.values()]


class Answerer:
    """Answers from the retriever's trusted hits: extractive, or by a configured language model
    that gets the chosen answering sentences first."""

    def __init__(self, settings: Settings, retriever: Retriever, index: Index, presenter: Presenter):
        self.settings, self.retriever, self.index, self.presenter = settings, retriever, index, presenter
        self.client = None
        if settings.llm_base_url:
            self.prompts = Prompts.load(settings.prompts_dir)
            self.client = ChatClient(
                settings.llm_base_url, settings.llm_model, settings.llm_api_key, settings.llm_timeout
            )

    # ------------------------------------------------------------------ pieces

    def _retrieve(self, question: str, k: int, filters: schemas.Filters):
        return self.retriever.search(question, k, filters.model_dump())

    def _answering(self, result) -> list[Hit]:
        """The hits an answer may cite: those the judgement is confident answer the question."""
        threshold = self.settings.confidence_threshold
        return [] if result.no_match else [h for h in result.hits if h.confidence >= threshold]

    def _not_grounded(
        self, question: str, hits: list[Hit], mode: str = "extractive", note: str | None = None
    ) -> schemas.AskResponse:
        """The refusal: no [n], and the nearest cases named as what they are, not an answer."""
        nearest = [self.presenter.case_ref(h.case) for h in hits[:3]]
        answer = NOT_ANSWERED
        if nearest:
            answer += (
                " Måske relevant, men ikke et svar: "
                + "; ".join(
                    c.title + (f" ({who})" if (who := actor(c)) and who not in c.title else "") for c in nearest
                )
                + "."
            )
        return schemas.AskResponse(
            question=question, answer=answer, mode=mode, grounded=False, citations=[], maybe_relevant=nearest, note=note
        )

    def ranked_sentences(self, question: str, hits: list[Hit]) -> list[Candidate]:
        """Every whole sentence of the hits' cases, scored, best first."""
        if not hits:
            return []
        qvec = self.retriever.embed_query(question)
        weights, _ = self.retriever.judge.term_weights(self.index.analyzer(question))
        return score(question, candidates(hits, self.index, qvec), self.index, weights, self.settings.answer)

    def answering_sentences(self, question: str, hits: list[Hit]) -> list[tuple[Hit, list[Candidate]]]:
        """The sentences of the hits' cases that answer the question, per case, best first."""
        ranked = self.ranked_sentences(question, hits)
        return compose(ranked) if ranked else []

    def _asked_for_first(self, question: str, contacts: list) -> list:
        """A case's contacts, those whose name or role the question names first ("hvem er
        børne- og familiechef …"), else in the case's order."""
        asked = set(self.index.analyzer(question))
        return sorted(contacts, key=lambda c: -len(asked & set(self.index.analyzer(c.text))))

    def _contacts(self, question: str, hits: list[Hit], note: str | None) -> schemas.AskResponse | None:
        """ "Hvem kan jeg kontakte om …": the best case's contacts, when it names any."""
        if not CONTACT_QUESTION.search(question) or not hits or not hits[0].case.contacts:
            return None
        hit = hits[0]
        lines = [_contact_line(c) for c in self._asked_for_first(question, hit.case.contacts)[:MAX_CONTACTS]]
        who = actor(hit.case)
        answer = (
            f"Kontakt om {hit.case.title}"
            + (f" ({who})" if who and who not in hit.case.title else "")
            + ": "
            + "; ".join(lines)
        )
        return schemas.AskResponse(
            question=question,
            answer=_cite(answer[: MAX_ANSWER_CHARS - 8], 1),
            mode="extractive",
            grounded=True,
            citations=[self.presenter.citation(1, hit)],
            note=note,
        )

    def extractive(self, question: str, hits: list[Hit], note: str | None = None) -> schemas.AskResponse:
        """The sentences that answer, each cited; who the case is about where the sentence does not say."""
        if contacts := self._contacts(question, hits, note):
            return contacts
        per_case = self.answering_sentences(question, hits)
        if not per_case:
            return self._not_grounded(question, hits, note=note)
        citations = [self.presenter.citation(n, hit) for n, (hit, _) in enumerate(per_case, 1)]
        lines = []
        if WHICH_MUNICIPALITIES.search(question):
            lines.append(_named_municipalities(citations))
        for citation, (hit, sentences) in zip(citations, per_case):
            quoted = " ".join(_cite(s.text, citation.n) for s in sentences)
            who = actor(hit.case)
            line = f"{who}: {quoted}" if who and who.split()[0] not in quoted else quoted
            if lines and len("\n".join([*lines, line])) > MAX_ANSWER_CHARS:
                citations = citations[: citation.n - 1]
                break
            lines.append(line)
        return schemas.AskResponse(
            question=question, answer="\n".join(lines), mode="extractive", grounded=True, citations=citations, note=note
        )

    def _llm_messages(self, question: str, hits: list[Hit]) -> list[dict]:
        """The hits as numbered passages, each led by its sentences that answer (as the extractive
        answer would quote them), with the case, the municipality and the page."""
        answering = {hit.case.id: sentences for hit, sentences in self.answering_sentences(question, hits)}
        passages = []
        for i, h in enumerate(hits, 1):
            doc = self.index.corpus.document(h.case.catalogue)
            page = doc.page_at(h.start) if doc else None
            lead = [c.text for c in answering.get(h.case.id, [])]
            passages.append(fence(i, h.case.title, actor(h.case) or "", h.text, lead, page))
        return build_messages(self.prompts, question, passages)

    def _llm_response(self, question: str, hits: list[Hit], text: str) -> schemas.AskResponse:
        text = check_citations(text.strip(), len(hits))
        cited = sorted({int(n) for n in re.findall(r"\[(\d{1,3})\]", text)})
        if not cited or NOT_ANSWERED in text:
            return self._not_grounded(question, hits, mode="llm")
        citations = [self.presenter.citation(n, hits[n - 1]) for n in cited]
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
            return self._llm_response(
                question, answering, self.client.complete(self._llm_messages(question, answering))
            )
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
