"""What a question asks for, and whether a sentence states that kind of fact.

Both are read from the words alone: Danish and English question words ("hvor meget", "hvornår",
"which system"), and the shapes facts take in the catalogues (amounts in "kr.", years, e-mail
addresses, names of municipalities and organisations, product names).
"""

from __future__ import annotations

import re
from enum import StrEnum

from ..corpus.entities import AMOUNT, find_municipalities


class AnswerKind(StrEnum):
    AMOUNT = "amount"  # money
    NUMBER = "number"  # counts, shares, durations
    PERSON = "person"  # a named person or contact
    ORGANISATION = "organisation"  # who takes part: municipalities, companies, bodies
    PLACE = "place"
    DATE = "date"
    TOOL = "tool"  # an IT system, a method, a tool
    OTHER = "other"  # how, why, what


def _words(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.I)


# "Hvilket system …", "Hvad hedder den enhed …", "Which company …": the noun asked about says the
# kind. Matched as word endings, so compounds count ("udlægssystem", "konsulentfirma").
_HEADS: tuple[tuple[AnswerKind, str], ...] = (
    (
        AnswerKind.TOOL,
        r"systemer|system|løsninger|løsning|metoder|metode|værktøjer|værktøj|platforme|platform|software|"
        r"program|apps|app|udstyr|teknologi|robotter|robot|model|koncept|redskab|portal|database|solutions?|"
        r"tools?|methods?|technology|systems?",
    ),
    (
        AnswerKind.ORGANISATION,
        r"firmaer|firma|virksomheder|virksomhed|selskaber|selskab|leverandører|leverandør|foreninger|"
        r"forening|samarbejde|forvaltning|enhed|hospital|sygehus|organisationer|organisation|"
        r"myndighed|ministerium|styrelse|partnere|partner|aktører|aktør|kommuner|kommune|parter|"
        r"regioner|region|companies|company|suppliers?|organi[sz]ations?|association|municipality|"
        r"municipalities|councils?|partners?|bod(?:y|ies)|faggrupper|hospital",
    ),
    (AnswerKind.PLACE, r"byer|by|bydel|kvarter|område|bysamfund|landsdel|sted|town|city|area|place|district"),
    (AnswerKind.DATE, r"år|årstal|dato|måned|tidspunkt|year|date|month"),
    (AnswerKind.PERSON, r"personer|person|medarbejder|leder|chef|direktør|konsulent|formand|manager|director"),
    (AnswerKind.AMOUNT, r"beløb|priser|pris|besparelser|besparelse|udgifter|udgift|takst|kontingent|savings?|costs?"),
)
_ASKED_NOUN = re.compile(
    r"\b(?:hvilke[nt]?|hvad\s+hedder(?:\s+(?:den|det|de))?|which|what(?:\s+is\s+the\s+name\s+of\s+the)?)"
    r"((?:\s+[\w-]+){1,3})",
    re.I,
)
# Otherwise the question word decides, tried in this order: "hvornår" before the money words
# ("hvornår blev besparelsen …"), the money words before "hvor stor" ("hvor stor en besparelse").
_QUESTION_WORDS: tuple[tuple[AnswerKind, re.Pattern], ...] = (
    (AnswerKind.DATE, _words(r"\bhvornår\b|\bwhen\b")),
    (
        AnswerKind.AMOUNT,
        _words(
            r"\bhvor\s+meget\b|\bkoste\w*|\bkr\b|\bkroner\b|\bpenge\b|besparelse|\bspar(?:e|er|et|ede)\b|beløb|budget|"
            r"omkostning|udgift|investering|gevinst|provenu|kontingent|startkapital|takst|\bhow\s+much\b|\bcosts?\b|"
            r"\bsav(?:e|es|ed|ing|ings)\b|\bspen[dt]\w*|\bexpenses?\b|financial"
        ),
    ),
    (AnswerKind.PERSON, _words(r"\bhvem\b|\bkontakt\w*|\bwho\b|\bcontact\w*")),
    (
        AnswerKind.NUMBER,
        _words(
            r"\bhvor\s+(?:mange|stor|store|lang|længe|ofte|høj)\b|procent|\bpct\b|\bandel\w*|\bantal\w*|"
            r"\bhow\s+(?:many|long|large|big|often|high)\b|\bshare\b|\bpercent\w*|\bnumber\s+of\b"
        ),
    ),
    (AnswerKind.PLACE, _words(r"\bhvor\b|\bwhere\b")),
)


def question_kind(question: str) -> AnswerKind:
    if m := _ASKED_NOUN.search(question):
        for word in m.group(1).split():
            for kind, heads in _HEADS:
                if re.fullmatch(rf"[\w-]*(?:{heads})", word, re.I):
                    return kind
    for kind, pattern in _QUESTION_WORDS:
        if pattern.search(question):
            return kind
    return AnswerKind.OTHER


CONTACT_QUESTION = _words(r"\bkontakt\w*|\bcontact\w*|\bhenvend\w*|\bspørge\s+om\b")

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}", re.I)
_DIGIT = re.compile(r"\d")
_NUMBER_WORD = _words(
    r"\b(?:to|tre|fire|fem|seks|syv|otte|ni|ti|elleve|tolv|tyve|tredive|fyrre|halvtreds|hundrede|tusind\w*|"
    r"halvdelen|tredjedel\w*|fjerdedel\w*|dobbelt\w*|two|three|four|five|six|seven|eight|nine|ten|twelve|hundred|thousand|half)\b"
)
_YEAR = re.compile(r"\b(?:19[5-9]\d|20[0-4]\d)\b")
_MONTH = _words(
    r"\b(?:januar|februar|marts|april|maj|juni|juli|august|september|oktober|november|december|foråret|efteråret|"
    r"sommeren|vinteren|årsskiftet)\b"
)
_ROLE = _words(
    r"\b\w*(?:chef|direktør|leder|konsulent|koordinator|formand|borgmester|rådmand|medarbejder|specialist|"
    r"rådgiver|partner|sekretær|fuldmægtig|udvikler|ansvarlig)\b"
)
# Two to four capitalised words inside a sentence: a person's or an organisation's name.
_NAME = re.compile(r"(?<=[\w,;:)] )[A-ZÆØÅ][\wæøåé.-]+(?: (?:[A-ZÆØÅ][\wæøåé.-]+|&|og|for|i|på)){0,3}")
_ACRONYM = re.compile(r"\b[A-ZÆØÅ][A-ZÆØÅ0-9]{1,}[a-z]?\b|\b[a-zæøå]+[A-ZÆØÅ]\w*\b")
_ORGANISATION_WORD = _words(
    r"\w*(?:forening|selskab|fællesskab|ministeri|styrelse|sekretariat|center|centre|enhed|klub|råd|udvalg|"
    r"kontor|afdeling|forvaltning|samarbejde)(?:en|et|r|er|erne|s)?\b|\b(?:A/S|ApS|I/S|KL|KOMBIT)\b"
)
_TOOL_WORD = _words(
    r"\w*(?:system|platform|værktøj|software|løsning|portal|database|robot|app|modul|koncept|metode|model|program)"
    r"(?:et|er|en|erne|s)?\b"
)


def _names(sentence: str) -> list[str]:
    return [m.group(0) for m in _NAME.finditer(sentence)]


def holds(kind: AnswerKind, sentence: str) -> bool:
    """Does the sentence state a fact of this kind (an amount, a year, a name, …)?"""
    if kind is AnswerKind.AMOUNT:
        return bool(AMOUNT.search(sentence))
    if kind is AnswerKind.NUMBER:
        return bool(_DIGIT.search(sentence) or _NUMBER_WORD.search(sentence))
    if kind is AnswerKind.DATE:
        return bool(_YEAR.search(sentence) or _MONTH.search(sentence))
    if kind is AnswerKind.PERSON:
        return bool(_EMAIL.search(sentence) or _ROLE.search(sentence) or _names(sentence))
    if kind is AnswerKind.ORGANISATION:
        return bool(
            len(find_municipalities(sentence)) >= 1 or _ORGANISATION_WORD.search(sentence) or _ACRONYM.search(sentence)
        )
    if kind is AnswerKind.PLACE:
        return bool(find_municipalities(sentence) or _names(sentence))
    if kind is AnswerKind.TOOL:
        return bool(_ACRONYM.search(sentence) or _TOOL_WORD.search(sentence) or _names(sentence))
    return False


def any_figure(sentence: str) -> bool:
    return bool(_DIGIT.search(sentence))


def looks_like_heading(sentence: str) -> bool:
    """A title, a table row or a line of a table of contents rather than a sentence: no
    closing punctuation, or mostly capitalised words or numbers."""
    tokens = sentence.split()
    capitalised = sum(t[:1].isupper() or t[:1].isdigit() for t in tokens)
    return sentence.rstrip()[-1:] not in '.!?:;)"”' or capitalised > 0.6 * len(tokens)
