"""Municipalities, contact persons and money figures found in a case's clean text."""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from .models import Contact

# Names that are also ordinary Danish words ("vejen" = the road): only with "Kommune".
_AMBIGUOUS = {"Vejen", "Greve", "Odder", "Skive", "Læsø", "Samsø", "Stevns"}
_ROLE_SUFFIXES = (
    "leder",
    "chef",
    "direktør",
    "konsulent",
    "koordinator",
    "ansvarlig",
    "medarbejder",
    "specialist",
    "rådgiver",
    "partner",
    "formand",
    "sekretær",
    "fuldmægtig",
    "projektleder",
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}", re.I)
AMOUNT = re.compile(
    r"(?:\d[\d.,]*\s*(?:mio\.?|mia\.?|mil\.|millioner|milliarder|mill\.)?\s*kr\b\.?|kr\.\s*\d[\d.,]*(?:\s*(?:mio|mia)\.?)?)",
    re.I,
)


@lru_cache
def _municipalities() -> tuple[dict[str, str], re.Pattern]:
    names: dict[str, str] = {}
    for line in resources.files("casefinder.data").joinpath("kommuner.txt").read_text("utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, _, normalised = line.partition("|")
        names[name] = normalised or f"{name} Kommune"
    plain = [n for n in names if n not in _AMBIGUOUS]
    strict = [n for n in names if n in _AMBIGUOUS]
    alternatives = sorted(plain, key=len, reverse=True)
    pattern = (
        r"(?<![\w@.-])(?:(?P<plain>" + "|".join(map(re.escape, alternatives)) + r")s?"
        r"|(?P<strict>" + "|".join(map(re.escape, strict)) + r")s?(?=\s+[Kk]ommune))(?![\w@-])"
    )
    # "Københavns" is the genitive of "København"; accept both spellings. Regions are
    # often written "region Nordjylland" in running text.
    names["Københavns"] = names["København"]
    return names, re.compile(pattern.replace("København", "Københavns?").replace("Region\\ ", "[Rr]egion\\ "))


def known_municipalities() -> frozenset[str]:
    """Every normalised name: the 98 municipalities and the 5 regions."""
    return frozenset(_municipalities()[0].values())


def find_municipalities(text: str) -> list[str]:
    """Normalised municipality names in order of first mention."""
    names, pattern = _municipalities()
    found: list[str] = []
    for m in pattern.finditer(text):
        name = m.group("plain") or m.group("strict")
        name = "R" + name[1:] if name.startswith("region ") else name
        normalised = names.get(name) or names.get(name.rstrip("s"))
        if normalised and normalised not in found:
            found.append(normalised)
    return found


_CONNECTORS = {"og", "i", "for", "af", "på", "&", "-"}


def organisation_name(value: str) -> str | None:
    """An actor named where a layout expects a municipality ("IT-Forsyningen", "Fællesindkøb Fyn"),
    or None when the text is a topic rather than a name ("Offentlig-Privat samarbejde")."""
    value = " ".join(value.split()).strip(" .,:;")
    words = [w for w in value.split() if w.lower() not in _CONNECTORS]
    if not words or len(words) > 6 or not all(w[:1].isupper() or w[:1].isdigit() for w in words):
        return None
    return value


def _person_name(before: str) -> str:
    words = re.findall(r"[A-ZÆØÅ][\w.'-]*", before)
    run: list[str] = []
    for word in reversed(before.split()):
        if word[:1].isupper() and word in words:
            run.insert(0, word.strip(",."))
        else:
            break
    # The name follows the last title or place before it: "Silkeborg Kommune Afdelingsleder Ann Tversted".
    cut = max(
        (i + 1 for i, w in enumerate(run) if w.lower().endswith(_ROLE_SUFFIXES) or w in ("Kommune", "Region")),
        default=0,
    )
    run = run[cut:] if cut < len(run) else run
    while run and run[0].lower().endswith(_ROLE_SUFFIXES):
        run.pop(0)
    while run and run[-1].lower().endswith(_ROLE_SUFFIXES):
        run.pop()
    return " ".join(run[-4:])


_NOT_A_NAME = re.compile(r"\b(?:kommune|region|tlf|telefon|e-?mail|mobil)\b", re.I)


def _name_in(line: str) -> str:
    """The person in a contact line: its first part ("Rikke Melsvik, chefkonsulent …"), else the
    first later part that is a name of two words or more ("Ældrechef, Hans Bækvang",
    "Jesper Tangbæk. E-mail: …")."""
    parts = [p for p in re.split(r"[,;:]\s*|(?<=\w\w)\.\s+", line) if p.strip()]
    names = [n for n in map(_person_name, parts) if n and not _NOT_A_NAME.search(n)]
    return next((n for n in names if len(n.split()) >= 2), names[0] if names else "")


def find_contacts(text: str) -> list[Contact]:
    contacts: list[Contact] = []
    seen: set[str] = set()
    for m in _EMAIL.finditer(text):
        email = m.group(0).rstrip(".")
        if email.lower() in seen:
            continue
        seen.add(email.lower())
        window = text[max(0, m.start() - 250) : m.start()]
        intro = list(re.finditer(r"Kontakt(?:person)?\s*:?\s*", window))
        context = window[intro[-1].end() :] if intro else window.splitlines()[-1] if window.strip() else ""
        line = re.split(r"[(\n]|,\s*(?=[a-zæøå\w.-]+@)", context.strip())[0]
        name = _name_in(line)
        label = re.sub(r"\s+", " ", (context + email)).strip(" (")
        contacts.append(Contact(name=name, email=email, text=label[:200]))
    return contacts


def find_money(text: str, limit: int = 6) -> list[str]:
    """Sentences that state amounts of money, most specific first in document order."""
    sentences = re.split(r"(?<=[.!?])\s+(?=[A-ZÆØÅ0-9])|\n\n", text)
    hits = [re.sub(r"\s+", " ", s).strip() for s in sentences if AMOUNT.search(s)]
    return [h if len(h) <= 240 else h[:237] + "…" for h in hits[:limit]]
