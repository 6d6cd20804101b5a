"""Choosing the sentence that answers: question kinds, the facts a sentence holds, whole
sentences, and the answer's shape, on hand-made inputs (no model, no corpus)."""

import pytest

from casefinder.answer.answerer import MAX_SENTENCES, QUOTED_CHARS, compose
from casefinder.answer.extractive import FEATURES, Candidate, strip_heading
from casefinder.answer.facts import AnswerKind, holds, looks_like_heading, question_kind
from casefinder.config import AnswerModel
from casefinder.corpus.entities import find_contacts
from casefinder.index.sentences import sentence_pieces


@pytest.mark.parametrize(
    "question,kind",
    [
        ("Hvad kostede det nye fælles lønsystem i Region Sjælland?", AnswerKind.AMOUNT),
        ("Hvor meget sparer kommunen om året på vinterkørsel?", AnswerKind.AMOUNT),
        ("Hvor stor en besparelse gav det fælles indkøb?", AnswerKind.AMOUNT),
        ("Hvor mange borgere er omfattet af ordningen?", AnswerKind.NUMBER),
        ("Hvornår gik de tre kommuner sammen om affaldshåndtering?", AnswerKind.DATE),
        ("I hvilket år blev foreningen stiftet?", AnswerKind.DATE),
        ("Hvem kan jeg kontakte om projektet med robotstøvsugere?", AnswerKind.PERSON),
        ("Hvilke kommuner deltager i det fælles beredskab?", AnswerKind.ORGANISATION),
        ("Hvilket konsulentfirma lavede analysen?", AnswerKind.ORGANISATION),
        ("Hvilket journalsystem bruger hjemmeplejen?", AnswerKind.TOOL),
        ("I hvilken by ligger det fælles kontaktcenter?", AnswerKind.PLACE),
        ("How much did the municipality save on printing?", AnswerKind.AMOUNT),
        ("Which software do the schools share?", AnswerKind.TOOL),
        ("Hvordan er samarbejdet organiseret?", AnswerKind.OTHER),
    ],
)
def test_the_question_word_and_the_noun_asked_about_give_the_kind(question, kind):
    assert question_kind(question) is kind


@pytest.mark.parametrize(
    "kind,yes,no",
    [
        (
            AnswerKind.AMOUNT,
            "Besparelsen er opgjort til 1,2 mio. kr. om året.",
            "Besparelsen er betydelig for begge kommuner.",
        ),
        (
            AnswerKind.DATE,
            "Samarbejdet blev etableret i foråret 2014 af to kommuner.",
            "Samarbejdet blev etableret af to kommuner.",
        ),
        (
            AnswerKind.PERSON,
            "Kontakt projektleder Jens Hansen på jeha@example.dk for mere.",
            "Kontakt projektet for at høre mere om det.",
        ),
        (
            AnswerKind.NUMBER,
            "Ordningen omfatter 340 borgere i de to kommuner.",
            "Ordningen omfatter mange borgere i kommunerne.",
        ),
    ],
)
def test_a_sentence_holds_the_kind_of_fact_asked_for_or_not(kind, yes, no):
    assert holds(kind, yes) and not holds(kind, no)


def test_headings_and_table_rows_are_told_from_sentences():
    assert looks_like_heading("Forventet økonomisk gevinst")
    assert looks_like_heading("Område R2012 R2013 R2014 FR2015")
    assert not looks_like_heading("Kommunen sparer 2 mio. kr. om året på det fælles udbud.")


def test_sentences_do_not_end_at_abbreviations_or_inside_parentheses():
    text = (
        "Effekten er på ca. 2 mio. kr. om året for de deltagende kommuner. Driften blev hjemtaget pr. 1. juli 2013 "
        "af kommunen. Fem kommuner (Greve, Køge. Lejre, Solrød og Stevns) er gået sammen om opgaven i regionen."
    )
    assert sentence_pieces(text) == [
        "Effekten er på ca. 2 mio. kr. om året for de deltagende kommuner.",
        "Driften blev hjemtaget pr. 1. juli 2013 af kommunen.",
        "Fem kommuner (Greve, Køge. Lejre, Solrød og Stevns) er gået sammen om opgaven i regionen.",
    ]


def test_a_heading_run_into_a_sentence_is_not_quoted():
    titles = ["Fælles vagtcentral", "Økonomi"]
    assert (
        strip_heading("2.1 Fælles vagtcentral Tre kommuner deler en vagtcentral.", titles)
        == "Tre kommuner deler en vagtcentral."
    )
    assert (
        strip_heading("Fælles vagtcentral blev oprettet i 2015.", titles) == "Fælles vagtcentral blev oprettet i 2015."
    )


def test_a_contact_named_after_a_title_or_without_a_closed_parenthesis_keeps_the_name():
    contacts = find_contacts("Kontaktperson: Ældrechef, Hans Bækvang (hbaek@fredensborg.dk\n\nNæste afsnit.")
    assert [(c.name, c.email) for c in contacts] == [("Hans Bækvang", "hbaek@fredensborg.dk")]
    contacts = find_contacts("Kommune: Silkeborg Kommune Afdelingsleder Ann Tversted (ann.tversted@silkeborg.dk)")
    assert contacts[0].name == "Ann Tversted"


class _Case:
    def __init__(self, case_id):
        self.id = case_id


class _Hit:
    def __init__(self, case_id):
        self.case = _Case(case_id)


def _candidate(case: str, position: int, text: str, share: float, hits: dict) -> Candidate:
    return Candidate(text, hits.setdefault(case, _Hit(case)), position, 0.8, True, share=share)


def test_the_answer_quotes_the_likely_sentences_with_the_one_they_lean_on_grouped_by_case():
    hits: dict = {}
    ranked = [
        _candidate("a", 3, "Det gav en besparelse på 2 mio. kr. om året for kommunen.", 0.5, hits),
        _candidate("b", 0, "Nabokommunen sparede 1 mio. kr. på et lignende udbud af rengøring.", 0.3, hits),
        _candidate("a", 2, "Kommunen samlede sine indkøb af rengøring i ét udbud i 2015.", 0.1, hits),
        _candidate("c", 5, "Et tredje eksempel nævner rengøring uden at sige noget om prisen.", 0.01, hits),
    ]
    answer = compose(ranked)
    # "Det gav …" brings the sentence before it; "c" is far less likely than the best, so it is left out.
    assert [(hit.case.id, [c.position for c in sentences]) for hit, sentences in answer] == [("a", [2, 3]), ("b", [0])]


def test_the_quoted_sentences_stay_short():
    hits: dict = {}
    long = "Kommunen har " + "arbejdet længe med at samle opgaverne " * 8 + "i ét center."
    ranked = [_candidate(case, i, f"{long} ({case})", 0.3, hits) for i, case in enumerate("abcd")]
    quoted = [c for _, sentences in compose(ranked) for c in sentences]
    assert 1 <= len(quoted) <= MAX_SENTENCES and sum(len(c.text) for c in quoted) <= QUOTED_CHARS


def test_the_answer_model_has_a_weight_for_every_feature_and_no_other():
    assert set(AnswerModel.model_fields) == set(FEATURES)


def test_an_answer_is_scored_by_the_facts_it_states_and_the_case_it_cites():
    from casefinder import schemas
    from casefinder.evaluate import score_answer

    item = {"id": "x", "kind": "amount", "answer_contains": ["2,5 mio. kr."]}
    ref = schemas.CaseRef(id="case-a", title="Fælles indkøb", catalogue="k", kind="case")
    source = schemas.Source(document="k", sha256="0" * 64, start=0, end=10, url="/documents/k")
    citation = schemas.Citation(n=1, case=ref, passage=schemas.Passage(text="", highlight=""), source=source)
    said = schemas.AskResponse(
        question="q",
        answer="Kommunen sparer **2,5 mio.\nkr.** [1] om året.",
        mode="extractive",
        grounded=True,
        citations=[citation],
    )
    assert score_answer(item, said, {"case-a"}).correct
    assert not score_answer(item, said, {"case-b"}).cites_case
    silent = said.model_copy(update={"answer": "Kommunen sparer penge [1]."})
    assert not score_answer(item, silent, {"case-a"}).contains_fact
