"""What the search page shows for a URL: the whole state lives in the query string."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from .. import schemas
from ..engine import Casefinder, Refused

FACETS = (("municipality", "Kommune"), ("catalogue", "Katalog"), ("area", "Område"))
EXAMPLES = (
    "samarbejde om medicinudlevering",
    "Hvilke kommuner deler it-drift?",
    "fælles indkøb på tværs af kommuner",
    "nedbringe sygefravær",
    "rehabilitering i ældreplejen",
)


# A question gets a short answer above the results.
QUESTION = re.compile(
    r"\?\s*$|^(hvordan|hvad|hvilke|hvilken|hvilket|hvem|hvor|hvorfor|hvornår|kan|er der|findes der)\b", re.I
)


def _url(q: str, selected: dict[str, list[str]]) -> str:
    pairs = [("q", q)] + [(name, v) for name, values in selected.items() for v in values]
    return "/?" + urlencode(pairs)


def _label(facet: str, value: str, catalogues: dict) -> str:
    """A catalogue facet shows the catalogue's short title, other facets their value."""
    return catalogues[value].title.split(".")[0] if facet == "catalogue" and value in catalogues else value


def page_context(engine: Casefinder, params: QueryParams) -> dict:
    q = params.get("q", "")
    selected = {name: params.getlist(name) for name, _ in FACETS}
    catalogues = {d.id: d for d in engine.corpus.documents}
    context: dict = {
        "q": q,
        "selected": selected,
        "examples": EXAMPLES,
        "catalogues": catalogues,
        "result": None,
        "error": None,
        "facets": [],
        "chips": [],
    }
    similar = params.get("similar")
    if similar:
        try:
            context["result"] = engine.similar(similar)
        except Refused as exc:
            context["error"] = exc.message
        return context
    if not q.strip():
        return context
    try:
        result = engine.search(q, 10, schemas.Filters(**selected))
    except Refused as exc:
        context["error"] = exc.message
        return context
    if QUESTION.search(q) and not result.no_match:
        try:  # the LLM only where the operator allows it for the page
            context["answer"] = engine.ask(q, 5, schemas.Filters(**selected), llm=engine.settings.page_llm)
        except Refused:  # busy: the results stand on their own
            pass
    context["result"] = result
    context["threshold"] = engine.settings.confidence_threshold
    for name, label in FACETS if not result.no_match else ():  # no facets for results that do not answer
        values = []
        for value, count in sorted(result.facets.get(name, {}).items(), key=lambda kv: (-kv[1], kv[0]))[:12]:
            chosen = value in selected[name]
            toggled = {
                **selected,
                name: [v for v in selected[name] if v != value] if chosen else selected[name] + [value],
            }
            values.append(
                {
                    "value": value,
                    "label": _label(name, value, catalogues),
                    "count": count,
                    "chosen": chosen,
                    "url": _url(q, toggled),
                }
            )
        context["facets"].append({"name": name, "label": label, "values": values})
    for name, label in FACETS:
        for value in selected[name]:
            rest = {**selected, name: [v for v in selected[name] if v != value]}
            context["chips"].append({"label": f"{label}: {_label(name, value, catalogues)}", "url": _url(q, rest)})
    return context
